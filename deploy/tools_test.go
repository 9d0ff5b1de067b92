package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// lookTool returns the path of an external tool. It skips the test when the
// tool is missing, unless CI is set, where a missing tool fails the test.
func lookTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found and CI is set: install the Debian package %s: %v",
			name, debianPackage, err)
	}
	t.Skipf("%s not found (Debian package %s), so this check does not run: %v",
		name, debianPackage, err)
	return ""
}

// run runs a command in dir and returns its combined output. It fails the
// test when the command exits non-zero.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s failed: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// repoRoot returns the repository root, the parent of this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the path of this test file")
	}
	return filepath.Dir(filepath.Dir(file))
}

// readFile returns the content of a file under the repository root.
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
