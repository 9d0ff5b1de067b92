package rotator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// BenchmarkDecide measures the decision for one token with every rule on.
func BenchmarkDecide(b *testing.B) {
	p := basePolicy()
	p.IdleAfter = 30 * 24 * time.Hour
	p.Schedule = mustSchedule(b, "CRON_TZ=Europe/Berlin 30 2 * * *")
	var tok tokenapi.Token
	tok.ID, tok.Name, tok.Status = tokenA, "dns", tokenapi.StatusActive
	tok.ModifiedOn = tokenapi.NewTimestamp(now.Add(-10 * 24 * time.Hour))
	tok.ExpiresOn = tokenapi.NewTimestamp(now.Add(60 * 24 * time.Hour))
	tok.LastUsedOn = tokenapi.NewTimestamp(now.Add(-time.Hour))
	obs := Observed{Tokens: []tokenapi.Token{tok}}
	rec := Records{LastRotation: &Rotation{TokenID: tokenA, RotatedAt: now.Add(-time.Hour)}}

	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(p, obs, rec, now); d.Action != ActionNone {
			b.Fatalf("action = %s", d.Action)
		}
	}
}

// BenchmarkSweepNothingDue measures a steady-state sweep: 100 managed
// tokens among 200 in the account, each with a file target, none due. It
// covers listing every page from the emulator over loopback HTTP, reading
// each target and deciding.
func BenchmarkSweepNothingDue(b *testing.B) {
	h := newHarness(b)
	var policies []*Policy
	for i := range 200 {
		name := fmt.Sprintf("token-%03d", i)
		h.addToken(name, harnessStart.Add(-time.Hour), time.Time{})
		if i%2 == 0 {
			policies = append(policies, h.policy(name, StrategyRoll,
				TargetRef{Sink: "file", Path: name + ".json", Field: "token"}))
		}
	}
	r := h.start(policies...)

	b.ReportAllocs()
	for b.Loop() {
		rep := r.Sweep(context.Background())
		if rep.Pending() != 0 || len(rep.Tokens) != len(policies) {
			b.Fatalf("pending %d of %d", rep.Pending(), len(rep.Tokens))
		}
	}
}
