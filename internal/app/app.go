// Package app builds a working rotator from a loaded policy: API clients,
// sinks, the journal and the metric hooks. The commands once, plan, rotate
// and run share it, so they all behave alike.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/config"
	"github.com/tokenrotator/tokenrotator/internal/metrics"
	"github.com/tokenrotator/tokenrotator/rotator"
	"github.com/tokenrotator/tokenrotator/sinks"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// Options configures Build. Zero fields take the process defaults.
type Options struct {
	// Getenv and ReadFile resolve secret references; nil means the
	// process environment and os.ReadFile.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// StateDir overrides the policy's state_dir when not empty.
	StateDir string
	// ReadOnly builds for plan: the journal is read without its lock and
	// nothing is created on disk.
	ReadOnly bool
	// Journal, when set, is used instead of opening the state directory,
	// so a reload keeps the daemon's lock. Close then leaves it open.
	Journal *rotator.Journal
	Logger  *slog.Logger
	// Metrics, when set, receives API, sink and rotation observations.
	Metrics *metrics.Metrics
	// Now and Sleep are the clock; nil means the wall clock.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient sends Cloudflare API requests; nil means the client
	// default.
	HTTPClient *http.Client
}

// App is a rotator built from a policy, with everything it holds open.
type App struct {
	Config  *config.Config
	Rotator *rotator.Rotator
	Journal *rotator.Journal
	// Clients maps account names to their API clients.
	Clients map[string]*tokenapi.Client
	// Sinks maps sink names to sinks.
	Sinks map[string]sinks.Sink
	// AdminToken guards the on-demand rotation endpoint; zero disables it.
	AdminToken tokenapi.Secret

	metrics *metrics.Metrics
	log     *slog.Logger
	vaults  []*sinks.VaultSink
	// ownsJournal is false when the journal was passed in Options.
	ownsJournal bool
}

// Build resolves the policy's secrets and builds the clients, sinks,
// journal and rotator. Every missing secret is reported at once, as
// config.Errors.
func Build(cfg *config.Config, opts Options) (*App, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	resolver := config.Resolver{Getenv: opts.Getenv, ReadFile: opts.ReadFile}
	secrets, err := resolver.ResolveAll(cfg)
	if err != nil {
		return nil, err
	}

	a := &App{Config: cfg, Clients: map[string]*tokenapi.Client{}, Sinks: map[string]sinks.Sink{},
		AdminToken: secrets.AdminToken, metrics: opts.Metrics, log: opts.Logger}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	if err := a.buildClients(cfg, secrets, opts); err != nil {
		return nil, err
	}
	if err := a.buildSinks(cfg, resolver, opts); err != nil {
		return nil, err
	}

	stateDir := cfg.StateDir
	if opts.StateDir != "" {
		stateDir = opts.StateDir
	}
	if opts.Journal != nil {
		a.Journal = opts.Journal
	} else {
		if a.Journal, err = openJournal(stateDir, opts.ReadOnly); err != nil {
			return nil, err
		}
		a.ownsJournal = true
	}

	accounts := make([]*rotator.Account, 0, len(cfg.Accounts))
	for _, acc := range cfg.Accounts {
		accounts = append(accounts, &rotator.Account{Name: acc.Name, Client: a.Clients[acc.Name]})
	}
	a.Rotator, err = rotator.New(rotator.Options{
		Accounts: accounts, Policies: Policies(cfg), Sinks: a.Sinks, Journal: a.Journal,
		Logger: opts.Logger, Now: opts.Now, Sleep: opts.Sleep,
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// openJournal opens the journal in dir, or reads it without the lock for a
// read-only build, so plan works beside a running daemon.
func openJournal(dir string, readOnly bool) (*rotator.Journal, error) {
	if readOnly {
		return rotator.ReadJournal(dir)
	}
	return rotator.OpenJournal(dir)
}

func (a *App) buildClients(cfg *config.Config, secrets *config.Secrets, opts Options) error {
	pool := &tokenapi.PacerPool{}
	for _, acc := range cfg.Accounts {
		token := secrets.AccountTokens[acc.Name]
		pacer := pool.For(token)
		if b := acc.RequestBudget; b != nil {
			pacer = tokenapi.NewPacer(b.Requests, b.Per)
		}
		client, err := tokenapi.NewClient(tokenapi.Options{
			BaseURL: acc.BaseURL, AccountID: acc.ID, ManagementToken: token,
			HTTPClient: opts.HTTPClient, Pacer: pacer, Observer: a.observeAttempt,
			Now: opts.Now, Sleep: opts.Sleep,
		})
		if err != nil {
			return fmt.Errorf("account %s: %w", acc.Name, err)
		}
		a.Clients[acc.Name] = client
	}
	return nil
}

func (a *App) buildSinks(cfg *config.Config, resolver config.Resolver, opts Options) error {
	for _, s := range cfg.Sinks {
		switch s.Kind {
		case config.SinkFile:
			sink, err := sinks.NewFile(sinks.FileOptions{
				Name: s.Name, Dir: s.File.Dir, Format: string(s.File.Format), Mode: s.File.Mode,
			})
			if err != nil {
				return err
			}
			a.Sinks[s.Name] = sink
		case config.SinkVault:
			sink, err := sinks.NewVault(vaultOptions(s, resolver, opts))
			if err != nil {
				return err
			}
			a.vaults = append(a.vaults, sink)
			a.Sinks[s.Name] = sink
		default:
			return fmt.Errorf("sink %s: unknown kind %q", s.Name, s.Kind)
		}
	}
	return nil
}

// vaultOptions maps a Vault sink of the policy to sink options. Credentials
// are resolved again at every login, so a rotated secret id or an agent's
// new token is picked up.
func vaultOptions(s config.Sink, resolver config.Resolver, opts Options) sinks.VaultOptions {
	v := s.Vault
	auth := sinks.VaultAuth{
		Method: string(v.Auth.Method), Mount: v.Auth.Mount, RoleID: v.Auth.RoleID,
		RoleIDFile: v.Auth.RoleIDFile, Role: v.Auth.Role,
		ServiceAccountTokenFile: v.Auth.ServiceAccountTokenFile,
	}
	if ref := v.Auth.Token; !ref.IsZero() {
		auth.TokenSource = func() (tokenapi.Secret, error) { return resolver.Resolve(ref) }
	}
	if ref := v.Auth.SecretID; !ref.IsZero() {
		auth.SecretIDSource = func() (tokenapi.Secret, error) { return resolver.Resolve(ref) }
	}
	return sinks.VaultOptions{
		Name: s.Name, Address: v.Address, Namespace: v.Namespace, Mount: v.Mount,
		KVVersion: v.KVVersion.String(), Auth: auth,
		TLS: sinks.VaultTLS{CAFile: v.TLS.CAFile, ServerName: v.TLS.ServerName,
			Insecure: v.TLS.InsecureSkipVerify},
		Now: opts.Now, Logger: opts.Logger,
	}
}

// Policies converts the policy file's tokens to the rotator's form.
func Policies(cfg *config.Config) []*rotator.Policy {
	out := make([]*rotator.Policy, 0, len(cfg.Tokens))
	for _, t := range cfg.Tokens {
		p := &rotator.Policy{
			Account: t.Account, AccountID: t.AccountID, Key: t.Key, ID: t.ID, Name: t.Name,
			Strategy: rotator.Strategy(t.Policy.Strategy), RenewBefore: t.Policy.RenewBefore,
			MaxAge: t.Policy.MaxAge, TTL: t.Policy.TTL, IdleAfter: t.Policy.IdleAfter,
			IdleAction: rotator.IdleAction(t.Policy.IdleAction), GracePeriod: t.Policy.GracePeriod,
			Schedule: t.Policy.RotationSchedule.Cron, ScheduleText: t.Policy.RotationSchedule.Text,
		}
		for _, target := range t.Targets {
			p.Targets = append(p.Targets, rotator.TargetRef{
				Sink: target.Sink, Path: target.Path, Field: target.Field,
			})
		}
		out = append(out, p)
	}
	return out
}

// CheckSinks runs the pre-flight check of every target once, so a daemon
// with a sink it cannot write to says so at start-up instead of at the
// first due rotation.
func (a *App) CheckSinks(ctx context.Context) error {
	var errs []error
	for _, p := range a.Rotator.Policies() {
		for _, t := range p.Targets {
			err := a.Sinks[t.Sink].Check(ctx, sinks.Target{Path: t.Path, Field: t.Field})
			if err != nil {
				errs = append(errs, fmt.Errorf("token %s target %s: %w", p.Key, t, err))
			}
		}
	}
	return errors.Join(errs...)
}

// VaultAuthHealthy returns an error for each Vault sink whose login does
// not currently work, and records the state in the metrics.
func (a *App) VaultAuthHealthy() error {
	var errs []error
	for _, v := range a.vaults {
		err := v.AuthHealthy()
		if a.metrics != nil {
			a.metrics.SetVaultAuth(v.Name(), err == nil)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops Vault token renewal and releases the state directory, unless
// the journal was passed in by the caller.
func (a *App) Close() {
	for _, v := range a.vaults {
		v.Close()
	}
	if a.Journal != nil && a.ownsJournal {
		a.Journal.Close()
	}
}
