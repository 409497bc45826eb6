package bars

import (
	"slices"
	"sync"
	"testing"
	"time"

	"tvbridge"
)

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func TestTradePrices(t *testing.T) {
	streamed := ohlcv{o: 100, h: 102, l: 99, c: 101, v: 10}
	tests := []struct {
		name string
		s, u ohlcv
		want []float64
	}{
		{"new minute, flat", ohlcv{}, ohlcv{100, 100, 100, 100, 5}, []float64{100}},
		{"new minute, open then close", ohlcv{}, ohlcv{100, 101, 100, 101, 5}, []float64{100, 101}},
		{"new minute, both extremes, nearer low first", ohlcv{}, ohlcv{100, 105, 99, 101, 5}, []float64{100, 99, 105, 101}},
		{"new minute, both extremes, nearer high first", ohlcv{}, ohlcv{100, 101, 95, 100, 5}, []float64{100, 101, 95, 100}},
		{"new minute, close at high goes last", ohlcv{}, ohlcv{100, 105, 95, 105, 5}, []float64{100, 95, 105}},
		{"new minute, close at low goes last", ohlcv{}, ohlcv{100, 105, 95, 95, 5}, []float64{100, 105, 95}},
		{"only close moved", streamed, ohlcv{100, 102, 99, 100.5, 12}, []float64{100.5}},
		{"same close, more volume", streamed, ohlcv{100, 102, 99, 101, 12}, []float64{101}},
		{"new high is close", streamed, ohlcv{100, 103, 99, 103, 12}, []float64{103}},
		{"new high then close", streamed, ohlcv{100, 103, 99, 102.5, 12}, []float64{103, 102.5}},
		{"new low is close", streamed, ohlcv{100, 102, 98, 98, 12}, []float64{98}},
		{"both, close at high", streamed, ohlcv{100, 104, 98, 104, 12}, []float64{98, 104}},
		{"both, close inside", streamed, ohlcv{100, 104, 97, 100, 12}, []float64{104, 97, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out [maxPrices + 1]float64
			n := tradePrices(tc.s, tc.u, &out)
			if got := out[:n]; !slices.Equal(got, tc.want) {
				t.Fatalf("prices %v, want %v", got, tc.want)
			}
			// Applying them gives exactly the candle's prices.
			b := tc.s
			for _, p := range out[:n] {
				b = b.trade(p, 1)
			}
			if !b.pricesEqual(tc.u) {
				t.Fatalf("rebuilt %v, want %v", b, tc.u)
			}
		})
	}
}

func TestNewMinuteStreamsOpenExtremesClose(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.candle(t0.Add(sec(2)), t0, 100, 105, 99, 101, 10)
	trades := h.sink.kind("F1", tvbridge.TickTrade)
	if got, want := prices(trades), []float64{100, 99, 105, 101}; !slices.Equal(got, want) {
		t.Fatalf("prices %v, want %v", got, want)
	}
	if got, want := sizes(trades), []float64{1, 1, 1, 7}; !slices.Equal(got, want) {
		t.Fatalf("sizes %v, want %v", got, want)
	}
	for _, tr := range trades {
		if !tr.Time.Equal(t0.Add(sec(2))) || tr.Symbol != "SF1" || !tr.Received.Equal(t0.Add(sec(2))) {
			t.Fatalf("tick %+v", tr)
		}
	}
	open, ok := h.eng.OpenMinute("F1")
	if !ok || !sameBar(open, bar(t0, 100, 105, 99, 101, 10)) {
		t.Fatalf("open minute %+v %v", open, ok)
	}
}

func TestUpdatesClassified(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	at := func(s int) time.Time { return t0.Add(sec(s)) }
	h.candle(at(1), t0, 100, 101, 100, 101, 10)
	h.candle(at(2), t0, 100, 101, 100, 101, 10) // duplicate
	h.candle(at(3), t0, 100, 100, 100, 100, 4)  // stale: an older snapshot
	h.candle(at(4), t0, 100, 102, 100, 102, 10) // pending: high rose, no volume
	h.candle(at(5), t0, 100, 102, 100, 102, 10) // duplicate of the pending one
	h.candle(at(6), t0, 100, 102, 99, 100, 15)  // covers the pending high
	h.candle(at(7), t0, 100, 103, 99, 100, 12)  // volume fell but high rose: inconsistent
	st := h.eng.Stats()
	want := Stats{Updates: 7, Trades: 2 + 3, Duplicates: 2, Stale: 1, Pending: 1, Inconsistent: 1}
	if st != want {
		t.Fatalf("stats %+v\nwant  %+v", st, want)
	}
	got := rebuild(h.sink.ticks)
	if len(got) != 1 || !sameBar(got[0], bar(t0, 100, 102, 99, 100, 15)) {
		t.Fatalf("rebuilt %+v", got)
	}
	if got, want := prices(h.sink.ticks[2:]), []float64{102, 99, 100}; !slices.Equal(got, want) {
		t.Fatalf("second update prices %v, want %v", got, want)
	}
}

func TestInconsistentUpdateStreamsWhatIsConsistent(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.candle(t0.Add(sec(1)), t0, 100, 102, 99, 101, 10)
	// Open changed and high fell: only the new low and the close can be streamed.
	h.candle(t0.Add(sec(2)), t0, 90, 101, 98, 100, 14)
	open, _ := h.eng.OpenMinute("F1")
	if want := bar(t0, 100, 102, 98, 100, 14); !sameBar(open, want) {
		t.Fatalf("open %+v, want %+v", open, want)
	}
	if st := h.eng.Stats(); st.Inconsistent != 1 {
		t.Fatalf("inconsistent = %d", st.Inconsistent)
	}
	if rb := rebuild(h.sink.ticks); !sameBar(rb[0], open) {
		t.Fatalf("rebuilt %+v != stored %+v", rb[0], open)
	}
}

func TestMinuteRolloverAndCorrections(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	m0, m1 := t0, t0.Add(time.Minute)
	h.candle(m0.Add(sec(10)), m0, 100, 101, 99, 100, 10)
	h.candle(m1.Add(sec(1)), m1, 100, 100, 100, 100, 3) // closes m0
	want0 := bar(m0, 100, 101, 99, 100, 10)
	if got := h.sink.closed["F1"]; len(got) != 1 || !sameBar(got[0], want0) {
		t.Fatalf("closed %+v", got)
	}
	if lc := h.eng.LastClosed("F1"); !lc.Equal(m1) {
		t.Fatalf("LastClosed %v, want %v", lc, m1)
	}
	ticks := len(h.sink.ticks)
	h.candle(m1.Add(sec(2)), m0, 100, 101, 99, 100, 10) // re-send: out of order
	h.candle(m1.Add(sec(3)), m0, 100, 101, 99, 100, 8)  // older snapshot: out of order
	h.candle(m1.Add(sec(4)), m0, 100, 104, 99, 103, 12) // more volume: correction
	h.candle(m1.Add(sec(5)), m0.Add(-time.Minute), 1, 1, 1, 1, 1)
	if len(h.sink.ticks) != ticks || h.sink.calls != 1 {
		t.Fatal("an update for a closed minute emitted something")
	}
	st := h.eng.Stats()
	if st.OutOfOrder != 2 || st.Corrections != 2 || st.MinutesClosed != 1 {
		t.Fatalf("stats %+v", st)
	}
	h.closeAll()
	got := h.sink.closed["F1"]
	if len(got) != 2 || !sameBar(got[0], want0) || !sameBar(got[1], bar(m1, 100, 100, 100, 100, 3)) {
		t.Fatalf("closed %+v", got)
	}
}

func TestLateUpdateStampedAtEndOfMinuteAndGraceCloses(t *testing.T) {
	h := newHarness(t, Config{CloseGrace: 3 * time.Second}, mkSpec("F1", nil))
	h.candle(t0.Add(sec(30)), t0, 100, 100, 100, 100, 1)
	// The final update of the minute arrives 1.5 s after it ended.
	h.candle(t0.Add(61500*time.Millisecond), t0, 100, 102, 100, 102, 2)
	last := h.sink.ticks[len(h.sink.ticks)-1]
	if !last.Time.Equal(t0.Add(sec(59))) {
		t.Fatalf("late trade stamped %v, want end of minute", last.Time)
	}
	h.sweepAt(t0.Add(62999 * time.Millisecond))
	if h.sink.calls != 0 {
		t.Fatal("closed before the grace passed")
	}
	h.sweepAt(t0.Add(sec(63)))
	if h.sink.calls != 1 {
		t.Fatal("not closed when the grace passed")
	}
	// After the grace the minute is closed even without Sweep.
	m1 := t0.Add(time.Minute)
	h.candle(m1.Add(sec(5)), m1, 100, 100, 100, 100, 1)
	h.candle(m1.Add(sec(63)), m1, 100, 101, 100, 101, 2)
	if st := h.eng.Stats(); st.Corrections != 1 || st.MinutesClosed != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNeverStampsInTheFuture(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	m1 := t0.Add(time.Minute)
	h.candle(t0.Add(sec(5)), t0, 100, 100, 100, 100, 1)
	// The upstream's clock is 700 ms ahead: minute m1's update arrives at 59.3 s.
	early := m1.Add(-700 * time.Millisecond)
	h.candle(early, m1, 101, 101, 101, 101, 2)
	h.candle(early.Add(100*time.Millisecond), m1, 101, 102, 101, 102, 3) // newer, also early
	h.candle(early.Add(200*time.Millisecond), m1, 101, 101, 101, 101, 2) // older: stale
	if n := len(h.sink.kind("F1", tvbridge.TickTrade)); n != 1 {
		t.Fatalf("%d trades before the minute began, want only minute 0's", n)
	}
	if h.sink.calls != 1 {
		t.Fatal("the newer minute's update did not close the old one")
	}
	h.sweepAt(m1.Add(200 * time.Millisecond))
	trades := h.sink.kind("F1", tvbridge.TickTrade)[1:]
	if got, want := prices(trades), []float64{101, 102}; !slices.Equal(got, want) {
		t.Fatalf("deferred prices %v, want %v", got, want)
	}
	for i, tr := range trades {
		if !tr.Time.Equal(m1) || !tr.Received.Equal(early.Add(100*time.Millisecond)) {
			t.Fatalf("trade %d: %+v", i, tr)
		}
	}
	if st := h.eng.Stats(); st.Deferred != 1 || st.Stale != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Far ahead of our clock: invalid.
	h.candle(m1.Add(sec(1)), m1.Add(2*time.Minute), 1, 1, 1, 1, 1)
	if st := h.eng.Stats(); st.Invalid != 1 {
		t.Fatalf("invalid = %d", st.Invalid)
	}
}

func TestTickTimeNeverGoesBackwards(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.candle(t0.Add(sec(10)), t0, 100, 100, 100, 100, 1)
	// Receipt times from different connections may be slightly out of order.
	h.clk.Set(t0.Add(sec(11)))
	h.eng.Handle(&tvbridge.CandleEvent{
		EventMeta: tvbridge.EventMeta{Received: t0.Add(sec(9))},
		Candle:    tvbridge.Candle{FIGI: "F1", Interval: tvbridge.Interval1Min, Time: t0, Open: 100, High: 101, Low: 100, Close: 101, Volume: 2},
	})
	ts := h.sink.kind("F1", tvbridge.TickTrade)
	if !ts[1].Time.Equal(t0.Add(sec(10))) {
		t.Fatalf("second trade at %v, want raised to %v", ts[1].Time, t0.Add(sec(10)))
	}
}

func TestIgnoredAndInvalidEvents(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.clk.Set(t0.Add(sec(5)))
	send := func(c tvbridge.Candle) {
		h.eng.Handle(&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: t0.Add(sec(5))}, Candle: c})
	}
	ok := tvbridge.Candle{FIGI: "F1", Interval: tvbridge.Interval1Min, Time: t0, Open: 1, High: 1, Low: 1, Close: 1, Volume: 1}
	five := ok
	five.Interval = tvbridge.Interval5Min
	send(five)
	unknown := ok
	unknown.FIGI = "nope"
	send(unknown)
	for _, mutate := range []func(*tvbridge.Candle){
		func(c *tvbridge.Candle) { c.Volume = -1 },
		func(c *tvbridge.Candle) { c.High = nan() },
		func(c *tvbridge.Candle) { c.Close = inf() },
		func(c *tvbridge.Candle) { c.Time = t0.Add(sec(1)) },
		func(c *tvbridge.Candle) { c.Time = time.Time{} },
	} {
		c := ok
		mutate(&c)
		send(c)
	}
	h.eng.Handle(&tvbridge.InstrumentInfoEvent{Info: tvbridge.InstrumentInfo{FIGI: "F1", TradeStatus: tvbridge.StatusNormalTrading}})
	h.eng.Handle(&tvbridge.ErrorEvent{Message: "x"})
	st := h.eng.Stats()
	if st.IgnoredCandles != 1 || st.Unknown != 1 || st.Invalid != 5 || st.Updates != 5 || len(h.sink.ticks) != 0 {
		t.Fatalf("stats %+v, ticks %d", st, len(h.sink.ticks))
	}
}

func TestZeroVolumeMinuteHasNoBar(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.candle(t0.Add(sec(1)), t0, 100, 100, 100, 100, 0)
	if _, ok := h.eng.OpenMinute("F1"); ok {
		t.Fatal("zero-volume open minute reported")
	}
	h.closeAll()
	if h.sink.calls != 0 || len(h.sink.ticks) != 0 {
		t.Fatal("zero-volume minute emitted")
	}
	if st := h.eng.Stats(); st.Pending != 1 {
		t.Fatalf("pending = %d", st.Pending)
	}
	if lc := h.eng.LastClosed("F1"); !lc.Equal(t0.Add(time.Minute)) {
		t.Fatalf("LastClosed %v", lc)
	}
}

func TestRestore(t *testing.T) {
	sched := tvbridge.MustSchedule("24x7", "UTC")
	h := newHarness(t, Config{DailyBars: true}, mkSpec("F1", sched))
	m := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	stored := []tvbridge.Bar{bar(m(1), 10, 12, 9, 11, 5), bar(m(0), 10, 11, 10, 10, 2)} // unsorted on purpose
	h.eng.Restore("F1", m(1), stored)
	if lc := h.eng.LastClosed("F1"); !lc.Equal(m(2)) {
		t.Fatalf("LastClosed %v", lc)
	}
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if d, ok := h.eng.Daily("F1", day); !ok || !sameBar(d, bar(day, 10, 12, 9, 11, 7)) {
		t.Fatalf("seeded daily %+v %v", d, ok)
	}
	h.candle(m(2).Add(sec(1)), m(1), 10, 12, 9, 11, 5) // re-send of the stored minute
	h.candle(m(2).Add(sec(2)), m(1), 10, 13, 9, 11, 6) // correction
	h.candle(m(2).Add(sec(3)), m(2), 11, 14, 11, 14, 3)
	if st := h.eng.Stats(); st.OutOfOrder != 1 || st.Corrections != 1 || st.Trades != 2 {
		t.Fatalf("stats %+v", st)
	}
	if d, ok := h.eng.Daily("F1", day.Add(15*time.Hour)); !ok || !sameBar(d, bar(day, 10, 14, 9, 14, 10)) {
		t.Fatalf("daily after restore %+v", d)
	}
	h.eng.Restore("nope", m(1), nil) // unknown: logged, ignored
}

func TestAddUpdatesSymbol(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.eng.Add(InstrumentSpec{Instrument: tvbridge.Instrument{FIGI: "F1", Ticker: "NEW"}})
	h.eng.Add(InstrumentSpec{Instrument: tvbridge.Instrument{FIGI: "F2"}})
	h.candle(t0.Add(sec(1)), t0, 1, 1, 1, 1, 1)
	h.candleFor("F2", t0.Add(sec(2)), t0, 1, 1, 1, 1, 1)
	if s := h.sink.ticks[0].Symbol; s != "NEW" {
		t.Fatalf("symbol %q, want the ticker", s)
	}
	if s := h.sink.ticks[1].Symbol; s != "F2" {
		t.Fatalf("symbol %q, want the FIGI", s)
	}
}

// TestConcurrentReaders runs the readers against the feeding goroutine; with
// -race it proves the locking. Each OpenMinute result must be a bar the
// engine actually held: volume only grows within a minute.
func TestConcurrentReaders(t *testing.T) {
	h := newHarness(t, Config{DailyBars: true}, mkSpec("F1", tvbridge.MustSchedule("24x7", "UTC")))
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last tvbridge.Bar
			for {
				select {
				case <-done:
					return
				default:
				}
				if b, ok := h.eng.OpenMinute("F1"); ok {
					if b.Time.Equal(last.Time) && b.Volume < last.Volume {
						t.Errorf("open minute volume fell: %v then %v", last.Volume, b.Volume)
					}
					last = b
				}
				h.eng.LastClosed("F1")
				h.eng.Daily("F1", t0)
				h.eng.Stats()
				h.eng.Add(mkSpec("F1", tvbridge.MustSchedule("24x7", "UTC")))
			}
		}()
	}
	for i := range 2000 {
		m := t0.Add(time.Duration(i/20) * time.Minute)
		h.candle(m.Add(time.Duration(i%20)*time.Second), m, 100, 100+float64(i%20), 100, 100, float64(i%20+1))
		if i%7 == 0 {
			h.eng.Sweep()
		}
	}
	close(done)
	wg.Wait()
	h.closeAll()
	if got := rebuild(h.sink.ticks); !sameBars(got, h.sink.closed["F1"]) {
		t.Fatal("stream and closed bars differ")
	}
}

// panicSink panics on the first batch of ticks, as a buggy tape might.
type panicSink struct{ recSink }

func (p *panicSink) Ticks([]tvbridge.Tick) { panic("tape bug") }

func TestPanicIsRecovered(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	eng := New(Config{Clock: h.clk, Logger: quietLogger()}, &panicSink{})
	eng.Add(mkSpec("F1", nil))
	eng.Handle(&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: t0},
		Candle: tvbridge.Candle{FIGI: "F1", Interval: tvbridge.Interval1Min, Time: t0, Open: 1, High: 1, Low: 1, Close: 1, Volume: 1}})
	if st := eng.Stats(); st.Panics != 1 {
		t.Fatalf("panics = %d", st.Panics)
	}
	// The instrument is not left locked.
	if _, ok := eng.OpenMinute("F1"); !ok {
		t.Fatal("open minute lost")
	}
}

func TestReadersOfUnknownInstrument(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	if _, ok := h.eng.OpenMinute("nope"); ok {
		t.Fatal("OpenMinute of an unknown instrument")
	}
	if !h.eng.LastClosed("nope").IsZero() || !h.eng.LastClosed("F1").IsZero() {
		t.Fatal("LastClosed before anything closed")
	}
	if _, ok := h.eng.Daily("nope", t0); ok {
		t.Fatal("Daily of an unknown instrument")
	}
}

// TestLatenessJudgedByReceipt: a final received within the grace but handled
// after it (the event loop was busy) is still applied, stamped in its minute.
func TestLatenessJudgedByReceipt(t *testing.T) {
	h := newHarness(t, Config{CloseGrace: 3 * time.Second}, mkSpec("F1", nil))
	h.candle(t0.Add(sec(30)), t0, 100, 100, 100, 100, 1)
	h.clk.Set(t0.Add(sec(65))) // handled 2.5 s after the grace
	h.eng.Handle(&tvbridge.CandleEvent{
		EventMeta: tvbridge.EventMeta{Received: t0.Add(61500 * time.Millisecond)},
		Candle:    tvbridge.Candle{FIGI: "F1", Interval: tvbridge.Interval1Min, Time: t0, Open: 100, High: 102, Low: 100, Close: 102, Volume: 2},
	})
	h.sweepAt(t0.Add(sec(66)))
	got := h.sink.closed["F1"]
	if len(got) != 1 || !sameBar(got[0], bar(t0, 100, 102, 100, 102, 2)) {
		t.Fatalf("closed %v, want the final applied", got)
	}
	if st := h.eng.Stats(); st.Corrections != 0 {
		t.Fatalf("a final received in time was counted as a correction: %+v", st)
	}
	if !h.sink.final["F1"][0] {
		t.Fatal("the final state was received but the bar is not marked Final")
	}
	if last := h.sink.ticks[len(h.sink.ticks)-1]; !last.Time.Equal(t0.Add(sec(59))) {
		t.Fatalf("late trade stamped %v, want the minute's last second", last.Time)
	}
}

// TestFinalMarksTheMinute: a closed bar is Final only when an update received
// after the minute ended matched the streamed bar.
func TestFinalMarksTheMinute(t *testing.T) {
	h := newHarness(t, Config{CloseGrace: 3 * time.Second}, mkSpec("F1", nil))
	m1, m2, m3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	// t0: the final state repeats what was streamed: Final.
	h.candle(t0.Add(sec(50)), t0, 100, 101, 100, 101, 3)
	h.candle(t0.Add(sec(60)), t0, 100, 101, 100, 101, 3)
	// m1: no update after the minute: not Final.
	h.candle(m1.Add(sec(10)), m1, 101, 101, 101, 101, 1)
	// m2: a stale (older) update after the minute ended: not Final.
	h.candle(m2.Add(sec(10)), m2, 101, 101, 101, 101, 1)
	h.candle(m2.Add(sec(20)), m2, 101, 102, 101, 102, 2)
	h.candle(m2.Add(sec(61)), m2, 101, 101, 101, 101, 1)
	h.candle(m3.Add(sec(10)), m3, 102, 102, 102, 102, 1)
	h.closeAll()
	want := []bool{true, false, false, false}
	got := h.sink.final["F1"]
	if len(got) != len(want) {
		t.Fatalf("final flags %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("final flags %v, want %v", got, want)
		}
	}
}

// TestResumeOpen: an engine that takes over a minute another process
// streamed (a cluster's new ingester) streams only what goes beyond it, so
// the trades TradingView rebuilds the minute from add up to the candle and
// to the closed bar, and ignores minutes it has closed.
func TestResumeOpen(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	m := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	h.eng.Restore("F1", m(0), nil)
	streamed := bar(m(1), 10, 12, 9, 11, 5) // what the previous ingester streamed of minute 1
	h.clk.Set(m(1).Add(sec(30)))
	h.eng.ResumeOpen("F1", streamed, h.clk.Now())
	h.eng.ResumeOpen("F1", bar(m(0), 10, 10, 10, 10, 1), h.clk.Now()) // closed: ignored
	if b, ok := h.eng.OpenMinute("F1"); !ok || !sameBar(b, streamed) {
		t.Fatalf("open minute after ResumeOpen: %+v %v", b, ok)
	}
	h.candle(m(1).Add(sec(31)), m(1), 10, 12, 9, 11, 5)   // what was streamed: nothing new
	h.candle(m(1).Add(sec(40)), m(1), 10, 13, 9, 12.5, 8) // 3 more
	h.closeAll()
	ticks := h.sink.kind("F1", tvbridge.TickTrade)
	var v float64
	for _, tk := range ticks {
		v += tk.Size
		if tk.Time.Before(m(1).Add(sec(30))) {
			t.Errorf("a trade at %v, before the takeover", tk.Time)
		}
	}
	if v != 3 {
		t.Fatalf("streamed %v lots after the takeover, want 3 (the 5 before it were streamed already)", v)
	}
	if got := h.sink.closed["F1"]; len(got) != 1 || !sameBar(got[0], bar(m(1), 10, 13, 9, 12.5, 8)) {
		t.Fatalf("closed %+v", got)
	}
	if st := h.eng.Stats(); st.Resumed != 1 {
		t.Fatalf("Resumed %d", st.Resumed)
	}
}
