package ingest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
)

// restUpstream answers REST candles with one candle per minute (a price of
// 100 + the minute of the hour), records the ranges asked for, and lets the
// test revise a minute, as a real upstream's lagging REST would.
type restUpstream struct {
	quietUpstream
	epoch   atomic.Uint64
	mu      sync.Mutex
	asked   []tvbridge.Range
	prio    []tvbridge.Priority // the priority of each request
	revised map[int64]float64   // minute -> close REST reports from now on
}

func (u *restUpstream) Candles(ctx context.Context, figi string, from, to time.Time, _ tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.asked = append(u.asked, tvbridge.Range{From: from, To: to})
	u.prio = append(u.prio, tvbridge.PriorityFrom(ctx))
	var out []tvbridge.Candle
	for m := from.Truncate(time.Minute); m.Before(to); m = m.Add(time.Minute) {
		p := 100 + float64(m.Minute())
		c := p
		if r, ok := u.revised[m.Unix()]; ok {
			c = r
		}
		out = append(out, tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: m,
			Open: p, High: max(p, c), Low: min(p, c), Close: c, Volume: 10})
	}
	return out, nil
}

func (u *restUpstream) StreamState(string) (uint64, bool) { return u.epoch.Load(), true }

func (u *restUpstream) latest() tvbridge.Range {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.asked) == 0 {
		return tvbridge.Range{}
	}
	return u.asked[len(u.asked)-1]
}

// The minutes just before a start are served as soon as each has closed,
// not RESTLag later; the minute the stream takes over is never fetched;
// when REST is final, the gap backfill covers them without changing a bar
// already served; and a stream reconnect does the same for the minutes
// before it.
func TestRecentMinutesAreServedBeforeTheRESTLag(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC) // 1 s into 09:00
	up := &restUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)}, revised: map[int64]float64{}}
	s, store, clk := testService(t, up, start, "F")
	if err := s.restore(ctx); err != nil {
		t.Fatal(err)
	}
	minute := func(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, time.UTC) }
	served := func(at time.Time) (tvbridge.Bar, bool) {
		t.Helper()
		bs, err := s.Minutes(ctx, "F", at, at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			return tvbridge.Bar{}, false
		}
		return bs[0], true
	}

	// At 09:00:01, 08:58 is fetched; 08:59 closed only a second ago.
	s.recentPass(ctx)
	if _, ok := served(minute(8, 58)); !ok {
		t.Fatal("08:58 not served right after the start")
	}
	if _, ok := served(minute(8, 59)); ok {
		t.Fatal("08:59 fetched before its grace passed")
	}
	wait, ok := s.recentDue()
	if want := 2 * time.Second; !ok || wait != want {
		t.Fatalf("next recent fetch in %v (%v), want %v", wait, ok, want)
	}
	clk.Advance(wait)
	s.recentPass(ctx)
	first, ok := served(minute(8, 59))
	if !ok {
		t.Fatal("08:59 not served once closed")
	}
	if end := up.latest().To; end.After(minute(9, 0)) {
		t.Fatalf("fetched up to %v: the stream's first minute 09:00 must be left to it", end)
	}
	if _, more := s.recentDue(); more {
		t.Fatal("recent minutes still due after the window is complete")
	}
	if got := s.ClosedBefore("F"); got.After(minute(8, 58)) {
		t.Fatalf("recent minutes counted as closed (ClosedBefore %v) before REST is final", got)
	}
	asked := len(up.asked)
	s.recentPass(ctx) // nothing new: no request
	if len(up.asked) != asked {
		t.Fatal("a recent pass re-fetched minutes it already has")
	}

	// REST revises 08:59 late; when the lag has passed, the backfill covers
	// it, keeps the served bar and counts the difference.
	up.mu.Lock()
	up.revised[minute(8, 59).Unix()] = 42
	up.mu.Unlock()
	clk.Advance(3 * time.Minute)
	s.backfillOne(ctx, "F", "gap backfill")
	if got, _ := served(minute(8, 59)); got != first {
		t.Fatalf("served bar changed: %+v, then %+v", first, got)
	}
	// The start minute 09:00 had no stream (the test sends none), so the
	// backfill covered it too.
	cov, err := store.Covered(ctx, "F", minute(8, 0), minute(9, 5))
	if err != nil || len(cov) != 1 || !cov[0].To.Equal(minute(9, 1)) {
		t.Fatalf("after the REST lag, coverage %v (%v), want everything up to the stream's 09:01", cov, err)
	}
	if got := s.ClosedBefore("F"); !got.Equal(minute(9, 1)) {
		t.Fatalf("ClosedBefore %v, want 09:01", got)
	}

	// A reconnect at 09:03:03: the recent loop is woken and fetches 09:01
	// and 09:02 at once.
	up.epoch.Add(1) // the first connection
	s.markCoverage()
	select {
	case <-s.kick:
	default:
		t.Fatal("the first connection did not wake the recent loop")
	}
	up.epoch.Add(1) // the reconnect
	s.markCoverage()
	select {
	case <-s.kick:
	default:
		t.Fatal("a reconnect did not wake the recent loop")
	}
	s.recentPass(ctx)
	for _, m := range []time.Time{minute(9, 1), minute(9, 2)} {
		if _, ok := served(m); !ok {
			t.Errorf("%v, before the reconnect, not served at once", m.Format(time.TimeOnly))
		}
	}
}

// The recent minutes are fetched with urgent priority, the deep backfill
// with background priority, so the REST budget serves TradingView's next
// request first.
func TestRESTPriorities(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC)
	up := &restUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)}, revised: map[int64]float64{}}
	s, _, _ := testService(t, up, start, "F")
	if err := s.restore(ctx); err != nil {
		t.Fatal(err)
	}
	s.recentPass(ctx)
	up.mu.Lock()
	recent := append([]tvbridge.Priority(nil), up.prio...)
	up.prio = nil
	up.mu.Unlock()
	if len(recent) == 0 || recent[0] != tvbridge.PriorityUrgent {
		t.Fatalf("recent fetch priorities %v, want urgent", recent)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); s.backfillLoop(runCtx) }()
	for s.Progress().InitialDone.Load() < 1 {
		time.Sleep(time.Millisecond) // polling progress; the test's deadline is the guard
	}
	cancel()
	<-done
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, p := range up.prio {
		if p != tvbridge.PriorityBackground {
			t.Fatalf("initial backfill priorities %v, want background", up.prio)
		}
	}
}
