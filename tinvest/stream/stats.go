package stream

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the pool's counters and streams.
type Stats struct {
	Open       int   // sockets open or dialing now
	MaxOpen    int   // the most ever open or dialing at once
	Dials      int64 // handshakes attempted
	Reconnects int64 // streams established to replace a lost one
	// HandshakeFailures counts refused handshakes by HTTP status (0: no
	// HTTP answer); CloseCodes counts the service's close codes.
	HandshakeFailures map[int]int64
	CloseCodes        map[int]int64

	FramesRead    int64
	BadFrames     int64 // frames that did not decode
	UnknownEvents int64 // frames with no member this client knows
	PingsReceived int64

	Requests         int64 // subscribe and unsubscribe requests sent
	RequestsDeferred int64 // times a request waited for the per-minute budget
	Refused          int64 // instruments the service refused (any status but SUCCESS)
	Removed          int64 // refused for good (not found, invalid): out of the desired set
	Retried          int64 // refused for now (too many requests, internal, limit): sent again later

	Duplicates          int64
	Coalesced           int64
	DroppedTrades       int64 // trades dropped because the consumer was stuck
	DuplicateSubscribes int64
	Queued              int

	Stalls            int64 // streams closed after StallTimeout without a frame
	DataSilences      int64
	SilentConnections int
	InstrumentStalls  int64
	SilentInstruments int
	Moved             int64 // instruments moved to another stream (a full stream, the stream cap)

	// StreamCap is how many streams the pool may use: MaxStreams -
	// SpareStreams until the service refuses a stream (80001) while others
	// are up, then the streams up (or reconnecting after a drop) at that
	// moment, raised by each later stream the service accepts (see
	// Config.CapRetry). CapRetryAt is when one more stream will be tried
	// (zero: not due).
	StreamCap  int
	CapRetryAt time.Time

	Subscriptions int // desired subscriptions placed on a stream
	Live          int // of which the service confirmed (SUCCESS) on the current socket
	Pending       int // desired subscriptions waiting for room
	Streams       []StreamStats
}

// StreamStats describes one stream slot.
type StreamStats struct {
	Index         int
	State         string // "idle", "backoff", "dialing", "up" or "parked"
	Instruments   int
	Subscriptions int // counted toward MaxSubscriptionsPerStream
	Info          int // trading-status subscriptions (not counted)
	Live          int
	Dials         int64
	RetryAt       time.Time
	LastData      time.Time
	Silent        bool
}

const (
	stateIdle    = "idle"
	stateBackoff = "backoff"
	stateDialing = "dialing"
	stateUp      = "up"
	stateParked  = "parked" // beyond the stream cap the service allows
)

type counters struct {
	open, maxOpen     atomic.Int64
	dials, reconnects atomic.Int64

	framesRead, badFrames, unknownEvents, pings atomic.Int64
	requests, deferred                          atomic.Int64
	refused, removed, retried                   atomic.Int64
	duplicates, coalesced, dropped, dupSubs     atomic.Int64
	stalls, instrumentStalls, dataSilences      atomic.Int64
	moved                                       atomic.Int64

	mu        sync.Mutex
	handshake map[int]int64
	closes    map[int]int64
}

func (c *counters) opened() {
	n := c.open.Add(1)
	for {
		m := c.maxOpen.Load()
		if n <= m || c.maxOpen.CompareAndSwap(m, n) {
			return
		}
	}
}

func (c *counters) closed() { c.open.Add(-1) }

func (c *counters) count(m *map[int]int64, k int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil {
		*m = make(map[int]int64)
	}
	(*m)[k]++
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	hs, cc := maps.Clone(c.handshake), maps.Clone(c.closes)
	c.mu.Unlock()
	if hs == nil {
		hs = map[int]int64{}
	}
	if cc == nil {
		cc = map[int]int64{}
	}
	return Stats{
		Open: int(c.open.Load()), MaxOpen: int(c.maxOpen.Load()), Dials: c.dials.Load(),
		Reconnects: c.reconnects.Load(), HandshakeFailures: hs, CloseCodes: cc,
		FramesRead: c.framesRead.Load(), BadFrames: c.badFrames.Load(), UnknownEvents: c.unknownEvents.Load(),
		PingsReceived: c.pings.Load(), Requests: c.requests.Load(), RequestsDeferred: c.deferred.Load(),
		Refused: c.refused.Load(), Removed: c.removed.Load(), Retried: c.retried.Load(),
		Duplicates: c.duplicates.Load(), Coalesced: c.coalesced.Load(), DroppedTrades: c.dropped.Load(),
		DuplicateSubscribes: c.dupSubs.Load(), Stalls: c.stalls.Load(), DataSilences: c.dataSilences.Load(),
		InstrumentStalls: c.instrumentStalls.Load(), Moved: c.moved.Load(),
	}
}

// budget is the per-minute subscription request budget shared by all
// streams: at most limit requests in any window-long interval (a sliding
// log, like the REST limiter: a token bucket of the same rate could let up
// to twice the limit through in one minute, which the service would answer
// with TOO_MANY_REQUESTS). Guarded by Pool.mu.
type budget struct {
	limit  int
	window time.Duration
	grants []time.Time
}

// take grants one request at now, or returns how long until one is free.
func (b *budget) take(now time.Time) (time.Duration, bool) {
	n := 0
	for n < len(b.grants) && now.Sub(b.grants[n]) >= b.window {
		n++
	}
	b.grants = b.grants[n:]
	if len(b.grants) < b.limit {
		b.grants = append(b.grants, now)
		return 0, true
	}
	return max(b.grants[0].Add(b.window).Sub(now), time.Millisecond), false
}

// ConnectionFIGIs lists, per stream slot, the instruments placed on it,
// sorted, for the console.
func (p *Pool) ConnectionFIGIs() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]string, len(p.slots))
	for i, s := range p.slots {
		for figi := range s.subs {
			out[i] = append(out[i], figi)
		}
		slices.Sort(out[i])
	}
	return out
}
