package rotator

import (
	"context"
	"fmt"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// replay finishes what the journal owes before anything new is decided:
// it resolves mutations whose outcome was never recorded, then writes held
// values to the targets that lack them.
func (r *Rotator) replay(ctx context.Context, rep *Report) {
	for _, op := range r.journal.InFlight() {
		r.resolveOp(ctx, op, rep)
	}
	for _, u := range r.journal.Unsaved() {
		rep.Replayed = append(rep.Replayed, r.replayValue(ctx, u))
	}
}

func (r *Rotator) policyFor(account, key string) *Policy {
	for _, p := range r.policies {
		if p.Account == account && p.Key == key {
			return p
		}
	}
	return nil
}

// resolveOp finds out what became of a mutation that was started but whose
// result was never recorded, for example because the process stopped while
// the request was in flight.
func (r *Rotator) resolveOp(ctx context.Context, op InFlight, rep *Report) {
	a, ok := r.accounts[op.Account]
	if !ok {
		rep.Errors = append(rep.Errors, fmt.Errorf("resolve interrupted %s of token %s: account %q "+
			"is no longer in the policy; add it back so the daemon can check the token",
			op.Kind, op.TokenKey, op.Account))
		return
	}
	log := r.log.With("account", op.Account, "token", op.TokenKey, "token_id", op.TokenID, "op", op.Kind)

	switch op.Kind {
	case OpUpdate:
		// An update re-sends the whole definition, so the next decision
		// works from whichever state it left.
		r.endOp(op.ID)
	case OpCreate:
		if err := r.cleanupCreate(ctx, a, op); err != nil {
			rep.Errors = append(rep.Errors, fmt.Errorf("resolve interrupted create of token %s: %w",
				op.TokenKey, err))
			return
		}
		log.Info("interrupted create resolved")
		r.endOp(op.ID)
	case OpRoll:
		r.resolveRoll(ctx, a, op, rep)
	default:
		rep.Errors = append(rep.Errors, fmt.Errorf("journal contains an operation of unknown kind %q; "+
			"it was written by a newer tokenrotator", op.Kind))
	}
}

// resolveRoll reads a token back after an interrupted roll. If modified_on
// moved, the roll happened and its value is lost, so every consumer holds a
// dead value: the token is rolled again at once and the value stored.
func (r *Rotator) resolveRoll(ctx context.Context, a *Account, op InFlight, rep *Report) {
	_, moved, err := r.rolledSince(ctx, a, op.TokenID, op.ModifiedOn)
	switch {
	case tokenapi.IsNotFound(err):
		r.endOp(op.ID)
		return
	case err != nil:
		rep.Errors = append(rep.Errors, fmt.Errorf("resolve interrupted roll of token %s (%s): %w; "+
			"the token is not rolled until it is resolved", op.TokenID, op.TokenKey, err))
		return
	case !moved:
		r.log.Info("interrupted roll did not take effect", "account", op.Account,
			"token", op.TokenKey, "token_id", op.TokenID)
		r.endOp(op.ID)
		return
	}

	res := Replay{Account: op.Account, TokenKey: op.TokenKey, TokenID: op.TokenID, What: string(OpRoll)}
	defer func() { rep.Replayed = append(rep.Replayed, res) }()
	p := r.policyFor(op.Account, op.TokenKey)
	if p == nil {
		r.endOp(op.ID)
		res.Result = ResultFailed
		res.Err = fmt.Errorf("token %s was rolled but the value was lost, and it is no longer in "+
			"the policy: roll it by hand and update its consumers", op.TokenID)
		return
	}

	views := r.observe(ctx, []*Policy{p})
	v := views[0]
	var tok *tokenapi.Token
	for i := range v.observed.Tokens {
		if v.observed.Tokens[i].ID == op.TokenID {
			tok = &v.observed.Tokens[i]
		}
	}
	if v.observed.Err != nil || tok == nil {
		res.Result = ResultFailed
		res.Err = fmt.Errorf("token %s was rolled but the value was lost; reading it again "+
			"failed, retried at the next sweep: %v", op.TokenID, v.observed.Err)
		return
	}

	r.log.Warn("an interrupted roll took effect and its value was lost; rolling again",
		"account", op.Account, "token", op.TokenKey, "token_id", op.TokenID)
	r.endOp(op.ID)
	tr := TokenReport{Decision: Decision{
		Policy: p, Token: tok, Action: ActionRotate, Reasons: []Reason{ReasonLostValue},
	}}
	err = r.roll(ctx, v, &tr, false)
	res.SinkWrites = tr.SinkWrites
	res.Err = err
	res.Result = tr.Result
	if res.Result == "" {
		res.Result = ResultSuccess
		if err != nil {
			res.Result = ResultFailed
		}
	}
}

// replayValue writes a held value to the targets that lack it. The value is
// verified first. A rejected value whose token was deleted or changed since
// is dropped, because storing it would overwrite a live value. Any other
// rejected value is kept for the next sweep. A value that verifies is
// written against the target's current state, because it is the only live
// value of its token.
func (r *Rotator) replayValue(ctx context.Context, u Unsaved) Replay {
	res := Replay{Account: u.Account, TokenKey: u.TokenKey, TokenID: u.TokenID, What: "value",
		Result: ResultNotStored}
	log := r.log.With("account", u.Account, "token", u.TokenKey, "token_id", u.TokenID)
	a, ok := r.accounts[u.Account]
	if !ok {
		res.Err = fmt.Errorf("held value of token %s: account %q is no longer in the policy; add it "+
			"back so the value can be verified and stored", u.TokenID, u.Account)
		return res
	}

	if err := r.verify(ctx, a, u.Value); err != nil {
		replaced, readErr := false, error(nil)
		if tokenapi.IsUnauthorized(err) {
			replaced, readErr = r.heldTokenReplaced(ctx, a, u)
		}
		if !replaced {
			if readErr != nil {
				err = fmt.Errorf("%w; reading the token back also failed: %v", err, readErr)
			}
			res.Err = fmt.Errorf("held value of token %s could not be verified, kept for the next "+
				"sweep: %w", u.TokenID, err)
			return res
		}
		log.Error("held value no longer authenticates, and its token was rolled or deleted "+
			"elsewhere; dropping it", "err", err)
		if dropErr := r.journal.DropValue(u.ID); dropErr != nil {
			log.Error("journal write failed", "err", dropErr)
		}
		res.Result = ResultFailed
		res.Err = fmt.Errorf("held value of token %s no longer authenticates and was dropped: %w",
			u.TokenID, err)
		return res
	}

	rec := r.record(a, tokenapi.Token{ID: u.TokenID, Name: u.TokenName}, u.Value)
	rec.ExpiresOn = u.ExpiresOn
	rec.RotatedAt = u.RotatedAt
	if err := r.journal.CountAttempt(u.ID); err != nil {
		log.Error("journal write failed", "err", err)
	}

	complete := false
	for _, t := range u.Pending {
		sink, ok := r.sinks[t.Sink]
		if !ok {
			res.SinkWrites = append(res.SinkWrites, SinkWrite{Target: t, Result: SinkFailed,
				Err: fmt.Errorf("sink %q is no longer in the policy", t.Sink)})
			continue
		}
		current, err := sink.Read(ctx, sinkTarget(t))
		if err != nil {
			res.SinkWrites = append(res.SinkWrites, SinkWrite{Target: t, Result: SinkFailed, Err: err})
			continue
		}
		w := r.writeTarget(ctx, u.Account, u.TokenKey, t, rec, current)
		res.SinkWrites = append(res.SinkWrites, w)
		if w.Result != SinkSuccess {
			continue
		}
		done, err := r.journal.MarkStored(u.ID, t)
		if err != nil {
			log.Error("journal write failed", "err", err)
		}
		complete = complete || done
	}

	if !complete {
		res.Err = notStoredError(u.TokenID, res.SinkWrites, r.journal.Dir())
		return res
	}
	res.Result = ResultSuccess
	if err := r.journal.RecordRotation(Rotation{Account: u.Account, TokenKey: u.TokenKey,
		TokenID: u.TokenID, RotatedAt: u.RotatedAt}); err != nil {
		log.Error("journal write failed", "err", err)
	}
	log.Info("held value stored in every target")
	return res
}

// heldTokenReplaced reports whether the token of a held value was deleted,
// or modified after the value was held, so the value can never work again.
// Verify may reject a fresh value for a moment, so an unchanged token keeps
// its held value.
//
// NOTE: a change within createSkew of the hold (someone rolling the token
// by hand minutes after the daemon did) is taken for the daemon's own roll,
// so that value is kept and reported at every sweep until a person acts.
func (r *Rotator) heldTokenReplaced(ctx context.Context, a *Account, u Unsaved) (bool, error) {
	tok, err := a.Client.Get(ctx, u.TokenID)
	if tokenapi.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	modified, ok := tok.ModifiedOn.Time()
	return ok && modified.After(u.RotatedAt.Add(createSkew)), nil
}
