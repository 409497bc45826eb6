package integration

import (
	"net/http/httptest"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
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
				if differ <= 20 {
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

func TestExperimentHistoryVsExchange(t *testing.T) {
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchangeCfg(t, start, sim.Config{CandleThrottle: 5 * time.Second})
	ex.srv.Faults().Reorder(true)
	ex.srv.Faults().Duplicate(true)
	b := startBridge(t, ex, t.TempDir(), 3*time.Hour)
	defer b.stop(t)
	c := connect(t, b.api.URL)
	book := newBarBook()
	end := start.Add(20 * time.Minute)
	for ex.clk.Now().Before(end) {
		run(t, ex, b, c, book, 250*time.Millisecond, ex.clk.Now().Add(50*time.Second))
		ex.srv.Faults().DropConnections(1)
	}
	run(t, ex, b, c, book, 250*time.Millisecond, end.Add(4*time.Minute))
	compared, mismatched := book.compare(t, b.api.URL)
	t.Logf("stream vs history: %d compared, %d mismatched", compared, mismatched)
	cmp, differ, holes, extra := historyVsExchange(t, ex, b, start.Add(time.Minute), end)
	t.Logf("history vs exchange: %d compared, %d differ, %d holes, %d extra; engine %+v", cmp, differ, holes, extra, b.svc.Engine().Stats())
}
