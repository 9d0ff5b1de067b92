package tokenapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// List paging limits of the API.
const (
	MinPerPage = 5
	MaxPerPage = 50
)

// maxListPages stops a list whose server never returns an empty page nor
// reaches total_count. An account holds at most 500 tokens, which is 100
// pages of the smallest page size.
const maxListPages = 1000

// Secret values are 40 to 80 characters; anything else in a create or roll
// reply is not a usable value.
const (
	minValueLength = 40
	maxValueLength = 80
)

// ListOptions configures List and ListPage.
type ListOptions struct {
	// PerPage is the page size, clamped to 5..50; 0 means 50.
	PerPage int
	// IncludeExpired requests recently expired tokens too.
	IncludeExpired bool
	// Direction is "asc", "desc" or "" for the server's default order.
	Direction string
}

func (o ListOptions) query(page int) (url.Values, error) {
	perPage := o.PerPage
	if perPage == 0 {
		perPage = MaxPerPage
	}
	perPage = min(max(perPage, MinPerPage), MaxPerPage)

	q := url.Values{}
	q.Set("page", strconv.Itoa(page))
	q.Set("per_page", strconv.Itoa(perPage))
	if o.IncludeExpired {
		q.Set("include_expired", "true")
	}
	switch o.Direction {
	case "":
	case "asc", "desc":
		q.Set("direction", o.Direction)
	default:
		return nil, fmt.Errorf("invalid direction %q: expected asc, desc or empty",
			o.Direction)
	}
	return q, nil
}

// checkTokenID rejects ids that are not 32 lowercase hex, so that no other
// path can be reached through an id.
func checkTokenID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("invalid token id %q: expected 32 lowercase hex characters", id)
	}
	return nil
}

// Create creates a token from def and returns it with its Value, which
// Cloudflare never returns again. Create is retried only after a 429. When
// its reply is lost the error matches ErrOutcomeUnknown, so the caller must
// look for a new token with that name before creating another.
func (c *Client) Create(ctx context.Context, def Definition) (Token, error) {
	if err := def.Validate(); err != nil {
		return Token{}, fmt.Errorf("create token %q: invalid definition: %w", def.Name, err)
	}
	body, err := def.body(false)
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: encode body: %w", def.Name, err)
	}

	env, err := c.send(ctx, call{
		method: http.MethodPost, endpoint: EndpointCreate, body: body, outcomeMatters: true,
	})
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", def.Name, err)
	}

	token, err := decodeCreated(env.Result)
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", def.Name, &OutcomeUnknownError{
			Method: http.MethodPost, Endpoint: EndpointCreate,
			Cause: &resultError{endpoint: EndpointCreate, err: err},
		})
	}
	return token, nil
}

func decodeCreated(result json.RawMessage) (Token, error) {
	var token Token
	if err := json.Unmarshal(result, &token); err != nil {
		return Token{}, fmt.Errorf("decode token: %v", scrubJSONError(err))
	}
	var withValue struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(result, &withValue); err != nil || withValue.Value == nil {
		return Token{}, fmt.Errorf("token %s: missing value", token.ID)
	}
	if err := checkValue(*withValue.Value); err != nil {
		return Token{}, fmt.Errorf("token %s: %w", token.ID, err)
	}
	token.Value = NewSecret(*withValue.Value)
	return token, nil
}

func checkValue(value string) error {
	n := utf8.RuneCountInString(value)
	if n < minValueLength || n > maxValueLength {
		return fmt.Errorf("value has %d characters, expected %d to %d",
			n, minValueLength, maxValueLength)
	}
	return nil
}

// scrubJSONError drops the text of a JSON decode error, which can quote
// part of the body, and keeps only its kind.
func scrubJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("field %q has JSON type %s, expected %s",
			typeErr.Field, typeErr.Value, typeErr.Type)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Errorf("invalid JSON at byte %d", syntaxErr.Offset)
	}
	return errors.New("invalid JSON")
}

// ListPage fetches one page of tokens; page starts at 1. Entries that
// cannot be read as tokens are reported in Page.Errors and do not fail the
// page.
func (c *Client) ListPage(ctx context.Context, opts ListOptions, page int) (Page, error) {
	if page < 1 {
		return Page{}, fmt.Errorf("list tokens: invalid page %d: pages start at 1", page)
	}
	query, err := opts.query(page)
	if err != nil {
		return Page{}, fmt.Errorf("list tokens: %w", err)
	}

	env, err := c.send(ctx, call{
		method: http.MethodGet, endpoint: EndpointList, query: query, repeatable: true,
	})
	if err != nil {
		return Page{}, fmt.Errorf("list tokens page %d: %w", page, err)
	}

	var entries []json.RawMessage
	if err := json.Unmarshal(env.Result, &entries); err != nil {
		return Page{}, fmt.Errorf("list tokens page %d: %w", page,
			&resultError{endpoint: EndpointList, err: scrubJSONError(err)})
	}
	out := Page{Tokens: make([]Token, 0, len(entries))}
	if env.ResultInfo != nil {
		out.Info = *env.ResultInfo
	}
	for i, raw := range entries {
		var token Token
		if err := json.Unmarshal(raw, &token); err != nil {
			out.Errors = append(out.Errors, fmt.Errorf("list tokens page %d entry %d: %w",
				page, i, &resultError{endpoint: EndpointList, err: scrubJSONError(err)}))
			continue
		}
		out.Tokens = append(out.Tokens, token)
	}
	return out, nil
}

// List returns every token of the account, reading page after page until
// a page is empty or total_count tokens were seen. An entry that cannot be
// read yields its error and the listing goes on; a failed request yields
// its error and ends the listing. A token missing from the list is not
// proof that it was deleted: expired tokens can be left out, so ask Get.
func (c *Client) List(ctx context.Context, opts ListOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		seen := 0
		for page := 1; ; page++ {
			if page > maxListPages {
				yield(Token{}, fmt.Errorf("list tokens: stopped after %d pages: the server "+
					"returned neither an empty page nor total_count", maxListPages))
				return
			}

			p, err := c.ListPage(ctx, opts, page)
			if err != nil {
				yield(Token{}, err)
				return
			}
			if len(p.Tokens) == 0 && len(p.Errors) == 0 {
				return
			}
			for _, token := range p.Tokens {
				if !yield(token, nil) {
					return
				}
			}
			for _, err := range p.Errors {
				if !yield(Token{}, err) {
					return
				}
			}

			seen += len(p.Tokens) + len(p.Errors)
			if p.Info.TotalCount > 0 && seen >= p.Info.TotalCount {
				return
			}
		}
	}
}

// PermissionGroups returns the permission groups that tokens of the
// account can be granted.
func (c *Client) PermissionGroups(ctx context.Context) ([]PermissionGroup, error) {
	env, err := c.send(ctx, call{
		method: http.MethodGet, endpoint: EndpointPermissionGroups,
		suffix: "/permission_groups", repeatable: true,
	})
	if err != nil {
		return nil, fmt.Errorf("list permission groups: %w", err)
	}

	var groups []PermissionGroup
	if err := json.Unmarshal(env.Result, &groups); err != nil {
		return nil, fmt.Errorf("list permission groups: %w",
			&resultError{endpoint: EndpointPermissionGroups, err: scrubJSONError(err)})
	}
	return groups, nil
}

// Verify checks the management token itself.
func (c *Client) Verify(ctx context.Context) (VerifyResult, error) {
	result, err := c.verify(ctx, Secret{})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify management token: %w", err)
	}
	return result, nil
}

// VerifyValue checks value, such as a freshly issued token value, by
// sending it as the bearer token to the account verify endpoint. A
// rejected value is an *APIError for which IsUnauthorized is true.
func (c *Client) VerifyValue(ctx context.Context, value Secret) (VerifyResult, error) {
	if value.IsZero() {
		return VerifyResult{}, errors.New("verify token value: missing value")
	}
	result, err := c.verify(ctx, value)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify token value: %w", err)
	}
	return result, nil
}

func (c *Client) verify(ctx context.Context, bearer Secret) (VerifyResult, error) {
	env, err := c.send(ctx, call{
		method: http.MethodGet, endpoint: EndpointVerify, suffix: "/verify",
		bearer: bearer, repeatable: true,
	})
	if err != nil {
		return VerifyResult{}, err
	}

	var result VerifyResult
	if err := json.Unmarshal(env.Result, &result); err != nil {
		return VerifyResult{}, &resultError{endpoint: EndpointVerify, err: scrubJSONError(err)}
	}
	return result, nil
}

// Get returns the details of one token, without its value.
func (c *Client) Get(ctx context.Context, tokenID string) (Token, error) {
	if err := checkTokenID(tokenID); err != nil {
		return Token{}, fmt.Errorf("get token: %w", err)
	}

	env, err := c.send(ctx, call{
		method: http.MethodGet, endpoint: EndpointDetails, suffix: "/" + tokenID,
		tokenID: tokenID, repeatable: true,
	})
	if err != nil {
		return Token{}, fmt.Errorf("get token %s: %w", tokenID, err)
	}
	return decodeToken(env, EndpointDetails, tokenID)
}

func decodeToken(env *envelope, endpoint, tokenID string) (Token, error) {
	var token Token
	if err := json.Unmarshal(env.Result, &token); err != nil {
		return Token{}, fmt.Errorf("%s token %s: %w", endpoint, tokenID,
			&resultError{endpoint: endpoint, err: scrubJSONError(err)})
	}
	return token, nil
}

// Update replaces the definition of a token: send every optional field to
// keep, for example a Definition from DefinitionFromToken. Set
// def.Status to StatusDisabled to disable the token. Update is retried,
// because sending the same definition twice has the same effect.
func (c *Client) Update(ctx context.Context, tokenID string, def Definition) (Token, error) {
	if err := checkTokenID(tokenID); err != nil {
		return Token{}, fmt.Errorf("update token: %w", err)
	}
	if err := def.Validate(); err != nil {
		return Token{}, fmt.Errorf("update token %s: invalid definition: %w", tokenID, err)
	}
	body, err := def.body(true)
	if err != nil {
		return Token{}, fmt.Errorf("update token %s: encode body: %w", tokenID, err)
	}

	env, err := c.send(ctx, call{
		method: http.MethodPut, endpoint: EndpointUpdate, suffix: "/" + tokenID,
		body: body, tokenID: tokenID, repeatable: true,
	})
	if err != nil {
		return Token{}, fmt.Errorf("update token %s: %w", tokenID, err)
	}
	return decodeToken(env, EndpointUpdate, tokenID)
}

// Delete deletes a token. A retried delete whose first attempt went
// through gets a 404, so callers that delete an old token treat an error
// for which IsNotFound is true as done.
func (c *Client) Delete(ctx context.Context, tokenID string) error {
	if err := checkTokenID(tokenID); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}

	_, err := c.send(ctx, call{
		method: http.MethodDelete, endpoint: EndpointDelete, suffix: "/" + tokenID,
		tokenID: tokenID, repeatable: true,
	})
	if err != nil {
		return fmt.Errorf("delete token %s: %w", tokenID, err)
	}
	return nil
}

// Roll issues a new value for a token and returns it; the previous value
// stops working at once, and the id, policies and expiry stay. Roll is
// retried only after a 429. When its reply is lost the error matches
// ErrOutcomeUnknown, so the caller must compare modified_on before rolling
// again.
func (c *Client) Roll(ctx context.Context, tokenID string) (Secret, error) {
	if err := checkTokenID(tokenID); err != nil {
		return Secret{}, fmt.Errorf("roll token: %w", err)
	}

	env, err := c.send(ctx, call{
		method: http.MethodPut, endpoint: EndpointRoll, suffix: "/" + tokenID + "/value",
		body: []byte("{}"), tokenID: tokenID, outcomeMatters: true,
	})
	if err != nil {
		return Secret{}, fmt.Errorf("roll token %s: %w", tokenID, err)
	}

	var value string
	err = json.Unmarshal(env.Result, &value)
	if err == nil {
		err = checkValue(value)
	} else {
		err = scrubJSONError(err)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("roll token %s: %w", tokenID, &OutcomeUnknownError{
			Method: http.MethodPut, Endpoint: EndpointRoll, TokenID: tokenID,
			Cause: &resultError{endpoint: EndpointRoll, err: err},
		})
	}
	return NewSecret(value), nil
}
