package tinvest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// limiter allows at most limit requests in any window-long interval (a
// sliding-window log). It is package tinkoff's priority-aware limiter,
// adapted: besides its own count it honours the service's word, a hold
// (from x-ratelimit-remaining: 0 or a 429 with x-ratelimit-reset) before
// which nothing is granted. The service counts per one-minute window and does not
// say whether its window is fixed or sliding; a sliding log is safe against
// both, where a token bucket of the same rate would let up to twice the limit
// through in one minute (a full bucket plus a minute of refill).
//
// Callers that find the window full queue by priority (tvbridge.PriorityFrom
// their context), first come first served within one priority: a freed slot
// always goes to the highest priority waiting, so the minutes TradingView is
// about to ask for overtake a queued backfill. One waiter at a time, the
// keeper, holds a clock timer for the moment the oldest grant leaves the
// window; it hands the slots out, and the duty passes on when it leaves the
// queue. Nobody polls.
type limiter struct {
	clock  clock.Clock
	limit  int
	window time.Duration

	mu sync.Mutex
	// grants holds the times of the requests granted in the last window,
	// oldest first. Older ones are pruned, so memory follows the actual
	// request rate, not the configured limit.
	grants []time.Time
	// queue holds the waiters, highest priority first, in arrival order
	// within a priority.
	queue  []*waiter
	keeper *waiter // the queued waiter that times the next free slot; nil iff queue is empty
	// hold: no grant before this instant (the service said its window is
	// spent until then).
	hold time.Time
}

// waiter is one caller queued in wait. Its fields are guarded by limiter.mu.
type waiter struct {
	prio tvbridge.Priority
	// wake is signalled (never closed) when the waiter was granted a slot or
	// became the keeper.
	wake      chan struct{}
	granted   bool
	grantedAt time.Time
}

func newLimiter(c clock.Clock, limit int, window time.Duration) *limiter {
	return &limiter{clock: c, limit: max(limit, 1), window: window}
}

// wait blocks until a request may be sent, or ctx is done. A waiter that
// gives up leaves no trace: it leaves the queue, and a slot granted to it in
// the same instant goes back to the others, so cancellations never push
// others' slots back.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.clock.Now()
	l.pruneLocked(now)
	if len(l.queue) == 0 && len(l.grants) < l.limit && !now.Before(l.hold) {
		// The uncontended path: no context lookup, no allocation beyond the
		// grant log.
		l.grants = append(l.grants, now)
		l.mu.Unlock()
		return nil
	}
	w := &waiter{prio: tvbridge.PriorityFrom(ctx), wake: make(chan struct{}, 1)}
	l.enqueueLocked(w)
	l.dispatchLocked(now)
	l.mu.Unlock()
	return l.block(ctx, w)
}

// block waits until w is granted a slot or ctx is done. While w is the
// keeper it also times the next free slot and dispatches when it comes.
func (l *limiter) block(ctx context.Context, w *waiter) error {
	var timer clock.Timer
	var fired <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		l.mu.Lock()
		if l.keeper == w && fired == nil {
			// Dispatch before arming: the clock may have passed a free
			// slot while nobody timed it.
			now := l.clock.Now()
			l.dispatchLocked(now)
			if !w.granted {
				timer = l.clock.NewTimer(l.nextFreeLocked(now))
				fired = timer.C()
			}
		}
		if w.granted {
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			if timer != nil {
				// Stop before letting go, so no timer outlives the call.
				timer.Stop()
				timer = nil
			}
			return l.cancel(w, ctx.Err())
		case <-w.wake:
		case <-fired:
			timer, fired = nil, nil
			l.mu.Lock()
			l.dispatchLocked(l.clock.Now())
			l.mu.Unlock()
		}
	}
}

// cancel takes w out of the queue, or gives back the slot it was granted in
// the meantime (no request was sent for it), and returns err.
func (l *limiter) cancel(w *waiter, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		if i := slices.IndexFunc(l.grants, w.grantedAt.Equal); i >= 0 {
			l.grants = slices.Delete(l.grants, i, i+1)
		}
		l.dispatchLocked(l.clock.Now())
		return err
	}
	l.removeLocked(w)
	return err
}

// tryAcquire takes a slot and returns 0, or returns how long to wait before
// one may be free. Queued waiters come first: while there are any, it takes
// nothing.
func (l *limiter) tryAcquire() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.pruneLocked(now)
	if len(l.queue) == 0 && len(l.grants) < l.limit && !now.Before(l.hold) {
		l.grants = append(l.grants, now)
		return 0
	}
	return l.nextFreeLocked(now)
}

// pruneLocked drops the grants that left the window.
func (l *limiter) pruneLocked(now time.Time) {
	expired := 0
	for expired < len(l.grants) && now.Sub(l.grants[expired]) >= l.window {
		expired++
	}
	l.grants = l.grants[expired:]
}

// nextFreeLocked is how long until the oldest grant leaves the window; at
// least a nanosecond, so a keeper never spins on a zero timer.
func (l *limiter) nextFreeLocked(now time.Time) time.Duration {
	d := time.Nanosecond
	if len(l.grants) >= l.limit {
		d = max(d, l.grants[0].Add(l.window).Sub(now))
	}
	if now.Before(l.hold) {
		d = max(d, l.hold.Sub(now))
	}
	return d
}

// holdUntil grants nothing before t (later holds extend, earlier ones are
// ignored). Queued waiters see it when their keeper next times a slot.
func (l *limiter) holdUntil(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.hold) {
		l.hold = t
		if l.keeper != nil {
			signal(l.keeper.wake) // re-time: the next free slot moved
		}
	}
}

// enqueueLocked inserts w after every waiter of its priority or higher, and
// makes it the keeper of an empty queue.
func (l *limiter) enqueueLocked(w *waiter) {
	i := slices.IndexFunc(l.queue, func(q *waiter) bool { return q.prio < w.prio })
	if i < 0 {
		i = len(l.queue)
	}
	l.queue = slices.Insert(l.queue, i, w)
	if l.keeper == nil {
		l.keeper = w
	}
}

// removeLocked takes w out of the queue; if it was the keeper, the duty
// passes to the next waiter.
func (l *limiter) removeLocked(w *waiter) {
	if i := slices.Index(l.queue, w); i >= 0 {
		l.queue = slices.Delete(l.queue, i, i+1)
	}
	if l.keeper == w {
		l.keeper = nil
		if len(l.queue) > 0 {
			l.keeper = l.queue[0]
			signal(l.keeper.wake)
		}
	}
}

// dispatchLocked grants the free slots to the queue's head, highest
// priority first.
func (l *limiter) dispatchLocked(now time.Time) {
	l.pruneLocked(now)
	for len(l.queue) > 0 && len(l.grants) < l.limit && !now.Before(l.hold) {
		w := l.queue[0]
		l.removeLocked(w)
		w.granted, w.grantedAt = true, now
		l.grants = append(l.grants, now)
		signal(w.wake)
	}
}

// signal wakes the owner of a one-slot channel without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// BucketStats is one rate-limit bucket's use in the current window.
type BucketStats struct {
	Bucket  string
	Limit   int // requests a minute
	Used    int // granted in the last minute
	Waiting int // calls queued for a slot
}

// Budgets reports every bucket's use, sorted by name, for the console and
// the metrics.
func (c *Client) Budgets() []BucketStats {
	out := make([]BucketStats, 0, len(c.limiters))
	for name, l := range c.limiters {
		used, waiting := l.usage()
		out = append(out, BucketStats{Bucket: name, Limit: l.limit, Used: used, Waiting: waiting})
	}
	slices.SortFunc(out, func(a, b BucketStats) int { return strings.Compare(a.Bucket, b.Bucket) })
	return out
}

// usage is how many requests the current window has granted and how many
// calls wait for a slot.
func (l *limiter) usage() (used, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(l.clock.Now())
	return len(l.grants), len(l.queue)
}
