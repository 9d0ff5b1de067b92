package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// Vault auth methods accepted in VaultAuth.Method.
const (
	AuthToken      = "token"
	AuthAppRole    = "approle"
	AuthKubernetes = "kubernetes"
)

// DefaultServiceAccountTokenFile is the path at which Kubernetes mounts a
// pod's service account token.
const DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// maxCredentialBytes is the largest token, role id or secret id file read.
const maxCredentialBytes = 64 << 10

// VaultAuth selects how the Vault sink logs in. Credential files are read
// again at every login, so an agent may replace them.
type VaultAuth struct {
	// Method is token, approle or kubernetes. Default: token.
	Method string
	// TokenEnv names the environment variable holding the token (method
	// token).
	TokenEnv string
	// TokenFile is a file holding the token (method token); it wins over
	// TokenEnv.
	TokenFile string
	// RoleID is the AppRole role id; RoleIDFile reads it from a file.
	RoleID     string
	RoleIDFile string
	// SecretIDFile is a file holding the AppRole secret id.
	SecretIDFile string
	// TokenSource and SecretIDSource, when set, supply the token (method
	// token) or the AppRole secret id at every login, in place of the
	// environment variable and file fields above.
	TokenSource    func() (tokenapi.Secret, error)
	SecretIDSource func() (tokenapi.Secret, error)
	// Role is the Kubernetes auth role.
	Role string
	// ServiceAccountTokenFile is the Kubernetes service account token.
	// Default: DefaultServiceAccountTokenFile.
	ServiceAccountTokenFile string
	// Mount is the auth mount path. Default: "approle" or "kubernetes".
	Mount string
}

// vaultAuth keeps the client logged in. It logs in on first use and renews
// renewable tokens with a LifetimeWatcher. It logs in again when the watcher
// ends, when the token nears expiry on the injected clock, or when Vault
// rejects the token.
type vaultAuth struct {
	sink    string
	client  *api.Client
	opts    VaultAuth
	now     func() time.Time
	logger  *slog.Logger
	timeout time.Duration

	loginMu sync.Mutex // serializes logins

	mu        sync.Mutex // guards the fields below
	loggedIn  bool
	expires   time.Time // zero: the token does not expire
	lease     time.Duration
	lastErr   error
	stopWatch chan struct{} // closed to stop the current watcher
	closed    bool
}

func newVaultAuth(sink string, client *api.Client, opts VaultAuth, now func() time.Time,
	logger *slog.Logger, timeout time.Duration) (*vaultAuth, error) {
	if opts.Method == "" {
		opts.Method = AuthToken
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	a := &vaultAuth{sink: sink, client: client, opts: opts, now: now, logger: logger,
		timeout: timeout}

	var problem string
	switch opts.Method {
	case AuthToken:
		if opts.TokenEnv == "" && opts.TokenFile == "" && opts.TokenSource == nil {
			problem = "token auth needs token_env or token_file"
		}
	case AuthAppRole:
		if opts.RoleID == "" && opts.RoleIDFile == "" {
			problem = "approle auth needs role_id or role_id_file"
		} else if opts.SecretIDFile == "" && opts.SecretIDSource == nil {
			problem = "approle auth needs secret_id_file"
		}
		if a.opts.Mount == "" {
			a.opts.Mount = "approle"
		}
	case AuthKubernetes:
		if opts.Role == "" {
			problem = "kubernetes auth needs role"
		}
		if a.opts.Mount == "" {
			a.opts.Mount = "kubernetes"
		}
		if a.opts.ServiceAccountTokenFile == "" {
			a.opts.ServiceAccountTokenFile = DefaultServiceAccountTokenFile
		}
	default:
		problem = fmt.Sprintf("auth method %q is not one of token, approle, kubernetes",
			opts.Method)
	}
	if problem != "" {
		return nil, &Error{Sink: sink, Op: "new", Kind: ErrInvalid, Hint: problem}
	}
	a.opts.Mount = strings.Trim(a.opts.Mount, "/")
	return a, nil
}

// do runs call with a valid token. When Vault rejects the request with 403
// and also rejects the token itself, it logs in again and runs call once
// more.
func (a *vaultAuth) do(ctx context.Context, call func() error) error {
	if err := a.ensure(ctx); err != nil {
		return err
	}
	err := call()
	if statusOf(err) != http.StatusForbidden {
		return err
	}

	_, lookupErr := a.client.Auth().Token().LookupSelfWithContext(ctx)
	if statusOf(lookupErr) != http.StatusForbidden {
		return err
	}
	a.logger.InfoContext(ctx, "Vault rejected the token, logging in again", "sink", a.sink)
	a.invalidate()
	if err := a.ensure(ctx); err != nil {
		return err
	}
	return call()
}

// ensure logs in unless the current token is valid and not near expiry.
func (a *vaultAuth) ensure(ctx context.Context) error {
	a.loginMu.Lock()
	defer a.loginMu.Unlock()

	a.mu.Lock()
	closed := a.closed
	fresh := a.loggedIn && !a.nearExpiry()
	a.mu.Unlock()
	if closed {
		return &Error{Sink: a.sink, Op: "login", Kind: ErrInvalid, Hint: "the sink is closed"}
	}
	if fresh {
		return nil
	}

	secret, err := a.login(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.loggedIn = false
		a.lastErr = err
		return err
	}
	a.loggedIn = true
	a.lastErr = nil
	a.lease = time.Duration(secret.Auth.LeaseDuration) * time.Second
	a.expires = time.Time{}
	if a.lease > 0 {
		a.expires = a.now().Add(a.lease)
	}
	a.startWatcher(secret)
	a.logger.InfoContext(ctx, "logged in to Vault", "sink", a.sink, "method", a.opts.Method,
		"ttl", a.lease, "renewable", secret.Auth.Renewable)
	return nil
}

// nearExpiry reports whether the token has less than a tenth of its lease
// left. The caller holds a.mu.
func (a *vaultAuth) nearExpiry() bool {
	if a.expires.IsZero() {
		return false
	}
	return !a.now().Before(a.expires.Add(-a.lease / 10))
}

// invalidate makes the next ensure log in.
func (a *vaultAuth) invalidate() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loggedIn = false
}

// login gets a token with the configured method and sets it on the
// client. The returned secret always has Auth set.
func (a *vaultAuth) login(ctx context.Context) (*api.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()

	if a.opts.Method == AuthToken {
		return a.loginWithToken(ctx)
	}

	method, apiPath, err := a.loginMethod()
	if err != nil {
		return nil, err
	}
	// A clone without the old token keeps concurrent requests on the old
	// token until the new one is ready.
	loginClient, err := a.client.CloneWithHeaders()
	if err != nil {
		return nil, &Error{Sink: a.sink, Op: "login", Path: apiPath, Err: err}
	}
	loginClient.ClearToken()
	secret, err := loginClient.Auth().Login(ctx, method)
	if err != nil {
		return nil, a.loginError(apiPath, err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, &Error{Sink: a.sink, Op: "login", Path: apiPath,
			Err: errors.New("the reply has no token")}
	}
	a.client.SetToken(secret.Auth.ClientToken)
	return secret, nil
}

// loginMethod builds the AppRole or Kubernetes login, reading credential
// files now.
func (a *vaultAuth) loginMethod() (api.AuthMethod, string, error) {
	apiPath := "auth/" + a.opts.Mount + "/login"
	if a.opts.Method == AuthKubernetes {
		// Projected service account tokens rotate, so the file is read at
		// every login; trimming drops a trailing newline the JWT must not have.
		jwt, err := a.readCredential(a.opts.ServiceAccountTokenFile, "service_account_token_file")
		if err != nil {
			return nil, apiPath, err
		}
		method, err := kubernetes.NewKubernetesAuth(a.opts.Role,
			kubernetes.WithServiceAccountToken(jwt), kubernetes.WithMountPath(a.opts.Mount))
		if err != nil {
			return nil, apiPath, &Error{Sink: a.sink, Op: "login", Path: apiPath, Kind: ErrInvalid,
				Err: err, Hint: "check service_account_token_file"}
		}
		return method, apiPath, nil
	}

	roleID := a.opts.RoleID
	if a.opts.RoleIDFile != "" {
		var err error
		roleID, err = a.readCredential(a.opts.RoleIDFile, "role_id_file")
		if err != nil {
			return nil, apiPath, err
		}
	}
	secretID := &approle.SecretID{FromFile: a.opts.SecretIDFile}
	if a.opts.SecretIDSource != nil {
		value, err := a.opts.SecretIDSource()
		if err != nil {
			return nil, apiPath, &Error{Sink: a.sink, Op: "login", Path: apiPath, Kind: ErrInvalid,
				Err: err, Hint: "check secret_id"}
		}
		secretID = &approle.SecretID{FromString: value.Reveal()}
	}
	method, err := approle.NewAppRoleAuth(roleID, secretID, approle.WithMountPath(a.opts.Mount))
	if err != nil {
		return nil, apiPath, &Error{Sink: a.sink, Op: "login", Path: apiPath, Kind: ErrInvalid,
			Err: err, Hint: "check role_id and secret_id_file"}
	}
	return method, apiPath, nil
}

// loginWithToken sets the configured token and looks up its TTL and
// whether it is renewable.
func (a *vaultAuth) loginWithToken(ctx context.Context) (*api.Secret, error) {
	var token string
	var err error
	switch {
	case a.opts.TokenSource != nil:
		var value tokenapi.Secret
		value, err = a.opts.TokenSource()
		token = value.Reveal()
		if err != nil {
			err = &Error{Sink: a.sink, Op: "login", Kind: ErrInvalid, Err: err, Hint: "check token"}
		}
	case a.opts.TokenFile != "":
		token, err = a.readCredential(a.opts.TokenFile, "token_file")
	default:
		token = strings.TrimSpace(os.Getenv(a.opts.TokenEnv))
		if token == "" {
			err = &Error{Sink: a.sink, Op: "login", Kind: ErrInvalid,
				Hint: fmt.Sprintf("environment variable %s is empty or unset", a.opts.TokenEnv)}
		}
	}
	if err != nil {
		return nil, err
	}

	const apiPath = "auth/token/lookup-self"
	a.client.SetToken(token)
	self, err := a.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, a.loginError(apiPath, err)
	}
	ttl, err := self.TokenTTL()
	if err != nil {
		return nil, &Error{Sink: a.sink, Op: "login", Path: apiPath, Err: err}
	}
	renewable, err := self.TokenIsRenewable()
	if err != nil {
		return nil, &Error{Sink: a.sink, Op: "login", Path: apiPath, Err: err}
	}
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken:   token,
		Renewable:     renewable,
		LeaseDuration: int(ttl / time.Second),
	}}, nil
}

// readCredential reads a credential file and trims surrounding space.
func (a *vaultAuth) readCredential(path, field string) (string, error) {
	content, err := readLimited(path, maxCredentialBytes)
	value := strings.TrimSpace(string(content))
	if err == nil && value == "" {
		err = errors.New("the file is empty")
	}
	if err != nil {
		return "", &Error{Sink: a.sink, Op: "login", Path: path, Kind: ErrInvalid, Err: err,
			Hint: "check " + field}
	}
	return value, nil
}

// readLimited reads up to limit bytes of the file at path.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// loginError classifies a failed login. Vault rejects bad credentials with
// 400 or 403, and both mean the credentials need fixing.
func (a *vaultAuth) loginError(apiPath string, err error) error {
	e := &Error{Sink: a.sink, Op: "login", Path: apiPath, Status: statusOf(err), Err: err}
	switch {
	case e.Status == http.StatusBadRequest, e.Status == http.StatusForbidden:
		e.Kind = ErrPermissionDenied
		e.Hint = "Vault rejected the " + a.opts.Method + " credentials; check them and the role"
	case e.Status == http.StatusNotFound:
		e.Kind = ErrNotFound
		e.Hint = "no auth method is mounted at " + apiPath + "; check the auth mount"
	default:
		e.Kind = ErrUnavailable
		e.Hint = "retry later"
	}
	return e
}

// startWatcher renews secret's token in the background when it is
// renewable, replacing the previous watcher. The caller holds a.mu.
func (a *vaultAuth) startWatcher(secret *api.Secret) {
	if a.stopWatch != nil {
		close(a.stopWatch)
		a.stopWatch = nil
	}
	if !secret.Auth.Renewable || secret.Auth.LeaseDuration <= 0 {
		return
	}
	watcher, err := a.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: secret})
	if err != nil {
		a.logger.Error("cannot start Vault token renewal; the token will be replaced near expiry",
			"sink", a.sink, "err", err)
		return
	}
	stop := make(chan struct{})
	a.stopWatch = stop
	go watcher.Start()
	go a.watch(watcher, stop)
}

// watch follows one watcher: it moves the expiry forward on each renewal
// and logs in again when the watcher ends.
// NOTE: vault/api's watcher runs on real timers, so no test drives this
// path; the tests cover re-login through the injected clock and 403s.
func (a *vaultAuth) watch(watcher *api.LifetimeWatcher, stop chan struct{}) {
	defer watcher.Stop()
	for {
		select {
		case <-stop:
			return
		case renewal := <-watcher.RenewCh():
			a.mu.Lock()
			if a.stopWatch == stop && renewal.Secret != nil && renewal.Secret.Auth != nil {
				a.lease = time.Duration(renewal.Secret.Auth.LeaseDuration) * time.Second
				a.expires = a.now().Add(a.lease)
			}
			a.mu.Unlock()
		case err := <-watcher.DoneCh():
			a.mu.Lock()
			current := a.stopWatch == stop && !a.closed
			if current {
				a.loggedIn = false
			}
			a.mu.Unlock()
			if !current {
				return
			}
			a.logger.Info("Vault token renewal ended, logging in again", "sink", a.sink, "err", err)
			ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
			defer cancel()
			if err := a.ensure(ctx); err != nil {
				a.logger.Error("Vault login failed; the next sink call retries it",
					"sink", a.sink, "err", err)
			}
			return
		}
	}
}

// healthy returns nil while a token is held that has not expired on the
// clock, and the reason otherwise.
func (a *vaultAuth) healthy() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return &Error{Sink: a.sink, Op: "login", Kind: ErrInvalid, Hint: "the sink is closed"}
	case !a.loggedIn && a.lastErr != nil:
		return a.lastErr
	case !a.loggedIn:
		return &Error{Sink: a.sink, Op: "login", Kind: ErrUnavailable,
			Hint: "not logged in yet; the first Check or sink call logs in"}
	case !a.expires.IsZero() && !a.now().Before(a.expires):
		return &Error{Sink: a.sink, Op: "login", Kind: ErrUnavailable,
			Hint: "the Vault token expired at " + a.expires.UTC().Format(time.RFC3339)}
	}
	return nil
}

// close stops renewal; later calls fail.
func (a *vaultAuth) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.stopWatch != nil {
		close(a.stopWatch)
		a.stopWatch = nil
	}
}
