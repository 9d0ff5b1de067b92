package deploy

import (
	"encoding/json"
	"testing"
)

type dashboard struct {
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readFile(t, "deploy/grafana/tokenrotator.json"), &d); err != nil {
		t.Fatalf("parse tokenrotator.json: %v", err)
	}
	return d
}

func TestDashboardDatasourceVariable(t *testing.T) {
	d := loadDashboard(t)

	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion = %d, want 39 or later", d.SchemaVersion)
	}
	var found bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			found = true
		}
	}
	if !found {
		t.Error("no datasource variable of type datasource for prometheus")
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	d := loadDashboard(t)

	for _, p := range d.Panels {
		for _, target := range p.Targets {
			if !metricNamePattern.MatchString(target.Expr) {
				t.Errorf("panel %q: query uses no tokenrotator metric: %s", p.Title, target.Expr)
			}
			checkMetricNames(t, "panel "+p.Title, target.Expr)
		}
	}
}

// TestDashboardCoversTopics checks that the dashboard shows every topic an
// operator looks for.
func TestDashboardCoversTopics(t *testing.T) {
	d := loadDashboard(t)
	used := map[string]bool{}
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			for _, name := range metricNamePattern.FindAllString(target.Expr, -1) {
				used[name] = true
			}
		}
	}

	for _, name := range []string{
		"tokenrotator_token_expiry_timestamp_seconds",
		"tokenrotator_token_last_rotation_timestamp_seconds",
		"tokenrotator_rotations_total",
		"tokenrotator_api_requests_total",
		"tokenrotator_api_retries_total",
		"tokenrotator_sink_writes_total",
		"tokenrotator_secrets_unsaved",
		"tokenrotator_revocations_overdue",
	} {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}
