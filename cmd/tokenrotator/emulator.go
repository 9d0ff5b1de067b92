package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

// emulatorShutdownTimeout bounds how long the emulator waits for requests in
// flight when it stops.
const emulatorShutdownTimeout = 5 * time.Second

func init() {
	register(command{
		name:    "emulator",
		summary: "serve an emulated Cloudflare account-token API on loopback",
		order:   80,
		run:     runEmulator,
	})
}

// runEmulator serves the emulator until ctx ends, after printing its base URL,
// an account id and a management token with Write permission.
func runEmulator(ctx context.Context, env *environment, args []string) int {
	fs := newFlagSet(env, "emulator", "[--listen HOST:PORT] [--seed FILE] [--allow-remote]")
	listen := fs.String("listen", "127.0.0.1:8787",
		"address to listen on; port 0 picks a free port and prints it")
	seedPath := fs.String("seed", "",
		"YAML or JSON file of accounts, tokens and permission groups to load at start")
	allowRemote := fs.Bool("allow-remote", false,
		"allow a listen address that is not loopback (the API then accepts remote clients)")
	rateLimit := fs.Int("rate-limit", emulator.DefaultRateLimit,
		"requests per bearer token per rate window")
	rateWindow := fs.Duration("rate-window", emulator.DefaultRateWindow,
		"length of the fixed rate-limit window")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "emulator: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if !*allowRemote && !isLoopbackAddress(*listen) {
		fmt.Fprintf(env.stderr, "emulator: listen address %q is not loopback; "+
			"use 127.0.0.1, [::1] or localhost, or pass --allow-remote\n", *listen)
		return exitUsage
	}

	emu := emulator.New(emulator.Options{RateLimit: *rateLimit, RateWindow: *rateWindow})
	if *seedPath != "" {
		data, err := os.ReadFile(*seedPath)
		if err == nil {
			err = emu.LoadSeed(data)
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "emulator: seed %s: %v\n", *seedPath, err)
			return exitUsage
		}
	}
	accountID, mgmt, err := emulatorCredentials(emu)
	if err != nil {
		fmt.Fprintf(env.stderr, "emulator: %v\n", err)
		return exitFailure
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.stderr, "emulator: listen on %s: %v\n", *listen, err)
		return exitFailure
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	// The management token is the emulator's own fake credential: printing
	// it is how a user or a test gets hold of it.
	fmt.Fprintf(env.stdout, "base URL:            http://%s/client/v4\n", ln.Addr())
	fmt.Fprintf(env.stdout, "account id:          %s\n", accountID)
	fmt.Fprintf(env.stdout, "management token id: %s\n", mgmt.ID)
	fmt.Fprintf(env.stdout, "management token:    %s\n", mgmt.Value)

	select {
	case err := <-served:
		fmt.Fprintf(env.stderr, "emulator: serve on %s: %v\n", ln.Addr(), err)
		return exitFailure
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), emulatorShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(env.stderr, "emulator: shut down: %v\n", err)
		return exitFailure
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(env.stderr, "emulator: serve on %s: %v\n", ln.Addr(), err)
		return exitFailure
	}
	return exitOK
}

// emulatorCredentials returns the first account, adding one when the seed
// had none, and a new management token with Write permission on it.
func emulatorCredentials(emu *emulator.Emulator) (string, emulator.Issued, error) {
	var accountID string
	if accounts := emu.Accounts(); len(accounts) > 0 {
		accountID = accounts[0]
	} else {
		id, err := emu.AddAccount("")
		if err != nil {
			return "", emulator.Issued{}, err
		}
		accountID = id
	}
	mgmt, err := emu.AddManagementToken(accountID, "emulator management token", true)
	if err != nil {
		return "", emulator.Issued{}, err
	}
	return accountID, mgmt, nil
}

// isLoopbackAddress reports whether a host:port listen address names a
// loopback address or localhost. An empty host means every interface.
func isLoopbackAddress(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
