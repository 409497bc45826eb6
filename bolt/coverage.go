package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

// The coverage bucket holds disjoint, non-touching minute ranges keyed by
// their first minute. Writes merge, so a day streamed live minute by minute
// is one entry and Covered is one short cursor walk.

// seekFloor positions c at the last entry whose key is <= key, or at the
// first entry when every key is greater. That entry is the only earlier one
// that can overlap or touch a range starting at key.
func seekFloor(c *bbolt.Cursor, key []byte) ([]byte, []byte) {
	k, v := c.Seek(key)
	if k != nil && bytes.Equal(k, key) {
		return k, v
	}
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil {
		return pk, pv
	}
	return c.First()
}

// addCoverage merges sp with every stored range it overlaps or touches and
// stores the union as one entry.
func addCoverage(b *bbolt.Bucket, sp span) error {
	merged := sp
	var absorbed []uint64 // start keys of merged entries, copied: deleting invalidates cursor memory
	c := b.Cursor()
	for k, v := seekFloor(c, encodeKey(sp.from)); k != nil; k, v = c.Next() {
		old, err := decodeSpan(k, v)
		if err != nil {
			return fmt.Errorf("merge coverage: %w", err)
		}
		if old.from > sp.to {
			break
		}
		if old.to < sp.from {
			continue // the floor entry ends before sp starts with a gap
		}
		absorbed = append(absorbed, old.from)
		merged.from, merged.to = min(merged.from, old.from), max(merged.to, old.to)
	}
	for _, from := range absorbed {
		if err := b.Delete(encodeKey(from)); err != nil {
			return fmt.Errorf("merge coverage: %w", err)
		}
	}
	if err := b.Put(encodeKey(merged.from), encodeKey(merged.to)); err != nil {
		return fmt.Errorf("merge coverage: %w", err)
	}
	return nil
}

// Covered returns the parts of [from, to) known to be complete, merged,
// ascending and clipped to [from, to), in UTC.
func (s *Store) Covered(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Range, error) {
	out, err := s.ranges(ctx, figi, bucketCoverage, from, to)
	if err != nil {
		return nil, fmt.Errorf("bolt: coverage of %s: %w", figi, err)
	}
	return out, nil
}

// ranges reads the merged minute ranges of one instrument's range bucket
// (coverage, or fetched), clipped to [from, to).
func (s *Store) ranges(ctx context.Context, figi string, name []byte, from, to time.Time) ([]tvbridge.Range, error) {
	epoch := time.Unix(0, 0).UTC()
	if from.Before(epoch) {
		from = epoch
	}
	if !from.Before(to) {
		return nil, nil
	}
	var out []tvbridge.Range
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := subBucket(tx, figi, name)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		// The floor of from's minute is the only entry starting earlier that can reach into [from, to).
		for k, v := seekFloor(c, encodeKey(uint64(from.Unix()/60))); k != nil; k, v = c.Next() {
			sp, err := decodeSpan(k, v)
			if err != nil {
				return err
			}
			r := tvbridge.Range{From: minuteUnit.time(sp.from), To: minuteUnit.time(sp.to)}
			if !r.From.Before(to) {
				break
			}
			if !r.To.After(from) {
				continue
			}
			out = append(out, clip(r, from, to))
		}
		return nil
	})
	return out, err
}

func clip(r tvbridge.Range, from, to time.Time) tvbridge.Range {
	if r.From.Before(from) {
		r.From = from.UTC()
	}
	if r.To.After(to) {
		r.To = to.UTC()
	}
	return r
}

// FirstBar returns the instrument's first-bar watermark: the time of its
// first bar ever. ok is false until SetFirstBar was called.
func (s *Store) FirstBar(ctx context.Context, figi string) (time.Time, bool, error) {
	var (
		t  time.Time
		ok bool
	)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		n, found, err := watermark(tx, figi)
		if err != nil || !found {
			return err
		}
		t, ok = minuteUnit.time(n), true
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("bolt: first bar of %s: %w", figi, err)
	}
	return t, ok, nil
}

// SetFirstBar sets the watermark, which may move either way, with one limit:
// it cannot lie after a stored 1-minute bar, because it would hide that bar
// from /history. t must be a whole minute at or after 1970 (a daily bar's
// 00:00 UTC qualifies).
func (s *Store) SetFirstBar(ctx context.Context, figi string, t time.Time) error {
	if err := validateFIGI(figi); err != nil {
		return fmt.Errorf("bolt: set first bar: %w", err)
	}
	if !minuteUnit.aligned(t) {
		return fmt.Errorf("bolt: set first bar of %s: %w: %s is not a whole minute at or after 1970", figi, ErrInvalid, t)
	}
	n := minuteUnit.index(t)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if err := checkBeforeMinutes(tx, figi, n); err != nil {
			return err
		}
		return putWatermark(tx, figi, n)
	})
	if err != nil {
		return fmt.Errorf("bolt: set first bar of %s: %w", figi, err)
	}
	return nil
}

// checkBeforeMinutes fails when a stored 1-minute bar is earlier than minute n.
func checkBeforeMinutes(tx *bbolt.Tx, figi string, n uint64) error {
	m := subBucket(tx, figi, bucketMinutes)
	if m == nil {
		return nil
	}
	k, _ := m.Cursor().First()
	if k == nil {
		return nil
	}
	first, err := decodeKey(k)
	if err != nil {
		return fmt.Errorf("first stored bar: %w", err)
	}
	if first < n {
		return fmt.Errorf("%w: %s is after the stored bar at %s", ErrInvalid,
			minuteUnit.time(n).Format(time.RFC3339), minuteUnit.time(first).Format(time.RFC3339))
	}
	return nil
}

// lowerWatermark moves a known watermark back to firstKey when a bar earlier
// than it is stored, so the watermark never hides a stored bar.
func (s *Store) lowerWatermark(tx *bbolt.Tx, figi string, firstKey []byte) error {
	cur, found, err := watermark(tx, figi)
	if err != nil || !found {
		return err
	}
	n := binary.BigEndian.Uint64(firstKey)
	if n >= cur {
		return nil
	}
	s.log.Warn("stored a bar before the first-bar watermark; lowering it",
		"figi", figi, "watermark", minuteUnit.time(cur), "bar", minuteUnit.time(n))
	return putWatermark(tx, figi, n)
}

func watermark(tx *bbolt.Tx, figi string) (uint64, bool, error) {
	meta := subBucket(tx, figi, bucketMeta)
	if meta == nil {
		return 0, false, nil
	}
	v := meta.Get(keyFirstBar)
	if v == nil {
		return 0, false, nil
	}
	n, err := decodeKey(v)
	if err != nil {
		return 0, false, fmt.Errorf("first-bar watermark: %w", err)
	}
	if n > minuteUnit.maxIndex() {
		return 0, false, fmt.Errorf("first-bar watermark: %w: minute %d out of range", ErrCorrupt, n)
	}
	return n, true, nil
}

func putWatermark(tx *bbolt.Tx, figi string, n uint64) error {
	meta, err := createSubBucket(tx, figi, bucketMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(keyFirstBar, encodeKey(n)); err != nil {
		return fmt.Errorf("put first-bar watermark: %w", err)
	}
	return nil
}
