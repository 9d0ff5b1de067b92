package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// base is a fixed instant, so that timestamps in the expected output are exact.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // 1772366400

var (
	dnsToken = TokenLabels{Account: "0123456789abcdef0123456789abcdef", Token: "dns",
		TokenID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	cacheToken = TokenLabels{Account: "0123456789abcdef0123456789abcdef", Token: "cache",
		TokenID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
)

// compare checks the exposition of the named families against want.
func compare(t *testing.T, m *Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.registry, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

// count returns how many series of the named family the registry exports.
func count(t *testing.T, m *Metrics, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(m.registry, name)
	if err != nil {
		t.Fatalf("gather %s: %v", name, err)
	}
	return n
}

var tokenFamilies = []string{
	"tokenrotator_token_expiry_timestamp_seconds",
	"tokenrotator_token_last_used_timestamp_seconds",
	"tokenrotator_token_last_rotation_timestamp_seconds",
	"tokenrotator_token_next_due_timestamp_seconds",
	"tokenrotator_token_renew_before_seconds",
	"tokenrotator_token_decision",
	"tokenrotator_token_error",
}

func TestSetTokenAllFields(t *testing.T) {
	m := New("v1.0.0")
	m.SetToken(dnsToken, TokenState{
		Expiry:       base.Add(90 * 24 * time.Hour),
		LastUsed:     base.Add(-time.Hour),
		LastRotation: base.Add(-30*24*time.Hour + 500*time.Millisecond),
		NextDue:      base.Add(60 * 24 * time.Hour),
		RenewBefore:  30 * 24 * time.Hour,
		Decision:     DecisionError,
		ErrorReason:  ReasonSinkError,
	})

	const labels = `account="0123456789abcdef0123456789abcdef",token="dns",` +
		`token_id="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`
	want := `
# HELP tokenrotator_token_decision Current decision for the managed token: 1 for the current decision, other decisions absent.
# TYPE tokenrotator_token_decision gauge
tokenrotator_token_decision{account="0123456789abcdef0123456789abcdef",decision="error",token="dns",token_id="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} 1
# HELP tokenrotator_token_error 1 while the managed token is in error, with the reason; absent otherwise.
# TYPE tokenrotator_token_error gauge
tokenrotator_token_error{account="0123456789abcdef0123456789abcdef",reason="sink_error",token="dns",token_id="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} 1
# HELP tokenrotator_token_expiry_timestamp_seconds Expiry time of the managed token (expires_on), absent when it never expires.
# TYPE tokenrotator_token_expiry_timestamp_seconds gauge
tokenrotator_token_expiry_timestamp_seconds{` + labels + `} 1.7801424e+09
# HELP tokenrotator_token_last_rotation_timestamp_seconds Time the value of the managed token last changed.
# TYPE tokenrotator_token_last_rotation_timestamp_seconds gauge
tokenrotator_token_last_rotation_timestamp_seconds{` + labels + `} 1.7697744005e+09
# HELP tokenrotator_token_last_used_timestamp_seconds Last use of the managed token (last_used_on), absent when it was never used.
# TYPE tokenrotator_token_last_used_timestamp_seconds gauge
tokenrotator_token_last_used_timestamp_seconds{` + labels + `} 1.7723628e+09
# HELP tokenrotator_token_next_due_timestamp_seconds Time the managed token becomes due for rotation.
# TYPE tokenrotator_token_next_due_timestamp_seconds gauge
tokenrotator_token_next_due_timestamp_seconds{` + labels + `} 1.7775504e+09
# HELP tokenrotator_token_renew_before_seconds Configured window before expiry in which the token is rotated.
# TYPE tokenrotator_token_renew_before_seconds gauge
tokenrotator_token_renew_before_seconds{` + labels + `} 2.592e+06
`
	compare(t, m, want, tokenFamilies...)
}

func TestSetTokenOmitsUnsetTimes(t *testing.T) {
	m := New("v1.0.0")
	m.SetToken(dnsToken, TokenState{RenewBefore: time.Hour, Decision: DecisionOK})

	for _, name := range []string{
		"tokenrotator_token_expiry_timestamp_seconds",
		"tokenrotator_token_last_used_timestamp_seconds",
		"tokenrotator_token_last_rotation_timestamp_seconds",
		"tokenrotator_token_next_due_timestamp_seconds",
		"tokenrotator_token_error",
	} {
		if n := count(t, m, name); n != 0 {
			t.Errorf("%s has %d series, want 0", name, n)
		}
	}
	if n := count(t, m, "tokenrotator_token_renew_before_seconds"); n != 1 {
		t.Errorf("tokenrotator_token_renew_before_seconds has %d series, want 1", n)
	}
}

func TestSetTokenReplacesDecision(t *testing.T) {
	m := New("v1.0.0")
	m.SetToken(dnsToken, TokenState{Decision: DecisionError, ErrorReason: ReasonAPIError})
	m.SetToken(dnsToken, TokenState{Decision: DecisionOK})

	want := `
# HELP tokenrotator_token_decision Current decision for the managed token: 1 for the current decision, other decisions absent.
# TYPE tokenrotator_token_decision gauge
tokenrotator_token_decision{account="0123456789abcdef0123456789abcdef",decision="ok",token="dns",token_id="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} 1
`
	compare(t, m, want, "tokenrotator_token_decision", "tokenrotator_token_error")
}

func TestSetTokenNewIDReplacesOld(t *testing.T) {
	m := New("v1.0.0")
	m.SetToken(dnsToken, TokenState{Expiry: base, Decision: DecisionRotate})
	recreated := dnsToken
	recreated.TokenID = "cccccccccccccccccccccccccccccccc"
	m.SetToken(recreated, TokenState{Expiry: base.Add(time.Hour), Decision: DecisionOK})

	want := `
# HELP tokenrotator_token_expiry_timestamp_seconds Expiry time of the managed token (expires_on), absent when it never expires.
# TYPE tokenrotator_token_expiry_timestamp_seconds gauge
tokenrotator_token_expiry_timestamp_seconds{account="0123456789abcdef0123456789abcdef",token="dns",token_id="cccccccccccccccccccccccccccccccc"} 1.7723700e+09
`
	compare(t, m, want, "tokenrotator_token_expiry_timestamp_seconds")
}

func TestSetTokenIgnoresUnknownValues(t *testing.T) {
	m := New("v1.0.0")
	m.SetToken(dnsToken, TokenState{Decision: "dial tcp: connection refused",
		ErrorReason: "unexpected EOF"})

	if n := count(t, m, "tokenrotator_token_decision"); n != 0 {
		t.Errorf("tokenrotator_token_decision has %d series, want 0", n)
	}
	if n := count(t, m, "tokenrotator_token_error"); n != 0 {
		t.Errorf("tokenrotator_token_error has %d series, want 0", n)
	}
}

func TestRetainTokensRemovesSeries(t *testing.T) {
	m := New("v1.0.0")
	for _, l := range []TokenLabels{dnsToken, cacheToken} {
		m.SetToken(l, TokenState{Expiry: base, RenewBefore: time.Hour,
			Decision: DecisionError, ErrorReason: ReasonNotFound})
		m.ObserveRotation(l.Account, l.Token, "roll", RotationSuccess, time.Second)
	}

	m.RetainTokens([]TokenLabels{cacheToken})

	const kept = `account="0123456789abcdef0123456789abcdef",token="cache",` +
		`token_id="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"`
	want := `
# HELP tokenrotator_token_error 1 while the managed token is in error, with the reason; absent otherwise.
# TYPE tokenrotator_token_error gauge
tokenrotator_token_error{account="0123456789abcdef0123456789abcdef",reason="not_found",token="cache",token_id="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"} 1
# HELP tokenrotator_token_expiry_timestamp_seconds Expiry time of the managed token (expires_on), absent when it never expires.
# TYPE tokenrotator_token_expiry_timestamp_seconds gauge
tokenrotator_token_expiry_timestamp_seconds{` + kept + `} 1.7723664e+09
# HELP tokenrotator_rotations_total Rotations of managed tokens, by outcome.
# TYPE tokenrotator_rotations_total counter
tokenrotator_rotations_total{account="0123456789abcdef0123456789abcdef",result="success",strategy="roll",token="cache"} 1
`
	compare(t, m, want, "tokenrotator_token_error",
		"tokenrotator_token_expiry_timestamp_seconds", "tokenrotator_rotations_total")
	for _, name := range tokenFamilies {
		if name == "tokenrotator_token_last_used_timestamp_seconds" ||
			name == "tokenrotator_token_last_rotation_timestamp_seconds" ||
			name == "tokenrotator_token_next_due_timestamp_seconds" {
			continue
		}
		if n := count(t, m, name); n != 1 {
			t.Errorf("%s has %d series after RetainTokens, want 1", name, n)
		}
	}
}

func TestRetainTokensDropsOldID(t *testing.T) {
	m := New("v1.0.0")
	m.SetToken(dnsToken, TokenState{Expiry: base})
	m.ObserveRotation(dnsToken.Account, dnsToken.Token, "recreate", RotationSuccess, time.Second)
	recreated := dnsToken
	recreated.TokenID = "cccccccccccccccccccccccccccccccc"

	m.RetainTokens([]TokenLabels{recreated})

	if n := count(t, m, "tokenrotator_token_expiry_timestamp_seconds"); n != 0 {
		t.Errorf("expiry series of the old token id remain: %d series", n)
	}
	if n := count(t, m, "tokenrotator_rotations_total"); n != 1 {
		t.Errorf("rotation counter of a kept policy entry: %d series, want 1", n)
	}
}

func TestRetainTokensEmptyRemovesAll(t *testing.T) {
	m := New("v1.0.0")
	m.SetToken(dnsToken, TokenState{Expiry: base, Decision: DecisionOK})
	m.ObserveRotation(dnsToken.Account, dnsToken.Token, "roll", RotationFailed, time.Second)

	m.RetainTokens(nil)

	for _, name := range append(slices.Clone(tokenFamilies), "tokenrotator_rotations_total") {
		if n := count(t, m, name); n != 0 {
			t.Errorf("%s has %d series after RetainTokens(nil), want 0", name, n)
		}
	}
}

func TestObserveRotation(t *testing.T) {
	m := New("v1.0.0")
	m.ObserveRotation("acct", "dns", "roll", RotationSuccess, 300*time.Millisecond)
	m.ObserveRotation("acct", "dns", "roll", RotationNotStored, 7*time.Second)
	m.ObserveRotation("acct", "dns", "recreate", RotationOldTokenStillLive, 45*time.Second)
	m.ObserveRotation("acct", "dns", "roll", "context deadline exceeded", time.Second)

	want := `
# HELP tokenrotator_rotation_duration_seconds Duration of one rotation, from the first API call to the last sink write.
# TYPE tokenrotator_rotation_duration_seconds histogram
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="0.1"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="0.25"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="0.5"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="1"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="2.5"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="5"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="10"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="30"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="60"} 1
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="120"} 1
tokenrotator_rotation_duration_seconds_bucket{strategy="recreate",le="+Inf"} 1
tokenrotator_rotation_duration_seconds_sum{strategy="recreate"} 45
tokenrotator_rotation_duration_seconds_count{strategy="recreate"} 1
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="0.1"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="0.25"} 0
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="0.5"} 1
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="1"} 1
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="2.5"} 1
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="5"} 1
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="10"} 2
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="30"} 2
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="60"} 2
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="120"} 2
tokenrotator_rotation_duration_seconds_bucket{strategy="roll",le="+Inf"} 2
tokenrotator_rotation_duration_seconds_sum{strategy="roll"} 7.3
tokenrotator_rotation_duration_seconds_count{strategy="roll"} 2
# HELP tokenrotator_rotations_total Rotations of managed tokens, by outcome.
# TYPE tokenrotator_rotations_total counter
tokenrotator_rotations_total{account="acct",result="old_token_still_live",strategy="recreate",token="dns"} 1
tokenrotator_rotations_total{account="acct",result="rotated_not_stored",strategy="roll",token="dns"} 1
tokenrotator_rotations_total{account="acct",result="success",strategy="roll",token="dns"} 1
`
	compare(t, m, want, "tokenrotator_rotations_total", "tokenrotator_rotation_duration_seconds")
}

func TestObserveAPIRequest(t *testing.T) {
	m := New("v1.0.0")
	m.ObserveAPIRequest(EndpointList, 200, false, 20*time.Millisecond)
	m.ObserveAPIRequest(EndpointList, 200, false, 40*time.Millisecond)
	m.ObserveAPIRequest(EndpointRoll, 429, false, 5*time.Millisecond)
	m.ObserveAPIRequest(EndpointRoll, 0, true, 12*time.Second)
	m.ObserveAPIRequest("accounts", 200, false, time.Second)

	want := `
# HELP tokenrotator_api_requests_total Requests to the Cloudflare tokens API, by HTTP status or error for requests that got no response.
# TYPE tokenrotator_api_requests_total counter
tokenrotator_api_requests_total{code="200",endpoint="list"} 2
tokenrotator_api_requests_total{code="429",endpoint="roll"} 1
tokenrotator_api_requests_total{code="error",endpoint="roll"} 1
# HELP tokenrotator_api_request_duration_seconds Duration of one request to the Cloudflare tokens API.
# TYPE tokenrotator_api_request_duration_seconds histogram
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="0.01"} 0
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="0.025"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="0.05"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="0.1"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="0.25"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="0.5"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="1"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="2.5"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="5"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="10"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="30"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="list",le="+Inf"} 2
tokenrotator_api_request_duration_seconds_sum{endpoint="list"} 0.06
tokenrotator_api_request_duration_seconds_count{endpoint="list"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="0.01"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="0.025"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="0.05"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="0.1"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="0.25"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="0.5"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="1"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="2.5"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="5"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="10"} 1
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="30"} 2
tokenrotator_api_request_duration_seconds_bucket{endpoint="roll",le="+Inf"} 2
tokenrotator_api_request_duration_seconds_sum{endpoint="roll"} 12.005
tokenrotator_api_request_duration_seconds_count{endpoint="roll"} 2
`
	compare(t, m, want, "tokenrotator_api_requests_total",
		"tokenrotator_api_request_duration_seconds")
}

func TestObserveAPIRetry(t *testing.T) {
	m := New("v1.0.0")
	if n := count(t, m, "tokenrotator_api_retries_total"); n != len(endpoints)*len(retryReasons) {
		t.Errorf("new Metrics has %d retry series, want every endpoint and reason (%d)",
			n, len(endpoints)*len(retryReasons))
	}

	m.ObserveAPIRetry(EndpointList, RetryRateLimited)
	m.ObserveAPIRetry(EndpointList, RetryRateLimited)
	m.ObserveAPIRetry(EndpointDelete, RetryServerError)
	m.ObserveAPIRetry(EndpointDelete, "connection reset by peer")

	checks := []struct {
		endpoint Endpoint
		reason   RetryReason
		want     float64
	}{
		{EndpointList, RetryRateLimited, 2},
		{EndpointDelete, RetryServerError, 1},
		{EndpointDelete, RetryTransport, 0},
	}
	for _, c := range checks {
		got := testutil.ToFloat64(m.apiRetries.WithLabelValues(string(c.endpoint), string(c.reason)))
		if got != c.want {
			t.Errorf("retries{%s,%s} = %v, want %v", c.endpoint, c.reason, got, c.want)
		}
	}
	if n := count(t, m, "tokenrotator_api_retries_total"); n != len(endpoints)*len(retryReasons) {
		t.Errorf("an unknown reason added a series: %d series", n)
	}
}

func TestSinkWritesAndVaultAuth(t *testing.T) {
	m := New("v1.0.0")
	m.ObserveSinkWrite("vault-prod", SinkSuccess)
	m.ObserveSinkWrite("vault-prod", SinkDenied)
	m.ObserveSinkWrite("file", SinkConflict)
	m.ObserveSinkWrite("file", "permission denied: /run/secrets/x")
	m.SetVaultAuth("vault-prod", false)

	want := `
# HELP tokenrotator_sink_writes_total Writes of token values to sinks, by outcome.
# TYPE tokenrotator_sink_writes_total counter
tokenrotator_sink_writes_total{result="conflict",sink="file"} 1
tokenrotator_sink_writes_total{result="denied",sink="vault-prod"} 1
tokenrotator_sink_writes_total{result="success",sink="vault-prod"} 1
# HELP tokenrotator_vault_auth_ok 1 when the last Vault login or token renewal of the sink succeeded, else 0.
# TYPE tokenrotator_vault_auth_ok gauge
tokenrotator_vault_auth_ok{sink="vault-prod"} 0
`
	compare(t, m, want, "tokenrotator_sink_writes_total", "tokenrotator_vault_auth_ok")

	m.RetainSinks([]string{"file"})

	want = `
# HELP tokenrotator_sink_writes_total Writes of token values to sinks, by outcome.
# TYPE tokenrotator_sink_writes_total counter
tokenrotator_sink_writes_total{result="conflict",sink="file"} 1
`
	compare(t, m, want, "tokenrotator_sink_writes_total", "tokenrotator_vault_auth_ok")
}

func TestJournalGauges(t *testing.T) {
	m := New("v1.0.0")
	m.SetSecretsUnsaved(2)
	m.SetRevocations(3, 1)

	want := `
# HELP tokenrotator_revocations_overdue Replaced tokens still not deleted after their grace period.
# TYPE tokenrotator_revocations_overdue gauge
tokenrotator_revocations_overdue 1
# HELP tokenrotator_revocations_pending Replaced tokens recorded for deletion and not deleted yet.
# TYPE tokenrotator_revocations_pending gauge
tokenrotator_revocations_pending 3
# HELP tokenrotator_secrets_unsaved Token values held in the journal because a sink does not store them yet.
# TYPE tokenrotator_secrets_unsaved gauge
tokenrotator_secrets_unsaved 2
`
	compare(t, m, want, "tokenrotator_secrets_unsaved", "tokenrotator_revocations_pending",
		"tokenrotator_revocations_overdue")
}

func TestObserveSweep(t *testing.T) {
	m := New("v1.0.0")
	sweepNames := []string{
		"tokenrotator_sweeps_total", "tokenrotator_sweep_duration_seconds",
		"tokenrotator_last_sweep_timestamp_seconds",
		"tokenrotator_last_successful_sweep_timestamp_seconds",
	}
	m.ObserveSweep(true, base, base.Add(4*time.Second))
	m.ObserveSweep(false, base.Add(time.Hour), base.Add(time.Hour+20*time.Second))

	want := `
# HELP tokenrotator_last_successful_sweep_timestamp_seconds Time the last successful sweep ended, 0 before the first one.
# TYPE tokenrotator_last_successful_sweep_timestamp_seconds gauge
tokenrotator_last_successful_sweep_timestamp_seconds 1.772366404e+09
# HELP tokenrotator_last_sweep_timestamp_seconds Time the last sweep ended, 0 before the first sweep.
# TYPE tokenrotator_last_sweep_timestamp_seconds gauge
tokenrotator_last_sweep_timestamp_seconds 1.77237002e+09
# HELP tokenrotator_sweep_duration_seconds Duration of one sweep over all managed tokens.
# TYPE tokenrotator_sweep_duration_seconds histogram
tokenrotator_sweep_duration_seconds_bucket{le="0.5"} 0
tokenrotator_sweep_duration_seconds_bucket{le="1"} 0
tokenrotator_sweep_duration_seconds_bucket{le="2.5"} 0
tokenrotator_sweep_duration_seconds_bucket{le="5"} 1
tokenrotator_sweep_duration_seconds_bucket{le="10"} 1
tokenrotator_sweep_duration_seconds_bucket{le="30"} 2
tokenrotator_sweep_duration_seconds_bucket{le="60"} 2
tokenrotator_sweep_duration_seconds_bucket{le="120"} 2
tokenrotator_sweep_duration_seconds_bucket{le="300"} 2
tokenrotator_sweep_duration_seconds_bucket{le="600"} 2
tokenrotator_sweep_duration_seconds_bucket{le="1800"} 2
tokenrotator_sweep_duration_seconds_bucket{le="+Inf"} 2
tokenrotator_sweep_duration_seconds_sum 24
tokenrotator_sweep_duration_seconds_count 2
# HELP tokenrotator_sweeps_total Completed sweeps over all managed tokens, by outcome.
# TYPE tokenrotator_sweeps_total counter
tokenrotator_sweeps_total{result="failed"} 1
tokenrotator_sweeps_total{result="success"} 1
`
	compare(t, m, want, sweepNames...)
}

func TestObserveSweepClockStep(t *testing.T) {
	m := New("v1.0.0")
	m.ObserveSweep(true, base, base.Add(-time.Second))

	want := `
# HELP tokenrotator_sweep_duration_seconds Duration of one sweep over all managed tokens.
# TYPE tokenrotator_sweep_duration_seconds histogram
tokenrotator_sweep_duration_seconds_bucket{le="0.5"} 1
tokenrotator_sweep_duration_seconds_bucket{le="1"} 1
tokenrotator_sweep_duration_seconds_bucket{le="2.5"} 1
tokenrotator_sweep_duration_seconds_bucket{le="5"} 1
tokenrotator_sweep_duration_seconds_bucket{le="10"} 1
tokenrotator_sweep_duration_seconds_bucket{le="30"} 1
tokenrotator_sweep_duration_seconds_bucket{le="60"} 1
tokenrotator_sweep_duration_seconds_bucket{le="120"} 1
tokenrotator_sweep_duration_seconds_bucket{le="300"} 1
tokenrotator_sweep_duration_seconds_bucket{le="600"} 1
tokenrotator_sweep_duration_seconds_bucket{le="1800"} 1
tokenrotator_sweep_duration_seconds_bucket{le="+Inf"} 1
tokenrotator_sweep_duration_seconds_sum 0
tokenrotator_sweep_duration_seconds_count 1
`
	compare(t, m, want, "tokenrotator_sweep_duration_seconds")
}

func TestSweepGaugesBeforeFirstSweep(t *testing.T) {
	m := New("v1.0.0")

	want := `
# HELP tokenrotator_last_successful_sweep_timestamp_seconds Time the last successful sweep ended, 0 before the first one.
# TYPE tokenrotator_last_successful_sweep_timestamp_seconds gauge
tokenrotator_last_successful_sweep_timestamp_seconds 0
# HELP tokenrotator_sweeps_total Completed sweeps over all managed tokens, by outcome.
# TYPE tokenrotator_sweeps_total counter
tokenrotator_sweeps_total{result="failed"} 0
tokenrotator_sweeps_total{result="success"} 0
`
	compare(t, m, want, "tokenrotator_sweeps_total",
		"tokenrotator_last_successful_sweep_timestamp_seconds")
}

func TestSetConfigReload(t *testing.T) {
	m := New("v1.0.0")
	names := []string{
		"tokenrotator_config_last_reload_successful",
		"tokenrotator_config_last_reload_success_timestamp_seconds",
	}
	for _, name := range names {
		if n := count(t, m, name); n != 0 {
			t.Errorf("%s has %d series before the first load, want 0", name, n)
		}
	}

	m.SetConfigReload(true, base)
	m.SetConfigReload(false, base.Add(time.Minute))

	want := `
# HELP tokenrotator_config_last_reload_success_timestamp_seconds Time of the last successful load of the configuration.
# TYPE tokenrotator_config_last_reload_success_timestamp_seconds gauge
tokenrotator_config_last_reload_success_timestamp_seconds 1.7723664e+09
# HELP tokenrotator_config_last_reload_successful 1 when the last load of the configuration succeeded, else 0.
# TYPE tokenrotator_config_last_reload_successful gauge
tokenrotator_config_last_reload_successful 0
`
	compare(t, m, want, names...)
}

func TestBuildInfo(t *testing.T) {
	m := New("v1.2.3")

	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range families {
		if f.GetName() != "tokenrotator_build_info" {
			continue
		}
		found = true
		metric := f.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range metric.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["version"] != "v1.2.3" {
			t.Errorf("version label = %q, want v1.2.3", labels["version"])
		}
		if !strings.HasPrefix(labels["goversion"], "go") {
			t.Errorf("goversion label = %q, want a Go version", labels["goversion"])
		}
		if metric.GetGauge().GetValue() != 1 {
			t.Errorf("value = %v, want 1", metric.GetGauge().GetValue())
		}
	}
	if !found {
		t.Error("tokenrotator_build_info is missing")
	}
}

// populate sets every metric of m, so that a scrape shows every family.
func populate(m *Metrics) {
	m.SetToken(dnsToken, TokenState{
		Expiry: base.Add(90 * 24 * time.Hour), LastUsed: base, LastRotation: base,
		NextDue: base.Add(60 * 24 * time.Hour), RenewBefore: 30 * 24 * time.Hour,
		Decision: DecisionError, ErrorReason: ReasonBadTimestamp,
	})
	m.ObserveRotation(dnsToken.Account, dnsToken.Token, "roll", RotationSuccess, time.Second)
	m.ObserveAPIRequest(EndpointRoll, 200, false, time.Second)
	m.ObserveAPIRetry(EndpointRoll, RetryTransport)
	m.ObserveSinkWrite("vault", SinkSuccess)
	m.SetVaultAuth("vault", true)
	m.SetSecretsUnsaved(0)
	m.SetRevocations(1, 0)
	m.ObserveSweep(true, base, base.Add(time.Second))
	m.SetConfigReload(true, base)
}

func TestNamesMatchFullScrape(t *testing.T) {
	m := New("v1.0.0")
	populate(m)

	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := Names()
	scraped := map[string]bool{}
	for _, f := range families {
		scraped[f.GetName()] = true
		if !slices.Contains(names, f.GetName()) {
			t.Errorf("scrape has %s, which Names does not list", f.GetName())
		}
	}
	for _, name := range ownNames {
		if !scraped[name] {
			t.Errorf("Names lists %s, which a full scrape lacks", name)
		}
	}
	if !slices.IsSorted(names) {
		t.Error("Names is not sorted")
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	m := New("v1.0.0")
	populate(m)
	server := httptest.NewServer(m.Handler())
	defer server.Close()

	resp, err := http.Get(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}

	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	for _, line := range []string{
		`tokenrotator_build_info{goversion=`,
		`tokenrotator_secrets_unsaved 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("scrape lacks %q", line)
		}
	}
}
