package trading

import (
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/internal/hist"
)

// Stats counts what the Manager's orders did since it started, for metrics.
// Orders loaded at a restart are not counted again.
type Stats struct {
	Placed    uint64 // orders placed (closing orders included, brackets not)
	Brackets  uint64 // stop-loss and take-profit orders created with their parent
	Filled    uint64 // orders that reached filled
	Cancelled uint64 // ... cancelled (by the trader, OCO, expiry or the venue)
	Rejected  uint64 // ... rejected by the venue
	Triggered uint64 // held stops, stop-limits and brackets triggered by a trade
	// Refused counts placements refused before any order existed: invalid
	// requests, insufficient funds, a requestId reused for another order.
	Refused uint64
	// PlaceToAck is the latency from a placement to its answer: the order
	// committed and, for a market or limit order, acknowledged (or refused)
	// by the venue.
	PlaceToAck hist.Snapshot
}

// stats are the Manager's counters; the zero value is ready.
type stats struct {
	placed, brackets, filled, cancelled, rejected, triggered, refused atomic.Uint64

	ackOnce sync.Once
	ackHist *hist.Histogram
}

func (s *stats) placeToAck() *hist.Histogram {
	s.ackOnce.Do(func() { s.ackHist = hist.New(nil) })
	return s.ackHist
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	s := &m.stats
	return Stats{
		Placed: s.placed.Load(), Brackets: s.brackets.Load(),
		Filled: s.filled.Load(), Cancelled: s.cancelled.Load(), Rejected: s.rejected.Load(),
		Triggered: s.triggered.Load(), Refused: s.refused.Load(),
		PlaceToAck: s.placeToAck().Snapshot(),
	}
}

// installed counts what a committed order record changed against the one
// it replaces (prev, nil for a new order).
func (s *stats) installed(prev, o *OrderRecord) {
	switch {
	case prev != nil:
	case o.ParentID == "":
		s.placed.Add(1)
	default:
		s.brackets.Add(1)
	}
	if o.Triggered && (prev == nil || !prev.Triggered) {
		s.triggered.Add(1)
	}
	if !o.Status.Final() || prev != nil && prev.Status.Final() {
		return
	}
	switch o.Status {
	case tvbridge.OrderFilled:
		s.filled.Add(1)
	case tvbridge.OrderCancelled:
		s.cancelled.Add(1)
	case tvbridge.OrderRejected:
		s.rejected.Add(1)
	}
}

// placing is deferred by place with its start time and results: an answer
// with an order is an acknowledgement, an error without one a refusal.
func (s *stats) placing(start time.Time, o *tvbridge.Order, err *error) {
	switch {
	case o.ID != "":
		s.placeToAck().Since(start)
	case *err != nil:
		s.refused.Add(1)
	}
}
