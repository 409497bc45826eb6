package check

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

const (
	secondsPerDay = 24 * 60 * 60
	resMinute     = "1"
	resDaily      = "1D"

	// closeMargin is how long after its minute ends a bar counts as
	// closed: servers finalize a minute a few seconds late.
	closeMargin = 30
)

// subject is one symbol the /history checks run on, with a reference
// answer: the closed 1-minute bars of about a day.
type subject struct {
	sym     *symbolRef
	probeAt int64 // Unix s of the reference request
	ref     []bar
}

func (s *subject) String() string { return describe(s.sym) }

// fetchHistory requests bars and parses the answer; err covers transport
// errors, bad answers and s:error alike. The observer sees every answer.
func (r *runner) fetchHistory(ctx context.Context, sym *symbolRef, res string, from, to int64, countback int) (*exchange, history, error) {
	q := url.Values{"symbol": {sym.Ticker}, "resolution": {res},
		"from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)}}
	if countback > 0 {
		q.Set("countback", strconv.Itoa(countback))
	}
	ex := r.c.get(ctx, "/history", q, withToken)
	if err := ex.failed(); err != nil {
		return ex, history{}, err
	}
	h, err := parseHistory(ex.body)
	r.obs.history(ex, res, h, err)
	switch {
	case err != nil:
		return ex, h, err
	case h.Status == "error":
		return ex, h, fmt.Errorf("s:error, errmsg %q", h.Errmsg)
	}
	return ex, h, nil
}

// sleep waits on the run's clock.
func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	t := r.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkHistory runs the /history checks on a sample of symbols. The
// closed-bars check waits for new data until the stream ends, and at
// least 2 minutes.
func (r *runner) checkHistory(ctx context.Context, streamEnd time.Time) {
	if !r.sel.anyEnabled("history") {
		return
	}
	subjects, why := r.pickSubjects(ctx)
	if len(subjects) == 0 {
		r.skipAll("history", "%s", why)
		return
	}
	names := make([]string, len(subjects))
	for i, s := range subjects {
		names[i] = s.String()
	}
	r.log.Info("history checks", "symbols", joinLimited(names, 10))
	tallies := make(map[string]*tally)
	for _, c := range catalogue {
		tallies[c.Name] = &tally{}
	}
	var wg sync.WaitGroup
	if r.sel.enabled("history/closed-bars-unchanged") {
		wg.Go(func() {
			deadline := streamEnd
			if least := r.clk.Now().Add(2 * time.Minute); deadline.Before(least) {
				deadline = least
			}
			r.checkClosedBars(ctx, subjects, deadline, tallies["history/closed-bars-unchanged"])
		})
	}
	for _, s := range subjects {
		wg.Go(func() { r.checkSubject(ctx, s, tallies) })
	}
	for i, s := range subjects {
		if i < 2 {
			r.checkLeftBoundary(ctx, s, tallies["history/left-boundary"])
		}
	}
	wg.Wait()
	for _, c := range catalogue {
		if matches("history", c.Name) && c.Name != "history/format" && c.Name != "history/bar-times" {
			r.setTally(c.Name, tallies[c.Name])
		}
	}
}

// checkSubject runs the per-symbol checks in turn.
func (r *runner) checkSubject(ctx context.Context, s *subject, tallies map[string]*tally) {
	type step struct {
		name string
		run  func(context.Context, *subject, *tally)
	}
	steps := []step{
		{"history/from-equals-to", r.checkFromEqualsTo},
		{"history/window-50", r.checkWindow50},
		{"history/repeatability", r.checkRepeatability},
		{"history/short-queries-equal-large", r.checkShortQueries},
		{"history/future-to-minutes", r.checkFutureMinutes},
		{"history/countback", r.checkCountback},
		{"history/gap", r.checkGap},
	}
	for _, st := range steps {
		if r.sel.enabled(st.name) && ctx.Err() == nil {
			st.run(ctx, s, tallies[st.name])
		}
	}
	if r.sel.anyEnabled("history/future-to-daily") || r.sel.anyEnabled("history/daily-time") ||
		r.sel.anyEnabled("history/daily-matches-minutes") {
		r.checkDaily(ctx, s, tallies)
	}
}

// checkFromEqualsTo asks for single bars: the first, middle and last of
// the reference.
func (r *runner) checkFromEqualsTo(ctx context.Context, s *subject, t *tally) {
	if len(s.ref) == 0 {
		t.skip("%s: no closed bars", s)
		return
	}
	for _, b := range []bar{s.ref[0], s.ref[len(s.ref)/2], s.ref[len(s.ref)-1]} {
		ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, b.T, b.T, 0)
		switch {
		case err != nil:
			t.fail(ex, "%s from=to=%s: %v", s, unixString(b.T), err)
			return
		case len(h.Bars) != 1:
			t.fail(ex, "%s from=to=%s returned %d bars, want exactly the bar at that time", s, unixString(b.T), len(h.Bars))
			return
		case !sameBar(h.Bars[0], b):
			t.fail(ex, "%s from=to=%s returned %s at %s; the day's answer has %s", s, unixString(b.T),
				h.Bars[0], unixString(h.Bars[0].T), b)
			return
		}
	}
	t.pass("%s: each from==to request returned exactly its bar", s)
}

// checkWindow50 asks for the 50 minutes starting at a bar, in the densest
// part of the reference: at most 50 bars, both boundary bars included.
func (r *runner) checkWindow50(ctx context.Context, s *subject, t *tally) {
	from, n := densestWindow(s.ref, 50*60)
	if n == 0 {
		t.skip("%s: no closed bars", s)
		return
	}
	to := from + 49*60
	want := barsWithin(s.ref, from, to)
	ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, from, to, 0)
	switch {
	case err != nil:
		t.fail(ex, "%s: %v", s, err)
	case len(h.Bars) > 50:
		t.fail(ex, "%s: a 50-minute window returned %d 1-minute bars", s, len(h.Bars))
	case len(h.Bars) == 0 || h.Bars[0].T != from:
		t.fail(ex, "%s: the bar at from=%s is missing: from is inclusive", s, unixString(from))
	case want[len(want)-1].T == to && h.Bars[len(h.Bars)-1].T != to:
		t.fail(ex, "%s: the bar at to=%s is missing: to is inclusive", s, unixString(to))
	case !slices.EqualFunc(h.Bars, want, sameBar):
		t.fail(ex, "%s: the window differs from the same minutes in the day's answer: %s", s, firstDifference(want, h.Bars))
	case len(h.Bars) < 50:
		t.warn(ex, "%s: %d of 50 minutes have bars: gaps (TradingView warns; normal for an illiquid symbol)", s, len(h.Bars))
	default:
		t.pass("%s: 50 bars for 50 minutes, boundaries included", s)
	}
}

// densestWindow returns the start of the width-second window, starting at
// a bar, that holds the most bars (the latest on ties), and the count.
func densestWindow(bars []bar, width int64) (int64, int) {
	best, bestN := int64(0), 0
	j := len(bars) - 1
	for i := len(bars) - 1; i >= 0; i-- {
		for j > i && bars[j].T >= bars[i].T+width {
			j--
		}
		if n := j - i + 1; n > bestN {
			best, bestN = bars[i].T, n
		}
	}
	return best, bestN
}

// barsWithin returns the bars with from <= T <= to.
func barsWithin(bars []bar, from, to int64) []bar {
	i, _ := slices.BinarySearchFunc(bars, from, func(b bar, t int64) int { return cmpInt(b.T, t) })
	j, _ := slices.BinarySearchFunc(bars, to+1, func(b bar, t int64) int { return cmpInt(b.T, t) })
	return bars[i:j]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// refEnd is the last closed minute of the reference.
func (s *subject) refEnd() int64 { return s.ref[len(s.ref)-1].T }

func (r *runner) checkRepeatability(ctx context.Context, s *subject, t *tally) {
	if len(s.ref) == 0 {
		t.skip("%s: no closed bars", s)
		return
	}
	to := s.refEnd()
	from := to - 179*60
	ex1, h1, err := r.fetchHistory(ctx, s.sym, resMinute, from, to, 0)
	if err != nil {
		t.fail(ex1, "%s: %v", s, err)
		return
	}
	ex2, h2, err := r.fetchHistory(ctx, s.sym, resMinute, from, to, 0)
	switch {
	case err != nil:
		t.fail(ex2, "%s: %v", s, err)
	case !slices.EqualFunc(h1.Bars, h2.Bars, sameBar):
		t.fail(ex2, "%s: the same closed 3 hours asked twice differ: %s", s, firstDifference(h1.Bars, h2.Bars))
	default:
		t.pass("%s: the same request twice gave the same %s", s, plural(len(h1.Bars), "bar"))
	}
}

// checkShortQueries compares ten 20-minute requests with one 200-minute one.
func (r *runner) checkShortQueries(ctx context.Context, s *subject, t *tally) {
	if len(s.ref) == 0 {
		t.skip("%s: no closed bars", s)
		return
	}
	to := s.refEnd()
	from := to - 199*60
	ex, large, err := r.fetchHistory(ctx, s.sym, resMinute, from, to, 0)
	if err != nil {
		t.fail(ex, "%s: %v", s, err)
		return
	}
	var stitched []bar
	var last *exchange
	for k := int64(0); k < 10; k++ {
		a := from + k*20*60
		ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, a, a+19*60, 0)
		if err != nil {
			t.fail(ex, "%s: %v", s, err)
			return
		}
		stitched = append(stitched, h.Bars...)
		last = ex
	}
	if !slices.EqualFunc(large.Bars, stitched, sameBar) {
		t.fail(last, "%s: ten 20-minute requests differ from one 200-minute request: %s", s, firstDifference(large.Bars, stitched))
		return
	}
	t.pass("%s: ten 20-minute requests equal one 200-minute request (%s)", s, plural(len(stitched), "bar"))
}

// checkFutureMinutes asks for minutes up to a day ahead.
func (r *runner) checkFutureMinutes(ctx context.Context, s *subject, t *tally) {
	before := r.clk.Now()
	ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, before.Unix()-2*3600, before.Unix()+secondsPerDay, 0)
	after := r.clk.Now().Unix()
	if err != nil {
		t.fail(ex, "%s: %v", s, err)
		return
	}
	for _, b := range h.Bars {
		if b.T > after-after%60 {
			t.fail(ex, "%s: bar at %s is in the future (now %s)", s, unixString(b.T), unixString(after))
			return
		}
	}
	open := before.Unix() - before.Unix()%60
	inSession := s.sym.Sched != nil && s.sym.Sched.InSession(before)
	switch {
	case !inSession:
		t.pass("%s: no bar in the future (out of session, no open bar expected)", s)
	case len(h.Bars) == 0 || h.Bars[len(h.Bars)-1].T < open-60:
		t.warn(ex, "%s: in session but the open 1-minute bar (%s) is missing (a warning in TradingView's suite; normal if nothing traded)", s, unixString(open))
	default:
		t.pass("%s: no bar in the future, the open bar present", s)
	}
}

// checkCountback asks for the 10 bars ending at the last closed minute.
func (r *runner) checkCountback(ctx context.Context, s *subject, t *tally) {
	if len(s.ref) == 0 {
		t.skip("%s: no closed bars", s)
		return
	}
	const n = 10
	to := s.refEnd()
	ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, to-3600, to, n)
	want := s.ref[max(0, len(s.ref)-n):]
	switch {
	case err != nil:
		t.fail(ex, "%s: %v", s, err)
	case len(h.Bars) > n:
		t.fail(ex, "%s: countback=%d returned %d bars (is countback ignored in favour of from?)", s, n, len(h.Bars))
	case len(h.Bars) < len(want):
		t.fail(ex, "%s: countback=%d returned %d bars although %d exist up to to", s, n, len(h.Bars), len(want))
	case !slices.EqualFunc(h.Bars[len(h.Bars)-len(want):], want, sameBar):
		t.fail(ex, "%s: countback=%d bars differ from the same minutes of the day's answer: %s", s, n,
			firstDifference(want, h.Bars[len(h.Bars)-len(want):]))
	default:
		t.pass("%s: countback=%d returned the %d bars ending at to", s, n, len(h.Bars))
	}
}

// checkGap asks for the inside of a gap of the reference.
func (r *runner) checkGap(ctx context.Context, s *subject, t *tally) {
	prev, next, ok := findGap(s.ref)
	if !ok {
		t.skip("%s: no gap of a whole minute in the day's bars", s)
		return
	}
	from, to := prev+60, next-60
	ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, from, to, 0)
	switch {
	case err != nil:
		t.fail(ex, "%s: %v", s, err)
	case h.Status == "ok" && len(h.Bars) > 0:
		t.fail(ex, "%s: %s..%s lies between bars %s and %s but returned %s", s, unixString(from), unixString(to),
			unixString(prev), unixString(next), plural(len(h.Bars), "bar"))
	case h.Status == "ok":
		t.pass("%s: a gap answers empty ok arrays", s)
	case h.NB == nil:
		t.fail(ex, "%s: legacy no_data inside the data must carry nb (the previous bar, %s)", s, unixString(prev))
	case *h.NB > from:
		t.fail(ex, "%s: nb %s is after from %s", s, unixString(*h.NB), unixString(from))
	case *h.NB != prev:
		t.fail(ex, "%s: nb %s is not the previous bar %s", s, unixString(*h.NB), unixString(prev))
	default:
		t.pass("%s: a gap answers legacy no_data with the right nb", s)
	}
}

// findGap returns the last pair of consecutive bars with at least one
// whole empty minute between them.
func findGap(bars []bar) (prev, next int64, ok bool) {
	for i := len(bars) - 1; i > 0; i-- {
		if bars[i].T-bars[i-1].T >= 120 {
			return bars[i-1].T, bars[i].T, true
		}
	}
	return 0, 0, false
}

// checkLeftBoundary asks for a week before the data's left boundary: the
// declared --left, or else the first week of 1970.
func (r *runner) checkLeftBoundary(ctx context.Context, s *subject, t *tally) {
	if !r.sel.enabled("history/left-boundary") {
		return
	}
	from, to := int64(0), int64(6*secondsPerDay)
	declared := !r.cfg.Left.IsZero()
	if declared {
		to = r.cfg.Left.Unix() - 1
		from = max(0, to-7*secondsPerDay+1)
	}
	for _, res := range []string{resMinute, resDaily} {
		ex, h, err := r.fetchHistory(ctx, s.sym, res, from, to, 0)
		switch {
		case err != nil:
			t.fail(ex, "%s %s before the left boundary: %v", s, res, err)
		case h.Status == "no_data" && h.NB != nil:
			t.fail(ex, "%s %s before the left boundary: no_data must come without nb there (nb %s says older data exists)", s, res, unixString(*h.NB))
		case len(h.Bars) > 0 && declared:
			t.fail(ex, "%s %s: %s before the declared left boundary %s", s, res, plural(len(h.Bars), "bar"), unixString(r.cfg.Left.Unix()))
		case len(h.Bars) > 0:
			t.warn(ex, "%s %s: the server has bars in 1970; give --left to test the real boundary", s, res)
		default:
			t.pass("%s: empty answers before %s (%s)", s, unixString(to+1), map[bool]string{true: "legacy no_data", false: "empty ok"}[h.Status == "no_data"])
		}
	}
	if !declared {
		// Without a data-requirements date TradingView walks back one day
		// at a time to 1800: negative Unix times must be answered, empty.
		ex, h, err := r.fetchHistory(ctx, s.sym, resMinute, year1800, year1800+secondsPerDay-1, 0)
		switch {
		case err != nil:
			t.fail(ex, "%s 1 on 1800-01-01 (TradingView walks back there when no left boundary is declared): %v", s, err)
		case len(h.Bars) > 0:
			t.fail(ex, "%s 1: %s on 1800-01-01", s, plural(len(h.Bars), "bar"))
		}
	}
}

// year1800 is 1800-01-01T00:00:00Z, where TradingView's walk back ends.
const year1800 = -5364662400

// sameBar compares bars exactly, allowing only float noise.
func sameBar(a, b bar) bool {
	return a.T == b.T && near(a.O, b.O) && near(a.H, b.H) && near(a.L, b.L) && near(a.C, b.C) && near(a.V, b.V)
}

func near(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// firstDifference describes where two bar lists first differ.
func firstDifference(want, got []bar) string {
	for i := 0; i < len(want) && i < len(got); i++ {
		if !sameBar(want[i], got[i]) {
			return fmt.Sprintf("at bar #%d %s %s vs %s %s", i, unixString(want[i].T), want[i], unixString(got[i].T), got[i])
		}
	}
	return fmt.Sprintf("%d bars vs %d", len(want), len(got))
}

// unixString formats Unix seconds for reports: 2026-01-02T15:04:00Z.
func unixString(t int64) string {
	return time.Unix(t, 0).UTC().Format("2006-01-02T15:04:05Z")
}
