package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"tvbridge"
)

// perInstrumentUpstream reports a stream state per instrument, set by the
// test, and answers REST candles, recording which instrument was asked.
type perInstrumentUpstream struct {
	quietUpstream
	mu     sync.Mutex
	states map[string]streamState
	asked  map[string]int
}

func (u *perInstrumentUpstream) StreamState(figi string) (uint64, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.states[figi]
	return st.epoch, st.live
}

func (u *perInstrumentUpstream) set(figi string, epoch uint64, live bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.states[figi] = streamState{epoch, live}
}

func (u *perInstrumentUpstream) Candles(_ context.Context, figi string, from, to time.Time, _ tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.asked[figi]++
	var out []tvbridge.Candle
	for m := from.Truncate(time.Minute); m.Before(to); m = m.Add(time.Minute) {
		out = append(out, tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: m,
			Open: 100, High: 101, Low: 99, Close: 100, Volume: 10})
	}
	return out, nil
}

func (u *perInstrumentUpstream) requests(figi string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.asked[figi]
}

// When one instrument's stream drops and comes back, only that instrument's
// minutes around the outage are left to REST; the other instrument stays
// covered throughout and costs no request.
func TestStreamRestartUncoversOnlyItsInstrument(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC)
	up := &perInstrumentUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)},
		states: map[string]streamState{}, asked: map[string]int{}}
	s, store, clk := testService(t, up, start, "F", "G")
	if err := s.restore(ctx); err != nil { // neither stream is live yet
		t.Fatal(err)
	}
	minute := func(mm int) time.Time { return time.Date(2026, 3, 2, 9, mm, 0, 0, time.UTC) }
	// runUntil sweeps and flushes every 15 s, as the event loop and the
	// flusher would.
	runUntil := func(t time.Time) {
		for clk.Now().Before(t) {
			clk.Advance(15 * time.Second)
			s.markCoverage()
			s.flush(ctx)
		}
	}
	covered := func(figi string) string {
		cov, err := store.Covered(ctx, figi, minute(0), minute(59))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(cov)
	}

	// Before its first connection an instrument is expected to be streamed
	// from the start, so the minutes just before it are fetched at once.
	s.recentPass(ctx)
	if bs, err := s.Minutes(ctx, "F", minute(0).Add(-2*time.Minute), minute(0)); err != nil || len(bs) != 1 {
		t.Fatalf("08:58 not served at the start: %v, %v", bs, err)
	}

	up.set("F", 1, true)
	up.set("G", 1, true)
	runUntil(minute(10).Add(30 * time.Second))
	if got := covered("F"); got != covered("G") || got == "[]" {
		t.Fatalf("both streams live since 09:00: F covered %s, G %s", got, covered("G"))
	}
	// The initial backfill (the hour before the start) for both, before
	// the outage; from here on only the outage may cost requests.
	s.backfillOne(ctx, "F", "initial backfill")
	s.backfillOne(ctx, "G", "initial backfill")
	up.mu.Lock()
	clear(up.asked)
	up.mu.Unlock()

	up.set("F", 1, false) // F's connection drops at 09:10:45 ...
	runUntil(minute(13).Add(30 * time.Second))
	// While F is down its minutes come from REST as they close.
	if end := s.recentEnd("F", clk.Now()); !end.Equal(minute(13)) {
		t.Errorf("F is down: the recent loop fetches up to %v, want every closed minute (09:13)", end)
	}
	up.set("F", 2, true) // ... and is back at 09:13:45
	runUntil(minute(20))

	g := fmt.Sprint([]tvbridge.Range{{From: minute(0), To: minute(17)}})
	if got := covered("G"); got != g {
		t.Errorf("G, whose stream never dropped: covered %s, want %s", got, g)
	}
	if got, want := covered("F"), fmt.Sprint([]tvbridge.Range{{From: minute(0), To: minute(8)}, {From: minute(14), To: minute(17)}}); got != want {
		t.Errorf("F: covered %s, want %s (09:08 to 09:14 left to REST)", got, want)
	}
	if s.backfillLimit("G").After(minute(17)) {
		t.Errorf("G's backfill may run to %v, into minutes its stream is responsible for", s.backfillLimit("G"))
	}

	// The recent loop fetches F's last minutes before its return at once;
	// the backfill fills its gap once REST is final. G costs nothing.
	s.recentPass(ctx)
	s.backfillOne(ctx, "F", "gap backfill")
	s.backfillOne(ctx, "G", "gap backfill")
	if n := up.requests("G"); n != 0 {
		t.Errorf("G: %d REST requests, want 0", n)
	}
	if n := up.requests("F"); n == 0 {
		t.Error("F: no REST request for its gap")
	}
	if got, want := covered("F"), g; got != want {
		t.Errorf("F after the backfill: covered %s, want %s", got, want)
	}
}
