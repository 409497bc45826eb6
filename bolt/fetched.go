package bolt

import (
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

// bucketFetched holds, per instrument, the minute ranges fetched from REST
// ahead of its lag: known (served), but not final, so not covered. Kept
// across restarts so that a restart knows which recent minutes it has.
var bucketFetched = []byte("fet")

// PutFetched stores bars fetched early for the minutes of fetched (first
// write wins, as PutMinutes) and records fetched, in one durable
// transaction. It returns the number of conflicting bars.
func (s *Store) PutFetched(ctx context.Context, figi string, bars []tvbridge.Bar, fetched tvbridge.Range) (int, error) {
	w, err := planInstrument(figi, bars, []tvbridge.Range{fetched})
	if err != nil {
		return 0, fmt.Errorf("bolt: put fetched minutes: %w", err)
	}
	if err := barsInside(w); err != nil {
		return 0, fmt.Errorf("bolt: put fetched minutes of %s: %w", figi, err)
	}
	conflicts := 0
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		spans := w.spans
		w.spans = nil
		if conflicts, err = s.writeMinutes(tx, w); err != nil {
			return err
		}
		if len(spans) == 0 {
			return nil
		}
		b, err := createSubBucket(tx, figi, bucketFetched)
		if err != nil {
			return err
		}
		return addCoverage(b, spans[0])
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: put fetched minutes of %s: %w", figi, err)
	}
	return conflicts, nil
}

// Fetched returns the parts of [from, to) fetched early, merged and ascending.
func (s *Store) Fetched(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Range, error) {
	out, err := s.ranges(ctx, figi, bucketFetched, from, to)
	if err != nil {
		return nil, fmt.Errorf("bolt: fetched minutes of %s: %w", figi, err)
	}
	return out, nil
}
