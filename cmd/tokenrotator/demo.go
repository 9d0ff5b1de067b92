package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/daemon"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

func init() {
	register(command{
		name:    "demo",
		summary: "run the whole loop against the built-in emulator, with files in a temporary directory",
		order:   1,
		run:     runDemo,
	})
}

// demoPolicy is the policy of the demo. Each token shows one behaviour.
const demoPolicy = `# The policy of "tokenrotator demo". Each token shows one behaviour.
schedule: "@every 10s"
state_dir: {{DIR}}/state
listen: "{{LISTEN}}"
sweep_timeout: 1m
shutdown_grace: 10s

accounts:
  - name: demo
    id: {{ACCOUNT}}
    api_token: {file: {{DIR}}/cloudflare-api-token}
    base_url: {{API}}

sinks:
  files:
    file: {dir: {{DIR}}/secrets, format: env}

defaults:
  strategy: roll
  renew_before: 7d
  max_age: 90d
  ttl: 30d
  grace_period: 30s

tokens:
  # Expires in two days: its expiry is extended by ttl, then it is rolled.
  - name: dns-edit
    account: demo
    targets: [{sink: files, path: dns-edit.env, field: CLOUDFLARE_API_TOKEN}]
  # Last rotated 100 days ago: a new token replaces it, and the old one is
  # deleted after the 30-second grace period.
  - name: cache-purge
    account: demo
    strategy: recreate
    targets: [{sink: files, path: cache-purge.env, field: CLOUDFLARE_API_TOKEN}]
  # Not used for 120 days: reported as idle, left alone.
  - name: analytics-read
    account: demo
    idle_after: 60d
    targets: [{sink: files, path: analytics-read.env, field: CLOUDFLARE_API_TOKEN}]
  # Healthy, but with a one-minute max_age, so it is rolled every minute.
  - name: workers-deploy
    account: demo
    max_age: 1m
    targets: [{sink: files, path: workers-deploy.env, field: CLOUDFLARE_API_TOKEN}]
`

// runDemo starts the emulator on loopback, seeds it, writes a policy into a
// temporary directory and runs the daemon on it until Ctrl-C.
func runDemo(ctx context.Context, env *environment, args []string) int {
	fs := newFlagSet(env, "demo", "[--listen ADDR] [--keep]")
	listen := fs.String("listen", "127.0.0.1:9464",
		"`address` of the metrics and health server; 127.0.0.1:0 picks a free port")
	keep := fs.Bool("keep", false, "keep the temporary directory when the demo stops")
	var logs logFlags
	logs.register(fs)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	logger, err := logs.newLogger(env)
	if err != nil {
		fmt.Fprintf(env.stderr, "demo: %v\n", err)
		return exitUsage
	}

	dir, err := os.MkdirTemp("", "tokenrotator-demo-")
	if err != nil {
		fmt.Fprintf(env.stderr, "demo: %v\n", err)
		return exitFailure
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}

	api, stopAPI, err := startDemoEmulator(dir, env.now())
	if err != nil {
		fmt.Fprintf(env.stderr, "demo: %v\n", err)
		return exitFailure
	}
	defer stopAPI()
	configPath, err := writeDemoPolicy(dir, *listen, api)
	if err != nil {
		fmt.Fprintf(env.stderr, "demo: %v\n", err)
		return exitFailure
	}

	reload := env.reload
	if reload == nil {
		reload = reloadOnSIGHUP(ctx)
	}
	err = daemon.Run(ctx, daemon.Options{
		ConfigPath: configPath, Version: buildVersion(), Logger: logger, Getenv: env.getenv,
		Reload: reload,
		OnListen: func(addr string) {
			printDemoBanner(env.stdout, dir, configPath, api.url, addr, *keep)
		},
	})
	if err != nil {
		logger.Error("demo failed", "err", err)
		if strings.Contains(err.Error(), "address already in use") {
			fmt.Fprintf(env.stderr, "demo: %s is in use; pass --listen 127.0.0.1:0 for a free port\n",
				*listen)
		}
		return exitFailure
	}
	fmt.Fprintln(env.stdout, "Demo stopped.")
	return exitOK
}

// demoAPI is the running emulator of the demo.
type demoAPI struct {
	url       string
	accountID string
}

// startDemoEmulator serves an emulator on 127.0.0.1 with one account, a
// management token (written to dir, mode 0600) and the demo's tokens.
func startDemoEmulator(dir string, now time.Time) (demoAPI, func(), error) {
	emu := emulator.New(emulator.Options{})
	accountID, err := emu.AddAccount("")
	if err != nil {
		return demoAPI{}, nil, err
	}
	management, err := emu.AddManagementToken(accountID, "tokenrotator demo", true)
	if err != nil {
		return demoAPI{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cloudflare-api-token"), []byte(management.Value+"\n"),
		0o600); err != nil {
		return demoAPI{}, nil, err
	}

	day := 24 * time.Hour
	seeds := []emulator.TokenSpec{
		{Name: "dns-edit", IssuedOn: now.Add(-20 * day), ModifiedOn: now.Add(-20 * day),
			LastUsedOn: now.Add(-time.Hour), ExpiresOn: now.Add(2 * day)},
		{Name: "cache-purge", IssuedOn: now.Add(-100 * day), ModifiedOn: now.Add(-100 * day),
			LastUsedOn: now.Add(-2 * time.Hour)},
		{Name: "analytics-read", IssuedOn: now.Add(-200 * day), ModifiedOn: now.Add(-30 * day),
			LastUsedOn: now.Add(-120 * day)},
		{Name: "workers-deploy", IssuedOn: now.Add(-10 * day), ModifiedOn: now.Add(-30 * time.Second),
			LastUsedOn: now.Add(-time.Minute)},
	}
	for _, spec := range seeds {
		spec.Policies = []emulator.Policy{{
			Effect:           "allow",
			PermissionGroups: []emulator.PermissionGroupRef{{Name: "DNS Read"}},
			Resources:        map[string]any{"com.cloudflare.api.account.zone.*": "*"},
		}}
		if _, err := emu.AddToken(accountID, spec); err != nil {
			return demoAPI{}, nil, fmt.Errorf("seed token %s: %w", spec.Name, err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return demoAPI{}, nil, err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("demo emulator stopped", "err", err)
		}
	}()
	stop := func() { srv.Close() }
	return demoAPI{url: "http://" + ln.Addr().String() + "/client/v4", accountID: accountID}, stop, nil
}

func writeDemoPolicy(dir, listen string, api demoAPI) (string, error) {
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		return "", err
	}
	policy := strings.NewReplacer("{{DIR}}", dir, "{{LISTEN}}", listen,
		"{{ACCOUNT}}", api.accountID, "{{API}}", api.url).Replace(demoPolicy)
	path := filepath.Join(dir, "config.yaml")
	return path, os.WriteFile(path, []byte(policy), 0o600)
}

func printDemoBanner(w io.Writer, dir, configPath, apiURL, listen string, keep bool) {
	fmt.Fprintf(w, `tokenrotator demo: everything runs on this machine, nothing else is contacted.

  Cloudflare API emulator  %s
  policy                   %s
  token files (env format) %s
  journal                  %s
  metrics and health       http://%s/metrics  /healthz  /readyz

The daemon sweeps every 10 seconds. Watch the log below, and in another
terminal try:

  curl -s http://%s/metrics | grep '^tokenrotator_token'
  cat %s/*.env
  go run ./cmd/tokenrotator plan --config %s

Press Ctrl-C to stop.`, apiURL, configPath, filepath.Join(dir, "secrets"),
		filepath.Join(dir, "state"), listen, listen, filepath.Join(dir, "secrets"), configPath)
	if keep {
		fmt.Fprintf(w, " The directory %s is kept.", dir)
	} else {
		fmt.Fprintf(w, " The directory %s is removed then.", dir)
	}
	fmt.Fprint(w, "\n\n")
}
