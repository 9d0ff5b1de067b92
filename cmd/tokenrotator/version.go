package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is stamped at build time with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

// buildVersion returns the stamped version, or the module version when the
// binary was built with go install, or "dev".
func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

func init() {
	register(command{
		name:    "version",
		summary: "print the version and the Go toolchain it was built with",
		order:   90,
		run: func(_ context.Context, env *environment, args []string) int {
			fs := newFlagSet(env, "version", "")
			if code, stop := parseFlags(fs, args); stop {
				return code
			}
			if fs.NArg() > 0 {
				fmt.Fprintf(env.stderr, "version: unexpected argument %q\n", fs.Arg(0))
				return exitUsage
			}
			fmt.Fprintf(env.stdout, "tokenrotator %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return exitOK
		},
	})
}
