// Package sinks writes rotated token values to where consumers read them:
// HashiCorp Vault KV (version 1 or 2) and files on disk.
//
// Every sink stores, next to the value, the token id, the expiry and the
// time of the rotation, so the daemon's own "last rotated" record survives
// restarts. Writes are guarded by the state the caller read before it
// rotated (check-and-set), so a concurrent writer is detected instead of
// overwritten.
package sinks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// ManagedBy is the marker every sink stores with a value it wrote.
const ManagedBy = "tokenrotator"

// DefaultField is the data key the value is stored under when a Target
// names none.
const DefaultField = "value"

// Target is one place in a sink.
type Target struct {
	// Path is the secret path inside the KV mount, or the file path
	// relative to the file sink's directory.
	Path string
	// Field is the data key (Vault, json files) or variable name (env
	// files) that holds the value. Empty means DefaultField, except for
	// env files, which need a variable name.
	Field string
}

// Record is a rotated token value with the facts stored beside it.
type Record struct {
	AccountID string
	TokenID   string
	TokenName string
	Value     tokenapi.Secret
	ExpiresOn *time.Time
	RotatedAt time.Time
}

// Stored is the state of a target in a sink.
type Stored struct {
	// Exists reports whether a live secret is stored.
	Exists bool
	Value  tokenapi.Secret
	// TokenID and RotatedAt come from the metadata this package writes;
	// they are empty for values written by something else.
	TokenID   string
	ExpiresOn *time.Time
	RotatedAt time.Time
	// Version is the KV v2 version, also when the latest version is
	// deleted; it is the check-and-set value for the next write. It is 0
	// for KV v1 and files.
	Version int
}

// Sink is a place rotated values are written to.
type Sink interface {
	// Name returns the sink name used in logs and metrics.
	Name() string
	// Check verifies that the target is reachable and writable; run it
	// before any rotation.
	Check(ctx context.Context, t Target) error
	// Read returns what is stored at the target now, including the
	// metadata this package writes.
	Read(ctx context.Context, t Target) (Stored, error)
	// Write stores r at the target if the target still matches expect, the
	// state returned by Read before the rotation. It returns the state read
	// back after the write.
	Write(ctx context.Context, t Target, r Record, expect Stored) (Stored, error)
}

// Error kinds. Test for them with errors.Is.
var (
	// ErrConflict means the target changed since it was read, so the write
	// was not made.
	ErrConflict = errors.New("conflict")
	// ErrPermissionDenied means the sink refused the credentials or the
	// path; Error.Path names the exact path the policy must allow.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnavailable means the sink is sealed, down or timed out; retrying
	// later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrNotFound means the mount, directory or secret does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the configuration or the target is invalid.
	ErrInvalid = errors.New("invalid")
)

// Error is a failed sink operation.
type Error struct {
	Sink string // sink name
	Op   string // check, read, write, login or detect
	Path string // exact Vault API path or file path
	// Kind is one of the Err values above, or nil when none applies.
	Kind   error
	Status int    // HTTP status from Vault, or 0
	Hint   string // next step for the operator
	Err    error  // underlying error, or nil
}

// Error formats the operation, path, kind, status, hint and cause.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Sink, e.Op)
	if e.Path != "" {
		fmt.Fprintf(&b, " %s", e.Path)
	}
	if e.Kind != nil {
		fmt.Fprintf(&b, ": %v", e.Kind)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %s", causeText(e.Err))
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; %s", e.Hint)
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// fieldName returns t.Field or DefaultField.
func fieldName(t Target) string {
	if t.Field == "" {
		return DefaultField
	}
	return t.Field
}

// formatTime renders t for storage, or "" for nil.
func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// parseTime reads a stored timestamp; empty or invalid text gives nil.
func parseTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// matches reports whether current is still the state the caller read.
func matches(current, expect Stored) bool {
	if current.Exists != expect.Exists {
		return false
	}
	if !current.Exists {
		return true
	}
	return current.Value.Equal(expect.Value) && current.TokenID == expect.TokenID
}

// alreadyWritten reports whether current holds r already, as after a
// write whose reply was lost.
func alreadyWritten(current Stored, r Record) bool {
	return current.Exists && current.Value.Equal(r.Value) && current.TokenID == r.TokenID
}
