package check

import (
	"context"
	"time"
)

// closedWindow is how far back the closed-bars check looks.
const closedWindow = 30 * 60

// snapshot is a symbol's recent bars at one instant.
type snapshot struct {
	at, from int64 // when it was read, and the start of its range
	bars     []bar
	ex       *exchange
}

// checkClosedBars reads each symbol's last 30 minutes, waits for new data
// (a minute that was open closes and a newer one starts), reads again and
// requires every bar that was closed the first time to be unchanged.
func (r *runner) checkClosedBars(ctx context.Context, subjects []*subject, deadline time.Time, t *tally) {
	before := make(map[*subject]snapshot)
	for _, s := range subjects {
		snap, err := r.snapshot(ctx, s)
		if err != nil {
			t.fail(snap.ex, "%s: %v", s, err)
			continue
		}
		before[s] = snap
	}
	t0 := r.clk.Now().Unix()
	// The minute open at t0 has closed 5 s after it ends.
	wait := time.Duration(t0-t0%60+65-t0) * time.Second
	for len(before) > 0 {
		if err := r.sleep(ctx, wait); err != nil {
			return
		}
		wait = 10 * time.Second
		for s, b := range before {
			after, err := r.snapshot(ctx, s)
			switch {
			case err != nil:
				t.fail(after.ex, "%s: %v", s, err)
			case !newer(b.bars, after.bars):
				continue // no new data yet
			default:
				compareClosed(s, b, after, t)
			}
			delete(before, s)
		}
		if !r.clk.Now().Before(deadline) {
			break
		}
	}
	for s := range before {
		t.skip("%s: no new bar arrived before %s (out of session?)", s, deadline.UTC().Format(time.TimeOnly))
	}
}

// snapshot reads the last closedWindow seconds of 1-minute bars, the open
// bar included.
func (r *runner) snapshot(ctx context.Context, s *subject) (snapshot, error) {
	now := r.clk.Now().Unix()
	open := now - now%60
	ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, open-closedWindow, open+59, 0)
	return snapshot{at: now, from: open - closedWindow, bars: h.Bars, ex: ex}, err
}

// newer reports whether after has a bar later than every bar of before.
func newer(before, after []bar) bool {
	if len(after) == 0 {
		return false
	}
	return len(before) == 0 || after[len(after)-1].T > before[len(before)-1].T
}

// compareClosed requires every bar closed at the first read to be
// unchanged at the second, and no bar to appear in that closed past.
func compareClosed(s *subject, before, after snapshot, t *tally) {
	closedBefore := before.at - 60 - closeMargin // bars starting at or before it were closed
	from := max(before.from, after.from)         // both reads cover [from, closedBefore]
	got := make(map[int64]bar, len(after.bars))
	for _, b := range after.bars {
		got[b.T] = b
	}
	had := make(map[int64]bool, len(before.bars))
	compared := 0
	for _, b := range before.bars {
		had[b.T] = true
		if b.T > closedBefore || b.T < from {
			continue
		}
		compared++
		a, ok := got[b.T]
		switch {
		case !ok:
			t.fail(after.ex, "%s: closed bar %s (%s) disappeared when new data arrived", s, unixString(b.T), b)
			return
		case !sameBar(a, b):
			t.fail(after.ex, "%s: closed bar %s changed when new data arrived: %s, then %s", s, unixString(b.T), b, a)
			return
		}
	}
	for _, a := range after.bars {
		if a.T <= closedBefore && a.T >= from && !had[a.T] {
			t.fail(after.ex, "%s: bar %s (%s) appeared in a minute that was already closed", s, unixString(a.T), a)
			return
		}
	}
	if compared == 0 {
		t.skip("%s: no closed bar in the last 30 minutes to compare", s)
		return
	}
	t.pass("%s: %s closed before new data arrived are unchanged", s, plural(compared, "bar"))
}
