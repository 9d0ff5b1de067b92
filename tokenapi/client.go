package tokenapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// DefaultBaseURL is the Cloudflare API v4 base URL.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4"

// Defaults of Options and RetryPolicy.
const (
	DefaultUserAgent     = "tokenrotator"
	DefaultMaxBodyBytes  = 4 << 20
	DefaultHTTPTimeout   = 60 * time.Second
	DefaultMaxAttempts   = 4
	DefaultBaseDelay     = time.Second
	DefaultRateDelay     = 10 * time.Second
	DefaultMaxDelay      = 30 * time.Second
	DefaultMaxRetryAfter = 2 * time.Minute
)

// idPattern matches account and token ids: 32 lowercase hex characters.
var idPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// RetryPolicy configures the retries of requests that are safe to repeat
// (GET, DELETE and the update PUT). Create and roll are retried only after
// a 429, which refuses a request before it is handled. Zero fields take the
// defaults.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts including the first; 1
	// disables retries. Default 4.
	MaxAttempts int
	// BaseDelay is the first backoff after a 5xx, 408 or transport error;
	// each retry doubles it. Default 1s.
	BaseDelay time.Duration
	// RateDelay is the first backoff after a 429 without Retry-After.
	// Default 10s.
	RateDelay time.Duration
	// MaxDelay caps the exponential backoff. Default 30s.
	MaxDelay time.Duration
	// MaxRetryAfter caps the wait that a Retry-After header requests.
	// Default 2m.
	MaxRetryAfter time.Duration
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = DefaultBaseDelay
	}
	if r.RateDelay <= 0 {
		r.RateDelay = DefaultRateDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultMaxDelay
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return r
}

// Retry reasons reported in Attempt.RetryReason.
const (
	RetryReasonRateLimited = "rate_limited"
	RetryReasonTimeout     = "request_timeout"
	RetryReasonServerError = "server_error"
	RetryReasonTransport   = "transport_error"
)

// Endpoint names, as reported in Attempt.Endpoint and APIError.Endpoint.
const (
	EndpointCreate           = "create"
	EndpointList             = "list"
	EndpointPermissionGroups = "permission_groups"
	EndpointVerify           = "verify"
	EndpointUpdate           = "update"
	EndpointDetails          = "details"
	EndpointDelete           = "delete"
	EndpointRoll             = "roll"
)

// Attempt describes one HTTP attempt, for metrics and logs.
type Attempt struct {
	Endpoint string
	Method   string
	// StatusCode is the HTTP status, or 0 when no reply arrived.
	StatusCode int
	// Duration is the time from sending the request to reading the body.
	Duration time.Duration
	// Retry is 0 for the first attempt of a request, 1 for the first
	// retry, and so on.
	Retry int
	// RetryReason is the reason the previous attempt was repeated, one of
	// the RetryReason constants, or "" for the first attempt.
	RetryReason string
	// PaceWait is the time the Pacer held the attempt back.
	PaceWait time.Duration
	// Err is the failure of this attempt, or nil. It never contains a
	// secret.
	Err error
}

// Options configures a Client. AccountID and ManagementToken are required.
type Options struct {
	// BaseURL is the API base; "" means DefaultBaseURL.
	BaseURL string
	// AccountID is the account that owns the tokens: 32 lowercase hex.
	AccountID string
	// ManagementToken authenticates every request except VerifyValue.
	ManagementToken Secret
	// HTTPClient sends the requests; nil means a client with a 60s
	// timeout.
	HTTPClient *http.Client
	// UserAgent is sent in every request; "" means DefaultUserAgent.
	UserAgent string
	// Retry configures retries of requests that are safe to repeat.
	Retry RetryPolicy
	// Pacer limits the request rate; nil means a new Pacer with the
	// default limit. Share one Pacer between clients of one token.
	Pacer *Pacer
	// Observer, when not nil, is called once after every HTTP attempt,
	// from the goroutine that made the request.
	Observer func(Attempt)
	// MaxBodyBytes limits how much of a reply body is read; 0 means 4 MiB.
	MaxBodyBytes int64

	// Now returns the current time; nil means time.Now. The context
	// deadline is compared with it, so it must follow the wall clock
	// outside tests.
	Now func() time.Time
	// Sleep waits for d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a random duration in [0, n); nil means math/rand.
	Jitter func(n time.Duration) time.Duration
}

// Client calls the Cloudflare account token API of one account. It is
// safe for concurrent use.
type Client struct {
	baseURL      *url.URL
	accountID    string
	token        Secret
	httpClient   *http.Client
	userAgent    string
	retry        RetryPolicy
	pacer        *Pacer
	observer     func(Attempt)
	maxBodyBytes int64
	clock        clock
}

// NewClient checks opts and returns a Client.
func NewClient(opts Options) (*Client, error) {
	if !idPattern.MatchString(opts.AccountID) {
		return nil, fmt.Errorf("new token client: invalid account id %q: "+
			"expected 32 lowercase hex characters", opts.AccountID)
	}
	if opts.ManagementToken.IsZero() {
		return nil, errors.New("new token client: missing management token: " +
			"set Options.ManagementToken")
	}

	raw := opts.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("new token client: invalid base URL %q: %w", raw, err)
	}
	if (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("new token client: invalid base URL %q: "+
			"expected http or https with a host", raw)
	}
	if base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return nil, fmt.Errorf("new token client: invalid base URL %q: "+
			"must not contain a query, fragment or user info", raw)
	}

	c := &Client{
		baseURL:      base,
		accountID:    opts.AccountID,
		token:        opts.ManagementToken,
		httpClient:   opts.HTTPClient,
		userAgent:    opts.UserAgent,
		retry:        opts.Retry.withDefaults(),
		pacer:        opts.Pacer,
		observer:     opts.Observer,
		maxBodyBytes: opts.MaxBodyBytes,
		clock:        clock{now: opts.Now, sleep: opts.Sleep, jitter: opts.Jitter},
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.pacer == nil {
		c.pacer = NewPacer(0, 0)
	}
	if c.maxBodyBytes <= 0 {
		c.maxBodyBytes = DefaultMaxBodyBytes
	}
	c.clock = c.clock.withDefaults()
	return c, nil
}

// AccountID returns the account the client works on.
func (c *Client) AccountID() string {
	return c.accountID
}

// clock bundles the injected time sources.
type clock struct {
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(n time.Duration) time.Duration
}

func (k clock) withDefaults() clock {
	if k.now == nil {
		k.now = time.Now
	}
	if k.sleep == nil {
		k.sleep = sleepContext
	}
	if k.jitter == nil {
		k.jitter = randomJitter
	}
	return k
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randomJitter(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return rand.N(n)
}

// checkDeadline returns an error naming the context deadline when waiting
// d from now would pass it.
func checkDeadline(ctx context.Context, now time.Time, d time.Duration) error {
	deadline, ok := ctx.Deadline()
	if !ok || !now.Add(d).After(deadline) {
		return nil
	}
	return fmt.Errorf("waiting %s would pass the context deadline %s: %w",
		d, deadline.UTC().Format(time.RFC3339), context.DeadlineExceeded)
}
