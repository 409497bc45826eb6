package bars

import (
	"math/rand/v2"
	"testing"
	"time"

	"tvbridge"
)

// trade sends an exchange trade of F1 at exchange time at, received at recv
// (the clock is moved there first).
func (h *harness) trade(recv, at time.Time, price, qty float64) {
	h.clk.Set(recv)
	h.eng.Handle(&tvbridge.TradeEvent{EventMeta: tvbridge.EventMeta{Received: recv},
		Trade: tvbridge.Trade{FIGI: "F1", Time: at, Price: price, Quantity: qty}})
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// Real trades are streamed as they are, stamped with their exchange time;
// the candle update that follows confirms the minute.
func TestRealTradesStreamedAsTheyAre(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.trade(t0.Add(ms(10200)), t0.Add(ms(10100)), 100, 3)
	h.trade(t0.Add(ms(20100)), t0.Add(ms(20000)), 101.5, 2)
	h.candle(t0.Add(ms(20300)), t0, 100, 101.5, 100, 101.5, 5)
	h.trade(t0.Add(ms(59900)), t0.Add(ms(59800)), 99, 1)
	h.candle(t0.Add(ms(60100)), t0, 100, 101.5, 99, 99, 6)
	trades := h.sink.kind("F1", tvbridge.TickTrade)
	if got := prices(trades); len(got) != 3 || got[0] != 100 || got[1] != 101.5 || got[2] != 99 {
		t.Fatalf("prices %v", got)
	}
	if got := sizes(trades); got[0] != 3 || got[1] != 2 || got[2] != 1 {
		t.Fatalf("sizes %v", got)
	}
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 59 * time.Second} {
		if !trades[i].Time.Equal(t0.Add(want)) {
			t.Errorf("trade %d stamped %v, want its exchange second %v", i, trades[i].Time, t0.Add(want))
		}
	}
	h.closeAll()
	want := bar(t0, 100, 101.5, 99, 99, 6)
	if got := h.sink.closed["F1"]; len(got) != 1 || !sameBar(got[0], want) || !sameBar(rebuild(h.sink.ticks)[0], want) {
		t.Fatalf("closed %v, want %v", got, want)
	}
	if !h.sink.final["F1"][0] {
		t.Error("a minute confirmed by its candle is not Final")
	}
	if st := h.eng.Stats(); st.RealTrades != 3 || st.SyntheticMinutes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A candle update ahead of the trades waits for them; when they do not come
// within TradeGrace (missed during a reconnect) and a later update confirms
// the difference, the minute falls back to the candle updates: the
// difference is streamed synthetically and the minute's later trades are
// dropped, so the bar streamed still equals the candle.
func TestMissedTradesFallBackToTheCandle(t *testing.T) {
	h := newHarness(t, Config{TradeGrace: time.Second}, mkSpec("F1", nil))
	h.trade(t0.Add(sec(5)), t0.Add(sec(5)), 100, 1)
	// The candle knows a trade at 102 the stream missed.
	h.candle(t0.Add(ms(20000)), t0, 100, 102, 100, 102, 3)
	h.sweepAt(t0.Add(ms(20500)))
	if n := len(h.sink.kind("F1", tvbridge.TickTrade)); n != 1 {
		t.Fatalf("%d trades before the grace passed, want 1", n)
	}
	h.sweepAt(t0.Add(ms(21000)))
	if st := h.eng.Stats(); st.SyntheticMinutes != 0 {
		t.Fatalf("fell back on one update nothing confirmed: %+v", st)
	}
	h.candle(t0.Add(ms(22000)), t0, 100, 102, 100, 102, 3) // the same state again
	if st := h.eng.Stats(); st.SyntheticMinutes != 1 {
		t.Fatalf("no fallback: %+v", st)
	}
	// A trade of the minute arriving now is in the next candle update.
	h.trade(t0.Add(sec(30)), t0.Add(sec(30)), 101, 1)
	h.candle(t0.Add(ms(30300)), t0, 100, 102, 100, 101, 4)
	// The next minute starts with real trades again.
	m1 := t0.Add(time.Minute)
	h.trade(m1.Add(sec(1)), m1.Add(sec(1)), 101, 2)
	h.closeAll()
	got := h.sink.closed["F1"]
	if len(got) != 2 || !sameBar(got[0], bar(t0, 100, 102, 100, 101, 4)) || !sameBar(got[1], bar(m1, 101, 101, 101, 101, 2)) {
		t.Fatalf("closed %v", got)
	}
	if !sameBars(rebuild(h.sink.ticks), got) {
		t.Fatalf("stream %v != history %v", rebuild(h.sink.ticks), got)
	}
	if st := h.eng.Stats(); st.Superseded != 1 || st.SyntheticMinutes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A wrong intermediate candle state (a lot too many, the high a tick
// higher), corrected by the next update, is never streamed: however long
// the correction takes, the bar stays the trades' and equals the final
// candle.
func TestCorrectedCandleStateNotStreamed(t *testing.T) {
	h := newHarness(t, Config{TradeGrace: time.Second}, mkSpec("F1", nil))
	h.trade(t0.Add(sec(5)), t0.Add(sec(5)), 100, 1)
	h.trade(t0.Add(sec(6)), t0.Add(sec(6)), 101, 1)
	h.candle(t0.Add(sec(7)), t0, 100, 101.01, 100, 101, 3) // wrong: a lot too many, the high a tick above
	h.sweepAt(t0.Add(sec(10)))                             // far past the grace
	h.candle(t0.Add(sec(11)), t0, 100, 101, 100, 101, 2)   // corrected
	h.trade(t0.Add(sec(20)), t0.Add(sec(20)), 100.5, 1)
	h.candle(t0.Add(sec(21)), t0, 100, 101.01, 100, 100.5, 4) // wrong again
	h.candle(t0.Add(sec(23)), t0, 100, 101, 100, 100.5, 3)    // corrected
	h.candle(t0.Add(ms(60100)), t0, 100, 101, 100, 100.5, 3)  // final
	h.closeAll()
	want := bar(t0, 100, 101, 100, 100.5, 3)
	if got := h.sink.closed["F1"]; len(got) != 1 || !sameBar(got[0], want) || !sameBar(rebuild(h.sink.ticks)[0], want) {
		t.Fatalf("closed %v, stream %v, want %v", got, rebuild(h.sink.ticks), want)
	}
	if st := h.eng.Stats(); st.SyntheticMinutes != 0 || st.RealTrades != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// candleAt sends a candle update of F1 whose last trade was at lastTrade.
func (h *harness) candleAt(recv, minute, lastTrade time.Time, o, hi, lo, c, v float64) {
	h.clk.Set(recv)
	h.eng.Handle(&tvbridge.CandleEvent{
		EventMeta: tvbridge.EventMeta{Received: recv, ServerTime: lastTrade},
		Candle: tvbridge.Candle{FIGI: "F1", Interval: tvbridge.Interval1Min, Time: minute,
			Open: o, High: hi, Low: lo, Close: c, Volume: v},
	})
}

// Identical trades are told apart by the candle updates: a repeat the next
// update has room for was real (one order filled against two resting ones
// of the same size) and is streamed; one the update leaves out although it
// includes every trade up to the repeat's time was a copy and is dropped.
func TestRepeatedTradeSettledByTheCandle(t *testing.T) {
	h := newHarness(t, Config{TradeGrace: time.Second}, mkSpec("F1", nil))
	a := t0.Add(ms(5123))
	h.trade(t0.Add(sec(6)), a, 100, 1)
	h.trade(t0.Add(sec(6)), a, 100, 1) // a real second fill
	if n := len(h.sink.kind("F1", tvbridge.TickTrade)); n != 1 {
		t.Fatalf("%d trades streamed before the candle settled the repeat, want 1", n)
	}
	h.candleAt(t0.Add(ms(6300)), t0, a, 100, 100, 100, 100, 2) // includes both
	b := t0.Add(ms(20456))
	h.trade(t0.Add(sec(21)), b, 101, 1)
	h.trade(t0.Add(sec(21)), b, 101, 1)                         // a copy
	h.candleAt(t0.Add(ms(21300)), t0, b, 100, 101, 100, 101, 3) // includes up to b, no room for the copy
	if n := len(h.sink.kind("F1", tvbridge.TickTrade)); n != 3 {
		t.Fatalf("%d trades streamed, want 3", n)
	}
	h.closeAll()
	want := bar(t0, 100, 101, 100, 101, 3)
	if got := h.sink.closed["F1"]; len(got) != 1 || !sameBar(got[0], want) || !sameBar(rebuild(h.sink.ticks)[0], want) {
		t.Fatalf("closed %v, stream %v, want %v", got, rebuild(h.sink.ticks), want)
	}
	if st := h.eng.Stats(); st.DuplicateTrades != 1 || st.RealTrades != 3 || st.SyntheticMinutes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A trade received twice in a row (a repeated frame, or two streams
// overlapping while an instrument moves) that no update proves real is
// streamed once.
func TestRepeatedTradeDropped(t *testing.T) {
	h := newHarness(t, Config{TradeGrace: time.Second}, mkSpec("F1", nil))
	at := t0.Add(ms(5123))
	h.trade(t0.Add(sec(6)), at, 100, 2)
	h.trade(t0.Add(sec(6)), at, 100, 2) // the same frame again
	h.trade(t0.Add(sec(7)), at.Add(1), 100, 2)
	h.candle(t0.Add(ms(60100)), t0, 100, 100, 100, 100, 4)
	h.closeAll()
	want := bar(t0, 100, 100, 100, 100, 4)
	if got := h.sink.closed["F1"]; len(got) != 1 || !sameBar(got[0], want) || !sameBar(rebuild(h.sink.ticks)[0], want) {
		t.Fatalf("closed %v, want %v", got, want)
	}
	if st := h.eng.Stats(); st.DuplicateTrades != 1 || st.RealTrades != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Trades that catch up with a candle update within the grace cause no
// fallback.
func TestTradesCatchingUpWithTheCandle(t *testing.T) {
	h := newHarness(t, Config{TradeGrace: time.Second}, mkSpec("F1", nil))
	h.trade(t0.Add(sec(5)), t0.Add(sec(5)), 100, 1)
	h.candle(t0.Add(ms(10000)), t0, 100, 101, 100, 101, 2)
	h.trade(t0.Add(ms(10400)), t0.Add(sec(10)), 101, 1)
	h.sweepAt(t0.Add(sec(12)))
	if st := h.eng.Stats(); st.SyntheticMinutes != 0 || st.RealTrades != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// A trade of a minute already closed cannot be streamed (tick time would go
// back): it is counted. A trade stamped ahead of our clock waits for it.
func TestLateAndEarlyTrades(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	m1 := t0.Add(time.Minute)
	h.trade(t0.Add(sec(50)), t0.Add(sec(50)), 100, 1)
	h.trade(m1.Add(sec(2)), m1.Add(sec(1)), 101, 1)
	h.trade(m1.Add(sec(3)), t0.Add(sec(59)), 99, 1) // late
	if st := h.eng.Stats(); st.LateTrades != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The exchange's clock is 0.5 s ahead: a trade of m2 at our m2-0.3s.
	m2 := m1.Add(time.Minute)
	h.trade(m2.Add(-ms(300)), m2.Add(ms(200)), 102, 1)
	if n := len(h.sink.kind("F1", tvbridge.TickTrade)); n != 2 {
		t.Fatalf("%d trades: the early one was not held back", n)
	}
	h.sweepAt(m2)
	trades := h.sink.kind("F1", tvbridge.TickTrade)
	if len(trades) != 3 || !trades[2].Time.Equal(m2) {
		t.Fatalf("early trade not released at its minute: %+v", trades)
	}
}

// Property: whatever trades the stream misses or repeats (copies of a frame,
// or real identical fills), whatever candle updates come (consistent with
// the exchange's trades) and whenever, the bars rebuilt
// from the stream equal the closed bars, tick times never go back, and a
// minute whose trades all arrived, or whose final state a candle update
// carried (and whose first trade arrived: a streamed open cannot be
// undone), equals the exchange's candle.
func TestRealTradesProperty(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		h := newHarness(t, Config{TradeGrace: time.Second}, mkSpec("F1", nil))
		exchange := map[int64]*ohlcv{}
		complete := map[int64]bool{}
		finalSent := map[int64]bool{} // a candle update was sent after the minute's last trade
		openMissed := map[int64]bool{}
		at := t0
		for m := range 5 {
			start := t0.Add(time.Duration(m) * time.Minute)
			complete[start.Unix()] = true
			at = maxT(at, start)
			for range 1 + r.IntN(8) {
				at = at.Add(time.Duration(1+r.IntN(7000)) * time.Millisecond)
				if at.Sub(start) >= time.Minute {
					break
				}
				p, q := 100+float64(r.IntN(9))*0.5, float64(1+r.IntN(5))
				c := exchange[start.Unix()]
				if c == nil {
					c = &ohlcv{}
					exchange[start.Unix()] = c
				}
				*c = c.trade(p, q)
				finalSent[start.Unix()] = false
				if r.IntN(6) == 0 {
					complete[start.Unix()] = false // missed
					if c.v == q {
						openMissed[start.Unix()] = true
					}
				} else {
					h.trade(at.Add(ms(50)), at, p, q)
					switch r.IntN(8) {
					case 0: // a copy of the frame
						h.trade(at.Add(ms(60)), at, p, q)
					case 1: // a real second fill, identical
						*c = c.trade(p, q)
						h.trade(at.Add(ms(60)), at, p, q)
						// Only a candle update can prove it real.
						complete[start.Unix()] = false
					}
				}
				if r.IntN(2) == 0 {
					h.candle(at.Add(ms(100+r.IntN(400))), start, c.o, c.h, c.l, c.c, c.v)
					finalSent[start.Unix()] = true
				}
			}
		}
		h.closeAll()
		closed := h.sink.closed["F1"]
		if got := rebuild(h.sink.ticks); !sameBars(got, closed) {
			t.Fatalf("seed %d: stream %v != history %v", seed, got, closed)
		}
		last := int64(0)
		for _, tk := range h.sink.kind("F1", tvbridge.TickTrade) {
			if tk.Time.Unix() < last {
				t.Fatalf("seed %d: tick time went back", seed)
			}
			last = tk.Time.Unix()
		}
		for _, b := range closed {
			c := exchange[b.Time.Unix()]
			if (complete[b.Time.Unix()] || finalSent[b.Time.Unix()] && !openMissed[b.Time.Unix()]) && c != nil && !sameBar(b, toBar(b.Time.Unix(), *c)) {
				t.Fatalf("seed %d: minute %v with every trade is %v, exchange %v", seed, b.Time, b, *c)
			}
		}
	}
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
