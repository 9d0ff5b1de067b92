package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const exampleConfig = "../../config.example.yaml"

// sentinelSecret is a secret value that must never reach the output.
const sentinelSecret = "sentinel-cf-token-9b1e4d7c2a"

// runCheckConfigCLI runs check-config with a fixed clock and the given
// environment variables, and returns the exit code, stdout and stderr.
func runCheckConfigCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	saved := checkConfigNow
	checkConfigNow = func() time.Time {
		return time.Date(2026, time.March, 28, 23, 50, 0, 0, time.UTC)
	}
	t.Cleanup(func() { checkConfigNow = saved })

	var stdout, stderr bytes.Buffer
	env := &environment{
		stdout:     &stdout,
		stderr:     &stderr,
		getenv:     func(name string) string { return vars[name] },
		isTerminal: func(io.Writer) bool { return false },
	}
	code := run(context.Background(), append([]string{"check-config"}, args...), env)
	return code, stdout.String(), stderr.String()
}

// writeTestFile writes content to name in dir and returns the path.
func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckConfigExample(t *testing.T) {
	code, stdout, stderr := runCheckConfigCLI(t, nil, "--config", exampleConfig, "--skip-secrets")
	if code != exitOK {
		t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, exitOK, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
	for _, want := range []string{
		"config.example.yaml is valid: 2 accounts, 4 sinks, 4 tokens.",
		"  next sweeps     2026-03-29 00:00 UTC (Sun)\n",
		"                  2026-03-29 00:15 UTC (Sun)\n",
		"                  2026-03-29 00:30 UTC (Sun)\n",
		"Token prod/dns-edit (line ",
		"Token staging/dns-edit (line ",
		"Token prod/00112233445566778899aabbccddeeff (line ",
		"  strategy           recreate\n",
		"  grace_period       1h\n",
		"  max_age            off\n",
		"next 2026-03-30 06:30 CEST (Mon) = 2026-03-30 04:30 UTC (Mon)",
		"vault-prod: teams/platform/secret/cloudflare/dns-edit, field token",
		"local-raw: /run/tokenrotator/raw/staging-dns-edit\n",
		"auth approle at approle (role_id inline, " +
			"secret_id from {credential: vault-secret-id})",
		"Secrets: not read (--skip-secrets).",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not contain %q:\n%s", want, stdout)
		}
	}
}

func TestCheckConfigSweepTimesInZone(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), `schedule: "CRON_TZ=UTC */15 * * * *"`,
		`schedule: "CRON_TZ=Europe/Berlin 30 2 * * *"`, 1)
	path := writeTestFile(t, dir, "berlin.yaml", text)

	code, stdout, stderr := runCheckConfigCLI(t, nil, "--config", path, "--skip-secrets")
	if code != exitOK {
		t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, exitOK, stderr)
	}
	// 2026-03-29 has no 02:30 in Berlin, so the first sweep is a day later.
	want := "  next sweeps     2026-03-30 02:30 CEST (Mon) = 2026-03-30 00:30 UTC (Mon)\n" +
		"                  2026-03-31 02:30 CEST (Tue) = 2026-03-31 00:30 UTC (Tue)\n" +
		"                  2026-04-01 02:30 CEST (Wed) = 2026-04-01 00:30 UTC (Wed)\n"
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout does not contain\n%s\ngot:\n%s", want, stdout)
	}
}

func TestCheckConfigResolvesSecrets(t *testing.T) {
	dir := t.TempDir()
	credentials := t.TempDir()
	writeTestFile(t, credentials, "cloudflare-management-token", sentinelSecret+"\n")
	writeTestFile(t, credentials, "vault-secret-id", sentinelSecret+"-vault\n")

	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	path := writeTestFile(t, dir, "config.yaml", string(data))
	vars := map[string]string{
		"CREDENTIALS_DIRECTORY": credentials,
		"CF_API_TOKEN_STAGING":  sentinelSecret + "-staging",
	}

	code, stdout, stderr := runCheckConfigCLI(t, vars, "--config", path)
	if code != exitOK {
		t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, exitOK, stderr)
	}
	if !strings.Contains(stdout, "Secrets: 3 references readable.") {
		t.Errorf("stdout does not report the secrets as readable:\n%s", stdout)
	}
	if strings.Contains(stdout+stderr, "sentinel") {
		t.Errorf("output contains a secret value:\n%s\n%s", stdout, stderr)
	}
}

func TestCheckConfigMissingSecrets(t *testing.T) {
	dir := t.TempDir()
	present := writeTestFile(t, dir, "present", sentinelSecret+"\n")
	config := `accounts:
  - name: prod
    id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN_PROD}
  - name: staging
    id: fedcba9876543210fedcba9876543210
    api_token: {file: ` + present + `}
sinks:
  vault:
    vault:
      address: https://vault.example.com:8200
      mount: secret
      auth: {method: token, token: {file: ` + filepath.Join(dir, "absent") + `}}
tokens:
  - name: dns-edit
    account: prod
    targets:
      - {sink: vault, path: cloudflare/dns-edit, field: token}
`
	path := writeTestFile(t, dir, "config.yaml", config)
	vars := map[string]string{"UNRELATED": sentinelSecret}

	code, stdout, stderr := runCheckConfigCLI(t, vars, "--config", path)
	if code != exitUsage {
		t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, exitUsage, stderr)
	}
	for _, want := range []string{
		"secrets of " + path + " cannot be read, 2 problems:\n",
		":4:16: accounts[0].api_token: environment variable CF_TOKEN_PROD is not set or empty\n",
		":13:36: sinks.vault.vault.auth.token: file " + filepath.Join(dir, "absent") +
			" does not exist\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout+stderr, "sentinel") {
		t.Errorf("output contains a secret value:\n%s\n%s", stdout, stderr)
	}
}

func TestCheckConfigBadFile(t *testing.T) {
	path := "../../internal/config/testdata/bad/target-field.yaml"
	code, stdout, stderr := runCheckConfigCLI(t, nil, "--config", path)
	if code != exitUsage {
		t.Fatalf("exit code = %d, want %d", code, exitUsage)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing for an invalid file", stdout)
	}

	golden, err := os.ReadFile("../../internal/config/testdata/bad/target-field.errors")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(golden)), "\n")
	wantHeading := "check-config: " + path + " is invalid, 4 problems:\n"
	if !strings.HasPrefix(stderr, wantHeading) {
		t.Errorf("stderr does not start with %q:\n%s", wantHeading, stderr)
	}
	for _, line := range lines {
		// LoadFile names the file by the path it was given.
		want := "  " + strings.Replace(line, "target-field.yaml", path, 1) + "\n"
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
}

func TestCheckConfigWarnings(t *testing.T) {
	dir := t.TempDir()
	config := `accounts:
  - name: prod
    id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
sinks:
  local:
    file: {dir: /run/tokenrotator, format: env, mode: "0640"}
tokens:
  - name: dns-edit
    account: prod
    targets:
      - {sink: local, path: dns-edit.env, field: CF_TOKEN}
`
	path := writeTestFile(t, dir, "config.yaml", config)
	code, _, stderr := runCheckConfigCLI(t, nil, "--config", path, "--skip-secrets")
	if code != exitOK {
		t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, exitOK, stderr)
	}
	want := "warning: " + path + ":7:55: sinks.local.file.mode: mode 0640 lets the file's " +
		"group read token values\n"
	if stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

func TestCheckConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	code, _, stderr := runCheckConfigCLI(t, nil, "--config", path)
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "no such file or directory") || !strings.Contains(stderr, path) {
		t.Errorf("stderr does not name the missing file:\n%s", stderr)
	}
}

func TestCheckConfigRejectsArguments(t *testing.T) {
	code, _, stderr := runCheckConfigCLI(t, nil, exampleConfig)
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "pass the file with --config") {
		t.Errorf("stderr does not explain the flag:\n%s", stderr)
	}
}

func TestCheckConfigShowsSecondsForFastSchedules(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), `schedule: "CRON_TZ=UTC */15 * * * *"`, `schedule: "@every 10s"`, 1)
	text = strings.Replace(text, "jitter: 30s", "jitter: 0s", 1)
	path := writeTestFile(t, t.TempDir(), "config.yaml", text)

	code, stdout, stderr := runCheckConfigCLI(t, nil, "--config", path, "--skip-secrets")
	if code != exitOK {
		t.Fatalf("exit code = %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"23:50:10", "23:50:20", "23:50:30"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("next sweeps lack %s:\n%s", want, stdout)
		}
	}
}
