package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/config"
	"github.com/tokenrotator/tokenrotator/internal/vaulttest"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator/emulatortest"
)

// policyEnv is a policy file wired to a running emulator, Vault test
// server and file sink directory, with the secrets it refers to.
type policyEnv struct {
	t        *testing.T
	emu      *emulatortest.Env
	vault    *vaulttest.Server
	config   string
	stateDir string
	fileDir  string
	vars     map[string]string
}

const policyTemplate = `schedule: "*/15 * * * *"
state_dir: {{STATE}}
sweep_timeout: 2m
accounts:
  - name: prod
    id: {{ACCOUNT}}
    api_token: {env: CF_API_TOKEN}
    base_url: {{BASEURL}}
sinks:
  vault:
    vault:
      address: {{VAULT}}
      mount: secret
      kv_version: auto
      auth: {method: token, token: {env: VAULT_TOKEN}}
  vault-v1:
    vault:
      address: {{VAULT}}
      mount: kv1
      kv_version: "1"
      auth: {method: token, token: {env: VAULT_TOKEN}}
  files:
    file: {dir: {{FILES}}, format: env}
defaults:
  strategy: roll
  renew_before: 7d
  max_age: 30d
  ttl: 90d
  grace_period: 1h
tokens:
  - name: dns-edit
    account: prod
    targets:
      - {sink: vault, path: cloudflare/dns-edit, field: token}
      - {sink: vault-v1, path: cloudflare/dns-edit, field: token}
      - {sink: files, path: dns-edit.env, field: CLOUDFLARE_API_TOKEN}
  - name: cache-purge
    account: prod
    strategy: recreate
    targets:
      - {sink: vault, path: cloudflare/cache-purge, field: token}
      - {sink: vault-v1, path: cloudflare/cache-purge, field: token}
      - {sink: files, path: cache-purge.env, field: CLOUDFLARE_API_TOKEN}
`

func newPolicyEnv(t *testing.T) *policyEnv {
	t.Helper()
	e := &policyEnv{t: t}
	e.emu = emulatortest.Start(t, emulator.Options{})
	e.vault = vaulttest.Start(t, vaulttest.Options{})
	e.vault.MountKV("secret", 2)
	e.vault.MountKV("kv1", 1)
	dir := t.TempDir()
	e.stateDir = filepath.Join(dir, "state")
	e.fileDir = filepath.Join(dir, "files")
	if err := os.Mkdir(e.fileDir, 0o700); err != nil {
		t.Fatal(err)
	}
	policy := strings.NewReplacer("{{STATE}}", e.stateDir, "{{ACCOUNT}}", e.emu.AccountID,
		"{{BASEURL}}", e.emu.BaseURL, "{{VAULT}}", e.vault.URL(), "{{FILES}}", e.fileDir).Replace(policyTemplate)
	e.config = writeTestFile(t, dir, "config.yaml", policy)
	e.vars = map[string]string{"CF_API_TOKEN": e.emu.Token, "VAULT_TOKEN": e.vault.RootToken()}
	return e
}

// seed adds a token last changed age ago.
func (e *policyEnv) seed(name string, age time.Duration) emulator.Issued {
	e.t.Helper()
	at := time.Now().Add(-age)
	issued, err := e.emu.Emulator.AddToken(e.emu.AccountID, emulator.TokenSpec{
		Name: name, IssuedOn: at, ModifiedOn: at,
		Policies: []emulator.Policy{{Effect: "allow",
			PermissionGroups: []emulator.PermissionGroupRef{{ID: "82e64a83756745bbbb1c9c2701bf816b"}},
			Resources:        map[string]any{"com.cloudflare.api.account.zone.*": "*"}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return issued
}

// run runs the CLI with the environment's secrets and returns the exit
// code, stdout and stderr. It fails the test if any secret value that the
// emulator or Vault issued appears in either stream.
func (e *policyEnv) run(args ...string) (int, string, string) {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	env := &environment{
		stdout:     &stdout,
		stderr:     &stderr,
		getenv:     func(name string) string { return e.vars[name] },
		isTerminal: func(io.Writer) bool { return false },
		now:        time.Now,
	}
	code := run(context.Background(), args, env)
	e.checkNoSecrets(stdout.String() + stderr.String())
	return code, stdout.String(), stderr.String()
}

func (e *policyEnv) checkNoSecrets(output string) {
	e.t.Helper()
	secrets := []string{e.emu.Token, e.vault.RootToken()}
	for _, tok := range e.emu.Emulator.Tokens(e.emu.AccountID) {
		secrets = append(secrets, tok.Value)
	}
	for _, s := range secrets {
		if strings.Contains(output, s) {
			e.t.Errorf("command output contains a secret value")
		}
	}
}

// fileValue returns the variable's value in an env file of the file sink.
func (e *policyEnv) fileValue(name string) string {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.fileDir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CLOUDFLARE_API_TOKEN="); ok {
			return v
		}
	}
	e.t.Fatalf("%s has no CLOUDFLARE_API_TOKEN line", name)
	return ""
}

// vaultValue returns the token field stored at a KV v2 path.
func (e *policyEnv) vaultValue(path string) string {
	e.t.Helper()
	secret, err := e.vault.Client(e.t, e.vault.RootToken()).Logical().Read("secret/data/" + path)
	if err != nil || secret == nil {
		e.t.Fatalf("read %s: %v", path, err)
	}
	data, _ := secret.Data["data"].(map[string]any)
	value, _ := data["token"].(string)
	return value
}

// replacementValue returns the value of the token named name other than
// the token oldID, such as the token a recreate made.
func (e *policyEnv) replacementValue(name, oldID string) string {
	e.t.Helper()
	for _, tok := range e.emu.Emulator.Tokens(e.emu.AccountID) {
		if tok.Name == name && tok.ID != oldID {
			return tok.Value
		}
	}
	e.t.Fatalf("no token named %s besides %s", name, oldID)
	return ""
}

func TestOnceRotatesBothStrategiesIntoEverySink(t *testing.T) {
	e := newPolicyEnv(t)
	dns := e.seed("dns-edit", 60*24*time.Hour)
	cache := e.seed("cache-purge", 60*24*time.Hour)

	code, stdout, stderr := e.run("once", "--config", e.config, "--log-format", "json")

	if code != exitOK {
		t.Fatalf("exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Count(stdout, "success") != 2 {
		t.Errorf("stdout does not report two successful rotations:\n%s", stdout)
	}
	rolled, _ := e.emu.Emulator.Token(e.emu.AccountID, dns.ID)
	if rolled.Value == dns.Value {
		t.Error("dns-edit was not rolled")
	}
	if got := e.fileValue("dns-edit.env"); got != rolled.Value {
		t.Error("env file does not hold the rolled value")
	}
	if got := e.vaultValue("cloudflare/dns-edit"); got != rolled.Value {
		t.Error("Vault KV v2 does not hold the rolled value")
	}

	newCache := e.replacementValue("cache-purge", cache.ID)
	if got := e.fileValue("cache-purge.env"); got != newCache {
		t.Error("env file does not hold the recreated token's value")
	}
	if !strings.Contains(stdout, "1 revocation pending (0 overdue)") {
		t.Errorf("stdout does not report the old token's pending deletion:\n%s", stdout)
	}

	code, stdout, _ = e.run("once", "--config", e.config, "--log-format", "json")
	if code != exitOK {
		t.Errorf("second once exit code = %d, want 0", code)
	}
	if strings.Contains(stdout, "success") {
		t.Errorf("second once rotated again:\n%s", stdout)
	}
}

func TestPlanReportsWithoutChanging(t *testing.T) {
	e := newPolicyEnv(t)
	dns := e.seed("dns-edit", 60*24*time.Hour)
	e.seed("cache-purge", time.Hour)

	code, stdout, stderr := e.run("plan", "--config", e.config, "--detailed-exitcode")

	if code != exitFailure {
		t.Fatalf("exit code = %d, want 1 for a pending rotation\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"dns-edit", dns.ID, "rotate", "older than max_age", "cache-purge", "ok"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, stdout)
		}
	}
	state, _ := e.emu.Emulator.Token(e.emu.AccountID, dns.ID)
	if state.Value != dns.Value {
		t.Error("plan changed the token")
	}
	if _, err := os.Stat(e.stateDir); !os.IsNotExist(err) {
		t.Errorf("plan created the state directory (stat err %v)", err)
	}

	code, stdout, _ = e.run("plan", "--config", e.config, "--output", "json")
	if code != exitOK {
		t.Errorf("plan without --detailed-exitcode: exit code = %d, want 0", code)
	}
	var rows []planRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("plan --output json is not JSON: %v\n%s", err, stdout)
	}
	if len(rows) != 2 || rows[0].Token != "dns-edit" || rows[0].Decision != "rotate" {
		t.Errorf("json rows = %+v", rows)
	}
	if rows[0].ExpiresOn != nil {
		t.Errorf("expires_on = %v, want null for a token that never expires", rows[0].ExpiresOn)
	}
}

func TestPlanExitsTwoOnMissingToken(t *testing.T) {
	e := newPolicyEnv(t)
	e.seed("dns-edit", time.Hour)

	code, stdout, _ := e.run("plan", "--config", e.config)

	if code != exitUsage {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stdout, `no token named "cache-purge"`) {
		t.Errorf("plan does not name the missing token:\n%s", stdout)
	}
}

func TestRotateForcesOneToken(t *testing.T) {
	e := newPolicyEnv(t)
	dns := e.seed("dns-edit", time.Hour)
	cache := e.seed("cache-purge", time.Hour)

	code, stdout, _ := e.run("rotate", "--config", e.config, "--log-format", "json", "dns-edit")
	if code != exitOK || !strings.Contains(stdout, "not due") {
		t.Errorf("rotate without --force: exit %d, output:\n%s", code, stdout)
	}

	code, stdout, stderr := e.run("rotate", "--config", e.config, "--log-format", "json",
		"dns-edit", "--force")
	if code != exitOK {
		t.Fatalf("exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	state, _ := e.emu.Emulator.Token(e.emu.AccountID, dns.ID)
	if state.Value == dns.Value {
		t.Error("forced rotation did not roll the token")
	}
	other, _ := e.emu.Emulator.Token(e.emu.AccountID, cache.ID)
	if other.Value != cache.Value {
		t.Error("rotate touched another token")
	}

	code, _, stderr = e.run("rotate", "--config", e.config, "no-such-token")
	if code != exitUsage || !strings.Contains(stderr, "no such token") {
		t.Errorf("unknown token: exit %d, stderr %q", code, stderr)
	}
}

func TestOnceMissingSecretNamesReference(t *testing.T) {
	e := newPolicyEnv(t)
	delete(e.vars, "CF_API_TOKEN")

	code, _, stderr := e.run("once", "--config", e.config)

	if code != exitUsage {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr, "CF_API_TOKEN") {
		t.Errorf("stderr does not name the missing variable:\n%s", stderr)
	}
}

func TestOnceInvalidPolicyExitsTwo(t *testing.T) {
	path := writeTestFile(t, t.TempDir(), "bad.yaml", "tokens: []\n")
	code, _, stderr := runCLI(t, "once", "--config", path)
	if code != exitUsage {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr, "bad.yaml") {
		t.Errorf("stderr does not name the file:\n%s", stderr)
	}
}

func TestCheckConfigOnlineResolvesTokens(t *testing.T) {
	e := newPolicyEnv(t)
	e.seed("dns-edit", time.Hour)

	code, stdout, _ := e.run("check-config", "--config", e.config, "--online")
	if code != exitUsage {
		t.Errorf("exit code with a missing token = %d, want 2", code)
	}
	for _, want := range []string{"management token " + e.emu.TokenID + " is active",
		"prod/dns-edit: token ", `prod/cache-purge: no token named "cache-purge"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	e.seed("cache-purge", time.Hour)
	if code, stdout, _ := e.run("check-config", "--config", e.config, "--online"); code != exitOK {
		t.Errorf("exit code with every token present = %d, want 0:\n%s", code, stdout)
	}

	e.seed("cache-purge", time.Hour)
	code, stdout, _ = e.run("check-config", "--config", e.config, "--online")
	if code != exitUsage || !strings.Contains(stdout, `2 tokens are named "cache-purge"`) {
		t.Errorf("duplicate name: exit %d, output:\n%s", code, stdout)
	}

	e.vars["CF_API_TOKEN"] = "cfat_" + strings.Repeat("x", 48)
	code, stdout, _ = e.run("check-config", "--config", e.config, "--online")
	if code != exitUsage || !strings.Contains(stdout, "management token check failed") {
		t.Errorf("wrong management token: exit %d, output:\n%s", code, stdout)
	}
}

func TestCheckConfigOfflineSendsNothing(t *testing.T) {
	e := newPolicyEnv(t)
	if code, stdout, stderr := e.run("check-config", "--config", e.config); code != exitOK {
		t.Fatalf("exit code = %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(e.emu.Emulator.Requests()); n != 0 {
		t.Errorf("offline check-config sent %d requests to the API", n)
	}
}

func TestPlanCorruptJournalExitsTwo(t *testing.T) {
	e := newPolicyEnv(t)
	e.seed("dns-edit", time.Hour)
	e.seed("cache-purge", time.Hour)
	if err := os.MkdirAll(e.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, e.stateDir, "journal.json", "{garbage")

	code, _, stderr := e.run("plan", "--config", e.config, "--detailed-exitcode")
	if code != exitUsage {
		t.Errorf("exit code = %d, want 2 (1 would read as rotations pending)", code)
	}
	if !strings.Contains(stderr, "not valid JSON") {
		t.Errorf("stderr does not explain the journal problem:\n%s", stderr)
	}
}

func TestRunMissingPolicyExitsTwo(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--config", filepath.Join(t.TempDir(), "absent.yaml"))
	if code != exitUsage {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr, "--config") {
		t.Errorf("stderr does not point at --config:\n%s", stderr)
	}
}

func TestPlanReportsMissingSinkDirectory(t *testing.T) {
	e := newPolicyEnv(t)
	e.seed("dns-edit", time.Hour)
	e.seed("cache-purge", time.Hour)
	if err := os.Remove(e.fileDir); err != nil {
		t.Fatal(err)
	}

	code, stdout, _ := e.run("plan", "--config", e.config)
	if code != exitUsage {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stdout, "create the directory or fix dir") {
		t.Errorf("plan does not report the missing sink directory:\n%s", stdout)
	}
}

func TestPlanWrongAccountNamesFix(t *testing.T) {
	e := newPolicyEnv(t)
	other, err := e.emu.Emulator.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(policy), e.emu.AccountID, other, 1)),
		0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, _ := e.run("plan", "--config", e.config)
	if code != exitUsage {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stdout, "check the account's id") || !strings.Contains(stdout, other) {
		t.Errorf("plan does not name the account id and the fix:\n%s", stdout)
	}
}

func TestCheckConfigOnlineDuringGracePeriod(t *testing.T) {
	e := newPolicyEnv(t)
	e.seed("dns-edit", time.Hour)
	e.seed("cache-purge", 60*24*time.Hour)
	if code, stdout, _ := e.run("once", "--config", e.config, "--log-format", "json"); code != exitOK {
		t.Fatalf("once exit code = %d:\n%s", code, stdout)
	}

	// The recreated cache-purge and its predecessor share the name until
	// the grace period ends. The journal records which one is old.
	code, stdout, _ := e.run("check-config", "--config", e.config, "--online")
	if code != exitOK {
		t.Errorf("exit code = %d, want 0 during the grace period:\n%s", code, stdout)
	}
}

func TestDemoPolicyAcceptsIPv6Listen(t *testing.T) {
	dir := t.TempDir()
	path, err := writeDemoPolicy(dir, "[::1]:0", demoAPI{url: "http://127.0.0.1:1/client/v4",
		accountID: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadFile(path); err != nil {
		t.Errorf("demo policy with an IPv6 listen address does not load: %v", err)
	}
}
