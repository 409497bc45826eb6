package ingest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// Recent minutes.
//
// When an instrument's stream (re)starts at R, it takes over from minute R on
// (the first candle update of a minute is cumulative, so the engine streams R
// whole); the minutes before R that the store lacks are a gap. The gap
// backfill fills a minute only once RESTLag has passed, when upstream REST is
// final for it, and the initial backfill works through weeks of history
// first. Left at that, the minutes before every start or reconnect would be
// empty for minutes while /history already served the minutes after them,
// and TradingView caches such a hole as a closed minute without trades: a bar
// "appears" in it later.
//
// So the minutes TradingView asks for first (the last RecentDepth, a day) are
// fetched ahead of everything else, each minute as soon as it has closed
// (CloseGrace after its end), and stored without coverage: /history serves
// them at once, and they are not yet immutable (ClosedBefore does not move).
// When RESTLag has passed, the gap backfill fetches them again and marks
// them covered; the store keeps the bars already served (first write wins)
// and counts one that differs as a conflict. A minute REST lacked early and
// has late still appears then; nothing served changes.
//
// An instrument with no live stream (its connection is down or refused, its
// stream silent, its candle subscription refused) has nothing to run ahead
// of: its minutes are fetched from REST as they close, every minute, for as
// long as it lasts.
//
// /history never serves a newer minute while an older one in the window is
// still a hole: a request reaching past one fetches it at once (HoleWait at
// most), and answers only up to the hole if that fails.

// recentLoop fetches the recent minutes after startup and after every
// stream reconnect. It closes ready after the first pass, so the initial
// backfill (slow on a real upstream) does not delay them.
func (s *Service) recentLoop(ctx context.Context, ready chan<- struct{}) {
	s.recentPass(ctx)
	close(ready)
	for {
		var due <-chan time.Time
		var timer clock.Timer
		if wait, ok := s.recentDue(); ok {
			timer = s.cfg.Clock.NewTimer(wait)
			due = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		s.recentPass(ctx)
	}
}

// kickRecent wakes recentLoop (the stream restarted); it never blocks.
func (s *Service) kickRecent() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// recentEnd is where figi's early window ends (exclusive): before the
// minute the stream takes over (that one is streamed), and before any minute
// that has not been closed for CloseGrace. Zero when there is no window:
// before Run.
func (s *Service) recentEnd(figi string, now time.Time) time.Time {
	end, _ := s.recentWindow(figi, now)
	return end
}

// recentWindow is recentEnd, and whether the window is still open: it ends
// before the minute just ahead of the takeover, which has yet to close; for
// an instrument without a live stream it never ends.
func (s *Service) recentWindow(figi string, now time.Time) (end time.Time, open bool) {
	closed := now.Add(-s.cfg.CloseGrace).Truncate(time.Minute)
	start := s.takeover(figi)
	if start.IsZero() {
		return time.Time{}, false
	}
	if start.Equal(never) || s.isUnstreamed(figi) || s.notConnected(figi, now) {
		return closed, true // only REST: every minute as it closes
	}
	last := start.Add(-time.Minute)
	end = minTime(last, closed)
	return end, end.Before(last)
}

// recentDue returns how long until another recent minute can be fetched,
// or false when every early window is complete (the loop then waits for
// a restart).
func (s *Service) recentDue() (time.Duration, bool) {
	now := s.cfg.Clock.Now()
	var next time.Time
	for _, figi := range s.order {
		end, open := s.recentWindow(figi, now)
		if !open {
			continue
		}
		if due := end.Add(time.Minute + s.cfg.CloseGrace); next.IsZero() || due.Before(next) { // when minute end closes
			next = due
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return max(next.Sub(now), time.Millisecond), true
}

// recentPass fetches every instrument's recent minutes that are due.
func (s *Service) recentPass(ctx context.Context) {
	now := s.cfg.Clock.Now()
	fetched := 0
	var until time.Time
	for _, figi := range s.order {
		if ctx.Err() != nil {
			return
		}
		end := s.recentEnd(figi, now)
		if end.IsZero() {
			continue
		}
		n, err := s.fetchRecent(ctx, figi, end)
		if err != nil && ctx.Err() != nil {
			return // shutting down
		}
		if err != nil {
			s.progress.Errors.Add(1)
			s.warn("recent", "recent minutes", "figi", figi, "err", err)
			continue
		}
		fetched += n
		until = maxTime(until, end)
	}
	if fetched > 0 {
		s.progress.RecentBars.Add(int64(fetched))
		s.log.Info("recent minutes fetched ahead of the REST lag", "bars", fetched, "until", until)
	}
}

// fetchRecent stores figi's bars for the minutes of [RecentDepth ago, end)
// that are neither covered nor fetched early already, and records them as
// fetched, not covered. One fetch per instrument runs at a time.
func (s *Service) fetchRecent(ctx context.Context, figi string, end time.Time) (int, error) {
	// What TradingView asks for first goes before the backfill in the REST budget.
	ctx = tvbridge.WithPriority(ctx, tvbridge.PriorityUrgent)
	mu := s.fetching[figi]
	mu.Lock()
	defer mu.Unlock()
	now := s.cfg.Clock.Now()
	unknown, err := s.unknown(ctx, figi, now, end)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, gap := range unknown {
		for _, chunk := range splitDays(gap) {
			var fresh []tvbridge.Bar
			if q, ok := s.sessionHull(figi, chunk); ok {
				candles, err := s.cfg.Upstream.Candles(ctx, figi, q.From, q.To, tvbridge.Interval1Min)
				s.progress.Requests.Add(1)
				if err != nil {
					s.mu.Lock()
					s.fetchFailed[figi] = s.cfg.Clock.Now()
					s.mu.Unlock()
					return n, fmt.Errorf("candles %s..%s: %w", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), err)
				}
				fresh = s.freshBars(figi, candles, chunk)
			}
			conflicts, err := s.cfg.Store.PutFetched(ctx, figi, fresh, chunk)
			if err != nil {
				return n, fmt.Errorf("store: %w", err)
			}
			n += len(fresh) - conflicts
		}
	}
	s.mu.Lock()
	s.recentUntil[figi] = maxTime(s.recentUntil[figi], end)
	s.mu.Unlock()
	return n, nil
}

// unknown returns the parts of figi's early window [RecentDepth ago, end)
// that are neither covered nor fetched early.
func (s *Service) unknown(ctx context.Context, figi string, now, end time.Time) ([]tvbridge.Range, error) {
	from := maxTime(now.Add(-s.cfg.RecentDepth), now.Add(-s.cfg.BackfillDepth)).Truncate(time.Minute)
	s.mu.Lock()
	from = maxTime(from, s.recentUntil[figi]) // this run's fetches are all known
	s.mu.Unlock()
	if !from.Before(end) {
		return nil, nil
	}
	covered, err := s.cfg.Store.Covered(ctx, figi, from, end)
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	fetched, err := s.cfg.Store.Fetched(ctx, figi, from, end)
	if err != nil {
		return nil, fmt.Errorf("fetched minutes: %w", err)
	}
	known := append(covered, fetched...)
	slices.SortFunc(known, func(a, b tvbridge.Range) int { return a.From.Compare(b.From) })
	return complement(tvbridge.Range{From: from, To: end}, known), nil
}

// hole returns the first minute of figi's early window that is still
// unknown (neither fetched early nor covered) and in a trading period.
func (s *Service) hole(ctx context.Context, figi string, now time.Time) (time.Time, bool, error) {
	end, _ := s.recentWindow(figi, now)
	if end.IsZero() {
		return time.Time{}, false, nil
	}
	unknown, err := s.unknown(ctx, figi, now, end)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: %w", figi, err)
	}
	for _, gap := range unknown {
		if _, trading := s.sessionHull(figi, gap); trading {
			return gap.From, true, nil
		}
	}
	return time.Time{}, false, nil
}

// failRetry is how long after a failed early fetch /history answers up to
// the hole without trying again.
const failRetry = 10 * time.Second

// fillHole makes sure the minutes of figi's early window before to are
// known, fetching them now if they are due, within HoleWait. It returns
// where the known minutes end: to, or the first minute still a hole.
func (s *Service) fillHole(ctx context.Context, figi string, to time.Time) (time.Time, error) {
	now := s.cfg.Clock.Now()
	h, ok, err := s.hole(ctx, figi, now)
	if err != nil || !ok || !h.Before(to) {
		return to, err
	}
	s.mu.Lock()
	failed := s.fetchFailed[figi]
	s.mu.Unlock()
	if !failed.IsZero() && now.Sub(failed) < failRetry {
		// REST failed a moment ago (the upstream is down?): do not make
		// every request wait for it again.
		s.progress.HolesCut.Add(1)
		return h, nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.HoleWait)
	_, ferr := s.fetchRecent(wctx, figi, s.recentEnd(figi, now))
	cancel()
	if ferr != nil && ctx.Err() == nil {
		s.log.Warn("minutes not fetched in time for /history; answering up to the first of them",
			"figi", figi, "hole", h, "err", ferr)
	}
	if h, ok, err = s.hole(ctx, figi, now); err != nil || !ok || !h.Before(to) {
		return to, err
	}
	s.progress.HolesCut.Add(1)
	return h, nil
}
