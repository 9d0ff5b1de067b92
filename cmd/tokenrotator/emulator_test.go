package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer that a command and a test may use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningEmulator is an emulator command running in the background.
type runningEmulator struct {
	fields map[string]string // the printed "key: value" lines
	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan int
}

// startEmulatorCommand runs "tokenrotator emulator" with args and returns
// once it has printed its four lines of credentials.
func startEmulatorCommand(t *testing.T, args ...string) *runningEmulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdoutReader, stdoutWriter := io.Pipe()
	stderr := &lockedBuffer{}
	env := &environment{
		stdout:     stdoutWriter,
		stderr:     stderr,
		getenv:     func(string) string { return "" },
		isTerminal: func(io.Writer) bool { return false },
	}
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"emulator"}, args...), env)
		stdoutWriter.Close()
		done <- code
	}()

	fields := map[string]string{}
	scanner := bufio.NewScanner(stdoutReader)
	for len(fields) < 4 && scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if ok {
			fields[key] = strings.TrimSpace(value)
		}
	}
	// Keep draining stdout so the command never blocks on a write.
	go func() { _, _ = io.Copy(io.Discard, stdoutReader) }()
	if len(fields) < 4 {
		cancel()
		t.Fatalf("emulator printed %v before it stopped; stderr:\n%s", fields, stderr)
	}
	em := &runningEmulator{fields: fields, stderr: stderr, cancel: cancel, done: done}
	t.Cleanup(func() { em.stop(t) })
	return em
}

// stop cancels the command and returns its exit code.
func (em *runningEmulator) stop(t *testing.T) int {
	t.Helper()
	em.cancel()
	code, ok := <-em.done
	if !ok {
		return exitOK
	}
	close(em.done)
	return code
}

// call sends one request and decodes the envelope.
func (em *runningEmulator) call(t *testing.T, method, path, bearer, body string) (int, envelopeReply) {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, em.fields["base URL"]+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env envelopeReply
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s %s: decode reply: %v", method, path, err)
	}
	return resp.StatusCode, env
}

type envelopeReply struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code int `json:"code"`
	} `json:"errors"`
	Result     json.RawMessage `json:"result"`
	ResultInfo struct {
		TotalCount int `json:"total_count"`
	} `json:"result_info"`
}

func TestEmulatorCommandWalkThrough(t *testing.T) {
	em := startEmulatorCommand(t, "--listen", "127.0.0.1:0")
	base := em.fields["base URL"]
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0/client/v4") {
		t.Fatalf("base URL = %q, want the real loopback port", base)
	}
	mgmt := em.fields["management token"]
	tokens := "/accounts/" + em.fields["account id"] + "/tokens"

	body := `{"name":"walk-through","policies":[{"effect":"allow",` +
		`"permission_groups":[{"id":"82e64a83756745bbbb1c9c2701bf816b"}],` +
		`"resources":{"com.cloudflare.api.account.` + em.fields["account id"] + `":"*"}}]}`
	status, created := em.call(t, http.MethodPost, tokens, mgmt, body)
	if status != http.StatusOK || !created.Success {
		t.Fatalf("create: status %d success %v", status, created.Success)
	}
	var tok struct {
		ID    string `json:"id"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(created.Result, &tok); err != nil {
		t.Fatal(err)
	}

	status, listed := em.call(t, http.MethodGet, tokens, mgmt, "")
	if status != http.StatusOK || listed.ResultInfo.TotalCount != 2 {
		t.Errorf("list: status %d total_count %d, want 200 and 2", status, listed.ResultInfo.TotalCount)
	}

	status, rolled := em.call(t, http.MethodPut, tokens+"/"+tok.ID+"/value", mgmt, "{}")
	if status != http.StatusOK {
		t.Fatalf("roll: status %d", status)
	}
	var newValue string
	if err := json.Unmarshal(rolled.Result, &newValue); err != nil || newValue == "" {
		t.Fatalf("roll result %s is not a value: %v", rolled.Result, err)
	}

	if status, _ := em.call(t, http.MethodGet, tokens+"/verify", newValue, ""); status != http.StatusOK {
		t.Errorf("verify with the new value: status %d, want 200", status)
	}
	status, old := em.call(t, http.MethodGet, tokens+"/verify", tok.Value, "")
	if status != http.StatusUnauthorized || len(old.Errors) == 0 || old.Errors[0].Code != 1000 {
		t.Errorf("verify with the old value: status %d errors %+v, want 401 code 1000",
			status, old.Errors)
	}

	if status, _ := em.call(t, http.MethodDelete, tokens+"/"+tok.ID, mgmt, ""); status != http.StatusOK {
		t.Errorf("delete: status %d, want 200", status)
	}
	if status, _ := em.call(t, http.MethodGet, tokens+"/verify", newValue, ""); status != http.StatusUnauthorized {
		t.Errorf("verify after delete: status %d, want 401", status)
	}

	if code := em.stop(t); code != exitOK {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", code, exitOK, em.stderr)
	}
}

func TestEmulatorCommandLoadsSeed(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.yaml")
	data := "accounts:\n  - id: 0123456789abcdef0123456789abcdef\n    tokens:\n" +
		"      - name: ci\n        value: seeded-value-0123456789abcdefghijklmnopqrstu\n" +
		"        policies:\n          - permission_groups: [{name: Zone Read}]\n"
	if err := os.WriteFile(seed, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	em := startEmulatorCommand(t, "--listen", "127.0.0.1:0", "--seed", seed)
	if got := em.fields["account id"]; got != "0123456789abcdef0123456789abcdef" {
		t.Errorf("account id = %q, want the seeded account", got)
	}
	status, _ := em.call(t, http.MethodGet,
		"/accounts/0123456789abcdef0123456789abcdef/tokens/verify",
		"seeded-value-0123456789abcdefghijklmnopqrstu", "")
	if status != http.StatusOK {
		t.Errorf("verify with the seeded value: status %d, want 200", status)
	}
}

func TestEmulatorCommandRejectsRemoteListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8787", "[::]:0"} {
		code, _, stderr := runCLI(t, "emulator", "--listen", addr)
		if code != exitUsage {
			t.Errorf("%s: exit code = %d, want %d", addr, code, exitUsage)
		}
		if !strings.Contains(stderr, "--allow-remote") {
			t.Errorf("%s: stderr does not name --allow-remote:\n%s", addr, stderr)
		}
	}
}

func TestEmulatorCommandRejectsBadSeed(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(seed, []byte("acounts: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "emulator", "--listen", "127.0.0.1:0", "--seed", seed)
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "acounts") {
		t.Errorf("stderr does not name the unknown field:\n%s", stderr)
	}
}
