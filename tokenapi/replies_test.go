package tokenapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

const htmlBadGateway = `<html>
<head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body>
</html>`

const invalidTokenBody = `{"success": false, "errors": [{"code": 1000,
"message": "Invalid API Token"}], "messages": [], "result": null}`

const notFoundBody = `{"success": false, "errors": [{"code": 7003,
"message": "Could not route to /accounts/x/tokens/y, perhaps your object identifier is invalid?"}],
"messages": [], "result": null}`

// operation runs one client call and returns its error.
type operation func(ctx context.Context, c *tokenapi.Client) error

func getOp(ctx context.Context, c *tokenapi.Client) error {
	_, err := c.Get(ctx, testTokenID)
	return err
}

func rollOp(ctx context.Context, c *tokenapi.Client) error {
	_, err := c.Roll(ctx, testTokenID)
	return err
}

func createOp(ctx context.Context, c *tokenapi.Client) error {
	_, err := c.Create(ctx, sampleDefinition())
	return err
}

func deleteOp(ctx context.Context, c *tokenapi.Client) error {
	return c.Delete(ctx, testTokenID)
}

func updateOp(ctx context.Context, c *tokenapi.Client) error {
	_, err := c.Update(ctx, testTokenID, sampleDefinition())
	return err
}

func sampleDefinition() tokenapi.Definition {
	return tokenapi.Definition{
		Name: "dns-edit",
		Policies: []tokenapi.Policy{{
			Effect:           tokenapi.EffectAllow,
			PermissionGroups: []tokenapi.PermissionGroup{{ID: "c8fed203ed3043cba015a93ad1616f1f"}},
			Resources: tokenapi.Resources{
				"com.cloudflare.api.account." + testAccountID: tokenapi.Wildcard(),
			},
		}},
	}
}

func TestMalformedReplies(t *testing.T) {
	tests := []struct {
		name    string
		handler func(t *testing.T, w http.ResponseWriter, r *http.Request)
		op      operation
		// wantStatus is the HTTP status of the *APIError, or 0 for none.
		wantStatus   int
		wantCodes    []int
		wantProblem  string
		wantSnippet  string
		wantAttempts int32
		wantUnknown  bool
		wantNotFound bool
	}{
		{
			name: "429 without Retry-After on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 429, `{"success":false,"errors":[{"code":971,
					"message":"Please wait and consider throttling your request speed"}],
					"messages":[],"result":null}`)
			},
			op:           getOp,
			wantStatus:   429,
			wantCodes:    []int{971},
			wantAttempts: 4,
		},
		{
			name: "502 HTML on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				_, _ = io.WriteString(w, htmlBadGateway)
			},
			op:           getOp,
			wantStatus:   502,
			wantProblem:  "body is not JSON (Content-Type text/html)",
			wantSnippet:  "502 Bad Gateway",
			wantAttempts: 4,
		},
		{
			name: "502 HTML on roll",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				_, _ = io.WriteString(w, htmlBadGateway)
			},
			op:           rollOp,
			wantStatus:   502,
			wantProblem:  "body is not JSON (Content-Type text/html)",
			wantSnippet:  "502 Bad Gateway",
			wantAttempts: 1,
			wantUnknown:  true,
		},
		{
			name: "503 envelope on create",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 503, `{"success":false,"errors":[{"code":10001,
					"message":"service unavailable"}],"messages":[],"result":null}`)
			},
			op:           createOp,
			wantStatus:   503,
			wantCodes:    []int{10001},
			wantAttempts: 1,
			wantUnknown:  true,
		},
		{
			name: "503 on delete",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 503, `{"success":false,"errors":[{"code":10001,
					"message":"service unavailable"}],"messages":[],"result":null}`)
			},
			op:           deleteOp,
			wantStatus:   503,
			wantCodes:    []int{10001},
			wantAttempts: 4,
		},
		{
			name: "200 with success false on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, invalidTokenBody)
			},
			op:           getOp,
			wantStatus:   200,
			wantCodes:    []int{1000},
			wantAttempts: 1,
		},
		{
			name: "200 with success false on roll",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, invalidTokenBody)
			},
			op:           rollOp,
			wantStatus:   200,
			wantCodes:    []int{1000},
			wantAttempts: 1,
		},
		{
			name: "401 on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 401, invalidTokenBody)
			},
			op:           getOp,
			wantStatus:   401,
			wantCodes:    []int{1000},
			wantAttempts: 1,
		},
		{
			name: "body larger than limit on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":{"name":"`+
					strings.Repeat("x ", 2048)+`"}}`)
			},
			op:           getOp,
			wantStatus:   200,
			wantProblem:  "body larger than the 1024-byte limit",
			wantAttempts: 1,
		},
		{
			name: "body larger than limit on roll",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"success":true,"result":"`+strings.Repeat("x", 2048)+`"}`)
			},
			op:           rollOp,
			wantStatus:   200,
			wantProblem:  "body larger than the 1024-byte limit",
			wantAttempts: 1,
			wantUnknown:  true,
		},
		{
			name: "invalid JSON on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"success": true, "result": {`)
			},
			op:           getOp,
			wantStatus:   200,
			wantProblem:  "body is not JSON (Content-Type application/json)",
			wantAttempts: 1,
		},
		{
			name: "invalid JSON on create",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"success": true, "result": {`)
			},
			op:           createOp,
			wantStatus:   200,
			wantProblem:  "body is not JSON (Content-Type application/json)",
			wantAttempts: 1,
			wantUnknown:  true,
		},
		{
			name: "JSON without success field",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 404, `{"message": "not here"}`)
			},
			op:           getOp,
			wantStatus:   404,
			wantProblem:  "body is JSON but not a Cloudflare envelope: no success field",
			wantAttempts: 1,
		},
		{
			name: "404 HTML on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(404)
				_, _ = io.WriteString(w, "<html><body>Not Found</body></html>")
			},
			op:           getOp,
			wantStatus:   404,
			wantProblem:  "body is not JSON (Content-Type text/html)",
			wantAttempts: 1,
		},
		{
			name: "404 envelope on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 404, notFoundBody)
			},
			op:           getOp,
			wantStatus:   404,
			wantCodes:    []int{7003},
			wantAttempts: 1,
			wantNotFound: true,
		},
		{
			name: "404 envelope on delete",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 404, notFoundBody)
			},
			op:           deleteOp,
			wantStatus:   404,
			wantCodes:    []int{7003},
			wantAttempts: 1,
			wantNotFound: true,
		},
		{
			name: "400 with error chain on create",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 400, `{"success":false,"errors":[{"code":6003,
					"message":"Invalid request headers","error_chain":[{"code":6111,
					"message":"Invalid format for Authorization header"}]}],
					"messages":[],"result":null}`)
			},
			op:           createOp,
			wantStatus:   400,
			wantCodes:    []int{6003, 6111},
			wantAttempts: 1,
		},
		{
			name: "429 on roll",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "5")
				writeJSON(w, 429, `{"success":false,"errors":[{"code":10100,
					"message":"More than 1200 requests per 300 seconds"}],"result":null}`)
			},
			op:         rollOp,
			wantStatus: 429,
			wantCodes:  []int{10100},
			// A 429 refuses the request before it is handled, so even a
			// roll is sent again after the wait, up to the attempt limit.
			wantAttempts: 4,
		},
		{
			name: "dropped connection on roll",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				dropConnection(t, w)
			},
			op:           rollOp,
			wantAttempts: 1,
			wantUnknown:  true,
		},
		{
			name: "dropped connection on create",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				dropConnection(t, w)
			},
			op:           createOp,
			wantAttempts: 1,
			wantUnknown:  true,
		},
		{
			name: "dropped connection on GET",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				dropConnection(t, w)
			},
			op:           getOp,
			wantAttempts: 4,
		},
		{
			name: "dropped connection on update",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				dropConnection(t, w)
			},
			op:           updateOp,
			wantAttempts: 4,
		},
		{
			name: "roll result not a string",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}`)
			},
			op:           rollOp,
			wantAttempts: 1,
			wantUnknown:  true,
		},
		{
			name: "create result without value",
			handler: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":{"id":"`+
					testTokenID+`","name":"dns-edit","status":"active"}}`)
			},
			op:           createOp,
			wantAttempts: 1,
			wantUnknown:  true,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
				tt.handler(t, w, r)
			})
			clock := newFakeClock()
			client := newClient(t, srv.URL, clock, func(o *tokenapi.Options) {
				o.MaxBodyBytes = 1024
			})

			err := tt.op(context.Background(), client)
			if err == nil {
				t.Fatal("expected an error, got nil")
			}

			if got := srv.hits.Load(); got != tt.wantAttempts {
				t.Errorf("server got %d requests, want %d", got, tt.wantAttempts)
			}
			if got := errors.Is(err, tokenapi.ErrOutcomeUnknown); got != tt.wantUnknown {
				t.Errorf("errors.Is(err, ErrOutcomeUnknown) = %v, want %v; err: %v",
					got, tt.wantUnknown, err)
			}
			if got := tokenapi.IsNotFound(err); got != tt.wantNotFound {
				t.Errorf("IsNotFound = %v, want %v; err: %v", got, tt.wantNotFound, err)
			}
			if tt.wantUnknown {
				var unknown *tokenapi.OutcomeUnknownError
				if !errors.As(err, &unknown) {
					t.Errorf("errors.As(*OutcomeUnknownError) failed for %v", err)
				} else if unknown.Cause == nil {
					t.Error("OutcomeUnknownError has no cause")
				}
			}

			var apiErr *tokenapi.APIError
			gotAPIErr := errors.As(err, &apiErr)
			if tt.wantStatus == 0 {
				if gotAPIErr {
					t.Errorf("unexpected *APIError with status %d: %v", apiErr.StatusCode, err)
				}
				return
			}
			if !gotAPIErr {
				t.Fatalf("errors.As(*APIError) failed for %v", err)
			}
			if apiErr.StatusCode != tt.wantStatus {
				t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tt.wantStatus)
			}
			if got := apiErr.Codes(); !slices.Equal(got, tt.wantCodes) {
				t.Errorf("Codes() = %v, want %v", got, tt.wantCodes)
			}
			if apiErr.Problem != tt.wantProblem {
				t.Errorf("Problem = %q, want %q", apiErr.Problem, tt.wantProblem)
			}
			if !strings.Contains(apiErr.Snippet, tt.wantSnippet) {
				t.Errorf("Snippet = %q, want it to contain %q", apiErr.Snippet, tt.wantSnippet)
			}
			if len(apiErr.Snippet) > 210 {
				t.Errorf("Snippet has %d bytes, want at most about 200", len(apiErr.Snippet))
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", tt.wantStatus)) {
				t.Errorf("error %q does not name HTTP %d", err, tt.wantStatus)
			}
		})
	}
}

func TestRateLimitedWaitsWithoutRetryAfter(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 429, `{"success":false,"errors":[{"code":971,"message":"slow down"}]}`)
	})
	clock := newFakeClock()
	var attempts []tokenapi.Attempt
	client := newClient(t, srv.URL, clock, func(o *tokenapi.Options) {
		o.Observer = func(a tokenapi.Attempt) { attempts = append(attempts, a) }
	})

	_, err := client.Get(context.Background(), testTokenID)
	if !tokenapi.IsRateLimited(err) {
		t.Fatalf("IsRateLimited = false for %v", err)
	}

	// The rate backoff starts at 10s, doubles and is capped at 30s; with
	// no jitter each wait is half of it.
	want := []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second}
	if got := clock.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
	if len(attempts) != 4 {
		t.Fatalf("observer saw %d attempts, want 4", len(attempts))
	}
	for i, a := range attempts {
		wantReason := tokenapi.RetryReasonRateLimited
		if i == 0 {
			wantReason = ""
		}
		if a.Retry != i || a.RetryReason != wantReason || a.StatusCode != 429 {
			t.Errorf("attempt %d = retry %d reason %q status %d, want %d %q 429",
				i, a.Retry, a.RetryReason, a.StatusCode, i, wantReason)
		}
		if a.Endpoint != tokenapi.EndpointDetails || a.Method != http.MethodGet {
			t.Errorf("attempt %d endpoint = %s %s, want GET details", i, a.Method, a.Endpoint)
		}
	}
}

func TestRetryAfterIsCappedAndHonoured(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		writeJSON(w, 429, `{"success":false,"errors":[{"code":971,"message":"slow down"}]}`)
	})
	clock := newFakeClock()
	client := newClient(t, srv.URL, clock, func(o *tokenapi.Options) {
		o.Retry.MaxRetryAfter = 30 * time.Second
	})

	_, err := client.Get(context.Background(), testTokenID)
	var apiErr *tokenapi.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("errors.As(*APIError) failed for %v", err)
	}
	if apiErr.RetryAfter != 60*time.Second {
		t.Errorf("RetryAfter = %s, want 60s", apiErr.RetryAfter)
	}
	want := []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second}
	if got := clock.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
	if got := srv.hits.Load(); got != 4 {
		t.Errorf("server got %d requests, want 4", got)
	}
}

func TestRetryStopsBeforeContextDeadline(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		writeJSON(w, 429, `{"success":false,"errors":[{"code":971,"message":"slow down"}]}`)
	})
	clock := newFakeClock()
	client := newClient(t, srv.URL, clock, func(o *tokenapi.Options) {
		o.Retry.MaxRetryAfter = 30 * time.Second
	})
	ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(45*time.Second))
	defer cancel()

	_, err := client.Get(ctx, testTokenID)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, DeadlineExceeded) = false for %v", err)
	}
	if !tokenapi.IsRateLimited(err) {
		t.Errorf("the last 429 is not kept in %v", err)
	}
	if !strings.Contains(err.Error(), "context deadline") {
		t.Errorf("error %q does not name the deadline", err)
	}
	if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{30 * time.Second}) {
		t.Errorf("sleeps = %v, want one 30s wait", got)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("server got %d requests, want 2", got)
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		at := clock.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
		w.Header().Set("Retry-After", at)
		writeJSON(w, 503, `{"success":false,"errors":[{"code":10001,"message":"busy"}]}`)
	})
	client := newClient(t, srv.URL, clock, func(o *tokenapi.Options) {
		o.Retry.MaxAttempts = 2
	})

	_, err := client.Get(context.Background(), testTokenID)
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{20 * time.Second}) {
		t.Errorf("sleeps = %v, want one 20s wait", got)
	}
}

func TestRetrySucceedsAfterServerError(t *testing.T) {
	var calls atomic.Int32
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			writeJSON(w, 502, `{"success":false,"errors":[{"code":10000,"message":"x"}]}`)
			return
		}
		writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":{"id":"`+
			testTokenID+`","name":"dns","status":"active","policies":[]}}`)
	})
	clock := newFakeClock()
	client := newClient(t, srv.URL, clock)

	token, err := client.Get(context.Background(), testTokenID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if token.ID != testTokenID {
		t.Errorf("ID = %q, want %q", token.ID, testTokenID)
	}
	// The server error backoff starts at 1s; with no jitter it waits half.
	if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{500 * time.Millisecond}) {
		t.Errorf("sleeps = %v, want one 500ms wait", got)
	}
}

func TestConnectionRefusedRollIsDefinite(t *testing.T) {
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {})
	url := srv.URL
	srv.Close()
	client := newClient(t, url, newFakeClock())

	_, err := client.Roll(context.Background(), testTokenID)
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	if errors.Is(err, tokenapi.ErrOutcomeUnknown) {
		t.Errorf("a roll that never reached the server is reported unknown: %v", err)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	// Every reply echoes both sentinels, as a misbehaving proxy might.
	echo := mgmtSentinel + " " + valueSentinel
	replies := map[string]func(w http.ResponseWriter){
		"html": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>Authorization: Bearer "+echo+"</html>")
		},
		"envelope message": func(w http.ResponseWriter) {
			writeJSON(w, 400, `{"success":false,"errors":[{"code":1000,"message":"bad token `+
				echo+`","source":{"pointer":"`+echo+`"}}]}`)
		},
		"not an envelope": func(w http.ResponseWriter) {
			writeJSON(w, 200, `{"value":"`+echo+`"}`)
		},
		"large body": func(w http.ResponseWriter) {
			writeJSON(w, 200, `{"result":"`+echo+strings.Repeat(" ", 2048)+`"}`)
		},
		"short roll value": func(w http.ResponseWriter) {
			writeJSON(w, 200, `{"success":true,"result":"`+valueSentinel[:20]+`"}`)
		},
		"content type": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain; x="+mgmtSentinel)
			w.WriteHeader(500)
		},
	}
	ops := map[string]operation{"get": getOp, "roll": rollOp, "create": createOp,
		"verify value": func(ctx context.Context, c *tokenapi.Client) error {
			_, err := c.VerifyValue(ctx, tokenapi.NewSecret(valueSentinel))
			return err
		},
	}

	for replyName, reply := range replies {
		for opName, op := range ops {
			t.Run(replyName+" "+opName, func(t *testing.T) {
				srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.ReadAll(r.Body)
					reply(w)
				})
				client := newClient(t, srv.URL, newFakeClock(), func(o *tokenapi.Options) {
					o.MaxBodyBytes = 1024
					o.Retry.MaxAttempts = 1
				})

				err := op(context.Background(), client)
				if err == nil {
					t.Fatal("expected an error, got nil")
				}
				for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err),
					fmt.Sprintf("%#v", err)} {
					for _, sentinel := range []string{mgmtSentinel, valueSentinel,
						valueSentinel[:20]} {
						if strings.Contains(text, sentinel) {
							t.Errorf("output contains a secret: %s", text)
						}
					}
				}
				var apiErr *tokenapi.APIError
				if errors.As(err, &apiErr) {
					dump := fmt.Sprintf("%#v", *apiErr)
					if strings.Contains(dump, mgmtSentinel) || strings.Contains(dump, valueSentinel) {
						t.Errorf("APIError fields contain a secret: %s", dump)
					}
				}
			})
		}
	}
}

func TestRollRetriedAfterRateLimit(t *testing.T) {
	const newValue = "cfat_NEWVALUEnewvalueNEWVALUEnewvalue012345678"
	var srv *server
	srv = startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if srv.hits.Load() == 1 {
			w.Header().Set("Retry-After", "15")
			writeJSON(w, 429, `{"success":false,"errors":[{"code":971,"message":"rate limited"}],"result":null}`)
			return
		}
		writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":"`+newValue+`"}`)
	})
	clock := newFakeClock()
	client := newClient(t, srv.URL, clock)

	value, err := client.Roll(context.Background(), testTokenID)
	if err != nil {
		t.Fatalf("Roll after one 429: %v", err)
	}
	if value.Reveal() != newValue {
		t.Error("Roll returned another value than the second reply's")
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("server got %d requests, want 2", got)
	}
	if waits := clock.Sleeps(); len(waits) != 1 || waits[0] != 15*time.Second {
		t.Errorf("waits = %v, want one of 15s from Retry-After", waits)
	}
}
