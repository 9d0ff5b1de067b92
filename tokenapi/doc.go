// Package tokenapi is a typed client for Cloudflare account-owned API
// tokens, the endpoints under /accounts/{account_id}/tokens.
//
// # Client
//
// NewClient builds a Client for one account and one management token.
// Every method takes a context first. Create, List, ListPage,
// PermissionGroups, Verify, VerifyValue, Update, Get, Delete and Roll map to
// the eight endpoints. List is an iterator over every token: it reads pages
// of up to 50 tokens until a page is empty or total_count tokens were seen.
// Token values (from Create and Roll) are returned as Secret, which redacts
// itself wherever it is printed.
//
// Timestamps decode into Timestamp, which keeps "not set" (missing or null)
// apart from the zero time, and keeps text that is not RFC 3339 instead of
// failing the decode. Token.TimestampError reports such text, so that one
// bad token fails alone while the rest of a list page is used.
//
// # Errors
//
// A request succeeds only when the status is 2xx and the body is a JSON
// envelope with success true. Any other reply is an *APIError with the
// method, endpoint name, status, every Cloudflare error code (error_chain
// entries included) and Retry-After. For a body that is not an envelope it
// also keeps a short snippet, in which anything shaped like a token value
// is replaced by [REDACTED]. Bodies are read through a size limit. IsNotFound,
// IsUnauthorized, IsForbidden and IsRateLimited classify an error; the
// first three are true only for a real Cloudflare envelope, so an HTML 502
// page is never "not found".
//
// Create and Roll are retried only after a 429, which the rate limiter sends
// before the request is handled. When their reply is lost (a transport
// failure after the request was sent, a timeout, a 5xx or 408 reply, or a
// 2xx body that cannot be read) the error matches ErrOutcomeUnknown through
// errors.Is and is an *OutcomeUnknownError carrying the cause: the token
// may have changed, so read it back before acting. A definite 4xx reply is
// not unknown.
//
// # Retries
//
// GET, DELETE and the update PUT are retried on 408, 429, 5xx and transport
// errors, up to RetryPolicy.MaxAttempts attempts, with capped exponential
// backoff and jitter. A Retry-After header, in seconds or as an HTTP date,
// raises the wait up to RetryPolicy.MaxRetryAfter. No wait runs past the
// context deadline: the client returns an error that matches
// context.DeadlineExceeded and keeps the last failure instead.
//
// # Pacing
//
// A Pacer is a token bucket (golang.org/x/time/rate) that keeps requests
// under Cloudflare's limit of 1,200 requests per 5 minutes per token. Share
// one Pacer, or one PacerPool, between every Client that uses the same
// management token. The clock, sleep and jitter are injected through
// Options, so tests never sleep.
//
// Options.Observer is called once per HTTP attempt with the endpoint name,
// method, status (0 when no reply came), duration, retry number and retry
// reason, so metrics can count requests without this package importing a
// metrics library.
package tokenapi
