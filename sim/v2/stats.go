package v2sim

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the server's counters.
type Stats struct {
	Streams        int   // market-data streams open now
	MaxStreams     int   // most market-data streams open at once so far
	Subscriptions  []int // candle, book and trade subscriptions of each open stream, oldest first
	OrderStreams   int   // order-state streams open now
	FramesQueued   uint64
	FramesSent     uint64
	PingsSent      uint64
	OrderStates    uint64 // orderState frames queued
	LastTick       time.Time
	RESTRequests   uint64
	RESTErrors     uint64 // error answers, of REST and the archive
	RateLimited    uint64 // 429s from Config.RESTRateLimit and the archive's limit
	ArchiveGets    uint64
	BadRequests    uint64 // stream frames that were not requests (closed with 4003)
	TooManyStreams uint64 // streams closed with 4008 (80001)
	// TooManyRequests counts subscription requests refused by the
	// per-minute limit; LimitExceeded instruments refused by the
	// per-stream one.
	TooManyRequests uint64
	LimitExceeded   uint64
	IdleCloses      uint64 // streams closed without subscriptions (80004)
	SlowDrops       uint64 // streams dropped because their send queue overflowed
	// HandshakesRefused counts refused stream handshakes by HTTP status.
	HandshakesRefused map[int]uint64
	Faults            FaultStats
}

// FaultStats counts what the injected faults did.
type FaultStats struct {
	Dropped     uint64 // streams closed by DropStreams and DropOrderStreams
	Closed      uint64 // streams closed by CloseStreams
	Duplicated  uint64 // extra frames sent by Duplicate
	Withheld    uint64 // data frames not sent because of Stall
	LateTrades  uint64 // trades held back by LateTrades
	Corrections uint64 // corrective candles after a late trade
	Distorted   uint64 // wrong candle updates sent by CorrectiveCandles
	REST429     uint64 // REST requests refused by REST429 and REST429Every
}

type counters struct {
	framesQueued, framesSent, pingsSent, orderStates atomic.Uint64
	lastTick                                         atomic.Int64
	restRequests, restErrors, restRateLimited        atomic.Uint64
	archiveRequests, badRequests, tooManyStreams     atomic.Uint64
	tooManyRequests, limitExceeded, idleCloses       atomic.Uint64
	slowDrops                                        atomic.Uint64
	dropped, closed, duplicated, withheld            atomic.Uint64
	lateTrades, corrections, distorted, rest429      atomic.Uint64

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
		FramesQueued: c.framesQueued.Load(), FramesSent: c.framesSent.Load(), PingsSent: c.pingsSent.Load(),
		OrderStates: c.orderStates.Load(), RESTRequests: c.restRequests.Load(), RESTErrors: c.restErrors.Load(),
		RateLimited: c.restRateLimited.Load(), ArchiveGets: c.archiveRequests.Load(), BadRequests: c.badRequests.Load(),
		TooManyStreams: c.tooManyStreams.Load(), TooManyRequests: c.tooManyRequests.Load(),
		LimitExceeded: c.limitExceeded.Load(), IdleCloses: c.idleCloses.Load(), SlowDrops: c.slowDrops.Load(),
		Faults: FaultStats{
			Dropped: c.dropped.Load(), Closed: c.closed.Load(), Duplicated: c.duplicated.Load(),
			Withheld: c.withheld.Load(), LateTrades: c.lateTrades.Load(), Corrections: c.corrections.Load(),
			Distorted: c.distorted.Load(), REST429: c.rest429.Load(),
		},
	}
	if ns := c.lastTick.Load(); ns != 0 {
		st.LastTick = time.Unix(0, ns).UTC()
	}
	c.mu.Lock()
	st.HandshakesRefused = maps.Clone(c.refused)
	c.mu.Unlock()
	if st.HandshakesRefused == nil {
		st.HandshakesRefused = map[int]uint64{}
	}
	conns := s.conns.list()
	st.Streams = len(conns)
	s.conns.mu.Lock()
	st.MaxStreams = s.conns.maxSeen
	s.conns.mu.Unlock()
	s.em.mu.Lock()
	for _, conn := range conns {
		st.Subscriptions = append(st.Subscriptions, conn.weight)
	}
	s.em.mu.Unlock()
	st.OrderStreams = len(s.orders.list())
	return st
}
