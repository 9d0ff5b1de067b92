package app

import (
	"time"

	"github.com/tokenrotator/tokenrotator/internal/metrics"
	"github.com/tokenrotator/tokenrotator/rotator"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// observeAttempt logs a failed Cloudflare API attempt at debug level, and
// counts every attempt. The caller logs the request's final error.
func (a *App) observeAttempt(at tokenapi.Attempt) {
	if at.Err != nil && a.log != nil {
		a.log.Debug("API attempt failed", "endpoint", at.Endpoint, "status", at.StatusCode,
			"attempt", at.Retry+1, "err", at.Err)
	}
	if a.metrics == nil {
		return
	}
	endpoint := metrics.Endpoint(at.Endpoint)
	a.metrics.ObserveAPIRequest(endpoint, at.StatusCode, at.StatusCode == 0, at.Duration)
	if at.Retry == 0 {
		return
	}
	switch at.RetryReason {
	case tokenapi.RetryReasonRateLimited:
		a.metrics.ObserveAPIRetry(endpoint, metrics.RetryRateLimited)
	case tokenapi.RetryReasonTransport:
		a.metrics.ObserveAPIRetry(endpoint, metrics.RetryTransport)
	default:
		a.metrics.ObserveAPIRetry(endpoint, metrics.RetryServerError)
	}
}

// Record exports a sweep's or a plan's report to the metrics. Per-token
// series of tokens no longer in the report's policy disappear, so no alert
// keeps firing for a token that is not managed any more. A plan reports
// no rotation results, so only the token state changes.
func (a *App) Record(rep *rotator.Report) {
	a.record(rep, true)
}

// RecordPartial exports a report that covers only some of the policy's
// tokens, such as an on-demand rotation, without dropping the series of
// the tokens it leaves out.
func (a *App) RecordPartial(rep *rotator.Report) {
	a.record(rep, false)
}

func (a *App) record(rep *rotator.Report, complete bool) {
	m := a.metrics
	if m == nil {
		return
	}
	keep := make([]metrics.TokenLabels, 0, len(rep.Tokens))
	for _, t := range rep.Tokens {
		labels, state := tokenSeries(t)
		m.SetToken(labels, state)
		keep = append(keep, labels)

		if t.Result != "" && t.Decision.Action != rotator.ActionDisableIdle {
			p := t.Decision.Policy
			m.ObserveRotation(p.Account, p.Key, string(p.Strategy), metrics.RotationResult(t.Result),
				t.Duration)
		}
		for _, w := range t.SinkWrites {
			m.ObserveSinkWrite(w.Target.Sink, metrics.SinkResult(w.Result))
		}
	}
	for _, r := range rep.Replayed {
		for _, w := range r.SinkWrites {
			m.ObserveSinkWrite(w.Target.Sink, metrics.SinkResult(w.Result))
		}
	}
	if complete {
		m.RetainTokens(keep)
	}
	m.SetSecretsUnsaved(rep.Unsaved)
	m.SetRevocations(rep.RevocationsPending, rep.RevocationsOverdue)
}

// tokenSeries returns the labels and gauges of one token's report. After a
// rotation the series show the token as the rotation left it, so an expiry
// alert stops at once. The next due time is left out until the next sweep
// decides again.
func tokenSeries(t rotator.TokenReport) (metrics.TokenLabels, metrics.TokenState) {
	d := t.Decision
	labels := metrics.TokenLabels{Account: d.Policy.Account, Token: d.Policy.Key}
	state := metrics.TokenState{
		LastRotation: d.LastRotated, NextDue: d.NextDue, RenewBefore: d.Policy.RenewBefore,
		Decision: metrics.Decision(d.Action),
	}
	tok := d.Token
	if t.After != nil {
		tok = t.After
	}
	if tok != nil {
		labels.TokenID = tok.ID
		if expires, ok := tok.ExpiresOn.Time(); ok {
			state.Expiry = expires
		}
		if used, ok := tok.LastUsedOn.Time(); ok {
			state.LastUsed = used
		}
	}
	if d.Err != nil {
		state.ErrorReason = metrics.ErrorReason(d.ErrKind)
	}

	switch t.Result {
	case rotator.ResultSuccess, rotator.ResultOldTokenLive:
		state.Decision = metrics.DecisionOK
	case rotator.ResultNotStored:
		state.Decision = metrics.DecisionError
		state.ErrorReason = metrics.ReasonUnsavedSecret
	case rotator.ResultFailed:
		state.Decision = metrics.DecisionError
		state.ErrorReason = metrics.ErrorReason(t.ErrKind)
	}
	if !t.RotatedAt.IsZero() {
		state.LastRotation = t.RotatedAt
		state.NextDue = time.Time{}
	}
	return labels, state
}
