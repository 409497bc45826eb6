package postgres

import (
	"fmt"
	"testing"
	"time"

	"tvbridge"
)

// The benchmarks mirror bolt's (bolt/bench_test.go) so the numbers compare:
//
//	go test -run '^$' -bench . -benchtime 3s ./postgres/ ./bolt/
//
// Every write is a committed transaction with PostgreSQL's default
// synchronous_commit=on (a WAL flush per commit), like bolt's fsync.

// BenchmarkPutMinutes writes closed minutes:
//
//   - 1000x1: one minute close in the middle of a trading day, one bar and
//     one coverage minute for each of 1,000 instruments that already hold
//     four hours of bars, in one transaction (the ingester's flush);
//   - 1x1440: a day of one instrument with its coverage, in one
//     transaction (a backfill).
func BenchmarkPutMinutes(b *testing.B) {
	b.Run("1000x1", func(b *testing.B) {
		const instruments, prefill = 1000, 240
		db, _ := openTestDB(b)
		s := db.Bars(nil)
		figis := make([]string, instruments)
		for i := range figis {
			figis[i] = fmt.Sprintf("BBG%09d", i)
		}
		batch := func(from time.Time, n int) (map[string][]tvbridge.Bar, map[string][]tvbridge.Range) {
			bars := make(map[string][]tvbridge.Bar, instruments)
			cov := make(map[string][]tvbridge.Range, instruments)
			for i, figi := range figis {
				bars[figi] = minutes(from, n, float64(i))
				cov[figi] = []tvbridge.Range{{From: from, To: from.Add(time.Duration(n) * time.Minute)}}
			}
			return bars, cov
		}
		for h := range prefill / 60 {
			bars, cov := batch(t10.Add(time.Duration(h)*time.Hour), 60)
			if _, err := s.PutMinutesBatch(ctx, bars, cov); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := db.pool.Exec(ctx, `VACUUM ANALYZE tvbridge_minutes, tvbridge_coverage, tvbridge_instruments`); err != nil {
			b.Fatal(err)
		}
		next := t10.Add(prefill * time.Minute)
		for b.Loop() {
			b.StopTimer()
			bars, cov := batch(next, 1)
			next = next.Add(time.Minute)
			b.StartTimer()
			if _, err := s.PutMinutesBatch(ctx, bars, cov); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/instruments, "µs/bar")
	})
	b.Run("1x1440", func(b *testing.B) {
		db, _ := openTestDB(b)
		s := db.Bars(nil)
		day := day0
		for b.Loop() {
			b.StopTimer()
			bars := minutes(day, 1440, 0)
			cov := []tvbridge.Range{{From: day, To: day.AddDate(0, 0, 1)}}
			day = day.AddDate(0, 0, 1)
			b.StartTimer()
			if _, err := s.PutMinutes(ctx, "F", bars, cov); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1440, "µs/bar")
	})
}

// BenchmarkMinutesRead reads one full trading day, 800 one-minute bars, of
// one instrument out of a store that also holds the days around it and
// other instruments (bolt's BenchmarkMinutesDay).
func BenchmarkMinutesRead(b *testing.B) {
	db, _ := openTestDB(b)
	s := db.Bars(nil)
	for d := range 5 {
		bars := map[string][]tvbridge.Bar{}
		for _, figi := range []string{"E", "F", "G"} {
			bars[figi] = minutes(t10.AddDate(0, 0, d), 800, float64(d))
		}
		if _, err := s.PutMinutesBatch(ctx, bars, nil); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.pool.Exec(ctx, `VACUUM ANALYZE tvbridge_minutes`); err != nil {
		b.Fatal(err)
	}
	from, to := day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 3)
	for b.Loop() {
		bars, err := s.Minutes(ctx, "F", from, to)
		if err != nil || len(bars) != 800 {
			b.Fatalf("got %d bars, %v", len(bars), err)
		}
	}
}
