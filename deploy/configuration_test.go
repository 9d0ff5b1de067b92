package deploy

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenrotator/tokenrotator/internal/config"
)

// minimalPolicy is a valid policy with the schedule, the listen address and
// the file sink directory left to fill in.
const minimalPolicy = `
schedule: "%s"
listen: %s
accounts:
  - name: main
    id: 0123456789abcdef0123456789abcdef
    api_token: {env: CF_API_TOKEN}
sinks:
  files:
    file:
      dir: %s
tokens:
  - name: dns-edit
    account: main
    targets:
      - sink: files
        path: dns-edit
`

// TestConfigurationDocLimits checks the limits that docs/CONFIGURATION.md
// states against the loader: port 0 in listen, @every down to 10s, and a
// file sink directory that the loader does not look at.
func TestConfigurationDocLimits(t *testing.T) {
	doc := string(readFile(t, "docs/CONFIGURATION.md"))
	for _, statement := range []string{
		"port 0 picks a free port, and the daemon logs the address it got",
		"`@every DURATION` with the duration syntax above, at least `10s`",
		"tokenrotator does not create `dir`",
	} {
		if !strings.Contains(doc, statement) {
			t.Errorf("docs/CONFIGURATION.md does not say %q", statement)
		}
	}

	cases := []struct {
		schedule, listen string
		valid            bool
	}{
		{"*/15 * * * *", "127.0.0.1:0", true},
		{"@every 10s", "127.0.0.1:9464", true},
		{"@every 9s", "127.0.0.1:9464", false},
		{"*/15 * * * *", "127.0.0.1:65536", false},
	}
	missingDir := filepath.Join(t.TempDir(), "missing")
	for _, c := range cases {
		policy := fmt.Sprintf(minimalPolicy, c.schedule, c.listen, missingDir)
		_, err := config.Load("policy.yaml", []byte(policy))
		if c.valid && err != nil {
			t.Errorf("schedule %q, listen %s: rejected, but the doc allows it:\n%v",
				c.schedule, c.listen, err)
		}
		if !c.valid && err == nil {
			t.Errorf("schedule %q, listen %s: accepted, but the doc forbids it",
				c.schedule, c.listen)
		}
	}
}
