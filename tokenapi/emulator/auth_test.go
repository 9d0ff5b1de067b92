package emulator_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator/emulatortest"
)

func TestAuthorizationHeaderErrors(t *testing.T) {
	env, _ := startWithClock(t)
	cases := map[string]string{
		"missing":      "",
		"basic scheme": "Basic dXNlcjpwYXNz",
		"no value":     "Bearer ",
		"two words":    "Bearer abc def",
		"scheme only":  "Bearer",
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, env.BaseURL+tokensPath(env, ""), nil)
			if err != nil {
				t.Fatal(err)
			}
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", resp.StatusCode)
			}
		})
	}

	rep := send(t, env, http.MethodGet, tokensPath(env, ""), "", "")
	wantError(t, rep, http.StatusBadRequest, 6003, "")
	if len(rep.Errors[0].ErrorChain) != 1 || rep.Errors[0].ErrorChain[0].Code != 6111 {
		t.Errorf("error_chain = %+v, want one entry with code 6111", rep.Errors[0].ErrorChain)
	}
}

func TestUnknownBearerIsInvalidToken(t *testing.T) {
	env, _ := startWithClock(t)
	for _, suffix := range []string{"", "/verify", "/permission_groups"} {
		rep := send(t, env, http.MethodGet, tokensPath(env, suffix), strings.Repeat("x", 40), "")
		wantError(t, rep, http.StatusUnauthorized, 1000, "")
	}
}

func TestPermissionsPerEndpoint(t *testing.T) {
	env, _ := startWithClock(t)
	reader, err := env.Emulator.AddManagementToken(env.AccountID, "reader", false)
	if err != nil {
		t.Fatal(err)
	}
	dns, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
		Name: "dns",
		Policies: []emulator.Policy{{
			PermissionGroups: []emulator.PermissionGroupRef{{Name: "DNS Write"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	target := createToken(t, env, createBody(env, "target", ""))

	type request struct{ method, suffix, body string }
	requests := map[string]request{
		"create":            {http.MethodPost, "", createBody(env, "x", "")},
		"list":              {http.MethodGet, "", ""},
		"permission_groups": {http.MethodGet, "/permission_groups", ""},
		"details":           {http.MethodGet, "/" + target.ID, ""},
		"update":            {http.MethodPut, "/" + target.ID, createBody(env, "target", "")},
		"roll":              {http.MethodPut, "/" + target.ID + "/value", "{}"},
		"verify":            {http.MethodGet, "/verify", ""},
	}
	cases := []struct {
		bearer  string
		allowed map[string]bool
	}{
		{reader.Value, map[string]bool{"list": true, "permission_groups": true, "details": true,
			"verify": true}},
		{dns.Value, map[string]bool{"verify": true}},
	}
	for _, tc := range cases {
		for name, req := range requests {
			rep := send(t, env, req.method, tokensPath(env, req.suffix), tc.bearer, req.body)
			if tc.allowed[name] {
				if rep.Status != http.StatusOK {
					t.Errorf("%s: status %d, want 200; body %s", name, rep.Status, rep.Raw)
				}
				continue
			}
			if rep.Status != http.StatusForbidden || len(rep.Errors) == 0 ||
				rep.Errors[0].Code != 10000 {
				t.Errorf("%s: status %d body %s, want 403 code 10000", name, rep.Status, rep.Raw)
			}
		}
	}
	rep := send(t, env, http.MethodDelete, tokensPath(env, "/"+target.ID), reader.Value, "")
	wantError(t, rep, http.StatusForbidden, 10000, "")
}

func TestOtherAccountIsForbidden(t *testing.T) {
	env, _ := startWithClock(t)
	other, err := env.Emulator.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	otherToken, err := env.Emulator.AddManagementToken(other, "other", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "/verify"} {
		rep := send(t, env, http.MethodGet, tokensPath(env, suffix), otherToken.Value, "")
		wantError(t, rep, http.StatusForbidden, 10000, "")
	}
}

func TestResourcesMustCoverAccount(t *testing.T) {
	env, _ := startWithClock(t)
	other := "00000000000000000000000000000001"
	scoped, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
		Name: "wrong resources",
		Policies: []emulator.Policy{{
			PermissionGroups: []emulator.PermissionGroupRef{{ID: emulator.PermissionTokensWrite}},
			Resources:        map[string]any{"com.cloudflare.api.account." + other: "*"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wildcard, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
		Name: "all accounts",
		Policies: []emulator.Policy{{
			PermissionGroups: []emulator.PermissionGroupRef{{ID: emulator.PermissionTokensRead}},
			Resources:        map[string]any{"com.cloudflare.api.account.*": "*"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}

	wantError(t, send(t, env, http.MethodGet, tokensPath(env, ""), scoped.Value, ""),
		http.StatusForbidden, 10000, "")
	wantOK(t, send(t, env, http.MethodGet, tokensPath(env, ""), wildcard.Value, ""))
}

func TestDenyPolicyWins(t *testing.T) {
	env, _ := startWithClock(t)
	group := []emulator.PermissionGroupRef{{ID: emulator.PermissionTokensWrite}}
	denied, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
		Name: "denied",
		Policies: []emulator.Policy{
			{Effect: "allow", PermissionGroups: group},
			{Effect: "deny", PermissionGroups: group},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, send(t, env, http.MethodGet, tokensPath(env, ""), denied.Value, ""),
		http.StatusForbidden, 10000, "")
}

func TestInactiveTokensDoNotAuthenticate(t *testing.T) {
	env, clk := startWithClock(t)
	write := []emulator.PermissionGroupRef{{ID: emulator.PermissionTokensWrite}}
	specs := map[string]emulator.TokenSpec{
		"disabled":    {Status: "disabled"},
		"expired":     {ExpiresOn: clk.Now().Add(-time.Second)},
		"not yet":     {NotBefore: clk.Now().Add(time.Hour)},
		"revoked":     {Status: "revoked"},
		"expires now": {ExpiresOn: clk.Now()},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			spec.Name = name
			spec.Policies = []emulator.Policy{{PermissionGroups: write}}
			issued, err := env.Emulator.AddToken(env.AccountID, spec)
			if err != nil {
				t.Fatal(err)
			}
			rep := send(t, env, http.MethodGet, tokensPath(env, ""), issued.Value, "")
			wantError(t, rep, http.StatusUnauthorized, 1000, "")
			state, _ := env.Emulator.Token(env.AccountID, issued.ID)
			if !state.LastUsedOn.IsZero() {
				t.Errorf("last_used_on = %v after a rejected request, want unset", state.LastUsedOn)
			}
		})
	}
}

func TestVerifyReportsInactiveStatus(t *testing.T) {
	env, clk := startWithClock(t)
	cases := map[string]struct {
		spec emulator.TokenSpec
		want string
	}{
		"disabled": {emulator.TokenSpec{Status: "disabled"}, "disabled"},
		"expired":  {emulator.TokenSpec{ExpiresOn: clk.Now().Add(-time.Hour)}, "expired"},
		"not yet":  {emulator.TokenSpec{NotBefore: clk.Now().Add(time.Hour)}, "active"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.spec.Name = name
			tc.spec.Policies = []emulator.Policy{{
				PermissionGroups: []emulator.PermissionGroupRef{{Name: "Zone Read"}},
			}}
			issued, err := env.Emulator.AddToken(env.AccountID, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			rep := send(t, env, http.MethodGet, tokensPath(env, "/verify"), issued.Value, "")
			wantOK(t, rep)
			var got struct {
				Status string `json:"status"`
			}
			decode(t, rep, &got)
			if got.Status != tc.want {
				t.Errorf("status = %q, want %q", got.Status, tc.want)
			}
		})
	}
}

func TestStrictVerifyRejectsInactive(t *testing.T) {
	env := emulatortest.Start(t, emulator.Options{StrictVerify: true})
	issued, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
		Name:     "disabled",
		Status:   "disabled",
		Policies: []emulator.Policy{{PermissionGroups: []emulator.PermissionGroupRef{{Name: "DNS Read"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := send(t, env, http.MethodGet, tokensPath(env, "/verify"), issued.Value, "")
	wantError(t, rep, http.StatusUnauthorized, 1000, "")
}

func TestExpiryFollowsClock(t *testing.T) {
	env, clk := startWithClock(t)
	expires := clk.Now().Add(time.Hour).Format(time.RFC3339)
	tok := createToken(t, env, createBody(env, "short", `"expires_on":"`+expires+`"`))
	path := tokensPath(env, "/"+tok.ID)

	var got tokenResult
	decode(t, send(t, env, http.MethodGet, path, env.Token, ""), &got)
	if got.Status != "active" {
		t.Errorf("status before expiry = %q, want active", got.Status)
	}

	clk.Advance(time.Hour)
	decode(t, send(t, env, http.MethodGet, path, env.Token, ""), &got)
	if got.Status != "expired" {
		t.Errorf("status at expiry = %q, want expired", got.Status)
	}
	wantError(t, send(t, env, http.MethodGet, tokensPath(env, "/"+tok.ID), *tok.Value, ""),
		http.StatusUnauthorized, 1000, "")
}

func TestNotBeforeFollowsClock(t *testing.T) {
	env, clk := startWithClock(t)
	issued, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
		Name:      "later",
		NotBefore: clk.Now().Add(time.Hour),
		Policies: []emulator.Policy{{
			PermissionGroups: []emulator.PermissionGroupRef{{ID: emulator.PermissionTokensRead}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, send(t, env, http.MethodGet, tokensPath(env, ""), issued.Value, ""),
		http.StatusUnauthorized, 1000, "")
	clk.Advance(time.Hour)
	wantOK(t, send(t, env, http.MethodGet, tokensPath(env, ""), issued.Value, ""))
}

func TestLastUsedOnUpdated(t *testing.T) {
	env, clk := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))
	clk.Advance(time.Hour)

	wantOK(t, send(t, env, http.MethodGet, tokensPath(env, "/verify"), *tok.Value, ""))
	state, _ := env.Emulator.Token(env.AccountID, tok.ID)
	if !state.LastUsedOn.Equal(clk.Now()) {
		t.Errorf("last_used_on after verify = %v, want %v", state.LastUsedOn, clk.Now())
	}

	// A request the token lacks permission for still authenticates it.
	clk.Advance(time.Hour)
	wantError(t, send(t, env, http.MethodGet, tokensPath(env, ""), *tok.Value, ""),
		http.StatusForbidden, 10000, "")
	var got tokenResult
	decode(t, send(t, env, http.MethodGet, tokensPath(env, "/"+tok.ID), env.Token, ""), &got)
	if got.LastUsedOn == nil || *got.LastUsedOn != clk.Now().Format(time.RFC3339) {
		t.Errorf("last_used_on = %v, want %s", got.LastUsedOn, clk.Now().Format(time.RFC3339))
	}
}

func TestRequestIPCondition(t *testing.T) {
	env, _ := startWithClock(t)
	write := []emulator.PermissionGroupRef{{ID: emulator.PermissionTokensWrite}}
	// httptest serves on 127.0.0.1, or on ::1 where IPv4 loopback is absent.
	cases := []struct {
		name    string
		cond    emulator.Condition
		allowed bool
	}{
		{"in loopback v4", emulator.Condition{RequestIPIn: []string{"127.0.0.0/8", "::1/128"}}, true},
		{"in other v4", emulator.Condition{RequestIPIn: []string{"192.0.2.0/24"}}, false},
		{"in other v6", emulator.Condition{RequestIPIn: []string{"2001:db8::/32"}}, false},
		{"not in loopback", emulator.Condition{RequestIPNotIn: []string{"127.0.0.1", "::1"}}, false},
		{"not in other", emulator.Condition{RequestIPNotIn: []string{"2001:db8::/32"}}, true},
		{"in and not in", emulator.Condition{
			RequestIPIn:    []string{"127.0.0.0/8", "::1/128"},
			RequestIPNotIn: []string{"127.0.0.1/32", "::1/128"},
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cond := tc.cond
			issued, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
				Name:      tc.name,
				Policies:  []emulator.Policy{{PermissionGroups: write}},
				Condition: &cond,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{"", "/verify"} {
				rep := send(t, env, http.MethodGet, tokensPath(env, suffix), issued.Value, "")
				if tc.allowed {
					wantOK(t, rep)
					continue
				}
				wantError(t, rep, http.StatusForbidden, 9109, "")
			}
		})
	}
}

func TestRateLimitPerBearer(t *testing.T) {
	clk := newClock()
	env := emulatortest.Start(t, emulator.Options{
		Now:        clk.Now,
		RateLimit:  3,
		RateWindow: time.Minute,
	})
	other, err := env.Emulator.AddManagementToken(env.AccountID, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	path := tokensPath(env, "")

	for i := range 3 {
		rep := send(t, env, http.MethodGet, path, env.Token, "")
		wantOK(t, rep)
		want := `"default";r=` + string(rune('2'-i)) + ";t=60"
		if got := rep.Header.Get("Ratelimit"); got != want {
			t.Errorf("request %d: Ratelimit = %q, want %q", i, got, want)
		}
		if got := rep.Header.Get("Ratelimit-Policy"); got != `"default";q=3;w=60` {
			t.Errorf("Ratelimit-Policy = %q", got)
		}
	}

	clk.Advance(20*time.Second + 500*time.Millisecond)
	limited := send(t, env, http.MethodGet, path, env.Token, "")
	wantError(t, limited, http.StatusTooManyRequests, 971, "")
	if got := limited.Header.Get("Retry-After"); got != "40" {
		t.Errorf("Retry-After = %q, want 40", got)
	}
	if got := limited.Header.Get("Ratelimit"); got != `"default";r=0;t=40` {
		t.Errorf("Ratelimit = %q, want r=0;t=40", got)
	}

	wantOK(t, send(t, env, http.MethodGet, path, other.Value, ""))

	clk.Advance(40 * time.Second)
	wantOK(t, send(t, env, http.MethodGet, path, env.Token, ""))
}

func TestQuotaPerAccount(t *testing.T) {
	env, _ := startWithClock(t)
	// The management token is the first of the account's tokens.
	for i := 1; i < emulator.MaxTokensPerAccount; i++ {
		_, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
			Name: "filler",
			Policies: []emulator.Policy{{
				PermissionGroups: []emulator.PermissionGroupRef{{Name: "Zone Read"}},
			}},
		})
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	rep := send(t, env, http.MethodPost, tokensPath(env, ""), env.Token, createBody(env, "x", ""))
	wantError(t, rep, http.StatusBadRequest, 1005, "")
	if n := len(env.Emulator.Tokens(env.AccountID)); n != emulator.MaxTokensPerAccount {
		t.Errorf("account holds %d tokens, want %d", n, emulator.MaxTokensPerAccount)
	}
}

func TestRequestIPConditionIPv6Client(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine: %v", err)
	}
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewUnstartedServer(emu.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	accountID, err := emu.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	env := &emulatortest.Env{Emulator: emu, BaseURL: srv.URL + "/client/v4", AccountID: accountID}
	write := []emulator.PermissionGroupRef{{ID: emulator.PermissionTokensWrite}}
	cases := map[string]struct {
		cond    emulator.Condition
		allowed bool
	}{
		"in ::1":         {emulator.Condition{RequestIPIn: []string{"::1/128"}}, true},
		"in v4 loopback": {emulator.Condition{RequestIPIn: []string{"127.0.0.0/8"}}, false},
		"not in ::1":     {emulator.Condition{RequestIPNotIn: []string{"::1"}}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cond := tc.cond
			issued, err := emu.AddToken(accountID, emulator.TokenSpec{
				Name:      name,
				Policies:  []emulator.Policy{{PermissionGroups: write}},
				Condition: &cond,
			})
			if err != nil {
				t.Fatal(err)
			}
			rep := send(t, env, http.MethodGet, tokensPath(env, ""), issued.Value, "")
			if tc.allowed {
				wantOK(t, rep)
				return
			}
			wantError(t, rep, http.StatusForbidden, 9109, "")
			if !strings.Contains(rep.Errors[0].Message, "::1") {
				t.Errorf("message = %q, want the client address ::1", rep.Errors[0].Message)
			}
		})
	}
}

func TestRandomOptionMakesIDsRepeatable(t *testing.T) {
	issue := func() emulator.Issued {
		emu := emulator.New(emulator.Options{Random: strings.NewReader(strings.Repeat("k", 4096))})
		id, err := emu.AddAccount("")
		if err != nil {
			t.Fatal(err)
		}
		issued, err := emu.AddManagementToken(id, "m", true)
		if err != nil {
			t.Fatal(err)
		}
		return issued
	}
	first, second := issue(), issue()
	if first != second {
		t.Errorf("same random source gave ids %s and %s", first.ID, second.ID)
	}
	if !emulator.ValidChecksum(first.Value) {
		t.Errorf("value from a fixed source has no valid checksum")
	}
}
