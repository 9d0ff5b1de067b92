package rotator

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

const (
	testAccountID = "0123456789abcdef0123456789abcdef"
	tokenA        = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokenB        = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// now is the fixed clock of the decision tables.
var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// decodeToken builds a token from API JSON, so the tables exercise the same
// timestamp decoding as live replies.
func decodeToken(t *testing.T, raw string) tokenapi.Token {
	t.Helper()
	var tok tokenapi.Token
	if err := json.Unmarshal([]byte(raw), &tok); err != nil {
		t.Fatalf("decode token %s: %v", raw, err)
	}
	return tok
}

func basePolicy() *Policy {
	return &Policy{
		Account: "prod", AccountID: testAccountID, Key: "dns", Name: "dns",
		Strategy: StrategyRoll, RenewBefore: 30 * 24 * time.Hour, MaxAge: 90 * 24 * time.Hour,
		TTL: 90 * 24 * time.Hour, IdleAction: IdleReport, GracePeriod: time.Hour,
	}
}

func mustSchedule(t testing.TB, spec string) cron.Schedule {
	t.Helper()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecideTable(t *testing.T) {
	tests := []struct {
		name    string
		policy  func(p *Policy)
		tokens  []string
		records Records
		at      time.Time
		action  Action
		reasons []Reason
		errKind ErrorKind
		nextDue time.Time
		source  RotatedSource
	}{
		{
			name:    "healthy token",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":"2026-12-01T00:00:00Z"}`},
			action:  ActionNone,
			nextDue: time.Date(2026, 8, 30, 0, 0, 0, 0, time.UTC), // modified_on + 90d
			source:  RotatedFromModifiedOn,
		},
		{
			name:    "expiry inside renew window with roll extends",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":"2026-07-01T00:00:00Z"}`},
			action:  ActionExtendRoll,
			reasons: []Reason{ReasonExpiring},
			nextDue: now,
		},
		{
			name:    "expiry exactly at window edge is due",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":"2026-07-15T12:00:00Z"}`},
			action:  ActionExtendRoll,
			reasons: []Reason{ReasonExpiring},
			nextDue: now,
		},
		{
			name:    "expiry one second outside window",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":"2026-07-15T12:00:01Z"}`},
			action:  ActionNone,
			nextDue: time.Date(2026, 6, 15, 12, 0, 1, 0, time.UTC),
		},
		{
			name:    "fractional seconds parse",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00.123456Z","expires_on":"2026-07-15T12:00:00.5Z"}`},
			action:  ActionNone,
			nextDue: time.Date(2026, 6, 15, 12, 0, 0, 500_000_000, time.UTC),
		},
		{
			name:    "expiry inside window with recreate",
			policy:  func(p *Policy) { p.Strategy = StrategyRecreate },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":"2026-07-01T00:00:00Z"}`},
			action:  ActionRotate,
			reasons: []Reason{ReasonExpiring},
			nextDue: now,
		},
		{
			name:    "roll without ttl cannot fix expiry",
			policy:  func(p *Policy) { p.TTL = 0 },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":"2026-07-01T00:00:00Z"}`},
			action:  ActionError,
			errKind: ErrPolicy,
		},
		{
			name:    "recreate ttl inside renew window",
			policy:  func(p *Policy) { p.Strategy = StrategyRecreate; p.TTL = 7 * 24 * time.Hour },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":"2026-07-01T00:00:00Z"}`},
			action:  ActionError,
			errKind: ErrPolicy,
		},
		{
			name:    "expires_on missing never expires",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z"}`},
			action:  ActionNone,
			nextDue: time.Date(2026, 8, 30, 0, 0, 0, 0, time.UTC),
		},
		{
			name:    "expires_on null never expires",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","expires_on":null,"last_used_on":null}`},
			action:  ActionNone,
			nextDue: time.Date(2026, 8, 30, 0, 0, 0, 0, time.UTC),
		},
		{
			name:    "max age reached",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-03-01T00:00:00Z"}`},
			action:  ActionRotate,
			reasons: []Reason{ReasonMaxAge},
			nextDue: now,
			source:  RotatedFromModifiedOn,
		},
		{
			name:    "max age from issued_on",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","issued_on":"2026-03-01T00:00:00Z"}`},
			action:  ActionRotate,
			reasons: []Reason{ReasonMaxAge},
			source:  RotatedFromIssuedOn,
		},
		{
			name:   "daemon record wins over modified_on",
			tokens: []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-03-01T00:00:00Z"}`},
			records: Records{LastRotation: &Rotation{
				TokenID: tokenA, RotatedAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}},
			action:  ActionNone,
			nextDue: time.Date(2026, 8, 30, 0, 0, 0, 0, time.UTC),
			source:  RotatedFromRecord,
		},
		{
			name:   "record of another token is ignored",
			tokens: []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-03-01T00:00:00Z"}`},
			records: Records{LastRotation: &Rotation{
				TokenID: tokenB, RotatedAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}},
			action:  ActionRotate,
			reasons: []Reason{ReasonMaxAge},
			source:  RotatedFromModifiedOn,
		},
		{
			name:    "several reasons at once",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-01-01T00:00:00Z","expires_on":"2026-06-20T00:00:00Z"}`},
			action:  ActionExtendRoll,
			reasons: []Reason{ReasonExpiring, ReasonMaxAge},
		},
		{
			name:    "unparseable timestamp fails alone",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","expires_on":"next tuesday"}`},
			action:  ActionError,
			errKind: ErrBadTimestamp,
		},
		{
			name:    "missing by name",
			tokens:  nil,
			action:  ActionError,
			errKind: ErrNotFound,
		},
		{
			name:    "missing by id",
			policy:  func(p *Policy) { p.ID = tokenB; p.Name = ""; p.Key = tokenB },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active"}`},
			action:  ActionError,
			errKind: ErrNotFound,
		},
		{
			name:   "ambiguous name",
			tokens: []string{`{"id":"` + tokenA + `","name":"dns","status":"active"}`, `{"id":"` + tokenB + `","name":"dns","status":"active"}`},
			action: ActionError, errKind: ErrAmbiguous,
		},
		{
			name:    "name shared with a token being revoked",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z"}`, `{"id":"` + tokenB + `","name":"dns","status":"active","modified_on":"2026-01-01T00:00:00Z"}`},
			records: Records{Revoking: []string{tokenB}},
			action:  ActionNone,
		},
		{
			name:    "name shared resolved by stored id",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z"}`, `{"id":"` + tokenB + `","name":"dns","status":"active","modified_on":"2026-01-01T00:00:00Z"}`},
			records: Records{StoredTokenID: tokenA},
			action:  ActionNone,
		},
		{
			name:    "disabled token is an error",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"disabled","modified_on":"2026-03-01T00:00:00Z"}`},
			action:  ActionError,
			errKind: ErrDisabled,
		},
		{
			name:    "disabled with recreate is still an error",
			policy:  func(p *Policy) { p.Strategy = StrategyRecreate },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"disabled"}`},
			action:  ActionError,
			errKind: ErrDisabled,
		},
		{
			name:    "expired with roll is an error",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"expired","expires_on":"2026-06-01T00:00:00Z"}`},
			action:  ActionError,
			errKind: ErrUnusableStatus,
		},
		{
			name:    "expiry passed but status stale",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","expires_on":"2026-06-15T11:59:59Z"}`},
			action:  ActionError,
			errKind: ErrUnusableStatus,
		},
		{
			name:    "expired with recreate is due",
			policy:  func(p *Policy) { p.Strategy = StrategyRecreate },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"expired","expires_on":"2026-06-01T00:00:00Z"}`},
			action:  ActionRotate,
			reasons: []Reason{ReasonExpired},
		},
		{
			name:    "unknown status with roll",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"revoked_leaked"}`},
			action:  ActionError,
			errKind: ErrUnusableStatus,
		},
		{
			name:    "unknown status with recreate",
			policy:  func(p *Policy) { p.Strategy = StrategyRecreate },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"revoked_leaked"}`},
			action:  ActionRotate,
			reasons: []Reason{ReasonStatus},
		},
		{
			name:    "unsaved value blocks rotation",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-01-01T00:00:00Z"}`},
			records: Records{Unsaved: true},
			action:  ActionError,
			errKind: ErrUnsavedSecret,
		},
		{
			name:    "idle token reported",
			policy:  func(p *Policy) { p.IdleAfter = 30 * 24 * time.Hour },
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z","last_used_on":"2026-04-01T00:00:00Z"}`},
			action:  ActionReportIdle,
			nextDue: time.Date(2026, 8, 30, 0, 0, 0, 0, time.UTC),
		},
		{
			name:   "never used token idle from issued_on",
			policy: func(p *Policy) { p.IdleAfter = 30 * 24 * time.Hour },
			tokens: []string{`{"id":"` + tokenA + `","name":"dns","status":"active","issued_on":"2026-05-01T00:00:00Z","modified_on":"2026-06-01T00:00:00Z","last_used_on":null}`},
			action: ActionReportIdle,
		},
		{
			name:   "recently used token not idle",
			policy: func(p *Policy) { p.IdleAfter = 30 * 24 * time.Hour },
			tokens: []string{`{"id":"` + tokenA + `","name":"dns","status":"active","issued_on":"2026-01-01T00:00:00Z","modified_on":"2026-06-01T00:00:00Z","last_used_on":"2026-06-14T00:00:00Z"}`},
			action: ActionNone,
		},
		{
			name:   "idle and due with disable disables",
			policy: func(p *Policy) { p.IdleAfter = 30 * 24 * time.Hour; p.IdleAction = IdleDisable },
			tokens: []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-01-01T00:00:00Z","last_used_on":"2026-01-01T00:00:00Z"}`},
			action: ActionDisableIdle,
		},
		{
			name:   "idle token already disabled",
			policy: func(p *Policy) { p.IdleAfter = 30 * 24 * time.Hour; p.IdleAction = IdleDisable },
			tokens: []string{`{"id":"` + tokenA + `","name":"dns","status":"disabled","modified_on":"2026-01-01T00:00:00Z","last_used_on":"2026-01-01T00:00:00Z"}`},
			action: ActionReportIdle,
		},
		{
			name:    "empty target after an earlier rotation",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z"}`},
			records: Records{EmptyTargets: []TargetRef{{Sink: "file", Path: "dns.env"}}},
			action:  ActionRotate,
			reasons: []Reason{ReasonTargetEmpty},
		},
		{
			name:    "forced rotation of healthy token",
			tokens:  []string{`{"id":"` + tokenA + `","name":"dns","status":"active","modified_on":"2026-06-01T00:00:00Z"}`},
			records: Records{Force: true},
			action:  ActionRotate,
			reasons: []Reason{ReasonForced},
		},
		{
			name:    "state read failure is not missing",
			action:  ActionError,
			errKind: ErrAPI,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePolicy()
			if tt.policy != nil {
				tt.policy(p)
			}
			var obs Observed
			for _, raw := range tt.tokens {
				obs.Tokens = append(obs.Tokens, decodeToken(t, raw))
			}
			if tt.name == "state read failure is not missing" {
				obs.Err = errors.New("list tokens: HTTP 502")
			}
			at := now
			if !tt.at.IsZero() {
				at = tt.at
			}

			d := Decide(p, obs, tt.records, at)

			if d.Action != tt.action {
				t.Errorf("action = %s, want %s (err: %v)", d.Action, tt.action, d.Err)
			}
			if d.ErrKind != tt.errKind {
				t.Errorf("error kind = %q, want %q (err: %v)", d.ErrKind, tt.errKind, d.Err)
			}
			if (d.Err != nil) != (tt.errKind != "") {
				t.Errorf("err = %v, want an error: %v", d.Err, tt.errKind != "")
			}
			if tt.reasons != nil && !slices.Equal(d.Reasons, tt.reasons) {
				t.Errorf("reasons = %v, want %v", d.Reasons, tt.reasons)
			}
			if !tt.nextDue.IsZero() && !d.NextDue.Equal(tt.nextDue) {
				t.Errorf("next due = %v, want %v", d.NextDue, tt.nextDue)
			}
			if tt.source != "" && d.LastRotatedSource != tt.source {
				t.Errorf("last rotated source = %q, want %q", d.LastRotatedSource, tt.source)
			}
			if d.Err != nil && !strings.Contains(d.Err.Error(), p.Account) &&
				!strings.Contains(d.Err.Error(), tokenA) && tt.errKind != ErrAPI {
				t.Errorf("error %q names neither the account nor the token", d.Err)
			}
		})
	}
}

func TestDecideIsIdempotent(t *testing.T) {
	p := basePolicy()
	obs := Observed{Tokens: []tokenapi.Token{decodeToken(t,
		`{"id":"`+tokenA+`","name":"dns","status":"active","modified_on":"2026-01-01T00:00:00Z","expires_on":"2026-06-20T00:00:00Z"}`)}}
	first := Decide(p, obs, Records{}, now)
	for range 3 {
		again := Decide(p, obs, Records{}, now)
		if again.Action != first.Action || !slices.Equal(again.Reasons, first.Reasons) ||
			!again.NextDue.Equal(first.NextDue) {
			t.Fatalf("second decision %+v differs from first %+v", again, first)
		}
	}
}

func TestDecideNotDueAgainAfterRotation(t *testing.T) {
	p := basePolicy()
	rotatedAt := now
	// The state a roll leaves behind: modified_on moved to the rotation time.
	obs := Observed{Tokens: []tokenapi.Token{decodeToken(t,
		`{"id":"`+tokenA+`","name":"dns","status":"active","modified_on":"2026-06-15T12:00:00Z"}`)}}
	rec := Records{LastRotation: &Rotation{TokenID: tokenA, RotatedAt: rotatedAt}}

	for _, later := range []time.Duration{0, time.Minute, time.Hour, 89 * 24 * time.Hour} {
		d := Decide(p, obs, rec, now.Add(later))
		if d.Due() {
			t.Errorf("%v after the rotation: action %s, want no rotation", later, d.Action)
		}
	}
	if d := Decide(p, obs, rec, now.Add(90*24*time.Hour)); !d.Due() {
		t.Errorf("90 days after the rotation: action %s, want rotate", d.Action)
	}
}

func TestDecideScheduleRotatesOncePerFire(t *testing.T) {
	p := basePolicy()
	p.MaxAge = 0
	p.Schedule = mustSchedule(t, "0 3 * * *")
	tok := decodeToken(t, `{"id":"`+tokenA+`","name":"dns","status":"active","modified_on":"2026-06-14T12:00:00Z"}`)
	obs := Observed{Tokens: []tokenapi.Token{tok}}

	before := Decide(p, obs, Records{}, time.Date(2026, 6, 15, 2, 59, 0, 0, time.UTC))
	if before.Due() {
		t.Errorf("before the fire time: action %s, want none", before.Action)
	}
	if want := time.Date(2026, 6, 15, 3, 0, 0, 0, time.UTC); !before.NextDue.Equal(want) {
		t.Errorf("next due = %v, want %v", before.NextDue, want)
	}

	fire := time.Date(2026, 6, 15, 3, 0, 0, 0, time.UTC)
	at := Decide(p, obs, Records{}, fire)
	if !at.Due() || !slices.Equal(at.Reasons, []Reason{ReasonSchedule}) {
		t.Errorf("at the fire time: action %s reasons %v, want rotate for the schedule", at.Action, at.Reasons)
	}

	rec := Records{LastRotation: &Rotation{TokenID: tokenA, RotatedAt: fire.Add(2 * time.Second)}}
	after := Decide(p, obs, rec, fire.Add(time.Hour))
	if after.Due() {
		t.Errorf("after rotating for this fire: action %s, want none", after.Action)
	}
}

func TestDecideScheduleAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	p := basePolicy()
	p.MaxAge = 0
	p.Schedule = mustSchedule(t, "CRON_TZ=Europe/Berlin 30 2 * * *")
	tok := decodeToken(t, `{"id":"`+tokenA+`","name":"dns","status":"active","modified_on":"2026-10-24T12:00:00Z"}`)
	obs := Observed{Tokens: []tokenapi.Token{tok}}

	// On 2026-10-25 clocks in Berlin fall back from 03:00 CEST to 02:00 CET,
	// so 02:30 happens at 00:30 UTC and again at 01:30 UTC.
	first := time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)
	second := time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)
	if first.In(berlin).Format("15:04") != "02:30" || second.In(berlin).Format("15:04") != "02:30" {
		t.Fatal("test times do not show 02:30 in Berlin")
	}

	d := Decide(p, obs, Records{}, first)
	if !d.Due() {
		t.Fatalf("at the first 02:30: action %s, want rotate", d.Action)
	}
	rec := Records{LastRotation: &Rotation{TokenID: tokenA, RotatedAt: first.Add(5 * time.Second)}}
	d = Decide(p, obs, rec, second.Add(time.Minute))
	if d.Due() {
		t.Errorf("at the repeated 02:30: action %s, want no second rotation", d.Action)
	}
	wantNext := time.Date(2026, 10, 26, 2, 30, 0, 0, berlin)
	if !d.NextDue.Equal(wantNext) {
		t.Errorf("next due = %v, want %v", d.NextDue.In(berlin), wantNext)
	}

	// Spring forward: 2027-03-28 has no 02:30 in Berlin. robfig/cron skips
	// the missing time, so the next rotation is on the following night.
	springTok := decodeToken(t, `{"id":"`+tokenA+`","name":"dns","status":"active","modified_on":"2027-03-27T12:00:00Z"}`)
	d = Decide(p, Observed{Tokens: []tokenapi.Token{springTok}}, Records{},
		time.Date(2027, 3, 28, 6, 0, 0, 0, time.UTC))
	if d.Due() {
		t.Errorf("morning after the spring-forward night: action %s, want none", d.Action)
	}
	if want := time.Date(2027, 3, 29, 2, 30, 0, 0, berlin); !d.NextDue.Equal(want) {
		t.Errorf("next due = %v, want %v", d.NextDue.In(berlin), want)
	}
}
