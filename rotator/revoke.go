package rotator

import (
	"context"
	"fmt"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// revokeDue deletes every recorded old token whose grace period is over. A
// failed delete stays recorded and marks the rotation that replaced it as
// "old token still live".
func (r *Rotator) revokeDue(ctx context.Context, rep *Report) {
	now := r.now()
	for _, rev := range r.journal.Revocations() {
		if now.Before(rev.DueAt) {
			continue
		}
		a, ok := r.accounts[rev.Account]
		if !ok {
			rep.Errors = append(rep.Errors, fmt.Errorf("delete old token %s: account %q is no longer "+
				"in the policy; add it back or delete the token by hand and remove it from the "+
				"journal", rev.TokenID, rev.Account))
			continue
		}
		if err := r.deleteRecorded(ctx, a, rev); err != nil {
			rep.Errors = append(rep.Errors, err)
			for i := range rep.Tokens {
				t := &rep.Tokens[i]
				if t.Decision.Policy.Account == rev.Account && t.Decision.Policy.Key == rev.TokenKey &&
					t.Result == ResultSuccess {
					t.Result = ResultOldTokenLive
					t.Err = err
				}
			}
		}
	}
}

// revokeNow records a token for deletion and deletes it at once.
func (r *Rotator) revokeNow(ctx context.Context, a *Account, rev Revocation) error {
	if err := r.journal.AddRevocation(rev); err != nil {
		return fmt.Errorf("record token %s for deletion: %w", rev.TokenID, err)
	}
	return r.deleteRecorded(ctx, a, rev)
}

// deleteRecorded deletes a token that is recorded for deletion. A 404
// counts as done, because the token is gone either way.
func (r *Rotator) deleteRecorded(ctx context.Context, a *Account, rev Revocation) error {
	if err := r.journal.CountRevocationAttempt(rev.Account, rev.TokenID); err != nil {
		r.log.Error("journal write failed", "token_id", rev.TokenID, "err", err)
	}
	r.step("revoke.recorded")
	err := a.Client.Delete(ctx, rev.TokenID)
	if err != nil && !tokenapi.IsNotFound(err) {
		return fmt.Errorf("delete old token %s (%s) of account %s: %w; retried at the next sweep",
			rev.TokenID, rev.TokenName, rev.Account, err)
	}
	if err := r.journal.RevocationDone(rev.Account, rev.TokenID); err != nil {
		return fmt.Errorf("token %s was deleted, but the journal could not record it: %w",
			rev.TokenID, err)
	}
	r.log.Info("old token deleted", "account", rev.Account, "token", rev.TokenKey,
		"token_id", rev.TokenID)
	return nil
}
