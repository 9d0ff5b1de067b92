package rotator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

const journalSentinel = "cfat_JOURNALsentinelJOURNALsentinel0123456789"

func openTestJournal(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestJournalCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	j := openTestJournal(t, dir)
	if _, err := j.HoldValue(Unsaved{Account: "a", TokenKey: "k", Value: tokenapi.NewSecret("v")}, ""); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o700 {
		t.Errorf("state directory mode = %v, want 0700", mode)
	}
	info, err = os.Stat(filepath.Join(dir, journalFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("journal mode = %v, want 0600", mode)
	}
}

func TestJournalTightensExistingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	openTestJournal(t, dir)
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o700 {
		t.Errorf("state directory mode = %v, want 0700", mode)
	}
}

func TestJournalRejectsSecondOpener(t *testing.T) {
	dir := t.TempDir()
	openTestJournal(t, dir)
	_, err := OpenJournal(dir)
	if err == nil {
		t.Fatal("second OpenJournal on the same directory succeeded")
	}
	if !strings.Contains(err.Error(), "in use by another tokenrotator") {
		t.Errorf("error = %v, want it to say the directory is in use", err)
	}
}

func TestJournalKeepsValueAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	j := openTestJournal(t, dir)
	expires := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	targets := []TargetRef{{Sink: "vault", Path: "cf/dns"}, {Sink: "file", Path: "dns.env"}}
	opID, err := j.BeginOp(InFlight{Kind: OpRoll, Account: "a", TokenKey: "dns", TokenID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.HoldValue(Unsaved{
		Account: "a", TokenKey: "dns", TokenID: "t1", Value: tokenapi.NewSecret(journalSentinel),
		ExpiresOn: &expires, Pending: targets,
	}, opID)
	if err != nil {
		t.Fatal(err)
	}
	if complete, err := j.MarkStored(id, targets[0]); err != nil || complete {
		t.Fatalf("MarkStored(first) = %v, %v; want incomplete", complete, err)
	}
	j.Close()

	j2 := openTestJournal(t, dir)
	if ops := j2.InFlight(); len(ops) != 0 {
		t.Errorf("in-flight operations after HoldValue = %v, want none", ops)
	}
	held := j2.Unsaved()
	if len(held) != 1 {
		t.Fatalf("held values = %d, want 1", len(held))
	}
	if got := held[0].Value.Reveal(); got != journalSentinel {
		t.Errorf("held value after restart differs from the value written")
	}
	if len(held[0].Pending) != 1 || held[0].Pending[0] != targets[1] {
		t.Errorf("pending targets = %v, want only %v", held[0].Pending, targets[1])
	}
	if !j2.HasUnsaved("a", "dns") {
		t.Error("HasUnsaved = false with a held value")
	}

	if complete, err := j2.MarkStored(id, targets[1]); err != nil || !complete {
		t.Fatalf("MarkStored(last) = %v, %v; want complete", complete, err)
	}
	if held := j2.Unsaved(); len(held) != 0 {
		t.Errorf("held values after the last target = %d, want 0", len(held))
	}
	data, err := os.ReadFile(filepath.Join(dir, journalFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), journalSentinel) {
		t.Error("journal file still contains the value after every target stored it")
	}
}

func TestJournalRevocationsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	j := openTestJournal(t, dir)
	due := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	rev := Revocation{Account: "a", TokenKey: "dns", TokenID: "old", DueAt: due}
	if err := j.AddRevocation(rev); err != nil {
		t.Fatal(err)
	}
	later := rev
	later.DueAt = due.Add(time.Hour)
	if err := j.AddRevocation(later); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j2 := openTestJournal(t, dir)
	revs := j2.Revocations()
	if len(revs) != 1 {
		t.Fatalf("revocations = %d, want 1", len(revs))
	}
	if !revs[0].DueAt.Equal(due) {
		t.Errorf("due time = %v, want the first recorded %v", revs[0].DueAt, due)
	}
	if !j2.IsRevoking("a", "old") {
		t.Error("IsRevoking = false for a recorded token")
	}
	if err := j2.RevocationDone("a", "old"); err != nil {
		t.Fatal(err)
	}
	if j2.IsRevoking("a", "old") {
		t.Error("IsRevoking = true after RevocationDone")
	}
}

func TestJournalRotationRecordReplacesOlder(t *testing.T) {
	j := openTestJournal(t, t.TempDir())
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	second := first.Add(24 * time.Hour)
	for _, at := range []time.Time{first, second} {
		if err := j.RecordRotation(Rotation{Account: "a", TokenKey: "dns", TokenID: "t", RotatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := j.LastRotation("a", "dns")
	if !ok {
		t.Fatal("LastRotation found no record")
	}
	if !got.RotatedAt.Equal(second) {
		t.Errorf("RotatedAt = %v, want %v", got.RotatedAt, second)
	}
	if _, ok := j.LastRotation("a", "other"); ok {
		t.Error("LastRotation found a record for an unknown token")
	}
}

func TestJournalRejectsNewerFormat(t *testing.T) {
	dir := t.TempDir()
	data, _ := json.Marshal(map[string]any{"version": journalVersion + 1})
	if err := os.WriteFile(filepath.Join(dir, journalFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenJournal(dir)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("error = %v, want a format version error", err)
	}
}

func TestJournalRejectsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, journalFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenJournal(dir)
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("error = %v, want a JSON error", err)
	}
}

func TestJournalFailedSaveKeepsMemoryAndDiskEqual(t *testing.T) {
	dir := t.TempDir()
	j := openTestJournal(t, dir)
	if err := j.AddRevocation(Revocation{Account: "a", TokenID: "one"}); err != nil {
		t.Fatal(err)
	}
	// A directory where the journal file should be makes the rename fail.
	if err := os.Rename(filepath.Join(dir, journalFile), filepath.Join(dir, "saved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, journalFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, journalFile, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := j.AddRevocation(Revocation{Account: "a", TokenID: "two"}); err == nil {
		t.Fatal("AddRevocation succeeded although the journal could not be written")
	}
	if j.IsRevoking("a", "two") {
		t.Error("memory holds a revocation that was never written to disk")
	}
}

func TestJournalRevokesOldTokenWhenLastTargetStored(t *testing.T) {
	j := openTestJournal(t, t.TempDir())
	targets := []TargetRef{{Sink: "vault", Path: "cf/dns"}, {Sink: "file", Path: "dns.env"}}
	old := &Revocation{Account: "a", TokenKey: "dns", TokenID: "old", DueAt: now}
	id, err := j.HoldValue(Unsaved{Account: "a", TokenKey: "dns", TokenID: "new",
		Value: tokenapi.NewSecret("v"), Pending: targets, ThenRevoke: old}, "")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := j.MarkStored(id, targets[0]); err != nil {
		t.Fatal(err)
	}
	if j.IsRevoking("a", "old") {
		t.Error("old token recorded for deletion while a target lacks the new value")
	}
	if _, err := j.MarkStored(id, targets[1]); err != nil {
		t.Fatal(err)
	}
	if !j.IsRevoking("a", "old") {
		t.Error("old token not recorded for deletion after every target stored the new value")
	}
}

func TestReadJournalIgnoresLockAndRejectsWrites(t *testing.T) {
	dir := t.TempDir()
	j := openTestJournal(t, dir)
	if err := j.AddRevocation(Revocation{Account: "a", TokenID: "old"}); err != nil {
		t.Fatal(err)
	}

	ro, err := ReadJournal(dir)
	if err != nil {
		t.Fatalf("ReadJournal while the daemon holds the lock: %v", err)
	}
	if !ro.IsRevoking("a", "old") {
		t.Error("read-only journal does not show the recorded revocation")
	}
	if err := ro.AddRevocation(Revocation{Account: "a", TokenID: "new"}); err == nil {
		t.Error("read-only journal accepted a change")
	}
	if ro.IsRevoking("a", "new") {
		t.Error("read-only journal kept a change it rejected")
	}
}

func TestReadJournalMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	ro, err := ReadJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Revocations()) != 0 {
		t.Error("empty journal has revocations")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("ReadJournal created the state directory (stat err %v)", err)
	}
}
