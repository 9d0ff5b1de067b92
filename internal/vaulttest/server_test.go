package vaulttest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func statusOf(t *testing.T, err error) int {
	t.Helper()
	var respErr *api.ResponseError
	if !errors.As(err, &respErr) {
		t.Fatalf("error %v is not an *api.ResponseError", err)
	}
	return respErr.StatusCode
}

func TestKVv2RoundTripWithSlashedMount(t *testing.T) {
	s := Start(t, Options{})
	s.MountKV("teams/test/secret", 2)
	client := s.Client(t, s.RootToken())
	ctx := context.Background()

	kv := client.KVv2("teams/test/secret")
	written, err := kv.Put(ctx, "cf/dns-token", map[string]any{"value": "v1"})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if written.VersionMetadata.Version != 1 {
		t.Errorf("version = %d, want 1", written.VersionMetadata.Version)
	}

	got, err := kv.Get(ctx, "cf/dns-token")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Data["value"] != "v1" {
		t.Errorf("value = %v, want v1", got.Data["value"])
	}

	raw, err := client.Logical().Read("teams/test/secret/data/cf/dns-token")
	if err != nil || raw == nil {
		t.Fatalf("raw read: %v, %v", raw, err)
	}
	if _, ok := raw.Data["metadata"]; !ok {
		t.Errorf("raw read data has no metadata: %v", raw.Data)
	}
}

func TestKVv2CheckAndSet(t *testing.T) {
	s := Start(t, Options{})
	s.MountKV("secret", 2)
	client := s.Client(t, s.RootToken())
	ctx := context.Background()
	kv := client.KVv2("secret")

	if _, err := kv.Put(ctx, "a", map[string]any{"value": "1"}, api.WithCheckAndSet(0)); err != nil {
		t.Fatalf("first put with cas=0: %v", err)
	}
	_, err := kv.Put(ctx, "a", map[string]any{"value": "2"}, api.WithCheckAndSet(0))
	if err == nil {
		t.Fatal("second put with cas=0 succeeded, want conflict")
	}
	if got := statusOf(t, err); got != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", got)
	}
	if _, err := kv.Put(ctx, "a", map[string]any{"value": "2"}, api.WithCheckAndSet(1)); err != nil {
		t.Errorf("put with cas=1: %v", err)
	}

	_, err = client.Logical().Write("secret/config", map[string]any{"cas_required": true})
	if err != nil {
		t.Fatalf("write config: %v", err)
	}
	if _, err := kv.Put(ctx, "a", map[string]any{"value": "3"}); err == nil {
		t.Error("put without cas succeeded with cas_required set")
	}
}

func TestKVv1RoundTripAndList(t *testing.T) {
	s := Start(t, Options{})
	s.MountKV("kv1", 1)
	client := s.Client(t, s.RootToken())

	if _, err := client.Logical().Write("kv1/app/db", map[string]any{"value": "x"}); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := client.Logical().Read("kv1/app/db")
	if err != nil || got == nil {
		t.Fatalf("read: %v, %v", got, err)
	}
	if got.Data["value"] != "x" {
		t.Errorf("value = %v, want x", got.Data["value"])
	}
	list, err := client.Logical().List("kv1/app")
	if err != nil || list == nil {
		t.Fatalf("list: %v, %v", list, err)
	}
	keys, _ := list.Data["keys"].([]any)
	if len(keys) != 1 || keys[0] != "db" {
		t.Errorf("keys = %v, want [db]", keys)
	}
	missing, err := client.Logical().Read("kv1/app/none")
	if err != nil || missing != nil {
		t.Errorf("read of missing key = %v, %v; want nil, nil", missing, err)
	}
}

func TestPolicyRules(t *testing.T) {
	s := Start(t, Options{})
	s.MountKV("secret", 2)
	id := s.CreateToken(TokenSpec{Rules: []Rule{
		{Path: "secret/data/app/*", Capabilities: []string{CapRead, CapCreate, CapUpdate}},
		{Path: "secret/data/app/locked", Capabilities: []string{CapDeny}},
		{Path: "secret/metadata/+/x", Capabilities: []string{CapRead}},
	}})
	client := s.Client(t, id)

	tests := []struct {
		name string
		path string
		want int
	}{
		{"glob allows", "secret/data/app/db", 0},
		{"exact deny wins", "secret/data/app/locked", http.StatusForbidden},
		{"outside glob", "secret/data/other", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Logical().Write(tt.path, map[string]any{"data": map[string]any{"k": "v"}})
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("write: %v", err)
				}
				return
			}
			if got := statusOf(t, err); got != tt.want {
				t.Errorf("status = %d, want %d", got, tt.want)
			}
		})
	}

	caps, err := client.Sys().CapabilitiesSelf("secret/metadata/app/x")
	if err != nil {
		t.Fatalf("capabilities-self: %v", err)
	}
	if !slices.Equal(caps, []string{"read"}) {
		t.Errorf("capabilities = %v, want [read]", caps)
	}
	caps, err = client.Sys().CapabilitiesSelf("secret/data/app/locked")
	if err != nil {
		t.Fatalf("capabilities-self: %v", err)
	}
	if !slices.Equal(caps, []string{"deny"}) {
		t.Errorf("capabilities = %v, want [deny]", caps)
	}
}

func TestMountDescription(t *testing.T) {
	s := Start(t, Options{})
	s.MountKV("teams/test/secret", 2)
	allowed := s.CreateToken(TokenSpec{Rules: []Rule{
		{Path: "teams/test/secret/data/*", Capabilities: []string{CapRead}},
	}})
	stranger := s.CreateToken(TokenSpec{Rules: []Rule{
		{Path: "other/*", Capabilities: []string{CapRead}},
	}})

	got, err := s.Client(t, allowed).Logical().Read("sys/internal/ui/mounts/teams/test/secret/cf/x")
	if err != nil || got == nil {
		t.Fatalf("read: %v, %v", got, err)
	}
	if got.Data["path"] != "teams/test/secret/" {
		t.Errorf("path = %v, want teams/test/secret/", got.Data["path"])
	}
	options, _ := got.Data["options"].(map[string]any)
	if options["version"] != "2" {
		t.Errorf("options = %v, want version 2", options)
	}

	_, err = s.Client(t, stranger).Logical().Read("sys/internal/ui/mounts/teams/test/secret")
	if got := statusOf(t, err); got != http.StatusForbidden {
		t.Errorf("status for a token without access = %d, want 403", got)
	}
}

func TestTokenExpiryAndRenewal(t *testing.T) {
	clock := NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := Start(t, Options{Now: clock.Now})
	id := s.CreateToken(TokenSpec{TTL: time.Hour, Renewable: true})
	client := s.Client(t, id)

	self, err := client.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	if ttl, _ := self.TokenTTL(); ttl != time.Hour {
		t.Errorf("ttl = %v, want 1h", ttl)
	}

	clock.Advance(50 * time.Minute)
	renewed, err := client.Auth().Token().RenewSelf(0)
	if err != nil {
		t.Fatalf("renew-self: %v", err)
	}
	if renewed.Auth.LeaseDuration != 3600 {
		t.Errorf("lease duration = %d, want 3600", renewed.Auth.LeaseDuration)
	}

	clock.Advance(59 * time.Minute)
	if _, err := client.Auth().Token().LookupSelf(); err != nil {
		t.Errorf("lookup-self after renewal: %v", err)
	}
	clock.Advance(time.Minute)
	_, err = client.Auth().Token().LookupSelf()
	if got := statusOf(t, err); got != http.StatusForbidden {
		t.Errorf("status after expiry = %d, want 403", got)
	}
}

func TestLogins(t *testing.T) {
	s := Start(t, Options{})
	s.AddAppRole("approle", AppRole{Name: "rotator", RoleID: "role-1", SecretID: "secret-1",
		Token: TokenSpec{TTL: time.Hour, Renewable: true}})
	s.AddKubernetesRole("k8s/prod", KubernetesRole{Name: "rotator", JWT: "jwt-1",
		Token: TokenSpec{TTL: time.Minute}})
	client := s.Client(t, "")

	tests := []struct {
		name       string
		path       string
		data       map[string]any
		wantStatus int
		wantTTL    int
	}{
		{"approle", "auth/approle/login", map[string]any{"role_id": "role-1", "secret_id": "secret-1"}, 0, 3600},
		{"approle bad secret", "auth/approle/login", map[string]any{"role_id": "role-1", "secret_id": "x"}, 400, 0},
		{"kubernetes", "auth/k8s/prod/login", map[string]any{"role": "rotator", "jwt": "jwt-1"}, 0, 60},
		{"kubernetes bad jwt", "auth/k8s/prod/login", map[string]any{"role": "rotator", "jwt": "x"}, 403, 0},
		{"unknown mount", "auth/none/login", map[string]any{"role": "rotator"}, 404, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, err := client.Logical().Write(tt.path, tt.data)
			if tt.wantStatus != 0 {
				if got := statusOf(t, err); got != tt.wantStatus {
					t.Errorf("status = %d, want %d", got, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if secret.Auth.LeaseDuration != tt.wantTTL {
				t.Errorf("lease duration = %d, want %d", secret.Auth.LeaseDuration, tt.wantTTL)
			}
			if _, err := s.Client(t, secret.Auth.ClientToken).Auth().Token().LookupSelf(); err != nil {
				t.Errorf("lookup-self with the issued token: %v", err)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	s := Start(t, Options{})
	s.MountKV("secret", 2)
	client := s.Client(t, s.RootToken())
	ctx := context.Background()
	kv := client.KVv2("secret")

	s.Seal()
	_, err := kv.Put(ctx, "a", map[string]any{"v": "1"})
	if got := statusOf(t, err); got != http.StatusServiceUnavailable {
		t.Errorf("sealed status = %d, want 503", got)
	}
	health, err := client.Sys().Health()
	if err != nil {
		t.Fatalf("health while sealed: %v", err)
	}
	if !health.Sealed {
		t.Error("health reports unsealed while sealed")
	}
	s.Unseal()

	s.FailWrites(2, http.StatusInternalServerError)
	for i := range 2 {
		_, err := kv.Put(ctx, "a", map[string]any{"v": "1"})
		if got := statusOf(t, err); got != http.StatusInternalServerError {
			t.Errorf("write %d status = %d, want 500", i, got)
		}
	}
	if _, err := kv.Put(ctx, "a", map[string]any{"v": "1"}); err != nil {
		t.Errorf("third write: %v", err)
	}

	s.FailPath("secret/data/pre", http.StatusPreconditionFailed)
	_, err = kv.Get(ctx, "pre")
	if got := statusOf(t, err); got != http.StatusPreconditionFailed {
		t.Errorf("forced status = %d, want 412", got)
	}

	s.DenyPath("secret/data/a")
	_, err = kv.Get(ctx, "a")
	if got := statusOf(t, err); got != http.StatusForbidden {
		t.Errorf("denied status = %d, want 403", got)
	}

	s.ClearFaults()
	s.SetLatency(time.Hour)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := kv.Get(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error with latency = %v, want deadline exceeded", err)
	}
}

func TestNamespaceAndRequestLog(t *testing.T) {
	s := Start(t, Options{})
	s.MountKV("ns1/secret", 2)
	client := s.Client(t, s.RootToken())
	client.SetNamespace("ns1")

	if _, err := client.KVv2("secret").Put(context.Background(), "a", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("put in namespace: %v", err)
	}
	log := s.Requests()
	last := log[len(log)-1]
	if last.Namespace != "ns1" || last.Path != "secret/data/a" || last.Operation != "create" {
		t.Errorf("last request = %+v, want namespace ns1, path secret/data/a, create", last)
	}
}

func TestTLSWithCAFile(t *testing.T) {
	s := Start(t, Options{TLS: true})
	if s.CAFile() == "" {
		t.Fatal("CAFile is empty with TLS")
	}
	if _, err := s.Client(t, s.RootToken()).Sys().Health(); err != nil {
		t.Errorf("health over TLS: %v", err)
	}
}
