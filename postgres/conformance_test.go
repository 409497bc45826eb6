package postgres

// The bolt store's tests (bolt/store_test.go, coverage_test.go,
// replace_test.go, catalogue_test.go, names_test.go), copied and run against
// both implementations, so that bolt.Store and BarStore are held to the same
// behaviour by the same cases. Checks of a store's internals (bbolt
// buckets, rows) stay with each implementation.

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bolt"
)

// barStore is every method the two implementations share.
type barStore interface {
	tvbridge.BarStore
	PutMinutesBatch(ctx context.Context, bars map[string][]tvbridge.Bar, covered map[string][]tvbridge.Range) (int, error)
	PutFetched(ctx context.Context, figi string, bars []tvbridge.Bar, fetched tvbridge.Range) (int, error)
	Fetched(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Range, error)
	ReplaceMinutes(ctx context.Context, figi string, bars []tvbridge.Bar, within []tvbridge.Range) (replaced, conflicts int, err error)
	PutCatalogue(ctx context.Context, insts []tvbridge.Instrument, loaded time.Time) error
	Catalogue(ctx context.Context) (insts []tvbridge.Instrument, loaded time.Time, ok bool, err error)
	SymbolNames(ctx context.Context) (map[string]string, error)
	PutSymbolNames(ctx context.Context, names map[string]string) error
}

var (
	_ barStore = (*bolt.Store)(nil)
	_ barStore = (*BarStore)(nil)
)

// impl is one implementation under test.
type impl struct {
	name    string
	invalid error // its ErrInvalid
	// open returns an empty store and a function that reopens it: a new
	// handle on the same data (a restart, or another node).
	open func(t *testing.T) (barStore, func() barStore)
	// spans returns the stored, raw ranges of an instrument's coverage, to
	// check they stay merged; nil when the test cannot look inside.
	spans func(t *testing.T, s barStore, figi string) []span
}

var impls = []impl{
	{
		name:    "bolt",
		invalid: bolt.ErrInvalid,
		open: func(t *testing.T) (barStore, func() barStore) {
			path := filepath.Join(t.TempDir(), "bars.db")
			s, err := bolt.Open(path, bolt.Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			cur := s
			t.Cleanup(func() { _ = cur.Close() })
			return s, func() barStore {
				if err := cur.Close(); err != nil {
					t.Fatal(err)
				}
				next, err := bolt.Open(path, bolt.Options{Logger: quietLogger()})
				if err != nil {
					t.Fatal(err)
				}
				cur = next
				return next
			}
		},
	},
	{
		name:    "postgres",
		invalid: ErrInvalid,
		open: func(t *testing.T) (barStore, func() barStore) {
			db, url := openTestDB(t)
			return db.Bars(nil), func() barStore { return openURL(t, url).Bars(nil) }
		},
		spans: func(t *testing.T, s barStore, figi string) []span {
			t.Helper()
			rows, err := s.(*BarStore).db.pool.Query(ctx, `SELECT from_t, to_t FROM tvbridge_coverage WHERE figi = $1 ORDER BY from_t`, figi)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []span
			for rows.Next() {
				var f, to time.Time
				if err := rows.Scan(&f, &to); err != nil {
					t.Fatal(err)
				}
				out = append(out, span{minuteUnit.index(f), minuteUnit.index(to)})
			}
			return out
		},
	},
}

// both runs fn against each implementation.
func both(t *testing.T, fn func(t *testing.T, im impl)) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) { fn(t, im) })
	}
}

func (im impl) store(t *testing.T) barStore {
	s, _ := im.open(t)
	return s
}

func mustMinutes(t *testing.T, s barStore, figi string, from, to time.Time) []tvbridge.Bar {
	t.Helper()
	got, err := s.Minutes(ctx, figi, from, to)
	if err != nil {
		t.Fatalf("Minutes: %v", err)
	}
	return got
}

// equalBars compares bit for bit: a closed bar must come back identical.
func equalBars(t *testing.T, got, want []tvbridge.Bar) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d bars, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	bits := func(b tvbridge.Bar) [5]uint64 {
		return [5]uint64{math.Float64bits(b.Open), math.Float64bits(b.High), math.Float64bits(b.Low),
			math.Float64bits(b.Close), math.Float64bits(b.Volume)}
	}
	for i := range got {
		if !got[i].Time.Equal(want[i].Time) || got[i].Time.Location() != time.UTC {
			t.Fatalf("bar %d: time %v, want %v in UTC", i, got[i].Time, want[i].Time)
		}
		if bits(got[i]) != bits(want[i]) {
			t.Fatalf("bar %d at %v: got %+v, want %+v", i, want[i].Time, got[i], want[i])
		}
	}
}

func TestMinutesRoundTripAndRange(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		want := minutes(t10, 30, 0)
		shuffled := slices.Clone(want)
		slices.Reverse(shuffled) // PutMinutes accepts any order
		if n, err := s.PutMinutes(ctx, "FIGI1", shuffled, nil); err != nil || n != 0 {
			t.Fatalf("PutMinutes = %d, %v", n, err)
		}
		equalBars(t, mustMinutes(t, s, "FIGI1", day0, day0.AddDate(0, 0, 1)), want)

		tests := []struct {
			name     string
			from, to time.Time
			want     []tvbridge.Bar
		}{
			{"from inclusive, to exclusive", t10.Add(5 * time.Minute), t10.Add(8 * time.Minute), want[5:8]},
			{"unaligned from rounds up", t10.Add(5*time.Minute + time.Second), t10.Add(8 * time.Minute), want[6:8]},
			{"unaligned to includes its minute start", t10, t10.Add(2*time.Minute + time.Nanosecond), want[0:3]},
			{"empty when to equals from", t10, t10, nil},
			{"empty when inverted", t10.Add(time.Hour), t10, nil},
			{"before 1970 is clamped", time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), t10.Add(time.Minute), want[:1]},
			{"entirely before 1970", time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), nil},
			{"far future", t10.Add(29 * time.Minute), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), want[29:]},
			{"beyond any database date", t10.Add(29 * time.Minute), time.Date(1<<20, 1, 1, 0, 0, 0, 0, time.UTC), want[29:]},
			{"other time zone", t10.In(time.FixedZone("MSK", 3*3600)), t10.Add(time.Minute).In(time.FixedZone("X", -5*3600)), want[:1]},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				equalBars(t, mustMinutes(t, s, "FIGI1", tt.from, tt.to), tt.want)
			})
		}
		if got := mustMinutes(t, s, "UNKNOWN", day0, day0.AddDate(0, 0, 1)); len(got) != 0 {
			t.Fatalf("unknown instrument: got %v", got)
		}
	})
}

// TestFloatsRoundTripExactly stores values with no short decimal form, the
// extremes of float64 and negative prices, and wants the same bits back.
func TestFloatsRoundTripExactly(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		odd := []tvbridge.Bar{
			{Time: t10, Open: 0.1 + 0.2, High: math.Nextafter(0.3, 1), Low: 0.1, Close: 0.3, Volume: 1.0 / 3},
			{Time: t10.Add(time.Minute), Open: -5, High: math.MaxFloat64, Low: -math.MaxFloat64, Close: 1e-300, Volume: math.SmallestNonzeroFloat64},
			{Time: t10.Add(2 * time.Minute), Open: 123456789.123456789, High: 123456789.12345679, Low: -1e15 / 7, Close: 123456789.1234567, Volume: 9007199254740993},
		}
		if _, err := s.PutMinutes(ctx, "F", odd, nil); err != nil {
			t.Fatal(err)
		}
		equalBars(t, mustMinutes(t, s, "F", t10, t10.Add(time.Hour)), odd)
		// No conflict when the same values come again.
		if n, err := s.PutMinutes(ctx, "F", odd, nil); err != nil || n != 0 {
			t.Fatalf("rewrite: %d conflicts, %v", n, err)
		}
	})
}

func TestClosedBarsNeverChange(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		orig := minutes(t10, 3, 0)
		if _, err := s.PutMinutes(ctx, "F", orig, nil); err != nil {
			t.Fatal(err)
		}
		// An identical rewrite is not a conflict; a different bar is, and loses.
		changed := bar(t10.Add(time.Minute), 50)
		rewrite := []tvbridge.Bar{orig[0], changed, bar(t10.Add(3*time.Minute), 3)}
		n, err := s.PutMinutes(ctx, "F", rewrite, nil)
		if err != nil || n != 1 {
			t.Fatalf("PutMinutes = %d, %v; want 1 conflict", n, err)
		}
		equalBars(t, mustMinutes(t, s, "F", t10, t10.Add(time.Hour)), append(orig, bar(t10.Add(3*time.Minute), 3)))

		// Within one call the first bar for a time wins; negative zero equals zero.
		dupTime := t10.Add(10 * time.Minute)
		zero := tvbridge.Bar{Time: dupTime, Open: 0, High: 1, Low: 0, Close: 0, Volume: 1}
		negZero := zero
		negZero.Low, negZero.Close = math.Copysign(0, -1), math.Copysign(0, -1)
		n, err = s.PutMinutes(ctx, "F", []tvbridge.Bar{zero, bar(dupTime, 7), negZero}, nil)
		if err != nil || n != 1 {
			t.Fatalf("duplicates in one call = %d, %v; want 1 conflict", n, err)
		}
		equalBars(t, mustMinutes(t, s, "F", dupTime, dupTime.Add(time.Minute)), []tvbridge.Bar{zero})

		// A stored -0 reads back as +0, and a later +0 is no conflict.
		nz := tvbridge.Bar{Time: dupTime.Add(time.Minute), Open: math.Copysign(0, -1), High: 1, Low: math.Copysign(0, -1), Close: 0, Volume: 1}
		if _, err := s.PutMinutes(ctx, "F", []tvbridge.Bar{nz}, nil); err != nil {
			t.Fatal(err)
		}
		pz := tvbridge.Bar{Time: nz.Time, High: 1, Volume: 1}
		if n, err := s.PutMinutes(ctx, "F", []tvbridge.Bar{pz}, nil); err != nil || n != 0 {
			t.Fatalf("+0 over -0: %d conflicts, %v", n, err)
		}
		equalBars(t, mustMinutes(t, s, "F", nz.Time, nz.Time.Add(time.Minute)), []tvbridge.Bar{pz})
	})
}

func TestInvalidInputWritesNothing(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		ok := bar(t10, 0)
		mod := func(f func(*tvbridge.Bar)) tvbridge.Bar { b := ok; f(&b); return b }
		tests := []struct {
			name string
			figi string
			bar  tvbridge.Bar
			rng  tvbridge.Range
		}{
			{"zero volume", "F", mod(func(b *tvbridge.Bar) { b.Volume = 0 }), tvbridge.Range{}},
			{"negative volume", "F", mod(func(b *tvbridge.Bar) { b.Volume = -1 }), tvbridge.Range{}},
			{"NaN close", "F", mod(func(b *tvbridge.Bar) { b.Close = math.NaN() }), tvbridge.Range{}},
			{"Inf high", "F", mod(func(b *tvbridge.Bar) { b.High = math.Inf(1) }), tvbridge.Range{}},
			{"NaN volume", "F", mod(func(b *tvbridge.Bar) { b.Volume = math.NaN() }), tvbridge.Range{}},
			{"high below close", "F", mod(func(b *tvbridge.Bar) { b.High = b.Close - 0.01 }), tvbridge.Range{}},
			{"low above open", "F", mod(func(b *tvbridge.Bar) { b.Low = b.Open + 0.01 }), tvbridge.Range{}},
			{"seconds in time", "F", mod(func(b *tvbridge.Bar) { b.Time = b.Time.Add(time.Second) }), tvbridge.Range{}},
			{"nanoseconds in time", "F", mod(func(b *tvbridge.Bar) { b.Time = b.Time.Add(1) }), tvbridge.Range{}},
			{"before 1970", "F", mod(func(b *tvbridge.Bar) { b.Time = time.Unix(-60, 0) }), tvbridge.Range{}},
			{"zero time", "F", mod(func(b *tvbridge.Bar) { b.Time = time.Time{} }), tvbridge.Range{}},
			{"empty figi", "", ok, tvbridge.Range{}},
			{"unaligned range", "F", ok, tvbridge.Range{From: t10.Add(time.Second), To: t10.Add(time.Hour)}},
			{"inverted range", "F", ok, tvbridge.Range{From: t10.Add(time.Hour), To: t10}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// A valid instrument in the same batch must not be written either.
				bars := map[string][]tvbridge.Bar{"GOOD": {ok}, tt.figi: {ok, tt.bar}}
				var cov map[string][]tvbridge.Range
				if tt.rng != (tvbridge.Range{}) {
					bars[tt.figi] = []tvbridge.Bar{ok}
					cov = map[string][]tvbridge.Range{tt.figi: {tt.rng}}
				}
				_, err := s.PutMinutesBatch(ctx, bars, cov)
				if !errors.Is(err, im.invalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				if got := mustMinutes(t, s, "GOOD", day0, day0.AddDate(0, 0, 1)); len(got) != 0 {
					t.Fatalf("a failed batch wrote %v", got)
				}
			})
		}
		if _, err := s.PutDaily(ctx, "F", []tvbridge.Bar{mod(func(b *tvbridge.Bar) { b.Time = day0.Add(time.Hour) })}); !errors.Is(err, im.invalid) {
			t.Fatalf("daily bar not at 00:00 UTC: err = %v, want ErrInvalid", err)
		}
	})
}

func TestCancelledContextWritesNothing(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.PutMinutes(cctx, "F", minutes(t10, 5, 0), nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("PutMinutes err = %v, want context.Canceled", err)
		}
		if _, err := s.Minutes(cctx, "F", day0, t10.Add(time.Hour)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Minutes err = %v, want context.Canceled", err)
		}
		if got := mustMinutes(t, s, "F", day0, t10.Add(time.Hour)); len(got) != 0 {
			t.Fatalf("cancelled write stored %v", got)
		}
	})
}

func TestBatchManyInstruments(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		bars := map[string][]tvbridge.Bar{}
		cov := map[string][]tvbridge.Range{}
		for i := range 50 {
			figi := "FIGI" + string(rune('A'+i%26)) + string(rune('a'+i/26))
			bars[figi] = minutes(t10, 2, float64(i))
			cov[figi] = []tvbridge.Range{{From: t10, To: t10.Add(2 * time.Minute)}}
		}
		cov["COVERAGE_ONLY"] = []tvbridge.Range{{From: t10, To: t10.Add(time.Minute)}}
		if n, err := s.PutMinutesBatch(ctx, bars, cov); err != nil || n != 0 {
			t.Fatalf("PutMinutesBatch = %d, %v", n, err)
		}
		for figi, want := range bars {
			equalBars(t, mustMinutes(t, s, figi, t10, t10.Add(time.Hour)), want)
			got, err := s.Covered(ctx, figi, day0, day0.AddDate(0, 0, 1))
			if err != nil || !slices.Equal(got, cov[figi]) {
				t.Fatalf("%s: Covered = %v, %v; want %v", figi, got, err, cov[figi])
			}
		}
		got, err := s.Covered(ctx, "COVERAGE_ONLY", day0, day0.AddDate(0, 0, 1))
		if err != nil || len(got) != 1 {
			t.Fatalf("coverage-only instrument: %v, %v", got, err)
		}
		// Conflicts are counted across the batch.
		bars2 := map[string][]tvbridge.Bar{"FIGIAa": {bar(t10, 77)}, "FIGIBa": {bar(t10, 78), bar(t10.Add(time.Minute), 79)}, "NEW": {bar(t10, 1)}}
		if n, err := s.PutMinutesBatch(ctx, bars2, nil); err != nil || n != 3 {
			t.Fatalf("second batch = %d, %v; want 3 conflicts", n, err)
		}
	})
}

func TestDaily(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		var want []tvbridge.Bar
		for d := range 10 {
			want = append(want, bar(day0.AddDate(0, 0, d), float64(d)))
		}
		if n, err := s.PutDaily(ctx, "F", want); err != nil || n != 0 {
			t.Fatalf("PutDaily = %d, %v", n, err)
		}
		got, err := s.Daily(ctx, "F", day0.Add(time.Hour), day0.AddDate(0, 0, 5)) // the 1st day starts before from
		if err != nil {
			t.Fatal(err)
		}
		equalBars(t, got, want[1:5])
		if n, err := s.PutDaily(ctx, "F", []tvbridge.Bar{bar(day0, 99)}); err != nil || n != 1 {
			t.Fatalf("changed daily bar: %d, %v; want 1 conflict", n, err)
		}
		// Daily and minute bars live apart.
		if got := mustMinutes(t, s, "F", day0, day0.AddDate(0, 0, 10)); len(got) != 0 {
			t.Fatalf("daily bars leaked into minutes: %v", got)
		}
	})
}

func TestFirstBarWatermark(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		if _, ok, err := s.FirstBar(ctx, "F"); ok || err != nil {
			t.Fatalf("FirstBar before any set: ok=%v err=%v", ok, err)
		}
		if err := s.SetFirstBar(ctx, "F", t10); err != nil {
			t.Fatal(err)
		}
		assertFirst := func(want time.Time) {
			t.Helper()
			got, ok, err := s.FirstBar(ctx, "F")
			if err != nil || !ok || !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("FirstBar = %v, %v, %v; want %v", got, ok, err, want)
			}
		}
		assertFirst(t10)
		if _, err := s.PutMinutes(ctx, "F", minutes(t10.Add(time.Hour), 2, 0), nil); err != nil {
			t.Fatal(err)
		}
		assertFirst(t10) // a later bar leaves it alone
		if err := s.SetFirstBar(ctx, "F", t10.Add(2*time.Hour)); !errors.Is(err, im.invalid) {
			t.Fatalf("watermark after a stored bar: err = %v, want ErrInvalid", err)
		}
		if err := s.SetFirstBar(ctx, "F", t10.Add(30*time.Second)); !errors.Is(err, im.invalid) {
			t.Fatalf("unaligned watermark: err = %v, want ErrInvalid", err)
		}
		early := t10.Add(-3 * time.Minute)
		if _, err := s.PutMinutes(ctx, "F", []tvbridge.Bar{bar(early, 0)}, nil); err != nil {
			t.Fatal(err)
		}
		assertFirst(early) // an earlier bar lowers it
		if err := s.SetFirstBar(ctx, "F", day0); err != nil {
			t.Fatal(err)
		}
		assertFirst(day0)
		// Bars of an instrument without a watermark set none.
		if _, err := s.PutMinutes(ctx, "G", minutes(t10, 1, 0), nil); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.FirstBar(ctx, "G"); ok || err != nil {
			t.Fatalf("FirstBar of G: ok=%v err=%v", ok, err)
		}
	})
}

func TestReopenKeepsIdenticalData(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s, reopen := im.open(t)
		want := minutes(t10, 20, 0.1) // non-round values: bit patterns must survive
		cov := []tvbridge.Range{{From: t10, To: t10.Add(20 * time.Minute)}}
		if _, err := s.PutMinutes(ctx, "F", want, cov); err != nil {
			t.Fatal(err)
		}
		if err := s.SetFirstBar(ctx, "F", day0); err != nil {
			t.Fatal(err)
		}
		s = reopen()
		equalBars(t, mustMinutes(t, s, "F", day0, day0.AddDate(0, 0, 1)), want)
		if got, err := s.Covered(ctx, "F", day0, day0.AddDate(0, 0, 1)); err != nil || !slices.Equal(got, cov) {
			t.Fatalf("Covered after reopen = %v, %v", got, err)
		}
		if got, ok, err := s.FirstBar(ctx, "F"); err != nil || !ok || !got.Equal(day0) {
			t.Fatalf("FirstBar after reopen = %v, %v, %v", got, ok, err)
		}
	})
}

// TestConcurrentReadersAndWriter is for the race detector: readers must see
// whole minutes while a writer appends.
func TestConcurrentReadersAndWriter(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		const n = 30
		var wg sync.WaitGroup
		defer wg.Wait()
		done := make(chan struct{})
		stop := sync.OnceFunc(func() { close(done) })
		defer stop() // also on t.Fatal, before wg.Wait
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					got, err := s.Minutes(ctx, "F", day0, day0.AddDate(0, 0, 1))
					if err != nil {
						t.Error(err)
						return
					}
					for i, b := range got { // always a prefix of the written sequence
						if !b.Time.Equal(t10.Add(time.Duration(i) * time.Minute)) {
							t.Errorf("reader saw bar %d at %v", i, b.Time)
							return
						}
					}
				}
			})
		}
		for i := range n {
			if _, err := s.PutMinutes(ctx, "F", minutes(t10.Add(time.Duration(i)*time.Minute), 1, float64(i)), nil); err != nil {
				t.Fatal(err)
			}
		}
		stop()
		wg.Wait()
		if got := mustMinutes(t, s, "F", day0, day0.AddDate(0, 0, 1)); len(got) != n {
			t.Fatalf("got %d bars, want %d", len(got), n)
		}
	})
}

// m is minute n of day0, to keep coverage tables readable.
func m(n int) time.Time { return day0.Add(time.Duration(n) * time.Minute) }

func rng(from, to int) tvbridge.Range { return tvbridge.Range{From: m(from), To: m(to)} }

func TestCoverageMerges(t *testing.T) {
	tests := []struct {
		name string
		add  [][]tvbridge.Range // one PutMinutes per element
		want []tvbridge.Range
	}{
		{"single", [][]tvbridge.Range{{rng(0, 5)}}, []tvbridge.Range{rng(0, 5)}},
		{"touching minute by minute", [][]tvbridge.Range{{rng(0, 1)}, {rng(1, 2)}, {rng(2, 3)}}, []tvbridge.Range{rng(0, 3)}},
		{"touching from the left", [][]tvbridge.Range{{rng(5, 8)}, {rng(2, 5)}}, []tvbridge.Range{rng(2, 8)}},
		{"gap stays a gap", [][]tvbridge.Range{{rng(0, 2)}, {rng(3, 5)}}, []tvbridge.Range{rng(0, 2), rng(3, 5)}},
		{"fills a gap", [][]tvbridge.Range{{rng(0, 2)}, {rng(3, 5)}, {rng(2, 3)}}, []tvbridge.Range{rng(0, 5)}},
		{"swallows several", [][]tvbridge.Range{{rng(1, 2), rng(4, 5), rng(7, 8)}, {rng(0, 10)}}, []tvbridge.Range{rng(0, 10)}},
		{"inside existing", [][]tvbridge.Range{{rng(0, 10)}, {rng(3, 4)}}, []tvbridge.Range{rng(0, 10)}},
		{"overlapping both ends", [][]tvbridge.Range{{rng(0, 3), rng(6, 9)}, {rng(2, 7)}}, []tvbridge.Range{rng(0, 9)}},
		{"same start, longer", [][]tvbridge.Range{{rng(2, 3)}, {rng(2, 6)}}, []tvbridge.Range{rng(2, 6)}},
		{"empty range ignored", [][]tvbridge.Range{{rng(2, 3), rng(7, 7)}}, []tvbridge.Range{rng(2, 3)}},
		{"overlapping within one call", [][]tvbridge.Range{{rng(2, 5), rng(4, 8), rng(8, 9)}}, []tvbridge.Range{rng(2, 9)}},
	}
	both(t, func(t *testing.T, im impl) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := im.store(t)
				for _, cov := range tt.add {
					if _, err := s.PutMinutes(ctx, "F", nil, cov); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.Covered(ctx, "F", day0, day0.AddDate(0, 0, 1))
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("Covered = %v, %v; want %v", got, err, tt.want)
				}
				if im.spans != nil {
					if stored := im.spans(t, s, "F"); len(stored) != len(tt.want) {
						t.Fatalf("stored %d rows, want %d merged ones: %v", len(stored), len(tt.want), stored)
					}
				}
			})
		}
	})
}

func TestCoveredClips(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		if _, err := s.PutMinutes(ctx, "F", nil, []tvbridge.Range{rng(10, 20), rng(30, 40)}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name     string
			from, to time.Time
			want     []tvbridge.Range
		}{
			{"inside one", m(12), m(15), []tvbridge.Range{rng(12, 15)}},
			{"across both", m(15), m(35), []tvbridge.Range{rng(15, 20), rng(30, 35)}},
			{"in the gap", m(20), m(30), nil},
			{"sub-minute bounds", m(12).Add(30 * time.Second), m(40).Add(time.Hour), []tvbridge.Range{
				{From: m(12).Add(30 * time.Second), To: m(20)}, rng(30, 40)}},
			{"from before 1970", time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), m(11), []tvbridge.Range{rng(10, 11)}},
			{"inverted", m(35), m(15), nil},
			{"before the first", m(0), m(10), nil},
			{"from on a range's end", m(20), m(31), []tvbridge.Range{rng(30, 31)}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Covered(ctx, "F", tt.from, tt.to)
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("Covered = %v, %v; want %v", got, err, tt.want)
				}
			})
		}
	})
}

// TestCoverageMatchesModel adds random ranges and compares with a per-minute
// bitmap, the obviously correct model.
func TestCoverageMatchesModel(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		r := rand.New(rand.NewPCG(1, 2))
		const span = 200
		var model [span]bool
		for round := range 100 {
			var add []tvbridge.Range
			for range 1 + r.IntN(2) { // sometimes two ranges in one call
				from := r.IntN(span)
				to := min(span, from+1+r.IntN(12))
				add = append(add, rng(from, to))
				for i := from; i < to; i++ {
					model[i] = true
				}
			}
			if _, err := s.PutMinutes(ctx, "F", nil, add); err != nil {
				t.Fatal(err)
			}
			qFrom, qTo := r.IntN(span), r.IntN(span+1)
			got, err := s.Covered(ctx, "F", m(qFrom), m(qTo))
			if err != nil {
				t.Fatal(err)
			}
			if want := modelRanges(model[:], qFrom, qTo); !slices.Equal(got, want) {
				t.Fatalf("round %d: Covered(%d, %d) = %v, want %v", round, qFrom, qTo, got, want)
			}
		}
		if im.spans != nil {
			if stored, want := im.spans(t, s, "F"), modelRanges(model[:], 0, span); len(stored) != len(want) {
				t.Fatalf("stored %d rows, want %d merged ones", len(stored), len(want))
			}
		}
	})
}

func modelRanges(model []bool, from, to int) []tvbridge.Range {
	var out []tvbridge.Range
	for i := from; i < to; i++ {
		if !model[i] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].To.Equal(m(i)) {
			out[n-1].To = m(i + 1)
		} else {
			out = append(out, rng(i, i+1))
		}
	}
	return out
}

// TestReplaceMinutes checks the authoritative fill: inside the ranges the
// stored bars become exactly the given ones (overwritten, added, deleted),
// covered minutes stay as they were, and the ranges end up covered.
func TestReplaceMinutes(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		const figi = "F1"
		m := func(i int) time.Time { return t10.Add(time.Duration(i) * time.Minute) }
		// Streamed: minutes 0..5; minute 0 and 1 covered already.
		if _, err := s.PutMinutes(ctx, figi, minutes(m(0), 6, 0), []tvbridge.Range{{From: m(0), To: m(2)}}); err != nil {
			t.Fatal(err)
		}
		exchange := []tvbridge.Bar{
			bar(m(0), 50), // covered: must stay (conflict)
			bar(m(2), 2),  // identical to the stored bar: no change
			bar(m(3), 70), // differs: replaced
			bar(m(6), 80), // new: added, not counted as replaced
			bar(m(9), 90), // new, at the end of the range
		}
		// Minute 1 (covered) has no exchange bar: kept. Minutes 4 and 5 have
		// none: deleted.
		replaced, conflicts, err := s.ReplaceMinutes(ctx, figi, exchange, []tvbridge.Range{{From: m(0), To: m(10)}})
		if err != nil {
			t.Fatal(err)
		}
		if replaced != 3 || conflicts != 2 {
			t.Fatalf("replaced %d, conflicts %d; want 3 (m3 overwritten, m4 and m5 deleted) and 2 (m0, m1 covered)", replaced, conflicts)
		}
		want := []tvbridge.Bar{bar(m(0), 0), bar(m(1), 1), bar(m(2), 2), bar(m(3), 70), bar(m(6), 80), bar(m(9), 90)}
		equalBars(t, mustMinutes(t, s, figi, m(0), m(20)), want)
		cov, err := s.Covered(ctx, figi, m(0), m(20))
		if err != nil {
			t.Fatal(err)
		}
		if len(cov) != 1 || !cov[0].From.Equal(m(0)) || !cov[0].To.Equal(m(10)) {
			t.Fatalf("coverage %v, want [m0, m10)", cov)
		}
		// Now covered: a second replace changes nothing.
		replaced, conflicts, err = s.ReplaceMinutes(ctx, figi, nil, []tvbridge.Range{{From: m(0), To: m(10)}})
		if err != nil || replaced != 0 || conflicts != 6 {
			t.Fatalf("second replace: replaced %d conflicts %d err %v", replaced, conflicts, err)
		}
		if n := len(mustMinutes(t, s, figi, m(0), m(20))); n != 6 {
			t.Fatalf("%d bars after replacing covered minutes with nothing, want 6", n)
		}
		// A replace lowers a known watermark, like PutMinutes.
		if err := s.SetFirstBar(ctx, figi, m(0)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ReplaceMinutes(ctx, figi, []tvbridge.Bar{bar(m(-5), 5)}, []tvbridge.Range{{From: m(-5), To: m(-4)}}); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.FirstBar(ctx, figi); err != nil || !ok || !got.Equal(m(-5)) {
			t.Fatalf("FirstBar = %v %v %v, want m(-5)", got, ok, err)
		}
	})
}

func TestReplaceMinutesRejectsBarsOutsideTheRanges(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s := im.store(t)
		_, _, err := s.ReplaceMinutes(ctx, "F1", []tvbridge.Bar{bar(t10.Add(time.Hour), 1)},
			[]tvbridge.Range{{From: t10, To: t10.Add(time.Minute)}})
		if !errors.Is(err, im.invalid) {
			t.Fatalf("err %v, want ErrInvalid", err)
		}
		if got := mustMinutes(t, s, "F1", t10, t10.Add(2*time.Hour)); len(got) != 0 {
			t.Fatalf("stored %v", got)
		}
	})
}

func TestCatalogueSurvivesReopen(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s, reopen := im.open(t)
		if _, _, ok, err := s.Catalogue(ctx); ok || err != nil {
			t.Fatalf("empty store: ok %v, err %v", ok, err)
		}
		insts := []tvbridge.Instrument{
			{FIGI: "F1", Ticker: "SBER", Name: "Сбербанк", Type: tvbridge.Stock, Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01,
				Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "0950-1850:23456",
				UID: "u-1", ClassCode: "TQBR", FirstMinute: time.Date(2018, 3, 7, 7, 0, 0, 0, time.UTC)},
			{FIGI: "F2", Ticker: "AAPL", Name: "nul\x00 and \"quotes\"", Type: tvbridge.Stock, Currency: "USD", Lot: 1, MinPriceIncrement: 0.01},
		}
		loaded := time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC) // nanoseconds survive
		if err := s.PutCatalogue(ctx, insts[:1], loaded.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCatalogue(ctx, insts, loaded); err != nil { // replaces
			t.Fatal(err)
		}
		s = reopen()
		got, at, ok, err := s.Catalogue(ctx)
		if err != nil || !ok || !at.Equal(loaded) || !reflect.DeepEqual(got, insts) {
			t.Fatalf("catalogue %+v at %v, ok %v, err %v", got, at, ok, err)
		}
	})
}

func TestFetchedRangesSurviveReopen(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s, reopen := im.open(t)
		r := tvbridge.Range{From: t10, To: t10.Add(5 * time.Minute)}
		if _, err := s.PutFetched(ctx, "F1", minutes(t10, 3, 0), r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutFetched(ctx, "F1", nil, tvbridge.Range{From: r.To, To: r.To.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutFetched(ctx, "F1", minutes(t10.Add(time.Hour), 1, 0), r); err == nil {
			t.Fatal("a bar outside the fetched range was accepted")
		}
		if n, err := s.PutFetched(ctx, "F1", minutes(t10, 1, 5), r); err != nil || n != 1 {
			t.Fatalf("a different bar for a fetched minute: %d conflicts, %v; want 1", n, err)
		}
		s = reopen()
		got, err := s.Fetched(ctx, "F1", t10.Add(-time.Hour), t10.Add(time.Hour))
		if err != nil || len(got) != 1 || !got[0].From.Equal(t10) || !got[0].To.Equal(t10.Add(6*time.Minute)) {
			t.Fatalf("fetched %v, %v", got, err)
		}
		if cov, _ := s.Covered(ctx, "F1", t10, t10.Add(time.Hour)); len(cov) != 0 {
			t.Fatalf("fetched minutes counted as covered: %v", cov)
		}
		equalBars(t, mustMinutes(t, s, "F1", t10, t10.Add(time.Hour)), minutes(t10, 3, 0))
	})
}

func TestSymbolNamesSurviveReopen(t *testing.T) {
	both(t, func(t *testing.T, im impl) {
		s, reopen := im.open(t)
		if got, err := s.SymbolNames(ctx); err != nil || len(got) != 0 {
			t.Fatalf("new store: %v %v", got, err)
		}
		want := map[string]string{"BBG1": "SBER", "BBG2": "MOEX_GAZP"}
		if err := s.PutSymbolNames(ctx, want); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSymbolNames(ctx, map[string]string{"BBG3": "YNDX", "BBG2": "GAZP"}); err != nil {
			t.Fatal(err)
		}
		want["BBG3"], want["BBG2"] = "YNDX", "GAZP"
		s = reopen()
		got, err := s.SymbolNames(ctx)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("after reopen: %v %v, want %v", got, err, want)
		}
	})
}
