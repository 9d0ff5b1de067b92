package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// runCLI runs the CLI with args and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &environment{
		stdout:     &stdout,
		stderr:     &stderr,
		getenv:     func(string) string { return "" },
		isTerminal: func(io.Writer) bool { return false },
		now:        time.Now,
	}
	code := run(context.Background(), args, env)
	return code, stdout.String(), stderr.String()
}

func TestRunNoArguments(t *testing.T) {
	code, _, stderr := runCLI(t)
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "Usage: tokenrotator COMMAND") {
		t.Errorf("stderr does not show usage:\n%s", stderr)
	}
}

func TestRunUnknownCommand(t *testing.T) {
	code, _, stderr := runCLI(t, "rotat")
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, `unknown command "rotat"`) {
		t.Errorf("stderr does not name the command:\n%s", stderr)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, stdout, _ := runCLI(t, "help")
	if code != exitOK {
		t.Fatalf("exit code = %d, want %d", code, exitOK)
	}
	for name := range commands {
		if !strings.Contains(stdout, "  "+name+" ") {
			t.Errorf("help does not list %q:\n%s", name, stdout)
		}
	}
}

func TestVersionPrintsVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	if code != exitOK {
		t.Fatalf("exit code = %d, want %d", code, exitOK)
	}
	if !strings.HasPrefix(stdout, "tokenrotator dev (go") {
		t.Errorf("stdout = %q, want the version line", stdout)
	}
}

func TestVersionRejectsUnknownFlag(t *testing.T) {
	code, _, stderr := runCLI(t, "version", "--bogus")
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "bogus") {
		t.Errorf("stderr does not name the flag:\n%s", stderr)
	}
}

func TestParseInterleavedAcceptsFlagsAfterArguments(t *testing.T) {
	tests := map[string]struct {
		args       []string
		positional []string
		force      bool
	}{
		"flag first":          {[]string{"--force", "dns"}, []string{"dns"}, true},
		"flag after":          {[]string{"dns", "--force"}, []string{"dns"}, true},
		"no flag":             {[]string{"dns"}, []string{"dns"}, false},
		"two arguments":       {[]string{"a", "--force", "b"}, []string{"a", "b"}, true},
		"double dash":         {[]string{"--", "--force"}, []string{"--force"}, false},
		"dash after argument": {[]string{"dns", "--", "-x"}, []string{"dns", "-x"}, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := &environment{stderr: io.Discard}
			fs := newFlagSet(env, "rotate", "TOKEN")
			force := fs.Bool("force", false, "")
			positional, code, stop := parseInterleaved(fs, tt.args)
			if stop {
				t.Fatalf("parsing stopped with code %d", code)
			}
			if strings.Join(positional, " ") != strings.Join(tt.positional, " ") {
				t.Errorf("positional = %q, want %q", positional, tt.positional)
			}
			if *force != tt.force {
				t.Errorf("force = %v, want %v", *force, tt.force)
			}
		})
	}
}

func TestVersionRejectsArgument(t *testing.T) {
	code, _, stderr := runCLI(t, "version", "extra")
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestUsageHasNoTrailingSpace(t *testing.T) {
	_, _, stderr := runCLI(t, "version", "-h")
	if !strings.HasPrefix(stderr, "Usage: tokenrotator version\n") {
		t.Errorf("usage = %q", stderr)
	}
	if strings.Contains(stderr, "Flags:") {
		t.Errorf("usage of a command without flags shows a Flags heading: %q", stderr)
	}
}
