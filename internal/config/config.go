// Package config loads and validates the tokenrotator policy file: which
// Cloudflare tokens to rotate, when, how, and which sinks receive the new
// values. Load reports every problem at once, each with its line, column and
// field path. Resolver reads the secrets the file refers to.
package config

import (
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Built-in values of settings that the file leaves out.
const (
	DefaultSchedule      = "*/15 * * * *"
	DefaultStateDir      = "/var/lib/tokenrotator"
	DefaultListen        = "127.0.0.1:9464"
	DefaultSweepTimeout  = 10 * time.Minute
	DefaultShutdownGrace = 30 * time.Second
	DefaultBaseURL       = "https://api.cloudflare.com/client/v4"
	DefaultFileMode      = fs.FileMode(0o600)
	// DefaultServiceAccountTokenFile is where Kubernetes mounts the pod's
	// service account token.
	DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// Config is a loaded and validated policy file.
type Config struct {
	// File is the name used in messages.
	File string
	// Schedule is the cron schedule of the sweeps.
	Schedule Schedule
	// StateDir is the directory of the journal and other state.
	StateDir string
	// Listen is the host:port of the metrics, health and admin HTTP server.
	Listen string
	// AdminToken guards POST /v1/rotate/{token}. The zero value disables
	// that endpoint.
	AdminToken SecretRef
	// SweepTimeout is the deadline of one sweep.
	SweepTimeout time.Duration
	// Jitter is the upper bound of the random delay before a scheduled sweep.
	Jitter time.Duration
	// ShutdownGrace is the time a stopping daemon waits for work in flight.
	ShutdownGrace time.Duration

	// Accounts are the Cloudflare accounts, in file order.
	Accounts []Account
	// Sinks are the secret destinations, sorted by name.
	Sinks []Sink
	// Defaults are the policy settings tokens inherit, built-ins merged in.
	Defaults Policy
	// Tokens are the managed tokens, in file order, with defaults merged in.
	Tokens []Token
	// Warnings are problems that do not stop the daemon, such as a file
	// sink mode that lets the group read secrets.
	Warnings Errors
}

// Account is one Cloudflare account and the management token that can
// list, roll, create and delete its account-owned tokens.
type Account struct {
	// Name labels the account in logs, metrics and tokens[].account.
	Name string
	// ID is the Cloudflare account id, 32 lowercase hex characters.
	ID string
	// APIToken refers to the management token.
	APIToken SecretRef
	// BaseURL is the API root without a trailing slash.
	BaseURL string
	// RequestBudget paces requests on the client side. With nil the API
	// client paces requests on its own.
	RequestBudget *RequestBudget
	// Line is the line of the account's entry.
	Line int
}

// RequestBudget allows Requests requests in every window of length Per.
type RequestBudget struct {
	Requests int
	Per      time.Duration
}

// SinkKind is the type of a sink.
type SinkKind string

// The sink kinds.
const (
	SinkVault SinkKind = "vault"
	SinkFile  SinkKind = "file"
)

// Sink is one named destination for token values. Exactly one of Vault and
// File is set, matching Kind.
type Sink struct {
	Name  string
	Kind  SinkKind
	Vault *VaultSink
	File  *FileSink
	// Line and Column place the sink's name in the file.
	Line   int
	Column int

	// invalid marks a sink with errors, whose targets are not checked.
	invalid bool
}

// KVVersion is the version of a Vault KV secrets engine. With KVAuto the
// sink detects the version from the mount.
type KVVersion int

// The KV versions.
const (
	KVAuto KVVersion = 0
	KV1    KVVersion = 1
	KV2    KVVersion = 2
)

// String returns "auto", "1" or "2".
func (v KVVersion) String() string {
	switch v {
	case KV1:
		return "1"
	case KV2:
		return "2"
	default:
		return "auto"
	}
}

// VaultSink is the settings of a sink that writes to a Vault KV engine.
type VaultSink struct {
	// Address is the Vault server URL.
	Address string
	// Namespace is the Vault Enterprise namespace, or "".
	Namespace string
	// Mount is the KV mount path without leading or trailing slashes. It
	// may contain slashes, as in "teams/platform/secret".
	Mount string
	// KVVersion is the engine version, or KVAuto.
	KVVersion KVVersion
	// Auth is the login method and its settings.
	Auth VaultAuth
	// TLS configures the connection to Address.
	TLS VaultTLS
}

// AuthMethod is a Vault auth method.
type AuthMethod string

// The supported Vault auth methods.
const (
	AuthToken      AuthMethod = "token"
	AuthAppRole    AuthMethod = "approle"
	AuthKubernetes AuthMethod = "kubernetes"
)

// VaultAuth is the login of a Vault sink. Only the fields of Method are set.
type VaultAuth struct {
	Method AuthMethod
	// Mount is the auth mount path, or "" for the token method.
	Mount string
	// Token refers to the Vault token (token method).
	Token SecretRef
	// RoleID is the AppRole role id written inline, and RoleIDFile is the
	// file that contains it. At most one is set.
	RoleID     string
	RoleIDFile string
	// SecretID refers to the AppRole secret id.
	SecretID SecretRef
	// Role is the Vault role of the kubernetes method.
	Role string
	// ServiceAccountTokenFile is the JWT the kubernetes method logs in with.
	ServiceAccountTokenFile string

	roleIDFileLine, roleIDFileColumn int
}

// VaultTLS configures TLS to Vault. The zero value uses the system roots.
type VaultTLS struct {
	CAFile             string
	ServerName         string
	InsecureSkipVerify bool
}

// FileFormat is the layout of the files a file sink writes.
type FileFormat string

// The file formats.
const (
	// FormatRaw writes only the value, with no trailing newline.
	FormatRaw FileFormat = "raw"
	// FormatJSON writes a JSON object with the value under the target field.
	FormatJSON FileFormat = "json"
	// FormatEnv writes FIELD=value lines, as systemd EnvironmentFile= reads.
	FormatEnv FileFormat = "env"
)

// FileSink is the settings of a sink that writes files under one directory.
type FileSink struct {
	Dir    string
	Mode   fs.FileMode
	Format FileFormat
}

// Strategy is the method that gives a token a new value.
type Strategy string

// The rotation strategies.
const (
	// StrategyRoll replaces the value and keeps the token id. The old value
	// stops working at once.
	StrategyRoll Strategy = "roll"
	// StrategyRecreate creates a new token and deletes the old one after
	// the grace period.
	StrategyRecreate Strategy = "recreate"
)

// IdleAction is the action taken on a token unused for longer than idle_after.
type IdleAction string

// The idle actions.
const (
	IdleReport  IdleAction = "report"
	IdleDisable IdleAction = "disable"
)

// Policy is the rotation settings of a token. A zero RenewBefore, MaxAge or
// IdleAfter turns that rule off. TTL is always longer than zero.
type Policy struct {
	Strategy Strategy
	// RenewBefore rotates a token when its expires_on is this close.
	RenewBefore time.Duration
	// MaxAge rotates a token when its last rotation is this old.
	MaxAge time.Duration
	// RotationSchedule rotates a token once at each fire time. It is zero
	// when not set.
	RotationSchedule Schedule
	// TTL is the lifetime of a recreated token, and the extension of a
	// rolled token whose expiry is within RenewBefore.
	TTL time.Duration
	// IdleAfter flags a token unused for this long.
	IdleAfter  time.Duration
	IdleAction IdleAction
	// GracePeriod is the time a replaced token stays valid (recreate).
	GracePeriod time.Duration
}

// Token is one managed Cloudflare token with its settings resolved.
type Token struct {
	// Key identifies the token in metric labels and the CLI: its name, or
	// its id when selected by id. Keys are unique within an account.
	Key string
	// Name selects the token by its Cloudflare name, or is "" when ID does.
	Name string
	// ID selects the token by its Cloudflare id, or is "" when Name does.
	ID string
	// Account is the name of the account, and AccountID its Cloudflare id.
	Account   string
	AccountID string
	// Policy is the token's settings with defaults merged in.
	Policy Policy
	// Targets are the places the value is written to, at least one.
	Targets []Target
	// Line is the line of the token's entry.
	Line int
}

// Target is one place a token value is written to.
type Target struct {
	// Sink is the name of a sink in Config.Sinks.
	Sink string
	// Path is the secret path under the Vault mount, or the file name
	// under the file sink's directory.
	Path string
	// Field is the Vault data key, the JSON key or the environment
	// variable name. It is "" for raw files.
	Field string
	Line  int
}

// Sink returns the sink with the given name.
func (c *Config) Sink(name string) (Sink, bool) {
	for _, s := range c.Sinks {
		if s.Name == name {
			return s, true
		}
	}
	return Sink{}, false
}

// Account returns the account with the given name.
func (c *Config) Account(name string) (Account, bool) {
	for _, a := range c.Accounts {
		if a.Name == name {
			return a, true
		}
	}
	return Account{}, false
}

// FindToken returns the token that ref names: "ACCOUNT/KEY", or a bare KEY
// when only one account manages a token with that key. Token names may
// contain slashes, so a ref that does not start with an account name is
// read as a bare key.
func (c *Config) FindToken(ref string) (Token, error) {
	var matches []Token
	if account, key, ok := strings.Cut(ref, "/"); ok {
		for _, t := range c.Tokens {
			if t.Account == account && t.Key == key {
				matches = append(matches, t)
			}
		}
	}
	for _, t := range c.Tokens {
		if t.Key == ref {
			matches = append(matches, t)
		}
	}

	switch len(matches) {
	case 0:
		return Token{}, fmt.Errorf("find token %q: no managed token has that name or id; "+
			"check-config lists the managed tokens", ref)
	case 1:
		return matches[0], nil
	default:
		accounts := make([]string, len(matches))
		for i, t := range matches {
			accounts[i] = t.Account + "/" + t.Key
		}
		return Token{}, fmt.Errorf("find token %q: it matches %s; write ACCOUNT/KEY", ref,
			strings.Join(accounts, " and "))
	}
}
