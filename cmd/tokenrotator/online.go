package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tokenrotator/tokenrotator/internal/app"
	"github.com/tokenrotator/tokenrotator/internal/config"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// checkOnline verifies each account's management token and resolves each
// token selector against the live token list. It reads only: verify, list
// and details. It returns whether everything resolved.
func checkOnline(ctx context.Context, env *environment, cfg *config.Config) bool {
	a, err := app.Build(cfg, app.Options{Getenv: env.getenv, ReadOnly: true})
	if err != nil {
		fmt.Fprintf(env.stderr, "check-config: %v\n", err)
		return false
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.SweepTimeout)
	defer cancel()

	fmt.Fprintln(env.stdout, "\nOnline check:")
	ok := true
	for _, acc := range cfg.Accounts {
		client := a.Clients[acc.Name]
		res, err := client.Verify(ctx)
		switch {
		case err != nil:
			ok = false
			hint := ""
			switch {
			case tokenapi.IsUnauthorized(err):
				hint = "; the management token is not valid: check the account's api_token"
			case tokenapi.IsForbidden(err):
				hint = fmt.Sprintf("; check the account id %s and that the management token "+
					"belongs to that account", acc.ID)
			}
			fmt.Fprintf(env.stdout, "  account %s: management token check failed: %v%s\n",
				acc.Name, err, hint)
			continue
		case res.Status != tokenapi.StatusActive:
			ok = false
			fmt.Fprintf(env.stdout, "  account %s: management token %s has status %q; it must be "+
				"active\n", acc.Name, res.ID, res.Status)
			continue
		}
		fmt.Fprintf(env.stdout, "  account %s: management token %s is active\n", acc.Name, res.ID)

		var listed []tokenapi.Token
		for tok, err := range client.List(ctx, tokenapi.ListOptions{IncludeExpired: true}) {
			if err != nil {
				ok = false
				fmt.Fprintf(env.stdout, "  account %s: listing tokens failed: %v\n", acc.Name, err)
				listed = nil
				break
			}
			listed = append(listed, tok)
		}
		if listed == nil && !ok {
			continue
		}
		for _, t := range cfg.Tokens {
			if t.Account != acc.Name {
				continue
			}
			line, resolved := resolveSelector(ctx, client, t, withoutRevoked(a, t.Account, listed))
			ok = ok && resolved
			fmt.Fprintf(env.stdout, "  %s/%s: %s\n", t.Account, t.Key, line)
		}
	}
	return ok
}

// resolveSelector describes which live token a policy entry selects.
func resolveSelector(ctx context.Context, client *tokenapi.Client, t config.Token,
	listed []tokenapi.Token) (string, bool) {
	if t.ID != "" {
		for _, tok := range listed {
			if tok.ID == t.ID {
				return fmt.Sprintf("token %s (%s), status %s", tok.ID, tok.Name, tok.Status), true
			}
		}
		// Expired tokens drop out of the list, so ask by id before calling it missing.
		tok, err := client.Get(ctx, t.ID)
		switch {
		case tokenapi.IsNotFound(err):
			return fmt.Sprintf("no token with id %s; fix tokens[].id (line %d)", t.ID, t.Line), false
		case err != nil:
			return fmt.Sprintf("reading token %s failed: %v", t.ID, err), false
		}
		return fmt.Sprintf("token %s (%s), status %s", tok.ID, tok.Name, tok.Status), true
	}

	var ids []string
	var match tokenapi.Token
	for _, tok := range listed {
		if tok.Name == t.Name {
			ids = append(ids, tok.ID)
			match = tok
		}
	}
	slices.Sort(ids)
	switch len(ids) {
	case 0:
		return fmt.Sprintf("no token named %q; create it or fix tokens[].name (line %d)", t.Name,
			t.Line), false
	case 1:
		return fmt.Sprintf("token %s, status %s", match.ID, match.Status), true
	}
	return fmt.Sprintf("%d tokens are named %q (%s); select one with tokens[].id (line %d) or "+
		"rename the others", len(ids), t.Name, strings.Join(ids, ", "), t.Line), false
}

// withoutRevoked leaves out the tokens the journal records for deletion,
// such as the old token of a recreate in its grace period, which shares
// the new token's name.
func withoutRevoked(a *app.App, account string, tokens []tokenapi.Token) []tokenapi.Token {
	out := make([]tokenapi.Token, 0, len(tokens))
	for _, t := range tokens {
		if !a.Journal.IsRevoking(account, t.ID) {
			out = append(out, t)
		}
	}
	return out
}
