package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tokenrotator/tokenrotator/internal/config"
	"github.com/tokenrotator/tokenrotator/internal/daemon"
)

func init() {
	register(command{
		name:    "run",
		summary: "run the daemon: sweep on schedule, serve metrics and health, reload on SIGHUP",
		order:   10,
		run:     runDaemon,
	})
}

// runDaemon runs until SIGINT or SIGTERM. It exits 2 when the policy is
// invalid at start-up and 1 when the daemon cannot start for another
// reason, such as a busy listen address or a locked state directory.
func runDaemon(ctx context.Context, env *environment, args []string) int {
	fs := newFlagSet(env, "run", "[--config FILE] [--state-dir DIR] [--listen ADDR]")
	var flags policyFlags
	flags.register(fs)
	flags.log.register(fs)
	listen := fs.String("listen", "", "`address` of the metrics, health and admin server; overrides listen")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	logger, err := flags.log.newLogger(env)
	if err != nil {
		fmt.Fprintf(env.stderr, "run: %v\n", err)
		return exitUsage
	}

	reload := env.reload
	if reload == nil {
		reload = reloadOnSIGHUP(ctx)
	}
	err = daemon.Run(ctx, daemon.Options{
		ConfigPath: flags.configPath, StateDir: flags.stateDir, Listen: *listen,
		Version: buildVersion(), Logger: logger, Getenv: env.getenv, Reload: reload,
	})
	var errs config.Errors
	switch {
	case errors.As(err, &errs):
		printConfigErrors(env.stderr, "run", "cannot start", err)
		return exitUsage
	case errors.Is(err, iofs.ErrNotExist) && strings.Contains(err.Error(), flags.configPath):
		fmt.Fprintf(env.stderr, "run: %v; pass the policy file with --config\n", err)
		return exitUsage
	case err != nil:
		logger.Error("tokenrotator cannot start", "err", err)
		return exitFailure
	}
	return exitOK
}

// reloadOnSIGHUP turns each SIGHUP into a reload request until ctx ends.
func reloadOnSIGHUP(ctx context.Context) <-chan struct{} {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(signals)
		for {
			select {
			case <-ctx.Done():
				return
			case <-signals:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	return reload
}
