package tinkoff

import (
	"context"
	"sync"
	"time"

	"tvbridge/clock"
)

// limiter allows at most limit requests in any window-long interval (a
// sliding-window log). The service counts per one-minute window and does not
// say whether its window is fixed or sliding; a sliding log is safe against
// both, where a token bucket of the same rate would let up to twice the limit
// through in one minute (a full bucket plus a minute of refill).
type limiter struct {
	clock  clock.Clock
	limit  int
	window time.Duration

	mu sync.Mutex
	// grants holds the times of the requests granted in the last window,
	// oldest first. Older ones are pruned, so memory follows the actual
	// request rate, not the configured limit.
	grants []time.Time
}

func newLimiter(c clock.Clock, limit int, window time.Duration) *limiter {
	return &limiter{clock: c, limit: max(limit, 1), window: window}
}

// wait blocks until a request may be sent, or ctx is done. A waiter that
// gives up leaves no trace, so cancellations never push others' slots back.
// Waiters are not served in arrival order; REST callers do not need that.
func (l *limiter) wait(ctx context.Context) error {
	for {
		d := l.tryAcquire()
		if d <= 0 {
			return nil
		}
		t := l.clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

// tryAcquire takes a slot and returns 0, or returns how long to wait before
// one may be free.
func (l *limiter) tryAcquire() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	expired := 0
	for expired < len(l.grants) && now.Sub(l.grants[expired]) >= l.window {
		expired++
	}
	l.grants = l.grants[expired:]
	if len(l.grants) >= l.limit {
		return l.grants[0].Add(l.window).Sub(now)
	}
	l.grants = append(l.grants, now)
	return 0
}
