package api

import (
	"net/http"
	"sync/atomic"

	"tvbridge/internal/hist"
)

// Stats are the data endpoints' counters, for metrics.
type Stats struct {
	StreamsOpen   int64  // /streaming connections open now
	StreamsOpened uint64 // /streaming connections opened since start
	StreamLines   uint64 // lines written to /streaming clients: ticks and heartbeats
	StreamBytes   uint64 // bytes of those lines, without the HTTP chunk framing
	// StreamCloses counts /streaming connections ended, by why.
	StreamCloses StreamCloses
	// History is /history's requests and latency by resolution label: see
	// HistoryResolutions.
	History []HistoryStats
}

// StreamCloses counts ended /streaming connections by reason.
type StreamCloses struct {
	ClientGone  uint64 // the request ended: the client went away, or the server shut down
	TooSlow     uint64 // fell behind the tape's window (a slow consumer)
	WriteFailed uint64 // a write failed or timed out (a stalled consumer)
	TapeFailed  uint64 // the tape reader failed
}

// HistoryStats is /history's traffic for one resolution label.
type HistoryStats struct {
	Resolution string
	Requests   uint64
	// Latency is timed by a RequestTimer, when the handler is served behind
	// one (serve puts the metrics middleware in front); without one it
	// stays empty.
	Latency hist.Snapshot
}

// RequestTimer is implemented by a ResponseWriter that times the request it
// answers: the metrics middleware's. /history hands it the histogram of the
// request's resolution, so that a request is timed once, by the clock reads
// the middleware makes anyway. Reading the clock twice more here cost a
// tenth of a cached /history answer in process.
type RequestTimer interface {
	// AlsoObserve asks the timer to record the request's duration in h
	// too, once the request is done.
	AlsoObserve(h *hist.Histogram)
}

// HistoryResolutions are the resolution labels /history is counted under:
// TradingView's usual resolutions by name, every other valid one as
// "other", and requests that did not parse as "invalid". The set is fixed,
// so what clients ask for cannot grow it.
var HistoryResolutions = []string{"1", "3", "5", "15", "30", "45", "60", "120", "180", "240",
	"1D", "1W", "1M", "other", "invalid"}

const (
	resOther   = 13
	resInvalid = 14
)

// resolutionLabel is r's index in HistoryResolutions.
func resolutionLabel(r resolution) int {
	switch r.unit {
	case unitMinute:
		switch r.n {
		case 1:
			return 0
		case 3:
			return 1
		case 5:
			return 2
		case 15:
			return 3
		case 30:
			return 4
		case 45:
			return 5
		case 60:
			return 6
		case 120:
			return 7
		case 180:
			return 8
		case 240:
			return 9
		}
	case unitDay:
		if r.n == 1 {
			return 10
		}
	case unitWeek:
		if r.n == 1 {
			return 11
		}
	case unitMonth:
		if r.n == 1 {
			return 12
		}
	}
	return resOther
}

// stats are the handler's lock-free counters.
type stats struct {
	streamsOpened atomic.Uint64
	lines, bytes  atomic.Uint64
	closes        [nCloseReasons]atomic.Uint64
	requests      []atomic.Uint64   // /history, by resolution label
	history       []*hist.Histogram // by resolution label
}

// Reasons a /streaming connection ends, the indexes of stats.closes.
const (
	closeClientGone = iota
	closeTooSlow
	closeWriteFailed
	closeTapeFailed
	nCloseReasons
)

func newStats() *stats {
	s := &stats{requests: make([]atomic.Uint64, len(HistoryResolutions)), history: make([]*hist.Histogram, len(HistoryResolutions))}
	for i := range s.history {
		s.history[i] = hist.New(nil)
	}
	return s
}

// countHistory counts a /history request of resolution label res, and
// has it timed if w can.
func (s *stats) countHistory(w http.ResponseWriter, res int) {
	s.requests[res].Add(1)
	if t, ok := w.(RequestTimer); ok {
		t.AlsoObserve(s.history[res])
	}
}

// wrote counts a chunk written to a /streaming client.
func (s *stats) wrote(lines, bytes int) {
	s.lines.Add(uint64(lines))
	s.bytes.Add(uint64(bytes))
}

// closed counts an ended /streaming connection by the reason run gave. (A
// client leaving a taken-over connection also cancels the request's
// context, so a shutdown cannot be told from it here.)
func (s *stats) closed(reason string) {
	i := closeClientGone
	switch {
	case reason == reasonTooSlow:
		i = closeTooSlow
	case reason == reasonWriteFailed:
		i = closeWriteFailed
	case reason == reasonTapeFailed:
		i = closeTapeFailed
	}
	s.closes[i].Add(1)
}

// Stats returns the handler's counters.
func (h *Handler) Stats() Stats {
	s := h.stats
	st := Stats{
		StreamsOpen:   h.streams.Load(),
		StreamsOpened: s.streamsOpened.Load(),
		StreamLines:   s.lines.Load(),
		StreamBytes:   s.bytes.Load(),
		StreamCloses: StreamCloses{
			ClientGone:  s.closes[closeClientGone].Load(),
			TooSlow:     s.closes[closeTooSlow].Load(),
			WriteFailed: s.closes[closeWriteFailed].Load(),
			TapeFailed:  s.closes[closeTapeFailed].Load(),
		},
		History: make([]HistoryStats, len(s.history)),
	}
	for i, hh := range s.history {
		st.History[i] = HistoryStats{Resolution: HistoryResolutions[i], Requests: s.requests[i].Load(), Latency: hh.Snapshot()}
	}
	return st
}
