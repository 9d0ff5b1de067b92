package vaulttest

import (
	"slices"
	"strings"
)

// Capability names as Vault policies spell them.
const (
	CapCreate = "create"
	CapRead   = "read"
	CapUpdate = "update"
	CapDelete = "delete"
	CapList   = "list"
	CapPatch  = "patch"
	CapSudo   = "sudo"
	CapDeny   = "deny"
)

// Rule grants capabilities on the API paths that match Path. Path is an
// exact path, a path ending in "*" (prefix match) or a path with "+"
// segments (any one segment), as in Vault policies. Paths carry no "/v1/"
// prefix and no namespace.
type Rule struct {
	Path         string
	Capabilities []string
}

// matchPath reports whether the policy path pattern matches path.
func matchPath(pattern, path string) bool {
	prefix := strings.HasSuffix(pattern, "*")
	pattern = strings.TrimSuffix(pattern, "*")
	want := strings.Split(pattern, "/")
	got := strings.Split(path, "/")
	if len(got) < len(want) || (!prefix && len(got) != len(want)) {
		return false
	}
	for i, segment := range want {
		last := i == len(want)-1
		switch {
		case segment == "+":
		case prefix && last:
			if !strings.HasPrefix(got[i], segment) {
				return false
			}
		default:
			if got[i] != segment {
				return false
			}
		}
	}
	return true
}

// firstWildcard returns the index of the first "+" or "*" in pattern, or
// len(pattern)+1 when it has none.
func firstWildcard(pattern string) int {
	i := strings.IndexAny(pattern, "+*")
	if i < 0 {
		return len(pattern) + 1
	}
	return i
}

// lessSpecific reports whether pattern a has lower priority than pattern b,
// in the order Vault documents for overlapping policy paths. A later first
// wildcard wins, then no trailing "*", then fewer "+" segments, then the
// longer path, then the lexically greater path.
func lessSpecific(a, b string) bool {
	if wa, wb := firstWildcard(a), firstWildcard(b); wa != wb {
		return wa < wb
	}
	if ga, gb := strings.HasSuffix(a, "*"), strings.HasSuffix(b, "*"); ga != gb {
		return ga
	}
	if pa, pb := strings.Count(a, "+"), strings.Count(b, "+"); pa != pb {
		return pa > pb
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// capabilities returns the capabilities the most specific matching rule
// grants on path. Rules with the same path are merged, and "deny" wins over
// everything else on that path.
func capabilities(rules []Rule, path string) []string {
	best := ""
	found := false
	for _, rule := range rules {
		if !matchPath(rule.Path, path) {
			continue
		}
		if !found || lessSpecific(best, rule.Path) {
			best = rule.Path
			found = true
		}
	}
	if !found {
		return nil
	}

	var caps []string
	for _, rule := range rules {
		if rule.Path != best {
			continue
		}
		for _, c := range rule.Capabilities {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	if slices.Contains(caps, CapDeny) {
		return nil
	}
	slices.Sort(caps)
	return caps
}

// allows reports whether rules grant capability on path.
func allows(rules []Rule, path, capability string) bool {
	return slices.Contains(capabilities(rules, path), capability)
}

// touchesMount reports whether any rule grants something on or under the
// mount path, which Vault requires before it describes a mount to a token.
func touchesMount(rules []Rule, mount string) bool {
	mount = strings.TrimSuffix(mount, "/") + "/"
	for _, rule := range rules {
		if len(rule.Capabilities) == 0 || slices.Contains(rule.Capabilities, CapDeny) {
			continue
		}
		wildcard := firstWildcard(rule.Path)
		literal := rule.Path[:min(wildcard, len(rule.Path))]
		switch {
		case strings.HasPrefix(literal, mount), rule.Path+"/" == mount:
			return true
		case wildcard <= len(rule.Path) && strings.HasPrefix(mount, literal):
			return true
		}
	}
	return false
}
