package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// keyAliases maps names people often write to the key this file uses, so
// that an unknown key can point to the right one.
var keyAliases = map[string]string{
	"rotate_before":  "renew_before",
	"refresh_before": "renew_before",
	"expire_before":  "renew_before",
	"rotate_after":   "max_age",
	"rotate_every":   "max_age",
	"max_lifetime":   "max_age",
	"lifetime":       "ttl",
	"expires_in":     "ttl",
	"expiry":         "ttl",
	"grace":          "grace_period",
	"version":        "kv_version",
	"kv":             "kv_version",
	"url":            "address",
	"addr":           "address",
	"type":           "method",
	"key":            "field",
	"permissions":    "mode",
	"directory":      "dir",
	"token_name":     "name",
	"token_id":       "id",
	"account_id":     "id",
	"cron":           "schedule",
	"timeout":        "sweep_timeout",
}

// decoder walks a yaml.Node tree and collects every problem it finds.
type decoder struct {
	file     string
	errs     Errors
	warnings Errors
}

// errorf records a problem at node n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, d.at(n, path, fmt.Sprintf(format, args...)))
}

// warnf records a warning at node n.
func (d *decoder) warnf(n *yaml.Node, path, format string, args ...any) {
	d.warnings = append(d.warnings, d.at(n, path, fmt.Sprintf(format, args...)))
}

func (d *decoder) at(n *yaml.Node, path, message string) Error {
	e := Error{File: d.file, Path: path, Message: message}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is absent or an explicit null ("key:" or "~").
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// mapping is a YAML mapping whose keys have been checked against a schema.
type mapping struct {
	node   *yaml.Node
	path   string
	keys   map[string]*yaml.Node
	values map[string]*yaml.Node
}

// child returns the field path of key inside m.
func (m mapping) child(key string) string {
	if m.path == "" {
		return key
	}
	return m.path + "." + key
}

// get returns the value of key, or nil when the key is absent or null.
func (m mapping) get(key string) *yaml.Node {
	v := m.values[key]
	if isNull(v) {
		return nil
	}
	return resolve(v)
}

// has reports whether key is written with a non-null value.
func (m mapping) has(key string) bool {
	return m.get(key) != nil
}

// mapping checks that n is a mapping whose keys are all in known, and
// reports unknown keys (with the closest known key), duplicate keys and
// merge keys. ok is false when n is not a mapping at all.
func (d *decoder) mapping(n *yaml.Node, path string, known ...string) (m mapping, ok bool) {
	n = resolve(n)
	m = mapping{node: n, path: path, keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}}
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of keys to values, not %s", describe(n))
		return m, false
	}

	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, value := n.Content[i], n.Content[i+1]
		key := keyNode.Value
		switch {
		case key == "<<":
			d.errorf(keyNode, path, "YAML merge keys (<<) are not supported; write the keys "+
				"out, or put shared settings under defaults")
			continue
		case !slices.Contains(known, key):
			d.errorf(keyNode, m.child(key), "unknown key%s", suggestKey(key, known))
			continue
		}
		if first, dup := m.keys[key]; dup {
			d.errorf(keyNode, m.child(key), "duplicate key; first written at line %d", first.Line)
			continue
		}
		m.keys[key] = keyNode
		m.values[key] = value
	}
	return m, true
}

// required returns the value of key, or reports it missing and returns nil.
func (d *decoder) required(m mapping, key string) *yaml.Node {
	if keyNode, written := m.keys[key]; written && isNull(m.values[key]) {
		d.errorf(keyNode, m.child(key), "has no value")
		return nil
	}
	v := m.get(key)
	if v == nil && m.node != nil && m.node.Kind == yaml.MappingNode {
		d.errorf(m.node, m.child(key), "missing")
	}
	return v
}

// suggestKey returns `; did you mean "x"?` for the known key closest to
// key, or "" when none is close.
func suggestKey(key string, known []string) string {
	if target, ok := keyAliases[key]; ok && slices.Contains(known, target) {
		return fmt.Sprintf("; did you mean %q?", target)
	}

	best, bestDistance := "", len(key)
	candidates := slices.Clone(known)
	for alias, target := range keyAliases {
		if slices.Contains(known, target) {
			candidates = append(candidates, alias)
		}
	}
	for _, candidate := range candidates {
		distance := editDistance(key, candidate)
		target := candidate
		if alias, ok := keyAliases[candidate]; ok && !slices.Contains(known, candidate) {
			target = alias
		}
		if distance < bestDistance || (distance == bestDistance && target < best) {
			best, bestDistance = target, distance
		}
	}
	if best == "" || bestDistance > max(1, len(key)/4) {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}

// describe names the kind of n for messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case isNull(n):
		return "an empty value"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	default:
		return "a single value"
	}
}

// scalar returns the text of a scalar node, or reports n and returns false.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, path, "must be a single value, not %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// nonEmpty returns the text of a scalar that must not be empty.
func (d *decoder) nonEmpty(n *yaml.Node, path string) (string, bool) {
	text, ok := d.scalar(n, path)
	if ok && strings.TrimSpace(text) == "" {
		d.errorf(n, path, "must not be empty")
		return "", false
	}
	return text, ok
}

// boolean returns the value of a true/false scalar.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	text, ok := d.scalar(n, path)
	if !ok {
		return false, false
	}
	if resolve(n).Tag != "!!bool" {
		d.errorf(n, path, "must be true or false, not %q", text)
		return false, false
	}
	value, err := strconv.ParseBool(text)
	if err != nil {
		d.errorf(n, path, "must be true or false, not %q", text)
		return false, false
	}
	return value, true
}

// positiveInt returns the value of an integer scalar greater than zero.
func (d *decoder) positiveInt(n *yaml.Node, path string) (int, bool) {
	text, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	value, err := strconv.Atoi(text)
	if err != nil || resolve(n).Tag != "!!int" || value <= 0 {
		d.errorf(n, path, "must be a whole number greater than 0, not %q", text)
		return 0, false
	}
	return value, true
}

// oneOf returns the text of a scalar that must be one of allowed.
func (d *decoder) oneOf(n *yaml.Node, path string, allowed ...string) (string, bool) {
	text, ok := d.scalar(n, path)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, text) {
		d.errorf(n, path, "must be one of %s, not %q", strings.Join(allowed, ", "), text)
		return "", false
	}
	return text, true
}

// sequence returns the items of a list node.
func (d *decoder) sequence(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, not %s", describe(n))
		return nil, false
	}
	return n.Content, true
}
