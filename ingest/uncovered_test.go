package ingest

import (
	"context"
	"testing"
	"time"

	"tvbridge"
)

// The uncovered minutes start at the whole window of every instrument and
// count down as each instrument's gaps are measured and filled.
func TestUncoveredMinutes(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC)
	up := &restUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)}, revised: map[int64]float64{}}
	s, _, _ := testService(t, up, start, "F", "G")
	p := s.Progress()
	if w, u := p.WindowMinutes.Load(), p.UncoveredMinutes.Load(); w != 120 || u != 120 {
		t.Fatalf("window %d, uncovered %d; want 2 instruments x 60 minutes, all uncovered", w, u)
	}
	if err := s.restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.fillGaps(ctx, "F"); err != nil {
		t.Fatal(err)
	}
	if u := p.UncoveredMinutes.Load(); u != 60 {
		t.Fatalf("uncovered %d after F's backfill, want G's 60", u)
	}
	if err := s.fillGaps(ctx, "G"); err != nil {
		t.Fatal(err)
	}
	if u := p.UncoveredMinutes.Load(); u != 0 {
		t.Fatalf("uncovered %d after both, want 0", u)
	}
}
