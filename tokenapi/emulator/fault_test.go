package emulator_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

func TestFaultCannedJSON(t *testing.T) {
	env, _ := startWithClock(t)
	env.Emulator.InjectFault(emulator.Fault{
		Endpoint:   emulator.EndpointList,
		Times:      1,
		Status:     http.StatusTooManyRequests,
		RetryAfter: "60",
	})

	rep := send(t, env, http.MethodGet, tokensPath(env, ""), env.Token, "")
	wantError(t, rep, http.StatusTooManyRequests, 971, "")
	if got := rep.Header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %q, want 60", got)
	}
	wantOK(t, send(t, env, http.MethodGet, tokensPath(env, ""), env.Token, ""))
}

func TestFaultCannedHTML(t *testing.T) {
	env, _ := startWithClock(t)
	remove := env.Emulator.InjectFault(emulator.Fault{
		Endpoint: emulator.EndpointDetails,
		Status:   http.StatusBadGateway,
		Body:     "<html><body>502 Bad Gateway</body></html>",
	})
	path := tokensPath(env, "/"+env.TokenID)

	for range 2 {
		rep := send(t, env, http.MethodGet, path, env.Token, "")
		if rep.Status != http.StatusBadGateway {
			t.Errorf("status = %d, want 502", rep.Status)
		}
		if ct := rep.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type = %q, want text/html", ct)
		}
		if !strings.Contains(rep.Raw, "502 Bad Gateway") {
			t.Errorf("body = %q, want the canned HTML", rep.Raw)
		}
	}
	remove()
	wantOK(t, send(t, env, http.MethodGet, path, env.Token, ""))
}

func TestFaultSuccessFalse(t *testing.T) {
	env, _ := startWithClock(t)
	env.Emulator.InjectFault(emulator.Fault{
		Endpoint:     emulator.EndpointVerify,
		Times:        1,
		SuccessFalse: true,
		Errors:       []emulator.ErrorInfo{{Code: 1000, Message: "Invalid API Token"}},
	})
	rep := send(t, env, http.MethodGet, tokensPath(env, "/verify"), env.Token, "")
	if rep.Status != http.StatusOK {
		t.Errorf("status = %d, want 200", rep.Status)
	}
	if rep.Success {
		t.Error("success = true, want false")
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Code != 1000 {
		t.Errorf("errors = %+v, want code 1000", rep.Errors)
	}
	if string(rep.Result) != "null" {
		t.Errorf("result = %s, want null", rep.Result)
	}
}

func TestFaultMatchesTokenID(t *testing.T) {
	env, _ := startWithClock(t)
	a := createToken(t, env, createBody(env, "a", ""))
	b := createToken(t, env, createBody(env, "b", ""))
	env.Emulator.InjectFault(emulator.Fault{
		Endpoint: emulator.EndpointRoll,
		TokenID:  b.ID,
		Status:   http.StatusServiceUnavailable,
	})

	wantOK(t, send(t, env, http.MethodPut, tokensPath(env, "/"+a.ID+"/value"), env.Token, "{}"))
	rep := send(t, env, http.MethodPut, tokensPath(env, "/"+b.ID+"/value"), env.Token, "{}")
	wantError(t, rep, http.StatusServiceUnavailable, 10002, "")
	state, _ := env.Emulator.Token(env.AccountID, b.ID)
	if state.Value != *b.Value {
		t.Error("a canned reply without AfterCommit changed the token")
	}
}

func TestFaultDropAfterCommit(t *testing.T) {
	env, _ := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))
	env.Emulator.InjectFault(emulator.Fault{
		Endpoint:        emulator.EndpointRoll,
		Times:           1,
		DropAfterCommit: true,
	})

	_, err := trySend(env, http.MethodPut, tokensPath(env, "/"+tok.ID+"/value"), env.Token, "{}")
	if err == nil {
		t.Fatal("roll with a dropped reply returned no transport error")
	}

	state, _ := env.Emulator.Token(env.AccountID, tok.ID)
	if state.Value == *tok.Value {
		t.Error("the roll did not happen before the connection was dropped")
	}
	wantError(t, send(t, env, http.MethodGet, tokensPath(env, "/verify"), *tok.Value, ""),
		http.StatusUnauthorized, 1000, "")
	wantOK(t, send(t, env, http.MethodGet, tokensPath(env, "/verify"), state.Value, ""))

	var dropped []emulator.Request
	for _, r := range env.Emulator.Requests() {
		if r.Dropped {
			dropped = append(dropped, r)
		}
	}
	if len(dropped) != 1 || dropped[0].Endpoint != emulator.EndpointRoll ||
		dropped[0].Status != http.StatusOK || dropped[0].TokenID != tok.ID {
		t.Errorf("dropped requests in the log = %+v, want one roll of %s", dropped, tok.ID)
	}
}

func TestFaultAfterCommitCannedReply(t *testing.T) {
	env, _ := startWithClock(t)
	env.Emulator.InjectFault(emulator.Fault{
		Endpoint:    emulator.EndpointCreate,
		Times:       1,
		Status:      http.StatusBadGateway,
		Body:        "<html>502</html>",
		AfterCommit: true,
	})
	rep := send(t, env, http.MethodPost, tokensPath(env, ""), env.Token, createBody(env, "lost", ""))
	if rep.Status != http.StatusBadGateway {
		t.Errorf("status = %d, want 502", rep.Status)
	}
	found := false
	for _, s := range env.Emulator.Tokens(env.AccountID) {
		found = found || s.Name == "lost"
	}
	if !found {
		t.Error("create with a 502 after commit did not store the token")
	}
}

func TestFaultLatencyEndsWithContext(t *testing.T) {
	env, _ := startWithClock(t)
	env.Emulator.InjectFault(emulator.Fault{Endpoint: emulator.EndpointList, Latency: time.Hour})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.BaseURL+tokensPath(env, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.Token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request under an hour of latency returned a reply")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the context deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("request took %v, want it to end with its context", elapsed)
	}
}

func TestFaultLatencyThenReply(t *testing.T) {
	env, _ := startWithClock(t)
	env.Emulator.InjectFault(emulator.Fault{
		Endpoint: emulator.EndpointVerify,
		Times:    1,
		Latency:  10 * time.Millisecond,
	})
	start := time.Now()
	wantOK(t, send(t, env, http.MethodGet, tokensPath(env, "/verify"), env.Token, ""))
	if elapsed := time.Since(start); elapsed < 10*time.Millisecond {
		t.Errorf("reply after %v, want at least the 10ms latency", elapsed)
	}
}

func TestInjectFaultUnknownEndpointPanics(t *testing.T) {
	env, _ := startWithClock(t)
	defer func() {
		if recover() == nil {
			t.Error("InjectFault accepted an unknown endpoint")
		}
	}()
	env.Emulator.InjectFault(emulator.Fault{Endpoint: "rotate"})
}

func TestRequestLogRecordsCalls(t *testing.T) {
	env, clk := startWithClock(t)
	tok := createToken(t, env, createBody(env, "ci", ""))
	send(t, env, http.MethodGet, tokensPath(env, "?page=1"), env.Token, "")
	send(t, env, http.MethodGet, tokensPath(env, "/verify"), *tok.Value, "")

	log := env.Emulator.Requests()
	if len(log) != 3 {
		t.Fatalf("request log has %d entries, want 3: %+v", len(log), log)
	}
	want := []struct {
		endpoint, method, tokenID string
	}{
		{emulator.EndpointCreate, http.MethodPost, tok.ID},
		{emulator.EndpointList, http.MethodGet, ""},
		{emulator.EndpointVerify, http.MethodGet, tok.ID},
	}
	for i, w := range want {
		got := log[i]
		if got.Endpoint != w.endpoint || got.Method != w.method || got.TokenID != w.tokenID {
			t.Errorf("entry %d = %+v, want %+v", i, got, w)
		}
		if got.Status != http.StatusOK || !got.At.Equal(clk.Now()) {
			t.Errorf("entry %d status %d at %v, want 200 at %v", i, got.Status, got.At, clk.Now())
		}
	}
	if log[1].Query != "page=1" {
		t.Errorf("list query = %q, want page=1", log[1].Query)
	}
	for _, r := range log {
		if strings.Contains(r.Path+r.Query, *tok.Value) {
			t.Error("request log contains a token value")
		}
	}
}

func TestFaultDropOnGetNeedsTwoTimes(t *testing.T) {
	env, _ := startWithClock(t)
	// Warm the connection, so that the transport reuses it and would retry.
	wantOK(t, send(t, env, http.MethodGet, tokensPath(env, ""), env.Token, ""))
	env.Emulator.InjectFault(emulator.Fault{
		Endpoint:        emulator.EndpointList,
		Times:           2,
		DropAfterCommit: true,
	})
	if _, err := trySend(env, http.MethodGet, tokensPath(env, ""), env.Token, ""); err == nil {
		t.Error("list with two dropped replies returned no transport error")
	}
}
