package rotator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tokenrotator/tokenrotator/sinks"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// deliver writes a rolled value to every target, verifies it and records
// the rotation. A value that some target lacks stays in the journal.
func (r *Rotator) deliver(ctx context.Context, v *view, tr *TokenReport, tok tokenapi.Token,
	value tokenapi.Secret, heldID string) error {
	rec := r.record(v.account, tok, value)
	writes, complete := r.store(ctx, v.policy, heldID, rec, v.stored, v.policy.Targets)
	tr.SinkWrites = append(tr.SinkWrites, writes...)
	if !complete {
		tr.Result = ResultNotStored
		return notStoredError(tok.ID, writes, r.journal.Dir())
	}
	r.step("roll.stored")

	if err := r.verify(ctx, v.account, value); err != nil {
		return fmt.Errorf("token %s was rolled and stored, but the new value does not verify: %w",
			tok.ID, err)
	}
	r.recordRotation(v.policy, tok.ID)
	return nil
}

func (r *Rotator) record(a *Account, tok tokenapi.Token, value tokenapi.Secret) sinks.Record {
	return sinks.Record{
		AccountID: a.Client.AccountID(), TokenID: tok.ID, TokenName: tok.Name,
		Value: value, ExpiresOn: expiryOf(tok), RotatedAt: r.now().UTC(),
	}
}

// notStoredError names the targets that lack a rotated value.
func notStoredError(tokenID string, writes []SinkWrite, stateDir string) error {
	var failed []string
	var errs []error
	for _, w := range writes {
		if w.Result != SinkSuccess {
			failed = append(failed, w.Target.String())
			errs = append(errs, w.Err)
		}
	}
	return fmt.Errorf("token %s has a new value that is not stored in %s; the value is kept in "+
		"the journal in %s and retried at every sweep: %w", tokenID, strings.Join(failed, ", "),
		stateDir, errors.Join(errs...))
}

// store writes rec to each target, each against the state read before the
// rotation, and marks each success in the journal entry heldID.
func (r *Rotator) store(ctx context.Context, p *Policy, heldID string, rec sinks.Record,
	expect map[TargetRef]sinks.Stored, targets []TargetRef) ([]SinkWrite, bool) {
	complete := true
	writes := make([]SinkWrite, 0, len(targets))
	for _, t := range targets {
		w := r.writeTarget(ctx, p.Account, p.Key, t, rec, expect[t])
		writes = append(writes, w)
		if w.Result != SinkSuccess {
			complete = false
			continue
		}
		r.step("target.written")
		if heldID == "" {
			continue
		}
		if _, err := r.journal.MarkStored(heldID, t); err != nil {
			r.log.Error("journal write failed; the target will be written again",
				"token", p.Key, "target", t.String(), "err", err)
		}
	}
	return writes, complete
}

// writeTarget writes rec to one target, retrying failures that may pass
// (a sealed or unreachable Vault) with a doubling backoff.
func (r *Rotator) writeTarget(ctx context.Context, account, key string, t TargetRef,
	rec sinks.Record, expect sinks.Stored) SinkWrite {
	sink := r.sinks[t.Sink]
	backoff := r.sinkBackoff
	for attempt := 1; ; attempt++ {
		_, err := sink.Write(ctx, sinkTarget(t), rec, expect)
		if err == nil {
			r.log.Debug("value stored", "account", account, "token", key,
				"token_id", rec.TokenID, "target", t.String())
			return SinkWrite{Target: t, Result: SinkSuccess}
		}

		w := SinkWrite{Target: t, Result: SinkFailed, Err: err}
		switch {
		case errors.Is(err, sinks.ErrConflict):
			w.Result = SinkConflict
			return w
		case errors.Is(err, sinks.ErrPermissionDenied):
			w.Result = SinkDenied
			return w
		case errors.Is(err, sinks.ErrInvalid), errors.Is(err, sinks.ErrNotFound):
			return w
		}
		if attempt >= r.sinkAttempts {
			return w
		}
		r.log.Warn("sink write failed, retrying", "account", account, "token", key,
			"token_id", rec.TokenID, "target", t.String(), "attempt", attempt, "retry_in", backoff,
			"err", err)
		if err := r.sleep(ctx, backoff); err != nil {
			return w
		}
		backoff *= 2
	}
}

// verify checks a new value with the verify endpoint, with the value as the
// bearer. A fresh value can take a moment to be accepted, so failures are
// retried a few times.
func (r *Rotator) verify(ctx context.Context, a *Account, value tokenapi.Secret) error {
	backoff := r.verifyBackoff
	var last error
	for attempt := 1; attempt <= r.verifyAttempts; attempt++ {
		res, err := a.Client.VerifyValue(ctx, value)
		switch {
		case err != nil:
			last = err
		case res.Status != tokenapi.StatusActive:
			last = fmt.Errorf("verify returned status %q", res.Status)
		default:
			return nil
		}
		if attempt == r.verifyAttempts {
			break
		}
		if err := r.sleep(ctx, backoff); err != nil {
			return fmt.Errorf("%w (stopped waiting: %v)", last, err)
		}
		backoff *= 2
	}
	return fmt.Errorf("after %d attempts: %w", r.verifyAttempts, last)
}

func (r *Rotator) recordRotation(p *Policy, tokenID string) {
	err := r.journal.RecordRotation(Rotation{
		Account: p.Account, TokenKey: p.Key, TokenID: tokenID, RotatedAt: r.now().UTC(),
	})
	if err != nil {
		r.log.Error("journal write failed; the sinks' metadata still records the rotation",
			"token", p.Key, "token_id", tokenID, "err", err)
	}
}
