package daemon

import (
	"context"
	"time"
)

// Clock is the daemon's source of time. Tests drive the schedule with a
// manual clock; production uses the wall clock.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// maxWait is the longest the scheduler waits without looking at the wall
// clock again. Timers follow the monotonic clock, which stops while a host
// is suspended, so a long timer would fire late after a resume. Short steps
// notice the new wall time within a minute.
const maxWait = time.Minute

// waitUntil blocks until the clock reaches t or ctx ends. It reports
// whether t was reached.
func waitUntil(ctx context.Context, clock Clock, t time.Time) bool {
	for {
		left := t.Sub(clock.Now())
		if left <= 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-clock.After(min(left, maxWait)):
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
