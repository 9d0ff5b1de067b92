package rotator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// roll gives the token a new value, keeping its id: pre-flight every
// target, extend the expiry if asked, roll, hold the value in the journal,
// write it to every target, verify it and record the rotation.
func (r *Rotator) roll(ctx context.Context, v *view, tr *TokenReport, extend bool) error {
	p := v.policy
	tok := *tr.Decision.Token
	if err := r.preflight(ctx, p); err != nil {
		return err
	}

	if extend {
		extended, err := r.extend(ctx, v, tok)
		if err != nil {
			return err
		}
		tok = extended
	}

	value, heldID, err := r.rollAndHold(ctx, v.account, p, tok)
	if err != nil {
		if extend {
			// The new expiry makes the token look fresh, so without this
			// record it would never get the roll it was due.
			owed := OwedRoll{Account: p.Account, TokenKey: p.Key, TokenID: tok.ID, Since: r.now().UTC()}
			if jerr := r.journal.OweRoll(owed); jerr != nil {
				r.log.Error("journal write failed; the token may not be rolled until it is due "+
					"again", "token", p.Key, "token_id", tok.ID, "err", jerr)
			}
		}
		return err
	}
	tr.NewTokenID = tok.ID
	tr.After = &tok
	return r.deliver(ctx, v, tr, tok, value, heldID)
}

// extend moves the token's expires_on to now + ttl with an update that
// re-sends the whole definition, because rolling never changes the expiry.
func (r *Rotator) extend(ctx context.Context, v *view, tok tokenapi.Token) (tokenapi.Token, error) {
	def, err := tokenapi.DefinitionFromToken(tok)
	if err != nil {
		return tok, fmt.Errorf("extend expiry: %w", err)
	}
	def.ExpiresOn = r.now().Add(v.policy.TTL).UTC().Truncate(1e9)
	def.Status = ""

	opID, err := r.journal.BeginOp(InFlight{
		Kind: OpUpdate, Account: v.policy.Account, TokenKey: v.policy.Key, TokenID: tok.ID,
		TokenName: tok.Name, StartedAt: r.now(), ModifiedOn: modifiedOf(tok),
	})
	if err != nil {
		return tok, fmt.Errorf("extend expiry: nothing was changed: %w", err)
	}
	updated, err := v.account.Client.Update(ctx, tok.ID, def)
	if endErr := r.journal.EndOp(opID); endErr != nil {
		r.log.Error("journal write failed", "op", opID, "err", endErr)
	}
	if err != nil {
		return tok, fmt.Errorf("extend expiry of token %s to %s: %w", tok.ID,
			def.ExpiresOn.Format("2006-01-02T15:04:05Z"), err)
	}
	r.log.Debug("token expiry extended", "account", v.policy.Account, "token", v.policy.Key,
		"token_id", tok.ID, "expires_on", def.ExpiresOn)
	return updated, nil
}

// rollAndHold rolls the token and writes the new value to the journal
// before it returns, so the value survives a crash from then on. A roll
// whose reply was lost is resolved by reading the token back: if
// modified_on moved, the roll happened and its value is lost, so the token
// is rolled again at once, because every consumer now holds a dead value.
func (r *Rotator) rollAndHold(ctx context.Context, a *Account, p *Policy, tok tokenapi.Token) (
	tokenapi.Secret, string, error) {
	before := modifiedOf(tok)
	for attempt := 1; ; attempt++ {
		opID, err := r.journal.BeginOp(InFlight{
			Kind: OpRoll, Account: p.Account, TokenKey: p.Key, TokenID: tok.ID,
			TokenName: tok.Name, StartedAt: r.now(), ModifiedOn: before,
		})
		if err != nil {
			return tokenapi.Secret{}, "", fmt.Errorf("roll: nothing was changed: %w", err)
		}

		r.step("roll.begun")
		value, err := a.Client.Roll(ctx, tok.ID)
		if err == nil {
			r.step("roll.rolled")
			heldID := r.hold(p, tok, value, opID, nil)
			r.step("roll.held")
			return value, heldID, nil
		}
		if !errors.Is(err, tokenapi.ErrOutcomeUnknown) {
			r.endOp(opID)
			return tokenapi.Secret{}, "", err
		}

		after, moved, readErr := r.rolledSince(ctx, a, tok.ID, before)
		if readErr != nil {
			// The operation stays in the journal and is resolved by the
			// next sweep, before the token can be rolled again.
			return tokenapi.Secret{}, "", fmt.Errorf("%w; reading the token back also failed: %v",
				err, readErr)
		}
		if !moved {
			r.endOp(opID)
			return tokenapi.Secret{}, "", fmt.Errorf("%w; the token was read back and did not change",
				err)
		}
		if attempt >= maxRollAttempts {
			// The operation stays in the journal, so the next sweep finds
			// that the roll took effect and rolls again before it decides
			// anything. By then the token may no longer look due, because
			// its modified_on and maybe its expiry have moved.
			return tokenapi.Secret{}, "", fmt.Errorf("roll token %s: the reply of %d rolls in a row "+
				"was lost; the token's current value is unknown and it will be rolled again at the "+
				"next sweep", tok.ID, attempt)
		}
		r.endOp(opID)
		r.log.Warn("roll reply lost after the roll took effect; the new value is lost, rolling again",
			"account", p.Account, "token", p.Key, "token_id", tok.ID, "err", err)
		before = after
	}
}

// rolledSince reads the token back and reports whether its modified_on
// moved past before. An unknown before counts as moved: rolling once more
// only costs a rotation, while wrongly assuming no roll loses the token.
func (r *Rotator) rolledSince(ctx context.Context, a *Account, tokenID string, before *time.Time) (
	*time.Time, bool, error) {
	tok, err := a.Client.Get(ctx, tokenID)
	if err != nil {
		return nil, false, err
	}
	after := modifiedOf(tok)
	if before == nil || after == nil {
		return after, true, nil
	}
	return after, !after.Equal(*before), nil
}

// hold writes a fresh value to the journal with every target pending, and
// ends the operation opID in the same write. It returns the journal id of
// the value, or "" when the journal could not be written. The caller then
// still writes the value to the targets, which is the best left to do.
func (r *Rotator) hold(p *Policy, tok tokenapi.Token, value tokenapi.Secret, opID string,
	thenRevoke *Revocation) string {
	heldID, err := r.journal.HoldValue(Unsaved{
		Account: p.Account, TokenKey: p.Key, TokenID: tok.ID, TokenName: tok.Name,
		Value: value, ExpiresOn: expiryOf(tok), RotatedAt: r.now(), Pending: targetsOf(p),
		ThenRevoke: thenRevoke,
	}, opID)
	if err != nil {
		r.log.Error("journal write failed; the new value is held only in memory until the "+
			"targets have it", "account", p.Account, "token", p.Key, "token_id", tok.ID, "err", err)
		return ""
	}
	return heldID
}

func (r *Rotator) endOp(id string) {
	if err := r.journal.EndOp(id); err != nil {
		r.log.Error("journal write failed", "op", id, "err", err)
	}
}
