package vaulttest

import (
	"net/http"
	"time"
)

// faults are the failures a test has switched on.
type faults struct {
	sealed          bool
	denied          []string
	failing         []pathFault
	latency         time.Duration
	failWrites      int
	failWriteStatus int
}

// pathFault forces status on the paths matching pattern.
type pathFault struct {
	pattern string
	status  int
}

// Seal makes every call fail with 503 "Vault is sealed" and sys/health
// report sealed, until Unseal.
func (s *Server) Seal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.sealed = true
}

// Unseal undoes Seal.
func (s *Server) Unseal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.sealed = false
}

// DenyPath makes every call on the paths matching pattern fail with 403
// "permission denied" whatever the token's policy grants, and makes
// sys/capabilities-self report "deny" for them. The pattern uses policy
// syntax ("*" suffix, "+" segments) and carries no namespace.
func (s *Server) DenyPath(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.denied = append(s.faults.denied, pattern)
}

// FailPath makes every call on the paths matching pattern fail with
// status, for example 412 or 500, before auth is checked.
func (s *Server) FailPath(pattern string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failing = append(s.faults.failing, pathFault{pattern: pattern, status: status})
}

// SetLatency delays every later request by d, or until the client cancels
// it. Zero removes the delay.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
}

// FailWrites makes the next n writes (create, update, delete) to KV mounts
// fail with status before they reach the KV engine.
func (s *Server) FailWrites(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failWrites = n
	s.faults.failWriteStatus = status
}

// ClearFaults switches every fault off.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faults{}
}

func (s *Server) isSealed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.sealed
}

func (s *Server) isDenied(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pattern := range s.faults.denied {
		if matchPath(pattern, path) {
			return true
		}
	}
	return false
}

// pathFault returns the forced reply for path, if a FailPath matches it.
func (s *Server) pathFault(path string) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults.failing {
		if matchPath(f.pattern, path) {
			return errorReply(f.status, "vaulttest: forced "+http.StatusText(f.status)), true
		}
	}
	return reply{}, false
}

// takeWriteFailure consumes one forced write failure and returns its
// status, or 0 when none is left.
func (s *Server) takeWriteFailure() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.failWrites <= 0 {
		return 0
	}
	s.faults.failWrites--
	return s.faults.failWriteStatus
}
