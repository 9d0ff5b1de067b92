package rotator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/atomicfile"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// journalFile is the name of the journal inside the state directory.
const journalFile = "journal.json"

// journalVersion is the format version written to the journal file. A daemon
// refuses a journal with a newer version instead of dropping what it owes.
const journalVersion = 1

// TargetRef names one place a token value must reach: a sink and a target
// inside it.
type TargetRef struct {
	Sink  string `json:"sink"`
	Path  string `json:"path"`
	Field string `json:"field,omitempty"`
}

// String returns the target as sink:path for logs and errors.
func (t TargetRef) String() string {
	return t.Sink + ":" + t.Path
}

// Unsaved is a token value that Cloudflare accepts but that has not yet
// reached every target. It is written to the journal before the first sink
// write, so a crash between the API reply and the sink write loses nothing.
type Unsaved struct {
	ID        string          `json:"id"`
	Account   string          `json:"account"`
	TokenKey  string          `json:"token_key"`
	TokenID   string          `json:"token_id"`
	TokenName string          `json:"token_name"`
	Value     tokenapi.Secret `json:"-"`
	ExpiresOn *time.Time      `json:"expires_on,omitempty"`
	RotatedAt time.Time       `json:"rotated_at"`
	// Pending lists the targets that do not have the value yet.
	Pending  []TargetRef `json:"pending"`
	Attempts int         `json:"attempts"`
	// ThenRevoke is the old token a recreate replaced. It is recorded for
	// deletion in the same write that removes the last pending target, so
	// the old token stays valid until every consumer can read the new one.
	ThenRevoke *Revocation `json:"then_revoke,omitempty"`
}

// Revocation is an old token that must be deleted once DueAt has passed. It
// is recorded before the first delete attempt, so a crash cannot leave an
// old token alive and forgotten.
type Revocation struct {
	Account    string    `json:"account"`
	TokenKey   string    `json:"token_key"`
	TokenID    string    `json:"token_id"`
	TokenName  string    `json:"token_name"`
	ReplacedBy string    `json:"replaced_by,omitempty"`
	DueAt      time.Time `json:"due_at"`
	RecordedAt time.Time `json:"recorded_at"`
	Attempts   int       `json:"attempts"`
}

// OpKind is the kind of API mutation an in-flight operation performs.
type OpKind string

// Mutations that can leave an unknown outcome behind.
const (
	OpRoll   OpKind = "roll"
	OpCreate OpKind = "create"
	OpUpdate OpKind = "update"
)

// InFlight is an API mutation that was started but whose outcome is not yet
// recorded. At start-up, each one is resolved from the live token state.
type InFlight struct {
	ID        string    `json:"id"`
	Kind      OpKind    `json:"kind"`
	Account   string    `json:"account"`
	TokenKey  string    `json:"token_key"`
	TokenID   string    `json:"token_id"`
	TokenName string    `json:"token_name"`
	StartedAt time.Time `json:"started_at"`
	// ModifiedOn is the token's modified_on before a roll or update, so a
	// reader can tell whether the mutation reached Cloudflare.
	ModifiedOn *time.Time `json:"modified_on,omitempty"`
	// KnownIDs lists the ids of tokens with the same name that existed
	// before a create, so a token created by a lost request can be found.
	KnownIDs []string `json:"known_ids,omitempty"`
}

// Rotation is the daemon's own record of the last rotation of a token.
type Rotation struct {
	Account   string    `json:"account"`
	TokenKey  string    `json:"token_key"`
	TokenID   string    `json:"token_id"`
	RotatedAt time.Time `json:"rotated_at"`
	// ModifiedOn is the token's modified_on right after the rotation.
	ModifiedOn *time.Time `json:"modified_on,omitempty"`
}

// OwedRoll is a token that still needs the roll that was to follow its
// expiry extension.
type OwedRoll struct {
	Account  string    `json:"account"`
	TokenKey string    `json:"token_key"`
	TokenID  string    `json:"token_id"`
	Since    time.Time `json:"since"`
}

// journalState is the on-disk form of the journal.
type journalState struct {
	Version     int             `json:"version"`
	Unsaved     []unsavedOnDisk `json:"unsaved"`
	Revocations []Revocation    `json:"revocations"`
	InFlight    []InFlight      `json:"in_flight"`
	Rotations   []Rotation      `json:"rotations"`
	// RollsOwed lists tokens whose expiry was extended but whose roll then
	// failed. The extension makes them look fresh, so only this record
	// keeps them due.
	RollsOwed []OwedRoll `json:"rolls_owed,omitempty"`
	Sequence  uint64     `json:"sequence"`
}

// unsavedOnDisk carries the secret value in clear text. It exists only
// inside the journal file, which is 0600 in a 0700 directory.
type unsavedOnDisk struct {
	Unsaved
	Value string `json:"value"`
}

// Journal is the durable record of what the daemon still owes: values not
// yet in every sink, old tokens to delete and mutations whose outcome is not
// known. Every change is written to disk before the method returns.
type Journal struct {
	dir      string
	lock     *os.File
	readOnly bool

	mu    sync.Mutex
	state journalState
}

// OpenJournal opens, or creates, the journal in dir. It creates dir with
// mode 0700, tightens an existing directory to 0700, and takes an exclusive
// lock so that two daemons never share one state directory.
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: create state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: set mode of state directory %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}

	j := &Journal{dir: dir, lock: lock, state: journalState{Version: journalVersion}}
	data, err := os.ReadFile(j.path())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return j, nil
	case err != nil:
		lock.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := j.decode(data); err != nil {
		lock.Close()
		return nil, err
	}
	return j, nil
}

// ReadJournal loads the journal in dir for reading only, without taking the
// lock, so plan can run beside a daemon. A missing directory or file gives
// an empty journal. Every method that would change it returns an error.
func ReadJournal(dir string) (*Journal, error) {
	j := &Journal{dir: dir, readOnly: true, state: journalState{Version: journalVersion}}
	data, err := os.ReadFile(j.path())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return j, nil
	case err != nil:
		return nil, fmt.Errorf("read journal: %w", err)
	}
	if err := j.decode(data); err != nil {
		return nil, err
	}
	return j, nil
}

// errReadOnly is returned by changes to a journal opened with ReadJournal.
var errReadOnly = errors.New("write journal: the journal was opened read-only")

// Close releases the state directory lock.
func (j *Journal) Close() error {
	if j.lock == nil {
		return nil
	}
	err := j.lock.Close()
	j.lock = nil
	return err
}

// Dir returns the state directory.
func (j *Journal) Dir() string {
	return j.dir
}

func (j *Journal) path() string {
	return filepath.Join(j.dir, journalFile)
}

func (j *Journal) decode(data []byte) error {
	var st journalState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("open journal: %s is not valid JSON (%v); move it aside only after "+
			"recovering any token value it contains", j.path(), err)
	}
	if st.Version > journalVersion {
		return fmt.Errorf("open journal: %s has format version %d, newer than this binary "+
			"understands (%d); run the newer tokenrotator", j.path(), st.Version, journalVersion)
	}
	for i := range st.Unsaved {
		st.Unsaved[i].Unsaved.Value = tokenapi.NewSecret(st.Unsaved[i].Value)
	}
	st.Version = journalVersion
	j.state = st
	return nil
}

// save writes the whole state atomically. The caller holds j.mu.
func (j *Journal) save() error {
	if j.readOnly {
		return errReadOnly
	}
	st := j.state
	st.Unsaved = make([]unsavedOnDisk, len(j.state.Unsaved))
	for i, u := range j.state.Unsaved {
		st.Unsaved[i] = unsavedOnDisk{Unsaved: u.Unsaved, Value: u.Unsaved.Value.Reveal()}
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := atomicfile.Write(j.path(), data, 0o600); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// update applies change to the state and saves it. If saving fails, the
// in-memory state is rolled back, so memory and disk never disagree.
func (j *Journal) update(change func(st *journalState)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	before := cloneState(j.state)
	change(&j.state)
	if err := j.save(); err != nil {
		j.state = before
		return err
	}
	return nil
}

func cloneState(st journalState) journalState {
	out := st
	out.Unsaved = slices.Clone(st.Unsaved)
	for i := range out.Unsaved {
		out.Unsaved[i].Pending = slices.Clone(st.Unsaved[i].Pending)
		if r := st.Unsaved[i].ThenRevoke; r != nil {
			copied := *r
			out.Unsaved[i].ThenRevoke = &copied
		}
	}
	out.Revocations = slices.Clone(st.Revocations)
	out.InFlight = slices.Clone(st.InFlight)
	out.Rotations = slices.Clone(st.Rotations)
	out.RollsOwed = slices.Clone(st.RollsOwed)
	return out
}

// nextID returns a journal-unique id for an entry. The caller holds j.mu.
func (st *journalState) nextID(prefix string) string {
	st.Sequence++
	return fmt.Sprintf("%s-%d", prefix, st.Sequence)
}

// BeginOp records a mutation before it is sent and returns its id.
func (j *Journal) BeginOp(op InFlight) (string, error) {
	var id string
	err := j.update(func(st *journalState) {
		id = st.nextID(string(op.Kind))
		op.ID = id
		st.InFlight = append(st.InFlight, op)
	})
	return id, err
}

// EndOp removes a resolved mutation.
func (j *Journal) EndOp(id string) error {
	return j.update(func(st *journalState) {
		st.InFlight = slices.DeleteFunc(st.InFlight, func(op InFlight) bool { return op.ID == id })
	})
}

// HoldValue stores a fresh token value until every target has it, and ends
// the in-flight operation opID (if not empty) in the same write, so there is
// no instant at which the value is neither in flight nor held.
func (j *Journal) HoldValue(u Unsaved, opID string) (string, error) {
	var id string
	err := j.update(func(st *journalState) {
		id = st.nextID("value")
		u.ID = id
		u.Pending = slices.Clone(u.Pending)
		st.Unsaved = append(st.Unsaved, unsavedOnDisk{Unsaved: u})
		if opID != "" {
			st.InFlight = slices.DeleteFunc(st.InFlight, func(op InFlight) bool { return op.ID == opID })
		}
	})
	return id, err
}

// MarkStored records that target has the value held under id. When no
// target is left, the value is dropped from the journal and its ThenRevoke,
// if any, becomes a revocation. It reports whether the value is complete.
func (j *Journal) MarkStored(id string, target TargetRef) (complete bool, err error) {
	err = j.update(func(st *journalState) {
		for i := range st.Unsaved {
			u := &st.Unsaved[i].Unsaved
			if u.ID != id {
				continue
			}
			u.Pending = slices.DeleteFunc(u.Pending, func(t TargetRef) bool { return t == target })
			if len(u.Pending) > 0 {
				continue
			}
			complete = true
			if r := u.ThenRevoke; r != nil && !st.hasRevocation(r.Account, r.TokenID) {
				st.Revocations = append(st.Revocations, *r)
			}
		}
		st.Unsaved = slices.DeleteFunc(st.Unsaved, func(u unsavedOnDisk) bool {
			return u.Unsaved.ID == id && len(u.Unsaved.Pending) == 0
		})
	})
	return complete, err
}

func (st *journalState) hasRevocation(account, tokenID string) bool {
	for _, r := range st.Revocations {
		if r.Account == account && r.TokenID == tokenID {
			return true
		}
	}
	return false
}

// CountAttempt increments the attempt counter of the value held under id.
func (j *Journal) CountAttempt(id string) error {
	return j.update(func(st *journalState) {
		for i := range st.Unsaved {
			if st.Unsaved[i].Unsaved.ID == id {
				st.Unsaved[i].Unsaved.Attempts++
			}
		}
	})
}

// DropValue removes the value held under id whatever targets are left. It is
// for values whose token no longer exists, such as a replacement token that
// was deleted because it could not be stored.
func (j *Journal) DropValue(id string) error {
	return j.update(func(st *journalState) {
		st.Unsaved = slices.DeleteFunc(st.Unsaved, func(u unsavedOnDisk) bool { return u.Unsaved.ID == id })
	})
}

// Unsaved returns every held value, oldest first.
func (j *Journal) Unsaved() []Unsaved {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Unsaved, len(j.state.Unsaved))
	for i, u := range j.state.Unsaved {
		out[i] = u.Unsaved
		out[i].Pending = slices.Clone(u.Unsaved.Pending)
	}
	return out
}

// HasUnsaved reports whether a value of the token account/key is still held.
// Such a token must not be rotated again until the value is stored.
func (j *Journal) HasUnsaved(account, tokenKey string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, u := range j.state.Unsaved {
		if u.Unsaved.Account == account && u.Unsaved.TokenKey == tokenKey {
			return true
		}
	}
	return false
}

// AddRevocation records an old token for deletion. A token already recorded
// keeps its earlier due time.
func (j *Journal) AddRevocation(r Revocation) error {
	return j.update(func(st *journalState) {
		if !st.hasRevocation(r.Account, r.TokenID) {
			st.Revocations = append(st.Revocations, r)
		}
	})
}

// Revocations returns every recorded revocation.
func (j *Journal) Revocations() []Revocation {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.state.Revocations)
}

// IsRevoking reports whether the token id is recorded for deletion.
func (j *Journal) IsRevoking(account, tokenID string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state.hasRevocation(account, tokenID)
}

// CountRevocationAttempt increments the attempt counter of a revocation.
func (j *Journal) CountRevocationAttempt(account, tokenID string) error {
	return j.update(func(st *journalState) {
		for i := range st.Revocations {
			if st.Revocations[i].Account == account && st.Revocations[i].TokenID == tokenID {
				st.Revocations[i].Attempts++
			}
		}
	})
}

// RevocationDone removes a revocation after the token was deleted (or was
// found gone).
func (j *Journal) RevocationDone(account, tokenID string) error {
	return j.update(func(st *journalState) {
		st.Revocations = slices.DeleteFunc(st.Revocations, func(r Revocation) bool {
			return r.Account == account && r.TokenID == tokenID
		})
	})
}

// InFlight returns every mutation whose outcome is not recorded.
func (j *Journal) InFlight() []InFlight {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.state.InFlight)
}

// RecordRotation stores the daemon's record of a finished rotation,
// replacing the earlier record of the same token, and clears a roll the
// token owed.
func (j *Journal) RecordRotation(r Rotation) error {
	return j.update(func(st *journalState) {
		st.Rotations = slices.DeleteFunc(st.Rotations, func(old Rotation) bool {
			return old.Account == r.Account && old.TokenKey == r.TokenKey
		})
		st.Rotations = append(st.Rotations, r)
		st.RollsOwed = slices.DeleteFunc(st.RollsOwed, func(o OwedRoll) bool {
			return o.Account == r.Account && o.TokenKey == r.TokenKey
		})
	})
}

// OweRoll records that a token was extended but not rolled, so it stays due
// until a rotation is recorded.
func (j *Journal) OweRoll(o OwedRoll) error {
	return j.update(func(st *journalState) {
		for _, old := range st.RollsOwed {
			if old.Account == o.Account && old.TokenKey == o.TokenKey {
				return
			}
		}
		st.RollsOwed = append(st.RollsOwed, o)
	})
}

// RollOwed reports whether the token owes the roll after an extension.
func (j *Journal) RollOwed(account, tokenKey string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, o := range j.state.RollsOwed {
		if o.Account == account && o.TokenKey == tokenKey {
			return true
		}
	}
	return false
}

// LastRotation returns the daemon's record of the last rotation of a token.
func (j *Journal) LastRotation(account, tokenKey string) (Rotation, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range j.state.Rotations {
		if r.Account == account && r.TokenKey == tokenKey {
			return r, true
		}
	}
	return Rotation{}, false
}
