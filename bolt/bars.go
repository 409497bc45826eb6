package bolt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

// record is the stored size of one bar: key then value.
const record = keySize + barSize

// encoded is a validated run of bars in stored form, ascending by time.
// bbolt requires keys and values passed to Put to stay valid until commit,
// so each run owns one buffer that is never reused.
type encoded []byte

func (e encoded) len() int { return len(e) / record }

func (e encoded) at(i int) (k, v []byte) {
	r := e[i*record : (i+1)*record]
	return r[:keySize], r[keySize:]
}

// encodeBars validates bars and encodes them sorted by time. The sort is
// stable, so when the input holds one time twice the earlier bar wins and
// the later one counts as a conflict, as if written by a later call.
func encodeBars(bars []tvbridge.Bar, u unit) (encoded, error) {
	for _, b := range bars {
		if err := validateBar(b, u); err != nil {
			return nil, err
		}
	}
	sorted := slices.Clone(bars)
	slices.SortStableFunc(sorted, func(a, b tvbridge.Bar) int { return a.Time.Compare(b.Time) })
	e := make(encoded, len(sorted)*record)
	for i, b := range sorted {
		k, v := e.at(i)
		putKey(k, u.index(b.Time))
		encodeBar(v, b)
	}
	return e, nil
}

// putEncoded inserts bars that are not stored yet. A bar whose time is taken
// keeps the stored value: closed bars never change. It returns how many new
// bars differed from the stored ones; an identical re-write is no conflict.
func putEncoded(b *bbolt.Bucket, e encoded) (conflicts int, err error) {
	b.FillPercent = appendFill
	for i := range e.len() {
		k, v := e.at(i)
		if old := b.Get(k); old != nil {
			if !bytes.Equal(old, v) {
				conflicts++
			}
			continue
		}
		if err := b.Put(k, v); err != nil {
			return conflicts, fmt.Errorf("put bar: %w", err)
		}
	}
	return conflicts, nil
}

// minuteWrite is one instrument's share of a PutMinutesBatch.
type minuteWrite struct {
	figi  string
	bars  encoded
	spans []span
}

// PutMinutes stores closed 1-minute bars of one instrument and marks the
// covered ranges complete, in one durable transaction. See PutMinutesBatch.
func (s *Store) PutMinutes(ctx context.Context, figi string, bars []tvbridge.Bar, covered []tvbridge.Range) (int, error) {
	return s.PutMinutesBatch(ctx, map[string][]tvbridge.Bar{figi: bars}, map[string][]tvbridge.Range{figi: covered})
}

// PutMinutesBatch stores closed 1-minute bars and coverage for many
// instruments in ONE transaction, so a minute close costs one fsync however
// many instruments traded. Instruments may appear in either map or both.
// All input is validated first; on any error nothing is written. When it
// returns nil everything is durable. It returns the number of conflicting
// bars (see tvbridge.BarStore). A bar earlier than the instrument's first-bar
// watermark lowers the watermark, so the watermark never hides a stored bar.
func (s *Store) PutMinutesBatch(ctx context.Context, bars map[string][]tvbridge.Bar, covered map[string][]tvbridge.Range) (int, error) {
	writes, err := planMinutes(bars, covered)
	if err != nil {
		return 0, fmt.Errorf("bolt: put minutes: %w", err)
	}
	perFIGI := make([]int, len(writes))
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		for i, w := range writes {
			if err := ctx.Err(); err != nil {
				return err // rolls back the whole batch
			}
			n, err := s.writeMinutes(tx, w)
			if err != nil {
				return fmt.Errorf("%s: %w", w.figi, err)
			}
			perFIGI[i] = n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: put minutes: %w", err)
	}
	total := 0
	for i, n := range perFIGI {
		total += n
		if n > 0 {
			s.log.Warn("kept stored 1-minute bars that differ from the new ones", "figi", writes[i].figi, "conflicts", n)
		}
	}
	return total, nil
}

// planMinutes validates and encodes a batch, ordered by instrument id so that
// the transaction walks the figi bucket in key order.
func planMinutes(bars map[string][]tvbridge.Bar, covered map[string][]tvbridge.Range) ([]minuteWrite, error) {
	figis := make([]string, 0, len(bars)+len(covered))
	for figi := range bars {
		figis = append(figis, figi)
	}
	for figi := range covered {
		if _, dup := bars[figi]; !dup {
			figis = append(figis, figi)
		}
	}
	slices.Sort(figis)
	writes := make([]minuteWrite, 0, len(figis))
	for _, figi := range figis {
		w, err := planInstrument(figi, bars[figi], covered[figi])
		if err != nil {
			return nil, err
		}
		if len(w.bars) > 0 || len(w.spans) > 0 {
			writes = append(writes, w)
		}
	}
	return writes, nil
}

func planInstrument(figi string, bars []tvbridge.Bar, covered []tvbridge.Range) (minuteWrite, error) {
	if err := validateFIGI(figi); err != nil {
		return minuteWrite{}, err
	}
	e, err := encodeBars(bars, minuteUnit)
	if err != nil {
		return minuteWrite{}, fmt.Errorf("%s: %w", figi, err)
	}
	w := minuteWrite{figi: figi, bars: e}
	for _, r := range covered {
		sp, err := validateRange(r)
		if err != nil {
			return minuteWrite{}, fmt.Errorf("%s: %w", figi, err)
		}
		if sp.to > sp.from {
			w.spans = append(w.spans, sp)
		}
	}
	return w, nil
}

// writeMinutes applies one instrument's share of a batch inside tx.
func (s *Store) writeMinutes(tx *bbolt.Tx, w minuteWrite) (int, error) {
	conflicts := 0
	if w.bars.len() > 0 {
		m, err := createSubBucket(tx, w.figi, bucketMinutes)
		if err != nil {
			return 0, err
		}
		if conflicts, err = putEncoded(m, w.bars); err != nil {
			return 0, err
		}
		first, _ := w.bars.at(0)
		if err := s.lowerWatermark(tx, w.figi, first); err != nil {
			return 0, err
		}
	}
	if len(w.spans) > 0 {
		cov, err := createSubBucket(tx, w.figi, bucketCoverage)
		if err != nil {
			return 0, err
		}
		for _, sp := range w.spans {
			if err := addCoverage(cov, sp); err != nil {
				return 0, err
			}
		}
	}
	return conflicts, nil
}

// PutDaily stores the bars of closed trading days (each at 00:00 UTC of its
// trading day) in one durable transaction and returns the conflict count.
func (s *Store) PutDaily(ctx context.Context, figi string, bars []tvbridge.Bar) (int, error) {
	if err := validateFIGI(figi); err != nil {
		return 0, fmt.Errorf("bolt: put daily: %w", err)
	}
	e, err := encodeBars(bars, dayUnit)
	if err != nil {
		return 0, fmt.Errorf("bolt: put daily %s: %w", figi, err)
	}
	if e.len() == 0 {
		return 0, nil
	}
	conflicts := 0
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		d, err := createSubBucket(tx, figi, bucketDaily)
		if err != nil {
			return err
		}
		conflicts, err = putEncoded(d, e)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: put daily %s: %w", figi, err)
	}
	if conflicts > 0 {
		s.log.Warn("kept stored daily bars that differ from the new ones", "figi", figi, "conflicts", conflicts)
	}
	return conflicts, nil
}

// Minutes returns the stored 1-minute bars with from <= Time < to, ascending,
// with times in UTC.
func (s *Store) Minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	bars, err := s.readBars(ctx, figi, bucketMinutes, minuteUnit, from, to)
	if err != nil {
		return nil, fmt.Errorf("bolt: minutes of %s: %w", figi, err)
	}
	return bars, nil
}

// Daily returns the stored daily bars with from <= Time < to, ascending.
func (s *Store) Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	bars, err := s.readBars(ctx, figi, bucketDaily, dayUnit, from, to)
	if err != nil {
		return nil, fmt.Errorf("bolt: daily of %s: %w", figi, err)
	}
	return bars, nil
}

// maxPrealloc caps the result capacity guessed from the range width, so a
// request spanning centuries does not allocate for bars that cannot exist.
const maxPrealloc = 2048

// readBars walks one cursor from the first key at or after from to the last
// key before to.
func (s *Store) readBars(ctx context.Context, figi string, name []byte, u unit, from, to time.Time) ([]tvbridge.Bar, error) {
	lo, hi := u.ceil(from), u.ceil(to)
	if lo >= hi {
		return nil, nil
	}
	var bars []tvbridge.Bar
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := subBucket(tx, figi, name)
		if b == nil {
			return nil
		}
		bars = make([]tvbridge.Bar, 0, min(hi-lo, maxPrealloc))
		end := encodeKey(hi)
		c := b.Cursor()
		for k, v := c.Seek(encodeKey(lo)); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
			bar, err := decodeBar(u, k, v)
			if err != nil {
				return err
			}
			bars = append(bars, bar)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return bars, nil
}
