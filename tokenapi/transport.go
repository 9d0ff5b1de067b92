package tokenapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// call describes one logical request.
type call struct {
	method   string
	endpoint string
	// suffix follows /accounts/{account_id}/tokens, such as "/verify".
	suffix string
	query  url.Values
	body   []byte
	// bearer replaces the management token when set (VerifyValue).
	bearer Secret
	// tokenID is the token the request is about, for OutcomeUnknownError.
	tokenID string
	// repeatable is true for requests that are safe to send twice.
	repeatable bool
	// outcomeMatters is true for create and roll: a lost reply hides a
	// change that must be resolved by reading the token back.
	outcomeMatters bool
}

// envelope is the JSON body Cloudflare sends with every reply.
type envelope struct {
	Success    *bool           `json:"success"`
	Errors     []wireError     `json:"errors"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *ResultInfo     `json:"result_info"`
}

// wireError is one entry of the errors array. Keys other than these, such
// as messages of unknown shape, are ignored.
type wireError struct {
	Code             int         `json:"code"`
	Message          string      `json:"message"`
	DocumentationURL string      `json:"documentation_url"`
	Source           *wireSource `json:"source"`
	ErrorChain       []wireError `json:"error_chain"`
}

type wireSource struct {
	Pointer string `json:"pointer"`
}

// send runs c with pacing and, for repeatable requests, retries. It
// returns the envelope of a 2xx reply with success true.
func (c *Client) send(ctx context.Context, k call) (*envelope, error) {
	reason := ""
	for retry := 0; ; retry++ {
		paceWait, err := c.pacer.wait(ctx, c.clock)
		if err != nil {
			return nil, err
		}

		start := c.clock.now()
		env, status, wrote, err := c.attempt(ctx, k)
		c.observe(Attempt{
			Endpoint:    k.endpoint,
			Method:      k.method,
			StatusCode:  status,
			Duration:    c.clock.now().Sub(start),
			Retry:       retry,
			RetryReason: reason,
			PaceWait:    paceWait,
			Err:         err,
		})
		if err == nil {
			return env, nil
		}

		// A 429 is a refusal before the request is handled, so even create
		// and roll may be sent again after the wait the server requests.
		// NOTE: Cloudflare does not document this; it holds for the rate
		// limiter, which answers before the API processes the request.
		if !k.repeatable && !IsRateLimited(err) {
			if k.outcomeMatters && outcomeUnknown(ctx, err, wrote) {
				return nil, &OutcomeUnknownError{
					Method: k.method, Endpoint: k.endpoint, TokenID: k.tokenID, Cause: err,
				}
			}
			return nil, err
		}

		reason = retryReason(ctx, err)
		if reason == "" {
			return nil, err
		}
		if retry+1 >= c.retry.MaxAttempts {
			return nil, fmt.Errorf("gave up after %d attempts: %w", retry+1, err)
		}

		wait := c.retryWait(retry, err)
		if derr := checkDeadline(ctx, c.clock.now(), wait); derr != nil {
			return nil, fmt.Errorf("stopped retrying after attempt %d: %w; last error: %w",
				retry+1, derr, err)
		}
		if serr := c.clock.sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("wait before retry %d: %w; last error: %w",
				retry+1, serr, err)
		}
	}
}

func (c *Client) observe(a Attempt) {
	if c.observer != nil {
		c.observer(a)
	}
}

// outcomeUnknown reports whether a failed create or roll may have changed
// the token: the request was sent and no definite failure came back.
func outcomeUnknown(ctx context.Context, err error, wrote bool) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		status := apiErr.StatusCode
		if status >= 500 || status == http.StatusRequestTimeout {
			return true
		}
		// A 2xx reply that is not a readable success envelope may hide a
		// committed change.
		return status >= 200 && status < 300 && !apiErr.Envelope
	}
	var resultErr *resultError
	if errors.As(err, &resultErr) {
		return true
	}
	return wrote || ctx.Err() != nil
}

// retryReason returns why a failed repeatable request may be retried, or
// "" when it must not be.
func retryReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ""
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests:
			return RetryReasonRateLimited
		case apiErr.StatusCode == http.StatusRequestTimeout:
			return RetryReasonTimeout
		case apiErr.StatusCode >= 500:
			return RetryReasonServerError
		}
		return ""
	}
	var transportErr *transportError
	if errors.As(err, &transportErr) {
		return RetryReasonTransport
	}
	return ""
}

// retryWait returns the wait before retry number retry+1: capped
// exponential backoff with equal jitter, raised to the server's
// Retry-After (capped at MaxRetryAfter) when it asked for longer.
func (c *Client) retryWait(retry int, err error) time.Duration {
	base := c.retry.BaseDelay
	var apiErr *APIError
	isAPIErr := errors.As(err, &apiErr)
	if isAPIErr && apiErr.StatusCode == http.StatusTooManyRequests {
		base = c.retry.RateDelay
	}

	backoff := c.retry.MaxDelay
	if retry < 32 {
		backoff = min(base<<retry, c.retry.MaxDelay)
	}
	wait := backoff/2 + c.clock.jitter(backoff/2)

	if isAPIErr && apiErr.RetryAfter > 0 {
		serverWait := min(apiErr.RetryAfter, c.retry.MaxRetryAfter)
		if serverWait > wait {
			wait = serverWait + c.clock.jitter(c.retry.BaseDelay)
		}
	}
	return wait
}

// transportError is a request that got no HTTP reply.
type transportError struct {
	err error
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// resultError is a success envelope whose result could not be read.
type resultError struct {
	endpoint string
	err      error
}

func (e *resultError) Error() string {
	return fmt.Sprintf("read %s result: %v", e.endpoint, e.err)
}

func (e *resultError) Unwrap() error { return e.err }

// attempt sends one HTTP request and returns the envelope and the HTTP
// status, 0 when no reply came. wrote reports whether the request was
// written to the connection, which separates a lost reply from a request
// that never left.
func (c *Client) attempt(ctx context.Context, k call) (
	env *envelope, status int, wrote bool, err error) {
	req, err := c.newRequest(ctx, k)
	if err != nil {
		return nil, 0, false, err
	}

	var written atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { written.Store(true) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))

	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, 0, written.Load(), &transportError{err: c.scrubError(err, k)}
	}
	defer resp.Body.Close()

	body, readErr := io.ReadAll(io.LimitReader(resp.Body, c.maxBodyBytes+1))
	if readErr != nil {
		cause := fmt.Errorf("read %s reply body after HTTP %d: %w",
			k.endpoint, resp.StatusCode, c.scrubError(readErr, k))
		return nil, resp.StatusCode, true, &transportError{err: cause}
	}
	env, err = c.decode(k, resp, body)
	return env, resp.StatusCode, true, err
}

func (c *Client) newRequest(ctx context.Context, k call) (*http.Request, error) {
	u := *c.baseURL
	u.Path = c.baseURL.Path + "/accounts/" + c.accountID + "/tokens" + k.suffix
	if len(k.query) > 0 {
		u.RawQuery = k.query.Encode()
	}

	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", k.endpoint, err)
	}

	bearer := c.token
	if !k.bearer.IsZero() {
		bearer = k.bearer
	}
	req.Header.Set("Authorization", "Bearer "+bearer.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// scrubError rewrites err's text without secrets when it contains one, and
// returns err unchanged otherwise so that errors.Is still works.
func (c *Client) scrubError(err error, k call) error {
	text := err.Error()
	if clean := scrub(text, c.token, k.bearer); clean != text {
		return scrubbedError{text: clean, cause: errors.Unwrap(err)}
	}
	return err
}

// scrubbedError carries a scrubbed message and keeps the cause for
// errors.Is, such as context.DeadlineExceeded.
type scrubbedError struct {
	text  string
	cause error
}

func (e scrubbedError) Error() string { return e.text }

func (e scrubbedError) Is(target error) bool {
	return e.cause != nil && errors.Is(e.cause, target)
}

// decode checks the reply and returns its envelope when the status is 2xx
// and the body is JSON with success true.
func (c *Client) decode(k call, resp *http.Response, body []byte) (*envelope, error) {
	apiErr := &APIError{
		Method:     k.method,
		Endpoint:   k.endpoint,
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.clock.now()),
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300

	if int64(len(body)) > c.maxBodyBytes {
		apiErr.Problem = fmt.Sprintf("body larger than the %d-byte limit", c.maxBodyBytes)
		apiErr.Snippet = snippet(body[:min(len(body), 4*maxSnippetLength)], c.token, k.bearer)
		return nil, apiErr
	}

	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		apiErr.Problem = "body is not JSON"
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			apiErr.Problem += " (Content-Type " + scrub(ct) + ")"
		}
		apiErr.Snippet = snippet(body, c.token, k.bearer)
		return nil, apiErr
	}
	if env.Success == nil {
		apiErr.Problem = "body is JSON but not a Cloudflare envelope: no success field"
		apiErr.Snippet = snippet(body, c.token, k.bearer)
		return nil, apiErr
	}

	apiErr.Envelope = true
	apiErr.Errors = c.details(env.Errors, k)
	switch {
	case ok2xx && *env.Success:
		return &env, nil
	case *env.Success:
		apiErr.Problem = "success is true but the status is not 2xx"
	case len(env.Errors) == 0:
		apiErr.Problem = "success is false and no error is listed"
	}
	return nil, apiErr
}

func (c *Client) details(errs []wireError, k call) []ErrorDetail {
	if len(errs) == 0 {
		return nil
	}
	out := make([]ErrorDetail, 0, len(errs))
	for _, e := range errs {
		d := ErrorDetail{
			Code:             e.Code,
			Message:          scrub(e.Message, c.token, k.bearer),
			DocumentationURL: scrub(e.DocumentationURL, c.token, k.bearer),
			Chain:            c.details(e.ErrorChain, k),
		}
		if e.Source != nil {
			d.Pointer = scrub(e.Source.Pointer, c.token, k.bearer)
		}
		out = append(out, d)
	}
	return out
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
// It returns 0 for a missing, invalid or past value.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		if seconds <= 0 {
			return 0
		}
		return time.Duration(min(seconds, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}
