package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0 // the command did what was asked
	exitFailure = 1 // the command ran but something failed (or, for plan, changes are pending)
	exitUsage   = 2 // bad arguments or an invalid configuration
)

// environment is the set of process resources a subcommand may use besides
// its arguments. Tests replace each part, so no subcommand reads os.Stdout
// or os.Getenv directly.
type environment struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// isTerminal reports whether w is an interactive terminal, for colour output.
	isTerminal func(w io.Writer) bool
	// now is the wall clock.
	now func() time.Time
	// reload receives a value for each policy reload request; nil means
	// the run command listens for SIGHUP itself.
	reload <-chan struct{}
}

func newEnvironment() *environment {
	return &environment{
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		getenv:     os.Getenv,
		isTerminal: isTerminal,
		now:        time.Now,
	}
}

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	// order places the command in the help listing.
	order int
	run   func(ctx context.Context, env *environment, args []string) int
}

var commands = map[string]command{}

// register adds a subcommand. Each subcommand registers itself from its own file.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("tokenrotator: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// run executes the subcommand named by args[0] and returns the process exit code.
func run(ctx context.Context, args []string, env *environment) int {
	if len(args) == 0 {
		printUsage(env.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.stderr, "tokenrotator: unknown command %q\n\n", name)
		printUsage(env.stderr)
		return exitUsage
	}
	return c.run(ctx, env, args[1:])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: tokenrotator COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	list := make([]command, 0, len(commands))
	for _, c := range commands {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].order != list[j].order {
			return list[i].order < list[j].order
		}
		return list[i].name < list[j].name
	})
	for _, c := range list {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'tokenrotator COMMAND -h' for the flags of one command.")
}

// newFlagSet returns a flag set that writes its messages to env.stderr and
// returns errors instead of exiting.
func newFlagSet(env *environment, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, strings.TrimSpace("Usage: tokenrotator "+name+" "+usage))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(env.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args and returns the exit code to use when parsing
// stopped the command: exitOK for -h, exitUsage for a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (code int, stop bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, true
	}
	if err != nil {
		return exitUsage, true
	}
	return exitOK, false
}

// parseInterleaved parses args like parseFlags, but also accepts flags
// after positional arguments, as in "rotate dns-edit --force". Everything
// after "--" is positional. It returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) (positional []string, code int, stop bool) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	for {
		if code, stop := parseFlags(fs, args); stop {
			return nil, code, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return append(positional, tail...), exitOK, false
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func init() {
	register(command{
		name:    "help",
		summary: "show the commands and what they do",
		order:   100,
		run: func(_ context.Context, env *environment, args []string) int {
			if len(args) == 1 {
				if c, ok := commands[args[0]]; ok && c.name != "help" {
					return c.run(context.Background(), env, []string{"-h"})
				}
			}
			printUsage(env.stdout)
			return exitOK
		},
	})
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	if err != nil {
		return false
	}
	return info.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
