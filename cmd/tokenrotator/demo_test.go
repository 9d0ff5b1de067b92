package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// watchWriter collects output and signals when a line containing want has
// been written.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestDemoRotatesAndServesMetrics(t *testing.T) {
	stdout := &watchWriter{want: "Press Ctrl-C to stop", seen: make(chan struct{})}
	stderr := &watchWriter{want: `"msg":"sweep finished"`, seen: make(chan struct{})}
	env := &environment{
		stdout: stdout, stderr: stderr, getenv: func(string) string { return "" },
		isTerminal: func(io.Writer) bool { return false }, now: time.Now,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0"}, env) }()

	for _, w := range []*watchWriter{stdout, stderr} {
		select {
		case <-w.seen:
		case code := <-done:
			t.Fatalf("demo exited with %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		case <-time.After(time.Minute):
			t.Fatalf("demo printed no %q within a minute\nstdout:\n%s\nstderr:\n%s", w.want, stdout, stderr)
		}
	}

	logs := stderr.String()
	for _, token := range []string{"dns-edit", "cache-purge"} {
		if !strings.Contains(logs, `"msg":"rotation finished","account":"demo","token":"`+token) {
			t.Errorf("the start-up sweep did not rotate %s:\n%s", token, logs)
		}
	}
	match := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/metrics`).FindStringSubmatch(stdout.String())
	if match == nil {
		t.Fatalf("banner names no metrics address:\n%s", stdout)
	}
	resp, err := http.Get("http://" + match[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tokenrotator_token_expiry_timestamp_seconds{account="demo",token="dns-edit"`,
		`tokenrotator_token_decision{account="demo",decision="idle_report",token="analytics-read"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	dir := regexp.MustCompile(`journal\s+(\S+)/state`).FindStringSubmatch(stdout.String())

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("demo exit code after Ctrl-C = %d, want 0", code)
	}
	if dir == nil {
		t.Fatal("banner names no directory")
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("demo left its directory %s behind (stat err %v)", dir[1], err)
	}
}
