package rotator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// createSkew is how much earlier than the start of a create a token's
// issued_on may be and still count as made by that create, to allow for
// clock differences with Cloudflare.
const createSkew = 5 * time.Minute

// recreate replaces the token with a new one of the same name, policies and
// condition: pre-flight, create, hold the value, verify it, write it to
// every target, and only then record the old token for deletion after the
// grace period. A new token that cannot be verified or stored anywhere is
// deleted and the old one kept.
func (r *Rotator) recreate(ctx context.Context, v *view, tr *TokenReport) error {
	p := v.policy
	old := *tr.Decision.Token
	if err := r.preflight(ctx, p); err != nil {
		return err
	}

	def, err := tokenapi.DefinitionFromToken(old)
	if err != nil {
		return fmt.Errorf("recreate: %w", err)
	}
	def.Status = ""
	def.NotBefore = time.Time{}
	def.ExpiresOn = time.Time{}
	if p.TTL > 0 {
		def.ExpiresOn = r.now().Add(p.TTL).UTC().Truncate(time.Second)
	}

	dueAt := r.now().Add(p.GracePeriod)
	if !old.Status.Usable() {
		// An expired or revoked token protects no consumer: no grace.
		dueAt = r.now()
	}
	thenRevoke := &Revocation{
		Account: p.Account, TokenKey: p.Key, TokenID: old.ID, TokenName: old.Name,
		DueAt: dueAt.UTC(), RecordedAt: r.now().UTC(),
	}
	created, heldID, err := r.createAndHold(ctx, v, def, thenRevoke)
	if err != nil {
		return err
	}
	tr.NewTokenID = created.ID
	tr.After = &created

	if err := r.verify(ctx, v.account, created.Value); err != nil {
		r.discard(ctx, v, created, heldID)
		return fmt.Errorf("new token %s does not verify, so it was deleted and token %s kept: %w",
			created.ID, old.ID, err)
	}

	r.step("create.verified")
	rec := r.record(v.account, created, created.Value)
	writes, complete := r.store(ctx, p, heldID, rec, v.stored, p.Targets)
	tr.SinkWrites = writes
	if !complete {
		if r.storedNowhere(ctx, p, created, writes) {
			r.discard(ctx, v, created, heldID)
			return fmt.Errorf("new token %s could not be stored in any target, so it was deleted "+
				"and token %s kept: %w", created.ID, old.ID, notStoredError(created.ID, writes, r.journal.Dir()))
		}
		tr.Result = ResultNotStored
		return fmt.Errorf("%w; token %s is deleted only after every target has the new value",
			notStoredError(created.ID, writes, r.journal.Dir()), old.ID)
	}
	r.recordRotation(p, created.ID)
	return nil
}

// createAndHold creates the new token and writes its value to the journal
// before it returns. A create whose reply was lost is resolved by deleting
// any token it made (the value is lost with the reply) and creating once
// more.
func (r *Rotator) createAndHold(ctx context.Context, v *view, def tokenapi.Definition,
	thenRevoke *Revocation) (tokenapi.Token, string, error) {
	p := v.policy
	known := make([]string, 0, len(v.sameName)+1)
	for _, t := range v.sameName {
		known = append(known, t.ID)
	}
	known = append(known, thenRevoke.TokenID)

	for attempt := 1; ; attempt++ {
		op := InFlight{
			Kind: OpCreate, Account: p.Account, TokenKey: p.Key, TokenName: def.Name,
			StartedAt: r.now().UTC(), KnownIDs: known,
		}
		opID, err := r.journal.BeginOp(op)
		if err != nil {
			return tokenapi.Token{}, "", fmt.Errorf("create: nothing was changed: %w", err)
		}
		op.ID = opID

		r.step("create.begun")
		created, err := v.account.Client.Create(ctx, def)
		if err == nil {
			r.step("create.created")
			thenRevoke.ReplacedBy = created.ID
			heldID := r.hold(p, created, created.Value, opID, thenRevoke)
			r.step("create.held")
			return created, heldID, nil
		}
		if !errors.Is(err, tokenapi.ErrOutcomeUnknown) {
			r.endOp(opID)
			return tokenapi.Token{}, "", fmt.Errorf("create replacement for token %s: %w",
				thenRevoke.TokenID, err)
		}

		if cleanErr := r.cleanupCreate(ctx, v.account, op); cleanErr != nil {
			return tokenapi.Token{}, "", fmt.Errorf("create replacement for token %s: %w; removing "+
				"a token the lost create may have made also failed and is retried at the next "+
				"sweep: %v", thenRevoke.TokenID, err, cleanErr)
		}
		r.endOp(opID)
		if attempt >= maxRollAttempts {
			return tokenapi.Token{}, "", fmt.Errorf("create replacement for token %s: the reply "+
				"of %d creates in a row was lost: %w", thenRevoke.TokenID, attempt, err)
		}
		r.log.Warn("create reply lost; any token it made was deleted, creating again",
			"account", p.Account, "token", p.Key, "err", err)
	}
}

// cleanupCreate deletes every token a create whose reply was lost may have
// made: tokens of that name that did not exist before the create, were
// issued after it started, and have no value held in the journal.
func (r *Rotator) cleanupCreate(ctx context.Context, a *Account, op InFlight) error {
	tokens, err := r.listAll(ctx, a)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, u := range r.journal.Unsaved() {
		held[u.TokenID] = true
	}

	var errs []error
	for _, t := range tokens {
		if t.Name != op.TokenName || slices.Contains(op.KnownIDs, t.ID) || held[t.ID] {
			continue
		}
		if issued, ok := t.IssuedOn.Time(); ok && issued.Before(op.StartedAt.Add(-createSkew)) {
			continue
		}
		r.log.Warn("deleting a token made by a create whose reply was lost", "account", op.Account,
			"token", op.TokenKey, "token_id", t.ID)
		if err := r.revokeNow(ctx, a, Revocation{
			Account: op.Account, TokenKey: op.TokenKey, TokenID: t.ID, TokenName: t.Name,
			DueAt: r.now().UTC(), RecordedAt: r.now().UTC(),
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// storedNowhere reports whether no target holds the new token's value. A
// write whose reply was lost may still have landed, so every failed target
// is read back. A target that cannot be read counts as possibly stored.
func (r *Rotator) storedNowhere(ctx context.Context, p *Policy, created tokenapi.Token,
	writes []SinkWrite) bool {
	for _, w := range writes {
		if w.Result == SinkSuccess {
			return false
		}
		st, err := r.sinks[w.Target.Sink].Read(ctx, sinkTarget(w.Target))
		if err != nil || st.TokenID == created.ID || st.Value.Equal(created.Value) {
			return false
		}
	}
	return true
}

// discard deletes a new token that will not be used and drops its value.
// The token is recorded for deletion first, so a failed delete is retried.
func (r *Rotator) discard(ctx context.Context, v *view, created tokenapi.Token, heldID string) {
	rev := Revocation{
		Account: v.policy.Account, TokenKey: v.policy.Key, TokenID: created.ID,
		TokenName: created.Name, DueAt: r.now().UTC(), RecordedAt: r.now().UTC(),
	}
	if err := r.revokeNow(ctx, v.account, rev); err != nil {
		r.log.Error("deleting the unused new token failed; retried at the next sweep",
			"account", v.policy.Account, "token", v.policy.Key, "token_id", created.ID, "err", err)
	}
	if heldID == "" {
		return
	}
	if err := r.journal.DropValue(heldID); err != nil {
		r.log.Error("journal write failed", "token", v.policy.Key, "err", err)
	}
}
