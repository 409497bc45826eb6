package sim

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the server's counters.
type Stats struct {
	Connections int // stream connections open now
	// ConnectionCap is the number of stream connections a token may hold
	// now: Config.MaxConnections, or what Faults.ConnectionCap set.
	ConnectionCap int
	MaxConcurrent int   // most stream connections open at once so far
	Subscriptions []int // subscriptions of each open connection, duplicates counted, oldest first
	FramesSent    uint64
	// FramesQueued counts data frames queued for sending, and LastTick is
	// the clock time of the last finished emission tick: with a fake clock,
	// a test knows the simulator has produced everything due at time T once
	// LastTick reaches T, and that it has all been read once the client has
	// read FramesQueued frames (less those lost with a dropped connection).
	FramesQueued   uint64
	LastTick       time.Time
	PingsSent      uint64
	FramesWithheld uint64 // frames and pings not sent because of Stall
	// HandshakesRefused counts refused stream handshakes by HTTP status
	// (401, 403, 423, 429, 503).
	HandshakesRefused map[int]uint64
	SlowReaderDrops   uint64 // connections dropped because their send queue overflowed
	RESTRequests      uint64
	RESTRateLimited   uint64 // 429s from Config.RESTRateLimit
	Faults            FaultStats
}

// FaultStats counts what the injected faults did.
type FaultStats struct {
	Dropped       uint64 // connections closed by DropConnections/DropAll
	Duplicated    uint64 // extra candle frames sent by Duplicate
	Reordered     uint64 // stale candle frames sent by Reorder
	SkippedCloses uint64 // final candle states withheld by SkipClose
	LateFinals    uint64 // final candle states sent late by LateFinals
	LostFinals    uint64 // final candle states never sent by LoseFinals
	// StaleAfterFinal counts the stale updates re-sent after a final.
	StaleAfterFinal uint64
	// Silenced counts the frames Silence, SilenceInstruments and
	// SilenceSchedule kept from being sent: final states, subscription
	// snapshots and error events (updates of forming candles, books and
	// statuses are not produced while silenced, so they are not counted).
	Silenced     uint64
	Refused429   uint64 // handshakes refused by Refuse429
	REST429      uint64 // REST requests refused by REST429
	StallChanges uint64 // calls of Stall that changed the state
}

// counters are the server's live counters behind Stats.
type counters struct {
	framesSent, pingsSent, withheld atomic.Uint64
	framesQueued                    atomic.Uint64
	lastTick                        atomic.Int64 // Unix nanoseconds; 0 before the first tick
	slowDrops                       atomic.Uint64
	restRequests, restRateLimited   atomic.Uint64
	dropped, duplicated, reordered  atomic.Uint64
	skippedCloses, lateFinals       atomic.Uint64
	lostFinals, staleAfterFinal     atomic.Uint64
	silenced                        atomic.Uint64
	refused429, rest429, stalls     atomic.Uint64

	mu      sync.Mutex
	refused map[int]uint64
}

func (c *counters) refuse(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = make(map[int]uint64)
	}
	c.refused[status]++
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		FramesSent:      c.framesSent.Load(),
		FramesQueued:    c.framesQueued.Load(),
		PingsSent:       c.pingsSent.Load(),
		FramesWithheld:  c.withheld.Load(),
		SlowReaderDrops: c.slowDrops.Load(),
		RESTRequests:    c.restRequests.Load(),
		RESTRateLimited: c.restRateLimited.Load(),
		Faults: FaultStats{
			Dropped:         c.dropped.Load(),
			Duplicated:      c.duplicated.Load(),
			Reordered:       c.reordered.Load(),
			SkippedCloses:   c.skippedCloses.Load(),
			LateFinals:      c.lateFinals.Load(),
			LostFinals:      c.lostFinals.Load(),
			StaleAfterFinal: c.staleAfterFinal.Load(),
			Silenced:        c.silenced.Load(),
			Refused429:      c.refused429.Load(),
			REST429:         c.rest429.Load(),
			StallChanges:    c.stalls.Load(),
		},
		HandshakesRefused: make(map[int]uint64),
	}
	if ns := c.lastTick.Load(); ns != 0 {
		st.LastTick = time.Unix(0, ns).UTC()
	}
	c.mu.Lock()
	for k, v := range c.refused {
		st.HandshakesRefused[k] = v
	}
	c.mu.Unlock()
	st.Connections, st.MaxConcurrent = s.conns.counts()
	st.ConnectionCap = s.connectionCap()
	for _, conn := range s.conns.list() {
		st.Subscriptions = append(st.Subscriptions, s.em.subscriptionCount(conn))
	}
	return st
}
