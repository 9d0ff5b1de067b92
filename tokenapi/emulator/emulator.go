package emulator

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Default limits of the emulated API.
const (
	// DefaultRateLimit is the number of requests one bearer token may make in
	// one rate-limit window.
	DefaultRateLimit = 1200
	// DefaultRateWindow is the length of the fixed rate-limit window.
	DefaultRateWindow = 300 * time.Second
	// MaxTokensPerAccount is the number of tokens one account can hold.
	MaxTokensPerAccount = 500
	// MaxNameLength is the maximum length of a token name, in characters.
	MaxNameLength = 120
	// ExpiredListWindow is how long after expiry a token still appears in a
	// list with include_expired=true.
	//
	// NOTE: the public API reference states only that "recently" expired tokens
	// appear; 30 days is an assumption.
	ExpiredListWindow = 30 * 24 * time.Hour
)

// Permission group ids of the two API-token groups.
const (
	// PermissionTokensWrite is the id of the Account API Tokens Write group.
	PermissionTokensWrite = "5bc3f8b21c554832afc660159ab75fa4"
	// PermissionTokensRead is the id of the Account API Tokens Read group.
	PermissionTokensRead = "eb56a6953c034b9d97dd838155666f06"
)

// Token statuses.
const (
	// StatusActive is the status of a usable token.
	StatusActive = "active"
	// StatusDisabled is the status of a token disabled by an update.
	StatusDisabled = "disabled"
	// StatusExpired is the status of a token whose expires_on has passed.
	StatusExpired = "expired"
)

// Options configures an Emulator.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RateLimit is the number of requests per RateWindow per bearer token;
	// 0 means DefaultRateLimit.
	RateLimit int
	// RateWindow is the fixed rate-limit window; 0 means DefaultRateWindow.
	RateWindow time.Duration
	// Random is the source of ids and token values; nil means crypto/rand.
	Random io.Reader
	// StrictVerify makes verify reject disabled, expired and not-yet-valid
	// tokens with 401 code 1000, instead of returning 200 with their status.
	StrictVerify bool
}

// Emulator is an in-memory Cloudflare account-token API. All methods are safe
// for concurrent use.
type Emulator struct {
	now          func() time.Time
	random       io.Reader
	rateLimit    int
	rateWindow   time.Duration
	strictVerify bool
	mux          *http.ServeMux

	mu       sync.Mutex
	accounts map[string]*account
	order    []string // account ids in the order they were added
	byValue  map[string]*token
	groups   map[string]PermissionGroup
	faults   []*faultEntry
	requests []Request
	windows  map[string]*rateWindow
}

type account struct {
	id     string
	tokens map[string]*token
}

// token is the stored state of one token. Unset timestamps are zero.
type token struct {
	accountID  string
	id         string
	name       string
	value      string
	status     string // stored status; "expired" is computed from expiresOn
	issuedOn   time.Time
	modifiedOn time.Time
	lastUsedOn time.Time
	expiresOn  time.Time
	notBefore  time.Time
	policies   []Policy
	condition  *Condition
}

// Policy is one policy of a token.
type Policy struct {
	// ID is the policy id; the emulator assigns it.
	ID string
	// Effect is "allow" or "deny".
	Effect string
	// PermissionGroups are the permission groups the policy grants or denies.
	PermissionGroups []PermissionGroupRef
	// Resources maps a resource key to "*" or to a nested map of the same
	// shape. Nil means the token's own account with "*" when seeding.
	Resources map[string]any
}

// PermissionGroupRef is a permission group inside a policy.
type PermissionGroupRef struct {
	// ID is the permission group id.
	ID string
	// Name is the group's name; the emulator fills it from the catalogue.
	Name string
	// Meta is the optional key and value some groups carry.
	Meta *Meta
}

// Meta is the optional key and value of a permission group in a policy.
type Meta struct {
	// Key is the meta key.
	Key string
	// Value is the meta value.
	Value string
}

// Condition restricts where a token may be used from.
type Condition struct {
	// RequestIPIn lists the CIDRs a request must come from; empty means any.
	RequestIPIn []string
	// RequestIPNotIn lists the CIDRs a request must not come from.
	RequestIPNotIn []string
}

// PermissionGroup is one entry of the permission group catalogue.
type PermissionGroup struct {
	// ID is the 32-hex permission group id.
	ID string
	// Name is the human-readable name, such as "Account API Tokens Write".
	Name string
	// Scopes lists the resource scopes the group applies to.
	Scopes []string
}

// TokenSpec describes a token to seed with AddToken.
type TokenSpec struct {
	// ID is the token id; "" generates one.
	ID string
	// Name is the token name; it must not be empty.
	Name string
	// Value is the secret value, 40 to 80 characters; "" generates one.
	Value string
	// Status is "active" (the default), "disabled" or any other string, which
	// the API then reports and treats as not usable.
	Status string
	// Policies must not be empty; policy ids are always assigned.
	Policies []Policy
	// Condition is optional.
	Condition *Condition
	// IssuedOn and ModifiedOn default to the clock.
	IssuedOn, ModifiedOn time.Time
	// LastUsedOn, ExpiresOn and NotBefore are unset when zero.
	LastUsedOn, ExpiresOn, NotBefore time.Time
}

// Issued is the id and secret value of a seeded token.
type Issued struct {
	// ID is the token id.
	ID string
	// Value is the secret value.
	Value string
}

// TokenState is a snapshot of one token, with its current value, for test
// assertions. Unset timestamps are zero.
type TokenState struct {
	AccountID  string
	ID         string
	Name       string
	Value      string
	Status     string // as the API reports it at the snapshot time
	IssuedOn   time.Time
	ModifiedOn time.Time
	LastUsedOn time.Time
	ExpiresOn  time.Time
	NotBefore  time.Time
	Policies   []Policy
	Condition  *Condition
}

// New returns an empty emulator with the built-in permission group catalogue.
func New(opts Options) *Emulator {
	e := &Emulator{
		now:          opts.Now,
		random:       opts.Random,
		rateLimit:    opts.RateLimit,
		rateWindow:   opts.RateWindow,
		strictVerify: opts.StrictVerify,
		accounts:     map[string]*account{},
		byValue:      map[string]*token{},
		groups:       map[string]PermissionGroup{},
		windows:      map[string]*rateWindow{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.random == nil {
		e.random = rand.Reader
	}
	if e.rateLimit <= 0 {
		e.rateLimit = DefaultRateLimit
	}
	if e.rateWindow <= 0 {
		e.rateWindow = DefaultRateWindow
	}
	for _, g := range builtinPermissionGroups() {
		e.groups[g.ID] = g
	}
	e.mux = e.routes()
	return e
}

// Handler returns the HTTP handler that serves /client/v4/accounts/....
func (e *Emulator) Handler() http.Handler {
	return e.mux
}

// AddAccount adds an account and returns its id. An empty id generates one;
// adding an existing account is not an error.
func (e *Emulator) AddAccount(id string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()

	return e.addAccountLocked(id)
}

func (e *Emulator) addAccountLocked(id string) (string, error) {
	if id == "" {
		generated, err := e.newID()
		if err != nil {
			return "", err
		}
		id = generated
	}
	if !isHexID(id) {
		return "", fmt.Errorf("add account: id %q is not 32 lowercase hex characters", id)
	}
	if _, ok := e.accounts[id]; !ok {
		e.accounts[id] = &account{id: id, tokens: map[string]*token{}}
		e.order = append(e.order, id)
	}
	return id, nil
}

// Accounts returns the account ids in the order they were added.
func (e *Emulator) Accounts() []string {
	e.mu.Lock()
	defer e.mu.Unlock()

	return slices.Clone(e.order)
}

// AddToken stores a token in an existing account directly, without HTTP, and
// returns its id and value.
func (e *Emulator) AddToken(accountID string, spec TokenSpec) (Issued, error) {
	e.mu.Lock()
	defer e.mu.Unlock()

	return e.addTokenLocked(accountID, spec)
}

func (e *Emulator) addTokenLocked(accountID string, spec TokenSpec) (Issued, error) {
	acct, ok := e.accounts[accountID]
	if !ok {
		return Issued{}, fmt.Errorf("add token: account %q not found; add it first", accountID)
	}
	if len(acct.tokens) >= MaxTokensPerAccount {
		return Issued{}, fmt.Errorf("add token: account %s already contains the maximum of "+
			"%d tokens; delete one first", accountID, MaxTokensPerAccount)
	}
	t, err := e.tokenFromSpec(accountID, spec)
	if err != nil {
		return Issued{}, fmt.Errorf("add token %q: %w", spec.Name, err)
	}
	if _, dup := acct.tokens[t.id]; dup {
		return Issued{}, fmt.Errorf("add token %q: id %s already exists", spec.Name, t.id)
	}
	if _, dup := e.byValue[t.value]; dup {
		return Issued{}, fmt.Errorf("add token %q: value already belongs to another token",
			spec.Name)
	}
	acct.tokens[t.id] = t
	e.byValue[t.value] = t
	return Issued{ID: t.id, Value: t.value}, nil
}

// tokenFromSpec checks a seeded token and fills in its defaults: status,
// timestamps, id, value and policy ids. The caller holds e.mu.
func (e *Emulator) tokenFromSpec(accountID string, spec TokenSpec) (*token, error) {
	if strings.TrimSpace(spec.Name) == "" {
		return nil, errors.New("name is empty")
	}
	if len(spec.Policies) == 0 {
		return nil, errors.New("policies are empty")
	}

	now := e.now()
	t := &token{
		accountID:  accountID,
		id:         spec.ID,
		name:       spec.Name,
		value:      spec.Value,
		status:     spec.Status,
		issuedOn:   spec.IssuedOn,
		modifiedOn: spec.ModifiedOn,
		lastUsedOn: spec.LastUsedOn,
		expiresOn:  spec.ExpiresOn,
		notBefore:  spec.NotBefore,
		condition:  cloneCondition(spec.Condition),
	}

	if t.status == "" {
		t.status = StatusActive
	}
	if t.issuedOn.IsZero() {
		t.issuedOn = stamp(now)
	}
	if t.modifiedOn.IsZero() {
		t.modifiedOn = t.issuedOn
	}

	if t.id == "" {
		id, err := e.newID()
		if err != nil {
			return nil, err
		}
		t.id = id
	} else if !isHexID(t.id) {
		return nil, fmt.Errorf("id %q is not 32 lowercase hex characters", t.id)
	}
	if t.value == "" {
		value, err := e.newValue()
		if err != nil {
			return nil, err
		}
		t.value = value
	} else if err := checkSeedValue(t.value); err != nil {
		return nil, err
	}

	if t.condition != nil {
		if err := checkCIDRs(t.condition); err != nil {
			return nil, err
		}
	}
	for _, p := range spec.Policies {
		stored, err := e.seedPolicy(accountID, p)
		if err != nil {
			return nil, err
		}
		t.policies = append(t.policies, stored)
	}
	sortPolicies(t.policies)
	return t, nil
}

// seedPolicy checks a policy given from Go or a seed file and fills in its
// id, group names and default resources.
func (e *Emulator) seedPolicy(accountID string, p Policy) (Policy, error) {
	out := Policy{Effect: p.Effect, Resources: cloneResources(p.Resources)}
	if out.Effect == "" {
		out.Effect = "allow"
	}
	if out.Effect != "allow" && out.Effect != "deny" {
		return Policy{}, fmt.Errorf("policy effect %q is not allow or deny", p.Effect)
	}
	if len(p.Resources) == 0 {
		out.Resources = map[string]any{accountResource(accountID): "*"}
	}
	if err := checkResources(out.Resources); err != nil {
		return Policy{}, err
	}

	if len(p.PermissionGroups) == 0 {
		return Policy{}, errors.New("policy has no permission groups")
	}
	for _, ref := range p.PermissionGroups {
		group, ok := e.lookupGroup(ref)
		if !ok {
			return Policy{}, fmt.Errorf("permission group %q not found in the catalogue; "+
				"add it with AddPermissionGroup or the seed's permission_groups",
				cmp.Or(ref.ID, ref.Name))
		}
		out.PermissionGroups = append(out.PermissionGroups,
			PermissionGroupRef{ID: group.ID, Name: group.Name, Meta: cloneMeta(ref.Meta)})
	}
	sortGroups(out.PermissionGroups)
	id, err := e.newID()
	if err != nil {
		return Policy{}, err
	}
	out.ID = id
	return out, nil
}

// lookupGroup finds a catalogue group by id, or by name when the id is empty.
func (e *Emulator) lookupGroup(ref PermissionGroupRef) (PermissionGroup, bool) {
	if ref.ID != "" {
		g, ok := e.groups[ref.ID]
		return g, ok
	}
	for _, g := range e.groups {
		if g.Name == ref.Name {
			return g, true
		}
	}
	return PermissionGroup{}, false
}

// AddManagementToken adds a token named name that holds Account API Tokens
// Write (write=true) or Read on the account, and returns its id and value.
func (e *Emulator) AddManagementToken(accountID, name string, write bool) (Issued, error) {
	group := PermissionTokensRead
	if write {
		group = PermissionTokensWrite
	}
	return e.AddToken(accountID, TokenSpec{
		Name: name,
		Policies: []Policy{{
			Effect:           "allow",
			PermissionGroups: []PermissionGroupRef{{ID: group}},
			Resources:        map[string]any{accountResource(accountID): "*"},
		}},
	})
}

// AddPermissionGroup adds a group to the catalogue or replaces the group with
// the same id.
func (e *Emulator) AddPermissionGroup(g PermissionGroup) error {
	if !isHexID(g.ID) {
		return fmt.Errorf("add permission group: id %q is not 32 lowercase hex characters", g.ID)
	}
	if g.Name == "" {
		return fmt.Errorf("add permission group %s: name is empty", g.ID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()

	g.Scopes = slices.Clone(g.Scopes)
	e.groups[g.ID] = g
	return nil
}

// Token returns a snapshot of one token, including its current value, and
// whether it exists.
func (e *Emulator) Token(accountID, tokenID string) (TokenState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()

	acct, ok := e.accounts[accountID]
	if !ok {
		return TokenState{}, false
	}
	t, ok := acct.tokens[tokenID]
	if !ok {
		return TokenState{}, false
	}
	return e.snapshot(t), true
}

// Tokens returns snapshots of every token of an account, expired ones
// included, sorted by issued_on and then id.
func (e *Emulator) Tokens(accountID string) []TokenState {
	e.mu.Lock()
	defer e.mu.Unlock()

	acct, ok := e.accounts[accountID]
	if !ok {
		return nil
	}
	var out []TokenState
	for _, t := range sortedTokens(acct) {
		out = append(out, e.snapshot(t))
	}
	return out
}

// Requests returns a copy of the request log, oldest first.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()

	return slices.Clone(e.requests)
}

func (e *Emulator) snapshot(t *token) TokenState {
	return TokenState{
		AccountID:  t.accountID,
		ID:         t.id,
		Name:       t.name,
		Value:      t.value,
		Status:     t.statusAt(e.now()),
		IssuedOn:   t.issuedOn,
		ModifiedOn: t.modifiedOn,
		LastUsedOn: t.lastUsedOn,
		ExpiresOn:  t.expiresOn,
		NotBefore:  t.notBefore,
		Policies:   clonePolicies(t.policies),
		Condition:  cloneCondition(t.condition),
	}
}

// statusAt returns the status the API reports at now: the stored status,
// except that an active token whose expires_on has passed is "expired".
func (t *token) statusAt(now time.Time) string {
	if t.status == StatusActive && !t.expiresOn.IsZero() && !now.Before(t.expiresOn) {
		return StatusExpired
	}
	return t.status
}

// touchModified sets modified_on to now in whole seconds. When that is not
// later than the previous modified_on, it sets one second past it instead, so
// that every change is visible in modified_on.
func (t *token) touchModified(now time.Time) {
	now = stamp(now)
	if !now.After(t.modifiedOn) {
		now = t.modifiedOn.Add(time.Second)
	}
	t.modifiedOn = now
}

// stamp returns the clock reading as the emulator stores it in issued_on,
// modified_on and last_used_on: whole seconds in UTC, like the API reference
// examples. Expiry and rate limits use the exact clock.
func stamp(now time.Time) time.Time {
	return now.Truncate(time.Second).UTC()
}

func sortedTokens(acct *account) []*token {
	list := make([]*token, 0, len(acct.tokens))
	for _, t := range acct.tokens {
		list = append(list, t)
	}
	slices.SortFunc(list, func(a, b *token) int {
		if c := a.issuedOn.Compare(b.issuedOn); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return list
}

func sortPolicies(ps []Policy) {
	slices.SortFunc(ps, func(a, b Policy) int { return strings.Compare(a.ID, b.ID) })
}

func sortGroups(gs []PermissionGroupRef) {
	slices.SortFunc(gs, func(a, b PermissionGroupRef) int { return strings.Compare(a.ID, b.ID) })
}

func accountResource(accountID string) string {
	return "com.cloudflare.api.account." + accountID
}

func clonePolicies(ps []Policy) []Policy {
	out := make([]Policy, len(ps))
	for i, p := range ps {
		out[i] = Policy{
			ID:        p.ID,
			Effect:    p.Effect,
			Resources: cloneResources(p.Resources),
		}
		for _, g := range p.PermissionGroups {
			g.Meta = cloneMeta(g.Meta)
			out[i].PermissionGroups = append(out[i].PermissionGroups, g)
		}
	}
	return out
}

func cloneResources(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if nested, ok := v.(map[string]any); ok {
			v = cloneResources(nested)
		}
		out[k] = v
	}
	return out
}

func cloneMeta(m *Meta) *Meta {
	if m == nil {
		return nil
	}
	c := *m
	return &c
}

func cloneCondition(c *Condition) *Condition {
	if c == nil {
		return nil
	}
	return &Condition{
		RequestIPIn:    slices.Clone(c.RequestIPIn),
		RequestIPNotIn: slices.Clone(c.RequestIPNotIn),
	}
}
