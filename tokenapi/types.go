package tokenapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Status is the state Cloudflare reports for a token. Values other than the
// constants below are kept as they arrive and count as not usable.
type Status string

// Token statuses documented by Cloudflare.
const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
	StatusExpired  Status = "expired"
)

// Usable reports whether a token with this status authenticates requests.
// Only "active" is usable; an unknown status is treated as not usable.
func (s Status) Usable() bool {
	return s == StatusActive
}

// Known reports whether s is one of the documented statuses.
func (s Status) Known() bool {
	switch s {
	case StatusActive, StatusDisabled, StatusExpired:
		return true
	}
	return false
}

// Effect is whether a policy allows or denies its permission groups.
type Effect string

// Policy effects.
const (
	EffectAllow Effect = "allow"
	EffectDeny  Effect = "deny"
)

// PermissionGroupMeta is the optional key and value that narrow a
// permission group inside a policy.
type PermissionGroupMeta struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// PermissionGroup is a named set of permissions. Inside a policy it carries
// an id, a read-only name and an optional Meta; the permission groups
// endpoint also fills Scopes.
type PermissionGroup struct {
	ID     string               `json:"id"`
	Name   string               `json:"name,omitempty"`
	Meta   *PermissionGroupMeta `json:"meta,omitempty"`
	Scopes []string             `json:"scopes,omitempty"`
}

// Policy grants or denies permission groups on resources. ID is read-only:
// it is never sent in a create or update body.
type Policy struct {
	ID               string            `json:"id,omitempty"`
	Effect           Effect            `json:"effect"`
	PermissionGroups []PermissionGroup `json:"permission_groups"`
	Resources        Resources         `json:"resources"`
}

// Resources maps a resource key, such as
// "com.cloudflare.api.account.<account id>", to a ResourceValue.
type Resources map[string]ResourceValue

// ResourceValue is either a string (normally "*") or a nested Resources map.
// It encodes back to the same JSON it was decoded from.
type ResourceValue struct {
	// Scope is the string form, such as "*". It is ignored when Nested is
	// not nil.
	Scope string
	// Nested is the map form; nil means the value is the string Scope.
	Nested Resources
}

// Wildcard returns the ResourceValue "*", which grants the whole resource.
func Wildcard() ResourceValue {
	return ResourceValue{Scope: "*"}
}

// NestedResources returns a ResourceValue that holds the map r.
func NestedResources(r Resources) ResourceValue {
	if r == nil {
		r = Resources{}
	}
	return ResourceValue{Nested: r}
}

// MarshalJSON encodes the nested map when Nested is set and the string
// Scope otherwise.
func (v ResourceValue) MarshalJSON() ([]byte, error) {
	if v.Nested != nil {
		return json.Marshal(map[string]ResourceValue(v.Nested))
	}
	return json.Marshal(v.Scope)
}

// UnmarshalJSON accepts a JSON string or a JSON object.
func (v *ResourceValue) UnmarshalJSON(data []byte) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		nested := Resources{}
		if err := json.Unmarshal(trimmed, &nested); err != nil {
			return fmt.Errorf("decode nested resources: %w", err)
		}
		*v = ResourceValue{Nested: nested}
		return nil
	}

	var scope string
	if err := json.Unmarshal(trimmed, &scope); err != nil {
		return fmt.Errorf("decode resource value %.40q: expected a string or an object",
			string(trimmed))
	}
	*v = ResourceValue{Scope: scope}
	return nil
}

// RequestIPCondition lists the client addresses, as CIDR ranges of IPv4 or
// IPv6, that a token may or may not be used from.
type RequestIPCondition struct {
	In    []string `json:"in,omitempty"`
	NotIn []string `json:"not_in,omitempty"`
}

// IsZero reports whether the condition lists no range.
func (c RequestIPCondition) IsZero() bool {
	return len(c.In) == 0 && len(c.NotIn) == 0
}

// Condition restricts where a token may be used from.
type Condition struct {
	RequestIP *RequestIPCondition `json:"request_ip,omitempty"`
}

// IsZero reports whether the condition restricts nothing.
func (c Condition) IsZero() bool {
	return c.RequestIP == nil || c.RequestIP.IsZero()
}

// Token is an account-owned API token as Cloudflare returns it. Value is
// set only in the reply to Create; every other call leaves it empty.
type Token struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Status     Status    `json:"status"`
	IssuedOn   Timestamp `json:"issued_on,omitzero"`
	ModifiedOn Timestamp `json:"modified_on,omitzero"`
	LastUsedOn Timestamp `json:"last_used_on,omitzero"`
	ExpiresOn  Timestamp `json:"expires_on,omitzero"`
	NotBefore  Timestamp `json:"not_before,omitzero"`
	Policies   []Policy  `json:"policies"`
	Condition  Condition `json:"condition,omitzero"`
	Value      Secret    `json:"-"`
}

// TimestampError returns an error naming every timestamp field of t that
// held text that is not RFC 3339, or nil when all of them are valid or
// unset. Such a token must be handled alone, for example reported and
// skipped, and never read as expired.
func (t Token) TimestampError() error {
	fields := []struct {
		name string
		ts   Timestamp
	}{
		{"issued_on", t.IssuedOn},
		{"modified_on", t.ModifiedOn},
		{"last_used_on", t.LastUsedOn},
		{"expires_on", t.ExpiresOn},
		{"not_before", t.NotBefore},
	}

	var errs []error
	for _, f := range fields {
		if err := f.ts.Err(); err != nil {
			errs = append(errs, &TimestampError{TokenID: t.ID, Field: f.name, Raw: f.ts.raw})
		}
	}
	return errors.Join(errs...)
}

// TimestampError reports a token timestamp whose text could not be parsed.
type TimestampError struct {
	TokenID string
	Field   string
	Raw     string
}

// Error names the token, the field and the text it held.
func (e *TimestampError) Error() string {
	return fmt.Sprintf("token %s: invalid %s timestamp %.64q: expected RFC 3339 such as "+
		"2026-01-02T03:04:05Z", e.TokenID, e.Field, e.Raw)
}

// VerifyResult is the reply of the verify endpoint for the bearer token of
// the request.
type VerifyResult struct {
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	ExpiresOn Timestamp `json:"expires_on,omitzero"`
	NotBefore Timestamp `json:"not_before,omitzero"`
}

// ResultInfo is the paging information of a list reply.
type ResultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
}

// Page is one page of the token list.
type Page struct {
	Tokens []Token
	// Errors holds one decode error per entry of the page that could not
	// be read as a token; the other entries are still in Tokens.
	Errors []error
	Info   ResultInfo
}
