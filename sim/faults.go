package sim

import "sync/atomic"

// Faults injects the failures the real service showed in the wild. Every
// method is safe for concurrent use and counted in Stats().Faults.
type Faults struct {
	srv *Server

	duplicate, reorder, stall, skipClose atomic.Bool
	refuse429, rest429                   atomic.Int64
}

// DropConnections closes up to n stream connections, oldest first, the way
// the real service dropped them: the TCP connection is closed with no
// WebSocket close frame. It returns how many it closed.
func (f *Faults) DropConnections(n int) int {
	dropped := 0
	for _, c := range f.srv.conns.list() {
		if dropped == n {
			break
		}
		if c.abort() {
			f.srv.log.Info("fault: dropped stream connection", "conn", c.id)
			f.srv.stats.dropped.Add(1)
			dropped++
		}
	}
	return dropped
}

// DropAll closes every stream connection abruptly and returns how many.
func (f *Faults) DropAll() int {
	return f.DropConnections(int(^uint(0) >> 1))
}

// Duplicate makes every candle update (not the snapshot on subscribe) go out twice.
func (f *Faults) Duplicate(on bool) { f.duplicate.Store(on) }

// Reorder makes the stream occasionally re-send an older state of a candle
// after a newer one: the previous update after every third update, and the
// previous interval's final candle after the first update of the next interval.
func (f *Faults) Reorder(on bool) { f.reorder.Store(on) }

// Stall stops all sending (data, errors and pings) on every connection while
// on; the connections stay open and keep reading and applying requests. What
// would have been sent meanwhile is discarded, not queued.
func (f *Faults) Stall(on bool) {
	if f.stall.Swap(on) != on {
		f.srv.stats.stalls.Add(1)
	}
}

// SkipClose withholds the final state of closing candles, so the last state
// a client saw may be older than what REST returns for the interval.
func (f *Faults) SkipClose(on bool) { f.skipClose.Store(on) }

// Refuse429 makes the next n stream handshakes fail with HTTP 429.
func (f *Faults) Refuse429(n int) { f.refuse429.Store(int64(n)) }

// REST429 makes the next n REST requests fail with HTTP 429 and an empty body.
func (f *Faults) REST429(n int) { f.rest429.Store(int64(n)) }

// take decrements a fault budget and reports whether one unit was used.
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
