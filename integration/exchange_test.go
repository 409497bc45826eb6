package integration

import (
	"net/http/httptest"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/ingest"
	"tvbridge/sim"
	"tvbridge/sim/market"
)

func newExchangeCfg(t testing.TB, start time.Time, cfg sim.Config) *exchange {
	clk := clock.NewFake(start)
	if cfg.Market == nil {
		cfg.Market = market.New(market.Config{Seed: 11})
	}
	cfg.Clock, cfg.Logger = clk, quietLog()
	srv := sim.New(cfg)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &exchange{clk: clk, m: cfg.Market, srv: srv, http: hs}
}

// historyVsExchange compares /history with the simulator's candles for
// every symbol, minute by minute over [from, to).
func historyVsExchange(t *testing.T, ex *exchange, b *bridge, from, to time.Time) (compared, differ, holes, extra int) {
	t.Helper()
	m := ex.m
	for _, sym := range b.catalog.Symbols() {
		figi := sym.Instrument.FIGI
		want := map[int64]tvbridge.Candle{}
		for _, c := range m.Candles(figi, tvbridge.Interval1Min, from, to, ex.clk.Now()) {
			want[c.Time.Unix()] = c
		}
		h := getHistory(t, b.api.URL, sym.Ticker, "1", from.Unix(), to.Unix()-1)
		got := map[int64]tvbridge.Bar{}
		for i, ts := range h.T {
			got[ts] = tvbridge.Bar{Time: time.Unix(ts, 0), Open: h.O[i], High: h.H[i], Low: h.L[i], Close: h.C[i], Volume: h.V[i]}
		}
		for ts, c := range want {
			compared++
			g, ok := got[ts]
			if !ok {
				holes++
				if holes <= 5 {
					t.Logf("hole %s %s", sym.Ticker, time.Unix(ts, 0).UTC().Format("15:04"))
				}
				continue
			}
			if g.Open != c.Open || g.High != c.High || g.Low != c.Low || g.Close != c.Close || g.Volume != c.Volume {
				differ++
				if differ <= 5 {
					t.Logf("differ %s %s: history %v exchange %+v", sym.Ticker, time.Unix(ts, 0).UTC().Format("15:04:05"), g, c)
				}
			}
		}
		for ts := range got {
			if _, ok := want[ts]; !ok {
				extra++
			}
		}
	}
	return
}

// exchangeRun streams 20 minutes of simulated trading against an upstream
// that throttles candle updates as the real service does (one per 5 s, so a
// minute's last trades often reach the stream only in its final state, sent
// as the next minute begins), repeats and reorders updates, and drops a
// stream connection every 50 s (every fifth drop falls on the turn of a
// minute, taking that minute's final state with it). It returns what
// TradingView saw and the bridge, stopped no earlier than every streamed
// minute could be audited.
func exchangeRun(t *testing.T, o bridgeOptions) (*exchange, *bridge, *barBook, time.Time, time.Time) {
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchangeCfg(t, start, sim.Config{CandleThrottle: 5 * time.Second})
	ex.srv.Faults().Reorder(true)
	ex.srv.Faults().Duplicate(true)
	o.audit = time.Minute
	b := startBridgeOpts(t, ex, t.TempDir(), 3*time.Hour, o)
	c := connect(t, b.api.URL)
	book := newBarBook()
	end := start.Add(20 * time.Minute)
	for ex.clk.Now().Before(end) {
		run(t, ex, b, c, book, 250*time.Millisecond, ex.clk.Now().Add(50*time.Second))
		ex.srv.Faults().DropConnections(1)
	}
	// REST is final 2 minutes after a minute ends; the audit runs every minute.
	run(t, ex, b, c, book, 250*time.Millisecond, end.Add(4*time.Minute))
	waitAudit(t, b, end)
	return ex, b, book, start.Add(time.Minute), end
}

// waitAudit waits until the audit has compared every minute before end and
// every instrument's minutes before end are immutable (covered).
func waitAudit(t *testing.T, b *bridge, end time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !b.svc.AuditedUntil().After(end.Add(-time.Nanosecond)) || !allClosed(b, end) {
		if time.Now().After(deadline) {
			t.Fatalf("audit reached only %v, want %v", b.svc.AuditedUntil(), end)
		}
		time.Sleep(5 * time.Millisecond) // polling progress; the deadline is only a guard
	}
}

func allClosed(b *bridge, end time.Time) bool {
	for _, sym := range b.catalog.Symbols() {
		if b.svc.ClosedBefore(sym.Instrument.FIGI).Before(end) {
			return false
		}
	}
	return true
}

// TestHistoryFollowsStream: by default /history keeps what was streamed, so
// stream and history never differ; where the stream missed a minute's final
// state the exchange's candle differs, and the audit counts exactly those
// minutes, none of which had its final state streamed.
func TestHistoryFollowsStream(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 25 minutes of trading")
	}
	ex, b, book, from, to := exchangeRun(t, bridgeOptions{})
	defer b.stop(t)
	compared, mismatched := book.compare(t, b.api.URL)
	t.Logf("stream vs history: %d minutes compared, %d mismatched", compared, mismatched)
	if compared < 1000 || mismatched != 0 {
		t.Fatalf("stream vs history: %d compared, %d mismatched", compared, mismatched)
	}
	cmp, differ, holes, extra := historyVsExchange(t, ex, b, from, to)
	p := b.svc.Progress()
	t.Logf("history vs exchange: %d compared, %d differ, %d holes, %d extra; audit: %d checked, %d differ, %d with the final streamed",
		cmp, differ, holes, extra, p.AuditedMinutes.Load(), p.ExchangeDiffers.Load(), p.ExchangeDiffersFinal.Load())
	if holes != 0 || extra != 0 {
		t.Fatalf("%d holes, %d extra bars", holes, extra)
	}
	if got := p.ExchangeDiffers.Load(); got < int64(differ) {
		t.Fatalf("the audit counted %d minutes differing from the exchange; history has %d", got, differ)
	}
	if n := p.ExchangeDiffersFinal.Load(); n != 0 {
		t.Fatalf("%d minutes differ from the exchange although their final state was streamed", n)
	}
}

// TestHistoryFollowsExchange: following the exchange, /history equals the
// exchange's candles once audited; the minutes replaced are exactly the
// stream-vs-history mismatches TradingView would count.
func TestHistoryFollowsExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 25 minutes of trading")
	}
	ex, b, book, from, to := exchangeRun(t, bridgeOptions{follows: ingest.FollowExchange})
	defer b.stop(t)
	cmp, differ, holes, extra := historyVsExchange(t, ex, b, from, to)
	p := b.svc.Progress()
	t.Logf("history vs exchange: %d compared, %d differ, %d holes, %d extra; replaced %d", cmp, differ, holes, extra, p.ExchangeReplaced.Load())
	if cmp < 1000 || differ != 0 || holes != 0 || extra != 0 {
		t.Fatalf("history vs exchange: %d compared, %d differ, %d holes, %d extra", cmp, differ, holes, extra)
	}
	compared, mismatched := book.compareWith(t, b.api.URL, false)
	t.Logf("stream vs history: %d minutes compared, %d mismatched", compared, mismatched)
	if int64(mismatched) > p.ExchangeReplaced.Load() {
		t.Fatalf("%d stream-vs-history mismatches, but only %d minutes replaced", mismatched, p.ExchangeReplaced.Load())
	}
	if n := p.ExchangeDiffersFinal.Load(); n != 0 {
		t.Fatalf("%d minutes differ from the exchange although their final state was streamed", n)
	}
}
