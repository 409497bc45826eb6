package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"tvbridge"
)

// ReplaceMinutes makes the stored 1-minute bars of figi inside the ranges of
// within exactly bars, and marks within covered, in one transaction. It is
// the authoritative fill of a history that follows the exchange: the REST
// candles replace what the stream stored for minutes that are not covered
// yet. Minutes already covered are immutable and left as they are (a
// differing bar there counts as a conflict, as in PutMinutes). Every bar
// must lie inside within.
//
// It returns how many uncovered minutes changed: a stored bar overwritten by
// a different one, or deleted because bars has none for its minute. A
// stored minute inside two overlapping ranges of within counts once (bolt
// counts it once per range).
func (s *BarStore) ReplaceMinutes(ctx context.Context, figi string, bars []tvbridge.Bar, within []tvbridge.Range) (replaced, conflicts int, err error) {
	w, err := planInstrument(figi, bars, within)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: replace minutes: %w", err)
	}
	if err := barsInside(w); err != nil {
		return 0, 0, fmt.Errorf("postgres: replace minutes of %s: %w", figi, err)
	}
	if len(w.spans) == 0 {
		return 0, 0, nil
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		replaced, conflicts, err = s.replaceMinutes(ctx, tx, w)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: replace minutes of %s: %w", figi, err)
	}
	conflicts += w.dups
	if conflicts > 0 {
		s.db.log.Warn("kept covered 1-minute bars that differ from the exchange's", "figi", figi, "conflicts", conflicts)
	}
	return replaced, conflicts, nil
}

func (s *BarStore) replaceMinutes(ctx context.Context, tx pgx.Tx, w minuteWrite) (replaced, conflicts int, err error) {
	marks, err := lockInstruments(ctx, tx, []string{w.figi})
	if err != nil {
		return 0, 0, err
	}
	covered, err := overlapping(ctx, tx, w.figi, w.spans)
	if err != nil {
		return 0, 0, err
	}
	isCovered := func(n int64) bool {
		return slices.ContainsFunc(covered, func(sp span) bool { return sp.from <= n && n < sp.to })
	}
	stored, err := storedIn(ctx, tx, w.figi, w.spans)
	if err != nil {
		return 0, 0, err
	}
	want := make(map[int64]tvbridge.Bar, len(w.bars))
	for _, b := range w.bars {
		want[minuteUnit.index(b.Time)] = b
	}
	// Stored bars the exchange does not have go, unless covered.
	var stale []time.Time
	for n, old := range stored {
		if _, keep := want[n]; keep {
			continue
		}
		if isCovered(n) {
			conflicts++
			continue
		}
		stale = append(stale, old.Time)
	}
	var put barColumns
	for _, b := range w.bars {
		n := minuteUnit.index(b.Time)
		old, ok := stored[n]
		switch {
		case ok && sameOHLCV(old, b):
			continue
		case ok && isCovered(n):
			conflicts++
			continue
		case ok:
			replaced++
		}
		put.add(w.figi, []tvbridge.Bar{b})
	}
	replaced += len(stale)
	if len(stale) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM tvbridge_minutes WHERE figi = $1 AND t = ANY($2)`, w.figi, stale); err != nil {
			return 0, 0, fmt.Errorf("delete bars: %w", err)
		}
	}
	if len(put.figi) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO tvbridge_minutes (figi, t, open, high, low, close, volume)
			SELECT * FROM `+unnestBars+`
			ON CONFLICT (figi, t) DO UPDATE SET open = excluded.open, high = excluded.high,
				low = excluded.low, close = excluded.close, volume = excluded.volume`, put.args()...)
		if err != nil {
			return 0, 0, fmt.Errorf("put bars: %w", err)
		}
	}
	if len(w.bars) > 0 {
		if err := s.lowerWatermarks(ctx, tx, marks, map[string]time.Time{w.figi: w.bars[0].Time}); err != nil {
			return 0, 0, err
		}
	}
	if err := mergeRanges(ctx, tx, tableCoverage, map[string][]span{w.figi: w.spans}); err != nil {
		return 0, 0, err
	}
	return replaced, conflicts, nil
}

// overlapping returns the stored coverage ranges of figi that overlap any
// of spans.
func overlapping(ctx context.Context, tx pgx.Tx, figi string, spans []span) ([]span, error) {
	figis, los, his := spanArgs(figi, spans)
	rows, _ := tx.Query(ctx, fmt.Sprintf(floorAndFollowing, tableCoverage), figis, los, his)
	var out []span
	var f string
	var from, to time.Time
	_, err := pgx.ForEachRow(rows, []any{&f, &from, &to}, func() error {
		sp, err := storedSpan(from, to)
		if err != nil {
			return err
		}
		out = append(out, sp)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read coverage: %w", err)
	}
	// The query also returns ranges that only touch a span; they cover
	// none of its minutes, and isCovered asks about minutes only.
	return out, nil
}

// storedIn returns the stored bars of figi inside spans, by minute.
func storedIn(ctx context.Context, tx pgx.Tx, figi string, spans []span) (map[int64]tvbridge.Bar, error) {
	_, los, his := spanArgs(figi, spans)
	rows, _ := tx.Query(ctx, `SELECT DISTINCT m.t, m.open, m.high, m.low, m.close, m.volume
		FROM tvbridge_minutes m JOIN unnest($2::timestamptz[], $3::timestamptz[]) AS s(lo, hi)
		ON m.figi = $1 AND m.t >= s.lo AND m.t < s.hi`, figi, los, his)
	out := map[int64]tvbridge.Bar{}
	var b tvbridge.Bar
	_, err := pgx.ForEachRow(rows, []any{&b.Time, &b.Open, &b.High, &b.Low, &b.Close, &b.Volume}, func() error {
		b.Time = b.Time.UTC()
		if err := checkStored(b, minuteUnit); err != nil {
			return err
		}
		out[minuteUnit.index(b.Time)] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read bars: %w", err)
	}
	return out, nil
}

func spanArgs(figi string, spans []span) (figis []string, los, his []time.Time) {
	for _, sp := range spans {
		figis = append(figis, figi)
		los = append(los, minuteUnit.time(sp.from))
		his = append(his, minuteUnit.time(sp.to))
	}
	return figis, los, his
}
