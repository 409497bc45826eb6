package stream

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the pool's counters, for metrics and tests.
type Stats struct {
	Open       int   // sockets open or dialing now
	MaxOpen    int   // the most ever open or dialing at once
	Dials      int64 // handshakes attempted
	Reconnects int64 // connections established to replace a lost one
	// HandshakeFailures counts refused or failed handshakes by HTTP status;
	// 0 stands for failures without an HTTP answer (network, timeout).
	HandshakeFailures map[int]int64

	FramesRead    int64 // data frames read
	Frames        FrameCounts
	BadFrames     int64 // frames that did not decode (non-JSON, empty, truncated, bad values)
	UnknownEvents int64 // frames with an event name this client does not know
	PingsSent     int64
	PongsReceived int64

	Duplicates          int64 // events suppressed as identical to the last one delivered
	Coalesced           int64 // events replaced by a newer one while the consumer lagged
	DuplicateSubscribes int64 // Subscribe calls for something already subscribed
	Queued              int   // events waiting for the consumer beyond the Events buffer

	Stalls int64 // connections closed after StallTimeout without a frame
	// Lost counts connections lost (and reopened), by cause.
	Lost LostCounts
	// DataSilences counts connections closed and reopened because they
	// delivered no update (pings and pongs aside) while instruments on them
	// were expected to be active; SilentConnections is how many connection
	// slots are in such an episode now (reopened, no update yet).
	DataSilences      int64
	SilentConnections int
	// InstrumentStalls counts resubscriptions of instruments that stayed
	// quiet past their own threshold while expected to be active;
	// SilentInstruments is how many are in such an episode now.
	InstrumentStalls  int64
	SilentInstruments int
	ServerErrors      int64 // error events received
	Refused           int64 // subscriptions the service refused, removed from the desired set

	// ConnectionCap is how many connections the pool may use: MaxConnections
	// until a 423 shows that the service accepts fewer, then the connections
	// up (or reconnecting after a drop) at that moment, raised by each later
	// connection the service accepts (see Config.CapRetry).
	// PerConnectionLimit is the instruments a connection takes before new
	// subscriptions wait: MaxPerConnection, or more while the cap is lower,
	// so that the configured total still fits. CapRetryAt is when one more
	// connection will be tried (zero: not due). Moved counts instruments
	// moved to another connection to follow the cap, down or up.
	ConnectionCap      int
	PerConnectionLimit int
	CapRetryAt         time.Time
	Moved              int64

	Subscriptions int // desired subscriptions placed on a connection
	Pending       int // desired subscriptions waiting for room (all connections full)
	Connections   []ConnStats
}

// ConnStats describes one connection slot of the pool.
type ConnStats struct {
	Index         int
	State         string // "idle", "backoff", "dialing" or "up"
	Instruments   int    // distinct FIGIs assigned
	Subscriptions int
	Dials         int64
	RetryAt       time.Time // next dial, while State is "backoff"
	LastData      time.Time // the connection's last data update, or when it opened; zero while down
	Silent        bool      // in a data-silence episode: reopened for silence, no update since
}

// Connection states, as Stats reports them.
const (
	stateIdle    = "idle"
	stateBackoff = "backoff"
	stateDialing = "dialing"
	stateUp      = "up"
	stateParked  = "parked" // beyond the connection cap the service allows
)

// counters are the pool's lock-free counters.
type counters struct {
	open, maxOpen     atomic.Int64
	dials, reconnects atomic.Int64

	frames                               [nFrameSlots]atomic.Int64 // by eventKind, and kindUndecodable
	badFrames, unknownEvents             atomic.Int64
	lost                                 [nLostCauses]atomic.Int64
	pingsSent, pongsReceived             atomic.Int64
	duplicates, coalesced, dupSubscribes atomic.Int64
	stalls, instrumentStalls             atomic.Int64
	dataSilences, moved                  atomic.Int64
	serverErrors, refused                atomic.Int64

	hsMu      sync.Mutex
	handshake map[int]int64
}

// opened counts a socket that starts dialing, and tracks the maximum.
func (c *counters) opened() {
	n := c.open.Add(1)
	for {
		m := c.maxOpen.Load()
		if n <= m || c.maxOpen.CompareAndSwap(m, n) {
			return
		}
	}
}

// closed counts a socket that failed to dial or was closed.
func (c *counters) closed() { c.open.Add(-1) }

func (c *counters) handshakeFailed(status int) {
	c.hsMu.Lock()
	defer c.hsMu.Unlock()
	if c.handshake == nil {
		c.handshake = make(map[int]int64)
	}
	c.handshake[status]++
}

// snapshot fills the counter part of Stats.
func (c *counters) snapshot() Stats {
	c.hsMu.Lock()
	hs := maps.Clone(c.handshake)
	c.hsMu.Unlock()
	if hs == nil {
		hs = map[int]int64{}
	}
	return Stats{
		Open:                int(c.open.Load()),
		MaxOpen:             int(c.maxOpen.Load()),
		Dials:               c.dials.Load(),
		Reconnects:          c.reconnects.Load(),
		HandshakeFailures:   hs,
		FramesRead:          c.framesRead(),
		Frames:              c.frameCounts(),
		Lost:                c.lostCounts(),
		BadFrames:           c.badFrames.Load(),
		UnknownEvents:       c.unknownEvents.Load(),
		PingsSent:           c.pingsSent.Load(),
		PongsReceived:       c.pongsReceived.Load(),
		Duplicates:          c.duplicates.Load(),
		Coalesced:           c.coalesced.Load(),
		DuplicateSubscribes: c.dupSubscribes.Load(),
		Stalls:              c.stalls.Load(),
		InstrumentStalls:    c.instrumentStalls.Load(),
		DataSilences:        c.dataSilences.Load(),
		Moved:               c.moved.Load(),
		ServerErrors:        c.serverErrors.Load(),
		Refused:             c.refused.Load(),
	}
}
