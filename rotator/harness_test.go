package rotator

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/vaulttest"
	"github.com/tokenrotator/tokenrotator/sinks"
	"github.com/tokenrotator/tokenrotator/tokenapi"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator/emulatortest"
)

// dnsReadGroup is a permission group of the emulator's catalogue.
const dnsReadGroup = "82e64a83756745bbbb1c9c2701bf816b"

// harnessStart is the clock's start: a fixed instant, so runs repeat.
var harnessStart = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// harness is the real parts a rotation touches: the Cloudflare emulator,
// the Vault test server with a KV v2, a KV v1 and a slash-mount, a file
// sink, and a state directory, all on one manual clock. Waits advance the
// clock instead of sleeping.
type harness struct {
	t        testing.TB
	clock    *vaulttest.ManualClock
	emu      *emulatortest.Env
	vault    *vaulttest.Server
	sinks    map[string]sinks.Sink
	fileDir  string
	stateDir string
	client   *tokenapi.Client
	logs     *syncBuffer

	journal *Journal
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of the Vault
// lifetime watcher's logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, clock: vaulttest.NewManualClock(harnessStart), logs: &syncBuffer{}}
	h.emu = emulatortest.Start(t, emulator.Options{Now: h.clock.Now})
	h.vault = vaulttest.Start(t, vaulttest.Options{Now: h.clock.Now})
	h.vault.MountKV("secret", 2)
	h.vault.MountKV("kv1", 1)
	h.vault.MountKV("teams/test/secret", 2)

	tokenFile := filepath.Join(t.TempDir(), "vault-token")
	if err := os.WriteFile(tokenFile, []byte(h.vault.RootToken()), 0o600); err != nil {
		t.Fatal(err)
	}
	h.sinks = map[string]sinks.Sink{}
	for name, mount := range map[string]string{"vault2": "secret", "vault1": "kv1", "teams": "teams/test/secret"} {
		s, err := sinks.NewVault(sinks.VaultOptions{
			Name: name, Address: h.vault.URL(), Mount: mount, KVVersion: "auto",
			Auth: sinks.VaultAuth{Method: "token", TokenFile: tokenFile},
			Now:  h.clock.Now, Logger: h.logger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		h.sinks[name] = s
	}
	h.fileDir = t.TempDir()
	fileSink, err := sinks.NewFile(sinks.FileOptions{Name: "file", Dir: h.fileDir, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	h.sinks["file"] = fileSink

	h.client, err = tokenapi.NewClient(tokenapi.Options{
		BaseURL: h.emu.BaseURL, AccountID: h.emu.AccountID,
		ManagementToken: tokenapi.NewSecret(h.emu.Token),
		Now:             h.clock.Now, Sleep: h.sleep,
		Jitter: func(time.Duration) time.Duration { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.stateDir = filepath.Join(t.TempDir(), "state")
	return h
}

func (h *harness) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// sleep advances the manual clock instead of waiting.
func (h *harness) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.clock.Advance(d)
	return nil
}

// addToken seeds a managed token and returns its id and value.
func (h *harness) addToken(name string, modified time.Time, expires time.Time) emulator.Issued {
	h.t.Helper()
	issued, err := h.emu.Emulator.AddToken(h.emu.AccountID, emulator.TokenSpec{
		Name: name,
		Policies: []emulator.Policy{{
			Effect:           "allow",
			PermissionGroups: []emulator.PermissionGroupRef{{ID: dnsReadGroup}},
			Resources:        map[string]any{"com.cloudflare.api.account.zone.*": "*"},
		}},
		Condition:  &emulator.Condition{RequestIPIn: []string{"127.0.0.0/8", "::1/128"}},
		IssuedOn:   modified,
		ModifiedOn: modified,
		ExpiresOn:  expires,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return issued
}

// policy returns a policy entry for the token name, due by max age when the
// token was last modified more than 30 days ago.
func (h *harness) policy(name string, strategy Strategy, targets ...TargetRef) *Policy {
	return &Policy{
		Account: "prod", AccountID: h.emu.AccountID, Key: name, Name: name,
		Strategy: strategy, RenewBefore: 7 * 24 * time.Hour, MaxAge: 30 * 24 * time.Hour,
		TTL: 90 * 24 * time.Hour, IdleAction: IdleReport, GracePeriod: time.Hour,
		Targets: targets,
	}
}

// start opens the journal and returns a rotator for the policies. Calling it
// again first closes the previous journal, as a process exit would.
func (h *harness) start(policies ...*Policy) *Rotator {
	h.t.Helper()
	if h.journal != nil {
		h.journal.Close()
	}
	j, err := OpenJournal(h.stateDir)
	if err != nil {
		h.t.Fatal(err)
	}
	h.journal = j
	h.t.Cleanup(func() { j.Close() })
	r, err := New(Options{
		Accounts: []*Account{{Name: "prod", Client: h.client}},
		Policies: policies, Sinks: h.sinks, Journal: j, Logger: h.logger(),
		Now: h.clock.Now, Sleep: h.sleep,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// errCrash is the panic value of a simulated process stop.
type errCrash struct{ point string }

// sweepUntil runs a sweep that stops, as a killed process would, at the
// first time it reaches point. It reports whether the point was reached.
func (h *harness) sweepUntil(r *Rotator, point string) (crashed bool) {
	r.crashPoint = func(p string) {
		if p == point {
			panic(errCrash{p})
		}
	}
	defer func() {
		r.crashPoint = nil
		if v := recover(); v != nil {
			if _, ok := v.(errCrash); !ok {
				panic(v)
			}
			crashed = true
		}
	}()
	r.Sweep(context.Background())
	return false
}

// countRequests returns how many emulator requests hit the endpoint.
func (h *harness) countRequests(endpoint string) int {
	n := 0
	for _, req := range h.emu.Emulator.Requests() {
		if req.Endpoint == endpoint && req.Status < 300 {
			n++
		}
	}
	return n
}

// managedTokens returns the emulator's tokens other than the management
// token.
func (h *harness) managedTokens() []emulator.TokenState {
	var out []emulator.TokenState
	for _, t := range h.emu.Emulator.Tokens(h.emu.AccountID) {
		if t.ID != h.emu.TokenID {
			out = append(out, t)
		}
	}
	return out
}

// read returns what a target holds.
func (h *harness) read(t TargetRef) sinks.Stored {
	h.t.Helper()
	st, err := h.sinks[t.Sink].Read(context.Background(), sinks.Target{Path: t.Path, Field: t.Field})
	if err != nil {
		h.t.Fatalf("read %s: %v", t, err)
	}
	return st
}

// checkInvariants asserts, after recovery, the guarantees every run must
// keep: each managed token's stored value is the live value of an active
// token in every target; every token is either stored or recorded for
// deletion; nothing is owed; no secret reached the logs.
func (h *harness) checkInvariants(policies ...*Policy) {
	h.t.Helper()
	live := map[string]emulator.TokenState{}
	for _, tok := range h.managedTokens() {
		live[tok.ID] = tok
	}

	storedIDs := map[string]bool{}
	for _, p := range policies {
		for _, target := range p.Targets {
			st := h.read(target)
			if !st.Exists {
				h.t.Errorf("invariant: target %s holds no value", target)
				continue
			}
			tok, ok := live[st.TokenID]
			if !ok {
				h.t.Errorf("invariant: target %s holds token %s, which does not exist", target, st.TokenID)
				continue
			}
			if st.Value.Reveal() != tok.Value {
				h.t.Errorf("invariant: target %s holds a value that is not token %s's current value",
					target, st.TokenID)
			}
			if tok.Status != emulator.StatusActive {
				h.t.Errorf("invariant: target %s holds token %s with status %s", target, tok.ID, tok.Status)
			}
			storedIDs[st.TokenID] = true
		}
	}
	for id := range live {
		if !storedIDs[id] && !h.journal.IsRevoking("prod", id) {
			h.t.Errorf("invariant: token %s exists but is neither stored nor recorded for deletion", id)
		}
	}
	if n := len(h.journal.Unsaved()); n != 0 {
		h.t.Errorf("invariant: %d values still wait in the journal", n)
	}
	if n := len(h.journal.InFlight()); n != 0 {
		h.t.Errorf("invariant: %d operations still in flight", n)
	}
	h.checkNoSecretInLogs()
}

// checkNoSecretInLogs scans every log line for every secret the test has seen.
func (h *harness) checkNoSecretInLogs() {
	h.t.Helper()
	logs := h.logs.String()
	secrets := []string{h.emu.Token, h.vault.RootToken()}
	for _, tok := range h.emu.Emulator.Tokens(h.emu.AccountID) {
		secrets = append(secrets, tok.Value)
	}
	for _, s := range h.seenValues() {
		secrets = append(secrets, s)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			h.t.Errorf("a secret value appears in the logs")
		}
	}
}

// seenValues returns every token value the targets hold, which includes
// values of tokens deleted since.
func (h *harness) seenValues() []string {
	var out []string
	for _, req := range h.vault.Requests() {
		for _, v := range flatten(req.Data) {
			if strings.HasPrefix(v, "cfat_") {
				out = append(out, v)
			}
		}
	}
	return out
}

func flatten(m map[string]any) []string {
	var out []string
	for _, v := range m {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			out = append(out, flatten(v)...)
		}
	}
	return out
}

// allTargets is one target of every sink kind.
func allTargets(name string) []TargetRef {
	return []TargetRef{
		{Sink: "vault2", Path: "cf/" + name},
		{Sink: "vault1", Path: "cf/" + name},
		{Sink: "file", Path: name + ".json", Field: "token"},
	}
}

func (h *harness) dump() string {
	var b strings.Builder
	for _, req := range h.emu.Emulator.Requests() {
		fmt.Fprintf(&b, "%s %s %d\n", req.Method, req.Path, req.Status)
	}
	return b.String()
}
