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
	"tvbridge/tinkoff/stream"
)

func newExchangeCfg(t testing.TB, start time.Time, cfg sim.Config) *exchange {
	clk := clock.NewFake(start)
	if cfg.Market == nil {
		// 40 instruments: MOEX, currencies, a US stock, a bond, an ETF,
		// 24x7 and one with a break in trading, then MOEX stocks.
		cfg.Market = market.New(market.Config{Seed: 11, Instruments: 40})
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
	if compared < 400 || mismatched != 0 {
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
	if cmp < 400 || differ != 0 || holes != 0 || extra != 0 {
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

// historyAgainstFinals compares /history with the exchange minute by minute
// over [from, to), using the simulator's record of what its stream carried.
// It returns the minutes whose final state the stream carried yet differ
// (must be none), the minutes that differ without it, and the holes.
func historyAgainstFinals(t *testing.T, ex *exchange, b *bridge, from, to time.Time) (carriedDiffer, otherDiffer, holes int) {
	t.Helper()
	for _, sym := range b.catalog.Symbols() {
		figi := sym.Instrument.FIGI
		h := getHistory(t, b.api.URL, sym.Ticker, "1", from.Unix(), to.Unix()-1)
		got := map[int64]tvbridge.Bar{}
		for i, ts := range h.T {
			got[ts] = tvbridge.Bar{Time: time.Unix(ts, 0).UTC(), Open: h.O[i], High: h.H[i], Low: h.L[i], Close: h.C[i], Volume: h.V[i]}
		}
		for _, c := range ex.m.Candles(figi, tvbridge.Interval1Min, from, to, ex.clk.Now()) {
			g, ok := got[c.Time.Unix()]
			if !ok {
				holes++
				t.Errorf("hole: %s %s", sym.Ticker, c.Time.Format("15:04"))
				continue
			}
			if g.Open == c.Open && g.High == c.High && g.Low == c.Low && g.Close == c.Close && g.Volume == c.Volume {
				continue
			}
			rec, ok := ex.srv.Final(figi, tvbridge.Interval1Min, c.Time)
			if ok && rec.Carried {
				carriedDiffer++
				t.Errorf("%s %s: the stream carried the final state (%s), history %v, exchange %v",
					sym.Ticker, c.Time.Format("15:04"), rec.Fate, g, c)
				continue
			}
			otherDiffer++
		}
	}
	return carriedDiffer, otherDiffer, holes
}

// TestLateAndLostFinals: an upstream that throttles candle updates to one
// per 5 s, sends each minute's final state 2 s after the minute (before any
// update of the next), loses one final in seven, repeats updates and
// re-sends stale ones, and drops a connection every 50 s (20 s into a
// minute, away from the turn). Wherever the stream carried a minute's final
// state, /history equals the exchange's candle; the minutes whose final was
// lost are counted by the audit; stream and history agree throughout.
func TestLateAndLostFinals(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 20 minutes of trading")
	}
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchangeCfg(t, start, sim.Config{CandleThrottle: 5 * time.Second, RecordFinals: true})
	f := ex.srv.Faults()
	f.LateFinals(2 * time.Second)
	f.LoseFinals(7)
	f.Duplicate(true)
	f.Reorder(true)
	f.StaleAfterFinal(true)
	b := startBridgeOpts(t, ex, t.TempDir(), 3*time.Hour, bridgeOptions{audit: time.Minute})
	defer b.stop(t)
	c := connect(t, b.api.URL)
	book := newBarBook()
	end := start.Add(16 * time.Minute)
	run(t, ex, b, c, book, 250*time.Millisecond, start.Add(20*time.Second))
	for ex.clk.Now().Before(end) {
		f.DropConnections(1)
		run(t, ex, b, c, book, 250*time.Millisecond, ex.clk.Now().Add(time.Minute))
	}
	run(t, ex, b, c, book, 250*time.Millisecond, end.Add(4*time.Minute))
	waitAudit(t, b, end)

	compared, mismatched := book.compare(t, b.api.URL)
	t.Logf("stream vs history: %d minutes compared, %d mismatched", compared, mismatched)
	if compared < 400 || mismatched != 0 {
		t.Fatalf("stream vs history: %d compared, %d mismatched", compared, mismatched)
	}
	carried, other, holes := historyAgainstFinals(t, ex, b, start.Add(time.Minute), end)
	p := b.svc.Progress()
	st := ex.srv.Stats().Faults
	t.Logf("history vs exchange: %d differ with the final carried, %d without, %d holes; audit: %d checked, %d differ, %d with the final streamed; sim: %d late finals, %d lost",
		carried, other, holes, p.AuditedMinutes.Load(), p.ExchangeDiffers.Load(), p.ExchangeDiffersFinal.Load(), st.LateFinals, st.LostFinals)
	if carried != 0 || holes != 0 {
		t.Fatalf("%d minutes differ although the stream carried their final state, %d holes", carried, holes)
	}
	if other == 0 || st.LateFinals == 0 {
		t.Fatal("the faults did not bite: no lost final made a difference, or no final was late")
	}
	if p.ExchangeDiffers.Load() < int64(other) || p.ExchangeDiffersFinal.Load() != 0 {
		t.Fatalf("the audit counted %d differing minutes (%d with the final), history has %d", p.ExchangeDiffers.Load(), p.ExchangeDiffersFinal.Load(), other)
	}
}

// checkNoHoles fails for every closed minute (by the bridge's grace) in
// [from, now) that the exchange has and /history lacks.
func checkNoHoles(t *testing.T, ex *exchange, b *bridge, from time.Time) int {
	t.Helper()
	to := ex.clk.Now().Add(-3 * time.Second).Truncate(time.Minute)
	holes := 0
	for _, sym := range b.catalog.Symbols() {
		h := getHistory(t, b.api.URL, sym.Ticker, "1", from.Unix(), to.Unix()-1)
		got := map[int64]bool{}
		for _, ts := range h.T {
			got[ts] = true
		}
		for _, c := range ex.m.Candles(sym.Instrument.FIGI, tvbridge.Interval1Min, from, to, ex.clk.Now()) {
			if !got[c.Time.Unix()] {
				holes++
				if holes <= 10 {
					t.Errorf("at %s: %s %s missing from /history", ex.clk.Now().Format("15:04:05"), sym.Ticker, c.Time.Format("15:04"))
				}
			}
		}
	}
	return holes
}

// TestConnectionCapBelowConfigured: the upstream accepts 2 stream
// connections where the bridge is configured for 6 of 10 instruments each,
// so that 20 of the 40 instruments are assigned to connections it refuses.
// The pool learns the cap and moves those instruments onto the two
// connections it has; meanwhile and afterwards no minute the exchange has is
// ever missing from /history, and every instrument in session gets quotes.
func TestConnectionCapBelowConfigured(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 10 minutes of trading")
	}
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchangeCfg(t, start, sim.Config{})
	ex.srv.Faults().ConnectionCap(2)
	b := startBridgeOpts(t, ex, t.TempDir(), 3*time.Hour, bridgeOptions{stream: stream.Config{MaxPerConnection: 10}})
	defer b.stop(t)
	c := connect(t, b.api.URL)
	book := newBarBook()
	for i := 1; i <= 10; i++ {
		run(t, ex, b, c, book, 250*time.Millisecond, start.Add(time.Duration(i)*time.Minute+10*time.Second))
		if n := checkNoHoles(t, ex, b, start.Add(-30*time.Minute)); n > 0 {
			t.Fatalf("%d holes at %s", n, ex.clk.Now().Format("15:04:05"))
		}
	}
	h := b.svc.Health()
	t.Logf("health %v; pool cap %d, %d instruments moved", h, b.v1.Pool().Stats().ConnectionCap, b.v1.Pool().Stats().Moved)
	// The pool learned the cap and moved the refused connections'
	// instruments onto the two it has.
	if h["instruments_streaming"] != 40 {
		t.Errorf("%v of 40 instruments streaming after the re-shard", h["instruments_streaming"])
	}
	for _, sym := range b.catalog.Symbols() {
		if sym.Schedule != nil && sym.Schedule.InSession(ex.clk.Now()) && book.quotes[sym.Ticker] == 0 {
			t.Errorf("%s is in session but got no quote in 10 minutes", sym.Ticker)
		}
	}
}

// TestSilentStall: the upstream keeps every stream connection open and
// answers pings but sends nothing for 3 minutes. The silence is noticed,
// its minutes are served from REST as they close, and afterwards no minute
// the exchange has is missing; only minutes whose final state the silence
// swallowed may differ.
func TestSilentStall(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 12 minutes of trading")
	}
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchangeCfg(t, start, sim.Config{RecordFinals: true})
	b := startBridgeOpts(t, ex, t.TempDir(), 3*time.Hour, bridgeOptions{audit: time.Minute})
	defer b.stop(t)
	c := connect(t, b.api.URL)
	book := newBarBook()
	run(t, ex, b, c, book, 250*time.Millisecond, start.Add(5*time.Minute+30*time.Second))
	ex.srv.Faults().Silence(true)
	silenced := ex.clk.Now()
	for i := 1; i <= 6; i++ {
		run(t, ex, b, c, book, 250*time.Millisecond, start.Add(5*time.Minute+30*time.Second+time.Duration(i)*30*time.Second))
		if n := checkNoHoles(t, ex, b, start.Add(-30*time.Minute)); n > 0 {
			t.Fatalf("%d holes during the silence, at %s; health %v", n, ex.clk.Now().Format("15:04:05"), b.svc.Health())
		}
	}
	ex.srv.Faults().Silence(false)
	// The stream carried nothing in these minutes: /history has REST's bars.
	book.skip = tvbridge.Range{From: silenced.Truncate(time.Minute), To: ex.clk.Now().Truncate(time.Minute).Add(time.Minute)}
	end := start.Add(12 * time.Minute)
	run(t, ex, b, c, book, 250*time.Millisecond, end.Add(4*time.Minute))
	waitAudit(t, b, end)
	if n := b.svc.Progress().Silences.Load(); n == 0 {
		t.Fatal("the silence was not noticed")
	}
	carried, other, holes := historyAgainstFinals(t, ex, b, start.Add(time.Minute), end)
	t.Logf("after the silence: %d differ with the final carried, %d without, %d holes; silences %d",
		carried, other, holes, b.svc.Progress().Silences.Load())
	if carried != 0 || holes != 0 {
		t.Fatalf("%d minutes differ although the stream carried their final state, %d holes", carried, holes)
	}
	compared, mismatched := book.compare(t, b.api.URL)
	t.Logf("stream vs history outside the silence: %d compared, %d mismatched", compared, mismatched)
	if mismatched != 0 {
		t.Fatalf("stream vs history: %d of %d mismatched", mismatched, compared)
	}
}
