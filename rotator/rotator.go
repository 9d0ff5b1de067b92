package rotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tokenrotator/tokenrotator/sinks"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// Defaults of Options.
const (
	DefaultSinkAttempts   = 4
	DefaultSinkBackoff    = 2 * time.Second
	DefaultVerifyAttempts = 5
	DefaultVerifyBackoff  = time.Second
	// maxRollAttempts bounds how often a roll whose reply was lost is
	// repeated in one sweep before the rest is left to the next sweep.
	maxRollAttempts = 2
)

// Account is a Cloudflare account the rotator works on.
type Account struct {
	// Name labels the account in the policy, logs and metrics.
	Name   string
	Client *tokenapi.Client
}

// Options configures a Rotator.
type Options struct {
	Accounts []*Account
	Policies []*Policy
	// Sinks maps a sink name to the sink.
	Sinks   map[string]sinks.Sink
	Journal *Journal
	Logger  *slog.Logger

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Sleep waits between sink and verify attempts; nil means a timer that
	// ends early with the context.
	Sleep func(ctx context.Context, d time.Duration) error

	// SinkAttempts is the number of tries of one sink write; the wait
	// between them starts at SinkBackoff and doubles.
	SinkAttempts int
	SinkBackoff  time.Duration
	// VerifyAttempts is the number of tries to verify a new value, which
	// can take a moment to be accepted everywhere.
	VerifyAttempts int
	VerifyBackoff  time.Duration
}

// Rotator carries out the decisions of the engine for a set of policies.
// Its methods are not safe for concurrent use: the daemon runs one sweep
// at a time.
type Rotator struct {
	accounts map[string]*Account
	policies []*Policy
	sinks    map[string]sinks.Sink
	journal  *Journal
	log      *slog.Logger
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error

	sinkAttempts   int
	sinkBackoff    time.Duration
	verifyAttempts int
	verifyBackoff  time.Duration

	// crashPoint, when set by a test, is called at each step where a
	// process could stop; it panics to abandon the run there.
	crashPoint func(point string)
}

// step marks a point where a process could stop mid-rotation.
func (r *Rotator) step(point string) {
	if r.crashPoint != nil {
		r.crashPoint(point)
	}
}

// New checks opts and returns a Rotator.
func New(opts Options) (*Rotator, error) {
	if opts.Journal == nil {
		return nil, errors.New("new rotator: missing journal")
	}
	r := &Rotator{
		accounts:       map[string]*Account{},
		policies:       opts.Policies,
		sinks:          opts.Sinks,
		journal:        opts.Journal,
		log:            opts.Logger,
		now:            opts.Now,
		sleep:          opts.Sleep,
		sinkAttempts:   opts.SinkAttempts,
		sinkBackoff:    opts.SinkBackoff,
		verifyAttempts: opts.VerifyAttempts,
		verifyBackoff:  opts.VerifyBackoff,
	}
	for _, a := range opts.Accounts {
		r.accounts[a.Name] = a
	}
	for _, p := range opts.Policies {
		if _, ok := r.accounts[p.Account]; !ok {
			return nil, fmt.Errorf("new rotator: token %s refers to unknown account %q", p.Key, p.Account)
		}
		for _, t := range p.Targets {
			if _, ok := r.sinks[t.Sink]; !ok {
				return nil, fmt.Errorf("new rotator: token %s refers to unknown sink %q", p.Key, t.Sink)
			}
		}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.sleep == nil {
		r.sleep = sleepContext
	}
	if r.sinkAttempts <= 0 {
		r.sinkAttempts = DefaultSinkAttempts
	}
	if r.sinkBackoff <= 0 {
		r.sinkBackoff = DefaultSinkBackoff
	}
	if r.verifyAttempts <= 0 {
		r.verifyAttempts = DefaultVerifyAttempts
	}
	if r.verifyBackoff <= 0 {
		r.verifyBackoff = DefaultVerifyBackoff
	}
	return r, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Policies returns the policies the rotator manages.
func (r *Rotator) Policies() []*Policy {
	return r.policies
}

// Journal returns the rotator's journal.
func (r *Rotator) Journal() *Journal {
	return r.journal
}

// Sweep replays what the journal owes, decides for every policy and carries
// out every decision that is due. It never returns early: each token's
// failure is recorded in the report and the others go on.
func (r *Rotator) Sweep(ctx context.Context) *Report {
	return r.run(ctx, r.policies, false)
}

// run replays the journal, decides for each of policies and carries out
// every mutating decision, then deletes the old tokens that are due.
func (r *Rotator) run(ctx context.Context, policies []*Policy, force bool) *Report {
	rep := &Report{Started: r.now()}
	r.replay(ctx, rep)

	for _, v := range r.observe(ctx, policies) {
		tr := r.evaluate(v, force)
		if tr.Decision.Action.Mutates() {
			r.act(ctx, v, &tr)
		}
		rep.Tokens = append(rep.Tokens, tr)
	}

	r.revokeDue(ctx, rep)
	r.finish(rep)
	return rep
}

// Plan reads the live state and returns the decision for every policy. It
// changes nothing: no API mutation, no sink write, no journal entry.
func (r *Rotator) Plan(ctx context.Context) *Report {
	rep := &Report{Started: r.now()}
	for _, v := range r.observe(ctx, r.policies) {
		rep.Tokens = append(rep.Tokens, r.evaluate(v, false))
	}
	r.finish(rep)
	return rep
}

// ErrUnknownToken is returned by Rotate for a name no policy entry has.
var ErrUnknownToken = errors.New("no such token in the policy")

// ErrAmbiguousToken is returned by Rotate for a reference that matches
// several policy entries, such as a key that two accounts use. ACCOUNT/KEY
// selects one.
var ErrAmbiguousToken = errors.New("the reference matches several policy entries")

// Rotate rotates one token now, if it is due or force is set. ref is the
// token's key in the policy or its Cloudflare id, optionally prefixed with
// the account name as ACCOUNT/KEY, which is needed when several accounts
// use the same key. The journal is replayed first, so a token with a value
// still owed to a sink is not rotated again.
func (r *Rotator) Rotate(ctx context.Context, ref string, force bool) (*Report, error) {
	account, key, scoped := strings.Cut(ref, "/")
	if !scoped {
		account, key = "", ref
	}
	var matched []*Policy
	for _, p := range r.policies {
		scopedMatch := account != "" && p.Account == account && (p.Key == key || p.ID == key)
		// A name may itself contain "/", so the whole reference is also
		// tried as a key; a reference that fits both ways is ambiguous.
		plainMatch := p.Key == ref || (p.ID != "" && p.ID == ref)
		if scopedMatch || plainMatch {
			matched = append(matched, p)
		}
	}
	switch {
	case len(matched) == 0:
		return nil, fmt.Errorf("rotate %q: %w; use the token's name or id as in the policy, "+
			"or ACCOUNT/NAME", ref, ErrUnknownToken)
	case len(matched) > 1:
		accounts := make([]string, len(matched))
		for i, p := range matched {
			accounts[i] = p.Account + "/" + p.Key
		}
		return nil, fmt.Errorf("rotate %q: %w (%s); name one as ACCOUNT/NAME", ref,
			ErrAmbiguousToken, strings.Join(accounts, ", "))
	}

	return r.run(ctx, matched, force), nil
}

// finish fills the journal counts of a report.
func (r *Rotator) finish(rep *Report) {
	now := r.now()
	rep.Finished = now
	rep.Unsaved = len(r.journal.Unsaved())
	for _, rev := range r.journal.Revocations() {
		rep.RevocationsPending++
		if !now.Before(rev.DueAt) {
			rep.RevocationsOverdue++
		}
	}
}

// evaluate runs the decision engine on an observed view.
func (r *Rotator) evaluate(v *view, force bool) TokenReport {
	rec := v.records
	rec.Force = force
	d := Decide(v.policy, v.observed, rec, r.now())
	if d.Err == nil && v.readErr != nil {
		// A target that cannot be read now cannot take a value either, so
		// the token is reported before it is due, in plan too.
		d = d.fail(ErrSink, v.readErr)
	}
	return TokenReport{Decision: d}
}

// act carries out a mutating decision and records the result in tr.
func (r *Rotator) act(ctx context.Context, v *view, tr *TokenReport) {
	start := r.now()
	d := tr.Decision
	log := r.log.With("account", v.policy.Account, "token", v.policy.Key, "token_id", d.Token.ID)

	var err error
	switch {
	case d.Action == ActionDisableIdle:
		err = r.disableIdle(ctx, v, tr)
	case v.policy.Strategy == StrategyRecreate:
		err = r.recreate(ctx, v, tr)
	default:
		err = r.roll(ctx, v, tr, d.Action == ActionExtendRoll)
	}
	tr.Duration = r.now().Sub(start)
	tr.Err = err
	if tr.Result == "" {
		if err != nil {
			tr.Result = ResultFailed
		} else {
			tr.Result = ResultSuccess
		}
	}
	if tr.Result != ResultFailed && d.Action != ActionDisableIdle {
		tr.RotatedAt = r.now()
	}
	if err != nil {
		tr.ErrKind = ErrAPI
		var sinkErr *sinks.Error
		if errors.As(err, &sinkErr) {
			tr.ErrKind = ErrSink
		}
	}

	attrs := []any{"action", d.Action, "strategy", v.policy.Strategy, "result", tr.Result,
		"duration", tr.Duration.Round(time.Millisecond)}
	if tr.NewTokenID != "" && tr.NewTokenID != d.Token.ID {
		attrs = append(attrs, "new_token_id", tr.NewTokenID)
	}
	if len(d.Reasons) > 0 {
		attrs = append(attrs, "reasons", d.ReasonText())
	}
	if err != nil {
		log.Error("rotation failed", append(attrs, "err", err)...)
		return
	}
	log.Info("rotation finished", attrs...)
}

// disableIdle disables a token that has been idle for longer than idle_after.
func (r *Rotator) disableIdle(ctx context.Context, v *view, tr *TokenReport) error {
	tok := tr.Decision.Token
	def, err := tokenapi.DefinitionFromToken(*tok)
	if err != nil {
		return fmt.Errorf("disable idle token: %w", err)
	}
	def.Status = tokenapi.StatusDisabled
	if _, err := v.account.Client.Update(ctx, tok.ID, def); err != nil {
		return fmt.Errorf("disable idle token %s: %w", tok.ID, err)
	}
	return nil
}

// preflight checks that every target is reachable and writable before any
// mutation.
func (r *Rotator) preflight(ctx context.Context, p *Policy) error {
	var errs []error
	for _, t := range p.Targets {
		if err := r.sinks[t.Sink].Check(ctx, sinkTarget(t)); err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pre-flight check failed, nothing was rotated: %w", errors.Join(errs...))
	}
	return nil
}

func sinkTarget(t TargetRef) sinks.Target {
	return sinks.Target{Path: t.Path, Field: t.Field}
}

func targetsOf(p *Policy) []TargetRef {
	return slices.Clone(p.Targets)
}

func expiryOf(tok tokenapi.Token) *time.Time {
	if t, ok := tok.ExpiresOn.Time(); ok {
		return &t
	}
	return nil
}

func modifiedOf(tok tokenapi.Token) *time.Time {
	if t, ok := tok.ModifiedOn.Time(); ok {
		return &t
	}
	return nil
}
