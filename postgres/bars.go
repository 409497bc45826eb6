package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"tvbridge"
)

var _ tvbridge.BarStore = (*BarStore)(nil)

// BarStore is a tvbridge.BarStore on PostgreSQL with every method of
// bolt.Store and the same behaviour: closed bars are immutable (a
// different bar for a stored time is kept as stored and counted as a
// conflict), coverage and fetched ranges are kept merged, the first-bar
// watermark never hides a stored bar, and every write is one transaction.
//
// With a non-nil Fence every write first checks the lease (see Leases):
// after another node took the lease over, writes fail with ErrFenced and
// write nothing. Reads are never fenced: every node serves /history.
//
// Writers lock the rows of the instruments they write (in
// tvbridge_instruments, in id order), so concurrent writers, even on
// different nodes, never interleave a coverage merge or miscount conflicts.
// It is safe for concurrent use.
type BarStore struct {
	db    *DB
	fence *Fence
}

// Bars returns the bar store of db; fence nil means unfenced writes (tests,
// tools, a single node).
func (db *DB) Bars(fence *Fence) *BarStore {
	if fence != nil {
		f := *fence
		fence = &f
	}
	return &BarStore{db: db, fence: fence}
}

// Close does nothing: the pool belongs to the DB, which DB.Close closes.
func (s *BarStore) Close() error { return nil }

func (s *BarStore) write(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.db.write(ctx, s.fence, s.db.barCommits, fn)
}

// minuteWrite is one instrument's share of a write: bars sorted by time
// with one bar per time (dups counts the later, differing duplicates of the
// input, which are conflicts), and non-empty spans.
type minuteWrite struct {
	figi  string
	bars  []tvbridge.Bar
	dups  int
	spans []span
}

// planBars validates and normalizes bars and sorts them by time. The sort
// is stable, so when the input holds one time twice the earlier bar wins and
// the later one counts as a conflict when it differs, as if written by a
// later call (bolt's rule).
func planBars(bars []tvbridge.Bar, u unit) ([]tvbridge.Bar, int, error) {
	out := make([]tvbridge.Bar, 0, len(bars))
	for _, b := range bars {
		if err := validateBar(b, u); err != nil {
			return nil, 0, err
		}
		out = append(out, normalize(b))
	}
	slices.SortStableFunc(out, func(a, b tvbridge.Bar) int { return a.Time.Compare(b.Time) })
	dups := 0
	uniq := out[:0]
	for i, b := range out {
		if i > 0 && b.Time.Equal(uniq[len(uniq)-1].Time) {
			if !sameOHLCV(b, uniq[len(uniq)-1]) {
				dups++
			}
			continue
		}
		uniq = append(uniq, b)
	}
	return uniq, dups, nil
}

func planInstrument(figi string, bars []tvbridge.Bar, covered []tvbridge.Range) (minuteWrite, error) {
	if err := validateFIGI(figi); err != nil {
		return minuteWrite{}, err
	}
	sorted, dups, err := planBars(bars, minuteUnit)
	if err != nil {
		return minuteWrite{}, fmt.Errorf("%s: %w", figi, err)
	}
	w := minuteWrite{figi: figi, bars: sorted, dups: dups}
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

// planMinutes validates a batch, ordered by instrument id.
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

// PutMinutes stores closed 1-minute bars of one instrument and marks the
// covered ranges complete, in one transaction. See PutMinutesBatch.
func (s *BarStore) PutMinutes(ctx context.Context, figi string, bars []tvbridge.Bar, covered []tvbridge.Range) (int, error) {
	return s.PutMinutesBatch(ctx, map[string][]tvbridge.Bar{figi: bars}, map[string][]tvbridge.Range{figi: covered})
}

// PutMinutesBatch stores closed 1-minute bars and coverage for many
// instruments in ONE transaction. Instruments may appear in either map or
// both. All input is validated first; on any error nothing is written. It
// returns the number of conflicting bars (see tvbridge.BarStore). A bar
// earlier than the instrument's first-bar watermark lowers the watermark.
func (s *BarStore) PutMinutesBatch(ctx context.Context, bars map[string][]tvbridge.Bar, covered map[string][]tvbridge.Range) (int, error) {
	writes, err := planMinutes(bars, covered)
	if err != nil {
		return 0, fmt.Errorf("postgres: put minutes: %w", err)
	}
	var perFIGI map[string]int
	err = s.write(ctx, func(tx pgx.Tx) error {
		perFIGI, err = s.writeMinutes(ctx, tx, writes, tableCoverage)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: put minutes: %w", err)
	}
	total := 0
	for _, w := range writes {
		n := perFIGI[w.figi] + w.dups
		total += n
		if n > 0 {
			s.db.log.Warn("kept stored 1-minute bars that differ from the new ones", "figi", w.figi, "conflicts", n)
		}
	}
	return total, nil
}

// writeMinutes applies writes inside tx: it locks the instruments, inserts
// the bars that are new, lowers watermarks, and merges the spans into
// rangeTable. It returns the conflicts with stored bars per instrument.
func (s *BarStore) writeMinutes(ctx context.Context, tx pgx.Tx, writes []minuteWrite, rangeTable string) (map[string]int, error) {
	if len(writes) == 0 {
		return nil, nil
	}
	figis := make([]string, len(writes))
	for i, w := range writes {
		figis[i] = w.figi
	}
	marks, err := lockInstruments(ctx, tx, figis)
	if err != nil {
		return nil, err
	}
	var in barColumns
	firsts := map[string]time.Time{}
	spans := map[string][]span{}
	for _, w := range writes {
		in.add(w.figi, w.bars)
		if len(w.bars) > 0 {
			firsts[w.figi] = w.bars[0].Time
		}
		if len(w.spans) > 0 {
			spans[w.figi] = w.spans
		}
	}
	conflicts, err := insertBars(ctx, tx, tableMinutes, &in)
	if err != nil {
		return nil, err
	}
	if err := s.lowerWatermarks(ctx, tx, marks, firsts); err != nil {
		return nil, err
	}
	if err := mergeRanges(ctx, tx, rangeTable, spans); err != nil {
		return nil, err
	}
	return conflicts, nil
}

// Table names; constants, never input.
const (
	tableMinutes  = "tvbridge_minutes"
	tableDaily    = "tvbridge_daily"
	tableCoverage = "tvbridge_coverage"
	tableFetched  = "tvbridge_fetched"
)

// lockInstruments creates the missing instrument rows and locks them all,
// in id order (the same order everywhere, so writers cannot deadlock), and
// returns the known watermarks.
func lockInstruments(ctx context.Context, tx pgx.Tx, figis []string) (map[string]time.Time, error) {
	figis = slices.Clone(figis)
	slices.Sort(figis)
	// Create the missing rows first, then lock them all in one ordered
	// pass: taking locks on existing rows before inserting new ones could
	// deadlock with a writer that saw a row exist that this one did not.
	// The check takes no lock; it spares the usual case (every instrument
	// known) the cost of an INSERT ... ON CONFLICT per row.
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM tvbridge_instruments WHERE figi = ANY($1)`, figis).Scan(&n); err != nil {
		return nil, fmt.Errorf("find instruments: %w", err)
	}
	if n < len(figis) {
		if _, err := tx.Exec(ctx, `INSERT INTO tvbridge_instruments (figi)
			SELECT f FROM unnest($1::text[]) AS u(f) ORDER BY f COLLATE "C"
			ON CONFLICT (figi) DO NOTHING`, figis); err != nil {
			return nil, fmt.Errorf("create instruments: %w", err)
		}
	}
	marks := map[string]time.Time{}
	locked, err := lockRows(ctx, tx, figis, marks)
	if err != nil {
		return nil, err
	}
	if len(locked) != len(figis) {
		return nil, fmt.Errorf("lock instruments: locked %d of %d", len(locked), len(figis))
	}
	return marks, nil
}

// lockRows locks the existing instrument rows of figis in id order and
// records their watermarks; it returns which it locked.
func lockRows(ctx context.Context, tx pgx.Tx, figis []string, marks map[string]time.Time) (map[string]bool, error) {
	rows, _ := tx.Query(ctx, `SELECT figi, first_bar FROM tvbridge_instruments
		WHERE figi = ANY($1) ORDER BY figi COLLATE "C" FOR UPDATE`, figis)
	locked := make(map[string]bool, len(figis))
	var figi string
	var first *time.Time
	_, err := pgx.ForEachRow(rows, []any{&figi, &first}, func() error {
		locked[figi] = true
		if first != nil {
			marks[figi] = first.UTC()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock instruments: %w", err)
	}
	return locked, nil
}

// barColumns are bars of several instruments as column arrays, the form
// unnest takes: one round trip and binary-encoded arrays for any count.
type barColumns struct {
	figi                           []string
	t                              []time.Time
	open, high, low, close, volume []float64
}

func (c *barColumns) add(figi string, bars []tvbridge.Bar) {
	for _, b := range bars {
		c.figi = append(c.figi, figi)
		c.t = append(c.t, b.Time)
		c.open = append(c.open, b.Open)
		c.high = append(c.high, b.High)
		c.low = append(c.low, b.Low)
		c.close = append(c.close, b.Close)
		c.volume = append(c.volume, b.Volume)
	}
}

func (c *barColumns) args() []any {
	return []any{c.figi, c.t, c.open, c.high, c.low, c.close, c.volume}
}

const unnestBars = `unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])
	AS u(figi, t, open, high, low, close, volume)`

// insertBars inserts the bars whose time is free and counts, per
// instrument, those whose time holds a different bar: the stored one stays.
// The outer SELECT reads the snapshot from before the INSERT, so it sees
// exactly the bars stored before; the instrument locks the caller holds
// mean no other writer can have added one since. Float equality is
// PostgreSQL's, where -0 = 0, as bolt's byte comparison of normalized
// values.
func insertBars(ctx context.Context, tx pgx.Tx, table string, in *barColumns) (map[string]int, error) {
	if len(in.figi) == 0 {
		return nil, nil
	}
	rows, _ := tx.Query(ctx, `
		WITH input AS (SELECT * FROM `+unnestBars+`),
		ins AS (
			INSERT INTO `+table+` (figi, t, open, high, low, close, volume)
			SELECT figi, t, open, high, low, close, volume FROM input
			ON CONFLICT (figi, t) DO NOTHING
		)
		SELECT i.figi, count(*) FROM input i JOIN `+table+` s ON s.figi = i.figi AND s.t = i.t
		WHERE (s.open, s.high, s.low, s.close, s.volume) IS DISTINCT FROM (i.open, i.high, i.low, i.close, i.volume)
		GROUP BY i.figi`, in.args()...)
	out := map[string]int{}
	var figi string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&figi, &n}, func() error { out[figi] = n; return nil }); err != nil {
		return nil, fmt.Errorf("insert bars: %w", err)
	}
	return out, nil
}

// lowerWatermarks moves a known watermark back to the first bar written
// when that bar is earlier, so the watermark never hides a stored bar.
func (s *BarStore) lowerWatermarks(ctx context.Context, tx pgx.Tx, marks, firsts map[string]time.Time) error {
	var figis []string
	var ts []time.Time
	for figi, first := range firsts {
		cur, known := marks[figi]
		if !known || !first.Before(cur) {
			continue
		}
		s.db.log.Warn("stored a bar before the first-bar watermark; lowering it", "figi", figi, "watermark", cur, "bar", first)
		figis = append(figis, figi)
		ts = append(ts, first)
	}
	if len(figis) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE tvbridge_instruments i SET first_bar = u.t
		FROM unnest($1::text[], $2::timestamptz[]) AS u(figi, t) WHERE i.figi = u.figi`, figis, ts)
	if err != nil {
		return fmt.Errorf("lower watermarks: %w", err)
	}
	return nil
}

// PutDaily stores the bars of closed trading days (each at 00:00 UTC of its
// trading day) in one transaction and returns the conflict count.
func (s *BarStore) PutDaily(ctx context.Context, figi string, bars []tvbridge.Bar) (int, error) {
	if err := validateFIGI(figi); err != nil {
		return 0, fmt.Errorf("postgres: put daily: %w", err)
	}
	sorted, dups, err := planBars(bars, dayUnit)
	if err != nil {
		return 0, fmt.Errorf("postgres: put daily %s: %w", figi, err)
	}
	if len(sorted) == 0 {
		return 0, nil
	}
	var in barColumns
	in.add(figi, sorted)
	conflicts := 0
	err = s.write(ctx, func(tx pgx.Tx) error {
		if _, err := lockInstruments(ctx, tx, []string{figi}); err != nil {
			return err
		}
		n, err := insertBars(ctx, tx, tableDaily, &in)
		conflicts = n[figi]
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: put daily %s: %w", figi, err)
	}
	conflicts += dups
	if conflicts > 0 {
		s.db.log.Warn("kept stored daily bars that differ from the new ones", "figi", figi, "conflicts", conflicts)
	}
	return conflicts, nil
}

// Minutes returns the stored 1-minute bars with from <= Time < to, ascending,
// with times in UTC.
func (s *BarStore) Minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	bars, err := s.readBars(ctx, figi, tableMinutes, minuteUnit, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: minutes of %s: %w", figi, err)
	}
	return bars, nil
}

// Daily returns the stored daily bars with from <= Time < to, ascending.
func (s *BarStore) Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	bars, err := s.readBars(ctx, figi, tableDaily, dayUnit, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: daily of %s: %w", figi, err)
	}
	return bars, nil
}

// maxPrealloc caps the result capacity guessed from the range width.
const maxPrealloc = 2048

// bounds clamps a query range to [epoch, maxTime] and rounds both ends up to
// whole units, as bolt does; ok is false when nothing can match.
func bounds(u unit, from, to time.Time) (lo, hi time.Time, n int64, ok bool) {
	if to.After(maxTime) {
		to = maxTime
	}
	l, h := u.ceil(from), u.ceil(to)
	if l >= h {
		return time.Time{}, time.Time{}, 0, false
	}
	return u.time(l), u.time(h), h - l, true
}

func (s *BarStore) readBars(ctx context.Context, figi, table string, u unit, from, to time.Time) ([]tvbridge.Bar, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lo, hi, n, ok := bounds(u, from, to)
	if !ok {
		return nil, nil
	}
	// Binary results decoded by hand: a day of bars is 800 rows of six
	// fixed-width values, and pgx's generic Scan costs more than the query.
	rows, err := s.db.pool.Query(ctx, `SELECT t, open, high, low, close, volume FROM `+table+`
		WHERE figi = $1 AND t >= $2 AND t < $3 ORDER BY t`,
		pgx.QueryResultFormats{pgx.BinaryFormatCode}, figi, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bars []tvbridge.Bar
	for rows.Next() {
		if bars == nil {
			bars = make([]tvbridge.Bar, 0, min(n, maxPrealloc))
		}
		b, err := decodeBarRow(rows.RawValues())
		if err != nil {
			return nil, err
		}
		if err := checkStored(b, u); err != nil {
			return nil, err
		}
		bars = append(bars, b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return bars, nil
}

// pgEpochMicros is 2000-01-01 UTC, PostgreSQL's timestamp epoch, in Unix
// microseconds.
const pgEpochMicros = 946_684_800 * 1_000_000

// decodeBarRow decodes a binary (t timestamptz, five float8) row.
func decodeBarRow(vals [][]byte) (tvbridge.Bar, error) {
	if len(vals) != 6 {
		return tvbridge.Bar{}, fmt.Errorf("%w: bar row has %d columns", ErrCorrupt, len(vals))
	}
	for _, v := range vals {
		if len(v) != 8 {
			return tvbridge.Bar{}, fmt.Errorf("%w: bar row value has %d bytes, want 8", ErrCorrupt, len(v))
		}
	}
	f := func(v []byte) float64 { return math.Float64frombits(binary.BigEndian.Uint64(v)) }
	us := int64(binary.BigEndian.Uint64(vals[0])) + pgEpochMicros
	return tvbridge.Bar{
		Time: time.Unix(us/1_000_000, us%1_000_000*1000).UTC(),
		Open: f(vals[1]), High: f(vals[2]), Low: f(vals[3]), Close: f(vals[4]), Volume: f(vals[5]),
	}, nil
}
