package tokenapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Timestamp is an optional RFC 3339 time from a Cloudflare reply. It
// separates three cases: not set (missing or null), a valid time, and text
// that could not be parsed. Decoding never fails, so one bad timestamp does
// not fail a whole list page, and Err reports it instead.
type Timestamp struct {
	t   time.Time
	raw string
	set bool
	bad bool
}

// NewTimestamp returns a Timestamp holding t, or an unset Timestamp when t
// is the zero time.
func NewTimestamp(t time.Time) Timestamp {
	if t.IsZero() {
		return Timestamp{}
	}
	return Timestamp{t: t, set: true}
}

// IsZero reports whether the timestamp is not set. An invalid timestamp is
// set.
func (ts Timestamp) IsZero() bool {
	return !ts.set
}

// Valid reports whether the timestamp is set and holds a parsed time.
func (ts Timestamp) Valid() bool {
	return ts.set && !ts.bad
}

// Time returns the parsed time and true, or the zero time and false when
// the timestamp is unset or invalid.
func (ts Timestamp) Time() (time.Time, bool) {
	if !ts.Valid() {
		return time.Time{}, false
	}
	return ts.t, true
}

// Raw returns the text that failed to parse, or "" for a valid or unset
// timestamp.
func (ts Timestamp) Raw() string {
	return ts.raw
}

// errInvalidTimestamp is the cause reported by Timestamp.Err.
var errInvalidTimestamp = errors.New("invalid RFC 3339 timestamp")

// Err returns an error naming the raw text when the timestamp could not be
// parsed, and nil otherwise.
func (ts Timestamp) Err() error {
	if !ts.bad {
		return nil
	}
	return fmt.Errorf("%w: %.64q", errInvalidTimestamp, ts.raw)
}

// String formats a valid time as RFC 3339 with fractional seconds when it
// has them, an unset timestamp as "", and an invalid one as its raw text.
func (ts Timestamp) String() string {
	switch {
	case !ts.set:
		return ""
	case ts.bad:
		return ts.raw
	default:
		return ts.t.UTC().Format(time.RFC3339Nano)
	}
}

// MarshalJSON encodes an unset timestamp as null, a valid one as RFC 3339
// in UTC and an invalid one as the text it was decoded from.
func (ts Timestamp) MarshalJSON() ([]byte, error) {
	if !ts.set {
		return []byte("null"), nil
	}
	return json.Marshal(ts.String())
}

// UnmarshalJSON accepts null, an RFC 3339 string with or without
// fractional seconds, and keeps any other value as invalid raw text.
func (ts *Timestamp) UnmarshalJSON(data []byte) error {
	trimmed := bytes.TrimSpace(data)
	if bytes.Equal(trimmed, []byte("null")) {
		*ts = Timestamp{}
		return nil
	}

	var text string
	if err := json.Unmarshal(trimmed, &text); err != nil {
		*ts = Timestamp{raw: string(trimmed), set: true, bad: true}
		return nil
	}

	// time.RFC3339 also parses fractional seconds when present.
	parsed, err := time.Parse(time.RFC3339, text)
	if err != nil {
		*ts = Timestamp{raw: text, set: true, bad: true}
		return nil
	}
	*ts = Timestamp{t: parsed, set: true}
	return nil
}
