package deploy

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tokenrotator/tokenrotator/internal/metrics"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTestFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var rules ruleFile
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/alerts.yaml"), &rules); err != nil {
		t.Fatalf("parse alerts.yaml: %v", err)
	}
	return rules
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := lookTool(t, "promtool", "prometheus")
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")

	run(t, dir, promtool, "check", "rules", "alerts.yaml")
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := lookTool(t, "promtool", "prometheus")
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")

	run(t, dir, promtool, "test", "rules", "alerts_test.yaml")
}

func TestAlertsHaveSeverityAndText(t *testing.T) {
	for _, group := range loadRules(t).Groups {
		for _, rule := range group.Rules {
			if !slices.Contains([]string{"critical", "warning"}, rule.Labels["severity"]) {
				t.Errorf("%s: severity = %q, want critical or warning",
					rule.Alert, rule.Labels["severity"])
			}
			if rule.Annotations["summary"] == "" {
				t.Errorf("%s: summary annotation is missing", rule.Alert)
			}
			if len(rule.Annotations["description"]) < 80 {
				t.Errorf("%s: description is missing or too short to say what to do",
					rule.Alert)
			}
		}
	}
}

// TestAlertsTestedBothWays checks that every alert has a unit test case in
// which it fires and one in which it stays silent.
func TestAlertsTestedBothWays(t *testing.T) {
	var tests ruleTestFile
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/alerts_test.yaml"), &tests); err != nil {
		t.Fatalf("parse alerts_test.yaml: %v", err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, test := range tests.Tests {
		for _, c := range test.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname] = true
			} else {
				silent[c.Alertname] = true
			}
		}
	}

	for _, group := range loadRules(t).Groups {
		for _, rule := range group.Rules {
			if !fires[rule.Alert] {
				t.Errorf("%s has no test case in which it fires", rule.Alert)
			}
			if !silent[rule.Alert] {
				t.Errorf("%s has no test case in which it stays silent", rule.Alert)
			}
		}
	}
}

// metricNamePattern matches the metric names the assets use: those of
// tokenrotator and of the Go and process collectors.
var metricNamePattern = regexp.MustCompile(`\b(?:tokenrotator|process|go)_[a-z0-9_]+`)

// checkMetricNames reports every metric name in expr that metrics.Names
// does not list. Histogram series names map to their family name.
func checkMetricNames(t *testing.T, where, expr string) {
	t.Helper()
	names := metrics.Names()
	for _, name := range metricNamePattern.FindAllString(expr, -1) {
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(names, base) {
				family = base
			}
		}
		if !slices.Contains(names, family) {
			t.Errorf("%s uses %s, which the metrics package does not export", where, name)
		}
	}
}

func TestAlertsUseExportedMetrics(t *testing.T) {
	for _, group := range loadRules(t).Groups {
		for _, rule := range group.Rules {
			if !metricNamePattern.MatchString(rule.Expr) && !strings.Contains(rule.Expr, "up{") {
				t.Errorf("%s: expression uses no known metric: %s", rule.Alert, rule.Expr)
			}
			checkMetricNames(t, "alert "+rule.Alert, rule.Expr)
			for key, text := range rule.Annotations {
				checkMetricNames(t, "alert "+rule.Alert+" annotation "+key, text)
			}
		}
	}
}
