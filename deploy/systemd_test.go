package deploy

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenrotator/tokenrotator/internal/config"
)

// buildFlags are the go build flags of the Dockerfile. TestDockerfile checks
// that the Dockerfile uses exactly these.
const (
	buildTags     = "-tags timetzdata"
	ldflagsPrefix = "-s -w -X main.version="
	buildLDFlags  = `-ldflags "` + ldflagsPrefix + `${VERSION}"`
)

var units = []string{"tokenrotator.service", "tokenrotator-once.service", "tokenrotator.timer"}

// buildBinary builds tokenrotator with the Dockerfile's flags into dir and
// returns its path.
func buildBinary(t *testing.T, dir, version string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found: %v", err)
	}
	binary := filepath.Join(dir, "tokenrotator")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-trimpath", "-tags", "timetzdata",
		"-ldflags", ldflagsPrefix+version, "-o", binary, "./cmd/tokenrotator")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build failed: %v\n%s", err, out)
	}
	return binary
}

// copyUnits writes the units into dir with ExecStart pointing at binary,
// because systemd-analyze verify checks that the program exists.
func copyUnits(t *testing.T, dir, binary string) {
	t.Helper()
	for _, unit := range units {
		text := strings.ReplaceAll(string(readFile(t, "deploy/systemd/"+unit)),
			"/usr/local/bin/tokenrotator", binary)
		if err := os.WriteFile(filepath.Join(dir, unit), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// unitSettings returns the settings of one section of a unit file in
// deploy/systemd, each key with its values in file order.
func unitSettings(t *testing.T, unit, section string) map[string][]string {
	t.Helper()
	settings := map[string][]string{}
	current := ""
	for _, line := range strings.Split(string(readFile(t, "deploy/systemd/"+unit)), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			current = strings.Trim(line, "[]")
		case current == section:
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is not KEY=VALUE", unit, line)
			}
			settings[key] = append(settings[key], value)
		}
	}
	return settings
}

// onlyValue returns the one value of key, failing the test when the key is
// missing or repeated.
func onlyValue(t *testing.T, unit string, settings map[string][]string, key string) string {
	t.Helper()
	values := settings[key]
	if len(values) != 1 {
		t.Errorf("%s: %s= is set %d times, want once", unit, key, len(values))
		return ""
	}
	return values[0]
}

func TestSystemdUnitsHaveNoTODO(t *testing.T) {
	for _, unit := range units {
		if text := string(readFile(t, "deploy/systemd/"+unit)); strings.Contains(text, "TODO") {
			t.Errorf("%s still has a TODO", unit)
		}
	}
}

func TestSystemdServiceReloads(t *testing.T) {
	const unit = "tokenrotator.service"
	service := unitSettings(t, unit, "Service")

	if got := onlyValue(t, unit, service, "ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("%s: ExecReload=%s, want /bin/kill -HUP $MAINPID: run reloads the policy "+
			"on SIGHUP", unit, got)
	}
	if got := onlyValue(t, unit, service, "Type"); got != "notify" {
		t.Errorf("%s: Type=%s, want notify: run sends READY=1 and RELOADING=1", unit, got)
	}
}

// createdDirectories returns the directories that systemd creates writable
// for a unit: those of RuntimeDirectory= below /run and StateDirectory=
// below /var/lib.
func createdDirectories(service map[string][]string) []string {
	var dirs []string
	for key, root := range map[string]string{"RuntimeDirectory": "/run", "StateDirectory": "/var/lib"} {
		for _, value := range service[key] {
			for _, name := range strings.Fields(value) {
				dirs = append(dirs, path.Join(root, name))
			}
		}
	}
	return dirs
}

// TestSystemdFileSinkDirectories checks that both services create every file
// sink directory of config.example.yaml, writable under ProtectSystem=strict
// and kept after the service stops. The file sink does not create its
// directory.
func TestSystemdFileSinkDirectories(t *testing.T) {
	cfg, err := config.Load("config.example.yaml", readFile(t, "config.example.yaml"))
	if err != nil {
		t.Fatalf("config.example.yaml does not load:\n%v", err)
	}
	var sinkDirs []string
	for _, sink := range cfg.Sinks {
		if sink.File != nil {
			sinkDirs = append(sinkDirs, sink.File.Dir)
		}
	}
	if len(sinkDirs) == 0 {
		t.Fatal("config.example.yaml has no file sink to check")
	}

	for _, unit := range []string{"tokenrotator.service", "tokenrotator-once.service"} {
		service := unitSettings(t, unit, "Service")
		if got := onlyValue(t, unit, service, "ProtectSystem"); got != "strict" {
			t.Errorf("%s: ProtectSystem=%s, want strict", unit, got)
		}
		if got := onlyValue(t, unit, service, "RuntimeDirectoryPreserve"); got != "yes" {
			t.Errorf("%s: RuntimeDirectoryPreserve=%s, want yes, so the files outlive "+
				"the service", unit, got)
		}
		if got := onlyValue(t, unit, service, "RuntimeDirectoryMode"); got != "0700" {
			t.Errorf("%s: RuntimeDirectoryMode=%s, want 0700", unit, got)
		}
		if got := onlyValue(t, unit, service, "User"); got != "tokenrotator" {
			t.Errorf("%s: User=%s, want tokenrotator, so both units own the same files", unit, got)
		}
		created := createdDirectories(service)
		for _, dir := range sinkDirs {
			if !slices.Contains(created, dir) {
				t.Errorf("%s does not create the file sink directory %s of "+
					"config.example.yaml (it creates %v)", unit, dir, created)
			}
		}
	}
}

// TestSystemdUnitsShareStateDirectory checks that the daemon and the timer's
// one-shot run use the journal in the same state directory, the one systemd
// creates, whatever state_dir the policy sets.
func TestSystemdUnitsShareStateDirectory(t *testing.T) {
	const stateFlag = "--state-dir ${STATE_DIRECTORY}"

	for unit, command := range map[string]string{"tokenrotator.service": "run",
		"tokenrotator-once.service": "once"} {
		service := unitSettings(t, unit, "Service")
		execStart := strings.Fields(onlyValue(t, unit, service, "ExecStart"))
		if len(execStart) < 2 || execStart[1] != command {
			t.Errorf("%s: ExecStart=%s, want the %s command", unit, execStart, command)
		}
		if !strings.Contains(strings.Join(execStart, " "), stateFlag) {
			t.Errorf("%s: ExecStart=%s lacks %s", unit, execStart, stateFlag)
		}
		if got := onlyValue(t, unit, service, "StateDirectory"); got != "tokenrotator" {
			t.Errorf("%s: StateDirectory=%s, want tokenrotator", unit, got)
		}
	}
}

func TestBinaryVersion(t *testing.T) {
	dir := t.TempDir()
	binary := buildBinary(t, dir, "v9.8.7-deploy")

	out := run(t, dir, binary, "version")

	if !strings.Contains(out, "v9.8.7-deploy") {
		t.Errorf("version output lacks the stamped version: %q", out)
	}
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := lookTool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	binary := buildBinary(t, dir, "v0.0.0-verify")
	copyUnits(t, dir, binary)

	args := []string{"verify"}
	for _, unit := range units {
		args = append(args, filepath.Join(dir, unit))
	}
	out := run(t, dir, analyze, args...)

	// verify exits 0 on unknown keys and only prints a warning, so any line
	// about our units is a failure.
	for _, line := range strings.Split(out, "\n") {
		for _, unit := range units {
			if strings.Contains(line, unit) {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	}
}

var exposurePattern = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)

// TestSystemdSecurityScore runs systemd-analyze security on the units and
// checks that docs/DEPLOYMENT.md records the same exposure score.
func TestSystemdSecurityScore(t *testing.T) {
	analyze := lookTool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	binary := buildBinary(t, dir, "v0.0.0-security")
	copyUnits(t, dir, binary)
	docs := string(readFile(t, "docs/DEPLOYMENT.md"))

	for _, unit := range []string{"tokenrotator.service", "tokenrotator-once.service"} {
		cmd := exec.CommandContext(t.Context(), analyze, "security", "--offline=true",
			"--no-pager", filepath.Join(dir, unit))
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), "unrecognized option") {
			t.Skipf("systemd-analyze does not support --offline: %s", out)
		}
		match := exposurePattern.FindStringSubmatch(string(out))
		if match == nil {
			t.Fatalf("no exposure level for %s (err %v):\n%s", unit, err, out)
		}
		score, err := strconv.ParseFloat(match[2], 64)
		if err != nil {
			t.Fatal(err)
		}

		if score > 2.0 {
			t.Errorf("%s: exposure level %.1f, want at most 2.0", unit, score)
		}
		recorded := unit + "` scores " + match[2]
		if !strings.Contains(docs, recorded) {
			t.Errorf("docs/DEPLOYMENT.md does not record %q", recorded)
		}
	}
}

func TestDockerfile(t *testing.T) {
	text := string(readFile(t, "Dockerfile"))
	lines := strings.Split(text, "\n")

	for _, want := range []string{
		"CGO_ENABLED=0 go build -trimpath " + buildTags,
		buildLDFlags,
		`VOLUME ["/var/lib/tokenrotator"]`,
		`ENTRYPOINT ["/usr/local/bin/tokenrotator"]`,
		`CMD ["run", "--config", "/etc/tokenrotator/config.yaml"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}

	var from, user string
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			from = fields[1]
		case "USER":
			user = fields[1]
		case "HEALTHCHECK":
			t.Error("Dockerfile has a HEALTHCHECK; orchestrators probe /healthz instead")
		}
	}
	if !strings.HasPrefix(from, "gcr.io/distroless/static") || !strings.HasSuffix(from, ":nonroot") {
		t.Errorf("final stage FROM %s, want a distroless static nonroot base", from)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %q, want a non-root user", user)
	}
}

func TestDockerignoreKeepsSources(t *testing.T) {
	text := string(readFile(t, ".dockerignore"))

	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch line {
		case "*", "*.go", "go.mod", "go.sum", "cmd", "internal", "tokenapi", "rotator", "sinks":
			t.Errorf(".dockerignore excludes %q, which the build needs", line)
		}
	}
	if !strings.Contains(text, ".git") {
		t.Error(".dockerignore does not exclude .git")
	}
}
