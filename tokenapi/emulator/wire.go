package emulator

import (
	"encoding/json"
	"time"
)

// The emulator's own wire types. They are written from the API reference, not
// shared with the client package, so that the two check each other.

// envelope is the body of every JSON reply.
type envelope struct {
	Success    bool        `json:"success"`
	Errors     []wireError `json:"errors"`
	Messages   []wireError `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

type wireError struct {
	Code             int          `json:"code"`
	Message          string       `json:"message"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
	Source           *errorSource `json:"source,omitempty"`
	ErrorChain       []wireError  `json:"error_chain,omitempty"`
}

type errorSource struct {
	Pointer string `json:"pointer"`
}

type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
}

// wireToken is a token as the API returns it. LastUsedOn is null until the
// token is first used; ExpiresOn, NotBefore, Condition and Value are left out
// when unset.
type wireToken struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Status     string         `json:"status"`
	IssuedOn   string         `json:"issued_on"`
	ModifiedOn string         `json:"modified_on"`
	LastUsedOn *string        `json:"last_used_on"`
	ExpiresOn  string         `json:"expires_on,omitempty"`
	NotBefore  string         `json:"not_before,omitempty"`
	Policies   []wirePolicy   `json:"policies"`
	Condition  *wireCondition `json:"condition,omitempty"`
	Value      string         `json:"value,omitempty"`
}

type wirePolicy struct {
	ID               string         `json:"id"`
	Effect           string         `json:"effect"`
	PermissionGroups []wireGroupRef `json:"permission_groups"`
	Resources        map[string]any `json:"resources"`
}

type wireGroupRef struct {
	ID   string    `json:"id"`
	Name string    `json:"name,omitempty"`
	Meta *wireMeta `json:"meta,omitempty"`
}

type wireMeta struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireCondition struct {
	RequestIP *wireRequestIP `json:"request_ip,omitempty"`
}

type wireRequestIP struct {
	In    []string `json:"in,omitempty"`
	NotIn []string `json:"not_in,omitempty"`
}

type wireVerify struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	ExpiresOn string `json:"expires_on,omitempty"`
	NotBefore string `json:"not_before,omitempty"`
}

type wirePermissionGroup struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// tokenBody is a create or update request body. Fields are raw so that the
// validator can tell a missing field from a null or a wrongly typed one and
// point at it.
type tokenBody struct {
	Name      json.RawMessage `json:"name"`
	Policies  json.RawMessage `json:"policies"`
	Condition json.RawMessage `json:"condition"`
	ExpiresOn json.RawMessage `json:"expires_on"`
	NotBefore json.RawMessage `json:"not_before"`
	Status    json.RawMessage `json:"status"`
}

type policyBody struct {
	ID               json.RawMessage `json:"id"`
	Effect           json.RawMessage `json:"effect"`
	PermissionGroups json.RawMessage `json:"permission_groups"`
	Resources        json.RawMessage `json:"resources"`
}

type groupRefBody struct {
	ID   json.RawMessage `json:"id"`
	Meta *wireMeta       `json:"meta"`
}

type conditionBody struct {
	RequestIP *struct {
		In    []string `json:"in"`
		NotIn []string `json:"not_in"`
	} `json:"request_ip"`
}

// formatTime formats a timestamp as RFC 3339 in UTC, with a fraction only
// when the time has one.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

func formatOptional(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

// wire returns the token as the API shows it at now, without its value.
func (t *token) wire(now time.Time) wireToken {
	w := wireToken{
		ID:         t.id,
		Name:       t.name,
		Status:     t.statusAt(now),
		IssuedOn:   formatTime(t.issuedOn),
		ModifiedOn: formatTime(t.modifiedOn),
		ExpiresOn:  formatOptional(t.expiresOn),
		NotBefore:  formatOptional(t.notBefore),
		Policies:   []wirePolicy{},
	}
	if !t.lastUsedOn.IsZero() {
		used := formatTime(t.lastUsedOn)
		w.LastUsedOn = &used
	}
	for _, p := range t.policies {
		wp := wirePolicy{ID: p.ID, Effect: p.Effect, Resources: cloneResources(p.Resources)}
		for _, g := range p.PermissionGroups {
			ref := wireGroupRef{ID: g.ID, Name: g.Name}
			if g.Meta != nil {
				ref.Meta = &wireMeta{Key: g.Meta.Key, Value: g.Meta.Value}
			}
			wp.PermissionGroups = append(wp.PermissionGroups, ref)
		}
		w.Policies = append(w.Policies, wp)
	}
	if t.condition != nil {
		w.Condition = &wireCondition{RequestIP: &wireRequestIP{
			In:    t.condition.RequestIPIn,
			NotIn: t.condition.RequestIPNotIn,
		}}
	}
	return w
}
