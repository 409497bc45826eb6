package integration

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/ingest"
	"tvbridge/sim/market"
	v2sim "tvbridge/sim/v2"
	"tvbridge/tape"
	"tvbridge/tinvest"
)

// BenchmarkV2Backfill365 is issue 11's deep backfill: 365 days of 1-minute
// history for 100 instruments (the simulator's default universe, about
// 100) from T-Invest API v2, through the real client, ingest and bbolt
// store, with the yearly archive (one request per instrument and year,
// GetCandles for the last two days) and, for comparison with
// TVBRIDGE_BENCH_NO_ARCHIVE=1, GetCandles for every day. The simulator's
// rate limits are off, so the time is what the bridge and the simulator
// cost; the service's own limits bound a real backfill further (see
// BENCHMARKS.md: 30 archive requests a minute).
//
//	go test -run '^$' -bench V2Backfill365 -benchtime 1x -count 3 ./integration/
func BenchmarkV2Backfill365(b *testing.B) {
	days := 365
	if v, err := strconv.Atoi(os.Getenv("TVBRIDGE_BENCH_DAYS")); err == nil && v > 0 {
		days = v
	}
	noArchive := os.Getenv("TVBRIDGE_BENCH_NO_ARCHIVE") == "1"
	for range b.N {
		start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
		clk := clock.NewFake(start)
		m := market.New(market.Config{Seed: 11})
		srv := v2sim.New(v2sim.Config{Market: m, Clock: clk, Logger: quietLog(), ArchiveRateLimit: -1})
		hs := httptest.NewServer(srv.Handler())
		log := quietLog()
		up := tinvest.NewUpstream(tinvest.UpstreamConfig{
			REST: tinvest.Config{BaseURL: hs.URL + "/rest/", Token: "t", Clock: clk, Logger: log, TotalPerSecond: 1_000_000,
				Limits: map[string]int{tinvest.BucketMarketData: 1_000_000, tinvest.BucketHistory: 1_000_000, tinvest.BucketInstruments: 1_000_000}},
			Timezones: srv.ScheduleTimezones(),
		})
		ctx, cancel := context.WithCancel(context.Background())
		insts, err := up.Instruments(ctx)
		if err != nil {
			b.Fatal(err)
		}
		catalog, err := api.BuildCatalog(insts, api.CatalogOptions{Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		store, err := bolt.Open(filepath.Join(b.TempDir(), "bars.db"), bolt.Options{Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		var specs []bars.InstrumentSpec
		for _, s := range catalog.Symbols() {
			sched, err := tvbridge.ParseSchedule(s.Instrument.Session, s.Instrument.Timezone)
			if err != nil {
				b.Fatal(err)
			}
			specs = append(specs, bars.InstrumentSpec{Instrument: s.Instrument, Symbol: s.Ticker, Schedule: sched})
		}
		svc, err := ingest.New(ingest.Config{Upstream: up, Store: store, Tape: tape.New(tape.Config{}), Instruments: specs,
			Clock: clk, Logger: log, BackfillDepth: time.Duration(days) * 24 * time.Hour, DailyBars: true, Trades: true,
			NoArchive: noArchive})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		began := time.Now()
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		p := svc.Progress()
		for p.InitialDone.Load() < p.Instruments.Load() || p.Instruments.Load() == 0 {
			time.Sleep(10 * time.Millisecond) // polling progress; nothing waits on it
		}
		took := time.Since(began)
		b.StopTimer()
		st := store.Stats()
		b.ReportMetric(float64(len(specs)), "instruments")
		b.ReportMetric(float64(p.BarsBackfilled.Load()), "bars")
		b.ReportMetric(float64(p.Requests.Load()), "requests")
		b.ReportMetric(float64(p.ArchiveYears.Load()), "archive-years")
		b.ReportMetric(float64(p.BarsBackfilled.Load())/took.Seconds(), "bars/s")
		b.Logf("%d days, %d instruments: %v, %d bars, %d requests (%d archive years), store %d bytes",
			days, len(specs), took.Round(time.Millisecond), p.BarsBackfilled.Load(), p.Requests.Load(), p.ArchiveYears.Load(), st.SizeBytes)
		cancel()
		<-done
		store.Close()
		hs.Close()
		srv.Close()
	}
}
