package tokenapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// pagedServer serves n tokens, honouring page and per_page, and records
// the query of each request. withTotal controls whether result_info has
// total_count.
type pagedServer struct {
	mu      sync.Mutex
	queries []string
}

func (p *pagedServer) handler(t *testing.T, n int, withTotal bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		p.queries = append(p.queries, r.URL.RawQuery)
		p.mu.Unlock()

		page, _ := strconv.Atoi(q.Get("page"))
		perPage, _ := strconv.Atoi(q.Get("per_page"))
		if perPage < 5 || perPage > 50 || page < 1 {
			writeJSON(w, 400, `{"success":false,"errors":[{"code":1002,
				"message":"invalid paging"}],"result":null}`)
			return
		}

		var entries []string
		for i := (page-1)*perPage + 1; i <= min(page*perPage, n); i++ {
			id := fmt.Sprintf("%032x", i)
			entries = append(entries, strings.Replace(tokenJSON(id, ""),
				`"name":"dns"`, fmt.Sprintf(`"name":"token-%d"`, i), 1))
		}
		info := fmt.Sprintf(`{"page":%d,"per_page":%d,"count":%d}`, page, perPage, len(entries))
		if withTotal {
			info = fmt.Sprintf(`{"page":%d,"per_page":%d,"count":%d,"total_count":%d}`,
				page, perPage, len(entries), n)
		}
		writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":[`+
			strings.Join(entries, ",")+`],"result_info":`+info+`}`)
	}
}

func TestListReadsEveryPage(t *testing.T) {
	tests := []struct {
		name         string
		withTotal    bool
		perPage      int
		wantRequests int
	}{
		{"stops at total_count", true, 0, 2},
		{"stops at empty page", false, 0, 3},
		{"per_page above 50 is capped", true, 100, 2},
		{"per_page below 5 is raised", true, 1, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paged := &pagedServer{}
			srv := startServer(t, paged.handler(t, 57, tt.withTotal))
			client := newClient(t, srv.URL, newFakeClock())

			var names []string
			opts := tokenapi.ListOptions{PerPage: tt.perPage, IncludeExpired: true}
			for token, err := range client.List(context.Background(), opts) {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				names = append(names, token.Name)
			}

			if len(names) != 57 {
				t.Errorf("List returned %d tokens, want 57", len(names))
			}
			if len(names) >= 53 && names[52] != "token-53" {
				t.Errorf("53rd token = %q, want token-53", names[52])
			}
			if len(paged.queries) != tt.wantRequests {
				t.Errorf("server got %d requests, want %d: %v",
					len(paged.queries), tt.wantRequests, paged.queries)
			}
			for _, q := range paged.queries {
				if !strings.Contains(q, "include_expired=true") {
					t.Errorf("query %q lacks include_expired=true", q)
				}
			}
		})
	}
}

func TestListStopsWhenCallerBreaks(t *testing.T) {
	paged := &pagedServer{}
	srv := startServer(t, paged.handler(t, 57, true))
	client := newClient(t, srv.URL, newFakeClock())

	var found string
	for token, err := range client.List(context.Background(), tokenapi.ListOptions{}) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if token.Name == "token-53" {
			found = token.ID
			break
		}
	}
	if found != fmt.Sprintf("%032x", 53) {
		t.Errorf("found id %q, want the 53rd", found)
	}
	if len(paged.queries) != 2 {
		t.Errorf("server got %d requests, want 2", len(paged.queries))
	}
}

func TestListYieldsRequestError(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			writeJSON(w, 403, `{"success":false,"errors":[{"code":10000,
				"message":"Authentication error"}],"result":null}`)
			return
		}
		writeJSON(w, 200, `{"success":true,"result":[`+tokenJSON(testTokenID, "")+`]}`)
	})
	client := newClient(t, srv.URL, newFakeClock())

	var tokens, errs int
	for _, err := range client.List(context.Background(), tokenapi.ListOptions{}) {
		if err != nil {
			errs++
			if !tokenapi.IsForbidden(err) {
				t.Errorf("IsForbidden = false for %v", err)
			}
			continue
		}
		tokens++
	}
	if tokens != 1 || errs != 1 {
		t.Errorf("List yielded %d tokens and %d errors, want 1 and 1", tokens, errs)
	}
}

func TestListPageRejectsBadInput(t *testing.T) {
	client := newClient(t, "http://127.0.0.1:1/client/v4", newFakeClock())
	if _, err := client.ListPage(context.Background(), tokenapi.ListOptions{}, 0); err == nil {
		t.Error("ListPage accepted page 0")
	}
	opts := tokenapi.ListOptions{Direction: "sideways"}
	if _, err := client.ListPage(context.Background(), opts, 1); err == nil {
		t.Error("ListPage accepted direction sideways")
	}
}

func TestPacerSharedBetweenClients(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"success":true,"result":{"id":"`+testTokenID+`","status":"active"}}`)
	})
	clock := newFakeClock()
	// 10 requests per 10s: a burst of 1, then 9 per 10s refill.
	pacer := tokenapi.NewPacer(10, 10*time.Second)
	usePacer := func(o *tokenapi.Options) { o.Pacer = pacer }
	first := newClient(t, srv.URL, clock, usePacer)
	second := newClient(t, srv.URL, clock, usePacer)

	for i, client := range []*tokenapi.Client{first, second, first} {
		if _, err := client.Verify(context.Background()); err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
	}

	sleeps := clock.Sleeps()
	if len(sleeps) != 2 {
		t.Fatalf("sleeps = %v, want 2 waits", sleeps)
	}
	perRequest := 10 * time.Second / 9
	for _, s := range sleeps {
		if s < perRequest-time.Millisecond || s > perRequest+time.Millisecond {
			t.Errorf("wait %s, want about %s", s, perRequest)
		}
	}
}

func TestPacerRespectsDeadline(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"success":true,"result":{"id":"`+testTokenID+`","status":"active"}}`)
	})
	clock := newFakeClock()
	client := newClient(t, srv.URL, clock, func(o *tokenapi.Options) {
		o.Pacer = tokenapi.NewPacer(2, time.Hour)
	})
	ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(time.Minute))
	defer cancel()

	if _, err := client.Verify(ctx); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	_, err := client.Verify(ctx)
	if err == nil || !strings.Contains(err.Error(), "context deadline") {
		t.Errorf("second Verify = %v, want an error naming the deadline", err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("server got %d requests, want 1", got)
	}
	if len(clock.Sleeps()) != 0 {
		t.Errorf("client slept %v past the deadline", clock.Sleeps())
	}
}

func TestPacerPoolSharesByToken(t *testing.T) {
	var pool tokenapi.PacerPool
	a := pool.For(tokenapi.NewSecret(mgmtSentinel))
	b := pool.For(tokenapi.NewSecret(mgmtSentinel))
	c := pool.For(tokenapi.NewSecret(valueSentinel))
	if a != b {
		t.Error("the same token got two pacers")
	}
	if a == c {
		t.Error("two tokens share one pacer")
	}
}

func TestNewClientValidates(t *testing.T) {
	good := tokenapi.Options{
		BaseURL:         "http://127.0.0.1:1/client/v4",
		AccountID:       testAccountID,
		ManagementToken: tokenapi.NewSecret(mgmtSentinel),
	}
	tests := []struct {
		name   string
		modify func(o *tokenapi.Options)
		want   string
	}{
		{"upper case account", func(o *tokenapi.Options) {
			o.AccountID = strings.ToUpper(testAccountID)
		}, "invalid account id"},
		{"short account", func(o *tokenapi.Options) { o.AccountID = "abc" }, "invalid account id"},
		{"no token", func(o *tokenapi.Options) { o.ManagementToken = tokenapi.Secret{} },
			"missing management token"},
		{"bad scheme", func(o *tokenapi.Options) { o.BaseURL = "ftp://127.0.0.1/" },
			"invalid base URL"},
		{"query", func(o *tokenapi.Options) { o.BaseURL = "http://127.0.0.1/?a=b" },
			"invalid base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			tt.modify(&opts)
			_, err := tokenapi.NewClient(opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewClient() = %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), mgmtSentinel) {
				t.Errorf("error contains the management token: %v", err)
			}
		})
	}
	if _, err := tokenapi.NewClient(good); err != nil {
		t.Errorf("NewClient(valid) = %v", err)
	}
}

func TestTokenIDValidated(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"success":true,"result":{}}`)
	})
	client := newClient(t, srv.URL, newFakeClock())
	for _, id := range []string{"", "../verify", strings.ToUpper(testTokenID)} {
		if _, err := client.Get(context.Background(), id); err == nil {
			t.Errorf("Get(%q) accepted an invalid id", id)
		}
		if _, err := client.Roll(context.Background(), id); err == nil {
			t.Errorf("Roll(%q) accepted an invalid id", id)
		}
	}
	if got := srv.hits.Load(); got != 0 {
		t.Errorf("server got %d requests for invalid ids, want 0", got)
	}
}
