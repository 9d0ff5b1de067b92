package tokenapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// tokenJSON returns a token object with extra fields spliced in.
func tokenJSON(id, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"id":"` + id + `","name":"dns","status":"active",
		"issued_on":"2025-01-01T00:00:00Z","modified_on":"2025-02-01T00:00:00Z",
		"policies":[{"id":"f267e341f3dd4697bd3b9f71dd96247f","effect":"allow",
		"permission_groups":[{"id":"c8fed203ed3043cba015a93ad1616f1f","name":"Zone Read"}],
		"resources":{"com.cloudflare.api.account.` + testAccountID + `":"*"}}]` + extra + `}`
}

func TestTimestampDecoding(t *testing.T) {
	tests := []struct {
		name      string
		extra     string
		wantSet   bool
		wantTime  time.Time
		wantValid bool
	}{
		{name: "expires_on missing"},
		{name: "expires_on null", extra: `"expires_on":null`},
		{
			name: "whole seconds", extra: `"expires_on":"2026-01-02T03:04:05Z"`,
			wantSet: true, wantValid: true,
			wantTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		{
			name: "fractional seconds", extra: `"expires_on":"2026-01-02T03:04:05.123456Z"`,
			wantSet: true, wantValid: true,
			wantTime: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC),
		},
		{
			name: "offset", extra: `"expires_on":"2026-01-02T05:04:05+02:00"`,
			wantSet: true, wantValid: true,
			wantTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		{name: "unparseable", extra: `"expires_on":"next tuesday"`, wantSet: true},
		{name: "number", extra: `"expires_on":1767323045`, wantSet: true},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":`+
					tokenJSON(testTokenID, tt.extra)+`}`)
			})
			client := newClient(t, srv.URL, newFakeClock())

			token, err := client.Get(context.Background(), testTokenID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got := !token.ExpiresOn.IsZero(); got != tt.wantSet {
				t.Errorf("expires_on set = %v, want %v", got, tt.wantSet)
			}
			got, ok := token.ExpiresOn.Time()
			if ok != tt.wantValid {
				t.Errorf("Time() ok = %v, want %v", ok, tt.wantValid)
			}
			if !got.Equal(tt.wantTime) {
				t.Errorf("Time() = %s, want %s", got, tt.wantTime)
			}
			if !ok && !got.IsZero() {
				t.Errorf("Time() returned %s for an unset or invalid timestamp", got)
			}
			if !token.LastUsedOn.IsZero() {
				t.Errorf("last_used_on missing but reported set: %s", token.LastUsedOn)
			}
			if !token.IssuedOn.Valid() {
				t.Errorf("issued_on not valid: %q", token.IssuedOn.Raw())
			}

			wantErr := tt.wantSet && !tt.wantValid
			tsErr := token.TimestampError()
			if (tsErr != nil) != wantErr {
				t.Fatalf("TimestampError() = %v, want error: %v", tsErr, wantErr)
			}
			if wantErr {
				var te *tokenapi.TimestampError
				if !errors.As(tsErr, &te) {
					t.Fatalf("errors.As(*TimestampError) failed for %v", tsErr)
				}
				if te.Field != "expires_on" || te.TokenID != testTokenID {
					t.Errorf("TimestampError field %q token %q, want expires_on %s",
						te.Field, te.TokenID, testTokenID)
				}
				if !strings.Contains(tsErr.Error(), te.Raw) || te.Raw == "" {
					t.Errorf("error %q does not name the raw text %q", tsErr, te.Raw)
				}
				if _, err := tokenapi.DefinitionFromToken(token); err == nil {
					t.Error("DefinitionFromToken accepted an invalid expires_on")
				}
			}
		})
	}
}

func TestLastUsedOnNull(t *testing.T) {
	var token tokenapi.Token
	body := tokenJSON(testTokenID, `"last_used_on":null,"not_before":null`)
	if err := json.Unmarshal([]byte(body), &token); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !token.LastUsedOn.IsZero() {
		t.Errorf("last_used_on null reported set: %s", token.LastUsedOn)
	}
	if _, ok := token.LastUsedOn.Time(); ok {
		t.Error("last_used_on null returned a time")
	}
	if err := token.TimestampError(); err != nil {
		t.Errorf("TimestampError() = %v, want nil", err)
	}
}

func TestBadTimestampFailsOnlyItsToken(t *testing.T) {
	ids := []string{
		"00000000000000000000000000000001",
		"00000000000000000000000000000002",
		"00000000000000000000000000000003",
	}
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") != "1" {
			writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":[]}`)
			return
		}
		writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":[`+
			tokenJSON(ids[0], `"expires_on":"2026-01-02T03:04:05Z"`)+","+
			tokenJSON(ids[1], `"last_used_on":"2026-13-45T99:00:00Z"`)+","+
			tokenJSON(ids[2], `"expires_on":null`)+
			`],"result_info":{"page":1,"per_page":50,"count":3,"total_count":3}}`)
	})
	client := newClient(t, srv.URL, newFakeClock())

	var got []tokenapi.Token
	for token, err := range client.List(context.Background(), tokenapi.ListOptions{}) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		got = append(got, token)
	}
	if len(got) != 3 {
		t.Fatalf("List returned %d tokens, want 3", len(got))
	}
	for i, token := range got {
		err := token.TimestampError()
		if i == 1 {
			if err == nil || !strings.Contains(err.Error(), "last_used_on") ||
				!strings.Contains(err.Error(), "2026-13-45T99:00:00Z") {
				t.Errorf("token %d TimestampError() = %v, want last_used_on and its text", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("token %d TimestampError() = %v, want nil", i, err)
		}
	}
	if got[1].ExpiresOn.Valid() || !got[1].ExpiresOn.IsZero() {
		t.Error("the bad token reports an expiry it does not have")
	}
}

func TestMalformedEntryFailsOnlyItself(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"success":true,"result":[`+tokenJSON(testTokenID, "")+
			`,{"id":"x","policies":"not a list"}],"result_info":{"total_count":2}}`)
	})
	client := newClient(t, srv.URL, newFakeClock())

	page, err := client.ListPage(context.Background(), tokenapi.ListOptions{}, 1)
	if err != nil {
		t.Fatalf("ListPage: %v", err)
	}
	if len(page.Tokens) != 1 || page.Tokens[0].ID != testTokenID {
		t.Errorf("Tokens = %+v, want the one valid token", page.Tokens)
	}
	if len(page.Errors) != 1 {
		t.Errorf("Errors = %v, want one error", page.Errors)
	}
}

func TestUnknownStatusIsNotUsable(t *testing.T) {
	tests := []struct {
		status tokenapi.Status
		usable bool
		known  bool
	}{
		{tokenapi.StatusActive, true, true},
		{tokenapi.StatusDisabled, false, true},
		{tokenapi.StatusExpired, false, true},
		{"revoked_leaked", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := tt.status.Usable(); got != tt.usable {
			t.Errorf("Status(%q).Usable() = %v, want %v", tt.status, got, tt.usable)
		}
		if got := tt.status.Known(); got != tt.known {
			t.Errorf("Status(%q).Known() = %v, want %v", tt.status, got, tt.known)
		}
	}
}

func TestResourcesRoundTrip(t *testing.T) {
	inputs := []string{
		`{"com.cloudflare.api.account.` + testAccountID + `":"*"}`,
		`{"com.cloudflare.api.account.` + testAccountID +
			`":{"com.cloudflare.api.account.zone.*":"*"}}`,
		`{"a":{"b":{"c":"*"}},"d":"*","e":{}}`,
	}
	for _, in := range inputs {
		var r tokenapi.Resources
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Fatalf("Unmarshal %s: %v", in, err)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if string(out) != in {
			t.Errorf("round trip of %s gave %s", in, out)
		}
	}

	var r tokenapi.Resources
	if err := json.Unmarshal([]byte(`{"a":5}`), &r); err == nil {
		t.Error("Unmarshal accepted a number as a resource value")
	}
}

func TestPoliciesEqual(t *testing.T) {
	zone := tokenapi.Resources{"com.cloudflare.api.account.zone.1": tokenapi.Wildcard()}
	acct := tokenapi.Resources{"com.cloudflare.api.account.1": tokenapi.NestedResources(zone)}
	read := tokenapi.PermissionGroup{ID: "g1", Name: "Zone Read"}
	edit := tokenapi.PermissionGroup{ID: "g2", Name: "DNS Write"}
	meta := tokenapi.PermissionGroup{ID: "g3",
		Meta: &tokenapi.PermissionGroupMeta{Key: "k", Value: "v"}}
	p1 := tokenapi.Policy{ID: "p1", Effect: tokenapi.EffectAllow,
		PermissionGroups: []tokenapi.PermissionGroup{read, edit}, Resources: acct}
	p2 := tokenapi.Policy{ID: "p2", Effect: tokenapi.EffectDeny,
		PermissionGroups: []tokenapi.PermissionGroup{meta}, Resources: zone}

	// p1 again, with other ids, names and group order.
	p1Other := tokenapi.Policy{ID: "other", Effect: tokenapi.EffectAllow,
		PermissionGroups: []tokenapi.PermissionGroup{{ID: "g2"}, {ID: "g1", Name: "renamed"}},
		Resources:        acct}

	tests := []struct {
		name string
		a, b []tokenapi.Policy
		want bool
	}{
		{"same order", []tokenapi.Policy{p1, p2}, []tokenapi.Policy{p1, p2}, true},
		{"policy order", []tokenapi.Policy{p1, p2}, []tokenapi.Policy{p2, p1}, true},
		{"ids names and group order", []tokenapi.Policy{p1}, []tokenapi.Policy{p1Other}, true},
		{"both empty", nil, []tokenapi.Policy{}, true},
		{"missing policy", []tokenapi.Policy{p1, p2}, []tokenapi.Policy{p1}, false},
		{"other effect", []tokenapi.Policy{p1},
			[]tokenapi.Policy{{Effect: tokenapi.EffectDeny,
				PermissionGroups: p1.PermissionGroups, Resources: acct}}, false},
		{"other resources", []tokenapi.Policy{p1},
			[]tokenapi.Policy{{Effect: tokenapi.EffectAllow,
				PermissionGroups: p1.PermissionGroups, Resources: zone}}, false},
		{"other meta", []tokenapi.Policy{p2},
			[]tokenapi.Policy{{Effect: tokenapi.EffectDeny, Resources: zone,
				PermissionGroups: []tokenapi.PermissionGroup{{ID: "g3",
					Meta: &tokenapi.PermissionGroupMeta{Key: "k", Value: "w"}}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tokenapi.PoliciesEqual(tt.a, tt.b); got != tt.want {
				t.Errorf("PoliciesEqual = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConditionsEqual(t *testing.T) {
	a := tokenapi.Condition{RequestIP: &tokenapi.RequestIPCondition{
		In: []string{"192.0.2.0/24", "2001:db8::/32"}, NotIn: []string{"192.0.2.7/32"}}}
	b := tokenapi.Condition{RequestIP: &tokenapi.RequestIPCondition{
		In: []string{"2001:db8::/32", "192.0.2.0/24"}, NotIn: []string{"192.0.2.7/32"}}}
	if !tokenapi.ConditionsEqual(a, b) {
		t.Error("ConditionsEqual = false for reordered ranges")
	}
	if tokenapi.ConditionsEqual(a, tokenapi.Condition{}) {
		t.Error("ConditionsEqual = true for a condition and no condition")
	}
	if !tokenapi.ConditionsEqual(tokenapi.Condition{},
		tokenapi.Condition{RequestIP: &tokenapi.RequestIPCondition{}}) {
		t.Error("ConditionsEqual = false for two empty conditions")
	}
}

func TestRequestBodies(t *testing.T) {
	var bodies []map[string]any
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request body is not JSON: %s", raw)
		}
		bodies = append(bodies, body)
		if r.Method == http.MethodPost {
			writeJSON(w, 200, `{"success":true,"result":`+
				strings.TrimSuffix(tokenJSON(testTokenID, ""), "}")+
				`,"value":"`+valueSentinel+`"}}`)
			return
		}
		writeJSON(w, 200, `{"success":true,"result":`+tokenJSON(testTokenID, "")+`}`)
	})
	client := newClient(t, srv.URL, newFakeClock())

	var fetched tokenapi.Token
	if err := json.Unmarshal([]byte(tokenJSON(testTokenID,
		`"expires_on":"2026-01-02T03:04:05.5Z","last_used_on":null`)), &fetched); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	def, err := tokenapi.DefinitionFromToken(fetched)
	if err != nil {
		t.Fatalf("DefinitionFromToken: %v", err)
	}

	created, err := client.Create(context.Background(), def)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.Value.Reveal() != valueSentinel {
		t.Error("Create did not return the value")
	}
	if strings.Contains(fmt.Sprintf("%+v", created), valueSentinel) {
		t.Error("printing the created token shows its value")
	}

	def.Status = tokenapi.StatusDisabled
	if _, err := client.Update(context.Background(), testTokenID, def); err != nil {
		t.Fatalf("Update: %v", err)
	}

	if len(bodies) != 2 {
		t.Fatalf("server got %d bodies, want 2", len(bodies))
	}
	for i, body := range bodies {
		policies := body["policies"].([]any)
		policy := policies[0].(map[string]any)
		if _, ok := policy["id"]; ok {
			t.Errorf("body %d sends a policy id: %v", i, policy)
		}
		group := policy["permission_groups"].([]any)[0].(map[string]any)
		if _, ok := group["name"]; ok {
			t.Errorf("body %d sends a permission group name: %v", i, group)
		}
		if body["expires_on"] != "2026-01-02T03:04:05Z" {
			t.Errorf("body %d expires_on = %v, want 2026-01-02T03:04:05Z", i, body["expires_on"])
		}
		for _, key := range []string{"not_before", "condition", "last_used_on", "id"} {
			if _, ok := body[key]; ok {
				t.Errorf("body %d sends %s: %v", i, key, body[key])
			}
		}
	}
	if _, ok := bodies[0]["status"]; ok {
		t.Errorf("create body sends status: %v", bodies[0]["status"])
	}
	if bodies[1]["status"] != "disabled" {
		t.Errorf("update body status = %v, want disabled", bodies[1]["status"])
	}
}

func TestDefinitionCopiesSettableStatus(t *testing.T) {
	tests := []struct {
		status tokenapi.Status
		want   tokenapi.Status
	}{
		{tokenapi.StatusActive, tokenapi.StatusActive},
		{tokenapi.StatusDisabled, tokenapi.StatusDisabled},
		{tokenapi.StatusExpired, ""},
		{"revoked_leaked", ""},
	}
	for _, tt := range tests {
		def, err := tokenapi.DefinitionFromToken(tokenapi.Token{ID: testTokenID, Status: tt.status})
		if err != nil {
			t.Fatalf("DefinitionFromToken: %v", err)
		}
		if def.Status != tt.want {
			t.Errorf("status %q copied as %q, want %q", tt.status, def.Status, tt.want)
		}
	}
}

func TestDefinitionValidate(t *testing.T) {
	valid := sampleDefinition()
	tests := []struct {
		name   string
		modify func(d *tokenapi.Definition)
		want   string
	}{
		{"empty name", func(d *tokenapi.Definition) { d.Name = " " }, "name: must not be empty"},
		{"long name", func(d *tokenapi.Definition) { d.Name = strings.Repeat("n", 121) },
			"121 characters"},
		{"no policies", func(d *tokenapi.Definition) { d.Policies = nil }, "policies:"},
		{"bad effect", func(d *tokenapi.Definition) { d.Policies[0].Effect = "permit" },
			"policies[0].effect"},
		{"bad status", func(d *tokenapi.Definition) { d.Status = "paused" }, "status:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleDefinition()
			tt.modify(&d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := valid.Validate(); err != nil {
		t.Errorf("Validate() of a valid definition = %v", err)
	}
}
