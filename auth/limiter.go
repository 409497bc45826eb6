package auth

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"tvbridge/clock"
)

// limiter applies one brute-force limit (per login, or per client
// address) over a FailureStore: after limit failures of a key within the
// window that opened at its first failure, the key is blocked until the
// window ends. A success resets a login's count.
type limiter struct {
	store  FailureStore
	scope  string
	clock  clock.Clock
	limit  int
	window time.Duration
}

func newLimiter(store FailureStore, scope string, c clock.Clock, limit int, window time.Duration) *limiter {
	return &limiter{store: store, scope: scope, clock: c, limit: limit, window: window}
}

// blocked reports whether key is locked out and for how much longer.
func (l *limiter) blocked(key string) (time.Duration, bool, error) {
	n, left, err := l.store.Failures(l.scope, key, l.clock.Now(), l.window)
	if err != nil {
		return 0, false, err
	}
	return left, n >= l.limit, nil
}

// fail counts one failure for key.
func (l *limiter) fail(key string) error {
	return l.store.AddFailure(l.scope, key, l.clock.Now(), l.window)
}

func (l *limiter) reset(key string) error { return l.store.ResetFailures(l.scope, key) }

// memFailures is the in-memory FailureStore of a single process (the
// embedded mode's default): a fixed window per key that opens at the
// first failure.
type memFailures struct {
	maxKeys int // keys remembered at most, so junk logins cannot exhaust memory

	mu      sync.Mutex
	entries map[failureKey]*failures
}

type failureKey struct{ scope, key string }

type failures struct {
	first time.Time
	count int
}

// NewMemoryFailures returns an in-memory FailureStore: the failures of this
// process only, forgotten at exit.
func NewMemoryFailures() FailureStore { return newMemFailures() }

func newMemFailures() *memFailures {
	return &memFailures{maxKeys: 200_000, entries: map[failureKey]*failures{}}
}

// Failures implements FailureStore.
func (l *memFailures) Failures(scope, key string, now time.Time, window time.Duration) (int, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := failureKey{scope, key}
	e := l.entries[k]
	if e == nil {
		return 0, 0, nil
	}
	left := e.first.Add(window).Sub(now)
	if left <= 0 {
		delete(l.entries, k)
		return 0, 0, nil
	}
	return e.count, left, nil
}

// AddFailure implements FailureStore.
func (l *memFailures) AddFailure(scope, key string, now time.Time, window time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := failureKey{scope, key}
	e := l.entries[k]
	if e == nil || !now.Before(e.first.Add(window)) {
		if len(l.entries) >= l.maxKeys {
			l.pruneLocked(now, window)
		}
		e = &failures{first: now}
		l.entries[k] = e
	}
	e.count++
	return nil
}

// ResetFailures implements FailureStore.
func (l *memFailures) ResetFailures(scope, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, failureKey{scope, key})
	return nil
}

// PruneFailures implements FailureStore.
func (l *memFailures) PruneFailures(now time.Time, window time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now, window)
	return nil
}

// pruneLocked forgets ended windows; if every key is still live it drops
// the oldest one, so the map never passes maxKeys.
func (l *memFailures) pruneLocked(now time.Time, window time.Duration) {
	var oldest failureKey
	found := false
	for k, e := range l.entries {
		if !now.Before(e.first.Add(window)) {
			delete(l.entries, k)
		} else if !found || e.first.Before(l.entries[oldest].first) {
			oldest, found = k, true
		}
	}
	if len(l.entries) >= l.maxKeys {
		delete(l.entries, oldest)
	}
}

// remoteAddress is the default client address: the peer's IP, with IPv6
// cut to its /64, since one host usually owns a whole /64.
func remoteAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64) // cannot fail for a valid IPv6 address and 64
		return p.String()
	}
	return ip.String()
}
