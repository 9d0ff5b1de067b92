package rotator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// Strategy is the method that gives a due token a new value.
type Strategy string

// Rotation strategies.
const (
	// StrategyRoll keeps the token id and permissions and replaces the
	// secret. The old secret stops working at once.
	StrategyRoll Strategy = "roll"
	// StrategyRecreate creates a new token with the same policies, stores it
	// and deletes the old token after a grace period.
	StrategyRecreate Strategy = "recreate"
)

// IdleAction is the response to a token that has not been used for
// idle_after.
type IdleAction string

// Idle actions.
const (
	IdleReport  IdleAction = "report"
	IdleDisable IdleAction = "disable"
)

// Policy is the resolved rotation policy of one managed token, with every
// default applied.
type Policy struct {
	// Account is the account's name in the configuration, used in logs and
	// metrics. AccountID is Cloudflare's id.
	Account   string
	AccountID string
	// Key identifies the token in the configuration: its name, or its id
	// when it is selected by id.
	Key string
	// ID selects the token by id; otherwise Name must match exactly one token.
	ID   string
	Name string

	Strategy    Strategy
	RenewBefore time.Duration // rotate when expires_on is this close; 0 disables
	MaxAge      time.Duration // rotate when the last rotation is this old; 0 disables
	TTL         time.Duration // lifetime given to a new or extended token; 0 means no expiry
	IdleAfter   time.Duration // a token unused this long is idle; 0 disables
	IdleAction  IdleAction
	GracePeriod time.Duration // how long an old token outlives its replacement

	// Schedule, when set, makes the token due once at each fire time.
	Schedule     cron.Schedule
	ScheduleText string

	Targets []TargetRef
}

// Action is the engine's verdict for one token.
type Action string

// Actions, in the form used for the decision metric label.
const (
	ActionNone        Action = "ok"
	ActionRotate      Action = "rotate"
	ActionExtendRoll  Action = "extend_then_roll"
	ActionReportIdle  Action = "idle_report"
	ActionDisableIdle Action = "idle_disable"
	ActionError       Action = "error"
)

// Mutates reports whether carrying out the action changes the token.
func (a Action) Mutates() bool {
	return a == ActionRotate || a == ActionExtendRoll || a == ActionDisableIdle
}

// Reason is a cause that makes a token due for rotation.
type Reason string

// Rotation reasons.
const (
	ReasonExpiring Reason = "expires within renew_before"
	ReasonMaxAge   Reason = "older than max_age"
	ReasonSchedule Reason = "rotation_schedule fired"
	ReasonExpired  Reason = "token has expired"
	ReasonStatus   Reason = "token status is not usable"
	ReasonForced   Reason = "rotation requested"
	// ReasonRollOwed is a token whose expiry was extended but whose roll
	// then failed.
	ReasonRollOwed Reason = "the roll after its extension failed"
	// ReasonTargetEmpty is a target that holds no value although the daemon
	// rotated the token before: a file under /run after a reboot, or a
	// target added to the policy since.
	ReasonTargetEmpty Reason = "a target holds no value"
	// ReasonLostValue is a roll whose reply was lost after it took effect:
	// no one holds the current value, so the token is rolled again.
	ReasonLostValue Reason = "the value of an earlier roll was lost"
)

// ErrorKind classifies a decision error with a fixed set of values, so it
// can be a metric label.
type ErrorKind string

// Decision error kinds.
const (
	ErrNotFound       ErrorKind = "not_found"
	ErrAmbiguous      ErrorKind = "ambiguous"
	ErrDisabled       ErrorKind = "disabled"
	ErrUnusableStatus ErrorKind = "unusable_status"
	ErrBadTimestamp   ErrorKind = "bad_timestamp"
	ErrAPI            ErrorKind = "api_error"
	ErrSink           ErrorKind = "sink_error"
	ErrUnsavedSecret  ErrorKind = "unsaved_secret"
	ErrPolicy         ErrorKind = "policy_error"
)

// RotatedSource is the origin of a token's last rotation time.
type RotatedSource string

// Sources of the last rotation time, in order of preference.
const (
	RotatedFromRecord     RotatedSource = "daemon record"
	RotatedFromModifiedOn RotatedSource = "modified_on"
	RotatedFromIssuedOn   RotatedSource = "issued_on"
	RotatedUnknown        RotatedSource = "unknown"
)

// Observed is the live state of the tokens a policy entry may refer to.
type Observed struct {
	// Tokens holds every token of the account that matches the entry's
	// selector: the token with that id, or every token with that name. A
	// token missing from the list must have been looked up by id before it
	// is left out, because expired tokens drop out of the list.
	Tokens []tokenapi.Token
	// Err is set when the state could not be read; the engine then reports
	// an API error instead of guessing.
	Err error
}

// Records is the daemon's own state about a token.
type Records struct {
	// LastRotation is the newest rotation record, from the journal or from
	// the sinks' metadata.
	LastRotation *Rotation
	// StoredTokenID is the token id the sinks hold a value for, if known.
	StoredTokenID string
	// Revoking lists the ids of old tokens recorded for deletion. They are
	// never candidates for a name match.
	Revoking []string
	// Unsaved is true while a value of this token waits in the journal.
	Unsaved bool
	// EmptyTargets lists the targets that hold no value although the
	// journal records an earlier rotation of the token by the daemon. Only
	// a new value can fill them, because no one else has the current one.
	EmptyTargets []TargetRef
	// RollOwed is true when the token's expiry was extended but the roll
	// that should have followed failed.
	RollOwed bool
	// Force requests a rotation now, whatever the schedule.
	Force bool
}

// Decision is the engine's verdict on one managed token.
type Decision struct {
	Policy *Policy
	// Token is the token the entry resolved to, or nil when it did not
	// resolve to exactly one token.
	Token *tokenapi.Token

	Action  Action
	Reasons []Reason
	// Idle is true when the token is unused for longer than idle_after,
	// whatever the action.
	Idle     bool
	IdleFor  time.Duration
	LastUsed time.Time

	LastRotated       time.Time
	LastRotatedSource RotatedSource
	// NextDue is when something is next due: now for a due token, zero when
	// nothing ever will be.
	NextDue time.Time

	ErrKind ErrorKind
	Err     error
}

// Due reports whether the decision requests a rotation.
func (d Decision) Due() bool {
	return d.Action == ActionRotate || d.Action == ActionExtendRoll
}

// ReasonText joins the reasons for display.
func (d Decision) ReasonText() string {
	parts := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		parts[i] = string(r)
	}
	return strings.Join(parts, ", ")
}

// Decide returns what to do about the token a policy entry refers to. It is
// a pure function of its arguments: the same inputs always give the same
// decision, and it performs no I/O.
func Decide(p *Policy, obs Observed, rec Records, now time.Time) Decision {
	d := Decision{Policy: p, Action: ActionNone}
	if obs.Err != nil {
		return d.fail(ErrAPI, fmt.Errorf("read token state: %w", obs.Err))
	}

	tok, kind, err := resolve(p, obs.Tokens, rec)
	if err != nil {
		return d.fail(kind, err)
	}
	d.Token = tok
	if err := tok.TimestampError(); err != nil {
		return d.fail(ErrBadTimestamp, fmt.Errorf("%w; the token is skipped until Cloudflare "+
			"returns a valid timestamp", err))
	}
	if rec.Unsaved {
		return d.fail(ErrUnsavedSecret, fmt.Errorf("token %s (%s): a value from an earlier "+
			"rotation is not yet stored in every target; it is retried from the journal and "+
			"the token is not rotated again until then", tok.ID, tok.Name))
	}

	d.LastRotated, d.LastRotatedSource = lastRotated(tok, rec)
	d.checkIdle(tok, now)

	expires, hasExpiry := tok.ExpiresOn.Time()
	expired := tok.Status == tokenapi.StatusExpired || (hasExpiry && !now.Before(expires))
	switch {
	case expired:
		return d.decideUnusable(ReasonExpired, "has expired", now)
	case tok.Status == tokenapi.StatusDisabled:
		if d.Idle && p.IdleAction == IdleDisable {
			// The engine disabled it (or would have) for being idle.
			d.Action = ActionReportIdle
			return d
		}
		return d.fail(ErrDisabled, fmt.Errorf("token %s (%s) is disabled; enable it in "+
			"Cloudflare or remove it from the policy", tok.ID, tok.Name))
	case !tok.Status.Usable():
		return d.decideUnusable(ReasonStatus, fmt.Sprintf("has status %q", tok.Status), now)
	}

	var due []time.Time
	if p.RenewBefore > 0 && hasExpiry {
		at := expires.Add(-p.RenewBefore)
		due = append(due, at)
		if !now.Before(at) {
			d.Reasons = append(d.Reasons, ReasonExpiring)
		}
	}
	if p.MaxAge > 0 && !d.LastRotated.IsZero() {
		at := d.LastRotated.Add(p.MaxAge)
		due = append(due, at)
		if !now.Before(at) {
			d.Reasons = append(d.Reasons, ReasonMaxAge)
		}
	}
	if p.Schedule != nil && !d.LastRotated.IsZero() {
		if at := nextFire(p.Schedule, d.LastRotated); !at.IsZero() {
			due = append(due, at)
			if !now.Before(at) {
				d.Reasons = append(d.Reasons, ReasonSchedule)
			}
		}
	}
	if len(rec.EmptyTargets) > 0 {
		d.Reasons = append(d.Reasons, ReasonTargetEmpty)
	}
	if rec.RollOwed {
		d.Reasons = append(d.Reasons, ReasonRollOwed)
	}
	if rec.Force {
		d.Reasons = append(d.Reasons, ReasonForced)
	}

	if d.Idle && p.IdleAction == IdleDisable && !rec.Force {
		// Rotating a token that is about to be disabled only makes a new
		// secret that no consumer uses.
		d.Action = ActionDisableIdle
		d.Reasons = nil
		d.NextDue = now
		return d
	}
	if len(d.Reasons) == 0 {
		if d.Idle {
			d.Action = ActionReportIdle
		}
		d.NextDue = earliest(due)
		return d
	}

	d.NextDue = now
	d.Action = ActionRotate
	if !slices.Contains(d.Reasons, ReasonExpiring) {
		return d
	}

	// A new expiry inside renew_before would make the token due again at
	// the next sweep, so it would be rotated at every sweep.
	switch {
	case p.Strategy == StrategyRoll && p.TTL <= p.RenewBefore:
		return d.fail(ErrPolicy, fmt.Errorf("token %s (%s) expires at %s, within renew_before "+
			"(%s), and strategy roll keeps the expiry; set ttl longer than renew_before so "+
			"the token is extended before the roll, or use strategy recreate",
			tok.ID, tok.Name, expires.UTC().Format(time.RFC3339), p.RenewBefore))
	case p.Strategy == StrategyRecreate && p.TTL > 0 && p.TTL <= p.RenewBefore:
		return d.fail(ErrPolicy, fmt.Errorf("token %s (%s): ttl %s is not longer than "+
			"renew_before %s, so a recreated token would be due again at once; raise ttl",
			tok.ID, tok.Name, p.TTL, p.RenewBefore))
	case p.Strategy == StrategyRoll:
		// Rolling keeps expires_on, so the token is extended first.
		d.Action = ActionExtendRoll
	}
	return d
}

// decideUnusable handles a token that can no longer authenticate: only a
// new token helps, so recreate is due and roll is an error.
func (d Decision) decideUnusable(reason Reason, what string, now time.Time) Decision {
	tok := d.Token
	if d.Policy.Strategy == StrategyRecreate {
		d.Action = ActionRotate
		d.Reasons = []Reason{reason}
		d.NextDue = now
		return d
	}
	return d.fail(ErrUnusableStatus, fmt.Errorf("token %s (%s) %s and cannot be rolled; create a new "+
		"token, or set strategy recreate so the daemon replaces it", tok.ID, tok.Name, what))
}

func (d Decision) fail(kind ErrorKind, err error) Decision {
	d.Action = ActionError
	d.Reasons = nil
	d.ErrKind = kind
	d.Err = err
	d.NextDue = time.Time{}
	return d
}

// checkIdle sets the idle fields from last_used_on, or from issued_on for a
// token that was never used.
//
// NOTE: Cloudflare updates last_used_on lazily (it may lag by a day), so
// idle_after is approximate by that much.
func (d *Decision) checkIdle(tok *tokenapi.Token, now time.Time) {
	used, ok := tok.LastUsedOn.Time()
	if !ok {
		used, ok = tok.IssuedOn.Time()
	}
	if !ok {
		return
	}
	d.LastUsed = used
	if d.Policy.IdleAfter <= 0 {
		return
	}
	if idle := now.Sub(used); idle >= d.Policy.IdleAfter {
		d.Idle = true
		d.IdleFor = idle
	}
}

// resolve picks the one token a policy entry refers to.
func resolve(p *Policy, tokens []tokenapi.Token, rec Records) (*tokenapi.Token, ErrorKind, error) {
	if p.ID != "" {
		for i := range tokens {
			if tokens[i].ID == p.ID {
				return &tokens[i], "", nil
			}
		}
		return nil, ErrNotFound, fmt.Errorf("token id %s not found in account %s (%s); it was "+
			"deleted or the id is wrong: fix tokens[].id in the policy", p.ID, p.Account, p.AccountID)
	}

	var candidates []*tokenapi.Token
	for i := range tokens {
		t := &tokens[i]
		if t.Name != p.Name || slices.Contains(rec.Revoking, t.ID) {
			continue
		}
		candidates = append(candidates, t)
	}
	switch len(candidates) {
	case 0:
		return nil, ErrNotFound, fmt.Errorf("no token named %q in account %s (%s); create it "+
			"or fix tokens[].name in the policy", p.Name, p.Account, p.AccountID)
	case 1:
		return candidates[0], "", nil
	}

	// After a recreate the old token shares the name until it is deleted;
	// the id stored in the sinks identifies the current one.
	if rec.StoredTokenID != "" {
		for _, t := range candidates {
			if t.ID == rec.StoredTokenID {
				return t, "", nil
			}
		}
	}
	ids := make([]string, len(candidates))
	for i, t := range candidates {
		ids[i] = t.ID
	}
	slices.Sort(ids)
	return nil, ErrAmbiguous, fmt.Errorf("%d tokens named %q in account %s (%s): %s; select "+
		"one with tokens[].id or rename the others", len(ids), p.Name, p.Account, p.AccountID,
		strings.Join(ids, ", "))
}

// lastRotated returns when the token was last given a new value. The
// daemon's own record wins because it is the only source that means
// "rotated". modified_on also moves when someone edits the token's
// policies. issued_on is the creation time, which is the last rotation only
// for a token that was never rolled. A record about another token id, such
// as the token a recreate replaced, is ignored.
func lastRotated(tok *tokenapi.Token, rec Records) (time.Time, RotatedSource) {
	if r := rec.LastRotation; r != nil && r.TokenID == tok.ID && !r.RotatedAt.IsZero() {
		return r.RotatedAt, RotatedFromRecord
	}
	if t, ok := tok.ModifiedOn.Time(); ok {
		return t, RotatedFromModifiedOn
	}
	if t, ok := tok.IssuedOn.Time(); ok {
		return t, RotatedFromIssuedOn
	}
	return time.Time{}, RotatedUnknown
}

// nextFire returns the first fire time of s after t, skipping a fire whose
// wall-clock reading repeats the one just before it. When clocks fall back,
// a daily "30 2 * * *" fires at both 02:30s, and the token must be rotated
// once per fire time, not twice in one night.
//
// robfig/cron skips a wall-clock time that does not exist (the hour lost
// when clocks spring forward), so such a fire is one day late, not doubled.
func nextFire(s cron.Schedule, t time.Time) time.Time {
	loc := time.UTC
	if spec, ok := s.(*cron.SpecSchedule); ok && spec.Location != nil {
		loc = spec.Location
	}
	next := s.Next(t)
	for i := 0; i < 4 && !next.IsZero() && repeatsWallClock(next.In(loc)); i++ {
		next = s.Next(next)
	}
	return next
}

// repeatsWallClock reports whether an earlier instant, within the largest
// daylight-saving shift in use (two hours), shows the same wall clock as t
// in t's location.
func repeatsWallClock(t time.Time) bool {
	wall := t.Format("2006-01-02 15:04")
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		if t.Add(-back).Format("2006-01-02 15:04") == wall {
			return true
		}
	}
	return false
}

func earliest(times []time.Time) time.Time {
	var out time.Time
	for _, t := range times {
		if out.IsZero() || t.Before(out) {
			out = t
		}
	}
	return out
}
