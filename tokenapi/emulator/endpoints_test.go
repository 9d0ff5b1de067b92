package emulator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

func TestCreateReturnsTokenWithValue(t *testing.T) {
	env, clk := startWithClock(t)
	tok := createToken(t, env, createBody(env, "dns-reader",
		`"expires_on":"2026-06-01T00:00:00Z","not_before":"2026-03-01T00:00:00Z"`))

	if len(tok.ID) != 32 || strings.Trim(tok.ID, "0123456789abcdef") != "" {
		t.Errorf("id = %q, want 32 lowercase hex characters", tok.ID)
	}
	if tok.Value == nil {
		t.Fatal("value missing from the create reply")
	}
	if !emulator.ValidChecksum(*tok.Value) {
		t.Errorf("value %q does not carry a valid checksum", *tok.Value)
	}
	if n := len(*tok.Value); n < 40 || n > 80 {
		t.Errorf("value has %d characters, want 40 to 80", n)
	}
	if tok.Name != "dns-reader" {
		t.Errorf("name = %q, want dns-reader", tok.Name)
	}
	if tok.Status != "active" {
		t.Errorf("status = %q, want active", tok.Status)
	}
	want := clk.Now().Format(time.RFC3339)
	if tok.IssuedOn != want || tok.ModifiedOn != want {
		t.Errorf("issued_on %q modified_on %q, want both %q", tok.IssuedOn, tok.ModifiedOn, want)
	}
	if tok.LastUsedOn != nil {
		t.Errorf("last_used_on = %q, want null", *tok.LastUsedOn)
	}
	if tok.ExpiresOn == nil || *tok.ExpiresOn != "2026-06-01T00:00:00Z" {
		t.Errorf("expires_on = %v, want 2026-06-01T00:00:00Z", tok.ExpiresOn)
	}
	if tok.NotBefore == nil || *tok.NotBefore != "2026-03-01T00:00:00Z" {
		t.Errorf("not_before = %v, want 2026-03-01T00:00:00Z", tok.NotBefore)
	}
	if len(tok.Policies) != 1 || len(tok.Policies[0].PermissionGroups) != 1 {
		t.Fatalf("policies = %+v, want one policy with one group", tok.Policies)
	}
	if got := tok.Policies[0].PermissionGroups[0].Name; got != "DNS Read" {
		t.Errorf("permission group name = %q, want DNS Read", got)
	}
	if len(tok.Policies[0].ID) != 32 {
		t.Errorf("policy id = %q, want 32 hex characters", tok.Policies[0].ID)
	}

	state, ok := env.Emulator.Token(env.AccountID, tok.ID)
	if !ok {
		t.Fatal("created token not in the emulator state")
	}
	if state.Value != *tok.Value {
		t.Error("stored value differs from the returned value")
	}
}

func TestCreatedValueAuthenticatesVerify(t *testing.T) {
	env, clk := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))
	clk.Advance(time.Minute)

	rep := send(t, env, http.MethodGet, tokensPath(env, "/verify"), *tok.Value, "")
	wantOK(t, rep)
	var got struct {
		ID        string  `json:"id"`
		Status    string  `json:"status"`
		ExpiresOn *string `json:"expires_on"`
	}
	decode(t, rep, &got)
	if got.ID != tok.ID {
		t.Errorf("verify id = %q, want %q", got.ID, tok.ID)
	}
	if got.Status != "active" {
		t.Errorf("verify status = %q, want active", got.Status)
	}
	if got.ExpiresOn != nil {
		t.Errorf("verify expires_on = %q, want absent", *got.ExpiresOn)
	}
}

func TestDetailsOmitsValue(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))

	rep := send(t, env, http.MethodGet, tokensPath(env, "/"+tok.ID), env.Token, "")
	wantOK(t, rep)
	if strings.Contains(rep.Raw, `"value"`) || strings.Contains(rep.Raw, *tok.Value) {
		t.Errorf("details reply contains the value: %s", rep.Raw)
	}
	var got tokenResult
	decode(t, rep, &got)
	if got.ID != tok.ID || got.Name != "ci" {
		t.Errorf("details = %+v, want id %s name ci", got, tok.ID)
	}
}

func TestUnknownTokenIDIsNotFound(t *testing.T) {
	env, _ := startWithClock(t)
	paths := map[string]string{
		"details unknown":   tokensPath(env, "/0123456789abcdef0123456789abcdef"),
		"details malformed": tokensPath(env, "/not-an-id"),
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			rep := send(t, env, http.MethodGet, path, env.Token, "")
			wantError(t, rep, http.StatusNotFound, 7003, "")
			if len(rep.Errors) < 2 || rep.Errors[1].Code != 7000 {
				t.Errorf("errors = %+v, want 7003 then 7000", rep.Errors)
			}
		})
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		rep := send(t, env, method, tokensPath(env, "/0123456789abcdef0123456789abcdef"),
			env.Token, createBody(env, "x", ""))
		wantError(t, rep, http.StatusNotFound, 7003, "")
	}
	rep := send(t, env, http.MethodPut, tokensPath(env, "/0123456789abcdef0123456789abcdef/value"),
		env.Token, "{}")
	wantError(t, rep, http.StatusNotFound, 7003, "")
}

func TestUnknownRouteIsJSONNotFound(t *testing.T) {
	env, _ := startWithClock(t)
	rep := send(t, env, http.MethodPatch, tokensPath(env, ""), env.Token, "{}")
	wantError(t, rep, http.StatusNotFound, 7000, "")
}

func TestRollReplacesValue(t *testing.T) {
	env, clk := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", `"expires_on":"2027-01-01T00:00:00Z"`))
	before, _ := env.Emulator.Token(env.AccountID, tok.ID)
	clk.Advance(time.Hour)

	rep := send(t, env, http.MethodPut, tokensPath(env, "/"+tok.ID+"/value"), env.Token, "{}")
	wantOK(t, rep)
	var newValue string
	decode(t, rep, &newValue)
	if newValue == *tok.Value {
		t.Fatal("roll returned the old value")
	}
	if !emulator.ValidChecksum(newValue) {
		t.Errorf("rolled value %q has no valid checksum", newValue)
	}

	old := send(t, env, http.MethodGet, tokensPath(env, "/verify"), *tok.Value, "")
	wantError(t, old, http.StatusUnauthorized, 1000, "")
	fresh := send(t, env, http.MethodGet, tokensPath(env, "/verify"), newValue, "")
	wantOK(t, fresh)

	after, _ := env.Emulator.Token(env.AccountID, tok.ID)
	if !after.ModifiedOn.Equal(clk.Now()) {
		t.Errorf("modified_on = %v, want %v", after.ModifiedOn, clk.Now())
	}
	if !after.ExpiresOn.Equal(before.ExpiresOn) {
		t.Errorf("expires_on changed from %v to %v", before.ExpiresOn, after.ExpiresOn)
	}
	if after.Policies[0].ID != before.Policies[0].ID {
		t.Error("roll changed the policy id")
	}
	if after.Value != newValue {
		t.Error("stored value is not the rolled value")
	}
}

func TestRollWithFrozenClockChangesModifiedOn(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))

	wantOK(t, send(t, env, http.MethodPut, tokensPath(env, "/"+tok.ID+"/value"), env.Token, ""))

	rep := send(t, env, http.MethodGet, tokensPath(env, "/"+tok.ID), env.Token, "")
	var got tokenResult
	decode(t, rep, &got)
	if got.ModifiedOn == tok.ModifiedOn {
		t.Errorf("modified_on stayed %q after a roll", got.ModifiedOn)
	}
}

func TestRollRejectsMalformedBody(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))
	rep := send(t, env, http.MethodPut, tokensPath(env, "/"+tok.ID+"/value"), env.Token, "[")
	wantError(t, rep, http.StatusBadRequest, 6007, "")
}

func TestDeleteStopsToken(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))

	rep := send(t, env, http.MethodDelete, tokensPath(env, "/"+tok.ID), env.Token, "")
	wantOK(t, rep)
	var got struct {
		ID string `json:"id"`
	}
	decode(t, rep, &got)
	if got.ID != tok.ID {
		t.Errorf("delete result id = %q, want %q", got.ID, tok.ID)
	}

	wantError(t, send(t, env, http.MethodGet, tokensPath(env, "/verify"), *tok.Value, ""),
		http.StatusUnauthorized, 1000, "")
	wantError(t, send(t, env, http.MethodGet, tokensPath(env, "/"+tok.ID), env.Token, ""),
		http.StatusNotFound, 7003, "")
	wantError(t, send(t, env, http.MethodDelete, tokensPath(env, "/"+tok.ID), env.Token, ""),
		http.StatusNotFound, 7003, "")
	if _, ok := env.Emulator.Token(env.AccountID, tok.ID); ok {
		t.Error("deleted token still in the emulator state")
	}
}

func TestUpdateReplacesDefinition(t *testing.T) {
	env, clk := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci",
		`"expires_on":"2027-01-01T00:00:00Z","condition":{"request_ip":{"in":["127.0.0.0/8"]}}`))
	clk.Advance(time.Minute)

	body := `{"name":"ci-renamed","status":"disabled","policies":[{"effect":"allow",` +
		`"permission_groups":[{"id":"4755a26eedb94da69e1066d98aa820be"}],` +
		`"resources":{"com.cloudflare.api.account.` + env.AccountID + `":"*"}}]}`
	rep := send(t, env, http.MethodPut, tokensPath(env, "/"+tok.ID), env.Token, body)
	wantOK(t, rep)
	var got tokenResult
	decode(t, rep, &got)

	if got.Name != "ci-renamed" {
		t.Errorf("name = %q, want ci-renamed", got.Name)
	}
	if got.Status != "disabled" {
		t.Errorf("status = %q, want disabled", got.Status)
	}
	if got.ExpiresOn != nil {
		t.Errorf("expires_on = %q, want cleared", *got.ExpiresOn)
	}
	if got.Condition != nil {
		t.Errorf("condition = %+v, want cleared", got.Condition)
	}
	if got.Policies[0].PermissionGroups[0].Name != "DNS Write" {
		t.Errorf("policies = %+v, want DNS Write", got.Policies)
	}
	if got.ModifiedOn != clk.Now().Format(time.RFC3339) {
		t.Errorf("modified_on = %q, want %s", got.ModifiedOn, clk.Now().Format(time.RFC3339))
	}
	if got.Value != nil {
		t.Error("update reply contains the value")
	}

	wantError(t, send(t, env, http.MethodGet, tokensPath(env, "/"+tok.ID), *tok.Value, ""),
		http.StatusUnauthorized, 1000, "")
}

func TestUpdateKeepsStatusWhenOmitted(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))
	wantOK(t, send(t, env, http.MethodPut, tokensPath(env, "/"+tok.ID), env.Token,
		strings.Replace(createBody(env, "ci", ""), `"name"`, `"status":"disabled","name"`, 1)))

	rep := send(t, env, http.MethodPut, tokensPath(env, "/"+tok.ID), env.Token,
		createBody(env, "ci", ""))
	wantOK(t, rep)
	var got tokenResult
	decode(t, rep, &got)
	if got.Status != "disabled" {
		t.Errorf("status = %q, want disabled kept", got.Status)
	}
}

func TestPoliciesSortedByID(t *testing.T) {
	env, _ := startWithClock(t)
	resources := `"resources":{"com.cloudflare.api.account.` + env.AccountID + `":"*"}`
	body := `{"name":"multi","policies":[` +
		`{"effect":"allow","permission_groups":[{"id":"e6d2666161e84845a636613608cee8d5"},` +
		`{"id":"82e64a83756745bbbb1c9c2701bf816b"},{"id":"4755a26eedb94da69e1066d98aa820be"}],` +
		resources + `},` +
		`{"effect":"deny","permission_groups":[{"id":"c8fed203ed3043cba015a93ad1616f1f"}],` +
		resources + `},` +
		`{"effect":"allow","permission_groups":[{"id":"e17beae8b8cb423a99b1730f21238bed"}],` +
		resources + `}]}`
	tok := createToken(t, env, body)

	if len(tok.Policies) != 3 {
		t.Fatalf("got %d policies, want 3", len(tok.Policies))
	}
	for i := 1; i < len(tok.Policies); i++ {
		if tok.Policies[i-1].ID >= tok.Policies[i].ID {
			t.Errorf("policies not sorted by id: %s before %s",
				tok.Policies[i-1].ID, tok.Policies[i].ID)
		}
	}
	for _, p := range tok.Policies {
		groups := p.PermissionGroups
		for i := 1; i < len(groups); i++ {
			if groups[i-1].ID >= groups[i].ID {
				t.Errorf("permission groups not sorted by id: %s before %s",
					groups[i-1].ID, groups[i].ID)
			}
		}
	}
	if got := tok.Policies; len(got[0].PermissionGroups) == 3 {
		first := got[0].PermissionGroups[0].ID
		if first != "4755a26eedb94da69e1066d98aa820be" {
			t.Errorf("first group = %s, want the lowest id", first)
		}
	}
}

func TestPermissionGroupsListsCatalogue(t *testing.T) {
	env, _ := startWithClock(t)
	rep := send(t, env, http.MethodGet, tokensPath(env, "/permission_groups"), env.Token, "")
	wantOK(t, rep)
	var groups []struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	decode(t, rep, &groups)
	found := map[string]string{}
	for _, g := range groups {
		found[g.ID] = g.Name
	}
	if found[emulator.PermissionTokensWrite] != "Account API Tokens Write" {
		t.Errorf("catalogue lacks Account API Tokens Write: %v", found)
	}
	if found[emulator.PermissionTokensRead] != "Account API Tokens Read" {
		t.Errorf("catalogue lacks Account API Tokens Read: %v", found)
	}

	filtered := send(t, env, http.MethodGet,
		tokensPath(env, "/permission_groups?name=DNS+Write"), env.Token, "")
	decode(t, filtered, &groups)
	if len(groups) != 1 || groups[0].ID != "4755a26eedb94da69e1066d98aa820be" {
		t.Errorf("name filter returned %+v, want only DNS Write", groups)
	}
}
