package stream

import (
	"math/rand/v2"
	"time"
)

// backoff computes reconnect delays: exponential growth from min to max with
// full jitter (a uniform draw between zero and the current ceiling), so that
// connections dropped together, as the service tends to drop them, do not
// come back together.
type backoff struct {
	min, max time.Duration
	rand     func(n int64) int64 // uniform in [0, n); rand.Int64N outside tests
}

func newBackoff(min, max time.Duration) backoff {
	return backoff{min: min, max: max, rand: rand.Int64N}
}

// ceiling is the largest delay of the given attempt (0 is the first retry):
// min, 2*min, 4*min, ... capped at max.
func (b backoff) ceiling(attempt int) time.Duration {
	d := b.min
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// delay draws the wait before retry number attempt.
func (b backoff) delay(attempt int) time.Duration {
	return time.Duration(b.rand(int64(b.ceiling(attempt)) + 1))
}

// locked draws the wait after a 423 Locked: the user already has as many
// connections as the service allows, which only changes when some other
// client lets go of one, so the pool waits between max/2 and max. The
// jitter still spreads the retries.
func (b backoff) locked() time.Duration {
	half := b.max / 2
	return half + time.Duration(b.rand(int64(b.max-half)+1))
}
