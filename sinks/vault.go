package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// KV versions accepted in VaultOptions.KVVersion.
const (
	KVVersionAuto = "auto"
	KVVersion1    = "1"
	KVVersion2    = "2"
)

// VaultOptions configures a VaultSink.
type VaultOptions struct {
	// Name is the sink name in logs and metrics. Default: "vault".
	Name string
	// Address is the Vault URL, for example "https://vault.internal:8200".
	Address string
	// Namespace is sent as X-Vault-Namespace when set (Vault Enterprise).
	Namespace string
	// Mount is the whole KV mount path, slashes allowed
	// ("teams/test/secret").
	Mount string
	// KVVersion is auto, 1 or 2. Default: auto, which detects the version
	// and fails when Vault denies the detection.
	KVVersion string
	// Auth selects how the sink logs in.
	Auth VaultAuth
	// TLS configures server verification.
	TLS VaultTLS
	// Timeout bounds each HTTP request. Default: 30s.
	Timeout time.Duration
	// MaxRetries is how often vault/api retries a request that failed with
	// a 5xx or 412 status. Default: 0, because the caller retries.
	MaxRetries int
	// Now is the clock for token expiry. Default: time.Now.
	Now func() time.Time
	// Logger receives auth lifecycle events. Default: slog.Default().
	Logger *slog.Logger
}

// VaultTLS configures how the sink verifies the Vault server.
type VaultTLS struct {
	CAFile     string // PEM bundle to trust instead of the system roots
	ServerName string // name to verify instead of the address host
	// Insecure turns off certificate verification. Use it only on test
	// setups.
	Insecure bool
}

// VaultSink writes values to a Vault KV mount through vault/api.
type VaultSink struct {
	name       string
	mount      string
	configured string
	client     *api.Client
	auth       *vaultAuth
	logger     *slog.Logger

	mu      sync.Mutex
	version int // detected or configured KV version, 0 until known
}

var _ Sink = (*VaultSink)(nil)

// NewVault validates opts and builds the client. It makes no request;
// call Check before the first rotation. Close stops token renewal.
func NewVault(opts VaultOptions) (*VaultSink, error) {
	s := &VaultSink{
		name:       opts.Name,
		mount:      strings.Trim(opts.Mount, "/"),
		configured: opts.KVVersion,
		logger:     opts.Logger,
	}
	if s.name == "" {
		s.name = "vault"
	}
	if s.configured == "" {
		s.configured = KVVersionAuto
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	switch {
	case opts.Address == "":
		return nil, s.invalid("new", "", "the address is empty; set address")
	case s.mount == "":
		return nil, s.invalid("new", "", "the KV mount is empty; set mount")
	case s.configured != KVVersionAuto && s.configured != KVVersion1 && s.configured != KVVersion2:
		return nil, s.invalid("new", s.mount,
			fmt.Sprintf("kv_version %q is not one of auto, 1, 2", opts.KVVersion))
	}

	client, err := newVaultClient(opts)
	if err != nil {
		return nil, &Error{Sink: s.name, Op: "new", Kind: ErrInvalid, Err: err,
			Hint: "fix address or tls"}
	}
	s.client = client

	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s.auth, err = newVaultAuth(s.name, client, opts.Auth, now, s.logger, opts.Timeout)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newVaultClient builds a vault/api client that talks only to
// opts.Address: VAULT_ADDR, VAULT_AGENT_ADDR, VAULT_TOKEN and
// VAULT_NAMESPACE from the environment are overridden.
func newVaultClient(opts VaultOptions) (*api.Client, error) {
	config := api.DefaultConfig()
	if config.Error != nil {
		return nil, config.Error
	}
	config.Address = opts.Address
	config.AgentAddress = ""
	config.MaxRetries = opts.MaxRetries
	config.Timeout = opts.Timeout
	if config.Timeout <= 0 {
		config.Timeout = 30 * time.Second
	}
	tlsConfig := &api.TLSConfig{
		CACert:        opts.TLS.CAFile,
		TLSServerName: opts.TLS.ServerName,
		Insecure:      opts.TLS.Insecure,
	}
	if err := config.ConfigureTLS(tlsConfig); err != nil {
		return nil, fmt.Errorf("configure TLS with CA file %q: %w", opts.TLS.CAFile, err)
	}

	client, err := api.NewClient(config)
	if err != nil {
		return nil, fmt.Errorf("create Vault client for %s: %w", opts.Address, err)
	}
	client.ClearToken()
	if opts.Namespace != "" {
		client.SetNamespace(strings.Trim(opts.Namespace, "/"))
	} else {
		client.ClearNamespace()
	}
	return client, nil
}

// Name returns the sink name.
func (s *VaultSink) Name() string {
	return s.name
}

// Close stops token renewal. The sink must not be used afterwards.
func (s *VaultSink) Close() {
	s.auth.close()
}

// AuthHealthy returns nil while the sink holds a Vault token that is
// valid on its clock, and the reason otherwise. It makes no request, so a
// readiness probe may call it often.
func (s *VaultSink) AuthHealthy() error {
	return s.auth.healthy()
}

// dataPath returns the API path of the secret's data.
func (s *VaultSink) dataPath(version int, secretPath string) string {
	if version == 2 {
		return s.mount + "/data/" + secretPath
	}
	return s.mount + "/" + secretPath
}

// metadataPath returns the KV v2 API path of the secret's metadata.
func (s *VaultSink) metadataPath(secretPath string) string {
	return s.mount + "/metadata/" + secretPath
}

// secretPath validates t.Path and returns it without outer slashes.
func (s *VaultSink) secretPath(t Target) (string, error) {
	p := strings.Trim(t.Path, "/")
	if p == "" {
		return "", s.invalid("target", s.mount, "the secret path is empty; set path")
	}
	for segment := range strings.SplitSeq(p, "/") {
		if segment == "" || segment == "." || segment == ".." {
			return "", s.invalid("target", s.mount+"/"+p,
				"the secret path must not contain empty, \".\" or \"..\" segments")
		}
	}
	return p, nil
}

// Check logs in, settles the KV version and verifies with
// sys/capabilities-self that the token may read and write the target
// (and, for KV v2, update its metadata).
func (s *VaultSink) Check(ctx context.Context, t Target) error {
	secretPath, err := s.secretPath(t)
	if err != nil {
		return err
	}
	version, err := s.kvVersion(ctx)
	if err != nil {
		return err
	}

	dataPath := s.dataPath(version, secretPath)
	paths := []string{dataPath}
	if version == 2 {
		paths = append(paths, s.metadataPath(secretPath))
	}
	granted, err := s.capabilities(ctx, paths)
	if err != nil {
		return err
	}
	if err := s.requireCapabilities(dataPath, granted[dataPath], "read"); err != nil {
		return err
	}

	current, err := s.Read(ctx, t)
	if err != nil {
		return err
	}
	writeCap := "create"
	if current.Exists || current.Version > 0 {
		writeCap = "update"
	}
	if err := s.requireCapabilities(dataPath, granted[dataPath], writeCap); err != nil {
		return err
	}
	if version == 2 {
		metadataPath := s.metadataPath(secretPath)
		return s.requireCapabilities(metadataPath, granted[metadataPath], "update")
	}
	return nil
}

// requireCapabilities returns a permission error naming apiPath and the
// capabilities its policy lacks, or nil.
func (s *VaultSink) requireCapabilities(apiPath string, granted []string, need ...string) error {
	missing := missingCapabilities(granted, need)
	if len(missing) == 0 {
		return nil
	}
	return &Error{Sink: s.name, Op: "check", Path: apiPath, Kind: ErrPermissionDenied,
		Hint: fmt.Sprintf("the Vault policy must grant %s on path %q (it grants %v)",
			quoteList(missing), apiPath, granted)}
}

// capabilities requests from sys/capabilities-self the token's capabilities on
// paths.
func (s *VaultSink) capabilities(ctx context.Context, paths []string) (map[string][]string, error) {
	const apiPath = "sys/capabilities-self"
	var secret *api.Secret
	err := s.auth.do(ctx, func() error {
		var err error
		secret, err = s.client.Logical().WriteWithContext(ctx, apiPath,
			map[string]any{"paths": paths})
		return err
	})
	if err != nil {
		return nil, s.fail("check", apiPath, err)
	}
	if secret == nil || secret.Data == nil {
		return nil, &Error{Sink: s.name, Op: "check", Path: apiPath,
			Err: errors.New("empty reply"), Hint: "check that the address points at Vault"}
	}

	granted := map[string][]string{}
	for _, p := range paths {
		raw, _ := secret.Data[p].([]any)
		for _, c := range raw {
			if c, ok := c.(string); ok {
				granted[p] = append(granted[p], c)
			}
		}
	}
	return granted, nil
}

// missingCapabilities returns the entries of need that granted lacks;
// "root" grants everything.
func missingCapabilities(granted, need []string) []string {
	if slices.Contains(granted, "root") {
		return nil
	}
	var missing []string
	for _, c := range need {
		if !slices.Contains(granted, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// quoteList renders ["a" "b"] as `"a" and "b"`.
func quoteList(items []string) string {
	quoted := make([]string, len(items))
	for i, item := range items {
		quoted[i] = strconv.Quote(item)
	}
	return strings.Join(quoted, " and ")
}

// kvVersion returns the mount's KV version: detected through
// sys/internal/ui/mounts, or the configured one when Vault denies the
// detection. The result is cached after the first success.
func (s *VaultSink) kvVersion(ctx context.Context) (int, error) {
	s.mu.Lock()
	version := s.version
	s.mu.Unlock()
	if version != 0 {
		return version, nil
	}

	version, err := s.detectVersion(ctx)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.version = version
	s.mu.Unlock()
	return version, nil
}

func (s *VaultSink) detectVersion(ctx context.Context) (int, error) {
	apiPath := "sys/internal/ui/mounts/" + s.mount
	var secret *api.Secret
	err := s.auth.do(ctx, func() error {
		var err error
		secret, err = s.client.Logical().ReadWithContext(ctx, apiPath)
		return err
	})

	configured, _ := strconv.Atoi(s.configured)
	if status := statusOf(err); status == http.StatusForbidden {
		if configured != 0 {
			s.logger.DebugContext(ctx, "KV version detection denied, using the configured version",
				"sink", s.name, "mount", s.mount, "kv_version", configured)
			return configured, nil
		}
		return 0, &Error{Sink: s.name, Op: "detect", Path: apiPath, Kind: ErrPermissionDenied,
			Status: status, Hint: "Vault denied the KV version lookup; set kv_version to 1 or 2"}
	}
	if err != nil {
		return 0, s.fail("detect", apiPath, err)
	}
	if secret == nil || secret.Data == nil {
		return 0, &Error{Sink: s.name, Op: "detect", Path: apiPath, Kind: ErrNotFound,
			Hint: fmt.Sprintf("no mount found at %q; check mount and namespace", s.mount)}
	}

	kind, _ := secret.Data["type"].(string)
	mountPath, _ := secret.Data["path"].(string)
	mountPath = strings.Trim(mountPath, "/")
	if mountPath != s.mount {
		return 0, s.invalid("detect", apiPath, fmt.Sprintf(
			"%q is not a mount but a path inside mount %q; set mount to %q and move the rest"+
				" into the secret path", s.mount, mountPath, mountPath))
	}
	if kind != "kv" && kind != "generic" {
		return 0, s.invalid("detect", apiPath,
			fmt.Sprintf("mount %q is of type %q, not kv", s.mount, kind))
	}

	detected := 1
	if options, ok := secret.Data["options"].(map[string]any); ok && options["version"] == "2" {
		detected = 2
	}
	if configured != 0 && configured != detected {
		return 0, s.invalid("detect", apiPath, fmt.Sprintf(
			"kv_version is %d but mount %q is KV version %d; fix kv_version or set it to auto",
			configured, s.mount, detected))
	}
	return detected, nil
}

// Read returns the stored value and metadata at t.
func (s *VaultSink) Read(ctx context.Context, t Target) (Stored, error) {
	secretPath, err := s.secretPath(t)
	if err != nil {
		return Stored{}, err
	}
	version, err := s.kvVersion(ctx)
	if err != nil {
		return Stored{}, err
	}

	apiPath := s.dataPath(version, secretPath)
	var secret *api.Secret
	err = s.auth.do(ctx, func() error {
		var err error
		secret, err = s.client.Logical().ReadWithContext(ctx, apiPath)
		return err
	})
	if err != nil {
		return Stored{}, s.fail("read", apiPath, err)
	}
	if secret == nil || secret.Data == nil {
		return Stored{}, nil
	}
	if version == 2 {
		return decodeKVv2(secret.Data, fieldName(t)), nil
	}
	return decodeFields(secret.Data, secret.Data, fieldName(t)), nil
}

// decodeKVv2 reads a KV v2 data reply: {"data": {...}, "metadata": {...}}.
func decodeKVv2(reply map[string]any, field string) Stored {
	metadata, _ := reply["metadata"].(map[string]any)
	custom, _ := metadata["custom_metadata"].(map[string]any)
	data, _ := reply["data"].(map[string]any)

	stored := decodeFields(data, custom, field)
	stored.Exists = data != nil
	stored.Version = jsonInt(metadata["version"])
	return stored
}

// decodeFields reads the value from data and the token id, expiry and
// rotation time from meta, falling back to data for the token id and
// expiry.
func decodeFields(data, meta map[string]any, field string) Stored {
	text := func(m map[string]any, key string) string {
		v, _ := m[key].(string)
		return v
	}
	stored := Stored{
		Exists:    data != nil,
		Value:     tokenapi.NewSecret(text(data, field)),
		TokenID:   text(meta, "token_id"),
		ExpiresOn: parseTime(text(meta, "expires_on")),
	}
	if stored.TokenID == "" {
		stored.TokenID = text(data, "token_id")
	}
	if stored.ExpiresOn == nil {
		stored.ExpiresOn = parseTime(text(data, "expires_on"))
	}
	if at := parseTime(text(meta, "rotated_at")); at != nil {
		stored.RotatedAt = *at
	}
	return stored
}

// statusOf returns the HTTP status of a vault/api error, or 0.
func statusOf(err error) int {
	var respErr *api.ResponseError
	if errors.As(err, &respErr) {
		return respErr.StatusCode
	}
	return 0
}

// causeText returns a one-line description of err. For Vault replies it
// is the status-free list of Vault's messages, which never contain the
// token or the written values.
func causeText(err error) string {
	var respErr *api.ResponseError
	if errors.As(err, &respErr) {
		if len(respErr.Errors) == 0 {
			return "Vault sent no error message"
		}
		return strings.Join(respErr.Errors, "; ")
	}
	return err.Error()
}

// fail classifies a vault/api error by its status.
func (s *VaultSink) fail(op, apiPath string, err error) error {
	var sinkErr *Error
	if errors.As(err, &sinkErr) {
		return err
	}
	e := &Error{Sink: s.name, Op: op, Path: apiPath, Status: statusOf(err), Err: err}
	switch {
	case e.Status == http.StatusForbidden:
		e.Kind = ErrPermissionDenied
		e.Hint = fmt.Sprintf("the Vault policy must grant %s on path %q",
			capabilityFor(op), apiPath)
	case e.Status == http.StatusNotFound:
		e.Kind = ErrNotFound
	case e.Status == http.StatusBadRequest && strings.Contains(causeText(err), "check-and-set"):
		e.Kind = ErrConflict
		e.Hint = "another writer changed the secret; read it again before writing"
	case e.Status == http.StatusServiceUnavailable && strings.Contains(causeText(err), "sealed"):
		e.Kind = ErrUnavailable
		e.Hint = "Vault is sealed; retry after it is unsealed"
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusPreconditionFailed,
		e.Status >= 500:
		e.Kind = ErrUnavailable
		e.Hint = "retry later"
	case e.Status == 0 && !errors.Is(err, context.Canceled):
		e.Kind = ErrUnavailable
		e.Hint = "check that Vault is reachable at the configured address"
	}
	return e
}

// capabilityFor names the policy capability an operation needs.
func capabilityFor(op string) string {
	switch op {
	case "read", "detect":
		return `"read"`
	case "write":
		return `"create" and "update"`
	}
	return `"update"`
}

func (s *VaultSink) invalid(op, p, hint string) error {
	return &Error{Sink: s.name, Op: op, Path: p, Kind: ErrInvalid, Hint: hint}
}
