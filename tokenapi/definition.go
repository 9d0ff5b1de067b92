package tokenapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// maxTokenNameLength is the longest token name Cloudflare accepts, in
// characters.
const maxTokenNameLength = 120

// Definition is the body of a create or update request: everything about a
// token that a client may set. Policy ids and permission group names are
// never sent. Zero times and an empty condition are left out, so a body
// never carries a zero time.
type Definition struct {
	Name      string
	Policies  []Policy
	Condition Condition
	// ExpiresOn is the expiry; the zero time sends none, which means the
	// token never expires on create.
	ExpiresOn time.Time
	// NotBefore is the start of validity; the zero time sends none.
	NotBefore time.Time
	// Status is sent by Update only, and only when not empty; Create
	// ignores it.
	Status Status
}

// DefinitionFromToken returns the definition of a fetched token, with
// policy ids and permission group names removed, so that it can be sent to
// Create (to recreate the token) or to Update (to keep every field). It
// fails when expires_on or not_before could not be parsed, because copying
// such a token would silently drop its expiry.
func DefinitionFromToken(t Token) (Definition, error) {
	def := Definition{
		Name:      t.Name,
		Policies:  stripPolicies(t.Policies),
		Condition: copyCondition(t.Condition),
	}
	// Only a status a client can set is copied. "expired" is computed by
	// the server, and an unknown status must not be sent back.
	if t.Status == StatusActive || t.Status == StatusDisabled {
		def.Status = t.Status
	}

	for _, f := range []struct {
		name string
		ts   Timestamp
		dst  *time.Time
	}{
		{"expires_on", t.ExpiresOn, &def.ExpiresOn},
		{"not_before", t.NotBefore, &def.NotBefore},
	} {
		if err := f.ts.Err(); err != nil {
			return Definition{}, fmt.Errorf("build definition of token %s: %w", t.ID,
				&TimestampError{TokenID: t.ID, Field: f.name, Raw: f.ts.Raw()})
		}
		if tm, ok := f.ts.Time(); ok {
			*f.dst = tm
		}
	}
	return def, nil
}

// stripPolicies copies policies without policy ids, permission group names
// and scopes, which are read-only.
func stripPolicies(policies []Policy) []Policy {
	if policies == nil {
		return nil
	}
	out := make([]Policy, 0, len(policies))
	for _, p := range policies {
		groups := make([]PermissionGroup, 0, len(p.PermissionGroups))
		for _, g := range p.PermissionGroups {
			groups = append(groups, PermissionGroup{ID: g.ID, Meta: copyMeta(g.Meta)})
		}
		out = append(out, Policy{
			Effect:           p.Effect,
			PermissionGroups: groups,
			Resources:        copyResources(p.Resources),
		})
	}
	return out
}

func copyMeta(m *PermissionGroupMeta) *PermissionGroupMeta {
	if m == nil {
		return nil
	}
	c := *m
	return &c
}

func copyResources(r Resources) Resources {
	if r == nil {
		return nil
	}
	out := make(Resources, len(r))
	for k, v := range r {
		if v.Nested != nil {
			v = ResourceValue{Nested: copyResources(v.Nested)}
		}
		out[k] = v
	}
	return out
}

func copyCondition(c Condition) Condition {
	if c.RequestIP == nil {
		return Condition{}
	}
	return Condition{RequestIP: &RequestIPCondition{
		In:    slices.Clone(c.RequestIP.In),
		NotIn: slices.Clone(c.RequestIP.NotIn),
	}}
}

// Validate rejects, before a request is sent, what Cloudflare would reject.
// It checks for an empty or too long name, no policies, an unknown effect,
// a policy with no permission group or no resource, an empty permission
// group id and a status other than the documented ones.
func (d Definition) Validate() error {
	var errs []error
	if strings.TrimSpace(d.Name) == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if n := utf8.RuneCountInString(d.Name); n > maxTokenNameLength {
		errs = append(errs, fmt.Errorf("name: %d characters, the maximum is %d",
			n, maxTokenNameLength))
	}
	if len(d.Policies) == 0 {
		errs = append(errs, errors.New("policies: must contain at least one policy"))
	}
	for i, p := range d.Policies {
		if p.Effect != EffectAllow && p.Effect != EffectDeny {
			errs = append(errs, fmt.Errorf("policies[%d].effect: invalid value %q, "+
				"expected allow or deny", i, p.Effect))
		}
		if len(p.PermissionGroups) == 0 {
			errs = append(errs, fmt.Errorf("policies[%d].permission_groups: "+
				"must contain at least one group", i))
		}
		for j, g := range p.PermissionGroups {
			if g.ID == "" {
				errs = append(errs, fmt.Errorf("policies[%d].permission_groups[%d].id: "+
					"must not be empty", i, j))
			}
		}
		if len(p.Resources) == 0 {
			errs = append(errs, fmt.Errorf("policies[%d].resources: "+
				"must contain at least one resource", i))
		}
	}
	if d.Status != "" && !d.Status.Known() {
		errs = append(errs, fmt.Errorf("status: invalid value %q, "+
			"expected active, disabled or expired", d.Status))
	}
	return errors.Join(errs...)
}

// wirePermissionGroup is a permission group as a request body carries it.
type wirePermissionGroup struct {
	ID   string               `json:"id"`
	Meta *PermissionGroupMeta `json:"meta,omitempty"`
}

// wirePolicy is a policy as a request body carries it: without an id.
type wirePolicy struct {
	Effect           Effect                `json:"effect"`
	PermissionGroups []wirePermissionGroup `json:"permission_groups"`
	Resources        Resources             `json:"resources"`
}

// wireDefinition is the JSON body of a create or update request.
type wireDefinition struct {
	Name      string       `json:"name"`
	Policies  []wirePolicy `json:"policies"`
	Condition *Condition   `json:"condition,omitempty"`
	ExpiresOn string       `json:"expires_on,omitempty"`
	NotBefore string       `json:"not_before,omitempty"`
	Status    Status       `json:"status,omitempty"`
}

// body encodes d as a request body. withStatus is true for update.
func (d Definition) body(withStatus bool) ([]byte, error) {
	w := wireDefinition{Name: d.Name, Policies: make([]wirePolicy, 0, len(d.Policies))}
	for _, p := range d.Policies {
		groups := make([]wirePermissionGroup, 0, len(p.PermissionGroups))
		for _, g := range p.PermissionGroups {
			groups = append(groups, wirePermissionGroup{ID: g.ID, Meta: g.Meta})
		}
		resources := p.Resources
		if resources == nil {
			resources = Resources{}
		}
		w.Policies = append(w.Policies, wirePolicy{
			Effect:           p.Effect,
			PermissionGroups: groups,
			Resources:        resources,
		})
	}
	if !d.Condition.IsZero() {
		c := d.Condition
		w.Condition = &c
	}
	// NOTE: times are sent in whole seconds, as Cloudflare's examples are,
	// so a fractional expiry read back from a token is cut to the second.
	if !d.ExpiresOn.IsZero() {
		w.ExpiresOn = d.ExpiresOn.UTC().Format(time.RFC3339)
	}
	if !d.NotBefore.IsZero() {
		w.NotBefore = d.NotBefore.UTC().Format(time.RFC3339)
	}
	if withStatus {
		w.Status = d.Status
	}
	return json.Marshal(w)
}

// PoliciesEqual reports whether a and b grant the same permissions. They
// are compared as sets, because Cloudflare keeps neither the order of
// policies nor that of permission groups: order, duplicates, policy ids and
// permission group names and scopes are ignored.
func PoliciesEqual(a, b []Policy) bool {
	return slices.Equal(policyKeys(a), policyKeys(b))
}

// policyKeys returns one sorted, deduplicated canonical key per policy.
func policyKeys(policies []Policy) []string {
	keys := make([]string, 0, len(policies))
	for _, p := range policies {
		groups := make([]string, 0, len(p.PermissionGroups))
		for _, g := range p.PermissionGroups {
			key := g.ID
			if g.Meta != nil {
				key += "\x00" + g.Meta.Key + "\x00" + g.Meta.Value
			}
			groups = append(groups, key)
		}
		slices.Sort(groups)
		groups = slices.Compact(groups)

		// encoding/json sorts map keys, so equal maps encode the same.
		resources, err := json.Marshal(p.Resources)
		if err != nil {
			resources = []byte(fmt.Sprint(p.Resources))
		}
		keys = append(keys, string(p.Effect)+"\x01"+strings.Join(groups, "\x02")+
			"\x01"+string(resources))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// ConditionsEqual reports whether a and b allow the same addresses,
// comparing the CIDR lists as sets.
func ConditionsEqual(a, b Condition) bool {
	var aIn, aNotIn, bIn, bNotIn []string
	if a.RequestIP != nil {
		aIn, aNotIn = a.RequestIP.In, a.RequestIP.NotIn
	}
	if b.RequestIP != nil {
		bIn, bNotIn = b.RequestIP.In, b.RequestIP.NotIn
	}
	return sameSet(aIn, bIn) && sameSet(aNotIn, bNotIn)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
