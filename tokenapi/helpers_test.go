package tokenapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

const (
	testAccountID = "0123456789abcdef0123456789abcdef"
	testTokenID   = "fedcba9876543210fedcba9876543210"
	// mgmtSentinel and valueSentinel must never appear in any output.
	mgmtSentinel  = "cfat_MGMTsentinelMGMTsentinelMGMTsentinel0123456789"
	valueSentinel = "cfat_VALUEsentinelVALUEsentinelVALUEsentinel98765"
)

// fakeClock advances only when the client sleeps, and records each wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now().Truncate(time.Second)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return ctx.Err()
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// server is an httptest server on 127.0.0.1 that counts requests.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

func startServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// newClient returns a client for baseURL with a fake clock and no jitter.
func newClient(t *testing.T, baseURL string, clock *fakeClock,
	modify ...func(*tokenapi.Options)) *tokenapi.Client {
	t.Helper()
	opts := tokenapi.Options{
		BaseURL:         baseURL,
		AccountID:       testAccountID,
		ManagementToken: tokenapi.NewSecret(mgmtSentinel),
		Now:             clock.Now,
		Sleep:           clock.Sleep,
		Jitter:          func(time.Duration) time.Duration { return 0 },
	}
	for _, m := range modify {
		m(&opts)
	}
	client, err := tokenapi.NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return client
}

// writeJSON writes body with status and a JSON content type.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// dropConnection closes the connection without a reply.
func dropConnection(t *testing.T, w http.ResponseWriter) {
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		t.Error("response writer cannot hijack")
		return
	}
	conn, _, err := hijacker.Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}
