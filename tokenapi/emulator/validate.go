package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Validation error codes. 1001 is the documented code for policy ids sent
// on create; the others are the emulator's own choice.
const (
	codePolicyID      = 1001
	codeInvalidField  = 1002
	codeUnknownGroup  = 1003
	codeInvalidQuery  = 1004
	codeQuota         = 1005
	codeMalformedJSON = 6007
)

// definition is a validated create or update body.
type definition struct {
	name      string
	policies  []Policy
	condition *Condition
	expiresOn time.Time
	notBefore time.Time
	status    string // "" when the body has none
}

// validator collects every problem of one request body.
type validator struct {
	errs []wireError
}

func (v *validator) add(code int, pointer, format string, args ...any) {
	v.errs = append(v.errs, wireError{
		Code:    code,
		Message: fmt.Sprintf(format, args...),
		Source:  &errorSource{Pointer: pointer},
	})
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// parseDefinition validates a create (create=true) or update body. On
// update, policy ids are ignored and status is read. The caller holds e.mu.
func (e *Emulator) parseDefinition(body []byte, create bool) (definition, []wireError) {
	var raw tokenBody
	if err := json.Unmarshal(body, &raw); err != nil || !isJSONObject(body) {
		return definition{}, []wireError{{
			Code:    codeMalformedJSON,
			Message: "Malformed JSON in request body",
		}}
	}

	var v validator
	var def definition
	def.name = v.name(raw.Name)
	def.policies = e.parsePolicies(&v, raw.Policies, create)
	def.condition = v.condition(raw.Condition)
	def.expiresOn = v.timestamp(raw.ExpiresOn, "/expires_on")
	def.notBefore = v.timestamp(raw.NotBefore, "/not_before")
	if !def.expiresOn.IsZero() && !def.notBefore.IsZero() && !def.notBefore.Before(def.expiresOn) {
		v.add(codeInvalidField, "/not_before", "not_before must be earlier than expires_on")
	}
	if !create {
		def.status = v.status(raw.Status)
	}
	return def, v.errs
}

func isJSONObject(body []byte) bool {
	trimmed := bytes.TrimSpace(body)
	return len(trimmed) > 0 && trimmed[0] == '{'
}

func (v *validator) name(raw json.RawMessage) string {
	if isNull(raw) {
		v.add(codeInvalidField, "/name", "name is required")
		return ""
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		v.add(codeInvalidField, "/name", "name must be a string")
		return ""
	}
	if strings.TrimSpace(name) == "" {
		v.add(codeInvalidField, "/name", "name is required")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		v.add(codeInvalidField, "/name", "name has %d characters, the maximum is %d", n, MaxNameLength)
	}
	return name
}

func (e *Emulator) parsePolicies(v *validator, raw json.RawMessage, create bool) []Policy {
	if isNull(raw) {
		v.add(codeInvalidField, "/policies", "policies is required")
		return nil
	}
	var list []policyBody
	if err := json.Unmarshal(raw, &list); err != nil {
		v.add(codeInvalidField, "/policies", "policies must be an array of policy objects")
		return nil
	}
	if len(list) == 0 {
		v.add(codeInvalidField, "/policies", "policies must not be empty")
		return nil
	}
	var out []Policy
	for i, pb := range list {
		ptr := fmt.Sprintf("/policies/%d", i)
		if create && !isNull(pb.ID) {
			v.add(codePolicyID, ptr+"/id", "policy id must not be set when creating a token")
		}
		p := Policy{
			Effect:           v.effect(pb.Effect, ptr+"/effect"),
			PermissionGroups: e.parseGroups(v, pb.PermissionGroups, ptr+"/permission_groups"),
			Resources:        v.resources(pb.Resources, ptr+"/resources"),
		}
		sortGroups(p.PermissionGroups)
		id, err := e.newID()
		if err != nil {
			v.add(codeInvalidField, ptr, "%v", err)
		}
		p.ID = id
		out = append(out, p)
	}
	sortPolicies(out)
	return out
}

func (v *validator) effect(raw json.RawMessage, ptr string) string {
	var effect string
	if isNull(raw) {
		v.add(codeInvalidField, ptr, "effect is required")
		return ""
	}
	if err := json.Unmarshal(raw, &effect); err != nil || (effect != "allow" && effect != "deny") {
		v.add(codeInvalidField, ptr, "effect must be \"allow\" or \"deny\"")
	}
	return effect
}

func (e *Emulator) parseGroups(v *validator, raw json.RawMessage, ptr string) []PermissionGroupRef {
	var list []groupRefBody
	if isNull(raw) {
		v.add(codeInvalidField, ptr, "permission_groups is required")
		return nil
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		v.add(codeInvalidField, ptr, "permission_groups must be an array of objects with an id")
		return nil
	}
	if len(list) == 0 {
		v.add(codeInvalidField, ptr, "permission_groups must not be empty")
		return nil
	}
	var out []PermissionGroupRef
	for j, gb := range list {
		gptr := fmt.Sprintf("%s/%d/id", ptr, j)
		var id string
		if isNull(gb.ID) || json.Unmarshal(gb.ID, &id) != nil || id == "" {
			v.add(codeInvalidField, gptr, "permission group id is required")
			continue
		}
		group, ok := e.groups[id]
		if !ok {
			v.add(codeUnknownGroup, gptr, "permission group %q does not exist", id)
			continue
		}
		ref := PermissionGroupRef{ID: group.ID, Name: group.Name}
		if gb.Meta != nil {
			ref.Meta = &Meta{Key: gb.Meta.Key, Value: gb.Meta.Value}
		}
		out = append(out, ref)
	}
	return out
}

func (v *validator) resources(raw json.RawMessage, ptr string) map[string]any {
	if isNull(raw) {
		v.add(codeInvalidField, ptr, "resources is required")
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		v.add(codeInvalidField, ptr, "resources must be an object")
		return nil
	}
	if err := checkResources(m); err != nil {
		v.add(codeInvalidField, ptr, "invalid resources: %v", err)
		return nil
	}
	return m
}

func (v *validator) condition(raw json.RawMessage) *Condition {
	if isNull(raw) {
		return nil
	}
	var cb conditionBody
	if err := json.Unmarshal(raw, &cb); err != nil {
		v.add(codeInvalidField, "/condition",
			"condition must be an object with request_ip.in and request_ip.not_in lists")
		return nil
	}
	if cb.RequestIP == nil {
		return nil
	}
	c := &Condition{RequestIPIn: cb.RequestIP.In, RequestIPNotIn: cb.RequestIP.NotIn}
	lists := []struct {
		name  string
		cidrs []string
	}{{"in", c.RequestIPIn}, {"not_in", c.RequestIPNotIn}}
	for _, list := range lists {
		for k, cidr := range list.cidrs {
			if _, err := parseCIDR(cidr); err != nil {
				v.add(codeInvalidField, fmt.Sprintf("/condition/request_ip/%s/%d", list.name, k),
					"%q is not a valid CIDR", cidr)
			}
		}
	}
	if len(c.RequestIPIn) == 0 && len(c.RequestIPNotIn) == 0 {
		return nil
	}
	return c
}

func (v *validator) timestamp(raw json.RawMessage, ptr string) time.Time {
	if isNull(raw) {
		return time.Time{}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.add(codeInvalidField, ptr, "%s must be an RFC 3339 timestamp string", ptr[1:])
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.add(codeInvalidField, ptr, "%s %q is not an RFC 3339 timestamp", ptr[1:], s)
		return time.Time{}
	}
	if t.Year() <= 1 {
		v.add(codeInvalidField, ptr, "%s must not be the zero time", ptr[1:])
		return time.Time{}
	}
	return t.UTC()
}

func (v *validator) status(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || (s != StatusActive && s != StatusDisabled) {
		v.add(codeInvalidField, "/status", "status must be \"active\" or \"disabled\"")
		return ""
	}
	return s
}

// validationReply returns the HTTP 400 reply for validation errors.
func validationReply(errs []wireError) reply {
	return errorReply(http.StatusBadRequest, errs...)
}
