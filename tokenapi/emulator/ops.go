package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The operations run with e.mu held, after authorize accepted the bearer.

// List paging limits.
const (
	defaultPerPage = 20
	minPerPage     = 5
	maxPerPage     = 50
)

func (e *Emulator) create(c *call) reply {
	def, errs := e.parseDefinition(c.body, true)
	if len(errs) > 0 {
		return validationReply(errs)
	}
	acct := e.accounts[c.accountID]
	if len(acct.tokens) >= MaxTokensPerAccount {
		return errorReply(http.StatusBadRequest, wireError{
			Code: codeQuota,
			Message: fmt.Sprintf("account %s already holds the maximum of %d tokens",
				c.accountID, MaxTokensPerAccount),
		})
	}

	id, err := e.newID()
	if err != nil {
		return internalError(err)
	}
	value, err := e.newValue()
	if err != nil {
		return internalError(err)
	}
	t := &token{
		accountID:  c.accountID,
		id:         id,
		name:       def.name,
		value:      value,
		status:     StatusActive,
		issuedOn:   stamp(c.now),
		modifiedOn: stamp(c.now),
		expiresOn:  def.expiresOn,
		notBefore:  def.notBefore,
		policies:   def.policies,
		condition:  def.condition,
	}
	acct.tokens[id] = t
	e.byValue[value] = t

	result := t.wire(c.now)
	result.Value = value
	rep := okReply(result, nil)
	rep.tokenID = id
	return rep
}

func (e *Emulator) list(c *call) reply {
	q := c.r.URL.Query()
	var v validator
	page := v.intParam(q.Get("page"), "page", 1, 1, 1<<30)
	perPage := v.intParam(q.Get("per_page"), "per_page", defaultPerPage, minPerPage, maxPerPage)
	direction := q.Get("direction")
	if direction != "" && direction != "asc" && direction != "desc" {
		v.add(codeInvalidQuery, "/direction", "direction must be \"asc\" or \"desc\"")
	}
	includeExpired := false
	if s := q.Get("include_expired"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			v.add(codeInvalidQuery, "/include_expired", "include_expired must be true or false")
		}
		includeExpired = b
	}
	if len(v.errs) > 0 {
		return validationReply(v.errs)
	}

	var matching []*token
	for _, t := range sortedTokens(e.accounts[c.accountID]) {
		if t.statusAt(c.now) == StatusExpired {
			if !includeExpired || c.now.Sub(t.expiresOn) > ExpiredListWindow {
				continue
			}
		}
		matching = append(matching, t)
	}
	if direction == "desc" {
		slices.Reverse(matching)
	}

	result := []wireToken{}
	start := (page - 1) * perPage
	for i := start; i < len(matching) && i < start+perPage; i++ {
		result = append(result, matching[i].wire(c.now))
	}
	return okReply(result, &resultInfo{
		Page:       page,
		PerPage:    perPage,
		Count:      len(result),
		TotalCount: len(matching),
	})
}

// intParam parses an optional integer query parameter within min..max.
func (v *validator) intParam(s, name string, def, min, max int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		v.add(codeInvalidQuery, "/"+name, "%s must be an integer from %d to %d", name, min, max)
		return def
	}
	return n
}

func (e *Emulator) permissionGroups(c *call) reply {
	q := c.r.URL.Query()
	name := q.Get("name")
	scope := q.Get("scope")

	result := []wirePermissionGroup{}
	for _, g := range e.groups {
		if name != "" && !strings.EqualFold(g.Name, name) {
			continue
		}
		if scope != "" && !slices.Contains(g.Scopes, scope) {
			continue
		}
		result = append(result, wirePermissionGroup{
			ID:     g.ID,
			Name:   g.Name,
			Scopes: append([]string{}, g.Scopes...),
		})
	}
	slices.SortFunc(result, func(a, b wirePermissionGroup) int {
		return strings.Compare(a.Name, b.Name)
	})
	return okReply(result, &resultInfo{
		Page:       1,
		PerPage:    len(result),
		Count:      len(result),
		TotalCount: len(result),
	})
}

func (e *Emulator) verify(c *call) reply {
	t := c.bearer
	rep := okReply(wireVerify{
		ID:        t.id,
		Status:    t.statusAt(c.now),
		ExpiresOn: formatOptional(t.expiresOn),
		NotBefore: formatOptional(t.notBefore),
	}, nil)
	rep.tokenID = t.id
	return rep
}

// pathToken returns the token named in the path, or nil when the id is
// malformed or unknown in the account.
func (e *Emulator) pathToken(c *call) *token {
	if !isHexID(c.tokenID) {
		return nil
	}
	return e.accounts[c.accountID].tokens[c.tokenID]
}

func (e *Emulator) details(c *call) reply {
	t := e.pathToken(c)
	if t == nil {
		return notFound(c)
	}
	return okReply(t.wire(c.now), nil)
}

func (e *Emulator) update(c *call) reply {
	t := e.pathToken(c)
	if t == nil {
		return notFound(c)
	}
	def, errs := e.parseDefinition(c.body, false)
	if len(errs) > 0 {
		return validationReply(errs)
	}

	t.name = def.name
	t.policies = def.policies
	t.condition = def.condition
	t.expiresOn = def.expiresOn
	t.notBefore = def.notBefore
	if def.status != "" {
		t.status = def.status
	}
	t.touchModified(c.now)
	return okReply(t.wire(c.now), nil)
}

func (e *Emulator) delete(c *call) reply {
	t := e.pathToken(c)
	if t == nil {
		return notFound(c)
	}
	delete(e.accounts[c.accountID].tokens, t.id)
	delete(e.byValue, t.value)
	delete(e.windows, t.id)
	return okReply(map[string]string{"id": t.id}, nil)
}

func (e *Emulator) roll(c *call) reply {
	t := e.pathToken(c)
	if t == nil {
		return notFound(c)
	}
	if len(strings.TrimSpace(string(c.body))) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(c.body, &obj); err != nil || obj == nil {
			return validationReply([]wireError{{
				Code:    codeMalformedJSON,
				Message: "Malformed JSON in request body; send {}",
			}})
		}
	}

	value, err := e.newValue()
	if err != nil {
		return internalError(err)
	}
	delete(e.byValue, t.value)
	t.value = value
	e.byValue[value] = t
	t.touchModified(c.now)
	return okReply(value, nil)
}

func internalError(err error) reply {
	return errorReply(http.StatusInternalServerError,
		wireError{Code: 10002, Message: "Internal error: " + err.Error()})
}
