package tokenapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Cloudflare allows 1,200 requests per 5 minutes per token.
const (
	// DefaultPaceRequests is the number of requests a Pacer allows per
	// DefaultPaceWindow.
	DefaultPaceRequests = 1200
	// DefaultPaceWindow is the window of DefaultPaceRequests.
	DefaultPaceWindow = 300 * time.Second
)

// Pacer is a client-side token bucket that keeps requests under the
// server's rate limit. Share one Pacer between every Client that uses the
// same management token, because the limit counts per token; PacerPool
// does that by token.
type Pacer struct {
	limiter *rate.Limiter
}

// NewPacer returns a Pacer that allows at most requests per window in any
// window-long span. A burst of a tenth of requests is available at once and
// the rest refills evenly, so that burst plus refill never exceeds
// requests in one window. Zero or negative values take the defaults.
func NewPacer(requests int, window time.Duration) *Pacer {
	if requests <= 0 {
		requests = DefaultPaceRequests
	}
	if window <= 0 {
		window = DefaultPaceWindow
	}

	burst := max(requests/10, 1)
	refill := max(requests-burst, 1)
	limit := rate.Limit(float64(refill) / window.Seconds())
	return &Pacer{limiter: rate.NewLimiter(limit, burst)}
}

// wait takes one request from the bucket, sleeping through sleep until it
// is available. It returns the time waited. It fails without sleeping when
// the wait would pass the context deadline.
func (p *Pacer) wait(ctx context.Context, clock clock) (time.Duration, error) {
	now := clock.now()
	reservation := p.limiter.ReserveN(now, 1)
	if !reservation.OK() {
		return 0, fmt.Errorf("pace request: the rate limit burst is smaller than one request")
	}

	delay := reservation.DelayFrom(now)
	if delay <= 0 {
		return 0, nil
	}
	if err := checkDeadline(ctx, now, delay); err != nil {
		reservation.CancelAt(now)
		return 0, fmt.Errorf("pace request: %w", err)
	}
	if err := clock.sleep(ctx, delay); err != nil {
		reservation.CancelAt(clock.now())
		return 0, fmt.Errorf("pace request: %w", err)
	}
	return delay, nil
}

// PacerPool hands out one Pacer per management token, so that clients
// built for several accounts with the same token share its rate limit.
type PacerPool struct {
	// Requests and Window configure new Pacers; zero takes the defaults.
	Requests int
	Window   time.Duration

	mu     sync.Mutex
	pacers map[[sha256.Size]byte]*Pacer
}

// For returns the Pacer of token, creating it on first use. The pool keys
// pacers by a SHA-256 digest, so it never keeps the token itself.
func (p *PacerPool) For(token Secret) *Pacer {
	key := sha256.Sum256([]byte(token.Reveal()))

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pacers == nil {
		p.pacers = map[[sha256.Size]byte]*Pacer{}
	}
	pacer, ok := p.pacers[key]
	if !ok {
		pacer = NewPacer(p.Requests, p.Window)
		p.pacers[key] = pacer
	}
	return pacer
}
