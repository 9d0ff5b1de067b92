package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// maxBodyBytes is the largest request body the emulator reads.
const maxBodyBytes = 1 << 20

// Endpoint names, as used in Fault.Endpoint and Request.Endpoint.
const (
	EndpointCreate           = "create"
	EndpointList             = "list"
	EndpointPermissionGroups = "permission_groups"
	EndpointVerify           = "verify"
	EndpointDetails          = "details"
	EndpointUpdate           = "update"
	EndpointDelete           = "delete"
	EndpointRoll             = "roll"
)

// access is the permission an endpoint needs from the bearer token.
type access int

const (
	accessNone  access = iota // verify: any valid token
	accessRead                // Account API Tokens Read or Write
	accessWrite               // Account API Tokens Write
)

// endpoint is one operation of the API.
type endpoint struct {
	name    string
	pattern string
	need    access
	op      func(e *Emulator, c *call) reply
}

// call is one authenticated request on its way through an operation.
type call struct {
	r         *http.Request
	now       time.Time
	accountID string
	tokenID   string // token_id from the path, if the route has one
	bearer    *token
	body      []byte
}

// reply is an encoded response, built under the lock and written after it.
type reply struct {
	status      int
	header      http.Header
	contentType string
	body        []byte
	tokenID     string // the token the request concerned, for the request log
}

// Request is one entry of the request log.
type Request struct {
	// Endpoint is the operation name, or "" for a path no route matched.
	Endpoint string
	// Method and Path are the HTTP method and URL path.
	Method, Path string
	// Query is the raw URL query.
	Query string
	// TokenID is the token the request concerned: the path's token id, the
	// created token's id, or the bearer token's id for verify.
	TokenID string
	// Status is the HTTP status of the reply. For a dropped reply it is the
	// status the client would have received.
	Status int
	// At is the clock's time when the request was handled.
	At time.Time
	// Fault reports whether an injected fault changed the request.
	Fault bool
	// Dropped reports whether the connection was closed without a reply.
	Dropped bool
}

func endpoints() []endpoint {
	const base = "/client/v4/accounts/{account_id}/tokens"
	return []endpoint{
		{EndpointCreate, "POST " + base, accessWrite, (*Emulator).create},
		{EndpointList, "GET " + base, accessRead, (*Emulator).list},
		{EndpointPermissionGroups, "GET " + base + "/permission_groups", accessRead,
			(*Emulator).permissionGroups},
		{EndpointVerify, "GET " + base + "/verify", accessNone, (*Emulator).verify},
		{EndpointDetails, "GET " + base + "/{token_id}", accessRead, (*Emulator).details},
		{EndpointUpdate, "PUT " + base + "/{token_id}", accessWrite, (*Emulator).update},
		{EndpointDelete, "DELETE " + base + "/{token_id}", accessWrite, (*Emulator).delete},
		{EndpointRoll, "PUT " + base + "/{token_id}/value", accessWrite, (*Emulator).roll},
	}
}

func (e *Emulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, ep := range endpoints() {
		mux.Handle(ep.pattern, e.serve(ep))
	}
	mux.HandleFunc("/", e.noRoute)
	return mux
}

// noRoute replies to every path and method that no endpoint serves.
func (e *Emulator) noRoute(w http.ResponseWriter, r *http.Request) {
	rep := errorReply(http.StatusNotFound, wireError{Code: 7000, Message: "No route for that URI"})
	e.mu.Lock()
	e.logRequest(r, "", rep, false, false)
	e.mu.Unlock()
	writeReply(w, rep)
}

// serve runs one endpoint: faults, authentication, rate limit, the operation,
// and the request log.
func (e *Emulator) serve(ep endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))

		e.mu.Lock()
		fault := e.takeFault(ep.name, e.faultTokenID(ep, r))
		e.mu.Unlock()

		if fault != nil && fault.Latency > 0 && !wait(r, fault.Latency) {
			return
		}
		if fault != nil && fault.canned() && !fault.AfterCommit && !fault.DropAfterCommit {
			rep := fault.reply()
			e.mu.Lock()
			e.logRequest(r, ep.name, rep, true, false)
			e.mu.Unlock()
			writeReply(w, rep)
			return
		}

		e.mu.Lock()
		c := &call{
			r:         r,
			now:       e.now(),
			accountID: r.PathValue("account_id"),
			tokenID:   r.PathValue("token_id"),
			body:      body,
		}
		var rep reply
		switch {
		case readErr != nil:
			rep = errorReply(http.StatusBadRequest,
				wireError{Code: 6007, Message: "Could not read the request body"})
		case len(body) > maxBodyBytes:
			rep = errorReply(http.StatusRequestEntityTooLarge,
				wireError{Code: 6007, Message: "Request body is too large"})
		default:
			rep = e.authorize(ep, c)
			if rep.status == 0 {
				rep = mergeHeaders(ep.op(e, c), rep.header)
			}
		}
		if rep.tokenID == "" {
			rep.tokenID = c.tokenID
		}
		dropped := fault != nil && fault.DropAfterCommit
		e.logRequest(r, ep.name, rep, fault != nil, dropped)
		e.mu.Unlock()

		if dropped {
			// The change is committed; the client gets a transport error.
			panic(http.ErrAbortHandler)
		}
		if fault != nil && fault.AfterCommit && fault.canned() {
			rep = fault.reply()
		}
		writeReply(w, rep)
	})
}

// faultTokenID returns the token id a fault can match for this request: the
// path's token id, or the bearer token's id for verify. The caller holds e.mu.
func (e *Emulator) faultTokenID(ep endpoint, r *http.Request) string {
	if id := r.PathValue("token_id"); id != "" {
		return id
	}
	if ep.name != EndpointVerify {
		return ""
	}
	value, ok := bearerValue(r)
	if !ok {
		return ""
	}
	if t, ok := e.byValue[value]; ok {
		return t.id
	}
	return ""
}

// wait blocks for d, or until the request's context ends; it reports whether
// the full wait passed.
func wait(r *http.Request, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// authorize authenticates the bearer token and checks its rate limit, its
// condition, the account and the permission ep needs. It returns a reply
// with status 0 and the rate-limit headers when the request may go on. The
// caller holds e.mu.
func (e *Emulator) authorize(ep endpoint, c *call) reply {
	value, ok := bearerValue(c.r)
	if !ok {
		return errorReply(http.StatusBadRequest, wireError{
			Code:    6003,
			Message: "Invalid request headers",
			ErrorChain: []wireError{
				{Code: 6111, Message: "Invalid format for Authorization header"},
			},
		})
	}
	t, ok := e.byValue[value]
	if !ok {
		return invalidToken()
	}

	header, limited := e.checkRate(t.id, c.now)
	if limited != nil {
		return *limited
	}

	lenient := ep.name == EndpointVerify && !e.strictVerify
	if !lenient && !t.usableAt(c.now) {
		return withHeader(invalidToken(), header)
	}
	if addr, ok := clientAddr(c.r); !ok || !t.condition.allowsAddress(addr) {
		return withHeader(errorReply(http.StatusForbidden, wireError{
			Code:    9109,
			Message: "Cannot use the access token from location: " + addrString(addr, ok),
		}), header)
	}
	t.lastUsedOn = stamp(c.now)
	c.bearer = t

	if t.accountID != c.accountID {
		return withHeader(authError(), header)
	}
	if !t.grants(c.accountID, ep.need) {
		return withHeader(authError(), header)
	}
	return reply{header: header}
}

// bearerValue returns the value of an "Authorization: Bearer VALUE" header.
func bearerValue(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, value, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	if value == "" || strings.ContainsAny(value, " \t") {
		return "", false
	}
	return value, true
}

// clientAddr returns the client's IP address from RemoteAddr.
func clientAddr(r *http.Request) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap(), true
	}
	if addr, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return addr.Unmap(), true
	}
	return netip.Addr{}, false
}

func addrString(addr netip.Addr, ok bool) string {
	if !ok {
		return "unknown"
	}
	return addr.String()
}

// usableAt reports whether the token authenticates requests at now: it is
// active, not expired and past its not_before.
func (t *token) usableAt(now time.Time) bool {
	if t.statusAt(now) != StatusActive {
		return false
	}
	return t.notBefore.IsZero() || !now.Before(t.notBefore)
}

// grants reports whether the token's policies give it the access on the
// account. A deny policy for a group wins over an allow policy for it.
func (t *token) grants(accountID string, need access) bool {
	var groups []string
	switch need {
	case accessNone:
		return true
	case accessRead:
		groups = []string{PermissionTokensWrite, PermissionTokensRead}
	case accessWrite:
		groups = []string{PermissionTokensWrite}
	}
	for _, g := range groups {
		allowed, denied := false, false
		for _, p := range t.policies {
			if !coversAccount(p.Resources, accountID) || !hasGroup(p, g) {
				continue
			}
			switch p.Effect {
			case "allow":
				allowed = true
			case "deny":
				denied = true
			}
		}
		if allowed && !denied {
			return true
		}
	}
	return false
}

// coversAccount reports whether resources grant the whole account: its own
// key, or the account wildcard, mapped to "*".
func coversAccount(resources map[string]any, accountID string) bool {
	for _, key := range []string{accountResource(accountID), "com.cloudflare.api.account.*"} {
		if v, ok := resources[key].(string); ok && v == "*" {
			return true
		}
	}
	return false
}

func hasGroup(p Policy, id string) bool {
	for _, g := range p.PermissionGroups {
		if g.ID == id {
			return true
		}
	}
	return false
}

// rateWindow counts one bearer token's requests in a fixed window.
type rateWindow struct {
	start time.Time
	count int
}

// checkRate counts a request of the token and returns the rate-limit
// headers, and a 429 reply when the token is over its limit. The caller
// holds e.mu.
func (e *Emulator) checkRate(tokenID string, now time.Time) (http.Header, *reply) {
	win := e.windows[tokenID]
	if win == nil || !now.Before(win.start.Add(e.rateWindow)) {
		win = &rateWindow{start: now}
		e.windows[tokenID] = win
	}
	reset := win.start.Add(e.rateWindow).Sub(now)
	resetSeconds := int(math.Ceil(reset.Seconds()))
	if resetSeconds < 1 {
		resetSeconds = 1
	}

	header := http.Header{}
	header.Set("Ratelimit-Policy",
		fmt.Sprintf(`"default";q=%d;w=%d`, e.rateLimit, int(e.rateWindow.Seconds())))
	if win.count >= e.rateLimit {
		header.Set("Ratelimit", fmt.Sprintf(`"default";r=0;t=%d`, resetSeconds))
		header.Set("Retry-After", fmt.Sprint(resetSeconds))
		rep := withHeader(errorReply(http.StatusTooManyRequests, wireError{
			Code:    971,
			Message: "Please wait and consider throttling your request speed",
		}), header)
		return header, &rep
	}
	win.count++
	header.Set("Ratelimit",
		fmt.Sprintf(`"default";r=%d;t=%d`, e.rateLimit-win.count, resetSeconds))
	return header, nil
}

// logRequest appends to the request log. The caller holds e.mu.
func (e *Emulator) logRequest(r *http.Request, name string, rep reply, fault, dropped bool) {
	e.requests = append(e.requests, Request{
		Endpoint: name,
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.RawQuery,
		TokenID:  rep.tokenID,
		Status:   rep.status,
		At:       e.now(),
		Fault:    fault,
		Dropped:  dropped,
	})
}

func invalidToken() reply {
	return errorReply(http.StatusUnauthorized, wireError{Code: 1000, Message: "Invalid API Token"})
}

func authError() reply {
	return errorReply(http.StatusForbidden, wireError{Code: 10000, Message: "Authentication error"})
}

func notFound(c *call) reply {
	path := strings.TrimPrefix(c.r.URL.Path, "/client/v4")
	return errorReply(http.StatusNotFound,
		wireError{Code: 7003, Message: "Could not route to " + path +
			", perhaps your object identifier is invalid?"},
		wireError{Code: 7000, Message: "No route for that URI"})
}

// errorReply returns a failure envelope with the given errors.
func errorReply(status int, errs ...wireError) reply {
	return jsonReply(status, envelope{
		Success:  false,
		Errors:   errs,
		Messages: []wireError{},
		Result:   nil,
	})
}

// okReply returns a success envelope around result.
func okReply(result any, info *resultInfo) reply {
	return jsonReply(http.StatusOK, envelope{
		Success:    true,
		Errors:     []wireError{},
		Messages:   []wireError{},
		Result:     result,
		ResultInfo: info,
	})
}

func jsonReply(status int, env envelope) reply {
	body, err := json.Marshal(env)
	if err != nil {
		// The envelope contains only strings, numbers, maps and slices.
		panic(fmt.Sprintf("emulator: encode reply: %v", err))
	}
	return reply{status: status, contentType: "application/json", body: append(body, '\n')}
}

func withHeader(rep reply, h http.Header) reply {
	rep.header = h
	return rep
}

func mergeHeaders(rep reply, h http.Header) reply {
	if rep.header == nil {
		rep.header = http.Header{}
	}
	for k, v := range h {
		if rep.header.Get(k) == "" {
			rep.header[k] = v
		}
	}
	return rep
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", rep.contentType)
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}
