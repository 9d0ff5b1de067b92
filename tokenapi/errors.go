package tokenapi

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// ErrOutcomeUnknown matches, through errors.Is, the error of a create or
// roll whose reply was lost: a transport failure after the request was
// sent, a timeout, a 5xx reply, or a 2xx reply that could not be read. The
// change may or may not have happened; read the token back before acting.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// OutcomeUnknownError is the typed form of ErrOutcomeUnknown. Cause is the
// failure that hid the outcome, often an *APIError or a transport error.
type OutcomeUnknownError struct {
	Method   string
	Endpoint string
	// TokenID is the rolled token, or "" for create.
	TokenID string
	Cause   error
}

// Error names the cause and the next step. The caller's wrapping names the
// request.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("outcome unknown, read the token back before trying again: %v",
		e.Cause)
}

// Unwrap returns the cause.
func (e *OutcomeUnknownError) Unwrap() error {
	return e.Cause
}

// Is reports whether target is ErrOutcomeUnknown.
func (e *OutcomeUnknownError) Is(target error) bool {
	return target == ErrOutcomeUnknown
}

// ErrorDetail is one entry of the errors array of a Cloudflare reply.
type ErrorDetail struct {
	Code             int
	Message          string
	Pointer          string
	DocumentationURL string
	// Chain holds the entries of error_chain, such as code 6111 under 6003.
	Chain []ErrorDetail
}

// APIError is a failed request that got an HTTP reply: a status outside
// 2xx, a body with success false or without success true, a body that is
// not JSON, or a body larger than the read limit.
type APIError struct {
	Method     string
	Endpoint   string
	StatusCode int
	// Envelope is true when the body was a Cloudflare JSON envelope.
	Envelope bool
	// Errors lists the Cloudflare errors of the envelope.
	Errors []ErrorDetail
	// RetryAfter is the wait the server asked for, or 0 when it sent no
	// valid Retry-After header.
	RetryAfter time.Duration
	// Problem is the fault of a body that is not a valid failure envelope,
	// such as "body is not JSON", or "" for a valid envelope.
	Problem string
	// Snippet is the start of a body that is not an envelope, with
	// anything shaped like a secret replaced by [REDACTED].
	Snippet string
}

// Error names the status, the Cloudflare codes and messages or the problem
// with the body. The caller's wrapping names the request.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		fmt.Fprintf(&b, " %s", text)
	}
	for i, d := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		writeDetail(&b, d)
	}
	if e.Problem != "" {
		fmt.Fprintf(&b, ": %s", e.Problem)
	}
	if e.Snippet != "" {
		fmt.Fprintf(&b, ": body starts %q", e.Snippet)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (Retry-After %s)", e.RetryAfter)
	}
	return b.String()
}

func writeDetail(b *strings.Builder, d ErrorDetail) {
	fmt.Fprintf(b, "code %d %s", d.Code, d.Message)
	if d.Pointer != "" {
		fmt.Fprintf(b, " at %s", d.Pointer)
	}
	for _, c := range d.Chain {
		b.WriteString(" (")
		writeDetail(b, c)
		b.WriteString(")")
	}
}

// HasCode reports whether any Cloudflare error, or any entry of an error
// chain, has the given code.
func (e *APIError) HasCode(code int) bool {
	return hasCode(e.Errors, code)
}

func hasCode(details []ErrorDetail, code int) bool {
	for _, d := range details {
		if d.Code == code || hasCode(d.Chain, code) {
			return true
		}
	}
	return false
}

// Codes returns every Cloudflare error code in order, chain codes after
// the code that carries them.
func (e *APIError) Codes() []int {
	var codes []int
	var walk func([]ErrorDetail)
	walk = func(details []ErrorDetail) {
		for _, d := range details {
			codes = append(codes, d.Code)
			walk(d.Chain)
		}
	}
	walk(e.Errors)
	return codes
}

// Temporary reports whether repeating the request later may succeed: HTTP
// 408, 429 and 5xx.
func (e *APIError) Temporary() bool {
	return retryableStatus(e.StatusCode)
}

func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests ||
		status >= 500
}

// asEnvelopeError returns the *APIError in err's chain when its body was a
// Cloudflare envelope.
func asEnvelopeError(err error) (*APIError, bool) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !apiErr.Envelope {
		return nil, false
	}
	return apiErr, true
}

// IsNotFound reports whether err is a Cloudflare envelope with HTTP 404.
// An HTML error page, a 200 with success false, a 401 or a transport error
// is never "not found".
func IsNotFound(err error) bool {
	apiErr, ok := asEnvelopeError(err)
	return ok && apiErr.StatusCode == http.StatusNotFound
}

// IsUnauthorized reports whether err is a Cloudflare envelope that rejects
// the bearer token: HTTP 401, or any status with code 1000 "Invalid API
// Token".
func IsUnauthorized(err error) bool {
	apiErr, ok := asEnvelopeError(err)
	return ok && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.HasCode(1000))
}

// IsForbidden reports whether err is a Cloudflare envelope with HTTP 403,
// such as code 10000 (missing permission) or 9109 (address not allowed).
func IsForbidden(err error) bool {
	apiErr, ok := asEnvelopeError(err)
	return ok && apiErr.StatusCode == http.StatusForbidden
}

// IsRateLimited reports whether err is an HTTP 429 reply, with or without
// an envelope.
func IsRateLimited(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests
}

// maxSnippetLength is the number of characters of a non-JSON body kept in
// an APIError.
const maxSnippetLength = 200

// secretShape matches runs of characters that could be a token value:
// Cloudflare values are 40 to 80 characters of letters, digits, "_" and
// "-". Shorter runs, such as 32-character ids, are kept.
var secretShape = regexp.MustCompile(`[A-Za-z0-9_\-]{40,}`)

// scrub removes every known secret and anything shaped like a token value
// from text, so that server text can go into an error.
func scrub(text string, secrets ...Secret) string {
	for _, s := range secrets {
		if !s.IsZero() {
			text = strings.ReplaceAll(text, s.Reveal(), redacted)
		}
	}
	return secretShape.ReplaceAllString(text, redacted)
}

// snippet returns the start of body, scrubbed, with runs of white space
// collapsed.
func snippet(body []byte, secrets ...Secret) string {
	text := strings.Join(strings.Fields(string(body)), " ")
	text = scrub(text, secrets...)
	if r := []rune(text); len(r) > maxSnippetLength {
		text = string(r[:maxSnippetLength]) + "..."
	}
	return text
}
