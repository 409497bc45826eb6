package tinkoff

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// EndpointStats counts the requests to one REST path.
type EndpointStats struct {
	Endpoint    string // the path relative to BaseURL, e.g. "/market/candles": one of the client's own, so a bounded set
	Bucket      string // its rate-limit bucket
	Requests    uint64 // HTTP requests sent, retries included
	RateLimited uint64 // 429/421 answers
	Errors      uint64 // calls that returned an error
}

// BucketStats is the state of one rate-limit bucket's budget.
type BucketStats struct {
	Bucket  string
	Limit   int // requests allowed per window
	Used    int // requests granted in the current window
	Waiting int // calls queued for a slot
}

// endpoints holds the counters of each path called so far. Paths are the
// client's own constants, so the map stays small; it is read on every call,
// written the first time a path is used.
type endpoints struct {
	mu sync.RWMutex
	m  map[string]*endpointCounters
}

type endpointCounters struct {
	bucket                        string
	requests, rateLimited, errors atomic.Uint64
}

func (e *endpoints) get(path, bucket string) *endpointCounters {
	e.mu.RLock()
	c := e.m[path]
	e.mu.RUnlock()
	if c != nil {
		return c
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c = e.m[path]; c == nil {
		if e.m == nil {
			e.m = make(map[string]*endpointCounters)
		}
		c = &endpointCounters{bucket: bucket}
		e.m[path] = c
	}
	return c
}

func (e *endpoints) snapshot() []EndpointStats {
	e.mu.RLock()
	out := make([]EndpointStats, 0, len(e.m))
	for path, c := range e.m {
		out = append(out, EndpointStats{Endpoint: path, Bucket: c.bucket, Requests: c.requests.Load(),
			RateLimited: c.rateLimited.Load(), Errors: c.errors.Load()})
	}
	e.mu.RUnlock()
	slices.SortFunc(out, func(a, b EndpointStats) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// Endpoints returns the counters of every REST path called so far, sorted by
// path.
func (c *Client) Endpoints() []EndpointStats { return c.endpoints.snapshot() }

// Budgets returns each rate-limit bucket's use of its window, sorted by
// bucket.
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
