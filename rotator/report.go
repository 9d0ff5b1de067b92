package rotator

import (
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// Result is the outcome of carrying out a decision, with the values of the
// rotations metric's result label.
type Result string

// Results of a rotation.
const (
	ResultSuccess Result = "success"
	ResultFailed  Result = "failed"
	// ResultNotStored means the token has a new value that Cloudflare
	// accepts, but some target does not have it yet. The value waits in
	// the journal and is retried.
	ResultNotStored Result = "rotated_not_stored"
	// ResultOldTokenLive means the replacement is stored, but deleting the
	// replaced token failed; the deletion is retried.
	ResultOldTokenLive Result = "old_token_still_live"
)

// SinkWrite is the outcome of writing a value to one target.
type SinkWrite struct {
	Target TargetRef
	// Result is success, failed, conflict or denied.
	Result string
	Err    error
}

// Sink write results, with the values of the sink writes metric's label.
const (
	SinkSuccess  = "success"
	SinkFailed   = "failed"
	SinkConflict = "conflict"
	SinkDenied   = "denied"
)

// TokenReport is the decision and outcome of a sweep for one managed token.
type TokenReport struct {
	Decision Decision
	// Result is empty when the decision needed no action.
	Result   Result
	Err      error
	Duration time.Duration
	// NewTokenID is the token that now holds the value: the same id after
	// a roll, the new token after a recreate.
	NewTokenID string
	// After is the token as the action left it (extended, or the new token
	// of a recreate), or nil when the action did not read it.
	After *tokenapi.Token
	// RotatedAt is when the token got its new value; zero when it did not.
	RotatedAt time.Time
	// ErrKind classifies Err: a sink or an API failure.
	ErrKind    ErrorKind
	SinkWrites []SinkWrite
}

// Failed reports whether the token needs attention: a decision error or a
// failed action.
func (t TokenReport) Failed() bool {
	return t.Decision.Err != nil || (t.Result != "" && t.Result != ResultSuccess)
}

// Report is the result of a sweep, a plan or a one-token rotation.
type Report struct {
	Started  time.Time
	Finished time.Time
	Tokens   []TokenReport
	// Errors are failures not tied to one decision: journal replay and
	// revocations.
	Errors []error
	// Replayed lists the outcomes of values and operations replayed from
	// the journal.
	Replayed []Replay
	// Unsaved, RevocationsPending and RevocationsOverdue count what the
	// journal still owes at the end of the run.
	Unsaved            int
	RevocationsPending int
	RevocationsOverdue int
}

// OK reports whether everything is in order: no token failed, nothing went
// wrong in the replay, and the journal owes nothing overdue.
func (r *Report) OK() bool {
	if len(r.Errors) > 0 || r.Unsaved > 0 || r.RevocationsOverdue > 0 {
		return false
	}
	for _, t := range r.Tokens {
		if t.Failed() {
			return false
		}
	}
	for _, t := range r.Replayed {
		if t.Result != ResultSuccess {
			return false
		}
	}
	return true
}

// Pending returns the number of tokens whose decision is a mutation.
func (r *Report) Pending() int {
	n := 0
	for _, t := range r.Tokens {
		if t.Decision.Action.Mutates() {
			n++
		}
	}
	return n
}

// Replay is the outcome of finishing work the journal recorded: storing a
// held value, or resolving a mutation whose reply was lost.
type Replay struct {
	Account  string
	TokenKey string
	TokenID  string
	// What is "value" for a held value, or the operation kind.
	What       string
	Result     Result
	Err        error
	SinkWrites []SinkWrite
}
