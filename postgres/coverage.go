package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"tvbridge"
)

// The coverage and fetched tables hold, per instrument, disjoint and
// non-touching minute ranges keyed by their first minute, as bolt's
// buckets do. Writes merge, so a day streamed live minute by minute is one
// row, and a read is one short index scan.

// floorAndFollowing selects, per (figi, lo, hi) of $1..$3, the stored
// ranges that can overlap or touch [lo, hi]: the last one starting before
// lo (the only earlier one that can reach it) and those starting in
// [lo, hi]. Both halves are index range scans on (figi, from_t).
const floorAndFollowing = `
	SELECT h.figi, r.from_t, r.to_t
	FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS h(figi, lo, hi)
	CROSS JOIN LATERAL (
		(SELECT from_t, to_t FROM %[1]s WHERE figi = h.figi AND from_t < h.lo ORDER BY from_t DESC LIMIT 1)
		UNION ALL
		(SELECT from_t, to_t FROM %[1]s WHERE figi = h.figi AND from_t >= h.lo AND from_t <= h.hi)
	) r
	WHERE r.to_t >= h.lo`

// mergeRanges merges the spans of each instrument with the stored ranges
// they overlap or touch, so that the table again holds disjoint,
// non-touching ranges. The caller holds the instruments' locks.
func mergeRanges(ctx context.Context, tx pgx.Tx, table string, spans map[string][]span) error {
	if len(spans) == 0 {
		return nil
	}
	var hf []string
	var hlo, hhi []time.Time
	for figi, sps := range spans {
		lo, hi := sps[0].from, sps[0].to
		for _, sp := range sps[1:] {
			lo, hi = min(lo, sp.from), max(hi, sp.to)
		}
		hf = append(hf, figi)
		hlo = append(hlo, minuteUnit.time(lo))
		hhi = append(hhi, minuteUnit.time(hi))
	}
	rows, _ := tx.Query(ctx, fmt.Sprintf(floorAndFollowing, table), hf, hlo, hhi)
	stored := map[string][]span{}
	var figi string
	var from, to time.Time
	_, err := pgx.ForEachRow(rows, []any{&figi, &from, &to}, func() error {
		sp, err := storedSpan(from, to)
		if err != nil {
			return err
		}
		stored[figi] = append(stored[figi], sp)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	var delF, upF []string
	var delFrom, upFrom, upTo []time.Time
	for figi, sps := range spans {
		old := stored[figi]
		merged := mergeSpans(append(slices.Clone(old), sps...))
		keep := map[int64]int64{} // from -> to of merged
		for _, m := range merged {
			keep[m.from] = m.to
		}
		have := map[int64]int64{}
		for _, o := range old {
			have[o.from] = o.to
			if _, ok := keep[o.from]; !ok {
				delF = append(delF, figi)
				delFrom = append(delFrom, minuteUnit.time(o.from))
			}
		}
		for _, m := range merged {
			if to, ok := have[m.from]; ok && to == m.to {
				continue // unchanged
			}
			upF = append(upF, figi)
			upFrom = append(upFrom, minuteUnit.time(m.from))
			upTo = append(upTo, minuteUnit.time(m.to))
		}
	}
	if len(delF) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` r USING unnest($1::text[], $2::timestamptz[]) AS d(figi, from_t)
			WHERE r.figi = d.figi AND r.from_t = d.from_t`, delF, delFrom); err != nil {
			return fmt.Errorf("merge %s: %w", table, err)
		}
	}
	if len(upF) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (figi, from_t, to_t)
			SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
			ON CONFLICT (figi, from_t) DO UPDATE SET to_t = excluded.to_t`, upF, upFrom, upTo); err != nil {
			return fmt.Errorf("merge %s: %w", table, err)
		}
	}
	return nil
}

// mergeSpans returns the union of sps as sorted, disjoint, non-touching spans.
func mergeSpans(sps []span) []span {
	slices.SortFunc(sps, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	var out []span
	for _, sp := range sps {
		if n := len(out); n > 0 && sp.from <= out[n-1].to {
			out[n-1].to = max(out[n-1].to, sp.to)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// storedSpan validates a range read back.
func storedSpan(from, to time.Time) (span, error) {
	if !minuteUnit.aligned(from) || !minuteUnit.aligned(to) || !to.After(from) {
		return span{}, fmt.Errorf("%w: range [%s, %s) is empty or not whole minutes", ErrCorrupt, from.UTC(), to.UTC())
	}
	return span{minuteUnit.index(from), minuteUnit.index(to)}, nil
}

// Covered returns the parts of [from, to) known to be complete, merged,
// ascending and clipped to [from, to), in UTC.
func (s *BarStore) Covered(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Range, error) {
	out, err := s.ranges(ctx, figi, tableCoverage, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: coverage of %s: %w", figi, err)
	}
	return out, nil
}

// ranges reads the merged ranges of one instrument in table, clipped to
// [from, to).
func (s *BarStore) ranges(ctx context.Context, figi, table string, from, to time.Time) ([]tvbridge.Range, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	epoch := time.Unix(0, 0).UTC()
	if from.Before(epoch) {
		from = epoch
	}
	if !from.Before(to) {
		return nil, nil
	}
	floor := minuteUnit.time(from.Unix() / 60)
	end := to
	if end.After(maxTime) {
		end = maxTime
	}
	rows, err := s.db.pool.Query(ctx, `
		(SELECT from_t, to_t FROM `+table+` WHERE figi = $1 AND from_t <= $2 ORDER BY from_t DESC LIMIT 1)
		UNION ALL
		(SELECT from_t, to_t FROM `+table+` WHERE figi = $1 AND from_t > $2 AND from_t < $3 ORDER BY from_t)`,
		figi, floor, end)
	if err != nil {
		return nil, err
	}
	var out []tvbridge.Range
	var f, t time.Time
	_, err = pgx.ForEachRow(rows, []any{&f, &t}, func() error {
		sp, err := storedSpan(f, t)
		if err != nil {
			return err
		}
		r := sp.rng()
		if !r.From.Before(to) || !r.To.After(from) {
			return nil
		}
		out = append(out, clip(r, from, to))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
func (s *BarStore) FirstBar(ctx context.Context, figi string) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	var first *time.Time
	err := s.db.pool.QueryRow(ctx, `SELECT first_bar FROM tvbridge_instruments WHERE figi = $1`, figi).Scan(&first)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && first == nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: first bar of %s: %w", figi, err)
	}
	t := first.UTC()
	if !minuteUnit.aligned(t) {
		return time.Time{}, false, fmt.Errorf("postgres: first bar of %s: %w: watermark %s is not a whole minute", figi, ErrCorrupt, t)
	}
	return t, true, nil
}

// SetFirstBar sets the watermark, which may move either way, with one limit:
// it cannot lie after a stored 1-minute bar, because it would hide that bar
// from /history. t must be a whole minute at or after 1970 (a daily bar's
// 00:00 UTC qualifies).
func (s *BarStore) SetFirstBar(ctx context.Context, figi string, t time.Time) error {
	if err := validateFIGI(figi); err != nil {
		return fmt.Errorf("postgres: set first bar: %w", err)
	}
	if !minuteUnit.aligned(t) || t.After(maxTime) {
		return fmt.Errorf("postgres: set first bar of %s: %w: %s is not a whole minute at or after 1970", figi, ErrInvalid, t)
	}
	t = t.UTC()
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := lockInstruments(ctx, tx, []string{figi}); err != nil {
			return err
		}
		var first time.Time
		err := tx.QueryRow(ctx, `SELECT t FROM tvbridge_minutes WHERE figi = $1 ORDER BY t LIMIT 1`, figi).Scan(&first)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("first stored bar: %w", err)
		case first.Before(t):
			return fmt.Errorf("%w: %s is after the stored bar at %s", ErrInvalid, t.Format(time.RFC3339), first.UTC().Format(time.RFC3339))
		}
		_, err = tx.Exec(ctx, `UPDATE tvbridge_instruments SET first_bar = $2 WHERE figi = $1`, figi, t)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: set first bar of %s: %w", figi, err)
	}
	return nil
}
