package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .errors golden files of testdata/bad")

// validBase is a small valid policy that tests extend.
const validBase = `accounts:
  - name: prod
    id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
sinks:
  local:
    file: {dir: /run/tokenrotator, format: env}
tokens:
  - name: dns-edit
    account: prod
    targets:
      - {sink: local, path: dns-edit.env, field: CF_TOKEN}
`

func TestLoadBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d bad files, want at least 20", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(filepath.Base(file), data)
			if err == nil {
				t.Fatalf("Load succeeded with %d tokens, want errors", len(cfg.Tokens))
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}

			golden := strings.TrimSuffix(file, ".yaml") + ".errors"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestLoadErrorFields(t *testing.T) {
	data := strings.Replace(validBase, "    account: prod\n",
		"    account: prod\n    rotate_befor: 720h\n", 1)
	_, err := Load("config.yaml", []byte(data))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	want := Errors{{
		File:    "config.yaml",
		Line:    11,
		Column:  5,
		Path:    "tokens[0].rotate_befor",
		Message: `unknown key; did you mean "renew_before"?`,
	}}
	if len(errs) != 1 || errs[0] != want[0] {
		t.Errorf("errors = %#v, want %#v", errs, want)
	}
}

func TestLoadInlineSecretNotEchoed(t *testing.T) {
	data, err := os.ReadFile("testdata/bad/inline-secret.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load("inline-secret.yaml", data)
	if err == nil {
		t.Fatal("Load accepted an inline secret")
	}
	for _, sentinel := range []string{"sentinel-admin-value-4242", "sentinel-token-value"} {
		if strings.Contains(err.Error(), sentinel) {
			t.Errorf("error contains the secret %q:\n%v", sentinel, err)
		}
	}
}

func TestLoadDurationWithDays(t *testing.T) {
	data := validBase + "defaults:\n  renew_before: 30d\n  ttl: 12w6d\n  max_age: 36h30m\n"
	cfg, err := Load("config.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	policy := cfg.Tokens[0].Policy
	if policy.RenewBefore != 30*24*time.Hour {
		t.Errorf("renew_before = %v, want 720h", policy.RenewBefore)
	}
	if policy.TTL != 90*24*time.Hour {
		t.Errorf("ttl = %v, want 2160h", policy.TTL)
	}
	if policy.MaxAge != 36*time.Hour+30*time.Minute {
		t.Errorf("max_age = %v, want 36h30m", policy.MaxAge)
	}
}

func TestLoadDefaultsAndOverrides(t *testing.T) {
	data := validBase + `  - name: cache-purge
    account: prod
    strategy: recreate
    grace_period: 1h
    max_age: 0
    targets:
      - {sink: local, path: cache-purge.env, field: CF_TOKEN}
defaults:
  max_age: 60d
  idle_after: 45d
`
	cfg, err := Load("config.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tokens) != 2 {
		t.Fatalf("loaded %d tokens, want 2", len(cfg.Tokens))
	}

	inherited := cfg.Tokens[0].Policy
	want := Policy{
		Strategy:    StrategyRoll,
		RenewBefore: 30 * Day,
		MaxAge:      60 * Day,
		TTL:         90 * Day,
		IdleAfter:   45 * Day,
		IdleAction:  IdleReport,
		GracePeriod: Day,
	}
	if inherited != want {
		t.Errorf("inherited policy = %+v, want %+v", inherited, want)
	}

	overridden := cfg.Tokens[1].Policy
	want.Strategy, want.GracePeriod, want.MaxAge = StrategyRecreate, time.Hour, 0
	if overridden != want {
		t.Errorf("overridden policy = %+v, want %+v", overridden, want)
	}
	if cfg.Tokens[1].Line != 13 {
		t.Errorf("line = %d, want 13", cfg.Tokens[1].Line)
	}
}

func TestLoadBuiltinDefaults(t *testing.T) {
	cfg, err := Load("config.yaml", []byte(validBase))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Schedule.Text != DefaultSchedule {
		t.Errorf("schedule = %q, want %q", cfg.Schedule.Text, DefaultSchedule)
	}
	if cfg.StateDir != DefaultStateDir || cfg.Listen != DefaultListen {
		t.Errorf("state_dir, listen = %q, %q", cfg.StateDir, cfg.Listen)
	}
	if cfg.SweepTimeout != 10*time.Minute || cfg.ShutdownGrace != 30*time.Second {
		t.Errorf("sweep_timeout, shutdown_grace = %v, %v", cfg.SweepTimeout, cfg.ShutdownGrace)
	}
	if cfg.Jitter != 0 || !cfg.AdminToken.IsZero() {
		t.Errorf("jitter, admin_token = %v, %v", cfg.Jitter, cfg.AdminToken)
	}
	account := cfg.Accounts[0]
	if account.BaseURL != DefaultBaseURL || account.RequestBudget != nil {
		t.Errorf("account = %+v, want the default base URL and no budget", account)
	}
	sink, _ := cfg.Sink("local")
	if sink.File.Mode != 0o600 {
		t.Errorf("file mode = %o, want 600", sink.File.Mode)
	}
}

func TestLoadDailyCronSpec(t *testing.T) {
	data := "schedule: \"CRON_TZ=UTC 30 6 * * *\"\n" + validBase
	cfg, err := Load("config.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, time.March, 10, 12, 0, 0, 0, time.UTC)
	got := cfg.Schedule.NextN(now, 2)
	want := []time.Time{
		time.Date(2026, time.March, 11, 6, 30, 0, 0, time.UTC),
		time.Date(2026, time.March, 12, 6, 30, 0, 0, time.UTC),
	}
	if len(got) != 2 || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
		t.Errorf("next fire times = %v, want %v", got, want)
	}
}

func TestLoadFileModeGroupReadWarns(t *testing.T) {
	data := strings.Replace(validBase, "format: env}", `format: env, mode: "0640"}`, 1)
	cfg, err := Load("config.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := `config.yaml:7:55: sinks.local.file.mode: mode 0640 lets the file's group read ` +
		`token values`
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Error() != want {
		t.Errorf("warnings = %v, want %q", cfg.Warnings, want)
	}
	sink, _ := cfg.Sink("local")
	if sink.File.Mode != 0o640 {
		t.Errorf("mode = %o, want 640", sink.File.Mode)
	}
}

func TestLoadAliasesResolve(t *testing.T) {
	data := `accounts:
  - name: prod
    id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
sinks:
  local:
    file: {dir: /run/tokenrotator, format: env}
tokens:
  - name: a
    account: prod
    targets: &shared
      - {sink: local, path: a.env, field: CF_TOKEN}
  - name: b
    account: prod
    targets: *shared
`
	_, err := Load("config.yaml", []byte(data))
	want := "config.yaml:12:9: tokens[1].targets[0]: sink local path a.env is already " +
		"written by token prod/a at line 12; each token needs its own place"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestLoadNestedAliasesBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 8; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		b.WriteString(strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	_, err := Load("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "more than 100000 YAML nodes") {
		t.Errorf("error = %v, want the node limit", err)
	}
}

func TestLoadFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Errorf("error = %v, want the size limit", err)
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want one that wraps os.ErrNotExist", err)
	}
}

func TestLoadExample(t *testing.T) {
	cfg, err := LoadFile("../../config.example.yaml")
	if err != nil {
		t.Fatalf("config.example.yaml is invalid:\n%v", err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("config.example.yaml has warnings:\n%v", cfg.Warnings)
	}
	if len(cfg.Accounts) != 2 {
		t.Errorf("accounts = %d, want 2", len(cfg.Accounts))
	}

	kinds := map[SinkKind]int{}
	formats := map[FileFormat]bool{}
	for _, s := range cfg.Sinks {
		kinds[s.Kind]++
		if s.File != nil {
			formats[s.File.Format] = true
		}
	}
	if kinds[SinkVault] == 0 || kinds[SinkFile] == 0 {
		t.Errorf("sink kinds = %v, want Vault and file sinks", kinds)
	}
	vault, _ := cfg.Sink("vault-prod")
	if vault.Vault == nil || vault.Vault.Auth.Method != AuthAppRole {
		t.Errorf("vault-prod = %+v, want a Vault sink with AppRole auth", vault)
	}
	for _, format := range []FileFormat{FormatRaw, FormatJSON, FormatEnv} {
		if !formats[format] {
			t.Errorf("no file sink uses format %s", format)
		}
	}

	strategies := map[Strategy]bool{}
	var byID, scheduled bool
	for _, token := range cfg.Tokens {
		strategies[token.Policy.Strategy] = true
		byID = byID || token.ID != ""
		scheduled = scheduled || !token.Policy.RotationSchedule.IsZero()
	}
	if !strategies[StrategyRoll] || !strategies[StrategyRecreate] {
		t.Errorf("strategies = %v, want roll and recreate", strategies)
	}
	if !byID || !scheduled {
		t.Errorf("selected by id: %v, rotation_schedule: %v; want both shown", byID, scheduled)
	}
}

func TestFindToken(t *testing.T) {
	cfg, err := LoadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		ref     string
		account string
		key     string
		err     string
	}{
		"unique name":    {ref: "workers-deploy", account: "prod", key: "workers-deploy"},
		"id":             {ref: "00112233445566778899aabbccddeeff", account: "prod"},
		"qualified":      {ref: "staging/dns-edit", account: "staging", key: "dns-edit"},
		"ambiguous name": {ref: "dns-edit", err: "matches prod/dns-edit and staging/dns-edit"},
		"unknown":        {ref: "dns-edt", err: "no managed token has that name or id"},
		"wrong account":  {ref: "staging/workers-deploy", err: "no managed token"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			token, err := cfg.FindToken(tt.ref)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if token.Account != tt.account {
				t.Errorf("account = %q, want %q", token.Account, tt.account)
			}
			if tt.key != "" && token.Key != tt.key {
				t.Errorf("key = %q, want %q", token.Key, tt.key)
			}
		})
	}
}
