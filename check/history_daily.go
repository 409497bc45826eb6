package check

import (
	"context"
	"slices"
	"time"

	"tvbridge"
)

// dailyTries is how many recent daily bars are tried for a day whose
// session the 1-minute history covers.
const dailyTries = 4

// checkDaily runs the daily-bar checks of one symbol.
func (r *runner) checkDaily(ctx context.Context, s *subject, tallies map[string]*tally) {
	names := []string{"history/future-to-daily", "history/daily-time", "history/daily-matches-minutes"}
	if !s.sym.HasDaily {
		for _, n := range names {
			tallies[n].skip("%s: has-daily is false, TradingView builds its daily bars", s)
		}
		return
	}
	if r.sel.enabled("history/future-to-daily") {
		r.checkFutureDaily(ctx, s, tallies["history/future-to-daily"])
	}
	now := r.clk.Now().Unix()
	ex, h, err := r.fetchHistory(ctx, s.sym, resDaily, now-40*secondsPerDay, now, 0)
	if err != nil {
		for _, n := range names[1:] {
			tallies[n].fail(ex, "%s daily bars: %v", s, err)
		}
		return
	}
	if r.sel.enabled("history/daily-time") {
		checkDailyTime(s, h.Bars, ex, tallies["history/daily-time"])
	}
	if r.sel.enabled("history/daily-matches-minutes") {
		r.checkDailyMatches(ctx, s, h.Bars, tallies["history/daily-matches-minutes"])
	}
}

// checkFutureDaily asks for daily bars up to 10 days ahead: none may lie
// after the current trading day (in the symbol's zone, an overnight
// session's day may be tomorrow's date).
func (r *runner) checkFutureDaily(ctx context.Context, s *subject, t *tally) {
	now := r.clk.Now()
	ex, h, err := r.fetchHistory(ctx, s.sym, resDaily, now.Unix()-10*secondsPerDay, now.Unix()+10*secondsPerDay, 0)
	if err != nil {
		t.fail(ex, "%s: %v", s, err)
		return
	}
	local := now
	if s.sym.Sched != nil {
		local = now.In(s.sym.Sched.Location())
	}
	y, m, d := local.Date()
	latest := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Unix()
	for _, b := range h.Bars {
		if b.T > latest {
			t.fail(ex, "%s: daily bar %s lies after the current trading day", s, unixString(b.T))
			return
		}
	}
	t.pass("%s: no daily bar in the future", s)
}

// checkDailyTime requires each daily bar on a trading day of the session.
func checkDailyTime(s *subject, bars []bar, ex *exchange, t *tally) {
	if s.sym.Sched == nil {
		t.skip("%s: no usable session-regular", s)
		return
	}
	if len(bars) == 0 {
		t.skip("%s: no daily bars in the last 40 days", s)
		return
	}
	for _, b := range bars {
		date := time.Unix(b.T, 0).UTC()
		if len(s.sym.Sched.Periods(date)) == 0 {
			t.fail(ex, "%s: daily bar %s falls on a %s, which session %q does not trade", s,
				date.Format(time.DateOnly), date.Weekday(), s.sym.Session)
			return
		}
	}
	t.pass("%s: %s stamped on trading days", s, plural(len(bars), "daily bar"))
}

// checkDailyMatches compares a daily bar's open and close with the first
// and last 1-minute bars of its session. It prefers the latest closed day
// whose session the 1-minute history covers (a bar exists before the
// session opens); failing that, today's open day, compared on a
// consistent snapshot.
func (r *runner) checkDailyMatches(ctx context.Context, s *subject, daily []bar, t *tally) {
	if s.sym.Sched == nil {
		t.skip("%s: no usable session-regular", s)
		return
	}
	now := r.clk.Now().Unix()
	var openDay *bar
	tries := 0
	for i := len(daily) - 1; i >= 0 && tries < dailyTries; i-- {
		d := daily[i]
		periods := s.sym.Sched.Periods(time.Unix(d.T, 0).UTC())
		if len(periods) == 0 {
			continue // history/daily-time reports it
		}
		if periods[len(periods)-1].Close.Unix()+closeMargin > now {
			if openDay == nil {
				openDay = &daily[i]
			}
			continue
		}
		tries++
		if done := r.compareDay(ctx, s, d, periods, true, t); done {
			return
		}
	}
	if openDay != nil {
		periods := s.sym.Sched.Periods(time.Unix(openDay.T, 0).UTC())
		if r.compareDay(ctx, s, *openDay, periods, false, t) {
			return
		}
	}
	t.skip("%s: no recent day whose session the 1-minute history covers", s)
}

// compareDay compares one daily bar with its minutes. It returns false
// when the day cannot be compared (its session is not covered).
func (r *runner) compareDay(ctx context.Context, s *subject, d bar, periods []tvbridge.Period, closed bool, t *tally) bool {
	open, end := periods[0].Open.Unix(), periods[len(periods)-1].Close.Unix()
	if !r.minutesBefore(ctx, s, open) {
		return false
	}
	day := time.Unix(d.T, 0).UTC().Format(time.DateOnly)
	ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, open, end-1, 0)
	if err != nil {
		t.fail(ex, "%s %s minutes: %v", s, day, err)
		return true
	}
	if len(h.Bars) == 0 {
		t.fail(ex, "%s: daily bar %s (%s) has no 1-minute bars in its session %s..%s", s, day, d,
			unixString(open), unixString(end))
		return true
	}
	if !near(h.Bars[0].O, d.O) {
		t.fail(ex, "%s %s: daily open %g, the session's first 1-minute bar (%s) opens at %g", s, day, d.O,
			unixString(h.Bars[0].T), h.Bars[0].O)
		return true
	}
	if !closed {
		d, minutes, ok := r.stableClose(ctx, s, d, open, end, h.Bars)
		if !ok {
			t.pass("%s %s (open day): open matches; the close kept moving, not compared", s, day)
			return true
		}
		return r.compareClose(s, day, d.C, minutes, ex, t, "open day")
	}
	return r.compareClose(s, day, d.C, h.Bars, ex, t, "closed day")
}

func (r *runner) compareClose(s *subject, day string, dailyClose float64, minutes []bar, ex *exchange, t *tally, what string) bool {
	last := minutes[len(minutes)-1]
	if !near(last.C, dailyClose) {
		t.fail(ex, "%s %s: daily close %g, the session's last 1-minute bar (%s) closes at %g", s, day, dailyClose,
			unixString(last.T), last.C)
		return true
	}
	t.pass("%s %s (%s): daily open and close match the session's first and last 1-minute bars", s, day, what)
	return true
}

// stableClose re-reads the open day's daily bar and minutes until the last
// minute did not move in between, so the close is compared on one
// snapshot. It returns that daily bar and the minutes read after it (their
// last bar is the one the daily bar was built with).
func (r *runner) stableClose(ctx context.Context, s *subject, d bar, open, end int64, minutes []bar) (bar, []bar, bool) {
	for range 3 {
		_, dh, err := r.fetchHistory(ctx, s.sym, resDaily, d.T, d.T, 0)
		if err != nil || len(dh.Bars) != 1 {
			return d, nil, false
		}
		_, mh, err := r.fetchHistory(ctx, s.sym, resMinute, open, end-1, 0)
		if err != nil || len(mh.Bars) == 0 {
			return d, nil, false
		}
		if slices.EqualFunc(minutes[len(minutes)-1:], mh.Bars[len(mh.Bars)-1:], sameBar) {
			return dh.Bars[0], mh.Bars, true
		}
		minutes = mh.Bars
	}
	return d, nil, false
}

// minutesBefore reports whether the 1-minute history reaches back before
// open: a bar within the 4 days before it.
func (r *runner) minutesBefore(ctx context.Context, s *subject, open int64) bool {
	for k := int64(1); k <= 4; k++ {
		_, h, err := r.fetchHistory(ctx, s.sym, resMinute, open-k*secondsPerDay, open-(k-1)*secondsPerDay-1, 0)
		if err != nil {
			return false
		}
		if len(h.Bars) > 0 {
			return true
		}
	}
	return false
}
