package rotator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

// due is a modified_on old enough for the harness policy's max age.
var due = harnessStart.Add(-60 * 24 * time.Hour)

func TestRollStoresInEverySinkKind(t *testing.T) {
	h := newHarness(t)
	tok := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, allTargets("dns")...)
	r := h.start(p)

	rep := r.Sweep(context.Background())

	if !rep.OK() {
		t.Fatalf("sweep not OK: %+v", rep.Tokens[0].Err)
	}
	if got := rep.Tokens[0].Result; got != ResultSuccess {
		t.Errorf("result = %s, want success", got)
	}
	state, _ := h.emu.Emulator.Token(h.emu.AccountID, tok.ID)
	if state.Value == tok.Value {
		t.Error("token value did not change")
	}
	for _, target := range p.Targets {
		st := h.read(target)
		if st.Value.Reveal() != state.Value {
			t.Errorf("target %s does not hold the new value", target)
		}
		if st.TokenID != tok.ID {
			t.Errorf("target %s token id = %s, want %s", target, st.TokenID, tok.ID)
		}
	}
	if rolls := h.countRequests("roll"); rolls != 1 {
		t.Errorf("rolls = %d, want 1", rolls)
	}
	h.checkInvariants(p)
}

func TestRollNotRepeatedBySecondSweep(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, allTargets("dns")...)
	r := h.start(p)
	r.Sweep(context.Background())

	for range 3 {
		h.clock.Advance(time.Hour)
		rep := r.Sweep(context.Background())
		if rep.Tokens[0].Decision.Action != ActionNone {
			t.Errorf("decision after rotation = %s, want ok", rep.Tokens[0].Decision.Action)
		}
	}
	// A restart reads the rotation record from the sinks and the journal.
	r = h.start(p)
	r.Sweep(context.Background())
	if rolls := h.countRequests("roll"); rolls != 1 {
		t.Errorf("rolls = %d, want 1", rolls)
	}
	h.checkInvariants(p)
}

func TestRollExtendsTokenNearExpiry(t *testing.T) {
	h := newHarness(t)
	expires := harnessStart.Add(3 * 24 * time.Hour)
	tok := h.addToken("dns", harnessStart.Add(-24*time.Hour), expires)
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "vault2", Path: "cf/dns"})
	r := h.start(p)

	rep := r.Sweep(context.Background())

	if rep.Tokens[0].Decision.Action != ActionExtendRoll {
		t.Fatalf("action = %s, want extend_then_roll", rep.Tokens[0].Decision.Action)
	}
	state, _ := h.emu.Emulator.Token(h.emu.AccountID, tok.ID)
	if want := harnessStart.Add(p.TTL); !state.ExpiresOn.Equal(want) {
		t.Errorf("expires_on = %v, want %v", state.ExpiresOn, want)
	}
	if len(state.Policies) != 1 || state.Condition == nil || len(state.Condition.RequestIPIn) != 2 {
		t.Errorf("update lost the definition: policies %v, condition %+v", state.Policies, state.Condition)
	}
	if state.Value == tok.Value {
		t.Error("token was extended but not rolled")
	}
	h.checkInvariants(p)
}

func TestRecreateStoresAndRevokesAfterGrace(t *testing.T) {
	h := newHarness(t)
	old := h.addToken("dns", due, harnessStart.Add(60*24*time.Hour))
	p := h.policy("dns", StrategyRecreate, allTargets("dns")...)
	r := h.start(p)

	rep := r.Sweep(context.Background())

	tr := rep.Tokens[0]
	if tr.Result != ResultSuccess {
		t.Fatalf("result = %s (%v), want success", tr.Result, tr.Err)
	}
	created, ok := h.emu.Emulator.Token(h.emu.AccountID, tr.NewTokenID)
	if !ok || tr.NewTokenID == old.ID {
		t.Fatalf("no new token: %s", tr.NewTokenID)
	}
	if created.Name != "dns" || len(created.Policies) != 1 || created.Condition == nil {
		t.Errorf("new token does not copy the old definition: %+v", created)
	}
	if want := harnessStart.Add(p.TTL); !created.ExpiresOn.Equal(want) {
		t.Errorf("new expires_on = %v, want %v", created.ExpiresOn, want)
	}
	for _, target := range p.Targets {
		if st := h.read(target); st.Value.Reveal() != created.Value {
			t.Errorf("target %s does not hold the new token's value", target)
		}
	}
	if _, ok := h.emu.Emulator.Token(h.emu.AccountID, old.ID); !ok {
		t.Error("old token deleted before its grace period")
	}
	if !h.journal.IsRevoking("prod", old.ID) {
		t.Error("old token not recorded for deletion")
	}

	h.clock.Advance(p.GracePeriod)
	rep = r.Sweep(context.Background())
	if _, ok := h.emu.Emulator.Token(h.emu.AccountID, old.ID); ok {
		t.Error("old token still exists after its grace period")
	}
	if rep.RevocationsPending != 0 {
		t.Errorf("pending revocations = %d, want 0", rep.RevocationsPending)
	}
	if rep.Tokens[0].Decision.Action != ActionNone {
		t.Errorf("decision after recreate = %s (%v), want ok", rep.Tokens[0].Decision.Action,
			rep.Tokens[0].Decision.Err)
	}
	if creates := h.countRequests("create"); creates != 1 {
		t.Errorf("creates = %d, want 1", creates)
	}
	h.checkInvariants(p)
}

func TestRecreateReplacesExpiredToken(t *testing.T) {
	h := newHarness(t)
	old := h.addToken("dns", due, harnessStart.Add(-24*time.Hour))
	p := h.policy("dns", StrategyRecreate, TargetRef{Sink: "vault2", Path: "cf/dns"})
	r := h.start(p)

	rep := r.Sweep(context.Background())

	if rep.Tokens[0].Result != ResultSuccess {
		t.Fatalf("result = %s (%v), want success; decision %v", rep.Tokens[0].Result,
			rep.Tokens[0].Err, rep.Tokens[0].Decision.Err)
	}
	if _, ok := h.emu.Emulator.Token(h.emu.AccountID, old.ID); ok {
		t.Error("expired token was not deleted at once")
	}
	h.checkInvariants(p)
}

// Case: the roll succeeds, then Vault returns 503 (sealed) and later 403.
func TestRollSinkFailureKeepsValueInJournal(t *testing.T) {
	h := newHarness(t)
	tok := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "vault2", Path: "cf/dns"},
		TargetRef{Sink: "file", Path: "dns.json", Field: "token"})
	r := h.start(p)
	h.vault.FailWrites(100, 503)

	rep := r.Sweep(context.Background())

	tr := rep.Tokens[0]
	if tr.Result != ResultNotStored {
		t.Fatalf("result = %s (%v), want rotated_not_stored", tr.Result, tr.Err)
	}
	if rep.Unsaved != 1 {
		t.Errorf("unsaved = %d, want 1", rep.Unsaved)
	}
	if !strings.Contains(tr.Err.Error(), "vault2:cf/dns") {
		t.Errorf("error does not name the target: %v", tr.Err)
	}
	state, _ := h.emu.Emulator.Token(h.emu.AccountID, tok.ID)
	held := h.journal.Unsaved()
	if len(held) != 1 || held[0].Value.Reveal() != state.Value {
		t.Fatal("journal does not hold the live value")
	}

	// Still failing, now with 403: the token must not be rolled again.
	h.vault.ClearFaults()
	h.vault.FailWrites(100, 403)
	h.clock.Advance(time.Hour)
	rep = r.Sweep(context.Background())
	if rep.Unsaved != 1 {
		t.Errorf("unsaved after second sweep = %d, want 1", rep.Unsaved)
	}
	if rep.Tokens[0].Decision.ErrKind != ErrUnsavedSecret {
		t.Errorf("decision error = %q, want unsaved_secret", rep.Tokens[0].Decision.ErrKind)
	}

	// A restart replays the value once Vault works again.
	h.vault.ClearFaults()
	r = h.start(p)
	h.clock.Advance(time.Hour)
	rep = r.Sweep(context.Background())
	if rep.Unsaved != 0 || !rep.OK() {
		t.Errorf("after recovery: unsaved %d, ok %v, errors %v", rep.Unsaved, rep.OK(), rep.Errors)
	}
	if rolls := h.countRequests("roll"); rolls != 1 {
		t.Errorf("rolls = %d, want 1", rolls)
	}
	h.checkInvariants(p)
}

func TestPreflightFailureRotatesNothing(t *testing.T) {
	h := newHarness(t)
	tok := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "teams", Path: "cf/dns-token"})
	r := h.start(p)
	h.vault.DenyPath("teams/test/secret/data/cf/dns-token")

	rep := r.Sweep(context.Background())

	tr := rep.Tokens[0]
	if !tr.Failed() {
		t.Fatalf("token did not fail: action %s result %s", tr.Decision.Action, tr.Result)
	}
	if err := tokenError(tr); !strings.Contains(err.Error(), "teams/test/secret/data/cf/dns-token") {
		t.Errorf("error does not name the exact Vault path: %v", err)
	}
	if rolls := h.countRequests("roll"); rolls != 0 {
		t.Errorf("rolls = %d, want 0", rolls)
	}
	state, _ := h.emu.Emulator.Token(h.emu.AccountID, tok.ID)
	if state.Value != tok.Value {
		t.Error("token value changed although the pre-flight check failed")
	}
}

// Case: a KV v2 mount whose path has slashes.
func TestVaultMountWithSlashes(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "teams", Path: "cf/dns-token"})
	r := h.start(p)

	if rep := r.Sweep(context.Background()); !rep.OK() {
		t.Fatalf("sweep failed: %v", rep.Tokens[0].Err)
	}

	var wrote bool
	for _, req := range h.vault.Requests() {
		if req.Operation == "create" || req.Operation == "update" {
			if req.Path == "teams/test/secret/data/cf/dns-token" {
				wrote = true
			}
			if strings.HasPrefix(req.Path, "teams/data") || strings.HasPrefix(req.Path, "data/") {
				t.Errorf("write to %s puts data/ inside the mount path", req.Path)
			}
		}
	}
	if !wrote {
		t.Error("no write to teams/test/secret/data/cf/dns-token")
	}
	h.checkInvariants(p)
}

func TestLostRollReplyRollsAgain(t *testing.T) {
	h := newHarness(t)
	tok := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, allTargets("dns")...)
	r := h.start(p)
	h.emu.Emulator.InjectFault(emulator.Fault{Endpoint: "roll", Times: 1, DropAfterCommit: true})
	h.clock.Advance(time.Second) // so the lost roll moves modified_on

	rep := r.Sweep(context.Background())

	if tr := rep.Tokens[0]; tr.Result != ResultSuccess {
		t.Fatalf("result = %s (%v), want success", tr.Result, tr.Err)
	}
	if rolls := len(requestsTo(h, "roll")); rolls != 2 {
		t.Errorf("roll requests = %d, want 2 (the lost one and its repeat)", rolls)
	}
	_ = tok
	h.checkInvariants(p)
}

func TestLostRollReplyWithoutEffectIsNotRepeated(t *testing.T) {
	h := newHarness(t)
	tok := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, allTargets("dns")...)
	r := h.start(p)
	h.emu.Emulator.InjectFault(emulator.Fault{Endpoint: "roll", Times: 1, Status: 502,
		Body: "<html>bad gateway</html>"})

	rep := r.Sweep(context.Background())

	if tr := rep.Tokens[0]; tr.Result != ResultFailed {
		t.Fatalf("result = %s, want failed", tr.Result)
	}
	state, _ := h.emu.Emulator.Token(h.emu.AccountID, tok.ID)
	if state.Value != tok.Value {
		t.Error("token changed although the roll failed before it committed")
	}
	if n := len(h.journal.InFlight()); n != 0 {
		t.Errorf("in-flight operations = %d, want 0 once resolved", n)
	}

	h.clock.Advance(time.Hour)
	if rep := r.Sweep(context.Background()); !rep.OK() {
		t.Fatalf("retry sweep failed: %v", rep.Tokens[0].Err)
	}
	h.checkInvariants(p)
}

// Case: recreate, the Vault write succeeds, the delete of the old token
// returns 502, and the daemon restarts.
func TestRecreateDeleteFailureIsRetried(t *testing.T) {
	h := newHarness(t)
	old := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRecreate, TargetRef{Sink: "vault2", Path: "cf/dns"})
	p.GracePeriod = 0
	r := h.start(p)
	remove := h.emu.Emulator.InjectFault(emulator.Fault{Endpoint: "delete", Status: 502,
		Body: "<html>bad gateway</html>"})

	rep := r.Sweep(context.Background())

	if got := rep.Tokens[0].Result; got != ResultOldTokenLive {
		t.Errorf("result = %s, want old_token_still_live", got)
	}
	if rep.RevocationsPending != 1 || rep.RevocationsOverdue != 1 {
		t.Errorf("revocations pending %d overdue %d, want 1 and 1", rep.RevocationsPending,
			rep.RevocationsOverdue)
	}
	if rep.OK() {
		t.Error("report OK with an old token still live")
	}

	remove()
	r = h.start(p)
	rep = r.Sweep(context.Background())
	if _, ok := h.emu.Emulator.Token(h.emu.AccountID, old.ID); ok {
		t.Error("old token still exists after the retried delete")
	}
	if rep.RevocationsPending != 0 {
		t.Errorf("pending revocations = %d, want 0", rep.RevocationsPending)
	}
	h.checkInvariants(p)
}

func TestRevocationNotFoundCountsAsDone(t *testing.T) {
	h := newHarness(t)
	old := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRecreate, TargetRef{Sink: "vault2", Path: "cf/dns"})
	r := h.start(p)
	r.Sweep(context.Background())

	// Someone deletes the old token by hand during the grace period.
	if err := h.client.Delete(context.Background(), old.ID); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * p.GracePeriod)
	rep := r.Sweep(context.Background())
	if rep.RevocationsPending != 0 || len(rep.Errors) != 0 {
		t.Errorf("pending %d errors %v, want the 404 to count as done", rep.RevocationsPending, rep.Errors)
	}
	h.checkInvariants(p)
}

func TestLostCreateReplyLeavesNoOrphan(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRecreate, allTargets("dns")...)
	r := h.start(p)
	h.emu.Emulator.InjectFault(emulator.Fault{Endpoint: "create", Times: 1, DropAfterCommit: true})

	rep := r.Sweep(context.Background())

	if tr := rep.Tokens[0]; tr.Result != ResultSuccess {
		t.Fatalf("result = %s (%v), want success", tr.Result, tr.Err)
	}
	if n := len(h.managedTokens()); n != 2 {
		t.Errorf("tokens = %d, want 2 (the new one and the old one in its grace period)", n)
	}
	h.checkInvariants(p)
}

func TestRecreateVerifyFailureKeepsOldToken(t *testing.T) {
	h := newHarness(t)
	old := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRecreate, TargetRef{Sink: "vault2", Path: "cf/dns"})
	r := h.start(p)
	r.Sweep(context.Background()) // store the first value so the target exists
	h.clock.Advance(p.GracePeriod)
	r.Sweep(context.Background())
	before := h.read(p.Targets[0])

	h.emu.Emulator.InjectFault(emulator.Fault{Endpoint: "verify", Status: 401,
		Errors: []emulator.ErrorInfo{{Code: 1000, Message: "Invalid API Token"}}})
	h.clock.Advance(p.MaxAge)
	rep := r.Sweep(context.Background())

	tr := rep.Tokens[0]
	if tr.Result != ResultFailed || !strings.Contains(tr.Err.Error(), "does not verify") {
		t.Fatalf("result = %s (%v), want failed verification", tr.Result, tr.Err)
	}
	if _, ok := h.emu.Emulator.Token(h.emu.AccountID, tr.NewTokenID); ok {
		t.Error("unverified new token was not deleted")
	}
	after := h.read(p.Targets[0])
	if after.TokenID != before.TokenID || !after.Value.Equal(before.Value) {
		t.Error("target changed although the new token was discarded")
	}
	_ = old
	if n := len(h.managedTokens()); n != 1 {
		t.Errorf("tokens = %d, want only the kept one", n)
	}
}

func TestRecreateStoreFailureDeletesNewToken(t *testing.T) {
	h := newHarness(t)
	old := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRecreate, TargetRef{Sink: "vault2", Path: "cf/dns"})
	r := h.start(p)
	h.vault.FailWrites(100, 403)

	rep := r.Sweep(context.Background())

	tr := rep.Tokens[0]
	if tr.Result != ResultFailed {
		t.Fatalf("result = %s (%v), want failed", tr.Result, tr.Err)
	}
	if _, ok := h.emu.Emulator.Token(h.emu.AccountID, tr.NewTokenID); ok {
		t.Error("new token that could not be stored was not deleted")
	}
	if _, ok := h.emu.Emulator.Token(h.emu.AccountID, old.ID); !ok {
		t.Error("old token was deleted although the new one was not stored")
	}
	if rep.Unsaved != 0 {
		t.Errorf("unsaved = %d, want 0: the discarded value is useless", rep.Unsaved)
	}
	if h.journal.IsRevoking("prod", old.ID) {
		t.Error("old token recorded for deletion although it was kept")
	}
}

func TestPlanChangesNothing(t *testing.T) {
	h := newHarness(t)
	tok := h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, allTargets("dns")...)
	r := h.start(p)

	rep := r.Plan(context.Background())

	if rep.Pending() != 1 || rep.Tokens[0].Decision.Action != ActionRotate {
		t.Errorf("plan = %+v, want one rotation pending", rep.Tokens[0].Decision)
	}
	for _, req := range h.emu.Emulator.Requests() {
		if req.Method != "GET" {
			t.Errorf("plan sent %s %s", req.Method, req.Path)
		}
	}
	for _, req := range h.vault.Requests() {
		if req.Operation != "read" && req.Operation != "list" {
			t.Errorf("plan sent %s %s to Vault", req.Operation, req.Path)
		}
	}
	state, _ := h.emu.Emulator.Token(h.emu.AccountID, tok.ID)
	if state.Value != tok.Value {
		t.Error("plan changed the token")
	}
}

func TestRotateForcesHealthyToken(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", harnessStart.Add(-time.Hour), time.Time{})
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "vault2", Path: "cf/dns"})
	r := h.start(p)

	rep, err := r.Rotate(context.Background(), "dns", false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tokens[0].Decision.Due() {
		t.Error("healthy token rotated without force")
	}
	rep, err = r.Rotate(context.Background(), "dns", true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tokens[0].Result != ResultSuccess {
		t.Errorf("forced rotation result = %s (%v)", rep.Tokens[0].Result, rep.Tokens[0].Err)
	}
	if _, err := r.Rotate(context.Background(), "nope", true); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("unknown token error = %v, want ErrUnknownToken", err)
	}
	h.checkInvariants(p)
}

func requestsTo(h *harness, endpoint string) []emulator.Request {
	var out []emulator.Request
	for _, req := range h.emu.Emulator.Requests() {
		if req.Endpoint == endpoint {
			out = append(out, req)
		}
	}
	return out
}

// tokenError returns the decision error or, failing that, the action error.
func tokenError(tr TokenReport) error {
	if tr.Decision.Err != nil {
		return tr.Decision.Err
	}
	return tr.Err
}

func TestRotateSelectsAccountScopedKey(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", harnessStart.Add(-time.Hour), time.Time{})
	prod := h.policy("dns", StrategyRoll, TargetRef{Sink: "vault2", Path: "cf/dns"})
	staging := h.policy("dns", StrategyRoll, TargetRef{Sink: "file", Path: "dns.json", Field: "token"})
	staging.Account = "staging"
	h.start(prod)
	r, err := New(Options{
		Accounts: []*Account{{Name: "prod", Client: h.client}, {Name: "staging", Client: h.client}},
		Policies: []*Policy{prod, staging}, Sinks: h.sinks, Journal: h.journal,
		Now: h.clock.Now, Sleep: h.sleep,
	})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := r.Rotate(context.Background(), "dns", true); !errors.Is(err, ErrAmbiguousToken) {
		t.Errorf("key in two accounts: error %v, want ErrAmbiguousToken", err)
	} else if !strings.Contains(err.Error(), "prod/dns, staging/dns") {
		t.Errorf("ambiguity error does not list the candidates: %v", err)
	}
	if rolls := h.countRequests("roll"); rolls != 0 {
		t.Errorf("rolls after an ambiguous request = %d, want 0", rolls)
	}

	rep, err := r.Rotate(context.Background(), "prod/dns", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tokens) != 1 || rep.Tokens[0].Decision.Policy != prod {
		t.Fatalf("prod/dns rotated %d entries, want only the prod one", len(rep.Tokens))
	}
	if _, err := r.Rotate(context.Background(), "qa/dns", true); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("unknown account: error %v, want ErrUnknownToken", err)
	}
}

func TestEmptyTargetAfterRotationIsFilledAgain(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "vault2", Path: "cf/dns"},
		TargetRef{Sink: "file", Path: "dns.json", Field: "token"})
	r := h.start(p)
	r.Sweep(context.Background())

	// A file under /run is gone after a reboot; no one else has the value.
	if err := os.Remove(filepath.Join(h.fileDir, "dns.json")); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	rep := r.Sweep(context.Background())

	tr := rep.Tokens[0]
	if tr.Result != ResultSuccess || !slices.Equal(tr.Decision.Reasons, []Reason{ReasonTargetEmpty}) {
		t.Fatalf("result %s reasons %v, want a rotation for the empty target", tr.Result, tr.Decision.Reasons)
	}
	if rolls := h.countRequests("roll"); rolls != 2 {
		t.Errorf("rolls = %d, want 2", rolls)
	}
	h.checkInvariants(p)
}

func TestEmptyTargetWithoutEarlierRotationIsLeftAlone(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", harnessStart.Add(-time.Hour), time.Time{})
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "file", Path: "dns.json", Field: "token"})
	r := h.start(p)

	// The daemon never stored this token, so consumers may use the current
	// value from elsewhere: rolling it now would break them.
	rep := r.Sweep(context.Background())
	if rep.Tokens[0].Decision.Due() {
		t.Errorf("decision = %s, want no rotation of a token the daemon never stored",
			rep.Tokens[0].Decision.Action)
	}
}

func TestRollFailureAfterExtendStaysDue(t *testing.T) {
	h := newHarness(t)
	tok := h.addToken("dns", harnessStart.Add(-24*time.Hour), harnessStart.Add(3*24*time.Hour))
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "file", Path: "dns.json", Field: "token"})
	r := h.start(p)
	remove := h.emu.Emulator.InjectFault(emulator.Fault{Endpoint: "roll", Status: 403,
		Errors: []emulator.ErrorInfo{{Code: 10000, Message: "Authentication error"}}})

	rep := r.Sweep(context.Background())
	if rep.Tokens[0].Result != ResultFailed {
		t.Fatalf("result = %s, want failed", rep.Tokens[0].Result)
	}
	state, _ := h.emu.Emulator.Token(h.emu.AccountID, tok.ID)
	if state.ExpiresOn.Equal(harnessStart.Add(3 * 24 * time.Hour)) {
		t.Fatal("the expiry was not extended before the roll")
	}

	// The extension makes the token look fresh, yet it still owes its roll.
	remove()
	h.clock.Advance(time.Hour)
	rep = r.Sweep(context.Background())
	tr := rep.Tokens[0]
	if tr.Result != ResultSuccess || !slices.Contains(tr.Decision.Reasons, ReasonRollOwed) {
		t.Fatalf("second sweep: result %s reasons %v, want the owed roll", tr.Result, tr.Decision.Reasons)
	}
	h.clock.Advance(time.Hour)
	if rep := r.Sweep(context.Background()); rep.Tokens[0].Decision.Due() {
		t.Error("the token is still due after its owed roll")
	}
	h.checkInvariants(p)
}

func TestEmptiedTargetIsFilledAgain(t *testing.T) {
	h := newHarness(t)
	h.addToken("dns", due, time.Time{})
	p := h.policy("dns", StrategyRoll, TargetRef{Sink: "file", Path: "dns.json", Field: "token"})
	r := h.start(p)
	r.Sweep(context.Background())

	// The file is still there, but its field is gone.
	if err := os.WriteFile(filepath.Join(h.fileDir, "dns.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	rep := r.Sweep(context.Background())

	if tr := rep.Tokens[0]; !slices.Contains(tr.Decision.Reasons, ReasonTargetEmpty) {
		t.Fatalf("reasons = %v, want the empty target", tr.Decision.Reasons)
	}
	h.checkInvariants(p)
}

func TestRotateKeyWithSlashIsAmbiguous(t *testing.T) {
	h := newHarness(t)
	h.addToken("fresh", harnessStart.Add(-time.Hour), time.Time{})
	h.addToken("prod/fresh", harnessStart.Add(-time.Hour), time.Time{})
	plain := h.policy("fresh", StrategyRoll, TargetRef{Sink: "file", Path: "a.json", Field: "token"})
	slashed := h.policy("prod/fresh", StrategyRoll, TargetRef{Sink: "file", Path: "b.json", Field: "token"})
	r := h.start(plain, slashed)

	if _, err := r.Rotate(context.Background(), "prod/fresh", true); !errors.Is(err, ErrAmbiguousToken) {
		t.Errorf("error = %v, want ErrAmbiguousToken for a name that also reads as ACCOUNT/NAME", err)
	}
	rep, err := r.Rotate(context.Background(), "prod/prod/fresh", true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tokens[0].Decision.Policy != slashed {
		t.Errorf("prod/prod/fresh rotated %s, want the token named prod/fresh", rep.Tokens[0].Decision.Policy.Key)
	}
}
