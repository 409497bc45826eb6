package bolt

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

var (
	ctx  = context.Background()
	day0 = time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC) // a Monday
	t10  = day0.Add(10 * time.Hour)                     // session open, 10:00 UTC
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "nested", "bars.db") // Open must create the dirs
	s, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// bar returns a valid bar at t whose values depend on seed, so different
// seeds give different bars.
func bar(t time.Time, seed float64) tvbridge.Bar {
	return tvbridge.Bar{Time: t, Open: 100 + seed, High: 101.5 + seed, Low: 99.25 + seed, Close: 100.75 + seed, Volume: 10 + seed}
}

func minutes(start time.Time, n int, seed float64) []tvbridge.Bar {
	bars := make([]tvbridge.Bar, n)
	for i := range bars {
		bars[i] = bar(start.Add(time.Duration(i)*time.Minute), seed+float64(i))
	}
	return bars
}

func mustMinutes(t *testing.T, s *Store, figi string, from, to time.Time) []tvbridge.Bar {
	t.Helper()
	got, err := s.Minutes(ctx, figi, from, to)
	if err != nil {
		t.Fatalf("Minutes: %v", err)
	}
	return got
}

func equalBars(t *testing.T, got, want []tvbridge.Bar) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d bars, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		if !got[i].Time.Equal(want[i].Time) || got[i].Time.Location() != time.UTC {
			t.Fatalf("bar %d: time %v, want %v in UTC", i, got[i].Time, want[i].Time)
		}
		g, w := got[i], want[i]
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Fatalf("bar %d at %v: got %+v, want %+v", i, want[i].Time, g, w)
		}
	}
}

func TestMinutesRoundTripAndRange(t *testing.T) {
	s, _ := openTest(t)
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
}

func TestClosedBarsNeverChange(t *testing.T) {
	s, _ := openTest(t)
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
}

func TestInvalidInputWritesNothing(t *testing.T) {
	s, _ := openTest(t)
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
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			t.Log(err) // the message is for humans; show it
			if got := mustMinutes(t, s, "GOOD", day0, day0.AddDate(0, 0, 1)); len(got) != 0 {
				t.Fatalf("a failed batch wrote %v", got)
			}
		})
	}
	if _, err := s.PutDaily(ctx, "F", []tvbridge.Bar{mod(func(b *tvbridge.Bar) { b.Time = day0.Add(time.Hour) })}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("daily bar not at 00:00 UTC: err = %v, want ErrInvalid", err)
	}
}

func TestCancelledContextWritesNothing(t *testing.T) {
	s, _ := openTest(t)
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
}

func TestBatchManyInstruments(t *testing.T) {
	s, _ := openTest(t)
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
}

func TestDaily(t *testing.T) {
	s, _ := openTest(t)
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
}

func TestFirstBarWatermark(t *testing.T) {
	s, _ := openTest(t)
	if _, ok, err := s.FirstBar(ctx, "F"); ok || err != nil {
		t.Fatalf("FirstBar before any set: ok=%v err=%v", ok, err)
	}
	if err := s.SetFirstBar(ctx, "F", t10); err != nil {
		t.Fatal(err)
	}
	assertFirst := func(want time.Time) {
		t.Helper()
		got, ok, err := s.FirstBar(ctx, "F")
		if err != nil || !ok || !got.Equal(want) {
			t.Fatalf("FirstBar = %v, %v, %v; want %v", got, ok, err, want)
		}
	}
	assertFirst(t10)
	if _, err := s.PutMinutes(ctx, "F", minutes(t10.Add(time.Hour), 2, 0), nil); err != nil {
		t.Fatal(err)
	}
	assertFirst(t10) // a later bar leaves it alone
	if err := s.SetFirstBar(ctx, "F", t10.Add(2*time.Hour)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("watermark after a stored bar: err = %v, want ErrInvalid", err)
	}
	if err := s.SetFirstBar(ctx, "F", t10.Add(30*time.Second)); !errors.Is(err, ErrInvalid) {
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
}

func TestReopenKeepsIdenticalData(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bars.db")
	s, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	want := minutes(t10, 20, 0.1) // non-round values: bit patterns must survive
	cov := []tvbridge.Range{{From: t10, To: t10.Add(20 * time.Minute)}}
	if _, err := s.PutMinutes(ctx, "F", want, cov); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFirstBar(ctx, "F", day0); err != nil {
		t.Fatal(err)
	}
	// A second process (here: a second handle) cannot take the file lock.
	if _, err := Open(path, Options{Timeout: 20 * time.Millisecond, Logger: quietLogger()}); err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	equalBars(t, mustMinutes(t, s, "F", day0, day0.AddDate(0, 0, 1)), want)
	if got, err := s.Covered(ctx, "F", day0, day0.AddDate(0, 0, 1)); err != nil || !slices.Equal(got, cov) {
		t.Fatalf("Covered after reopen = %v, %v", got, err)
	}
	if got, ok, err := s.FirstBar(ctx, "F"); err != nil || !ok || !got.Equal(day0) {
		t.Fatalf("FirstBar after reopen = %v, %v, %v", got, ok, err)
	}
}

func TestOpenRejectsOtherSchema(t *testing.T) {
	s, path := openTest(t)
	err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("99")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(path, Options{Logger: quietLogger()}); err == nil {
		s2.Close()
		t.Fatal("Open accepted schema 99")
	}
}

func TestCorruptValueIsAnError(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.PutMinutes(ctx, "F", minutes(t10, 2, 0), nil); err != nil {
		t.Fatal(err)
	}
	corrupt := func(v []byte) {
		t.Helper()
		err := s.db.Update(func(tx *bbolt.Tx) error {
			return subBucket(tx, "F", bucketMinutes).Put(encodeKey(minuteUnit.index(t10)), v)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Minutes(ctx, "F", day0, day0.AddDate(0, 0, 1)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Minutes over corrupt value %x: err = %v, want ErrCorrupt", v, err)
		}
	}
	corrupt([]byte("short"))
	nan := make([]byte, barSize)
	encodeBar(nan, bar(t10, 0))
	copy(nan, []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1}) // open = NaN
	corrupt(nan)
}

// TestConcurrentReadersAndWriter is for the race detector: readers must see
// whole minutes while a writer appends.
func TestConcurrentReadersAndWriter(t *testing.T) {
	s, _ := openTest(t)
	const n = 60
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{})
	stop := sync.OnceFunc(func() { close(done) })
	defer stop() // also on t.Fatal, before wg.Wait
	for range 3 {
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
}
