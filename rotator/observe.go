package rotator

import (
	"context"
	"fmt"
	"slices"

	"github.com/tokenrotator/tokenrotator/sinks"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// view is everything the rotator read about one policy entry before it
// decides: the live tokens, the sinks' state and the daemon's records.
type view struct {
	policy   *Policy
	account  *Account
	observed Observed
	records  Records
	// stored is the state of each target when the view was read; writes
	// use it for check-and-set.
	stored map[TargetRef]sinks.Stored
	// readErr is set when a target could not be read, so a rotation would
	// have no check-and-set base.
	readErr error
	// sameName lists every live token with the entry's name, for finding
	// a token that a lost create made.
	sameName []tokenapi.Token
}

// observe reads the live state of every policy's account once, then each
// policy's sinks and records.
func (r *Rotator) observe(ctx context.Context, policies []*Policy) []*view {
	type listing struct {
		tokens []tokenapi.Token
		err    error
	}
	listings := map[string]*listing{}
	for _, p := range policies {
		if _, done := listings[p.Account]; done {
			continue
		}
		l := &listing{}
		l.tokens, l.err = r.listAll(ctx, r.accounts[p.Account])
		listings[p.Account] = l
	}

	views := make([]*view, 0, len(policies))
	for _, p := range policies {
		v := &view{policy: p, account: r.accounts[p.Account], stored: map[TargetRef]sinks.Stored{}}
		r.readRecords(ctx, v)
		l := listings[p.Account]
		if l.err != nil {
			v.observed.Err = l.err
		} else {
			r.selectTokens(ctx, v, l.tokens)
		}
		views = append(views, v)
	}
	return views
}

// listAll reads every page of the account's token list, recently expired
// tokens included.
func (r *Rotator) listAll(ctx context.Context, a *Account) ([]tokenapi.Token, error) {
	var out []tokenapi.Token
	for tok, err := range a.Client.List(ctx, tokenapi.ListOptions{IncludeExpired: true}) {
		switch {
		case tokenapi.IsUnauthorized(err):
			return nil, fmt.Errorf("list tokens of account %s (%s): %w; the management token is "+
				"not valid: check the account's api_token", a.Name, a.Client.AccountID(), err)
		case tokenapi.IsForbidden(err):
			return nil, fmt.Errorf("list tokens of account %s (%s): %w; check the account's id and "+
				"that its management token has Account API Tokens Write on that account",
				a.Name, a.Client.AccountID(), err)
		case err != nil:
			return nil, fmt.Errorf("list tokens of account %s: %w", a.Name, err)
		}
		out = append(out, tok)
	}
	return out, nil
}

// selectTokens fills v.observed with the tokens the entry may refer to. A
// token the daemon has a record of but that is missing from the list is looked
// up by id, because expired tokens drop out of the list.
func (r *Rotator) selectTokens(ctx context.Context, v *view, listed []tokenapi.Token) {
	p := v.policy
	var wanted []string
	if p.ID != "" {
		wanted = append(wanted, p.ID)
	} else {
		for _, t := range listed {
			if t.Name == p.Name {
				v.observed.Tokens = append(v.observed.Tokens, t)
			}
		}
		if v.records.StoredTokenID != "" {
			wanted = append(wanted, v.records.StoredTokenID)
		}
		if rec := v.records.LastRotation; rec != nil && rec.TokenID != "" {
			wanted = append(wanted, rec.TokenID)
		}
	}

	for _, id := range wanted {
		if i := slices.IndexFunc(listed, func(t tokenapi.Token) bool { return t.ID == id }); i >= 0 {
			if p.ID != "" {
				v.observed.Tokens = append(v.observed.Tokens, listed[i])
			}
			continue
		}
		if slices.ContainsFunc(v.observed.Tokens, func(t tokenapi.Token) bool { return t.ID == id }) {
			continue
		}
		tok, err := v.account.Client.Get(ctx, id)
		switch {
		case tokenapi.IsNotFound(err):
			continue
		case err != nil:
			v.observed.Err = fmt.Errorf("get token %s: %w", id, err)
			return
		}
		if p.ID != "" || tok.Name == p.Name {
			v.observed.Tokens = append(v.observed.Tokens, tok)
		}
	}
	v.sameName = slices.Clone(v.observed.Tokens)
}

// readRecords fills v.records from the journal and the targets' metadata.
// The newest rotation record of all sources wins.
func (r *Rotator) readRecords(ctx context.Context, v *view) {
	p := v.policy
	rec := &v.records
	last, rotatedBefore := r.journal.LastRotation(p.Account, p.Key)
	if rotatedBefore {
		rec.LastRotation = &last
	}
	for _, rev := range r.journal.Revocations() {
		if rev.Account == p.Account {
			rec.Revoking = append(rec.Revoking, rev.TokenID)
		}
	}
	rec.Unsaved = r.journal.HasUnsaved(p.Account, p.Key)
	rec.RollOwed = r.journal.RollOwed(p.Account, p.Key)

	var newest sinks.Stored
	for _, t := range p.Targets {
		st, err := r.sinks[t.Sink].Read(ctx, sinkTarget(t))
		if err != nil {
			if v.readErr == nil {
				v.readErr = fmt.Errorf("read target %s: %w", t, err)
			}
			continue
		}
		v.stored[t] = st
		// An emptied file or a removed field leaves no value either.
		if (!st.Exists || st.Value.IsZero()) && rotatedBefore {
			rec.EmptyTargets = append(rec.EmptyTargets, t)
		}
		if st.TokenID != "" && st.RotatedAt.After(newest.RotatedAt) {
			newest = st
		}
	}
	if newest.TokenID == "" {
		return
	}
	rec.StoredTokenID = newest.TokenID
	if rec.LastRotation == nil || newest.RotatedAt.After(rec.LastRotation.RotatedAt) {
		rec.LastRotation = &Rotation{
			Account: p.Account, TokenKey: p.Key, TokenID: newest.TokenID, RotatedAt: newest.RotatedAt,
		}
	}
}
