package daemon

import (
	"context"
	"time"
)

// Clock is the daemon's source of time. Tests drive the schedule with a
// manual clock; production uses the wall clock.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reaches t. Taking
	// an instant rather than a duration means a clock that moves between
	// Now and At cannot push the deadline back.
	At(t time.Time) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                  { return time.Now() }
func (wallClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// maxWait is the longest the scheduler waits without looking at the wall
// clock again. Timers follow the monotonic clock, which stops while a host
// is suspended, so a long timer would fire late after a resume. Short steps
// notice the new wall time within a minute.
const maxWait = time.Minute

// waitUntil blocks until the clock reaches t or ctx ends. It reports
// whether t was reached.
func waitUntil(ctx context.Context, clock Clock, t time.Time) bool {
	for {
		now := clock.Now()
		if !now.Before(t) {
			return true
		}
		step := t
		if t.Sub(now) > maxWait {
			step = now.Add(maxWait)
		}
		select {
		case <-ctx.Done():
			return false
		case <-clock.At(step):
		}
	}
}

// sleepContext waits for d on the clock, or until ctx ends.
func sleepContext(clock Clock) func(ctx context.Context, d time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		if waitUntil(ctx, clock, clock.Now().Add(d)) {
			return nil
		}
		return ctx.Err()
	}
}
