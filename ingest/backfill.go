package ingest

import (
	"context"
	"fmt"
	"time"

	"tvbridge"
)

// backfillLoop first makes the whole BackfillDepth complete for every
// instrument (the initial backfill, with progress in Progress), then keeps
// filling gaps left by outages and restarts, once a minute.
func (s *Service) backfillLoop(ctx context.Context) {
	// The deep backfill yields the REST budget to everything else.
	initial := tvbridge.WithPriority(ctx, tvbridge.PriorityBackground)
	for i, figi := range s.order {
		s.backfillOne(initial, figi, "initial backfill")
		if ctx.Err() != nil {
			return
		}
		if err := s.setFirstBar(initial, figi); err != nil && ctx.Err() == nil {
			s.log.Warn("first-bar watermark", "figi", figi, "err", err)
		}
		s.progress.InitialDone.Add(1)
		if (i+1)%10 == 0 || i+1 == len(s.order) {
			s.log.Info("initial backfill progress", "done", i+1, "of", len(s.order),
				"requests", s.progress.Requests.Load(), "bars", s.progress.BarsBackfilled.Load())
		}
	}
	t := s.cfg.Clock.NewTicker(time.Minute)
	defer t.Stop()
	for {
		for _, figi := range s.order {
			if ctx.Err() != nil {
				return
			}
			s.backfillOne(ctx, figi, "gap backfill")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// backfillOne fills figi's gaps and seals its complete days. Errors are
// logged and retried on the next pass; a cancelled context is not an error.
func (s *Service) backfillOne(ctx context.Context, figi, what string) {
	if err := s.fillGaps(ctx, figi); err != nil && ctx.Err() == nil {
		s.progress.Errors.Add(1)
		s.warn(what, what, "figi", figi, "err", err)
	}
	if err := s.sealDays(ctx, figi); err != nil && ctx.Err() == nil {
		s.warn("daily", "daily bars", "figi", figi, "err", err)
	}
}

// backfillLimit is the end of the window the backfill may touch: REST must
// be complete there, and the stream must not still be marking it.
func (s *Service) backfillLimit(figi string) time.Time {
	now := s.cfg.Clock.Now()
	limit := now.Add(-s.cfg.RESTLag).Truncate(time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unstreamed[figi] {
		return limit // the stream marks nothing of it
	}
	if start := s.streamStartLocked(figi); !start.IsZero() && start.Before(limit) {
		limit = start
	}
	return limit
}

// fillGaps backfills every uncovered minute of figi inside the window.
func (s *Service) fillGaps(ctx context.Context, figi string) error {
	from := s.cfg.Clock.Now().Add(-s.cfg.BackfillDepth).Truncate(time.Minute)
	to := s.backfillLimit(figi)
	if !from.Before(to) {
		s.setUncovered(figi, nil)
		return nil
	}
	covered, err := s.cfg.Store.Covered(ctx, figi, from, to)
	if err != nil {
		return fmt.Errorf("coverage: %w", err)
	}
	gaps := complement(tvbridge.Range{From: from, To: to}, covered)
	s.setUncovered(figi, gaps)
	for _, gap := range gaps {
		for _, chunk := range splitDays(gap) {
			if err := s.fillChunk(ctx, figi, chunk); err != nil {
				return err
			}
			s.filledUncovered(figi, chunk)
		}
		s.progress.GapsFilled.Add(1)
	}
	if len(gaps) > 0 {
		if err := s.refreshClosed(ctx, figi); err != nil {
			return err
		}
	}
	return nil
}

// fillChunk backfills one at most day-long uncovered range: it asks REST only
// for the part that overlaps trading periods, and marks the whole chunk
// covered together with the bars, atomically.
func (s *Service) fillChunk(ctx context.Context, figi string, chunk tvbridge.Range) error {
	var candles []tvbridge.Candle
	if q, ok := s.sessionHull(figi, chunk); ok {
		var err error
		if candles, ok, err = s.archiveCandles(ctx, figi, q); err != nil {
			return err
		}
		if !ok {
			candles, err = s.cfg.Upstream.Candles(ctx, figi, q.From, q.To, tvbridge.Interval1Min)
			s.progress.Requests.Add(1)
			if err != nil {
				return fmt.Errorf("candles %s %s..%s: %w", figi, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), err)
			}
		}
	}
	if s.cfg.HistoryFollows == FollowExchange {
		// REST is final here: it replaces whatever the stream stored.
		var bars []tvbridge.Bar
		for _, c := range candles {
			if c.Volume > 0 && !c.Time.Before(chunk.From) && c.Time.Before(chunk.To) {
				bars = append(bars, candleBar(c))
			}
		}
		replaced, _, err := s.cfg.Store.(ReplacingStore).ReplaceMinutes(ctx, figi, bars, []tvbridge.Range{chunk})
		if err != nil {
			return fmt.Errorf("store backfill of %s: %w", figi, err)
		}
		s.progress.ExchangeDiffers.Add(int64(replaced))
		s.progress.ExchangeReplaced.Add(int64(replaced))
		s.progress.BarsBackfilled.Add(int64(len(bars)))
		return nil
	}
	fetched := s.freshBars(figi, candles, chunk)
	conflicts, err := s.cfg.Store.PutMinutesBatch(ctx,
		map[string][]tvbridge.Bar{figi: fetched},
		map[string][]tvbridge.Range{figi: {chunk}})
	if err != nil {
		return fmt.Errorf("store backfill of %s: %w", figi, err)
	}
	// A conflict is a streamed bar (kept) that the exchange's final
	// candle contradicts: a minute around a stream restart.
	s.progress.ExchangeDiffers.Add(int64(conflicts))
	s.progress.BarsBackfilled.Add(int64(len(fetched) - conflicts))
	return nil
}

// freshBars converts REST candles to bars, keeping only those inside the
// chunk that the stream did not already produce (those are authoritative:
// they are what TradingView saw).
func (s *Service) freshBars(figi string, candles []tvbridge.Candle, chunk tvbridge.Range) []tvbridge.Bar {
	// The open minute first, then memory (as Minutes reads): a minute that
	// closes in between is then seen in one or the other. One that reaches
	// the store before our write is kept there (first write wins).
	streamed := make(map[int64]bool)
	if open, ok := s.engine.OpenMinute(figi); ok {
		streamed[open.Time.Unix()] = true
	}
	for _, b := range s.memoryBars(figi, chunk.From, chunk.To) {
		streamed[b.Time.Unix()] = true
	}
	out := make([]tvbridge.Bar, 0, len(candles))
	for _, c := range candles {
		if c.Volume <= 0 || c.Time.Before(chunk.From) || !c.Time.Before(chunk.To) || streamed[c.Time.Unix()] {
			continue
		}
		out = append(out, tvbridge.Bar{Time: c.Time.UTC(), Open: c.Open, High: c.High, Low: c.Low, Close: c.Close, Volume: c.Volume})
	}
	return out
}

// sessionHull returns the smallest range inside chunk that covers every
// trading period overlapping it, or false when the chunk has no trading time.
func (s *Service) sessionHull(figi string, chunk tvbridge.Range) (tvbridge.Range, bool) {
	sched := s.specs[figi].Schedule
	if sched == nil {
		return chunk, true
	}
	var hull tvbridge.Range
	day := chunk.From.In(sched.Location())
	for d := -1; d <= 2; d++ {
		date := time.Date(day.Year(), day.Month(), day.Day()+d, 0, 0, 0, 0, time.UTC)
		for _, p := range sched.Periods(date) {
			from, to := maxTime(p.Open, chunk.From), minTime(p.Close, chunk.To)
			if !from.Before(to) {
				continue
			}
			if hull.From.IsZero() || from.Before(hull.From) {
				hull.From = from
			}
			if to.After(hull.To) {
				hull.To = to
			}
		}
	}
	if hull.From.IsZero() {
		return tvbridge.Range{}, false
	}
	// REST wants whole minutes.
	hull.From = hull.From.Truncate(time.Minute)
	if t := hull.To.Truncate(time.Minute); t.Before(hull.To) {
		hull.To = t.Add(time.Minute)
	}
	return hull, true
}

// setFirstBar sets the watermark, once, to the earliest bar within the
// backfill depth: requests before it are answered without storage.
func (s *Service) setFirstBar(ctx context.Context, figi string) error {
	if _, ok, err := s.cfg.Store.FirstBar(ctx, figi); err != nil || ok {
		return err
	}
	now := s.cfg.Clock.Now()
	for day := now.Add(-s.cfg.BackfillDepth).Truncate(24 * time.Hour); day.Before(now); day = day.Add(24 * time.Hour) {
		bars, err := s.cfg.Store.Minutes(ctx, figi, day, day.Add(24*time.Hour))
		if err != nil {
			return err
		}
		if len(bars) > 0 {
			return s.cfg.Store.SetFirstBar(ctx, figi, bars[0].Time)
		}
	}
	return nil
}

func firstFrom(rs []tvbridge.Range) time.Time {
	if len(rs) == 0 {
		return time.Time{}
	}
	return rs[0].From
}

// complement returns the parts of window not in covered (sorted, merged).
func complement(window tvbridge.Range, covered []tvbridge.Range) []tvbridge.Range {
	var out []tvbridge.Range
	cur := window.From
	for _, c := range covered {
		if !c.To.After(cur) {
			continue
		}
		if c.From.After(cur) {
			out = append(out, tvbridge.Range{From: cur, To: minTime(c.From, window.To)})
		}
		cur = maxTime(cur, c.To)
		if !cur.Before(window.To) {
			return out
		}
	}
	if cur.Before(window.To) {
		out = append(out, tvbridge.Range{From: cur, To: window.To})
	}
	return out
}

// splitDays cuts r at UTC midnights, so each piece fits one REST request of
// 1-minute candles (at most a day).
func splitDays(r tvbridge.Range) []tvbridge.Range {
	var out []tvbridge.Range
	for from := r.From; from.Before(r.To); {
		to := from.Truncate(24 * time.Hour).Add(24 * time.Hour)
		if to.After(r.To) {
			to = r.To
		}
		out = append(out, tvbridge.Range{From: from, To: to})
		from = to
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
