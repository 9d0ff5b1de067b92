package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/tokenrotator/tokenrotator/internal/metrics"
	"github.com/tokenrotator/tokenrotator/rotator"
)

// errorKinds are every decision error kind of the rotator.
var errorKinds = []rotator.ErrorKind{
	rotator.ErrNotFound, rotator.ErrAmbiguous, rotator.ErrDisabled, rotator.ErrUnusableStatus,
	rotator.ErrBadTimestamp, rotator.ErrAPI, rotator.ErrSink, rotator.ErrUnsavedSecret,
	rotator.ErrPolicy,
}

// exportedLabelValues sets one token per value through set and returns the
// values of label that the token metric family exports.
func exportedLabelValues(t *testing.T, family, label string, values []string,
	set func(m *metrics.Metrics, labels metrics.TokenLabels, value string)) []string {
	t.Helper()
	m := metrics.New("test")
	for _, value := range values {
		set(m, metrics.TokenLabels{Account: "acct", Token: value, TokenID: "id-" + value}, value)
	}
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}

	var exported []string
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		for _, metric := range f.GetMetric() {
			for _, pair := range metric.GetLabel() {
				if pair.GetName() == label {
					exported = append(exported, pair.GetValue())
				}
			}
		}
	}
	slices.Sort(exported)
	return exported
}

// monitoringSection returns the text of docs/MONITORING.md from the heading
// that contains title up to the next heading of the same level.
func monitoringSection(t *testing.T, title string) string {
	t.Helper()
	text := string(readFile(t, "docs/MONITORING.md"))
	start := strings.Index(text, title)
	if start < 0 {
		t.Fatalf("docs/MONITORING.md has no section %q", title)
	}
	section := text[start:]
	if end := strings.Index(section, "\n### "); end >= 0 {
		section = section[:end]
	}
	return section
}

// TestMonitoringErrorReasons checks that the reason table of
// TokenrotatorTokenError lists exactly the reasons tokenrotator_token_error
// exports, whatever error kind the rotator reports.
func TestMonitoringErrorReasons(t *testing.T) {
	kinds := make([]string, len(errorKinds))
	for i, kind := range errorKinds {
		kinds[i] = string(kind)
	}
	exported := exportedLabelValues(t, "tokenrotator_token_error", "reason", kinds,
		func(m *metrics.Metrics, labels metrics.TokenLabels, kind string) {
			m.SetToken(labels, metrics.TokenState{Decision: metrics.DecisionError,
				ErrorReason: metrics.ErrorReason(kind)})
		})

	var documented []string
	for _, line := range strings.Split(monitoringSection(t, "### TokenrotatorTokenError"), "\n") {
		if reason, ok := strings.CutPrefix(line, "| `"); ok {
			reason, _, _ = strings.Cut(reason, "`")
			documented = append(documented, reason)
		}
	}
	slices.Sort(documented)

	if len(exported) == 0 {
		t.Fatal("tokenrotator_token_error exports no reason at all")
	}
	if !slices.Equal(documented, exported) {
		t.Errorf("docs/MONITORING.md lists the reasons %v, but tokenrotator_token_error "+
			"exports %v", documented, exported)
	}
}

// TestMonitoringNotRotatedAdvice checks that the advice for
// TokenrotatorTokenNotRotated names the decision the rotator takes for a
// rolled token near its expiry and the error kind of a ttl that is too
// short, and that the metric exports that decision.
func TestMonitoringNotRotatedAdvice(t *testing.T) {
	section := monitoringSection(t, "### TokenrotatorTokenNotRotated")

	for _, name := range []string{string(rotator.ActionExtendRoll), string(rotator.ActionError),
		string(rotator.ErrPolicy)} {
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("the TokenrotatorTokenNotRotated section does not name `%s`", name)
		}
	}
	exported := exportedLabelValues(t, "tokenrotator_token_decision", "decision",
		[]string{string(rotator.ActionExtendRoll)},
		func(m *metrics.Metrics, labels metrics.TokenLabels, decision string) {
			m.SetToken(labels, metrics.TokenState{Decision: metrics.Decision(decision)})
		})
	if !slices.Equal(exported, []string{string(rotator.ActionExtendRoll)}) {
		t.Errorf("tokenrotator_token_decision exports %v for the decision %s", exported,
			rotator.ActionExtendRoll)
	}
}
