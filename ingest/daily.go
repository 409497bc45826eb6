package ingest

import (
	"context"
	"fmt"
	"time"

	"tvbridge"
	"tvbridge/bars"
)

const day = 24 * time.Hour

// Daily returns the daily bars with from <= Time < to: bars.DailyBars over
// the store and this service's 1-minute bars.
func (s *Service) Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	spec, ok := s.specs[figi]
	if !ok || spec.Schedule == nil {
		return nil, fmt.Errorf("daily bars of %s: unknown instrument", figi)
	}
	return bars.DailyBars(ctx, s.cfg.Store, s.Minutes, spec.Schedule, figi, s.cfg.Clock.Now(), s.cfg.BackfillDepth, from, to)
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
			bar, ok, err := bars.BuildDaily(ctx, s.Minutes, sched, figi, d)
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
