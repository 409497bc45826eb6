package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"tvbridge"
)

// PutFetched stores bars fetched early for the minutes of fetched (first
// write wins, as PutMinutes) and records fetched in tvbridge_fetched, in one
// transaction: known (served), but not final, so not covered. It returns
// the number of conflicting bars.
func (s *BarStore) PutFetched(ctx context.Context, figi string, bars []tvbridge.Bar, fetched tvbridge.Range) (int, error) {
	w, err := planInstrument(figi, bars, []tvbridge.Range{fetched})
	if err != nil {
		return 0, fmt.Errorf("postgres: put fetched minutes: %w", err)
	}
	if err := barsInside(w); err != nil {
		return 0, fmt.Errorf("postgres: put fetched minutes of %s: %w", figi, err)
	}
	conflicts := 0
	err = s.write(ctx, func(tx pgx.Tx) error {
		if len(w.bars) == 0 && len(w.spans) == 0 {
			return nil
		}
		n, err := s.writeMinutes(ctx, tx, []minuteWrite{w}, tableFetched)
		conflicts = n[figi]
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: put fetched minutes of %s: %w", figi, err)
	}
	return conflicts + w.dups, nil
}

// Fetched returns the parts of [from, to) fetched early, merged and ascending.
func (s *BarStore) Fetched(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Range, error) {
	out, err := s.ranges(ctx, figi, tableFetched, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: fetched minutes of %s: %w", figi, err)
	}
	return out, nil
}

// barsInside checks that every bar of w lies in one of its spans.
func barsInside(w minuteWrite) error {
	for _, b := range w.bars {
		n := minuteUnit.index(b.Time)
		if !slices.ContainsFunc(w.spans, func(sp span) bool { return sp.from <= n && n < sp.to }) {
			return fmt.Errorf("%w: bar at %s outside the replaced ranges", ErrInvalid, b.Time)
		}
	}
	return nil
}
