package bolt

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tvbridge"
)

func openBench(b *testing.B, noSync bool) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bars.db"), Options{NoSync: noSync, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkPutMinutesBatch1000 is one minute close in the middle of a
// trading day: one bar and one coverage minute for each of 1,000 instruments
// that already hold four hours of bars, in one transaction with one fsync.
func BenchmarkPutMinutesBatch1000(b *testing.B) {
	const instruments, prefill = 1000, 240
	s := openBench(b, false)
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
	bars, cov := batch(t10, prefill)
	// Building the maps is the caller's work, not the store's: keep it
	// outside the timer. The store's validation and encoding are inside.
	if _, err := s.PutMinutesBatch(ctx, bars, cov); err != nil {
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
}

// BenchmarkMinutesDay reads one full trading day, 800 one-minute bars, out of
// a store that also holds the days around it.
func BenchmarkMinutesDay(b *testing.B) {
	s := openBench(b, true)
	for d := range 5 {
		if _, err := s.PutMinutes(ctx, "F", minutes(t10.AddDate(0, 0, d), 800, float64(d)), nil); err != nil {
			b.Fatal(err)
		}
	}
	from, to := day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 3)
	for b.Loop() {
		bars, err := s.Minutes(ctx, "F", from, to)
		if err != nil || len(bars) != 800 {
			b.Fatalf("got %d bars, %v", len(bars), err)
		}
	}
}

// BenchmarkDailyYear reads a year of daily bars out of ten years.
func BenchmarkDailyYear(b *testing.B) {
	s := openBench(b, true)
	start := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	var bars []tvbridge.Bar
	for d := start; d.Year() < 2025; d = d.AddDate(0, 0, 1) {
		if d.Weekday() != time.Saturday && d.Weekday() != time.Sunday {
			bars = append(bars, bar(d, float64(len(bars))))
		}
	}
	if _, err := s.PutDaily(ctx, "F", bars); err != nil {
		b.Fatal(err)
	}
	from, to := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		got, err := s.Daily(ctx, "F", from, to)
		if err != nil || len(got) != 262 {
			b.Fatalf("got %d bars, %v", len(got), err)
		}
	}
}
