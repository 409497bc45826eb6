package auth

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"tvbridge/clock"
)

// limiter counts failed logins per key (a login or a client address) in a
// fixed window that opens at the first failure: after limit failures the key
// is blocked until the window ends. A success resets a login's count.
type limiter struct {
	clock   clock.Clock
	limit   int
	window  time.Duration
	maxKeys int // keys remembered at most, so junk logins cannot exhaust memory

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	first time.Time
	count int
}

func newLimiter(c clock.Clock, limit int, window time.Duration) *limiter {
	return &limiter{clock: c, limit: limit, window: window, maxKeys: 100_000, entries: map[string]*failures{}}
}

// blocked reports whether key is locked out and for how much longer.
func (l *limiter) blocked(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[key]
	if e == nil {
		return 0, false
	}
	left := e.first.Add(l.window).Sub(l.clock.Now())
	if left <= 0 {
		delete(l.entries, key)
		return 0, false
	}
	return left, e.count >= l.limit
}

// fail counts one failure for key.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	e := l.entries[key]
	if e == nil || !now.Before(e.first.Add(l.window)) {
		if len(l.entries) >= l.maxKeys {
			l.pruneLocked(now)
		}
		e = &failures{first: now}
		l.entries[key] = e
	}
	e.count++
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

// prune forgets windows that ended.
func (l *limiter) prune() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(l.clock.Now())
}

// pruneLocked forgets ended windows; if every key is still live it drops
// the oldest one, so the map never passes maxKeys.
func (l *limiter) pruneLocked(now time.Time) {
	var oldest string
	for k, e := range l.entries {
		if !now.Before(e.first.Add(l.window)) {
			delete(l.entries, k)
		} else if oldest == "" || e.first.Before(l.entries[oldest].first) {
			oldest = k
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
