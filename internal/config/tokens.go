package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// builtinPolicy is the policy of a token when neither defaults nor the
// token set a key.
var builtinPolicy = Policy{
	Strategy:    StrategyRoll,
	RenewBefore: 30 * Day,
	TTL:         90 * Day,
	IdleAction:  IdleReport,
	GracePeriod: Day,
}

var policyKeys = []string{
	"strategy", "renew_before", "max_age", "rotation_schedule", "ttl", "idle_after",
	"idle_action", "grace_period",
}

// tokenKeys are the keys of a token entry: the selector, the account, the
// targets and any policy key.
var tokenKeys = append([]string{"name", "id", "account", "targets"}, policyKeys...)

// setting is the position of a written policy key: its value node and field path.
type setting struct {
	node *yaml.Node
	path string
}

// policyInput is the policy keys written in one mapping.
type policyInput struct {
	values Policy
	set    map[string]setting
}

// decodePolicy decodes the defaults mapping, merged over the built-ins.
func (d *decoder) decodePolicy(root mapping) (Policy, policyInput) {
	input := policyInput{set: map[string]setting{}}
	if n := root.get("defaults"); n != nil {
		m, ok := d.mapping(n, "defaults", policyKeys...)
		if ok {
			input = d.decodePolicyKeys(m)
		}
	}
	policy, origin := mergePolicy(input)
	d.checkPolicy(policy, origin, root.keys["defaults"], "defaults")
	return policy, input
}

// decodePolicyKeys decodes the policy keys present in m.
func (d *decoder) decodePolicyKeys(m mapping) policyInput {
	input := policyInput{set: map[string]setting{}}
	p := &input.values
	for _, key := range policyKeys {
		n := m.get(key)
		if n == nil {
			continue
		}
		path := m.child(key)
		var ok bool
		switch key {
		case "strategy":
			var text string
			text, ok = d.oneOf(n, path, formatNames(StrategyRoll, StrategyRecreate)...)
			p.Strategy = Strategy(text)
		case "renew_before":
			p.RenewBefore, ok = d.duration(n, path)
		case "max_age":
			p.MaxAge, ok = d.duration(n, path)
		case "rotation_schedule":
			if text, isText := d.scalar(n, path); isText && strings.TrimSpace(text) == "" {
				continue
			}
			p.RotationSchedule, ok = d.schedule(n, path)
		case "ttl":
			p.TTL, ok = d.positiveDuration(n, path)
		case "idle_after":
			p.IdleAfter, ok = d.duration(n, path)
		case "idle_action":
			var text string
			text, ok = d.oneOf(n, path, formatNames(IdleReport, IdleDisable)...)
			p.IdleAction = IdleAction(text)
		case "grace_period":
			p.GracePeriod, ok = d.duration(n, path)
		}
		if ok {
			input.set[key] = setting{node: n, path: path}
		}
	}
	return input
}

// mergePolicy lays each input over the built-ins in order, and returns for
// each key where its value was written (absent for built-ins).
func mergePolicy(inputs ...policyInput) (Policy, map[string]setting) {
	policy := builtinPolicy
	origin := map[string]setting{}
	for _, in := range inputs {
		for key, where := range in.set {
			origin[key] = where
			v := in.values
			switch key {
			case "strategy":
				policy.Strategy = v.Strategy
			case "renew_before":
				policy.RenewBefore = v.RenewBefore
			case "max_age":
				policy.MaxAge = v.MaxAge
			case "rotation_schedule":
				policy.RotationSchedule = v.RotationSchedule
			case "ttl":
				policy.TTL = v.TTL
			case "idle_after":
				policy.IdleAfter = v.IdleAfter
			case "idle_action":
				policy.IdleAction = v.IdleAction
			case "grace_period":
				policy.GracePeriod = v.GracePeriod
			}
		}
	}
	return policy, origin
}

// checkPolicy reports settings that contradict each other. Each problem is
// placed at the key written last, or at fallback when only built-ins are
// involved.
func (d *decoder) checkPolicy(p Policy, origin map[string]setting, fallback *yaml.Node,
	fallbackPath string) {
	place := func(keys ...string) (*yaml.Node, string) {
		best := setting{node: fallback, path: fallbackPath}
		for _, key := range keys {
			where, ok := origin[key]
			if ok && (best.node == fallback || where.node.Line > best.node.Line) {
				best = where
			}
		}
		return best.node, best.path
	}

	if p.RenewBefore > 0 && p.TTL <= p.RenewBefore {
		node, path := place("ttl", "renew_before")
		d.errorf(node, path, "ttl %s (%s) must be longer than renew_before %s (%s), or a new "+
			"token would be due for renewal at once", FormatDuration(p.TTL),
			describeOrigin(origin["ttl"].path), FormatDuration(p.RenewBefore),
			describeOrigin(origin["renew_before"].path))
	}
	if p.IdleAction == IdleDisable && p.IdleAfter == 0 {
		node, path := place("idle_action", "idle_after")
		d.errorf(node, path, "idle_action disable needs idle_after, the time without use "+
			"after which a token counts as idle")
	}
}

// decodeTokens decodes the tokens list against the accounts, the sinks and
// the defaults.
func (d *decoder) decodeTokens(root mapping, cfg *Config, defaults policyInput) []Token {
	node := root.get("tokens")
	if node == nil {
		d.errorf(root.node, "tokens", "no tokens to manage: add a tokens list; see "+
			"config.example.yaml")
		return nil
	}
	items, ok := d.sequence(node, "tokens")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errorf(node, "tokens", "no tokens to manage: the list is empty")
		return nil
	}

	tc := tokenChecker{
		decoder:  d,
		cfg:      cfg,
		defaults: defaults,
		keys:     map[string]int{},
		targets:  map[string]targetOwner{},
	}
	var tokens []Token
	for i, item := range items {
		token, ok := tc.decodeToken(item, fmt.Sprintf("tokens[%d]", i))
		if ok {
			tokens = append(tokens, token)
		}
	}
	return tokens
}

// tokenChecker decodes token entries and checks them against each other.
type tokenChecker struct {
	*decoder
	cfg      *Config
	defaults policyInput
	// keys maps "account/key" to the line of the token that has it.
	keys map[string]int
	// targets maps a written place to the target that writes it first.
	targets map[string]targetOwner
}

// targetOwner is the token that writes a place, and the line of its target.
type targetOwner struct {
	token string
	line  int
}

// decodeToken decodes one token entry.
func (tc *tokenChecker) decodeToken(n *yaml.Node, path string) (Token, bool) {
	m, ok := tc.mapping(n, path, tokenKeys...)
	if !ok {
		return Token{}, false
	}
	token := Token{Line: m.node.Line}
	valid := tc.decodeSelector(m, &token)

	own := tc.decodePolicyKeys(m)
	policy, origin := mergePolicy(tc.defaults, own)
	token.Policy = policy
	if len(own.set) > 0 {
		tc.checkPolicy(policy, origin, m.node, path)
	}
	if policy.Strategy == StrategyRecreate && token.ID != "" {
		node, where := m.keys["id"], m.child("id")
		if s, ok := origin["strategy"]; ok && s.node.Line > node.Line {
			node, where = s.node, s.path
		}
		tc.errorf(node, where, "strategy recreate gives the token a new id, so select it by "+
			"name instead of id")
		valid = false
	}
	if policy.RenewBefore == 0 && policy.MaxAge == 0 && policy.RotationSchedule.IsZero() {
		tc.warnf(m.node, path, "no rule rotates this token: renew_before, max_age and "+
			"rotation_schedule are all unset, so only a manual rotation replaces it")
	}

	if v := tc.required(m, "targets"); v != nil {
		targets, ok := tc.decodeTargets(v, m.child("targets"), token)
		token.Targets = targets
		valid = valid && ok
	} else {
		valid = false
	}
	return token, valid
}

// decodeSelector decodes name or id and the account, and checks that the
// selector is unique within the account.
func (tc *tokenChecker) decodeSelector(m mapping, token *Token) bool {
	valid := true
	switch {
	case m.has("name") && m.has("id"):
		tc.errorf(m.keys["id"], m.child("id"), "set either name or id to select the token, "+
			"not both")
		valid = false
	case m.has("name"):
		name, ok := tc.nonEmpty(m.get("name"), m.child("name"))
		if ok && len(name) > maxTokenNameLength {
			tc.errorf(m.get("name"), m.child("name"), "is %d characters long; Cloudflare token "+
				"names are at most %d", len(name), maxTokenNameLength)
			ok = false
		}
		token.Name, token.Key = name, name
		valid = ok
	case m.has("id"):
		id, ok := tc.hexID(m.get("id"), m.child("id"), "token")
		token.ID, token.Key = id, id
		valid = ok
	default:
		tc.errorf(m.node, m.path, "set name or id to select the token")
		valid = false
	}

	accountNode := tc.required(m, "account")
	if accountNode == nil {
		return false
	}
	name, ok := tc.nonEmpty(accountNode, m.child("account"))
	if !ok {
		return false
	}
	account, found := tc.cfg.Account(name)
	if !found {
		tc.errorf(accountNode, m.child("account"), "undefined account %q; defined accounts: %s",
			name, listNames(tc.cfg.Accounts, func(a Account) string { return a.Name }))
		return false
	}
	token.Account, token.AccountID = account.Name, account.ID

	if !valid {
		return false
	}
	qualified := token.Account + "/" + token.Key
	if line, dup := tc.keys[qualified]; dup {
		what := "name"
		if token.ID != "" {
			what = "id"
		}
		tc.errorf(m.get(what), m.child(what), "token %s %q in account %s is already managed "+
			"at line %d", what, token.Key, token.Account, line)
		return false
	}
	tc.keys[qualified] = token.Line
	return true
}

// decodeTargets decodes the targets of one token.
func (tc *tokenChecker) decodeTargets(n *yaml.Node, path string, token Token) ([]Target, bool) {
	items, ok := tc.sequence(n, path)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		tc.errorf(n, path, "must list at least one target, or the new value would be lost")
		return nil, false
	}

	var targets []Target
	valid := true
	for i, item := range items {
		target, ok := tc.decodeTarget(item, fmt.Sprintf("%s[%d]", path, i), token)
		if ok {
			targets = append(targets, target)
		}
		valid = valid && ok
	}
	return targets, valid
}

// decodeTarget decodes one target and checks its path and field against
// the kind of its sink.
func (tc *tokenChecker) decodeTarget(n *yaml.Node, path string, token Token) (Target, bool) {
	m, ok := tc.mapping(n, path, "sink", "path", "field")
	if !ok {
		return Target{}, false
	}
	target := Target{Line: m.node.Line}

	sinkNode, pathNode := tc.required(m, "sink"), tc.required(m, "path")
	if sinkNode == nil || pathNode == nil {
		return Target{}, false
	}
	name, ok := tc.nonEmpty(sinkNode, m.child("sink"))
	if !ok {
		return Target{}, false
	}
	sink, found := tc.cfg.Sink(name)
	if !found {
		tc.errorf(sinkNode, m.child("sink"), "undefined sink %q; defined sinks: %s", name,
			listNames(tc.cfg.Sinks, func(s Sink) string { return s.Name }))
		return Target{}, false
	}
	target.Sink = name
	if sink.invalid {
		return target, true
	}

	if sink.Kind == SinkVault {
		target.Path, ok = tc.secretPath(pathNode, m.child("path"))
	} else {
		target.Path, ok = tc.localFile(pathNode, m.child("path"))
	}
	if !ok {
		return Target{}, false
	}
	target.Field, ok = tc.decodeField(m, sink)
	if !ok {
		return Target{}, false
	}
	if token.Key == "" {
		return target, true
	}
	return target, tc.checkOverlap(m, target, sink, token)
}

// decodeField checks the target field: required for Vault, JSON and env
// files, and not allowed for raw files, which contain only the value.
func (tc *tokenChecker) decodeField(m mapping, sink Sink) (string, bool) {
	if sink.Kind == SinkFile && sink.File.Format == FormatRaw {
		if keyNode, written := m.keys["field"]; written {
			tc.errorf(keyNode, m.child("field"), "sink %s writes raw files, which contain only "+
				"the value; remove field or set the sink's format to env or json", sink.Name)
			return "", false
		}
		return "", true
	}

	v := m.get("field")
	if v == nil {
		what := "the Vault data key, such as token"
		if sink.Kind == SinkFile && sink.File.Format == FormatEnv {
			what = "the variable name, such as CLOUDFLARE_API_TOKEN"
		} else if sink.Kind == SinkFile {
			what = "the JSON key, such as token"
		}
		tc.errorf(m.node, m.child("field"), "missing; sink %s needs %s", sink.Name, what)
		return "", false
	}
	field, ok := tc.nonEmpty(v, m.child("field"))
	if !ok {
		return "", false
	}
	if sink.Kind == SinkFile && sink.File.Format == FormatEnv && !envNamePattern.MatchString(field) {
		tc.errorf(v, m.child("field"), "%q is not a valid environment variable name; use "+
			"letters, digits and '_', not starting with a digit", field)
		return "", false
	}
	return field, true
}

// checkOverlap reports two targets that would write the same place. A file
// contains the values of one token. A Vault secret contains one token's
// value with its token_id and expiry, and each write replaces the whole
// secret, so two fields of one Vault path would overwrite each other.
func (tc *tokenChecker) checkOverlap(m mapping, target Target, sink Sink, token Token) bool {
	place := target.Sink + "\x00" + target.Path
	owner := token.Account + "/" + token.Key
	first, taken := tc.targets[place]
	if !taken {
		tc.targets[place] = targetOwner{token: owner, line: target.Line}
		return true
	}
	if first.token == owner && sink.Kind == SinkFile {
		return true
	}
	tc.errorf(m.node, m.path, "sink %s path %s is already written by token %s at line %d; "+
		"each token needs its own place", target.Sink, target.Path, first.token, first.line)
	return false
}

// listNames lists the names of items for messages, or "none".
func listNames[T any](items []T, name func(T) string) string {
	if len(items) == 0 {
		return "none"
	}
	names := make([]string, len(items))
	for i, item := range items {
		names[i] = name(item)
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}
