package rotator

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/sinks"
	"github.com/tokenrotator/tokenrotator/tokenapi"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

// The fault matrix runs every rotation strategy against every kind of
// target, with one fault at each step a rotation takes. The faults are
// Cloudflare API errors on each endpoint, replies lost after the change took
// effect, sink failures before and during the rotation, and a process stop
// at each crash point. After the fault the test clears it, restarts from the
// same state directory, sweeps until nothing is owed and checks the
// invariants.

// fmToken is the name of the managed token in every matrix case.
const fmToken = "dns"

// fmFileDir is the subdirectory of the file sink the matrix's file target
// lives in, so a case can break it.
const fmFileDir = "ft"

// fmSweeps bounds the sweeps a case may take to recover.
const fmSweeps = 5

// fmSinkKind is a set of targets the managed token is written to.
type fmSinkKind struct {
	name    string
	targets []TargetRef
}

func (k fmSinkKind) has(sink string) bool {
	return slices.ContainsFunc(k.targets, func(t TargetRef) bool { return t.Sink == sink })
}

var (
	fmVault2 = TargetRef{Sink: "vault2", Path: "cf/" + fmToken}
	fmVault1 = TargetRef{Sink: "vault1", Path: "cf/" + fmToken}
	fmFile   = TargetRef{Sink: "file", Path: fmFileDir + "/" + fmToken + ".json", Field: "token"}
)

var fmSinkKinds = []fmSinkKind{
	{name: "kv2", targets: []TargetRef{fmVault2}},
	{name: "kv1", targets: []TargetRef{fmVault1}},
	{name: "file", targets: []TargetRef{fmFile}},
	{name: "all", targets: []TargetRef{fmVault2, fmVault1, fmFile}},
}

// fmEnv is the state of one matrix case: the harness, the policy and the
// token.
type fmEnv struct {
	h     *harness
	kind  fmSinkKind
	p     *Policy
	first emulator.Issued
	// onStep, when set by a fault, runs at every step of the faulty sweep.
	onStep func(point string)
}

// fmCase is one fault. arm switches the fault on and returns the function
// that switches it off.
type fmCase struct {
	name string
	// only limits the case to one strategy. Empty means both.
	only Strategy
	// needs lists the sinks the case breaks, so the case runs only for
	// target sets that include one of them. Empty means every set.
	needs []string
	// expiring seeds a token inside renew_before, so roll extends it.
	expiring bool
	// noGrace sets the grace period to zero, so the old token of a
	// recreate is deleted in the same sweep.
	noGrace bool

	// arm switches the fault on. With at set, it runs when the sweep
	// reaches that step, otherwise before the sweep.
	arm func(e *fmEnv) (clear func())
	at  string
	// crash stops the faulty sweep at this point, as a killed process.
	crash string
	// afterRestart switches a second fault on for the first sweep after
	// the restart.
	afterRestart func(e *fmEnv) (clear func())

	// want lists the accepted results of the faulty sweep's token. With
	// wantKind set, the decision must fail with that kind instead.
	want     []Result
	wantKind ErrorKind
	// wantErr is a text the faulty sweep's error must contain.
	wantErr string
	// wantOK is set when the sweep itself recovers from the fault.
	wantOK bool
	// commits is the maximum number of roll or create requests that take
	// effect, and 0 means 1. lostCommits counts the ones whose reply was
	// an injected error, which the request log does not show as a success.
	commits     int
	lostCommits int
	// discards is how many new tokens a recreate may make and delete
	// again because they could not be verified or stored anywhere.
	discards int
}

// apiFault is one kind of failed Cloudflare reply.
type apiFault struct {
	name    string
	fault   emulator.Fault
	wantErr string
}

var apiFaults = []apiFault{
	{name: "html502", fault: emulator.Fault{Status: 502, Body: "<html>502 Bad Gateway</html>"},
		wantErr: "502"},
	{name: "json500", fault: emulator.Fault{Status: 500,
		Errors: []emulator.ErrorInfo{{Code: 10002, Message: "internal error"}}}, wantErr: "500"},
	{name: "429", fault: emulator.Fault{Status: 429, RetryAfter: "30"}, wantErr: "429"},
	{name: "success_false", fault: emulator.Fault{SuccessFalse: true,
		Errors: []emulator.ErrorInfo{{Code: 1000, Message: "Invalid API Token"}}},
		wantErr: "code 1000"},
}

// inject returns an arm function that adds the fault f on endpoint until
// it is cleared.
func inject(endpoint string, f emulator.Fault) func(e *fmEnv) func() {
	return func(e *fmEnv) func() {
		f.Endpoint = endpoint
		return e.h.emu.Emulator.InjectFault(f)
	}
}

// both arms two faults at once.
func both(a, b func(e *fmEnv) func()) func(e *fmEnv) func() {
	return func(e *fmEnv) func() {
		clearA, clearB := a(e), b(e)
		return func() { clearA(); clearB() }
	}
}

// armAt returns an arm function that switches the fault on when the sweep
// reaches point, and a clear function that switches it off if it was on.
func armAt(point string, arm func(e *fmEnv) func()) func(e *fmEnv) func() {
	return func(e *fmEnv) func() {
		var clear func()
		e.onStep = func(p string) {
			if p == point && clear == nil {
				clear = arm(e)
			}
		}
		return func() {
			if clear != nil {
				clear()
			}
		}
	}
}

// breakFileDir replaces the file target's directory by a plain file, so
// nothing can be written there, and returns the function that puts the
// directory back. Permission bits alone do not stop root.
func breakFileDir(e *fmEnv) func() {
	dir := filepath.Join(e.h.fileDir, fmFileDir)
	aside := dir + ".aside"
	if err := os.Rename(dir, aside); err != nil {
		e.h.t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory\n"), 0o600); err != nil {
		e.h.t.Fatal(err)
	}
	return func() {
		if err := os.Remove(dir); err != nil {
			e.h.t.Fatal(err)
		}
		if err := os.Rename(aside, dir); err != nil {
			e.h.t.Fatal(err)
		}
	}
}

// denyVault denies every Vault path of the token's targets.
func denyVault(e *fmEnv) func() {
	e.h.vault.DenyPath("secret/data/cf/" + fmToken)
	e.h.vault.DenyPath("secret/metadata/cf/" + fmToken)
	e.h.vault.DenyPath("kv1/cf/" + fmToken)
	return e.h.vault.ClearFaults
}

func sealVault(e *fmEnv) func() {
	e.h.vault.Seal()
	return e.h.vault.ClearFaults
}

func failVaultWrites(status int) func(e *fmEnv) func() {
	return func(e *fmEnv) func() {
		e.h.vault.FailWrites(1000, status)
		return e.h.vault.ClearFaults
	}
}

// deleteNewToken deletes every managed token but the first, as a person
// cleaning up by hand would.
func deleteNewToken(e *fmEnv) func() {
	for _, tok := range e.h.managedTokens() {
		if tok.ID == e.first.ID {
			continue
		}
		if err := e.h.client.Delete(context.Background(), tok.ID); err != nil {
			e.h.t.Fatal(err)
		}
	}
	return func() {}
}

// fmCases builds the matrix rows. Each runs for every strategy and target
// set it applies to.
func fmCases() []fmCase {
	var cases []fmCase
	apiResults := []Result{ResultFailed}

	for _, f := range apiFaults {
		cases = append(cases,
			fmCase{name: "list/" + f.name, arm: inject("list", f.fault),
				wantKind: ErrAPI, wantErr: f.wantErr},
			fmCase{name: "update/" + f.name, only: StrategyRoll, expiring: true,
				arm: inject("update", f.fault), want: apiResults, wantErr: f.wantErr},
			fmCase{name: "roll/" + f.name, only: StrategyRoll,
				arm: inject("roll", f.fault), want: apiResults, wantErr: f.wantErr},
			fmCase{name: "create/" + f.name, only: StrategyRecreate,
				arm: inject("create", f.fault), want: apiResults, wantErr: f.wantErr},
			fmCase{name: "verify/" + f.name, arm: inject("verify", f.fault),
				want: apiResults, wantErr: f.wantErr, discards: 1},
			fmCase{name: "delete/" + f.name, only: StrategyRecreate, noGrace: true,
				arm: inject("delete", f.fault), want: []Result{ResultOldTokenLive},
				wantErr: f.wantErr},
			// The token is read back by id only after a lost roll.
			fmCase{name: "details_after_lost_roll/" + f.name, only: StrategyRoll,
				arm: both(inject("roll", emulator.Fault{Times: 1, DropAfterCommit: true}),
					inject("details", f.fault)),
				want: apiResults, wantErr: f.wantErr, commits: 2},
			// A lost create is resolved by listing the account again. The
			// list fault starts once the create is under way, so the
			// sweep's first listing works.
			fmCase{name: "list_after_lost_create/" + f.name, only: StrategyRecreate,
				arm: both(inject("create", emulator.Fault{Times: 1, DropAfterCommit: true}),
					armAt("create.begun", inject("list", f.fault))),
				want: apiResults, wantErr: f.wantErr, commits: 2},
		)
	}

	cases = append(cases,
		fmCase{name: "lost_roll/drop", only: StrategyRoll,
			arm:    inject("roll", emulator.Fault{Times: 1, DropAfterCommit: true}),
			wantOK: true, want: []Result{ResultSuccess}, commits: 2},
		fmCase{name: "lost_roll/after_commit_502", only: StrategyRoll,
			arm: inject("roll", emulator.Fault{Times: 1, AfterCommit: true, Status: 502,
				Body: "<html>502 Bad Gateway</html>"}),
			wantOK: true, want: []Result{ResultSuccess}, commits: 2, lostCommits: 1},
		fmCase{name: "lost_roll/twice", only: StrategyRoll,
			arm: inject("roll", emulator.Fault{Times: 2, AfterCommit: true, Status: 504,
				Body: "<html>504 Gateway Timeout</html>"}),
			want: []Result{ResultFailed}, wantErr: "was lost", commits: 3, lostCommits: 2},
		fmCase{name: "lost_roll/twice_after_extend", only: StrategyRoll, expiring: true,
			arm: inject("roll", emulator.Fault{Times: 2, AfterCommit: true, Status: 504,
				Body: "<html>504 Gateway Timeout</html>"}),
			want: []Result{ResultFailed}, wantErr: "was lost", commits: 3, lostCommits: 2},
		fmCase{name: "lost_update/after_commit_502", only: StrategyRoll, expiring: true,
			arm: inject("update", emulator.Fault{Times: 1, AfterCommit: true, Status: 502,
				Body: "<html>502 Bad Gateway</html>"}),
			wantOK: true, want: []Result{ResultSuccess}},
		fmCase{name: "lost_delete/drop", only: StrategyRecreate, noGrace: true,
			arm:    inject("delete", emulator.Fault{Times: 1, DropAfterCommit: true}),
			wantOK: true, want: []Result{ResultSuccess}},
		// The unverified new token cannot be deleted either, so it stays
		// recorded for deletion until a later sweep deletes it.
		fmCase{name: "verify_then_delete_fail", only: StrategyRecreate,
			arm:  both(inject("verify", apiFaults[0].fault), inject("delete", apiFaults[1].fault)),
			want: []Result{ResultFailed}, wantErr: "502", discards: 1},
		fmCase{name: "lost_create/drop", only: StrategyRecreate,
			arm:    inject("create", emulator.Fault{Times: 1, DropAfterCommit: true}),
			wantOK: true, want: []Result{ResultSuccess}, commits: 2},
		fmCase{name: "lost_create/after_commit_500", only: StrategyRecreate,
			arm:    inject("create", emulator.Fault{Times: 1, AfterCommit: true, Status: 500}),
			wantOK: true, want: []Result{ResultSuccess}, commits: 2, lostCommits: 1},
		fmCase{name: "lost_create/twice", only: StrategyRecreate,
			arm: inject("create", emulator.Fault{Times: 2, AfterCommit: true, Status: 502,
				Body: "<html>502 Bad Gateway</html>"}),
			want: []Result{ResultFailed}, wantErr: "was lost", commits: 3, lostCommits: 2},
	)

	vault := []string{"vault2", "vault1"}
	notStored := []Result{ResultNotStored, ResultFailed}
	cases = append(cases,
		fmCase{name: "vault_writes_503", needs: vault, arm: failVaultWrites(503),
			want: notStored, wantErr: "503", discards: 1},
		fmCase{name: "vault_writes_403", needs: vault, arm: failVaultWrites(403),
			want: notStored, wantErr: "permission denied", discards: 1},
		fmCase{name: "vault_sealed/before", needs: vault, arm: sealVault,
			wantKind: ErrSink, wantErr: "sealed"},
		fmCase{name: "vault_denied/before", needs: vault, arm: denyVault,
			wantKind: ErrSink, wantErr: "permission denied"},
		fmCase{name: "file_dir_broken/before", needs: []string{"file"}, arm: breakFileDir,
			wantKind: ErrSink, wantErr: fmFileDir},
	)
	for _, at := range []string{"roll.held", "create.verified"} {
		only := StrategyRoll
		if at == "create.verified" {
			only = StrategyRecreate
		}
		cases = append(cases,
			fmCase{name: "vault_sealed/at_" + at, only: only, needs: vault, arm: sealVault,
				at: at, discards: 1, want: notStored, wantErr: "sealed"},
			fmCase{name: "vault_denied/at_" + at, only: only, needs: vault, arm: denyVault,
				at: at, discards: 1, want: notStored, wantErr: "permission denied"},
			fmCase{name: "file_dir_broken/at_" + at, only: only, needs: []string{"file"},
				arm: breakFileDir, at: at, discards: 1, want: notStored, wantErr: fmFileDir},
		)
	}

	// A held value that verify rejects once must not be dropped while its
	// token is unchanged: it is the token's only live value.
	rejected := emulator.Fault{Status: 401,
		Errors: []emulator.ErrorInfo{{Code: 1000, Message: "Invalid API Token"}}}
	for _, point := range []string{"roll.held", "create.held"} {
		only := StrategyRoll
		if point == "create.held" {
			only = StrategyRecreate
		}
		cases = append(cases,
			fmCase{name: "held_value_rejected_once/" + point, only: only, crash: point,
				afterRestart: inject("verify", rejected)},
			fmCase{name: "held_value_rejected_once/expiring/" + point, only: only, crash: point,
				expiring: true, afterRestart: inject("verify", rejected)},
		)
	}

	cases = append(cases, fmCase{name: "held_value_token_deleted/create.held",
		only: StrategyRecreate, crash: "create.held", afterRestart: deleteNewToken, commits: 2})

	for _, point := range []string{"roll.begun", "roll.rolled", "roll.held", "target.written",
		"roll.stored"} {
		c := fmCase{name: "crash/" + point, only: StrategyRoll, crash: point}
		if point == "roll.rolled" {
			c.commits = 2 // the value of the first roll died with the process
		}
		cases = append(cases, c)
	}
	for _, point := range []string{"create.begun", "create.created", "create.held",
		"create.verified", "target.written", "revoke.recorded"} {
		c := fmCase{name: "crash/" + point, only: StrategyRecreate, crash: point}
		if point == "create.created" {
			c.commits = 2 // the first token is found and deleted
		}
		cases = append(cases, c)
	}
	return cases
}

func TestFaultMatrix(t *testing.T) {
	for _, strategy := range []Strategy{StrategyRoll, StrategyRecreate} {
		for _, kind := range fmSinkKinds {
			for _, c := range fmCases() {
				if c.only != "" && c.only != strategy {
					continue
				}
				if len(c.needs) > 0 && !slices.ContainsFunc(c.needs, kind.has) {
					continue
				}
				t.Run(string(strategy)+"/"+kind.name+"/"+c.name, func(t *testing.T) {
					t.Parallel()
					runFaultCase(t, strategy, kind, c)
				})
			}
		}
	}
}

// newFaultEnv seeds the token and stores its current value in every
// target, as a daemon that rotated it 60 days ago would have left it.
func newFaultEnv(t *testing.T, strategy Strategy, kind fmSinkKind, c fmCase) *fmEnv {
	h := newHarness(t)
	if err := os.Mkdir(filepath.Join(h.fileDir, fmFileDir), 0o700); err != nil {
		t.Fatal(err)
	}
	e := &fmEnv{h: h, kind: kind, p: h.policy(fmToken, strategy, kind.targets...)}
	if c.noGrace {
		e.p.GracePeriod = 0
	}

	modified, expires := due, time.Time{}
	if c.expiring {
		modified, expires = harnessStart.Add(-24*time.Hour), harnessStart.Add(3*24*time.Hour)
	}
	e.first = h.addToken(fmToken, modified, expires)
	rec := sinks.Record{
		AccountID: h.emu.AccountID, TokenID: e.first.ID, TokenName: fmToken,
		Value: tokenapi.NewSecret(e.first.Value), RotatedAt: modified,
	}
	if !expires.IsZero() {
		rec.ExpiresOn = &expires
	}
	for _, target := range kind.targets {
		tgt := sinks.Target{Path: target.Path, Field: target.Field}
		if _, err := h.sinks[target.Sink].Write(context.Background(), tgt, rec, sinks.Stored{}); err != nil {
			t.Fatalf("seed %s: %v", target, err)
		}
	}
	return e
}

func runFaultCase(t *testing.T, strategy Strategy, kind fmSinkKind, c fmCase) {
	e := newFaultEnv(t, strategy, kind, c)
	h := e.h
	ctx := context.Background()
	r := h.start(e.p)

	var clear func()
	armed := false
	hook := func(point string) {
		if e.onStep != nil {
			e.onStep(point)
		}
		if c.arm != nil && c.at == point && !armed {
			armed = true
			clear = c.arm(e)
		}
	}
	if c.arm != nil && c.at == "" {
		armed = true
		clear = c.arm(e)
	}

	if c.crash != "" {
		crashed := false
		for i := 0; i < 3 && !crashed; i++ {
			crashed = sweepUntilWith(h, r, c.crash, hook)
			h.clock.Advance(e.p.GracePeriod + time.Minute)
		}
		if !crashed {
			t.Fatalf("the sweeps never reached crash point %s", c.crash)
		}
	} else {
		r.crashPoint = hook
		rep := r.Sweep(ctx)
		r.crashPoint = nil
		checkFaultySweep(t, e, c, rep)
	}
	if c.at != "" && !armed {
		t.Fatalf("the sweep never reached step %s to arm the fault", c.at)
	}
	if clear != nil {
		clear()
	}
	e.onStep = nil

	r = h.start(e.p)
	settled := false
	var reports []*Report
	for i := 0; i < fmSweeps && !settled; i++ {
		h.clock.Advance(e.p.GracePeriod + time.Minute)
		clearSecond := func() {}
		if i == 0 && c.afterRestart != nil {
			clearSecond = c.afterRestart(e)
		}
		rep := r.Sweep(ctx)
		clearSecond()
		reports = append(reports, rep)
		settled = isSettled(h, rep)
	}
	if !settled {
		last := reports[len(reports)-1]
		t.Fatalf("still owing after %d sweeps: ok %v, unsaved %d, revocations %d, in flight %d, "+
			"token %s\nrequests:\n%s", fmSweeps, last.OK(), last.Unsaved, last.RevocationsPending,
			len(h.journal.InFlight()), describeToken(last), h.dump())
	}

	h.checkInvariants(e.p)
	checkRotatedOnce(t, e, c)
}

// checkFaultySweep asserts that the sweep with the fault reports it.
func checkFaultySweep(t *testing.T, e *fmEnv, c fmCase, rep *Report) {
	t.Helper()
	if len(rep.Tokens) != 1 {
		t.Fatalf("report has %d tokens, want 1", len(rep.Tokens))
	}
	tr := rep.Tokens[0]
	if rep.OK() != c.wantOK {
		t.Errorf("faulty sweep OK() = %v, want %v; token %s", rep.OK(), c.wantOK, describeToken(rep))
	}
	err := tokenError(tr)
	switch {
	case c.wantKind != "":
		if tr.Decision.ErrKind != c.wantKind {
			t.Errorf("decision error kind = %q, want %q; token %s", tr.Decision.ErrKind,
				c.wantKind, describeToken(rep))
		}
	case !slices.Contains(c.want, tr.Result):
		t.Errorf("result = %q, want one of %v; token %s", tr.Result, c.want, describeToken(rep))
	}
	if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
		t.Errorf("error does not name the failure %q: %v", c.wantErr, err)
	}
	if !c.wantOK && err != nil && !strings.Contains(err.Error(), e.first.ID) &&
		!strings.Contains(err.Error(), "target") && !strings.Contains(err.Error(), "list tokens") {
		t.Errorf("error names neither the token, a target nor the listing: %v", err)
	}
}

// isSettled reports whether a sweep left nothing owed and decided that no
// token is due.
func isSettled(h *harness, rep *Report) bool {
	if !rep.OK() || rep.Unsaved != 0 || rep.RevocationsPending != 0 || len(h.journal.InFlight()) != 0 {
		return false
	}
	for _, tr := range rep.Tokens {
		if tr.Decision.Action != ActionNone {
			return false
		}
	}
	return true
}

// checkRotatedOnce asserts that the due token got exactly one new live
// value, that no more rolls or creates took effect than the case allows,
// and that no token is left over.
func checkRotatedOnce(t *testing.T, e *fmEnv, c fmCase) {
	t.Helper()
	h := e.h
	endpoint := "roll"
	if e.p.Strategy == StrategyRecreate {
		endpoint = "create"
	}
	limit := max(c.commits, 1)
	if e.p.Strategy == StrategyRecreate {
		limit += c.discards
	}
	if n := committed(h, endpoint) + c.lostCommits; n > limit {
		t.Errorf("%s requests that took effect = %d, want at most %d\n%s", endpoint, n, limit, h.dump())
	}

	tokens := h.managedTokens()
	if len(tokens) != 1 {
		t.Fatalf("managed tokens = %d, want 1 once every revocation is done", len(tokens))
	}
	tok := tokens[0]
	if tok.Value == e.first.Value {
		t.Error("the due token was never rotated")
	}
	if e.p.Strategy == StrategyRoll && tok.ID != e.first.ID {
		t.Errorf("roll left token %s, want %s", tok.ID, e.first.ID)
	}
	if e.p.Strategy == StrategyRecreate && tok.ID == e.first.ID {
		t.Error("recreate kept the old token")
	}
}

// describeToken summarizes a report's token for failure messages.
func describeToken(rep *Report) string {
	if len(rep.Tokens) == 0 {
		return "(none)"
	}
	tr := rep.Tokens[0]
	var b strings.Builder
	b.WriteString("action " + string(tr.Decision.Action) + " result " + string(tr.Result))
	if err := tokenError(tr); err != nil {
		b.WriteString(": " + err.Error())
	}
	for _, e := range rep.Errors {
		b.WriteString("; sweep error: " + e.Error())
	}
	for _, r := range rep.Replayed {
		b.WriteString("; replay " + r.What + " " + string(r.Result))
		if r.Err != nil {
			b.WriteString(": " + r.Err.Error())
		}
	}
	return b.String()
}

// sweepUntilWith is harness.sweepUntil with a hook that runs at every step
// before the stop.
func sweepUntilWith(h *harness, r *Rotator, point string, hook func(string)) bool {
	r.crashPoint = func(p string) {
		hook(p)
		if p == point {
			panic(errCrash{p})
		}
	}
	crashed := false
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(errCrash); !ok {
					panic(v)
				}
				crashed = true
			}
		}()
		r.Sweep(context.Background())
	}()
	r.crashPoint = nil
	return crashed
}

// committed counts the requests to endpoint that took effect and whose
// reply was a success or was dropped. An injected success:false reply
// took no effect.
func committed(h *harness, endpoint string) int {
	n := 0
	for _, req := range h.emu.Emulator.Requests() {
		if req.Endpoint == endpoint && req.Status < 300 && (!req.Fault || req.Dropped) {
			n++
		}
	}
	return n
}
