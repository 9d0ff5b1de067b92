package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/vaulttest"
	"github.com/tokenrotator/tokenrotator/rotator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator/emulatortest"
)

// fakeClock is a manual clock whose At channels fire when the test
// advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: t, ch: ch})
	return ch
}

// Advance moves the clock and fires every channel whose time has come.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rollHook is an HTTP transport that calls onRoll after each successful
// roll reply, so a test can act at that exact step.
type rollHook struct {
	next   http.RoundTripper
	onRoll func()
}

func (h *rollHook) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/value") &&
		resp.StatusCode == http.StatusOK && h.onRoll != nil {
		h.onRoll()
	}
	return resp, err
}

// daemonEnv is a daemon under test with the emulator, the Vault test
// server and a file sink, all on one fake clock.
type daemonEnv struct {
	t        *testing.T
	clock    *fakeClock
	emu      *emulatortest.Env
	vault    *vaulttest.Server
	dir      string
	config   string
	varsMu   sync.Mutex
	vars     map[string]string
	logs     *syncBuffer
	hook     *rollHook
	sweeps   chan *rotator.Report
	reloads  chan error
	listened chan string
	waits    chan time.Time
	// panicOnce, when set, makes the next sweep's report hook panic.
	panicOnce atomic.Bool
}

const daemonPolicy = `schedule: "*/15 * * * *"
state_dir: {{DIR}}/state
listen: 127.0.0.1:0
shutdown_grace: {{GRACE}}
accounts:
  - name: prod
    id: {{ACCOUNT}}
    api_token: {env: CF_API_TOKEN}
    base_url: {{API}}
sinks:
  vault:
    vault:
      address: {{VAULT}}
      mount: secret
      auth: {method: token, token: {env: VAULT_TOKEN}}
  files:
    file: {dir: {{DIR}}/files, format: json}
defaults:
  strategy: roll
  renew_before: 7d
  max_age: 30d
  ttl: 90d
tokens:
{{TOKENS}}`

const dnsEntry = `  - name: dns-edit
    account: prod
    targets:
      - {sink: vault, path: cloudflare/dns-edit, field: token}
      - {sink: files, path: dns-edit.json, field: token}
`

const cacheEntry = `  - name: cache-purge
    account: prod
    targets:
      - {sink: vault, path: cloudflare/cache-purge, field: token}
`

var clockStart = time.Date(2026, 6, 15, 12, 7, 0, 0, time.UTC)

func newDaemonEnv(t *testing.T) *daemonEnv {
	t.Helper()
	e := &daemonEnv{
		t: t, clock: &fakeClock{now: clockStart}, logs: &syncBuffer{}, dir: t.TempDir(),
		sweeps: make(chan *rotator.Report, 10), reloads: make(chan error, 10),
		listened: make(chan string, 1), waits: make(chan time.Time, 100),
	}
	e.emu = emulatortest.Start(t, emulator.Options{Now: e.clock.Now})
	e.vault = vaulttest.Start(t, vaulttest.Options{Now: e.clock.Now})
	e.vault.MountKV("secret", 2)
	if err := os.Mkdir(filepath.Join(e.dir, "files"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.vars = map[string]string{"CF_API_TOKEN": e.emu.Token, "VAULT_TOKEN": e.vault.RootToken()}
	e.hook = &rollHook{next: http.DefaultTransport}
	e.writePolicy("30s", dnsEntry+cacheEntry)
	return e
}

func (e *daemonEnv) writePolicy(grace, tokens string) {
	e.t.Helper()
	policy := strings.NewReplacer("{{DIR}}", e.dir, "{{GRACE}}", grace, "{{ACCOUNT}}", e.emu.AccountID,
		"{{API}}", e.emu.BaseURL, "{{VAULT}}", e.vault.URL(), "{{TOKENS}}", tokens).Replace(daemonPolicy)
	e.config = filepath.Join(e.dir, "config.yaml")
	if err := os.WriteFile(e.config, []byte(policy), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *daemonEnv) getenv(name string) string {
	e.varsMu.Lock()
	defer e.varsMu.Unlock()
	return e.vars[name]
}

func (e *daemonEnv) setenv(name, value string) {
	e.varsMu.Lock()
	defer e.varsMu.Unlock()
	e.vars[name] = value
}

// seed adds a token last changed age before the clock's start.
func (e *daemonEnv) seed(name string, age time.Duration) emulator.Issued {
	e.t.Helper()
	at := clockStart.Add(-age)
	issued, err := e.emu.Emulator.AddToken(e.emu.AccountID, emulator.TokenSpec{
		Name: name, IssuedOn: at, ModifiedOn: at,
		Policies: []emulator.Policy{{Effect: "allow",
			PermissionGroups: []emulator.PermissionGroupRef{{Name: "DNS Read"}},
			Resources:        map[string]any{"com.cloudflare.api.account.zone.*": "*"}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return issued
}

// start runs the daemon until the returned stop function is called; stop
// waits for Run to return and gives its error.
func (e *daemonEnv) start(reload <-chan struct{}) (addr string, stop func() error) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			ConfigPath: e.config, Version: "test", Clock: e.clock,
			Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Getenv: e.getenv,
			Reload: reload,
			Jitter: func(time.Duration) time.Duration { return 0 },
			Notify: func(string) error { return nil },
			OnSweep: func(r *rotator.Report) {
				e.sweeps <- r
				if e.panicOnce.CompareAndSwap(true, false) {
					panic("injected panic in a sweep")
				}
			},
			OnReload:   func(err error) { e.reloads <- err },
			OnListen:   func(a string) { e.listened <- a },
			OnWait:     func(next time.Time) { e.waits <- next },
			HTTPClient: &http.Client{Transport: e.hook, Timeout: time.Minute},
		})
	}()
	var finished bool
	var runErr error
	stop = func() error {
		if !finished {
			cancel()
			runErr = <-done
			finished = true
		}
		return runErr
	}
	e.t.Cleanup(func() { stop() })
	select {
	case addr = <-e.listened:
	case runErr = <-done:
		finished = true
		cancel()
		e.t.Fatalf("daemon stopped at start-up: %v", runErr)
	}
	return addr, stop
}

// advance moves the clock once the scheduler waits for its next sweep, so
// the move cannot slip in before the scheduler reads the clock.
func (e *daemonEnv) advance(d time.Duration) {
	e.t.Helper()
	select {
	case <-e.waits:
	case <-time.After(30 * time.Second):
		e.t.Fatalf("the scheduler did not start waiting within 30s; logs:\n%s", e.logs.String())
	}
	e.clock.Advance(d)
}

func (e *daemonEnv) nextSweep() *rotator.Report {
	e.t.Helper()
	select {
	case r := <-e.sweeps:
		return r
	case <-time.After(30 * time.Second):
		e.t.Fatal("no sweep within 30s")
		return nil
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func rolls(e *daemonEnv) int {
	n := 0
	for _, r := range e.emu.Emulator.Requests() {
		if r.Endpoint == "roll" && r.Status == http.StatusOK {
			n++
		}
	}
	return n
}

func TestDaemonRotatesWhenDueAndOnlyThen(t *testing.T) {
	e := newDaemonEnv(t)
	dns := e.seed("dns-edit", 60*24*time.Hour)
	e.seed("cache-purge", 10*24*time.Hour)
	_, stop := e.start(nil)

	first := e.nextSweep()
	if !first.OK() {
		t.Fatalf("start-up sweep not OK: %+v", first.Tokens)
	}
	if got := rolls(e); got != 1 {
		t.Errorf("rolls after start-up = %d, want 1 (dns-edit only)", got)
	}
	state, _ := e.emu.Emulator.Token(e.emu.AccountID, dns.ID)
	if state.Value == dns.Value {
		t.Error("dns-edit was not rolled at start-up")
	}

	// The next fire time of "*/15 * * * *" after 12:07 is 12:15.
	e.advance(8 * time.Minute)
	if r := e.nextSweep(); r.Pending() != 0 {
		t.Errorf("scheduled sweep found %d due tokens, want 0", r.Pending())
	}
	if got := rolls(e); got != 1 {
		t.Errorf("rolls after a sweep with nothing due = %d, want 1", got)
	}

	// cache-purge reaches its 30-day max age 20 days later; one fire time
	// after that, it is rolled, and dns-edit is not.
	e.advance(20*24*time.Hour + 15*time.Minute)
	r := e.nextSweep()
	for len(r.Tokens) > 0 && r.Pending() == 0 {
		r = e.nextSweep()
	}
	if got := rolls(e); got != 2 {
		t.Errorf("rolls after cache-purge became due = %d, want 2", got)
	}
	if err := stop(); err != nil {
		t.Errorf("Run returned %v after stop", err)
	}
}

func TestDaemonServesMetricsAndHealth(t *testing.T) {
	e := newDaemonEnv(t)
	e.seed("dns-edit", 60*24*time.Hour)
	e.seed("cache-purge", time.Hour)
	addr, _ := e.start(nil)
	e.nextSweep()

	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s", code, body)
	}
	if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
	code, body := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`tokenrotator_token_last_rotation_timestamp_seconds{account="prod",token="dns-edit"`,
		`tokenrotator_token_decision{account="prod",decision="ok",token="cache-purge"`,
		`tokenrotator_rotations_total{account="prod",result="success",strategy="roll",token="dns-edit"} 1`,
		`tokenrotator_api_requests_total{code="200",endpoint="roll"} 1`,
		`tokenrotator_sink_writes_total{result="success",sink="vault"} 1`,
		`tokenrotator_secrets_unsaved 0`,
		`tokenrotator_config_last_reload_successful 1`,
		`tokenrotator_build_info{goversion=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	checkPromtool(t, body)

	// Vault rejecting the daemon's token makes it unready.
	e.setenv("VAULT_TOKEN", "hvs.revoked")
	e.vault.RevokeToken(e.vault.RootToken())
	e.advance(8 * time.Minute)
	e.nextSweep()
	if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with failing Vault auth = %d %s, want 503", code, body)
	}
}

// checkPromtool runs promtool check metrics on a real scrape. It is
// skipped when promtool is missing, except in CI.
func checkPromtool(t *testing.T, scrape string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; CI must install the Debian prometheus package")
		}
		t.Log("promtool not installed; skipping promtool check metrics")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestDaemonReloadDropsRemovedTokenSeries(t *testing.T) {
	e := newDaemonEnv(t)
	e.seed("dns-edit", time.Hour)
	e.seed("cache-purge", time.Hour)
	reload := make(chan struct{}, 1)
	addr, _ := e.start(reload)
	e.nextSweep()
	if _, body := get(t, "http://"+addr+"/metrics"); !strings.Contains(body, `token="cache-purge"`) {
		t.Fatal("cache-purge has no series before the reload")
	}

	e.writePolicy("30s", dnsEntry)
	reload <- struct{}{}
	if err := <-e.reloads; err != nil {
		t.Fatalf("valid reload failed: %v", err)
	}
	e.nextSweep()
	_, body := get(t, "http://"+addr+"/metrics")
	if strings.Contains(body, `token="cache-purge"`) {
		t.Error("cache-purge still has series after it left the policy")
	}
	if !strings.Contains(body, `token="dns-edit"`) {
		t.Error("dns-edit lost its series")
	}
	if !strings.Contains(body, "tokenrotator_config_last_reload_successful 1") {
		t.Error("reload metric does not show success")
	}
}

func TestDaemonInvalidReloadKeepsPolicy(t *testing.T) {
	e := newDaemonEnv(t)
	e.seed("dns-edit", time.Hour)
	e.seed("cache-purge", time.Hour)
	reload := make(chan struct{}, 1)
	addr, _ := e.start(reload)
	e.nextSweep()
	<-e.waits // the wait after the start-up sweep, which the reload ends

	if err := os.WriteFile(e.config, []byte("tokens: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	if err := <-e.reloads; err == nil {
		t.Fatal("reload of an invalid policy succeeded")
	}
	_, body := get(t, "http://"+addr+"/metrics")
	if !strings.Contains(body, "tokenrotator_config_last_reload_successful 0") {
		t.Error("reload metric does not show the failure")
	}
	if !strings.Contains(e.logs.String(), "policy reload failed; keeping the running policy") {
		t.Error("the failed reload was not logged")
	}

	e.advance(8 * time.Minute)
	if r := e.nextSweep(); len(r.Tokens) != 2 {
		t.Errorf("sweep after the failed reload managed %d tokens, want the old policy's 2", len(r.Tokens))
	}
}

func TestDaemonStopDuringRotationLosesNothing(t *testing.T) {
	e := newDaemonEnv(t)
	dns := e.seed("dns-edit", 60*24*time.Hour)
	e.seed("cache-purge", time.Hour)
	e.writePolicy("0s", dnsEntry+cacheEntry)
	rolled := make(chan struct{})
	var once sync.Once
	e.hook.onRoll = func() {
		once.Do(func() {
			// Every Vault request from now on hangs until it is cancelled.
			e.vault.SetLatency(time.Hour)
			close(rolled)
		})
	}
	_, stop := e.start(nil)

	<-rolled
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if r := e.nextSweep(); r.Tokens[0].Result != rotator.ResultNotStored || r.Unsaved != 1 {
		t.Errorf("interrupted sweep: result %s, unsaved %d; want rotated_not_stored and 1",
			r.Tokens[0].Result, r.Unsaved)
	}
	live, _ := e.emu.Emulator.Token(e.emu.AccountID, dns.ID)
	if live.Value == dns.Value {
		t.Fatal("the token was not rolled before the stop")
	}
	j, err := rotator.ReadJournal(filepath.Join(e.dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	held := j.Unsaved()
	if len(held) != 1 || held[0].Value.Reveal() != live.Value {
		t.Fatalf("journal after the stop holds %d values, want the live one", len(held))
	}

	// A restart stores the held value and does not roll again.
	e.vault.ClearFaults()
	e.hook.onRoll = nil
	e.start(nil)
	if r := e.nextSweep(); !r.OK() {
		for _, tr := range r.Tokens {
			t.Logf("token %s: decision %s %v, result %s %v", tr.Decision.Policy.Key,
				tr.Decision.Action, tr.Decision.Err, tr.Result, tr.Err)
		}
		t.Fatalf("sweep after restart not OK: errors %v, replayed %+v, unsaved %d", r.Errors,
			r.Replayed, r.Unsaved)
	}
	if got := rolls(e); got != 1 {
		t.Errorf("rolls = %d, want 1", got)
	}
	data, err := os.ReadFile(filepath.Join(e.dir, "files", "dns-edit.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), live.Value) {
		t.Error("file sink does not hold the live value after the restart")
	}
}

func TestDaemonDebugLogsCarryNoSecret(t *testing.T) {
	e := newDaemonEnv(t)
	dns := e.seed("dns-edit", 60*24*time.Hour)
	cache := e.seed("cache-purge", time.Hour)
	addr, _ := e.start(nil)
	e.nextSweep()
	_, metrics := get(t, "http://"+addr+"/metrics")

	output := e.logs.String() + metrics
	live, _ := e.emu.Emulator.Token(e.emu.AccountID, dns.ID)
	for name, secret := range map[string]string{
		"management token": e.emu.Token, "vault token": e.vault.RootToken(),
		"old value": dns.Value, "new value": live.Value, "untouched value": cache.Value,
	} {
		if strings.Contains(output, secret) {
			t.Errorf("the %s appears in the logs or metrics", name)
		}
	}
	if !strings.Contains(e.logs.String(), `"level":"DEBUG"`) {
		t.Error("no debug lines were logged, so the scan proves little")
	}
}

func TestDaemonAdminRotation(t *testing.T) {
	e := newDaemonEnv(t)
	dns := e.seed("dns-edit", time.Hour)
	e.seed("cache-purge", time.Hour)
	adminFile := filepath.Join(e.dir, "admin-token")
	if err := os.WriteFile(adminFile, []byte("admin-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, _ := os.ReadFile(e.config)
	policy = append([]byte("admin_token: {file: "+adminFile+"}\n"), policy...)
	if err := os.WriteFile(e.config, policy, 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := e.start(nil)
	e.nextSweep()

	post := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	if code, _ := post("/v1/rotate/dns-edit?force=true", ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", code)
	}
	if code, _ := post("/v1/rotate/dns-edit?force=true", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d, want 401", code)
	}
	if code, _ := post("/v1/rotate/nope", "admin-secret-value"); code != http.StatusNotFound {
		t.Errorf("unknown token: %d, want 404", code)
	}
	code, body := post("/v1/rotate/prod/dns-edit?force=true", "admin-secret-value")
	if code != http.StatusOK || !strings.Contains(body, `"result":"success"`) {
		t.Errorf("forced rotation: %d %s", code, body)
	}
	if _, metrics := get(t, "http://"+addr+"/metrics"); !strings.Contains(metrics, `token="cache-purge"`) {
		t.Error("an on-demand rotation of dns-edit dropped the series of cache-purge")
	}
	state, _ := e.emu.Emulator.Token(e.emu.AccountID, dns.ID)
	if state.Value == dns.Value {
		t.Error("admin rotation did not roll the token")
	}
	if strings.Contains(body, state.Value) {
		t.Error("reply contains the new value")
	}
}

func TestDaemonSurvivesPanicInSweep(t *testing.T) {
	e := newDaemonEnv(t)
	e.seed("dns-edit", time.Hour)
	e.seed("cache-purge", time.Hour)
	e.panicOnce.Store(true)
	addr, stop := e.start(nil)
	e.nextSweep()

	e.advance(8 * time.Minute)
	if r := e.nextSweep(); len(r.Tokens) != 2 {
		t.Errorf("sweep after the panic managed %d tokens, want 2", len(r.Tokens))
	}
	if !strings.Contains(e.logs.String(), "sweep panicked; the daemon keeps running") {
		t.Error("the panic was not logged")
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after the panic = %d", code)
	}
	if err := stop(); err != nil {
		t.Errorf("Run returned %v", err)
	}
}
