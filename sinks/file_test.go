package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newFileSink(t *testing.T, format string) (*FileSink, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := NewFile(FileOptions{Dir: dir, Format: format})
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	return s, dir
}

func TestFileFormats(t *testing.T) {
	tests := []struct {
		format      string
		target      Target
		wantContent string
		wantSidecar bool
	}{
		{FormatRaw, Target{Path: "dns-token"}, "value-1\n", true},
		{FormatEnv, Target{Path: "dns.env", Field: "CF_API_TOKEN"}, "CF_API_TOKEN=value-1\n", true},
		{FormatJSON, Target{Path: "dns.json", Field: "token"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			s, dir := newFileSink(t, tt.format)
			ctx := context.Background()
			if err := s.Check(ctx, tt.target); err != nil {
				t.Fatalf("Check: %v", err)
			}

			stored, err := s.Write(ctx, tt.target, record("value-1"), Stored{})
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if stored.Value.Reveal() != "value-1" || stored.TokenID != "tok-1" {
				t.Errorf("stored value or token id differs: token id %q", stored.TokenID)
			}
			if !stored.RotatedAt.Equal(start) {
				t.Errorf("RotatedAt = %v, want %v", stored.RotatedAt, start)
			}
			if stored.ExpiresOn == nil || !stored.ExpiresOn.Equal(*record("").ExpiresOn) {
				t.Errorf("ExpiresOn = %v, want %v", stored.ExpiresOn, record("").ExpiresOn)
			}

			path := filepath.Join(dir, tt.target.Path)
			content, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantContent != "" && string(content) != tt.wantContent {
				t.Errorf("content = %q, want %q", content, tt.wantContent)
			}
			if tt.format == FormatJSON {
				var fields map[string]any
				if err := json.Unmarshal(content, &fields); err != nil {
					t.Fatalf("file is not JSON: %v", err)
				}
				if fields["token"] != "value-1" || fields["managed_by"] != "tokenrotator" {
					t.Errorf("JSON fields = %v", fields)
				}
			}
			assertMode(t, path)

			sidecar := filepath.Join(dir, "."+tt.target.Path+".tokenrotator.json")
			_, err = os.Stat(sidecar)
			if tt.wantSidecar {
				if err != nil {
					t.Fatalf("sidecar: %v", err)
				}
				assertMode(t, sidecar)
			} else if err == nil {
				t.Errorf("json format wrote a sidecar")
			}
		})
	}
}

func assertMode(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s mode = %v, want 0600", filepath.Base(path), info.Mode().Perm())
	}
}

func TestFileConflictAndRetry(t *testing.T) {
	s, dir := newFileSink(t, FormatRaw)
	ctx := context.Background()
	first, err := s.Write(ctx, rawTarget(), record("v1"), Stored{})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}

	if _, err := s.Write(ctx, rawTarget(), record("v1"), Stored{}); err != nil {
		t.Errorf("repeating the same write: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dns-token"), []byte("other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Write(ctx, rawTarget(), record("v2"), first)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Write after an outside change = %v, want ErrConflict", err)
	}

	// The sidecar no longer matches the value, so its metadata is ignored.
	now, err := s.Read(ctx, rawTarget())
	if err != nil {
		t.Fatal(err)
	}
	if now.TokenID != "" || !now.RotatedAt.IsZero() {
		t.Errorf("stale sidecar was trusted: token id %q, rotated %v", now.TokenID, now.RotatedAt)
	}
}

func rawTarget() Target {
	return Target{Path: "dns-token"}
}

func TestFileFailedWriteLeavesOldFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	s, dir := newFileSink(t, FormatRaw)
	ctx := context.Background()
	first, err := s.Write(ctx, rawTarget(), record("v1"), Stored{})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}

	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	_, err = s.Write(ctx, rawTarget(), record("v2"), first)
	if !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("Write into a read-only directory = %v, want ErrPermissionDenied", err)
	}
	if err := s.Check(ctx, rawTarget()); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("Check of a read-only directory = %v, want ErrPermissionDenied", err)
	}

	content, err := os.ReadFile(filepath.Join(dir, "dns-token"))
	if err != nil || string(content) != "v1\n" {
		t.Errorf("file after failed write = %q, %v; want v1", content, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestFileFailedRenameLeavesOldFile(t *testing.T) {
	s, dir := newFileSink(t, FormatRaw)
	ctx := context.Background()
	first, err := s.Write(ctx, rawTarget(), record("v1"), Stored{})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}

	// A non-empty directory where the sidecar goes makes its rename fail.
	sidecar := filepath.Join(dir, ".dns-token.tokenrotator.json")
	if err := os.Remove(sidecar); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(sidecar, "block"), 0o700); err != nil {
		t.Fatal(err)
	}
	first.TokenID, first.RotatedAt = "", time.Time{} // the sidecar is gone
	_, err = s.Write(ctx, rawTarget(), record("v2"), first)
	if err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("Write with a blocked sidecar = %v, want a rename failure", err)
	}

	content, err := os.ReadFile(filepath.Join(dir, "dns-token"))
	if err != nil || string(content) != "v1\n" {
		t.Errorf("file after failed write = %q, %v; want v1", content, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestFileRejectsPathsOutsideDir(t *testing.T) {
	s, _ := newFileSink(t, FormatRaw)
	for _, p := range []string{"../escape", "/etc/passwd", "a/../../b", "", "dir/"} {
		t.Run(p, func(t *testing.T) {
			_, err := s.Write(context.Background(), Target{Path: p}, record("v"), Stored{})
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Write to %q = %v, want ErrInvalid", p, err)
			}
		})
	}
}

func TestFileRejectsSymlinkEscape(t *testing.T) {
	s, dir := newFileSink(t, FormatRaw)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Write(context.Background(), Target{Path: "link/token"}, record("v"), Stored{})
	if err == nil {
		t.Fatal("Write through a symlink out of the directory succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("files written outside the directory: %v", entries)
	}
}

func TestFileCheckMissingDirectory(t *testing.T) {
	s, err := NewFile(FileOptions{Dir: filepath.Join(t.TempDir(), "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background(), rawTarget()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Check = %v, want ErrNotFound", err)
	}
}

func TestFileOptionsValidated(t *testing.T) {
	tests := []struct {
		name string
		opts FileOptions
	}{
		{"no dir", FileOptions{}},
		{"bad format", FileOptions{Dir: "/tmp", Format: "yaml"}},
		{"bad mode", FileOptions{Dir: "/tmp", Mode: os.ModeSetuid | 0o600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewFile(tt.opts); !errors.Is(err, ErrInvalid) {
				t.Errorf("NewFile = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestFileErrorsCarryNoSecrets(t *testing.T) {
	s, _ := newFileSink(t, FormatEnv)
	ctx := context.Background()
	var errs []error
	_, err := s.Write(ctx, Target{Path: "x.env", Field: "bad name"}, record(sentinelValue), Stored{})
	errs = append(errs, err)
	_, err = s.Write(ctx, Target{Path: "x.env", Field: "OK"}, record(sentinelValue+"\n"), Stored{})
	errs = append(errs, err)
	if _, err := s.Write(ctx, Target{Path: "x.env", Field: "OK"}, record(sentinelValue), Stored{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Write(ctx, Target{Path: "x.env", Field: "OK"}, record("other"), Stored{})
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d is nil, want a failure", i)
			continue
		}
		if strings.Contains(fmtAll(err), sentinelValue) {
			t.Errorf("error %d contains the value: %v", i, err)
		}
	}
}
