package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sentinel is a secret value that must never appear in an error.
const sentinel = "sentinel-secret-value-7f3a9c"

// newResolver returns a Resolver over env and the real file system.
func newResolver(env map[string]string) Resolver {
	return Resolver{
		Getenv:   func(name string) string { return env[name] },
		ReadFile: os.ReadFile,
	}
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestResolveSources(t *testing.T) {
	dir := t.TempDir()
	credentials := t.TempDir()
	writeFile(t, credentials, "cf-prod", sentinel+"\n")
	env := map[string]string{"CF_TOKEN": sentinel, "CREDENTIALS_DIRECTORY": credentials}

	tests := map[string]SecretRef{
		"env":             {Source: SecretFromEnv, Name: "CF_TOKEN"},
		"file":            {Source: SecretFromFile, Name: writeFile(t, dir, "a", sentinel)},
		"file newline":    {Source: SecretFromFile, Name: writeFile(t, dir, "b", sentinel+"\n")},
		"file CRLF":       {Source: SecretFromFile, Name: writeFile(t, dir, "c", sentinel+"\r\n")},
		"file two blanks": {Source: SecretFromFile, Name: writeFile(t, dir, "d", sentinel+"\n\n")},
		"credential":      {Source: SecretFromCredential, Name: "cf-prod"},
	}
	for name, ref := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := newResolver(env).Resolve(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != sentinel {
				t.Errorf("value has %d bytes, want the %d bytes of the sentinel",
					len(got.Reveal()), len(sentinel))
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"EMPTY": ""}

	tests := map[string]struct {
		ref  SecretRef
		env  map[string]string
		want string
	}{
		"env unset": {
			ref:  SecretRef{Source: SecretFromEnv, Name: "CF_TOKEN"},
			want: "environment variable CF_TOKEN is not set or empty",
		},
		"env empty": {
			ref:  SecretRef{Source: SecretFromEnv, Name: "EMPTY"},
			want: "environment variable EMPTY is not set or empty",
		},
		"file missing": {
			ref:  SecretRef{Source: SecretFromFile, Name: filepath.Join(dir, "absent")},
			want: "absent does not exist",
		},
		"file empty": {
			ref:  SecretRef{Source: SecretFromFile, Name: writeFile(t, dir, "empty", "\n")},
			want: "empty is empty",
		},
		"file too large": {
			ref: SecretRef{Source: SecretFromFile,
				Name: writeFile(t, dir, "large", strings.Repeat(sentinel, 5000))},
			want: "larger than the 65536 bytes a secret may be",
		},
		"file with two lines": {
			ref: SecretRef{Source: SecretFromFile,
				Name: writeFile(t, dir, "lines", sentinel+"\n"+sentinel+"\n")},
			want: "contains a space or control character at byte 28",
		},
		"file is a directory": {
			ref:  SecretRef{Source: SecretFromFile, Name: dir},
			want: "read secret file",
		},
		"credentials directory unset": {
			ref:  SecretRef{Source: SecretFromCredential, Name: "cf-prod"},
			want: "CREDENTIALS_DIRECTORY is not set",
		},
		"credential missing": {
			ref:  SecretRef{Source: SecretFromCredential, Name: "cf-prod"},
			env:  map[string]string{"CREDENTIALS_DIRECTORY": dir},
			want: "credential cf-prod: file " + filepath.Join(dir, "cf-prod") + " does not exist",
		},
		"env with space": {
			ref:  SecretRef{Source: SecretFromEnv, Name: "SPACED"},
			env:  map[string]string{"SPACED": "Bearer " + sentinel},
			want: "the value of {env: SPACED} contains a space or control character at byte 6",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := env
			if tt.env != nil {
				e = tt.env
			}
			_, err := newResolver(e).Resolve(tt.ref)
			if err == nil {
				t.Fatal("Resolve succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), sentinel) {
				t.Errorf("error contains the secret value: %q", err)
			}
		})
	}
}

func TestResolveAllReportsEveryMissing(t *testing.T) {
	data := `admin_token: {env: ADMIN_TOKEN}
accounts:
  - name: prod
    id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN_PROD}
  - name: staging
    id: fedcba9876543210fedcba9876543210
    api_token: {credential: cf-staging}
sinks:
  vault:
    vault:
      address: https://vault.example.com:8200
      mount: secret
      auth:
        method: approle
        role_id_file: /nonexistent/role-id
        secret_id: {file: /nonexistent/secret-id}
tokens:
  - name: dns-edit
    account: prod
    targets:
      - {sink: vault, path: cloudflare/dns-edit, field: token}
`
	cfg, err := Load("config.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CF_TOKEN_PROD": sentinel}
	_, err = newResolver(env).ResolveAll(cfg)

	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	want := []string{
		"config.yaml:1:14: admin_token: environment variable ADMIN_TOKEN is not set or empty",
		"config.yaml:8:16: accounts[1].api_token: credential cf-staging: CREDENTIALS_DIRECTORY " +
			"is not set, so the daemon is not running under a systemd unit that passes " +
			"credentials; add LoadCredential=cf-staging:PATH to the unit, or use {file: PATH}",
		"config.yaml:16:23: sinks.vault.vault.auth.role_id_file: file /nonexistent/role-id " +
			"does not exist",
		"config.yaml:17:20: sinks.vault.vault.auth.secret_id: file /nonexistent/secret-id " +
			"does not exist",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("error %d:\n got %s\nwant %s", i, errs[i].Error(), want[i])
		}
	}
}

func TestResolveAllReturnsValues(t *testing.T) {
	dir := t.TempDir()
	roleID := writeFile(t, dir, "role-id", "4f1c9e2a-role\n")
	secretID := writeFile(t, dir, "secret-id", "secret-id-value\n")
	data := `accounts:
  - name: prod
    id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_TOKEN}
sinks:
  approle:
    vault:
      address: https://vault.example.com:8200
      mount: secret
      auth: {method: approle, role_id_file: ` + roleID + `, secret_id: {file: ` + secretID + `}}
  token:
    vault:
      address: https://vault.example.com:8200
      mount: secret
      auth: {method: token, token: {env: VAULT_TOKEN}}
tokens:
  - name: dns-edit
    account: prod
    targets:
      - {sink: approle, path: cloudflare/dns-edit, field: token}
      - {sink: token, path: cloudflare/dns-edit, field: token}
`
	cfg, err := Load("config.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CF_TOKEN": sentinel, "VAULT_TOKEN": "hvs.vault-token"}
	secrets, err := newResolver(env).ResolveAll(cfg)
	if err != nil {
		t.Fatal(err)
	}

	if got := secrets.AccountTokens["prod"]; got.Reveal() != sentinel {
		t.Error("account token of prod is not the CF_TOKEN value")
	}
	if !secrets.AdminToken.IsZero() {
		t.Error("admin token is set, want zero when admin_token is absent")
	}
	approle := secrets.Vault["approle"]
	if approle.RoleID != "4f1c9e2a-role" {
		t.Errorf("role id = %q, want the file's first line", approle.RoleID)
	}
	if approle.SecretID.Reveal() != "secret-id-value" || !approle.Token.IsZero() {
		t.Error("approle credentials do not match the secret_id file")
	}
	if token := secrets.Vault["token"]; token.Token.Reveal() != "hvs.vault-token" {
		t.Error("token method credentials do not match VAULT_TOKEN")
	}
}

func TestSecretRefString(t *testing.T) {
	ref := SecretRef{Source: SecretFromCredential, Name: "cf-prod"}
	if got := ref.String(); got != "{credential: cf-prod}" {
		t.Errorf("String = %q", got)
	}
	if got := (SecretRef{}).String(); got != "(not set)" {
		t.Errorf("zero String = %q", got)
	}
}
