package ingest

import (
	"context"
	"fmt"
	"time"

	"tvbridge"
)

const day = 24 * time.Hour

// Daily returns the daily bars with from <= Time < to. Trading days whose
// minutes are all complete are read from the store; the others (today, and
// days with a gap still being backfilled) are built from 1-minute bars, so
// a daily bar's open and close always equal its session's first and last
// 1-minute bars.
func (s *Service) Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	spec, ok := s.specs[figi]
	if !ok || spec.Schedule == nil {
		return nil, fmt.Errorf("daily bars of %s: unknown instrument", figi)
	}
	now := s.cfg.Clock.Now()
	lower := maxTime(from, now.Add(-s.cfg.BackfillDepth-2*day))
	if first, ok, err := s.cfg.Store.FirstBar(ctx, figi); err != nil {
		return nil, err
	} else if ok {
		lower = maxTime(from, first.Add(-day))
	}
	upper := minTime(to, now.Add(2*day))
	if !lower.Before(upper) {
		return nil, nil
	}
	stored, err := s.cfg.Store.Daily(ctx, figi, lower.Truncate(day), upper)
	if err != nil {
		return nil, fmt.Errorf("daily bars of %s: %w", figi, err)
	}
	have := make(map[int64]tvbridge.Bar, len(stored))
	for _, b := range stored {
		have[b.Time.Unix()] = b
	}
	var out []tvbridge.Bar
	for d := lower.Truncate(day); d.Before(upper); d = d.Add(day) {
		if d.Before(from) {
			continue
		}
		if b, ok := have[d.Unix()]; ok {
			out = append(out, b)
			continue
		}
		b, ok, err := s.buildDaily(ctx, figi, d)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// buildDaily aggregates the 1-minute bars of trading day d (00:00 UTC of
// its date).
func (s *Service) buildDaily(ctx context.Context, figi string, d time.Time) (tvbridge.Bar, bool, error) {
	sched := s.specs[figi].Schedule
	periods := sched.Periods(d)
	if len(periods) == 0 {
		return tvbridge.Bar{}, false, nil
	}
	minutes, err := s.Minutes(ctx, figi, periods[0].Open, periods[len(periods)-1].Close)
	if err != nil {
		return tvbridge.Bar{}, false, err
	}
	var bar tvbridge.Bar
	n := 0
	for _, m := range minutes {
		if td, ok := sched.TradingDay(m.Time); !ok || !td.Equal(d) {
			continue
		}
		if n == 0 {
			bar = tvbridge.Bar{Time: d, Open: m.Open, High: m.High, Low: m.Low}
		}
		bar.High = max(bar.High, m.High)
		bar.Low = min(bar.Low, m.Low)
		bar.Close = m.Close
		bar.Volume += m.Volume
		n++
	}
	return bar, n > 0, nil
}

// sealDays stores the daily bars of trading days whose every minute is
// covered, oldest first, stopping at the first incomplete day so that a
// stored daily bar never misses minutes a later backfill would add.
func (s *Service) sealDays(ctx context.Context, figi string) error {
	sched := s.specs[figi].Schedule
	if sched == nil {
		return nil
	}
	limit := s.backfillLimit(figi)
	s.mu.Lock()
	next := s.sealed[figi]
	s.mu.Unlock()
	if next.IsZero() {
		next = s.cfg.Clock.Now().Add(-s.cfg.BackfillDepth).Truncate(day)
	}
	for d := next; d.Before(limit); d = d.Add(day) {
		periods := sched.Periods(d)
		if len(periods) > 0 {
			span := tvbridge.Range{From: periods[0].Open, To: periods[len(periods)-1].Close}
			if span.To.After(limit) {
				return nil
			}
			complete, err := s.isCovered(ctx, figi, span)
			if err != nil || !complete {
				return err
			}
			bar, ok, err := s.buildDaily(ctx, figi, d)
			if err != nil {
				return err
			}
			if ok {
				if _, err := s.cfg.Store.PutDaily(ctx, figi, []tvbridge.Bar{bar}); err != nil {
					return fmt.Errorf("store daily bar of %s: %w", figi, err)
				}
			}
		}
		s.mu.Lock()
		s.sealed[figi] = d.Add(day)
		s.mu.Unlock()
	}
	return nil
}

func (s *Service) isCovered(ctx context.Context, figi string, r tvbridge.Range) (bool, error) {
	cov, err := s.cfg.Store.Covered(ctx, figi, r.From, r.To)
	if err != nil {
		return false, err
	}
	return len(complement(r, cov)) == 0, nil
}
