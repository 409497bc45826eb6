package bolt

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

// ReplaceMinutes makes the stored 1-minute bars of figi inside the ranges of
// within exactly bars, and marks within covered, in one durable transaction.
// It is the authoritative fill of a history that follows the exchange: the
// REST candles replace what the stream stored for minutes that are not
// covered yet. Minutes already covered are immutable and left as they are
// (a differing bar there counts as a conflict, as in PutMinutes). Every bar
// must lie inside within.
//
// It returns how many uncovered minutes changed: a stored bar overwritten by
// a different one, or deleted because bars has none for its minute.
func (s *Store) ReplaceMinutes(ctx context.Context, figi string, bars []tvbridge.Bar, within []tvbridge.Range) (replaced, conflicts int, err error) {
	w, err := planInstrument(figi, bars, within)
	if err != nil {
		return 0, 0, fmt.Errorf("bolt: replace minutes: %w", err)
	}
	if err := barsInside(w); err != nil {
		return 0, 0, fmt.Errorf("bolt: replace minutes of %s: %w", figi, err)
	}
	if len(w.spans) == 0 {
		return 0, 0, nil
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		replaced, conflicts, err = s.replaceMinutes(tx, w)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("bolt: replace minutes of %s: %w", figi, err)
	}
	if conflicts > 0 {
		s.log.Warn("kept covered 1-minute bars that differ from the exchange's", "figi", figi, "conflicts", conflicts)
	}
	return replaced, conflicts, nil
}

// barsInside checks that every bar of w lies in one of its spans.
func barsInside(w minuteWrite) error {
	for i := range w.bars.len() {
		k, _ := w.bars.at(i)
		n, _ := decodeKey(k)
		if !slices.ContainsFunc(w.spans, func(sp span) bool { return sp.from <= n && n < sp.to }) {
			return fmt.Errorf("%w: bar at %s outside the replaced ranges", ErrInvalid, minuteUnit.time(n))
		}
	}
	return nil
}

func (s *Store) replaceMinutes(tx *bbolt.Tx, w minuteWrite) (replaced, conflicts int, err error) {
	m, err := createSubBucket(tx, w.figi, bucketMinutes)
	if err != nil {
		return 0, 0, err
	}
	cov, err := createSubBucket(tx, w.figi, bucketCoverage)
	if err != nil {
		return 0, 0, err
	}
	covered, err := coveredSpans(cov, w.spans)
	if err != nil {
		return 0, 0, err
	}
	isCovered := func(n uint64) bool {
		return slices.ContainsFunc(covered, func(sp span) bool { return sp.from <= n && n < sp.to })
	}
	want := make(map[uint64][]byte, w.bars.len())
	for i := range w.bars.len() {
		k, v := w.bars.at(i)
		n, _ := decodeKey(k)
		want[n] = v
	}
	// Stored bars the exchange does not have go, unless covered.
	var stale [][]byte
	for _, sp := range w.spans {
		c := m.Cursor()
		end := encodeKey(sp.to)
		for k, _ := c.Seek(encodeKey(sp.from)); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			n, err := decodeKey(k)
			if err != nil {
				return 0, 0, err
			}
			if _, keep := want[n]; !keep {
				if isCovered(n) {
					conflicts++
					continue
				}
				stale = append(stale, bytes.Clone(k)) // deleting invalidates cursor memory
			}
		}
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil {
			return 0, 0, fmt.Errorf("delete bar: %w", err)
		}
		replaced++
	}
	for i := range w.bars.len() {
		k, v := w.bars.at(i)
		n, _ := decodeKey(k)
		old := m.Get(k)
		switch {
		case old != nil && bytes.Equal(old, v):
			continue
		case old != nil && isCovered(n):
			conflicts++
			continue
		case old != nil:
			replaced++
		}
		if err := m.Put(k, v); err != nil {
			return 0, 0, fmt.Errorf("put bar: %w", err)
		}
	}
	if w.bars.len() > 0 {
		first, _ := w.bars.at(0)
		if err := s.lowerWatermark(tx, w.figi, first); err != nil {
			return 0, 0, err
		}
	}
	for _, sp := range w.spans {
		if err := addCoverage(cov, sp); err != nil {
			return 0, 0, err
		}
	}
	return replaced, conflicts, nil
}

// coveredSpans returns the stored coverage entries that overlap any of spans.
func coveredSpans(cov *bbolt.Bucket, spans []span) ([]span, error) {
	var out []span
	for _, sp := range spans {
		c := cov.Cursor()
		for k, v := seekFloor(c, encodeKey(sp.from)); k != nil; k, v = c.Next() {
			old, err := decodeSpan(k, v)
			if err != nil {
				return nil, fmt.Errorf("read coverage: %w", err)
			}
			if old.from >= sp.to {
				break
			}
			if old.to > sp.from {
				out = append(out, old)
			}
		}
	}
	return out, nil
}
