package metrics

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TokenLabels identifies the series of one managed token.
type TokenLabels struct {
	// Account is the account's name in the policy file.
	Account string
	// Token is the key of the token in the policy file.
	Token string
	// TokenID is the Cloudflare token id, empty when the token was not found.
	TokenID string
}

// TokenState is the state of one managed token as the last sweep found it.
// A zero time or an empty decision or reason exports no series for that metric.
type TokenState struct {
	// Expiry is the token's expires_on, zero when the token never expires.
	Expiry time.Time
	// LastUsed is the token's last_used_on, zero when it was never used.
	LastUsed time.Time
	// LastRotation is the time the token value last changed, zero when unknown.
	LastRotation time.Time
	// NextDue is the time the token becomes due for rotation, zero when unknown.
	NextDue time.Time
	// RenewBefore is the configured window before expiry in which the token
	// is rotated.
	RenewBefore time.Duration
	// Decision is the current decision of the policy engine.
	Decision Decision
	// ErrorReason is the reason the token is in error, empty when it is not.
	ErrorReason ErrorReason
}

var tokenLabelNames = []string{"account", "token", "token_id"}

// tokenCollector exports the per-token gauges from a map of the latest
// states, so that a token dropped from the map loses all of its series at once.
type tokenCollector struct {
	expiry       *prometheus.Desc
	lastUsed     *prometheus.Desc
	lastRotation *prometheus.Desc
	nextDue      *prometheus.Desc
	renewBefore  *prometheus.Desc
	decision     *prometheus.Desc
	errorReason  *prometheus.Desc

	mu sync.Mutex
	// tokens is keyed by account and policy key, so that a new token id
	// for the same policy entry replaces the old one.
	tokens map[tokenKey]tokenEntry
}

type tokenKey struct {
	account string
	token   string
}

type tokenEntry struct {
	labels TokenLabels
	state  TokenState
}

func newTokenCollector() *tokenCollector {
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(slices.Clone(tokenLabelNames), extra...), nil)
	}
	return &tokenCollector{
		expiry: desc("tokenrotator_token_expiry_timestamp_seconds",
			"Expiry time of the managed token (expires_on), absent when it never expires."),
		lastUsed: desc("tokenrotator_token_last_used_timestamp_seconds",
			"Last use of the managed token (last_used_on), absent when it was never used."),
		lastRotation: desc("tokenrotator_token_last_rotation_timestamp_seconds",
			"Time the value of the managed token last changed."),
		nextDue: desc("tokenrotator_token_next_due_timestamp_seconds",
			"Time the managed token becomes due for rotation."),
		renewBefore: desc("tokenrotator_token_renew_before_seconds",
			"Configured window before expiry in which the token is rotated."),
		decision: desc("tokenrotator_token_decision",
			"Current decision for the managed token: 1 for the current decision, "+
				"other decisions absent.", "decision"),
		errorReason: desc("tokenrotator_token_error",
			"1 while the managed token is in error, with the reason; absent otherwise.",
			"reason"),
		tokens: make(map[tokenKey]tokenEntry),
	}
}

func (c *tokenCollector) set(labels TokenLabels, state TokenState) {
	if state.Decision != "" && !slices.Contains(decisions, state.Decision) {
		state.Decision = ""
	}
	if state.ErrorReason != "" && !slices.Contains(errorReasons, state.ErrorReason) {
		state.ErrorReason = ""
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[tokenKey{labels.Account, labels.Token}] = tokenEntry{labels, state}
}

// retain drops every token whose labels are not in keep.
func (c *tokenCollector) retain(keep []TokenLabels) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, entry := range c.tokens {
		if !slices.Contains(keep, entry.labels) {
			delete(c.tokens, key)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *tokenCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.expiry, c.lastUsed, c.lastRotation, c.nextDue,
		c.renewBefore, c.decision, c.errorReason,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *tokenCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()

	for _, entry := range c.tokens {
		l := []string{entry.labels.Account, entry.labels.Token, entry.labels.TokenID}
		s := entry.state
		timestamp := func(desc *prometheus.Desc, t time.Time) {
			if !t.IsZero() {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, unixSeconds(t), l...)
			}
		}
		timestamp(c.expiry, s.Expiry)
		timestamp(c.lastUsed, s.LastUsed)
		timestamp(c.lastRotation, s.LastRotation)
		timestamp(c.nextDue, s.NextDue)
		ch <- prometheus.MustNewConstMetric(c.renewBefore, prometheus.GaugeValue,
			s.RenewBefore.Seconds(), l...)
		if s.Decision != "" {
			ch <- prometheus.MustNewConstMetric(c.decision, prometheus.GaugeValue, 1,
				slices.Concat(l, []string{string(s.Decision)})...)
		}
		if s.ErrorReason != "" {
			ch <- prometheus.MustNewConstMetric(c.errorReason, prometheus.GaugeValue, 1,
				slices.Concat(l, []string{string(s.ErrorReason)})...)
		}
	}
}

// unixSeconds returns t as seconds since the Unix epoch with sub-second
// precision. It avoids UnixNano, which overflows after the year 2262.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
