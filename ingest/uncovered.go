package ingest

import (
	"time"

	"tvbridge"
)

// The backfill's progress in minutes, for metrics: how much of the window
// BackfillDepth x instruments is not yet known complete. Each backfill pass
// over an instrument measures its uncovered minutes (in the part of the
// window the backfill may touch) and counts them down as it fills them; an
// instrument not examined yet counts as wholly uncovered, so the total only
// shrinks while the initial backfill runs. The per-instrument figures are
// owned by the backfill goroutine; Progress carries the totals.

// initUncovered counts every instrument's whole window as uncovered.
func (s *Service) initUncovered() {
	window := int64(s.cfg.BackfillDepth / time.Minute)
	s.uncovered = make(map[string]int64, len(s.order))
	for _, figi := range s.order {
		s.uncovered[figi] = window
	}
	s.progress.WindowMinutes.Store(window * int64(len(s.order)))
	s.progress.UncoveredMinutes.Store(window * int64(len(s.order)))
}

// setUncovered records the minutes of figi's window measured uncovered.
func (s *Service) setUncovered(figi string, gaps []tvbridge.Range) {
	var n int64
	for _, g := range gaps {
		n += int64(g.To.Sub(g.From) / time.Minute)
	}
	s.progress.UncoveredMinutes.Add(n - s.uncovered[figi])
	s.uncovered[figi] = n
}

// filledUncovered counts down the minutes of a chunk just filled.
func (s *Service) filledUncovered(figi string, chunk tvbridge.Range) {
	n := min(int64(chunk.To.Sub(chunk.From)/time.Minute), s.uncovered[figi])
	s.uncovered[figi] -= n
	s.progress.UncoveredMinutes.Add(-n)
}
