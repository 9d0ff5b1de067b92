package emulator_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

func TestCreateValidation(t *testing.T) {
	env, _ := startWithClock(t)
	acct := `"resources":{"com.cloudflare.api.account.` + env.AccountID + `":"*"}`
	dnsRead := `"permission_groups":[{"id":"82e64a83756745bbbb1c9c2701bf816b"}]`
	policy := `{"effect":"allow",` + dnsRead + `,` + acct + `}`
	cases := []struct {
		name    string
		body    string
		code    int
		pointer string
	}{
		{"not json", `{"name":`, 6007, ""},
		{"array body", `[]`, 6007, ""},
		{"missing name", `{"policies":[` + policy + `]}`, 1002, "/name"},
		{"empty name", `{"name":"  ","policies":[` + policy + `]}`, 1002, "/name"},
		{"name not string", `{"name":5,"policies":[` + policy + `]}`, 1002, "/name"},
		{"name too long", `{"name":"` + strings.Repeat("n", 121) + `","policies":[` + policy + `]}`,
			1002, "/name"},
		{"missing policies", `{"name":"x"}`, 1002, "/policies"},
		{"null policies", `{"name":"x","policies":null}`, 1002, "/policies"},
		{"empty policies", `{"name":"x","policies":[]}`, 1002, "/policies"},
		{"policy id", `{"name":"x","policies":[{"id":"abc","effect":"allow",` + dnsRead + `,` +
			acct + `}]}`, 1001, "/policies/0/id"},
		{"invalid effect", `{"name":"x","policies":[{"effect":"permit",` + dnsRead + `,` + acct +
			`}]}`, 1002, "/policies/0/effect"},
		{"missing effect", `{"name":"x","policies":[{` + dnsRead + `,` + acct + `}]}`,
			1002, "/policies/0/effect"},
		{"unknown group", `{"name":"x","policies":[` + policy + `,{"effect":"allow",` +
			`"permission_groups":[{"id":"82e64a83756745bbbb1c9c2701bf816b"},` +
			`{"id":"ffffffffffffffffffffffffffffffff"}],` + acct + `}]}`,
			1003, "/policies/1/permission_groups/1/id"},
		{"empty groups", `{"name":"x","policies":[{"effect":"allow","permission_groups":[],` +
			acct + `}]}`, 1002, "/policies/0/permission_groups"},
		{"missing resources", `{"name":"x","policies":[{"effect":"allow",` + dnsRead + `}]}`,
			1002, "/policies/0/resources"},
		{"bad resource value", `{"name":"x","policies":[{"effect":"allow",` + dnsRead +
			`,"resources":{"com.cloudflare.api.account.x":"read"}}]}`, 1002, "/policies/0/resources"},
		{"bad cidr", `{"name":"x","policies":[` + policy +
			`],"condition":{"request_ip":{"in":["10.0.0.0/8"],"not_in":["10.0.0.300/32"]}}}`,
			1002, "/condition/request_ip/not_in/0"},
		{"bad expires_on", `{"name":"x","policies":[` + policy + `],"expires_on":"tomorrow"}`,
			1002, "/expires_on"},
		{"zero expires_on", `{"name":"x","policies":[` + policy +
			`],"expires_on":"0001-01-01T00:00:00Z"}`, 1002, "/expires_on"},
		{"not_before after expires_on", `{"name":"x","policies":[` + policy +
			`],"expires_on":"2026-01-01T00:00:00Z","not_before":"2026-02-01T00:00:00Z"}`,
			1002, "/not_before"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := send(t, env, http.MethodPost, tokensPath(env, ""), env.Token, tc.body)
			wantError(t, rep, http.StatusBadRequest, tc.code, tc.pointer)
		})
	}
	if n := len(env.Emulator.Tokens(env.AccountID)); n != 1 {
		t.Errorf("account holds %d tokens after rejected creates, want 1", n)
	}
}

func TestCreateAcceptsLongestName(t *testing.T) {
	env, _ := startWithClock(t)
	name := strings.Repeat("é", emulator.MaxNameLength)
	tok := createToken(t, env, createBody(env, name, ""))
	if tok.Name != name {
		t.Errorf("name = %q, want %d characters kept", tok.Name, emulator.MaxNameLength)
	}
}

func TestCreateAcceptsFractionalTimestamps(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "x", `"expires_on":"2027-01-02T03:04:05.123456Z"`))
	if tok.ExpiresOn == nil || *tok.ExpiresOn != "2027-01-02T03:04:05.123456Z" {
		t.Errorf("expires_on = %v, want the fraction kept", tok.ExpiresOn)
	}
}

func TestUpdateValidation(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))
	path := tokensPath(env, "/"+tok.ID)

	rep := send(t, env, http.MethodPut, path, env.Token,
		strings.Replace(createBody(env, "ci", ""), `"name"`, `"status":"expired","name"`, 1))
	wantError(t, rep, http.StatusBadRequest, 1002, "/status")

	rep = send(t, env, http.MethodPut, path, env.Token, `{"name":"ci"}`)
	wantError(t, rep, http.StatusBadRequest, 1002, "/policies")

	// Policy ids are allowed on update and replaced.
	withID := strings.Replace(createBody(env, "ci", ""), `{"effect"`,
		`{"id":"0123456789abcdef0123456789abcdef","effect"`, 1)
	rep = send(t, env, http.MethodPut, path, env.Token, withID)
	wantOK(t, rep)
	var got tokenResult
	decode(t, rep, &got)
	if got.Policies[0].ID == "0123456789abcdef0123456789abcdef" {
		t.Error("update kept the policy id sent by the client")
	}
}

func TestListPagination(t *testing.T) {
	env, clk := startWithClock(t)
	// The management token was issued first; 11 more follow, one a minute.
	for i := range 11 {
		clk.Advance(time.Minute)
		createToken(t, env, createBody(env, fmt.Sprintf("t%02d", i), ""))
	}
	names := func(rep apiReply) []string {
		var list []tokenResult
		decode(t, rep, &list)
		var out []string
		for _, tok := range list {
			out = append(out, tok.Name)
		}
		return out
	}

	rep := send(t, env, http.MethodGet, tokensPath(env, "?per_page=5&page=2"), env.Token, "")
	wantOK(t, rep)
	if got := strings.Join(names(rep), ","); got != "t04,t05,t06,t07,t08" {
		t.Errorf("page 2 = %s, want t04..t08", got)
	}
	info := rep.ResultInfo
	if info == nil || info.Page != 2 || info.PerPage != 5 || info.Count != 5 || info.TotalCount != 12 {
		t.Errorf("result_info = %+v, want page 2 per_page 5 count 5 total_count 12", info)
	}

	rep = send(t, env, http.MethodGet, tokensPath(env, "?per_page=5&page=3"), env.Token, "")
	if got := strings.Join(names(rep), ","); got != "t09,t10" {
		t.Errorf("page 3 = %s, want t09,t10", got)
	}

	rep = send(t, env, http.MethodGet, tokensPath(env, "?per_page=5&page=4"), env.Token, "")
	wantOK(t, rep)
	if string(rep.Result) != "[]" {
		t.Errorf("page past the end = %s, want []", rep.Result)
	}
	if rep.ResultInfo == nil || rep.ResultInfo.Count != 0 || rep.ResultInfo.TotalCount != 12 {
		t.Errorf("result_info past the end = %+v", rep.ResultInfo)
	}

	rep = send(t, env, http.MethodGet, tokensPath(env, "?per_page=5&direction=desc"), env.Token, "")
	if got := strings.Join(names(rep), ","); got != "t10,t09,t08,t07,t06" {
		t.Errorf("desc page 1 = %s, want t10..t06", got)
	}

	rep = send(t, env, http.MethodGet, tokensPath(env, ""), env.Token, "")
	if rep.ResultInfo == nil || rep.ResultInfo.PerPage != 20 || rep.ResultInfo.Count != 12 {
		t.Errorf("default result_info = %+v, want per_page 20 count 12", rep.ResultInfo)
	}
}

func TestListQueryValidation(t *testing.T) {
	env, _ := startWithClock(t)
	cases := map[string]string{
		"per_page=4":           "/per_page",
		"per_page=51":          "/per_page",
		"per_page=x":           "/per_page",
		"page=0":               "/page",
		"direction=up":         "/direction",
		"include_expired=nope": "/include_expired",
	}
	for query, pointer := range cases {
		t.Run(query, func(t *testing.T) {
			rep := send(t, env, http.MethodGet, tokensPath(env, "?"+query), env.Token, "")
			wantError(t, rep, http.StatusBadRequest, 1004, pointer)
		})
	}
	for _, query := range []string{"per_page=5", "per_page=50"} {
		wantOK(t, send(t, env, http.MethodGet, tokensPath(env, "?"+query), env.Token, ""))
	}
}

func TestListExpiredTokens(t *testing.T) {
	env, clk := startWithClock(t)
	read := []emulator.Policy{{PermissionGroups: []emulator.PermissionGroupRef{{Name: "Zone Read"}}}}
	seed := map[string]time.Duration{
		"recent":  -24 * time.Hour,
		"old":     -31 * 24 * time.Hour,
		"edge":    -emulator.ExpiredListWindow,
		"current": 24 * time.Hour,
	}
	for name, offset := range seed {
		_, err := env.Emulator.AddToken(env.AccountID, emulator.TokenSpec{
			Name:      name,
			Policies:  read,
			ExpiresOn: clk.Now().Add(offset),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	listed := func(query string) map[string]string {
		rep := send(t, env, http.MethodGet, tokensPath(env, "?per_page=50"+query), env.Token, "")
		wantOK(t, rep)
		var list []tokenResult
		decode(t, rep, &list)
		out := map[string]string{}
		for _, tok := range list {
			out[tok.Name] = tok.Status
		}
		return out
	}

	plain := listed("")
	if _, ok := plain["recent"]; ok {
		t.Error("list without include_expired shows an expired token")
	}
	if plain["current"] != "active" {
		t.Errorf("current token status = %q, want active", plain["current"])
	}

	all := listed("&include_expired=true")
	if all["recent"] != "expired" {
		t.Errorf("recent token status = %q, want expired", all["recent"])
	}
	if all["edge"] != "expired" {
		t.Errorf("token expired exactly one window ago = %q, want listed as expired", all["edge"])
	}
	if _, ok := all["old"]; ok {
		t.Error("include_expired shows a token expired 31 days ago")
	}

	clk.Advance(48 * time.Hour)
	if _, ok := listed("")["current"]; ok {
		t.Error("token still listed after its expiry passed")
	}
	state, ok := func() (emulator.TokenState, bool) {
		for _, s := range env.Emulator.Tokens(env.AccountID) {
			if s.Name == "old" {
				return s, true
			}
		}
		return emulator.TokenState{}, false
	}()
	if !ok {
		t.Fatal("old expired token missing from the emulator state")
	}
	rep := send(t, env, http.MethodGet, tokensPath(env, "/"+state.ID), env.Token, "")
	wantOK(t, rep)
}
