// Package metrics defines the Prometheus metrics of tokenrotator on a
// registry of its own and the HTTP handler that serves them.
package metrics

import (
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Histogram buckets in seconds. A rotation makes a few API calls and one
// write per sink, and a sweep lists every account, so both run longer than
// one API request.
var (
	apiRequestBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	rotationBuckets   = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	sweepBuckets      = []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}
)

// Metrics holds every metric of the daemon on its own registry. Its methods
// are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	tokens   *tokenCollector

	rotations        *prometheus.CounterVec
	rotationDuration *prometheus.HistogramVec
	apiRequests      *prometheus.CounterVec
	apiDuration      *prometheus.HistogramVec
	apiRetries       *prometheus.CounterVec
	sinkWrites       *prometheus.CounterVec
	vaultAuth        *prometheus.GaugeVec

	secretsUnsaved     prometheus.Gauge
	revocationsPending prometheus.Gauge
	revocationsOverdue prometheus.Gauge

	sweeps              *prometheus.CounterVec
	sweepDuration       prometheus.Histogram
	lastSweep           prometheus.Gauge
	lastSuccessfulSweep prometheus.Gauge

	// The reload gauges have no labels but are vectors, so that they stay
	// absent until the first configuration load is reported.
	configReloadOK   *prometheus.GaugeVec
	configReloadTime *prometheus.GaugeVec

	mu sync.Mutex
	// rotatedTokens and sinks record the label values seen so far, so that
	// RetainTokens and RetainSinks can delete the series of removed entries.
	rotatedTokens map[tokenKey]struct{}
	sinks         map[string]struct{}
}

// New returns Metrics on a new registry that also carries the Go runtime and
// process collectors, with tokenrotator_build_info set for version.
func New(version string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		tokens:   newTokenCollector(),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenrotator_rotations_total",
			Help: "Rotations of managed tokens, by outcome.",
		}, []string{"account", "token", "strategy", "result"}),
		rotationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokenrotator_rotation_duration_seconds",
			Help:    "Duration of one rotation, from the first API call to the last sink write.",
			Buckets: rotationBuckets,
		}, []string{"strategy"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenrotator_api_requests_total",
			Help: "Requests to the Cloudflare tokens API, by HTTP status or error for " +
				"requests that got no response.",
		}, []string{"endpoint", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokenrotator_api_request_duration_seconds",
			Help:    "Duration of one request to the Cloudflare tokens API.",
			Buckets: apiRequestBuckets,
		}, []string{"endpoint"}),
		apiRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenrotator_api_retries_total",
			Help: "Retried requests to the Cloudflare tokens API, by reason.",
		}, []string{"endpoint", "reason"}),
		sinkWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenrotator_sink_writes_total",
			Help: "Writes of token values to sinks, by outcome.",
		}, []string{"sink", "result"}),
		vaultAuth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenrotator_vault_auth_ok",
			Help: "1 when the last Vault login or token renewal of the sink succeeded, else 0.",
		}, []string{"sink"}),
		secretsUnsaved: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenrotator_secrets_unsaved",
			Help: "Token values held in the journal because a sink does not store them yet.",
		}),
		revocationsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenrotator_revocations_pending",
			Help: "Replaced tokens recorded for deletion and not deleted yet.",
		}),
		revocationsOverdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenrotator_revocations_overdue",
			Help: "Replaced tokens still not deleted after their grace period.",
		}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenrotator_sweeps_total",
			Help: "Completed sweeps over all managed tokens, by outcome.",
		}, []string{"result"}),
		sweepDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tokenrotator_sweep_duration_seconds",
			Help:    "Duration of one sweep over all managed tokens.",
			Buckets: sweepBuckets,
		}),
		lastSweep: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenrotator_last_sweep_timestamp_seconds",
			Help: "Time the last sweep ended, 0 before the first sweep.",
		}),
		lastSuccessfulSweep: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenrotator_last_successful_sweep_timestamp_seconds",
			Help: "Time the last successful sweep ended, 0 before the first one.",
		}),
		configReloadOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenrotator_config_last_reload_successful",
			Help: "1 when the last load of the configuration succeeded, else 0.",
		}, nil),
		configReloadTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenrotator_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful load of the configuration.",
		}, nil),
		rotatedTokens: make(map[tokenKey]struct{}),
		sinks:         make(map[string]struct{}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tokenrotator_build_info",
		Help: "Always 1, labelled with the version of tokenrotator and of the Go toolchain.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo, m.tokens,
		m.rotations, m.rotationDuration,
		m.apiRequests, m.apiDuration, m.apiRetries,
		m.sinkWrites, m.vaultAuth,
		m.secretsUnsaved, m.revocationsPending, m.revocationsOverdue,
		m.sweeps, m.sweepDuration, m.lastSweep, m.lastSuccessfulSweep,
		m.configReloadOK, m.configReloadTime,
	)

	// Series that exist from the start, so that rate() and increase() see
	// the first increment instead of a series appearing at 1.
	for _, e := range endpoints {
		for _, r := range retryReasons {
			m.apiRetries.WithLabelValues(string(e), string(r))
		}
	}
	m.sweeps.WithLabelValues("success")
	m.sweeps.WithLabelValues("failed")
	return m
}

// Handler returns the HTTP handler for /metrics. It serves the Prometheus
// text format only, which every Prometheus version scrapes.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.HTTPErrorOnError,
	})
}

// Gatherer returns the registry, for tests and for a caller that serves
// the metrics in some other way.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return m.registry
}

// SetToken records the latest state of one managed token. It replaces any
// earlier state for the same account and policy key, so the series of an
// old token id disappear when a recreate gives the entry a new id.
func (m *Metrics) SetToken(labels TokenLabels, state TokenState) {
	m.tokens.set(labels, state)
}

// RetainTokens deletes the series of every managed token whose labels are
// not in keep, including its rotation counters when no entry in keep has the
// same account and policy key. Call it after a configuration load with every
// token the policy still manages.
func (m *Metrics) RetainTokens(keep []TokenLabels) {
	m.tokens.retain(keep)

	kept := make(map[tokenKey]bool, len(keep))
	for _, l := range keep {
		kept[tokenKey{l.Account, l.Token}] = true
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.rotatedTokens {
		if kept[key] {
			continue
		}
		m.rotations.DeletePartialMatch(prometheus.Labels{"account": key.account, "token": key.token})
		delete(m.rotatedTokens, key)
	}
}

// RetainSinks deletes the sink write counters and the Vault auth gauge of
// every sink not named in keep.
func (m *Metrics) RetainSinks(keep []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for sink := range m.sinks {
		if slices.Contains(keep, sink) {
			continue
		}
		m.sinkWrites.DeletePartialMatch(prometheus.Labels{"sink": sink})
		m.vaultAuth.DeleteLabelValues(sink)
		delete(m.sinks, sink)
	}
}

// ObserveRotation counts one rotation of a managed token and records its
// duration. A result outside the RotationResult constants is ignored.
func (m *Metrics) ObserveRotation(account, token, strategy string, result RotationResult,
	d time.Duration) {
	if !slices.Contains(rotationResults, result) {
		return
	}

	m.mu.Lock()
	m.rotatedTokens[tokenKey{account, token}] = struct{}{}
	m.rotations.WithLabelValues(account, token, strategy, string(result)).Inc()
	m.mu.Unlock()

	m.rotationDuration.WithLabelValues(strategy).Observe(seconds(d))
}

// ObserveAPIRequest counts one request to the Cloudflare tokens API and
// records its duration. code is the HTTP status, and transportErr marks a
// request that got no response, whose code label is "error". An endpoint
// outside the Endpoint constants is ignored.
func (m *Metrics) ObserveAPIRequest(endpoint Endpoint, code int, transportErr bool,
	d time.Duration) {
	if !slices.Contains(endpoints, endpoint) {
		return
	}

	label := codeTransportError
	if !transportErr {
		label = strconv.Itoa(code)
	}
	m.apiRequests.WithLabelValues(string(endpoint), label).Inc()
	m.apiDuration.WithLabelValues(string(endpoint)).Observe(seconds(d))
}

// ObserveAPIRetry counts one retried request. Values outside the Endpoint
// and RetryReason constants are ignored.
func (m *Metrics) ObserveAPIRetry(endpoint Endpoint, reason RetryReason) {
	if !slices.Contains(endpoints, endpoint) || !slices.Contains(retryReasons, reason) {
		return
	}
	m.apiRetries.WithLabelValues(string(endpoint), string(reason)).Inc()
}

// ObserveSinkWrite counts one write to the named sink. A result outside the
// SinkResult constants is ignored.
func (m *Metrics) ObserveSinkWrite(sink string, result SinkResult) {
	if !slices.Contains(sinkResults, result) {
		return
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.sinks[sink] = struct{}{}
	m.sinkWrites.WithLabelValues(sink, string(result)).Inc()
}

// SetVaultAuth records whether the last Vault login or token renewal of the
// named sink succeeded.
func (m *Metrics) SetVaultAuth(sink string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sinks[sink] = struct{}{}
	m.vaultAuth.WithLabelValues(sink).Set(boolValue(ok))
}

// SetSecretsUnsaved records how many token values wait in the journal for a
// sink to store them.
func (m *Metrics) SetSecretsUnsaved(n int) {
	m.secretsUnsaved.Set(float64(n))
}

// SetRevocations records how many replaced tokens wait for deletion, and how
// many of those are past their grace period.
func (m *Metrics) SetRevocations(pending, overdue int) {
	m.revocationsPending.Set(float64(pending))
	m.revocationsOverdue.Set(float64(overdue))
}

// ObserveSweep counts one sweep that ran from start to end and sets the
// last-sweep timestamps to end.
func (m *Metrics) ObserveSweep(ok bool, start, end time.Time) {
	result := "failed"
	if ok {
		result = "success"
	}
	m.sweeps.WithLabelValues(result).Inc()
	m.sweepDuration.Observe(seconds(end.Sub(start)))
	m.lastSweep.Set(unixSeconds(end))
	if ok {
		m.lastSuccessfulSweep.Set(unixSeconds(end))
	}
}

// SetConfigReload records the outcome of a configuration load at the given
// time. The success timestamp changes only when ok is true.
func (m *Metrics) SetConfigReload(ok bool, at time.Time) {
	m.configReloadOK.WithLabelValues().Set(boolValue(ok))
	if ok {
		m.configReloadTime.WithLabelValues().Set(unixSeconds(at))
	}
}

// Names returns the name of every metric family that the handler can serve,
// sorted: the tokenrotator families and those of the Go runtime and process
// collectors on this platform.
func Names() []string {
	names := slices.Clone(ownNames)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	families, _ := reg.Gather()
	for _, f := range families {
		names = append(names, f.GetName())
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// ownNames lists the tokenrotator metric families. A test checks it against
// a full scrape.
var ownNames = []string{
	"tokenrotator_api_request_duration_seconds",
	"tokenrotator_api_requests_total",
	"tokenrotator_api_retries_total",
	"tokenrotator_build_info",
	"tokenrotator_config_last_reload_success_timestamp_seconds",
	"tokenrotator_config_last_reload_successful",
	"tokenrotator_last_successful_sweep_timestamp_seconds",
	"tokenrotator_last_sweep_timestamp_seconds",
	"tokenrotator_revocations_overdue",
	"tokenrotator_revocations_pending",
	"tokenrotator_rotation_duration_seconds",
	"tokenrotator_rotations_total",
	"tokenrotator_secrets_unsaved",
	"tokenrotator_sink_writes_total",
	"tokenrotator_sweep_duration_seconds",
	"tokenrotator_sweeps_total",
	"tokenrotator_token_decision",
	"tokenrotator_token_error",
	"tokenrotator_token_expiry_timestamp_seconds",
	"tokenrotator_token_last_rotation_timestamp_seconds",
	"tokenrotator_token_last_used_timestamp_seconds",
	"tokenrotator_token_next_due_timestamp_seconds",
	"tokenrotator_token_renew_before_seconds",
	"tokenrotator_vault_auth_ok",
}

// seconds returns d in seconds, with a negative duration (a clock step)
// counted as zero.
func seconds(d time.Duration) float64 {
	return max(d, 0).Seconds()
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
