package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the policy file LoadFile reads. A policy for hundreds
// of tokens is well under 1 MiB.
const maxFileSize = 1 << 20

// maxNodes bounds the YAML nodes visited with aliases expanded, so that a
// file of nested aliases cannot make loading take exponential time.
const maxNodes = 100_000

// yamlLinePattern finds the line number in a yaml.v3 syntax error.
var yamlLinePattern = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

var rootKeys = []string{
	"schedule", "state_dir", "listen", "admin_token", "sweep_timeout", "jitter",
	"shutdown_grace", "accounts", "sinks", "defaults", "tokens",
}

// LoadFile reads and loads the policy file at path.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()

	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load config: read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("load config: %s is larger than %d bytes; check the path",
			path, maxFileSize)
	}
	return Load(path, data)
}

// Load parses and validates a policy file. name is used only in messages.
// On failure the error is Errors with every problem found.
func Load(name string, data []byte) (*Config, error) {
	d := &decoder{file: name}
	root, ok := d.parseDocument(data)
	if !ok {
		return nil, sortErrors(d.errs)
	}
	if countNodes(root, maxNodes) > maxNodes {
		d.errorf(root, "", "the file expands to more than %d YAML nodes through aliases", maxNodes)
		return nil, sortErrors(d.errs)
	}

	cfg := d.decodeRoot(root)
	if len(d.errs) > 0 {
		return nil, sortErrors(d.errs)
	}
	cfg.Warnings = sortErrors(d.warnings)
	return cfg, nil
}

// parseDocument parses data into the node of its single document.
func (d *decoder) parseDocument(data []byte) (*yaml.Node, bool) {
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	var document yaml.Node
	err := decoder.Decode(&document)
	if errors.Is(err, io.EOF) {
		d.errs = append(d.errs, Error{File: d.file, Line: 1, Column: 1,
			Message: "no tokens to manage: the file has no settings; see config.example.yaml"})
		return nil, false
	}
	if err != nil {
		d.errs = append(d.errs, d.syntaxError(err))
		return nil, false
	}

	var next yaml.Node
	if err := decoder.Decode(&next); err == nil {
		d.errorf(&next, "", "the file has more than one YAML document; remove the second '---'")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		d.errs = append(d.errs, d.syntaxError(err))
		return nil, false
	}

	if len(document.Content) == 0 || isNull(document.Content[0]) {
		d.errorf(&document, "", "no tokens to manage: the file has no settings; see "+
			"config.example.yaml")
		return nil, false
	}
	return document.Content[0], true
}

// syntaxError turns a yaml.v3 parse error into an Error with its line.
func (d *decoder) syntaxError(err error) Error {
	message := err.Error()
	if match := yamlLinePattern.FindStringSubmatch(message); match != nil {
		line, _ := strconv.Atoi(match[1])
		return Error{File: d.file, Line: line, Message: "invalid YAML: " + match[2]}
	}
	return Error{File: d.file, Message: "invalid YAML: " + strings.TrimPrefix(message, "yaml: ")}
}

// countNodes counts the nodes under n with aliases expanded, and stops
// counting past limit.
func countNodes(n *yaml.Node, limit int) int {
	count := 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || count > limit {
			return
		}
		count++
		if n.Kind == yaml.AliasNode {
			walk(n.Alias)
			return
		}
		for _, child := range n.Content {
			walk(child)
		}
	}
	walk(n)
	return count
}

// decodeRoot decodes the top-level mapping.
func (d *decoder) decodeRoot(root *yaml.Node) *Config {
	cfg := &Config{
		File:          d.file,
		StateDir:      DefaultStateDir,
		Listen:        DefaultListen,
		SweepTimeout:  DefaultSweepTimeout,
		ShutdownGrace: DefaultShutdownGrace,
	}
	m, ok := d.mapping(root, "", rootKeys...)
	if !ok {
		return cfg
	}

	d.decodeSettings(cfg, m)
	cfg.Accounts = d.decodeAccounts(m)
	cfg.Sinks = d.decodeSinks(m)
	var defaults policyInput
	cfg.Defaults, defaults = d.decodePolicy(m)
	cfg.Tokens = d.decodeTokens(m, cfg, defaults)
	return cfg
}

// decodeSettings decodes the daemon-wide keys.
func (d *decoder) decodeSettings(cfg *Config, m mapping) {
	scheduleNode := m.get("schedule")
	if scheduleNode != nil {
		cfg.Schedule, _ = d.schedule(scheduleNode, "schedule")
	} else {
		cfg.Schedule, _ = ParseSchedule(DefaultSchedule)
	}
	if n := m.get("state_dir"); n != nil {
		cfg.StateDir, _ = d.absolutePath(n, "state_dir")
	}
	if n := m.get("listen"); n != nil {
		cfg.Listen, _ = d.listenAddress(n, "listen")
	}
	if n := m.get("admin_token"); n != nil {
		cfg.AdminToken, _ = d.secretRef(n, "admin_token")
	}
	if n := m.get("sweep_timeout"); n != nil {
		cfg.SweepTimeout, _ = d.positiveDuration(n, "sweep_timeout")
	}
	if n := m.get("jitter"); n != nil {
		cfg.Jitter, _ = d.duration(n, "jitter")
	}
	if n := m.get("shutdown_grace"); n != nil {
		cfg.ShutdownGrace, _ = d.duration(n, "shutdown_grace")
	}

	if gap := shortestGap(cfg.Schedule); cfg.Jitter > 0 && gap > 0 && cfg.Jitter >= gap {
		d.errorf(m.get("jitter"), "jitter", "%s is not shorter than the %s between sweeps, so "+
			"a delayed sweep would run into the next one", FormatDuration(cfg.Jitter),
			FormatDuration(gap))
	}
	if !cfg.AdminToken.IsZero() && cfg.Listen != "" && !isLoopbackListen(cfg.Listen) {
		d.warnf(m.get("listen"), "listen", "the admin API is served without TLS on %s; "+
			"put a TLS proxy in front or listen on a loopback address", cfg.Listen)
	}
}

// shortestGap returns the shortest interval between the first fire times
// of s, or 0 when s is not set.
func shortestGap(s Schedule) time.Duration {
	times := s.NextN(neverFiresFrom, 50)
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		if between := times[i].Sub(times[i-1]); gap == 0 || between < gap {
			gap = between
		}
	}
	return gap
}

// isLoopbackListen reports whether a host:port listens on loopback only.
func isLoopbackListen(address string) bool {
	host, _, err := net.SplitHostPort(address)
	return err == nil && isLoopbackHost(host)
}

// decodeAccounts decodes the accounts list and reports duplicate names.
func (d *decoder) decodeAccounts(root mapping) []Account {
	node := d.required(root, "accounts")
	if node == nil {
		return nil
	}
	items, ok := d.sequence(node, "accounts")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errorf(node, "accounts", "must list at least one account")
	}

	var accounts []Account
	firstLine := map[string]int{}
	for i, item := range items {
		path := fmt.Sprintf("accounts[%d]", i)
		// An invalid account with a valid name stays in the list, so that
		// the tokens that name it do not get "undefined account" errors too.
		account, _ := d.decodeAccount(item, path)
		if account.Name == "" {
			continue
		}
		if line, dup := firstLine[account.Name]; dup {
			d.errorf(resolve(item), path+".name", "duplicate account name %q; first defined at "+
				"line %d", account.Name, line)
			continue
		}
		firstLine[account.Name] = account.Line
		accounts = append(accounts, account)
	}
	return accounts
}

// decodeAccount decodes one account entry.
func (d *decoder) decodeAccount(n *yaml.Node, path string) (Account, bool) {
	m, ok := d.mapping(n, path, "name", "id", "api_token", "base_url", "request_budget")
	if !ok {
		return Account{}, false
	}
	account := Account{BaseURL: DefaultBaseURL, Line: m.node.Line}
	valid := true
	check := func(ok bool) {
		valid = valid && ok
	}

	if v := d.required(m, "name"); v != nil {
		var ok bool
		account.Name, ok = d.label(v, m.child("name"))
		check(ok)
	} else {
		check(false)
	}
	if v := d.required(m, "id"); v != nil {
		var ok bool
		account.ID, ok = d.hexID(v, m.child("id"), "account")
		check(ok)
	}
	if v := d.required(m, "api_token"); v != nil {
		var ok bool
		account.APIToken, ok = d.secretRef(v, m.child("api_token"))
		check(ok)
	}
	if v := m.get("base_url"); v != nil {
		var ok bool
		account.BaseURL, ok = d.httpURL(v, m.child("base_url"))
		check(ok)
	}
	if v := m.get("request_budget"); v != nil {
		budget, ok := d.decodeRequestBudget(v, m.child("request_budget"))
		account.RequestBudget = budget
		check(ok)
	}
	return account, valid
}

// decodeRequestBudget decodes {requests: N, per: DURATION}.
func (d *decoder) decodeRequestBudget(n *yaml.Node, path string) (*RequestBudget, bool) {
	m, ok := d.mapping(n, path, "requests", "per")
	if !ok {
		return nil, false
	}
	budget := &RequestBudget{}
	requestsNode, perNode := d.required(m, "requests"), d.required(m, "per")
	if requestsNode == nil || perNode == nil {
		return nil, false
	}
	requests, okRequests := d.positiveInt(requestsNode, m.child("requests"))
	per, okPer := d.positiveDuration(perNode, m.child("per"))
	budget.Requests, budget.Per = requests, per
	return budget, okRequests && okPer
}

// decodeSinks decodes the sinks mapping, sorted by name.
func (d *decoder) decodeSinks(root mapping) []Sink {
	node := d.required(root, "sinks")
	if node == nil {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		d.errorf(node, "sinks", "must be a mapping of sink names to sinks, not %s",
			describe(node))
		return nil
	}
	if len(node.Content) == 0 {
		d.errorf(node, "sinks", "must define at least one sink")
	}

	var sinks []Sink
	seen := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		keyNode, value := node.Content[i], node.Content[i+1]
		path := "sinks." + keyNode.Value
		name, ok := d.label(keyNode, path)
		if !ok {
			continue
		}
		if line, dup := seen[name]; dup {
			d.errorf(keyNode, path, "duplicate sink name; first defined at line %d", line)
			continue
		}
		seen[name] = keyNode.Line
		// Like accounts, invalid sinks stay in the list, marked, so that
		// their targets get no follow-on errors.
		sink, ok := d.decodeSink(value, path)
		sink.invalid = !ok
		sink.Name, sink.Line, sink.Column = name, keyNode.Line, keyNode.Column
		sinks = append(sinks, sink)
	}
	slices.SortFunc(sinks, func(a, b Sink) int { return strings.Compare(a.Name, b.Name) })
	return sinks
}

// decodeSink decodes a sink, which must have exactly one of vault and file.
func (d *decoder) decodeSink(n *yaml.Node, path string) (Sink, bool) {
	m, ok := d.mapping(n, path, string(SinkVault), string(SinkFile))
	if !ok {
		return Sink{}, false
	}
	switch {
	case m.has("vault") && m.has("file"):
		d.errorf(m.node, path, "must have either vault or file, not both")
	case m.has("vault"):
		vault, ok := d.decodeVault(m.get("vault"), m.child("vault"))
		return Sink{Kind: SinkVault, Vault: vault}, ok
	case m.has("file"):
		file, ok := d.decodeFileSink(m.get("file"), m.child("file"))
		return Sink{Kind: SinkFile, File: file}, ok
	default:
		d.errorf(m.node, path, "must have a vault or file section")
	}
	return Sink{}, false
}

// decodeFileSink decodes the settings of a file sink.
func (d *decoder) decodeFileSink(n *yaml.Node, path string) (*FileSink, bool) {
	m, ok := d.mapping(n, path, "dir", "mode", "format")
	if !ok {
		return nil, false
	}
	sink := &FileSink{Mode: DefaultFileMode, Format: FormatRaw}
	valid := true

	if v := d.required(m, "dir"); v != nil {
		sink.Dir, ok = d.absolutePath(v, m.child("dir"))
		valid = valid && ok
	} else {
		valid = false
	}
	if v := m.get("mode"); v != nil {
		sink.Mode, ok = d.fileMode(v, m.child("mode"))
		valid = valid && ok
	}
	if v := m.get("format"); v != nil {
		var format string
		format, ok = d.oneOf(v, m.child("format"),
			formatNames(FormatRaw, FormatJSON, FormatEnv)...)
		sink.Format = FileFormat(format)
		valid = valid && ok
	}
	return sink, valid
}
