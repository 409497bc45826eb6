package stream

import (
	"sync"
	"time"

	"tvbridge/clock"
)

// logLimiter lets one log line through per period and counts the rest, so a
// server spewing garbage cannot flood the log. Not for events that matter
// individually (handshake failures, refusals, stalls): those are rare and
// always logged.
type logLimiter struct {
	clock  clock.Clock
	period time.Duration

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

func newLogLimiter(c clock.Clock, period time.Duration) *logLimiter {
	return &logLimiter{clock: c, period: period}
}

// allow reports whether to log now and how many lines were held back since
// the last one that was allowed.
func (l *logLimiter) allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = now.Add(l.period)
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// snippet quotes the start of a frame for a log line.
func snippet(b []byte) string {
	const max = 96
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
