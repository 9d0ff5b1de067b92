package metrics

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
)

// lookPromtool returns the path of promtool. It skips the test when promtool
// is missing, unless CI is set, where a missing tool fails the test.
func lookPromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("promtool not found and CI is set: install the Debian package prometheus: %v", err)
	}
	t.Skipf("promtool not found, so the exposition is not linted: %v", err)
	return ""
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := lookPromtool(t)
	m := New("v1.0.0")
	populate(m)

	recorder := httptest.NewRecorder()
	m.Handler().ServeHTTP(recorder, httptest.NewRequest("GET", "/metrics", nil))
	scrape, err := io.ReadAll(recorder.Result().Body)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(scrape)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics failed: %v\n%s", err, out)
	}
}
