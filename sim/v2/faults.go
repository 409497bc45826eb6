package v2sim

import (
	"sync/atomic"
	"time"
)

// Faults injects the failures a client of the real service must survive.
// Every method is safe for concurrent use and takes effect at once; what
// the faults did is counted in Stats().Faults.
type Faults struct {
	srv *Server

	duplicate, stall, corrective atomic.Bool
	lateTrades                   atomic.Int64 // a time.Duration; 0 off
	rest429, refuse              atomic.Int64 // budgets of the next requests
	rest429Every                 atomic.Int64 // one in n; 0 off
	restSeen                     atomic.Uint64
}

// DropStreams closes up to n market-data streams, oldest first, abruptly:
// the TCP connection closes without a WebSocket close frame. It returns
// how many it closed.
func (f *Faults) DropStreams(n int) int {
	dropped := 0
	for _, c := range f.srv.conns.list() {
		if dropped == n {
			break
		}
		if c.abort() {
			f.srv.stats.dropped.Add(1)
			dropped++
		}
	}
	return dropped
}

// DropOrderStreams closes every OrderStateStream abruptly and returns how
// many.
func (f *Faults) DropOrderStreams() int {
	n := 0
	for _, c := range f.srv.orders.list() {
		if c.abort() {
			f.srv.stats.dropped.Add(1)
			n++
		}
	}
	return n
}

// CloseStreams closes every market-data stream with a close frame: code is
// a v2 close code (wire.CloseInvalidArgument, CloseDeadlineExceeded,
// CloseResourceExhausted, CloseUnauthenticated) and text its reason,
// usually naming a service code ("80005: stream lifetime exceeded").
func (f *Faults) CloseStreams(code int, text string) int {
	n := 0
	for _, c := range f.srv.conns.list() {
		c.closeWith(code, text)
		f.srv.stats.closed.Add(1)
		n++
	}
	return n
}

// Duplicate sends every trade, candle, order-book and order-state frame
// twice in a row.
func (f *Faults) Duplicate(on bool) { f.duplicate.Store(on) }

// Stall keeps every stream open and pinged, and its subscription answers
// flowing, but sends no data (no trade, candle, book, status, last price or
// order state) while on. What would have been sent is discarded.
func (f *Faults) Stall(on bool) { f.stall.Store(on) }

// LateTrades holds back the last trade of every minute of every streamed
// instrument: the minute's candle closes without it, and it is delivered
// delay after the minute's end (after the next minute's first trade at or
// past that time, or at the first tick past it), followed by a corrective
// candle of its minute (and of any longer interval it belongs to). That
// corrected candle equals GetCandles. delay <= 0 ends the fault; a held
// trade still goes out.
func (f *Faults) LateTrades(delay time.Duration) { f.lateTrades.Store(int64(max(delay, 0))) }

// CorrectiveCandles makes every other update of a forming candle a wrong
// state (one lot more and the high one tick higher), corrected by the next
// update, so a client sees a candle's values change back before its
// final state, which is always right.
func (f *Faults) CorrectiveCandles(on bool) { f.corrective.Store(on) }

// REST429 makes the next n REST requests fail with 429 RESOURCE_EXHAUSTED
// (80002), with the x-ratelimit headers saying when the window resets.
func (f *Faults) REST429(n int) { f.rest429.Store(int64(n)) }

// REST429Every makes one REST request in n fail that way (the n-th, 2n-th,
// ... counted from this call); n <= 0 ends it.
func (f *Faults) REST429Every(n int) {
	f.restSeen.Store(0)
	f.rest429Every.Store(int64(max(n, 0)))
}

// RefuseStreams makes the next n stream handshakes fail with HTTP 429.
func (f *Faults) RefuseStreams(n int) { f.refuse.Store(int64(n)) }

// FaultSettings is what is switched on.
type FaultSettings struct {
	Duplicate, Stall, CorrectiveCandles bool
	LateTrades                          time.Duration
	REST429, RefuseStreams              int // budgets left
	REST429Every                        int
}

// Settings returns what is switched on.
func (f *Faults) Settings() FaultSettings {
	return FaultSettings{
		Duplicate: f.duplicate.Load(), Stall: f.stall.Load(), LateTrades: time.Duration(f.lateTrades.Load()),
		CorrectiveCandles: f.corrective.Load(), REST429: int(max(f.rest429.Load(), 0)),
		RefuseStreams: int(max(f.refuse.Load(), 0)), REST429Every: int(f.rest429Every.Load()),
	}
}

// rest429Due reports whether this REST request is to be refused.
func (f *Faults) rest429Due() bool {
	if take(&f.rest429) {
		return true
	}
	n := f.rest429Every.Load()
	return n > 0 && f.restSeen.Add(1)%uint64(n) == 0
}

func (f *Faults) refuseDue() bool { return take(&f.refuse) }

// take decrements a budget and reports whether one unit was used.
func take(budget *atomic.Int64) bool {
	for {
		n := budget.Load()
		if n <= 0 {
			return false
		}
		if budget.CompareAndSwap(n, n-1) {
			return true
		}
	}
}
