// Command tokenrotator keeps Cloudflare account-owned API tokens fresh.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newEnvironment())
	stop()
	os.Exit(code)
}
