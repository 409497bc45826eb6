package bars

import (
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// t0 is a Monday, 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// recSink records everything the engine emits, with the clock at emission.
type recSink struct {
	clk     clock.Clock
	ticks   []tvbridge.Tick
	emitted []time.Time // clock when each tick was handed over
	closed  map[string][]tvbridge.Bar
	final   map[string][]bool // Closed.Final of each closed bar
	calls   int               // MinutesClosed calls
}

func newRecSink(clk clock.Clock) *recSink {
	return &recSink{clk: clk, closed: make(map[string][]tvbridge.Bar), final: make(map[string][]bool)}
}

func (s *recSink) Ticks(ticks []tvbridge.Tick) {
	now := s.clk.Now()
	for _, t := range ticks {
		s.ticks = append(s.ticks, t)
		s.emitted = append(s.emitted, now)
	}
}

func (s *recSink) MinutesClosed(figi string, bars []Closed) {
	s.calls++
	for _, b := range bars {
		s.closed[figi] = append(s.closed[figi], b.Bar)
		s.final[figi] = append(s.final[figi], b.Final)
	}
}

// kind returns the recorded ticks of one kind and instrument.
func (s *recSink) kind(figi string, k tvbridge.TickKind) []tvbridge.Tick {
	var out []tvbridge.Tick
	for _, t := range s.ticks {
		if t.FIGI == figi && t.Kind == k {
			out = append(out, t)
		}
	}
	return out
}

// reset forgets what was recorded so far.
func (s *recSink) reset() {
	s.ticks, s.emitted = nil, nil
	s.closed = make(map[string][]tvbridge.Bar)
	s.final = make(map[string][]bool)
	s.calls = 0
}

// harness drives an engine on a fake clock.
type harness struct {
	t    testing.TB
	clk  *clock.Fake
	eng  *Engine
	sink *recSink
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t testing.TB, cfg Config, specs ...InstrumentSpec) *harness {
	t.Helper()
	return newHarnessAt(t, t0, cfg, specs...)
}

// newHarnessAt is newHarness with the fake clock starting at start.
func newHarnessAt(t testing.TB, start time.Time, cfg Config, specs ...InstrumentSpec) *harness {
	t.Helper()
	clk := clock.NewFake(start)
	cfg.Clock = clk
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	sink := newRecSink(clk)
	eng := New(cfg, sink)
	for _, s := range specs {
		eng.Add(s)
	}
	return &harness{t: t, clk: clk, eng: eng, sink: sink}
}

func mkSpec(figi string, sched *tvbridge.Schedule) InstrumentSpec {
	return InstrumentSpec{Instrument: tvbridge.Instrument{FIGI: figi, Ticker: "T" + figi}, Symbol: "S" + figi, Schedule: sched}
}

// candle sends a 1-minute candle update received at recv (the clock is moved
// there first).
func (h *harness) candle(recv, minute time.Time, o, hi, lo, c, v float64) {
	h.candleFor("F1", recv, minute, o, hi, lo, c, v)
}

func (h *harness) candleFor(figi string, recv, minute time.Time, o, hi, lo, c, v float64) {
	h.clk.Set(recv)
	h.eng.Handle(&tvbridge.CandleEvent{
		EventMeta: tvbridge.EventMeta{Received: recv},
		Candle: tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: minute,
			Open: o, High: hi, Low: lo, Close: c, Volume: v},
	})
}

// book sends an order book received at recv, handled at the current clock.
func (h *harness) book(figi string, recv time.Time, bid, bidQty, ask, askQty float64) {
	h.eng.Handle(&tvbridge.OrderBookEvent{
		EventMeta: tvbridge.EventMeta{Received: recv},
		Book: tvbridge.OrderBook{FIGI: figi, Depth: 1,
			Bids: []tvbridge.PriceLevel{{Price: bid, Quantity: bidQty}},
			Asks: []tvbridge.PriceLevel{{Price: ask, Quantity: askQty}}},
	})
}

// sweepAt moves the clock to t and sweeps.
func (h *harness) sweepAt(t time.Time) {
	h.clk.Set(t)
	h.eng.Sweep()
}

// closeAll moves the clock far enough for every open minute to close.
func (h *harness) closeAll() {
	h.sweepAt(h.clk.Now().Add(2 * time.Minute))
}

// rebuild builds 1-minute bars from trade ticks with TradingView's rule:
// bar time = minute floor of the tick time, open = first price, high = max,
// low = min, close = last, volume = running float64 sum of sizes.
func rebuild(ticks []tvbridge.Tick) []tvbridge.Bar {
	var out []tvbridge.Bar
	for _, t := range ticks {
		if t.Kind != tvbridge.TickTrade {
			continue
		}
		m := t.Time.Truncate(time.Minute)
		if n := len(out); n > 0 && out[n-1].Time.Equal(m) {
			b := &out[n-1]
			b.High = max(b.High, t.Price)
			b.Low = min(b.Low, t.Price)
			b.Close = t.Price
			b.Volume += t.Size
			continue
		}
		out = append(out, tvbridge.Bar{Time: m, Open: t.Price, High: t.Price, Low: t.Price, Close: t.Price, Volume: t.Size})
	}
	return out
}

func bar(t time.Time, o, h, l, c, v float64) tvbridge.Bar {
	return tvbridge.Bar{Time: t, Open: o, High: h, Low: l, Close: c, Volume: v}
}

// sameBars compares bars exactly (bit-for-bit floats, equal instants).
func sameBars(a, b []tvbridge.Bar) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameBar(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameBar(a, b tvbridge.Bar) bool {
	return a.Time.Equal(b.Time) && a.Open == b.Open && a.High == b.High && a.Low == b.Low &&
		a.Close == b.Close && a.Volume == b.Volume
}

// prices returns the prices of trade ticks.
func prices(ticks []tvbridge.Tick) []float64 {
	var out []float64
	for _, t := range ticks {
		out = append(out, t.Price)
	}
	return out
}

func sizes(ticks []tvbridge.Tick) []float64 {
	var out []float64
	for _, t := range ticks {
		out = append(out, t.Size)
	}
	return out
}

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }
