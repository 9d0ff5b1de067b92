package sinks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/vaulttest"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

const (
	sentinelValue = "SENTINEL-VALUE-3f9c1a7e"
	mount         = "teams/test/secret"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

var start = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// vaultEnv is a Vault test server with a KV mount and a clock.
type vaultEnv struct {
	server *vaulttest.Server
	clock  *vaulttest.ManualClock
}

func newVaultEnv(t *testing.T, version int, opts vaulttest.Options) *vaultEnv {
	t.Helper()
	clock := vaulttest.NewManualClock(start)
	opts.Now = clock.Now
	server := vaulttest.Start(t, opts)
	server.MountKV(mount, version)
	return &vaultEnv{server: server, clock: clock}
}

// tokenFile writes a token to a 0600 file and returns its path.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sink returns a Vault sink for env that logs in with token.
func (e *vaultEnv) sink(t *testing.T, token, kvVersion string) *VaultSink {
	t.Helper()
	return e.sinkWith(t, kvVersion, VaultAuth{Method: AuthToken, TokenFile: tokenFile(t, token)})
}

func (e *vaultEnv) sinkWith(t *testing.T, kvVersion string, auth VaultAuth) *VaultSink {
	t.Helper()
	s, err := NewVault(VaultOptions{
		Address:   e.server.URL(),
		Mount:     mount,
		KVVersion: kvVersion,
		Auth:      auth,
		TLS:       VaultTLS{CAFile: e.server.CAFile()},
		Now:       e.clock.Now,
		Logger:    quietLogger,
	})
	if err != nil {
		t.Fatalf("NewVault: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func record(value string) Record {
	expires := start.Add(90 * 24 * time.Hour)
	return Record{AccountID: "acc-1", TokenID: "tok-1", TokenName: "dns", ExpiresOn: &expires,
		Value: tokenapi.NewSecret(value), RotatedAt: start}
}

// writerRules allow everything the sink needs on the mount.
var writerRules = []vaulttest.Rule{
	{Path: mount + "/data/cf/*", Capabilities: []string{"create", "read", "update"}},
	{Path: mount + "/metadata/cf/*", Capabilities: []string{"create", "read", "update"}},
	{Path: mount + "/cf/*", Capabilities: []string{"create", "read", "update"}},
}

var target = Target{Path: "cf/dns-token"}

func TestVaultKVv2RoundTrip(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.CreateToken(vaulttest.TokenSpec{Rules: writerRules}), KVVersionAuto)
	ctx := context.Background()

	if err := s.Check(ctx, target); err != nil {
		t.Fatalf("Check: %v", err)
	}
	before, err := s.Read(ctx, target)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if before.Exists {
		t.Fatalf("Read before the first write: Exists = true")
	}

	stored, err := s.Write(ctx, target, record("value-1"), before)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if stored.Version != 1 {
		t.Errorf("version = %d, want 1", stored.Version)
	}
	if stored.Value.Reveal() != "value-1" {
		t.Errorf("value read back differs from the written one")
	}
	if !stored.RotatedAt.Equal(start) {
		t.Errorf("RotatedAt = %v, want %v", stored.RotatedAt, start)
	}
	if stored.TokenID != "tok-1" {
		t.Errorf("TokenID = %q, want tok-1", stored.TokenID)
	}

	raw, err := env.server.Client(t, env.server.RootToken()).Logical().
		Read(mount + "/metadata/cf/dns-token")
	if err != nil || raw == nil {
		t.Fatalf("read metadata: %v, %v", raw, err)
	}
	custom, _ := raw.Data["custom_metadata"].(map[string]any)
	want := map[string]string{"token_id": "tok-1", "account_id": "acc-1",
		"managed_by": "tokenrotator", "rotated_at": "2026-03-04T05:06:07Z",
		"expires_on": "2026-06-02T05:06:07Z"}
	for k, v := range want {
		if custom[k] != v {
			t.Errorf("custom_metadata[%s] = %v, want %s", k, custom[k], v)
		}
	}

	second, err := s.Write(ctx, target, record("value-2"), stored)
	if err != nil {
		t.Fatalf("second Write: %v", err)
	}
	if second.Version != 2 {
		t.Errorf("second version = %d, want 2", second.Version)
	}
}

func TestVaultKVv2TokenWithoutExpiry(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.CreateToken(vaulttest.TokenSpec{Rules: writerRules}), KVVersionAuto)
	r := record("value-1")
	r.ExpiresOn = nil

	stored, err := s.Write(context.Background(), target, r, Stored{})
	if err != nil {
		t.Fatalf("Write of a token that never expires: %v", err)
	}
	if stored.ExpiresOn != nil {
		t.Errorf("ExpiresOn = %v, want nil", stored.ExpiresOn)
	}
	raw, err := env.server.Client(t, env.server.RootToken()).Logical().
		Read(mount + "/metadata/cf/dns-token")
	if err != nil || raw == nil {
		t.Fatalf("read metadata: %v, %v", raw, err)
	}
	custom, _ := raw.Data["custom_metadata"].(map[string]any)
	if _, ok := custom["expires_on"]; ok {
		t.Errorf("custom_metadata has expires_on %v for a token that never expires", custom["expires_on"])
	}
	if custom["token_id"] != "tok-1" {
		t.Errorf("custom_metadata[token_id] = %v, want tok-1", custom["token_id"])
	}
}

func TestVaultKVv2PathsFollowWholeMount(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.RootToken(), KVVersion2)
	ctx := context.Background()

	if _, err := s.Write(ctx, target, record("v"), Stored{}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	var paths []string
	for _, r := range env.server.Requests() {
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			paths = append(paths, r.Path)
		}
	}
	want := []string{mount + "/data/cf/dns-token", mount + "/metadata/cf/dns-token"}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("write paths = %v, want %v", paths, want)
	}
	cas := env.server.Requests()
	for _, r := range cas {
		if r.Path == want[0] && r.Method == http.MethodPut {
			options, _ := r.Data["options"].(map[string]any)
			if options["cas"] == nil || options["cas"].(interface{ String() string }).String() != "0" {
				t.Errorf("options.cas = %v, want 0", options["cas"])
			}
		}
	}
}

func TestVaultKVv2ConflictDetected(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.RootToken(), KVVersion2)
	ctx := context.Background()

	planned, err := s.Read(ctx, target)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	other := env.server.Client(t, env.server.RootToken()).KVv2(mount)
	if _, err := other.Put(ctx, "cf/dns-token", map[string]any{"value": "someone-else"}); err != nil {
		t.Fatalf("concurrent put: %v", err)
	}

	_, err = s.Write(ctx, target, record("mine"), planned)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Write error = %v, want ErrConflict", err)
	}
	now, err := s.Read(ctx, target)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if now.Value.Reveal() != "someone-else" {
		t.Error("the concurrent value was overwritten")
	}
}

func TestVaultKVv2LostReplyCountsAsWritten(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.RootToken(), KVVersion2)
	ctx := context.Background()

	first, err := s.Write(ctx, target, record("v"), Stored{})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	// Retrying with the stale expectation, as after a lost reply.
	again, err := s.Write(ctx, target, record("v"), Stored{})
	if err != nil {
		t.Fatalf("retried Write: %v", err)
	}
	if again.Version != first.Version {
		t.Errorf("retried version = %d, want %d", again.Version, first.Version)
	}
}

func TestVaultKVv1RoundTrip(t *testing.T) {
	env := newVaultEnv(t, 1, vaulttest.Options{})
	s := env.sink(t, env.server.CreateToken(vaulttest.TokenSpec{Rules: writerRules}), KVVersionAuto)
	ctx := context.Background()

	if err := s.Check(ctx, target); err != nil {
		t.Fatalf("Check: %v", err)
	}
	stored, err := s.Write(ctx, Target{Path: "cf/dns-token", Field: "token"}, record("v1"), Stored{})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if stored.Value.Reveal() != "v1" || stored.TokenID != "tok-1" || !stored.RotatedAt.Equal(start) {
		t.Errorf("stored = %+v, want value v1, token tok-1, rotated %v", stored, start)
	}
	raw, err := env.server.Client(t, env.server.RootToken()).Logical().Read(mount + "/cf/dns-token")
	if err != nil || raw == nil {
		t.Fatalf("raw read: %v, %v", raw, err)
	}
	if raw.Data["managed_by"] != "tokenrotator" || raw.Data["token"] != "v1" {
		t.Errorf("raw data = %v", raw.Data)
	}

	_, err = s.Write(ctx, target, record("v2"), Stored{})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("Write with a stale expectation: %v, want ErrConflict", err)
	}
}

func TestVaultVersionDetection(t *testing.T) {
	tests := []struct {
		name       string
		mounted    int
		configured string
		deny       bool
		wantErr    error
		wantPath   string
	}{
		{"auto detects v2", 2, KVVersionAuto, false, nil, mount + "/data/cf/dns-token"},
		{"auto detects v1", 1, KVVersionAuto, false, nil, mount + "/cf/dns-token"},
		{"denied falls back to 2", 2, KVVersion2, true, nil, mount + "/data/cf/dns-token"},
		{"denied falls back to 1", 1, KVVersion1, true, nil, mount + "/cf/dns-token"},
		{"denied with auto", 2, KVVersionAuto, true, ErrPermissionDenied, ""},
		{"mismatch", 1, KVVersion2, false, ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newVaultEnv(t, tt.mounted, vaulttest.Options{})
			if tt.deny {
				env.server.DenyPath("sys/internal/ui/mounts/*")
			}
			s := env.sink(t, env.server.RootToken(), tt.configured)
			_, err := s.Write(context.Background(), target, record("v"), Stored{})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if tt.deny && !strings.Contains(err.Error(), "kv_version") {
					t.Errorf("error %q does not mention kv_version", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			found := false
			for _, r := range env.server.Requests() {
				found = found || r.Path == tt.wantPath && r.Method == http.MethodPut
			}
			if !found {
				t.Errorf("no write to %s", tt.wantPath)
			}
		})
	}
}

func TestVaultMountInsideMountRejected(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s, err := NewVault(VaultOptions{Address: env.server.URL(), Mount: "teams/test/secret/cf",
		Auth: VaultAuth{TokenFile: tokenFile(t, env.server.RootToken())}, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	err = s.Check(context.Background(), Target{Path: "dns-token"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"teams/test/secret"`) {
		t.Errorf("error = %v, want ErrInvalid naming the enclosing mount", err)
	}
}

func TestVaultCheckNamesDeniedPath(t *testing.T) {
	tests := []struct {
		name     string
		rules    []vaulttest.Rule
		wantPath string
		wantCap  string
	}{
		{"no write on data", []vaulttest.Rule{
			{Path: mount + "/data/cf/*", Capabilities: []string{"read"}},
			{Path: mount + "/metadata/cf/*", Capabilities: []string{"update"}},
		}, mount + "/data/cf/dns-token", `"create"`},
		{"no read on data", []vaulttest.Rule{
			{Path: mount + "/data/cf/*", Capabilities: []string{"create", "update"}},
			{Path: mount + "/metadata/cf/*", Capabilities: []string{"update"}},
		}, mount + "/data/cf/dns-token", `"read"`},
		{"no metadata", []vaulttest.Rule{
			{Path: mount + "/data/cf/*", Capabilities: []string{"create", "read", "update"}},
		}, mount + "/metadata/cf/dns-token", `"update"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newVaultEnv(t, 2, vaulttest.Options{})
			s := env.sink(t, env.server.CreateToken(vaulttest.TokenSpec{Rules: tt.rules}), KVVersion2)
			err := s.Check(context.Background(), target)
			var sinkErr *Error
			if !errors.As(err, &sinkErr) || !errors.Is(err, ErrPermissionDenied) {
				t.Fatalf("error = %v, want a permission *Error", err)
			}
			if sinkErr.Path != tt.wantPath {
				t.Errorf("Path = %q, want %q", sinkErr.Path, tt.wantPath)
			}
			if !strings.Contains(err.Error(), tt.wantCap) {
				t.Errorf("error %q does not name capability %s", err, tt.wantCap)
			}
		})
	}
}

func TestVaultDeniedWriteNamesPath(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.RootToken(), KVVersion2)
	env.server.DenyPath(mount + "/data/cf/dns-token")

	_, err := s.Write(context.Background(), target, record(sentinelValue), Stored{})
	var sinkErr *Error
	if !errors.As(err, &sinkErr) || !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("error = %v, want a permission *Error", err)
	}
	if sinkErr.Path != mount+"/data/cf/dns-token" {
		t.Errorf("Path = %q, want %s/data/cf/dns-token", sinkErr.Path, mount)
	}
}

func TestVaultSealedAndDeniedAreDistinct(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.RootToken(), KVVersion2)
	ctx := context.Background()
	if err := s.Check(ctx, target); err != nil {
		t.Fatalf("Check: %v", err)
	}

	env.server.Seal()
	_, sealedErr := s.Write(ctx, target, record("v"), Stored{})
	env.server.Unseal()
	env.server.DenyPath(mount + "/data/*")
	_, deniedErr := s.Write(ctx, target, record("v"), Stored{})

	if !errors.Is(sealedErr, ErrUnavailable) || errors.Is(sealedErr, ErrPermissionDenied) {
		t.Errorf("sealed error = %v, want only ErrUnavailable", sealedErr)
	}
	if !errors.Is(deniedErr, ErrPermissionDenied) || errors.Is(deniedErr, ErrUnavailable) {
		t.Errorf("denied error = %v, want only ErrPermissionDenied", deniedErr)
	}
}

func TestVaultForcedWriteFailureIsRetryable(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	s := env.sink(t, env.server.RootToken(), KVVersion2)
	ctx := context.Background()
	if err := s.Check(ctx, target); err != nil {
		t.Fatalf("Check: %v", err)
	}

	env.server.FailWrites(1, http.StatusInternalServerError)
	_, err := s.Write(ctx, target, record("v"), Stored{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if _, err := s.Write(ctx, target, record("v"), Stored{}); err != nil {
		t.Errorf("Write after the failure: %v", err)
	}
}

func TestVaultAppRoleAndKubernetesLogin(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	spec := vaulttest.TokenSpec{Rules: writerRules, TTL: time.Hour}
	env.server.AddAppRole("approle", vaulttest.AppRole{Name: "rotator", RoleID: "role-1",
		SecretID: "secret-1", Token: spec})
	env.server.AddKubernetesRole("k8s", vaulttest.KubernetesRole{Name: "rotator",
		JWT: "jwt-1", Token: spec})

	tests := []struct {
		name    string
		auth    VaultAuth
		wantErr error
	}{
		{"approle", VaultAuth{Method: AuthAppRole, RoleID: "role-1",
			SecretIDFile: tokenFile(t, "secret-1")}, nil},
		{"approle role id file", VaultAuth{Method: AuthAppRole,
			RoleIDFile: tokenFile(t, "role-1"), SecretIDFile: tokenFile(t, "secret-1")}, nil},
		{"approle wrong secret", VaultAuth{Method: AuthAppRole, RoleID: "role-1",
			SecretIDFile: tokenFile(t, "nope")}, ErrPermissionDenied},
		{"approle secret id source", VaultAuth{Method: AuthAppRole, RoleID: "role-1",
			SecretIDSource: secretSource("secret-1", nil)}, nil},
		{"approle secret id source fails", VaultAuth{Method: AuthAppRole, RoleID: "role-1",
			SecretIDSource: secretSource("", errors.New("credential missing"))}, ErrInvalid},
		{"token source", VaultAuth{Method: AuthToken,
			TokenSource: secretSource(env.server.CreateToken(spec), nil)}, nil},
		{"token source wrong token", VaultAuth{Method: AuthToken,
			TokenSource: secretSource("hvs.nope", nil)}, ErrPermissionDenied},
		{"kubernetes", VaultAuth{Method: AuthKubernetes, Role: "rotator", Mount: "k8s",
			ServiceAccountTokenFile: tokenFile(t, "jwt-1")}, nil},
		{"kubernetes wrong jwt", VaultAuth{Method: AuthKubernetes, Role: "rotator",
			Mount: "k8s", ServiceAccountTokenFile: tokenFile(t, "nope")}, ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := env.sinkWith(t, KVVersion2, tt.auth)
			err := s.Check(context.Background(), target)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && s.AuthHealthy() != nil {
				t.Errorf("AuthHealthy after login: %v", s.AuthHealthy())
			}
			if tt.wantErr != nil && s.AuthHealthy() == nil {
				t.Error("AuthHealthy is nil after a failed login")
			}
		})
	}
}

// secretSource returns a credential source that yields value or err.
func secretSource(value string, err error) func() (tokenapi.Secret, error) {
	return func() (tokenapi.Secret, error) {
		return tokenapi.NewSecret(value), err
	}
}

func TestVaultLogsInAgainAfterExpiry(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	env.server.AddAppRole("approle", vaulttest.AppRole{Name: "rotator", RoleID: "role-1",
		SecretID: "secret-1", Token: vaulttest.TokenSpec{Rules: writerRules, TTL: time.Hour}})
	s := env.sinkWith(t, KVVersion2, VaultAuth{Method: AuthAppRole, RoleID: "role-1",
		SecretIDFile: tokenFile(t, "secret-1")})
	ctx := context.Background()

	if err := s.Check(ctx, target); err != nil {
		t.Fatalf("Check: %v", err)
	}
	env.clock.Advance(2 * time.Hour)
	if s.AuthHealthy() == nil {
		t.Error("AuthHealthy is nil after the token expired")
	}
	if _, err := s.Write(ctx, target, record("v"), Stored{}); err != nil {
		t.Fatalf("Write after expiry: %v", err)
	}
	if err := s.AuthHealthy(); err != nil {
		t.Errorf("AuthHealthy after the new login: %v", err)
	}

	logins := 0
	for _, r := range env.server.Requests() {
		if r.Path == "auth/approle/login" {
			logins++
		}
	}
	if logins != 2 {
		t.Errorf("logins = %d, want 2", logins)
	}
}

func TestVaultLogsInAgainAfterRevocation(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	first := env.server.CreateToken(vaulttest.TokenSpec{Rules: writerRules})
	path := tokenFile(t, first)
	s := env.sinkWith(t, KVVersion2, VaultAuth{TokenFile: path})
	ctx := context.Background()
	if err := s.Check(ctx, target); err != nil {
		t.Fatalf("Check: %v", err)
	}

	// An agent replaces the token file and the old token is revoked.
	env.server.RevokeToken(first)
	second := env.server.CreateToken(vaulttest.TokenSpec{Rules: writerRules})
	if err := os.WriteFile(path, []byte(second), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, target, record("v"), Stored{}); err != nil {
		t.Fatalf("Write after revocation: %v", err)
	}
}

func TestVaultTokenFromEnvironment(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	t.Setenv("TEST_SINK_VAULT_TOKEN", env.server.RootToken())
	s := env.sinkWith(t, KVVersion2, VaultAuth{TokenEnv: "TEST_SINK_VAULT_TOKEN"})
	if err := s.Check(context.Background(), target); err != nil {
		t.Fatalf("Check: %v", err)
	}

	empty := env.sinkWith(t, KVVersion2, VaultAuth{TokenEnv: "TEST_SINK_UNSET_VARIABLE"})
	err := empty.Check(context.Background(), target)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TEST_SINK_UNSET_VARIABLE") {
		t.Errorf("error = %v, want ErrInvalid naming the variable", err)
	}
}

func TestVaultNamespaceHeaderSent(t *testing.T) {
	clock := vaulttest.NewManualClock(start)
	server := vaulttest.Start(t, vaulttest.Options{Now: clock.Now})
	server.MountKV("team-a/"+mount, 2)
	s, err := NewVault(VaultOptions{Address: server.URL(), Namespace: "team-a/", Mount: mount,
		Auth: VaultAuth{TokenFile: tokenFile(t, server.RootToken())},
		Now:  clock.Now, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	if _, err := s.Write(context.Background(), target, record("v"), Stored{}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, r := range server.Requests() {
		if r.Namespace != "team-a" {
			t.Errorf("request %s %s has namespace %q, want team-a", r.Method, r.Path, r.Namespace)
		}
	}
}

func TestVaultTLSWithCAFile(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{TLS: true})
	s := env.sink(t, env.server.RootToken(), KVVersion2)
	if err := s.Check(context.Background(), target); err != nil {
		t.Fatalf("Check over TLS: %v", err)
	}

	named, err := NewVault(VaultOptions{Address: env.server.URL(), Mount: mount,
		TLS:  VaultTLS{CAFile: env.server.CAFile(), ServerName: "example.com"},
		Auth: VaultAuth{TokenFile: tokenFile(t, env.server.RootToken())}, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(named.Close)
	if err := named.Check(context.Background(), target); err != nil {
		t.Errorf("Check with server name: %v", err)
	}

	untrusted, err := NewVault(VaultOptions{Address: env.server.URL(), Mount: mount,
		Auth: VaultAuth{TokenFile: tokenFile(t, env.server.RootToken())}, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(untrusted.Close)
	if err := untrusted.Check(context.Background(), target); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check without the CA = %v, want ErrUnavailable", err)
	}
}

func TestVaultErrorsCarryNoSecrets(t *testing.T) {
	env := newVaultEnv(t, 2, vaulttest.Options{})
	sentinelToken := env.server.CreateToken(vaulttest.TokenSpec{Rules: []vaulttest.Rule{
		{Path: mount + "/data/*", Capabilities: []string{"read"}},
	}})
	s := env.sink(t, sentinelToken, KVVersionAuto)
	ctx := context.Background()

	var errs []error
	errs = append(errs, s.Check(ctx, target))
	_, err := s.Write(ctx, target, record(sentinelValue), Stored{})
	errs = append(errs, err)
	env.server.Seal()
	_, err = s.Write(ctx, target, record(sentinelValue), Stored{})
	errs = append(errs, err)
	env.server.Unseal()
	env.server.RevokeToken(sentinelToken)
	_, err = s.Read(ctx, target)
	errs = append(errs, err, s.AuthHealthy())

	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d is nil, want a failure", i)
			continue
		}
		for _, text := range []string{err.Error(), fmtAll(err)} {
			if strings.Contains(text, sentinelValue) || strings.Contains(text, sentinelToken) {
				t.Errorf("error %d contains a secret: %s", i, text)
			}
		}
	}
}
