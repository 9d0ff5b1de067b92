package tokenapi_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator/emulatortest"
)

const settingsReadGroup = "c1fde68c7bcc44588cbb6ddbc16d6480"

// emulatorEnv starts the emulator on the fake clock and returns a client
// with the management token.
func emulatorEnv(t *testing.T, opts emulator.Options,
	modify ...func(*tokenapi.Options)) (*emulatortest.Env, *tokenapi.Client, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	opts.Now = clock.Now
	env := emulatortest.Start(t, opts)
	client := newClient(t, env.BaseURL, clock, append([]func(*tokenapi.Options){
		func(o *tokenapi.Options) {
			o.AccountID = env.AccountID
			o.ManagementToken = tokenapi.NewSecret(env.Token)
		},
	}, modify...)...)
	return env, client, clock
}

func settingsDefinition(accountID, name string) tokenapi.Definition {
	return tokenapi.Definition{
		Name: name,
		Policies: []tokenapi.Policy{{
			Effect:           tokenapi.EffectAllow,
			PermissionGroups: []tokenapi.PermissionGroup{{ID: settingsReadGroup}},
			Resources: tokenapi.Resources{
				"com.cloudflare.api.account." + accountID: tokenapi.Wildcard(),
			},
		}},
		Condition: tokenapi.Condition{RequestIP: &tokenapi.RequestIPCondition{
			In: []string{"127.0.0.0/8", "::1/128"},
		}},
	}
}

// requestsTo counts the emulator's log entries for endpoint.
func requestsTo(env *emulatortest.Env, endpoint string) int {
	n := 0
	for _, r := range env.Emulator.Requests() {
		if r.Endpoint == endpoint {
			n++
		}
	}
	return n
}

func TestEmulatorTokenLifecycle(t *testing.T) {
	env, client, clock := emulatorEnv(t, emulator.Options{})
	ctx := context.Background()

	verified, err := client.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if verified.ID != env.TokenID || verified.Status != tokenapi.StatusActive {
		t.Errorf("Verify = %+v, want id %s active", verified, env.TokenID)
	}

	groups, err := client.PermissionGroups(ctx)
	if err != nil {
		t.Fatalf("PermissionGroups: %v", err)
	}
	if !slices.ContainsFunc(groups, func(g tokenapi.PermissionGroup) bool {
		return g.ID == emulator.PermissionTokensWrite && g.Name == "Account API Tokens Write" &&
			len(g.Scopes) > 0
	}) {
		t.Errorf("PermissionGroups lacks Account API Tokens Write: %+v", groups)
	}

	def := settingsDefinition(env.AccountID, "settings-reader")
	def.ExpiresOn = clock.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	created, err := client.Create(ctx, def)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.Value.IsZero() || created.Name != def.Name {
		t.Fatalf("Create returned name %q and empty value %v", created.Name, created.Value.IsZero())
	}
	state, _ := env.Emulator.Token(env.AccountID, created.ID)
	if created.Value.Reveal() != state.Value {
		t.Error("the created value differs from the emulator's")
	}

	checked, err := client.VerifyValue(ctx, created.Value)
	if err != nil {
		t.Fatalf("VerifyValue: %v", err)
	}
	if checked.ID != created.ID || checked.Status != tokenapi.StatusActive {
		t.Errorf("VerifyValue = %+v, want id %s active", checked, created.ID)
	}

	fetched, err := client.Get(ctx, created.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !fetched.Value.IsZero() {
		t.Error("Get returned a value")
	}
	if !tokenapi.PoliciesEqual(fetched.Policies, def.Policies) {
		t.Errorf("policies = %+v, want %+v", fetched.Policies, def.Policies)
	}
	if !tokenapi.ConditionsEqual(fetched.Condition, def.Condition) {
		t.Errorf("condition = %+v, want %+v", fetched.Condition, def.Condition)
	}
	if got, ok := fetched.ExpiresOn.Time(); !ok || !got.Equal(def.ExpiresOn) {
		t.Errorf("expires_on = %v, want %s", fetched.ExpiresOn, def.ExpiresOn)
	}
	if !fetched.LastUsedOn.IsZero() && fetched.LastUsedOn.Err() != nil {
		t.Errorf("last_used_on invalid: %v", fetched.LastUsedOn.Err())
	}
	if err := fetched.TimestampError(); err != nil {
		t.Errorf("TimestampError() = %v", err)
	}

	found := false
	for token, err := range client.List(ctx, tokenapi.ListOptions{}) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		found = found || token.ID == created.ID
	}
	if !found {
		t.Error("List did not return the created token")
	}

	_ = clock.Sleep(ctx, time.Minute)
	update, err := tokenapi.DefinitionFromToken(fetched)
	if err != nil {
		t.Fatalf("DefinitionFromToken: %v", err)
	}
	update.Name = "settings-reader-renamed"
	updated, err := client.Update(ctx, created.ID, update)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if updated.Name != update.Name {
		t.Errorf("updated name = %q, want %q", updated.Name, update.Name)
	}
	if !tokenapi.PoliciesEqual(updated.Policies, def.Policies) {
		t.Errorf("Update changed the policies: %+v", updated.Policies)
	}
	if got, ok := updated.ExpiresOn.Time(); !ok || !got.Equal(def.ExpiresOn) {
		t.Errorf("Update lost expires_on: %v", updated.ExpiresOn)
	}

	_ = clock.Sleep(ctx, time.Minute)
	rolled, err := client.Roll(ctx, created.ID)
	if err != nil {
		t.Fatalf("Roll: %v", err)
	}
	if rolled.Equal(created.Value) {
		t.Error("Roll returned the old value")
	}
	if _, err := client.VerifyValue(ctx, created.Value); !tokenapi.IsUnauthorized(err) {
		t.Errorf("VerifyValue(old value) = %v, want unauthorized", err)
	}
	if _, err := client.VerifyValue(ctx, rolled); err != nil {
		t.Errorf("VerifyValue(new value): %v", err)
	}
	afterRoll, err := client.Get(ctx, created.ID)
	if err != nil {
		t.Fatalf("Get after roll: %v", err)
	}
	before, _ := updated.ModifiedOn.Time()
	after, _ := afterRoll.ModifiedOn.Time()
	if !after.After(before) {
		t.Errorf("modified_on %s did not move past %s", after, before)
	}

	update.Status = tokenapi.StatusDisabled
	if _, err := client.Update(ctx, created.ID, update); err != nil {
		t.Fatalf("Update to disabled: %v", err)
	}
	disabled, err := client.VerifyValue(ctx, rolled)
	if err != nil && !tokenapi.IsUnauthorized(err) {
		t.Fatalf("VerifyValue(disabled): %v", err)
	}
	if err == nil && disabled.Status.Usable() {
		t.Errorf("disabled token verifies as %q", disabled.Status)
	}

	if err := client.Delete(ctx, created.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := client.Get(ctx, created.ID); !tokenapi.IsNotFound(err) {
		t.Errorf("Get after delete = %v, want not found", err)
	}
	if err := client.Delete(ctx, created.ID); !tokenapi.IsNotFound(err) {
		t.Errorf("second Delete = %v, want not found", err)
	}
}

func TestEmulatorPagination(t *testing.T) {
	env, client, clock := emulatorEnv(t, emulator.Options{})
	start := clock.Now().Add(-time.Hour)
	var ids []string
	for i := 1; i <= 56; i++ {
		issued, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
			Name: fmt.Sprintf("token-%d", i),
			Policies: []emulator.Policy{{Effect: "allow",
				PermissionGroups: []emulator.PermissionGroupRef{{ID: settingsReadGroup}}}},
			IssuedOn: start.Add(time.Duration(i) * time.Second),
		})
		if err != nil {
			t.Fatalf("AddToken: %v", err)
		}
		ids = append(ids, issued.ID)
	}

	var names []string
	for token, err := range client.List(context.Background(),
		tokenapi.ListOptions{PerPage: 100, IncludeExpired: true}) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		names = append(names, token.Name)
	}

	// 56 seeded tokens plus the management token.
	if len(names) != 57 {
		t.Errorf("List returned %d tokens, want 57", len(names))
	}
	if !slices.Contains(names, "token-53") {
		t.Error("List missed token-53")
	}
	for _, r := range env.Emulator.Requests() {
		if r.Endpoint != "list" {
			continue
		}
		if !strings.Contains(r.Query, "per_page=50") ||
			!strings.Contains(r.Query, "include_expired=true") {
			t.Errorf("list query %q, want per_page=50 and include_expired=true", r.Query)
		}
		if r.Status != 200 {
			t.Errorf("list request got status %d", r.Status)
		}
	}
}

func TestEmulatorFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault func(env *emulatortest.Env, tokenID string) emulator.Fault
		op    func(ctx context.Context, c *tokenapi.Client, tokenID string) error
		// endpoint is the emulator endpoint whose requests are counted.
		endpoint     string
		wantRequests int
		wantUnknown  bool
		wantNotFound bool
		wantStatus   int
		// check inspects the emulator after the call.
		check func(t *testing.T, env *emulatortest.Env, tokenID, oldValue string)
	}{
		{
			name: "roll reply dropped after commit",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "roll", DropAfterCommit: true, Times: 1}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Roll(ctx, id)
				return err
			},
			endpoint: "roll", wantRequests: 1, wantUnknown: true,
			check: func(t *testing.T, env *emulatortest.Env, id, oldValue string) {
				state, _ := env.Emulator.Token(env.AccountID, id)
				if state.Value == oldValue {
					t.Error("the roll did not happen in the emulator")
				}
			},
		},
		{
			name: "roll 502 HTML",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "roll", Status: 502, ContentType: "text/html",
					Body: htmlBadGateway}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Roll(ctx, id)
				return err
			},
			endpoint: "roll", wantRequests: 1, wantUnknown: true, wantStatus: 502,
		},
		{
			name: "roll 502 after commit",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "roll", Status: 502, AfterCommit: true}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Roll(ctx, id)
				return err
			},
			endpoint: "roll", wantRequests: 1, wantUnknown: true, wantStatus: 502,
		},
		{
			name: "create reply dropped after commit",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "create", DropAfterCommit: true}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Create(ctx, settingsDefinition(c.AccountID(), "lost-create"))
				return err
			},
			endpoint: "create", wantRequests: 1, wantUnknown: true,
			check: func(t *testing.T, env *emulatortest.Env, id, oldValue string) {
				found := slices.ContainsFunc(env.Emulator.Tokens(env.AccountID),
					func(s emulator.TokenState) bool { return s.Name == "lost-create" })
				if !found {
					t.Error("the create did not happen in the emulator")
				}
			},
		},
		{
			name: "create rejected with 400",
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				def := settingsDefinition(c.AccountID(), "bad-group")
				def.Policies[0].PermissionGroups[0].ID = "00000000000000000000000000000000"
				_, err := c.Create(ctx, def)
				return err
			},
			endpoint: "create", wantRequests: 1, wantStatus: 400,
		},
		{
			name: "details 502 twice then success",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "details", Status: 502, Times: 2}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Get(ctx, id)
				return err
			},
			endpoint: "details", wantRequests: 3,
		},
		{
			name: "details 200 success false",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "details", SuccessFalse: true,
					Errors: []emulator.ErrorInfo{{Code: 1000, Message: "Invalid API Token"}}}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Get(ctx, id)
				return err
			},
			endpoint: "details", wantRequests: 1, wantStatus: 200,
		},
		{
			name: "details unknown id",
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Get(ctx, "0000000000000000000000000000dead")
				return err
			},
			endpoint: "details", wantRequests: 1, wantStatus: 404, wantNotFound: true,
		},
		{
			name: "delete 503 after commit then 404",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "delete", Status: 503, AfterCommit: true, Times: 1}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				return c.Delete(ctx, id)
			},
			endpoint: "delete", wantRequests: 2, wantStatus: 404, wantNotFound: true,
		},
		{
			name: "update dropped once",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "update", DropAfterCommit: true, Times: 1}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Update(ctx, id, settingsDefinition(c.AccountID(), "renamed"))
				return err
			},
			endpoint: "update", wantRequests: 2,
		},
		{
			name: "list 429 once with Retry-After",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "list", Status: 429, RetryAfter: "60", Times: 1,
					Errors: []emulator.ErrorInfo{{Code: 971, Message: "slow down"}}}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.ListPage(ctx, tokenapi.ListOptions{}, 1)
				return err
			},
			endpoint: "list", wantRequests: 2,
		},
		{
			name: "permission groups 500 always",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "permission_groups", Status: 500}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.PermissionGroups(ctx)
				return err
			},
			endpoint: "permission_groups", wantRequests: 4, wantStatus: 500,
		},
		{
			name: "verify 401",
			fault: func(env *emulatortest.Env, id string) emulator.Fault {
				return emulator.Fault{Endpoint: "verify", Status: 401}
			},
			op: func(ctx context.Context, c *tokenapi.Client, id string) error {
				_, err := c.Verify(ctx)
				return err
			},
			endpoint: "verify", wantRequests: 1, wantStatus: 401,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, client, _ := emulatorEnv(t, emulator.Options{})
			issued, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
				Name: "target",
				Policies: []emulator.Policy{{Effect: "allow",
					PermissionGroups: []emulator.PermissionGroupRef{{ID: settingsReadGroup}}}},
			})
			if err != nil {
				t.Fatalf("AddToken: %v", err)
			}
			if tt.fault != nil {
				env.Emulator.InjectFault(tt.fault(env, issued.ID))
			}

			err = tt.op(context.Background(), client, issued.ID)
			wantErr := tt.wantStatus != 0 || tt.wantUnknown
			if (err != nil) != wantErr {
				t.Fatalf("error = %v, want error: %v", err, wantErr)
			}
			if got := requestsTo(env, tt.endpoint); got != tt.wantRequests {
				t.Errorf("emulator got %d %s requests, want %d", got, tt.endpoint, tt.wantRequests)
			}
			if got := errors.Is(err, tokenapi.ErrOutcomeUnknown); got != tt.wantUnknown {
				t.Errorf("errors.Is(err, ErrOutcomeUnknown) = %v, want %v", got, tt.wantUnknown)
			}
			if got := tokenapi.IsNotFound(err); got != tt.wantNotFound {
				t.Errorf("IsNotFound = %v, want %v", got, tt.wantNotFound)
			}
			if tt.wantStatus != 0 {
				var apiErr *tokenapi.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("errors.As(*APIError) failed for %v", err)
				}
				if apiErr.StatusCode != tt.wantStatus {
					t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tt.wantStatus)
				}
			}
			if err != nil {
				for _, secret := range []string{env.Token, issued.Value} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error contains a secret: %v", err)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, env, issued.ID, issued.Value)
			}
		})
	}
}

func TestEmulatorRateLimitIsWaitedOut(t *testing.T) {
	env, client, clock := emulatorEnv(t, emulator.Options{RateLimit: 3, RateWindow: time.Minute},
		func(o *tokenapi.Options) { o.Retry.MaxRetryAfter = 5 * time.Minute })
	for i := range 5 {
		if _, err := client.Verify(context.Background()); err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
	}
	if got := requestsTo(env, "verify"); got != 6 {
		t.Errorf("emulator got %d verify requests, want 6 (one 429)", got)
	}
	sleeps := clock.Sleeps()
	if len(sleeps) != 1 || sleeps[0] != time.Minute {
		t.Errorf("sleeps = %v, want one wait of the 60s window", sleeps)
	}
}

func TestEmulatorAuthErrors(t *testing.T) {
	env, _, clock := emulatorEnv(t, emulator.Options{})
	ctx := context.Background()

	wrong := newClient(t, env.BaseURL, clock, func(o *tokenapi.Options) {
		o.AccountID = env.AccountID
		o.ManagementToken = tokenapi.NewSecret(mgmtSentinel)
	})
	_, err := wrong.Get(ctx, env.TokenID)
	if !tokenapi.IsUnauthorized(err) || tokenapi.IsNotFound(err) {
		t.Errorf("Get with an unknown token = %v, want unauthorized", err)
	}
	if err != nil && strings.Contains(err.Error(), mgmtSentinel) {
		t.Errorf("error contains the management token: %v", err)
	}

	reader, err := env.Emulator.AddManagementToken(env.AccountID, "reader", false)
	if err != nil {
		t.Fatalf("AddManagementToken: %v", err)
	}
	readOnly := newClient(t, env.BaseURL, clock, func(o *tokenapi.Options) {
		o.AccountID = env.AccountID
		o.ManagementToken = tokenapi.NewSecret(reader.Value)
	})
	if _, err := readOnly.Get(ctx, env.TokenID); err != nil {
		t.Errorf("Get with a read token: %v", err)
	}
	_, err = readOnly.Create(ctx, settingsDefinition(env.AccountID, "not allowed"))
	if !tokenapi.IsForbidden(err) {
		t.Errorf("Create with a read token = %v, want forbidden", err)
	}
	if errors.Is(err, tokenapi.ErrOutcomeUnknown) {
		t.Errorf("a 403 create is reported unknown: %v", err)
	}
}

func TestEmulatorRollTimeoutIsUnknown(t *testing.T) {
	env := emulatortest.Start(t, emulator.Options{})
	client, err := tokenapi.NewClient(tokenapi.Options{
		BaseURL:         env.BaseURL,
		AccountID:       env.AccountID,
		ManagementToken: tokenapi.NewSecret(env.Token),
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	env.Emulator.InjectFault(emulator.Fault{Endpoint: "roll", Latency: time.Minute})

	// The context ends long before the injected latency, so the request is
	// sent and its reply never read.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = client.Roll(ctx, env.TokenID)
	if !errors.Is(err, tokenapi.ErrOutcomeUnknown) {
		t.Errorf("Roll past its deadline = %v, want outcome unknown", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Roll past its deadline = %v, want it to match DeadlineExceeded", err)
	}
}
