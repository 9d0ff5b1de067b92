// Package daemon runs tokenrotator as a service: it sweeps on the policy's
// schedule, serves metrics, health and on-demand rotation over HTTP,
// reloads the policy on request, talks to systemd, and stops without
// losing a value.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/app"
	"github.com/tokenrotator/tokenrotator/internal/config"
	"github.com/tokenrotator/tokenrotator/internal/metrics"
	"github.com/tokenrotator/tokenrotator/rotator"
)

// Options configures Run.
type Options struct {
	// ConfigPath is the policy file, read at start and at each reload.
	ConfigPath string
	// StateDir overrides the policy's state_dir when not empty.
	StateDir string
	// Listen overrides the policy's listen address when not empty.
	Listen  string
	Version string
	Logger  *slog.Logger
	// Getenv and ReadFile resolve the policy's secret references.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// Reload receives a value for each reload request (SIGHUP).
	Reload <-chan struct{}
	// Clock drives the schedule; nil means the wall clock.
	Clock Clock
	// Jitter returns a random duration in [0, n); nil means math/rand.
	Jitter func(n time.Duration) time.Duration
	// Notify sends a state to systemd; nil means sd_notify, which does
	// nothing outside systemd.
	Notify func(state string) error
	// HTTPClient sends Cloudflare API requests; nil means the default.
	HTTPClient *http.Client
	// OnSweep, when set, is called after each sweep with its report.
	OnSweep func(*rotator.Report)
	// OnListen, when set, is called with the HTTP server's address once it
	// accepts connections.
	OnListen func(addr string)
	// OnReload, when set, is called after each reload attempt with its
	// outcome.
	OnReload func(err error)
	// OnWait, when set, is called with the next sweep time before the
	// scheduler starts waiting for it.
	OnWait func(next time.Time)
}

// Daemon is a running service. Its fields are guarded by mu unless noted.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	metrics *metrics.Metrics
	journal *rotator.Journal

	// run serialises sweeps, on-demand rotations and reloads: a scheduled
	// sweep that finds it held is skipped, not queued.
	run sync.Mutex

	mu  sync.Mutex
	app *app.App

	// idle holds the account/key of the tokens the last sweep found idle,
	// so each change is logged once. Only the sweep goroutine uses it.
	idle map[string]bool

	ready        atomic.Bool
	lastSweepOK  atomic.Bool
	sweptOnce    atomic.Bool
	sweepRunning atomic.Bool
}

// Run loads the policy, starts the HTTP server and sweeps on schedule until
// ctx ends. Then it stops scheduling and lets a sweep in flight finish
// within shutdown_grace before it cancels the sweep. Every value already
// taken from Cloudflare is in the journal by then.
func Run(ctx context.Context, opts Options) error {
	d, err := start(opts)
	if err != nil {
		return err
	}
	defer d.close()
	return d.serve(ctx)
}

func start(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Clock == nil {
		opts.Clock = wallClock{}
	}
	if opts.Jitter == nil {
		opts.Jitter = func(n time.Duration) time.Duration {
			if n <= 0 {
				return 0
			}
			return rand.N(n)
		}
	}
	if opts.Notify == nil {
		opts.Notify = sdNotify
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}

	d := &Daemon{opts: opts, log: opts.Logger, clock: opts.Clock, metrics: metrics.New(opts.Version)}
	cfg, err := config.LoadFile(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	stateDir := cfg.StateDir
	if opts.StateDir != "" {
		stateDir = opts.StateDir
	}
	if d.journal, err = rotator.OpenJournal(stateDir); err != nil {
		return nil, err
	}
	a, err := d.build(cfg)
	if err != nil {
		d.journal.Close()
		return nil, err
	}
	d.app = a
	d.metrics.SetConfigReload(true, d.clock.Now())
	d.log.Info("policy loaded", "config", opts.ConfigPath, "accounts", len(cfg.Accounts),
		"sinks", len(cfg.Sinks), "tokens", len(cfg.Tokens), "state_dir", a.Journal.Dir())
	return d, nil
}

// build makes an app from cfg with the daemon's journal, which holds the
// state directory's lock for the daemon's whole life.
func (d *Daemon) build(cfg *config.Config) (*app.App, error) {
	for _, w := range cfg.Warnings {
		d.log.Warn("policy warning", "warning", w.Error())
	}
	return app.Build(cfg, app.Options{
		Getenv: d.opts.Getenv, ReadFile: d.opts.ReadFile, StateDir: d.opts.StateDir,
		Journal: d.journal, Logger: d.log, Metrics: d.metrics, Now: d.clock.Now,
		Sleep: sleepContext(d.clock), HTTPClient: d.opts.HTTPClient,
	})
}

func (d *Daemon) current() *app.App {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.app
}

func (d *Daemon) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.app != nil {
		d.app.Close()
	}
	if d.journal != nil {
		d.journal.Close()
	}
}

// serve runs the HTTP server, the scheduler and the reload loop until ctx
// ends, then shuts them down in order.
func (d *Daemon) serve(ctx context.Context) error {
	cfg := d.current().Config
	listen := cfg.Listen
	if d.opts.Listen != "" {
		listen = d.opts.Listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; set listen in the policy or --listen", listen, err)
	}
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	d.log.Info("http server listening", "addr", ln.Addr().String(),
		"endpoints", "/metrics /healthz /readyz /v1/rotate/{token}")
	if d.opts.OnListen != nil {
		d.opts.OnListen(ln.Addr().String())
	}

	if err := d.current().CheckSinks(ctx); err != nil {
		// Each rotation checks its targets again, so the daemon keeps
		// running and reports the problem through logs and /readyz.
		d.log.Error("sink check failed at start-up; rotations into these targets will fail "+
			"until it is fixed", "err", err)
	}
	d.current().VaultAuthHealthy()
	d.ready.Store(true)
	d.notify("READY=1")
	d.log.Info("tokenrotator started", "version", d.opts.Version, "schedule", cfg.Schedule.Text)

	// Sweeps get their own context, so that a stop request lets the sweep
	// in flight finish; hardStop cancels it once the grace period is over.
	sweepCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.loop(ctx, sweepCtx)
	}()
	go d.watchdog(ctx)

	<-ctx.Done()
	d.ready.Store(false)
	d.notify("STOPPING=1")
	grace := d.current().Config.ShutdownGrace
	if d.sweepRunning.Load() {
		d.log.Info("stopping: waiting for the sweep in flight", "grace", grace)
	} else {
		d.log.Info("stopping")
	}
	select {
	case <-loopDone:
	case <-d.clock.At(d.clock.Now().Add(grace)):
		d.log.Warn("sweep did not finish within the shutdown grace period; cancelling it, values "+
			"already taken from Cloudflare are in the journal", "grace", grace)
		hardStop()
		<-loopDone
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	<-httpDone
	owed := len(d.journal.Unsaved())
	d.log.Info("tokenrotator stopped", "unsaved_values", owed,
		"pending_revocations", len(d.journal.Revocations()))
	return nil
}

// loop sweeps once at start, then at each fire time of the schedule, and
// reloads the policy when asked. A missed fire time (the host slept or the
// process was down) is caught up by the start-up sweep or at once after
// the wait, because each wait re-reads the wall clock.
func (d *Daemon) loop(ctx, sweepCtx context.Context) {
	d.sweep(sweepCtx, "start-up")
	for {
		cfg := d.current().Config
		next := cfg.Schedule.Next(d.clock.Now())
		if cfg.Jitter > 0 {
			next = next.Add(d.opts.Jitter(cfg.Jitter))
		}
		d.log.Debug("next sweep scheduled", "at", next)
		if d.opts.OnWait != nil {
			d.opts.OnWait(next)
		}

		waitCtx, cancelWait := context.WithCancel(ctx)
		reloaded := make(chan struct{})
		go func() {
			select {
			case <-d.opts.Reload:
				close(reloaded)
				cancelWait()
			case <-waitCtx.Done():
			}
		}()
		reached := waitUntil(waitCtx, d.clock, next)
		cancelWait()

		select {
		case <-ctx.Done():
			return
		case <-reloaded:
			err := d.reload(sweepCtx)
			if d.opts.OnReload != nil {
				d.opts.OnReload(err)
			}
			if err == nil {
				d.sweep(sweepCtx, "reload")
			}
			continue
		default:
		}
		if reached {
			d.sweep(sweepCtx, "schedule")
		}
	}
}

// sweep runs one sweep with the policy's deadline, unless another run is in
// progress, and records its outcome. A panic inside is logged and counted
// as a failed sweep; the daemon keeps running.
func (d *Daemon) sweep(ctx context.Context, trigger string) {
	if !d.run.TryLock() {
		d.log.Warn("sweep skipped: the previous run is still in progress", "trigger", trigger)
		return
	}
	defer d.run.Unlock()

	a := d.current()
	start := d.clock.Now()
	d.sweepRunning.Store(true)
	defer d.sweepRunning.Store(false)
	defer func() {
		if v := recover(); v != nil {
			d.log.Error("sweep panicked; the daemon keeps running", "trigger", trigger,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			d.lastSweepOK.Store(false)
			d.sweptOnce.Store(true)
			d.metrics.ObserveSweep(false, start, d.clock.Now())
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, a.Config.SweepTimeout)
	defer cancel()
	d.log.Debug("sweep started", "trigger", trigger)
	rep := a.Rotator.Sweep(ctx)
	a.Record(rep)
	a.VaultAuthHealthy()
	d.metrics.ObserveSweep(rep.OK(), start, d.clock.Now())
	d.lastSweepOK.Store(rep.OK())
	d.sweptOnce.Store(true)
	d.logSweep(rep, trigger)
	if d.opts.OnSweep != nil {
		d.opts.OnSweep(rep)
	}
}

// logSweep logs one summary line per sweep. Each token's outcome was
// logged by the rotator when it happened.
func (d *Daemon) logSweep(rep *rotator.Report, trigger string) {
	var rotated, failed, due, idle int
	nowIdle := map[string]bool{}
	for _, t := range rep.Tokens {
		if t.Decision.Idle {
			idle++
			d.logIdle(t, nowIdle)
		}
		switch {
		case t.Result == rotator.ResultSuccess:
			rotated++
		case t.Failed():
			failed++
			if t.Result == "" {
				// Decision errors are not logged by the rotator.
				d.log.Error("token needs attention", "account", t.Decision.Policy.Account,
					"token", t.Decision.Policy.Key, "reason", t.Decision.ErrKind, "err", t.Decision.Err)
			}
		}
		if t.Decision.Due() {
			due++
		}
	}
	for key := range d.idle {
		if !nowIdle[key] {
			d.log.Info("token is no longer idle", "token", key)
		}
	}
	d.idle = nowIdle
	for _, err := range rep.Errors {
		d.log.Error("journal work failed", "err", err)
	}
	attrs := []any{"trigger", trigger, "tokens", len(rep.Tokens), "due", due, "rotated", rotated,
		"failed", failed, "idle", idle, "unsaved_values", rep.Unsaved, "pending_revocations", rep.RevocationsPending,
		"duration", rep.Finished.Sub(rep.Started).Round(time.Millisecond)}
	if rep.OK() {
		d.log.Info("sweep finished", attrs...)
		return
	}
	d.log.Warn("sweep finished with problems", attrs...)
}

// logIdle logs a token that has become idle since the last sweep, once.
func (d *Daemon) logIdle(t rotator.TokenReport, nowIdle map[string]bool) {
	p := t.Decision.Policy
	key := p.Account + "/" + p.Key
	nowIdle[key] = true
	if d.idle[key] {
		return
	}
	attrs := []any{"account", p.Account, "token", p.Key,
		"idle_for", config.FormatDuration(t.Decision.IdleFor.Round(time.Hour)),
		"last_used", t.Decision.LastUsed, "idle_action", p.IdleAction}
	if t.Decision.Token != nil {
		attrs = append(attrs, "token_id", t.Decision.Token.ID)
	}
	d.log.Info("token is idle", attrs...)
}

// reload loads the policy again and swaps it in. On any error the running
// policy stays, the error is logged and returned, and the reload metric
// records the failure.
func (d *Daemon) reload(ctx context.Context) error {
	d.notify("RELOADING=1")
	defer d.notify("READY=1")
	d.log.Info("reloading policy", "config", d.opts.ConfigPath)

	d.run.Lock()
	defer d.run.Unlock()
	old := d.current()
	next, err := d.loadForReload(ctx, old.Config)
	if err != nil {
		d.metrics.SetConfigReload(false, d.clock.Now())
		d.log.Error("policy reload failed; keeping the running policy", "config", d.opts.ConfigPath,
			"err", err)
		return err
	}

	d.mu.Lock()
	d.app = next
	d.mu.Unlock()
	old.Close()
	d.metrics.SetConfigReload(true, d.clock.Now())
	sinkNames := make([]string, 0, len(next.Sinks))
	for name := range next.Sinks {
		sinkNames = append(sinkNames, name)
	}
	d.metrics.RetainSinks(sinkNames)
	d.log.Info("policy reloaded", "tokens", len(next.Config.Tokens))
	return nil
}

func (d *Daemon) loadForReload(ctx context.Context, old *config.Config) (*app.App, error) {
	cfg, err := config.LoadFile(d.opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	if d.opts.StateDir == "" && cfg.StateDir != old.StateDir {
		return nil, fmt.Errorf("state_dir changed from %s to %s; a running daemon keeps its "+
			"state directory: stop it, move the journal files to the new directory, and start "+
			"it again", old.StateDir, cfg.StateDir)
	}
	if d.opts.Listen == "" && cfg.Listen != old.Listen {
		d.log.Warn("listen changed; the new address takes effect at the next restart",
			"listen", old.Listen, "new_listen", cfg.Listen)
	}
	a, err := d.build(cfg)
	if err != nil {
		return nil, err
	}
	if err := a.CheckSinks(ctx); err != nil {
		d.log.Error("sink check failed after reload; rotations into these targets will fail "+
			"until it is fixed", "err", err)
	}
	return a, nil
}

// rotateNow runs an on-demand rotation of one token. It waits for a
// scheduled sweep in flight rather than failing.
func (d *Daemon) rotateNow(ctx context.Context, key string, force bool) (*rotator.Report, error) {
	d.run.Lock()
	defer d.run.Unlock()
	a := d.current()
	ctx, cancel := context.WithTimeout(ctx, a.Config.SweepTimeout)
	defer cancel()
	rep, err := a.Rotator.Rotate(ctx, key, force)
	if err != nil {
		return nil, err
	}
	a.RecordPartial(rep)
	return rep, nil
}

// errNotReady is the reason /readyz gives before start-up completes.
var errNotReady = errors.New("starting or stopping")

// readiness returns nil when the daemon can do its job: the policy is
// loaded, every Vault sink's login works, and the last sweep finished
// without errors (or the first sweep is still running).
func (d *Daemon) readiness() error {
	if !d.ready.Load() {
		return errNotReady
	}
	if err := d.current().VaultAuthHealthy(); err != nil {
		return fmt.Errorf("vault login failing: %w", err)
	}
	if d.sweptOnce.Load() && !d.lastSweepOK.Load() {
		return errors.New("the last sweep finished with errors; see the logs and " +
			"tokenrotator_token_error")
	}
	return nil
}
