package tokenapi

import (
	"fmt"
	"log/slog"
)

// redacted is the text every printing path of a Secret shows instead of its value.
const redacted = "[REDACTED]"

// Secret is a token value, a management token or another credential. Every
// way of printing it (fmt verbs, slog, JSON, text encoders) shows
// "[REDACTED]". The only way to read the value is Reveal, which belongs
// where the value is sent (an Authorization header, a sink write).
type Secret struct {
	// value is unexported and a struct field, so that reflection-based
	// printers such as %+v on a containing struct still go through Format.
	value string
}

// NewSecret wraps value so that it cannot be printed by accident.
func NewSecret(value string) Secret {
	return Secret{value: value}
}

// Reveal returns the secret value. Call it only where the value leaves the
// process on purpose.
func (s Secret) Reveal() string {
	return s.value
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool {
	return s.value == ""
}

// Equal reports whether s and other hold the same value.
func (s Secret) Equal(other Secret) bool {
	return s.value == other.value
}

// String returns "[REDACTED]", or "" for an empty secret.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString returns a redacted form for %#v.
func (s Secret) GoString() string {
	return fmt.Sprintf("tokenapi.Secret(%q)", s.String())
}

// Format implements fmt.Formatter so that every verb, %x and %q included,
// prints the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.String())
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value {
	return slog.StringValue(s.String())
}

// MarshalJSON encodes the redacted form. Request bodies that must carry the
// value build their JSON from Reveal instead.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%q", s.String())), nil
}

// MarshalText encodes the redacted form, for encoders such as YAML and
// slog's text handler.
func (s Secret) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}
