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
