package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Fault changes how the emulator replies to matching requests.
//
// A fault with a canned reply (Status, SuccessFalse or Body set) replies in
// place of the operation, which then does not run, unless AfterCommit is set.
// Latency applies before anything else. DropAfterCommit runs the operation and
// then closes the connection without a reply.
type Fault struct {
	// Endpoint is the operation: create, list, details, update, delete, roll,
	// verify or permission_groups.
	Endpoint string
	// TokenID limits the fault to requests about this token id: the path's
	// token id, or the bearer token's id for verify. Empty matches all.
	TokenID string
	// Times is the number of matching requests affected; 0 means every one
	// until the fault is removed.
	Times int
	// Status is the HTTP status of the canned reply.
	Status int
	// ContentType is the canned Body's content type; empty means text/html.
	ContentType string
	// Body is the canned reply body, sent as is. Empty means a JSON envelope
	// with Errors.
	Body string
	// Errors go into the canned JSON envelope. Empty means one error that
	// fits the status.
	Errors []ErrorInfo
	// SuccessFalse makes the canned reply HTTP 200 (unless Status is set)
	// with success:false and Errors.
	SuccessFalse bool
	// RetryAfter is the Retry-After header value of the canned reply.
	RetryAfter string
	// Latency is a real wait before the request is handled. It ends early,
	// with no reply, when the request's context ends.
	Latency time.Duration
	// AfterCommit runs the operation, so its change happens, and then sends
	// the canned reply in place of the real one.
	AfterCommit bool
	// DropAfterCommit runs the operation and then closes the connection with
	// no reply, so the client sees a transport error.
	//
	// NOTE: Go's http.Transport silently retries a GET once when a reused
	// connection closes before any reply, so with Times: 1 a Go client may
	// never see the drop on list, details, verify or permission_groups. Use
	// Times: 2 there. POST, PUT and DELETE are not retried.
	DropAfterCommit bool
}

// ErrorInfo is one error of a canned JSON reply.
type ErrorInfo struct {
	// Code is the Cloudflare error code.
	Code int
	// Message is the error message.
	Message string
	// Pointer is the optional source.pointer.
	Pointer string
}

type faultEntry struct {
	fault Fault
	left  int // requests still affected; 0 means unlimited
}

// InjectFault adds a fault and returns a function that removes it. Faults
// are checked in the order they were added, and the first match applies.
// It panics on an unknown endpoint name, which is a mistake in the test.
func (e *Emulator) InjectFault(f Fault) (remove func()) {
	known := false
	for _, ep := range endpoints() {
		known = known || ep.name == f.Endpoint
	}
	if !known {
		panic(fmt.Sprintf("emulator: inject fault: unknown endpoint %q", f.Endpoint))
	}
	entry := &faultEntry{fault: f, left: f.Times}

	e.mu.Lock()
	e.faults = append(e.faults, entry)
	e.mu.Unlock()

	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.faults = slices.DeleteFunc(e.faults, func(x *faultEntry) bool { return x == entry })
	}
}

// takeFault returns the first fault matching the request and counts the
// request against it. The caller holds e.mu.
func (e *Emulator) takeFault(endpoint, tokenID string) *Fault {
	for i, entry := range e.faults {
		f := entry.fault
		if f.Endpoint != endpoint || (f.TokenID != "" && f.TokenID != tokenID) {
			continue
		}
		if entry.left > 0 {
			entry.left--
			if entry.left == 0 {
				e.faults = slices.Delete(e.faults, i, i+1)
			}
		}
		return &f
	}
	return nil
}

// canned reports whether the fault carries a reply of its own.
func (f *Fault) canned() bool {
	return f.Status != 0 || f.SuccessFalse || f.Body != ""
}

// reply builds the fault's canned reply.
func (f *Fault) reply() reply {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	header := http.Header{}
	if f.RetryAfter != "" {
		header.Set("Retry-After", f.RetryAfter)
	}
	if f.Body != "" {
		contentType := f.ContentType
		if contentType == "" {
			contentType = "text/html; charset=utf-8"
		}
		return reply{status: status, header: header, contentType: contentType, body: []byte(f.Body)}
	}

	var errs []wireError
	for _, info := range f.Errors {
		we := wireError{Code: info.Code, Message: info.Message}
		if info.Pointer != "" {
			we.Source = &errorSource{Pointer: info.Pointer}
		}
		errs = append(errs, we)
	}
	if len(errs) == 0 {
		errs = []wireError{defaultFaultError(status)}
	}
	return withHeader(errorReply(status, errs...), header)
}

// defaultFaultError returns an error that fits a canned reply's status.
func defaultFaultError(status int) wireError {
	switch status {
	case http.StatusTooManyRequests:
		return wireError{Code: 971, Message: "Please wait and consider throttling your request speed"}
	case http.StatusUnauthorized, http.StatusOK:
		return wireError{Code: 1000, Message: "Invalid API Token"}
	case http.StatusForbidden:
		return wireError{Code: 10000, Message: "Authentication error"}
	default:
		return wireError{Code: 10002, Message: http.StatusText(status)}
	}
}
