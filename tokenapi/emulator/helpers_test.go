package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator/emulatortest"
)

// clock is a settable clock for the emulator.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// apiError is one error of a reply envelope.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Source  *struct {
		Pointer string `json:"pointer"`
	} `json:"source"`
	ErrorChain []apiError `json:"error_chain"`
}

// apiReply is a decoded reply.
type apiReply struct {
	Status     int
	Header     http.Header
	Raw        string
	Success    bool            `json:"success"`
	Errors     []apiError      `json:"errors"`
	Messages   []apiError      `json:"messages"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *struct {
		Page       int `json:"page"`
		PerPage    int `json:"per_page"`
		Count      int `json:"count"`
		TotalCount int `json:"total_count"`
	} `json:"result_info"`
}

// tokenResult is a token in a reply.
type tokenResult struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	IssuedOn   string  `json:"issued_on"`
	ModifiedOn string  `json:"modified_on"`
	LastUsedOn *string `json:"last_used_on"`
	ExpiresOn  *string `json:"expires_on"`
	NotBefore  *string `json:"not_before"`
	Value      *string `json:"value"`
	Policies   []struct {
		ID               string `json:"id"`
		Effect           string `json:"effect"`
		PermissionGroups []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"permission_groups"`
		Resources map[string]any `json:"resources"`
	} `json:"policies"`
	Condition *struct {
		RequestIP struct {
			In    []string `json:"in"`
			NotIn []string `json:"not_in"`
		} `json:"request_ip"`
	} `json:"condition"`
}

// send makes one request to the emulator and decodes the reply. An empty
// bearer sends no Authorization header.
func send(t *testing.T, env *emulatortest.Env, method, path, bearer, body string) apiReply {
	t.Helper()
	rep, err := trySend(env, method, path, bearer, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return rep
}

func trySend(env *emulatortest.Env, method, path, bearer, body string) (apiReply, error) {
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, env.BaseURL+path, reader)
	if err != nil {
		return apiReply{}, err
	}

	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return apiReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiReply{}, err
	}
	rep := apiReply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// tokensPath returns the path of the env account's tokens plus suffix.
func tokensPath(env *emulatortest.Env, suffix string) string {
	return "/accounts/" + env.AccountID + "/tokens" + suffix
}

// decode decodes a reply's result into v.
func decode(t *testing.T, rep apiReply, v any) {
	t.Helper()
	if err := json.Unmarshal(rep.Result, v); err != nil {
		t.Fatalf("decode result %s: %v", rep.Result, err)
	}
}

// wantError checks a failure reply's status, first error code and pointer.
func wantError(t *testing.T, rep apiReply, status, code int, pointer string) {
	t.Helper()
	if rep.Status != status {
		t.Errorf("status = %d, want %d; body %s", rep.Status, status, rep.Raw)
	}
	if rep.Success {
		t.Errorf("success = true, want false; body %s", rep.Raw)
	}
	if string(rep.Result) != "null" {
		t.Errorf("result = %s, want null", rep.Result)
	}
	if len(rep.Errors) == 0 {
		t.Fatalf("no errors in reply: %s", rep.Raw)
	}
	if rep.Errors[0].Code != code {
		t.Errorf("error code = %d, want %d; body %s", rep.Errors[0].Code, code, rep.Raw)
	}
	got := ""
	if rep.Errors[0].Source != nil {
		got = rep.Errors[0].Source.Pointer
	}
	if got != pointer {
		t.Errorf("error pointer = %q, want %q", got, pointer)
	}
}

// wantOK checks a success reply.
func wantOK(t *testing.T, rep apiReply) {
	t.Helper()
	if rep.Status != http.StatusOK || !rep.Success {
		t.Fatalf("status %d success %v, want 200 true; body %s", rep.Status, rep.Success, rep.Raw)
	}
	if rep.Errors == nil || rep.Messages == nil {
		t.Errorf("errors or messages missing from the envelope: %s", rep.Raw)
	}
}

// createBody returns a create body for a token named name with one DNS Read
// policy on the env account, plus extra top-level fields.
func createBody(env *emulatortest.Env, name, extra string) string {
	var b bytes.Buffer
	b.WriteString(`{"name":` + quote(name) + `,"policies":[{"effect":"allow",`)
	b.WriteString(`"permission_groups":[{"id":"82e64a83756745bbbb1c9c2701bf816b"}],`)
	b.WriteString(`"resources":{"com.cloudflare.api.account.` + env.AccountID + `":"*"}}]`)
	if extra != "" {
		b.WriteString("," + extra)
	}
	b.WriteString("}")
	return b.String()
}

func quote(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

// createToken creates a token over HTTP and returns the reply's token.
func createToken(t *testing.T, env *emulatortest.Env, body string) tokenResult {
	t.Helper()
	rep := send(t, env, http.MethodPost, tokensPath(env, ""), env.Token, body)
	wantOK(t, rep)
	var tok tokenResult
	decode(t, rep, &tok)
	return tok
}

// startWithClock starts an emulator on a settable clock.
func startWithClock(t *testing.T) (*emulatortest.Env, *clock) {
	t.Helper()
	clk := newClock()
	return emulatortest.Start(t, emulator.Options{Now: clk.Now}), clk
}
