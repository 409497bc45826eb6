package bars

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// manualClock is a lock-free clock for benchmarks, so they measure the
// engine and not the fake clock's mutex. Only Now is used by the engine.
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time                  { return c.now }
func (c *manualClock) Since(t time.Time) time.Duration { return c.now.Sub(t) }
func (c *manualClock) NewTimer(time.Duration) clock.Timer {
	panic("manualClock: timers are not used by the engine")
}
func (c *manualClock) NewTicker(time.Duration) clock.Ticker {
	panic("manualClock: tickers are not used by the engine")
}

// discardSink counts what it receives, as cheaply as a sink can.
type discardSink struct{ ticks, bars int }

func (s *discardSink) Ticks(t []tvbridge.Tick)            { s.ticks += len(t) }
func (s *discardSink) MinutesClosed(_ string, b []Closed) { s.bars += len(b) }

func benchEngine(n int, daily bool) (*Engine, *manualClock, *discardSink, []string) {
	clk := &manualClock{now: t0}
	sink := &discardSink{}
	eng := New(Config{Clock: clk, DailyBars: daily, Logger: quietLogger()}, sink)
	sched := tvbridge.MustSchedule("24x7", "Europe/Moscow")
	figis := make([]string, n)
	for i := range figis {
		figis[i] = fmt.Sprintf("BBG%09d", i)
		eng.Add(InstrumentSpec{Instrument: tvbridge.Instrument{FIGI: figis[i], Ticker: fmt.Sprintf("T%d", i)}, Schedule: sched})
	}
	return eng, clk, sink, figis
}

// BenchmarkHandleCandle feeds 1-minute candle updates for 1000 instruments:
// 30 updates per instrument per minute, every third a duplicate (as
// duplicate subscriptions cause), the others growing volume and moving
// high, low and close, so most emit 1-3 trades.
func BenchmarkHandleCandle(b *testing.B) {
	for _, daily := range []bool{false, true} {
		b.Run(fmt.Sprintf("daily=%v", daily), func(b *testing.B) {
			const n, perMinute = 1000, 30
			eng, clk, sink, figis := benchEngine(n, daily)
			ev := &tvbridge.CandleEvent{Candle: tvbridge.Candle{Interval: tvbridge.Interval1Min}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				inst, j := i%n, i/n
				minute, k := j/perMinute, j%perMinute
				step := float64(k - k%3) // every third update repeats the previous one
				start := t0.Add(time.Duration(minute) * time.Minute)
				clk.now = start.Add(time.Duration(k)*2*time.Second + time.Duration(inst)*time.Microsecond)
				ev.Received = clk.now
				ev.Candle.FIGI = figis[inst]
				ev.Candle.Time = start
				ev.Candle.Open = 100
				ev.Candle.High = 100 + step/4
				ev.Candle.Low = 100 - step/8
				ev.Candle.Close = 100 + float64(int(step)%7-3)/10
				ev.Candle.Volume = 1 + step*3
				eng.Handle(ev)
			}
			b.StopTimer()
			b.ReportMetric(float64(sink.ticks)/float64(b.N), "ticks/op")
		})
	}
}

// BenchmarkHandleOrderBook feeds order books for 1000 instruments whose top
// changes every time, so each produces a quote tick.
func BenchmarkHandleOrderBook(b *testing.B) {
	const n = 1000
	eng, clk, sink, figis := benchEngine(n, false)
	books := make([]tvbridge.OrderBookEvent, n)
	for i := range books {
		books[i].Book = tvbridge.OrderBook{FIGI: figis[i], Depth: 5,
			Bids: []tvbridge.PriceLevel{lvl(99, 10), lvl(98, 10), lvl(97, 10), lvl(96, 10), lvl(95, 10)},
			Asks: []tvbridge.PriceLevel{lvl(101, 10), lvl(102, 10), lvl(103, 10), lvl(104, 10), lvl(105, 10)}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := &books[i%n]
		clk.now = t0.Add(time.Duration(i) * time.Microsecond)
		ev.Received = clk.now
		ev.Book.Bids[0].Quantity = float64(1 + (i/n)%50)
		eng.Handle(ev)
	}
	b.StopTimer()
	b.ReportMetric(float64(sink.ticks)/float64(b.N), "ticks/op")
}

// BenchmarkHotStatePerInstrument measures the engine's memory per
// instrument over 10,000 instruments, each with an open minute, a day bar
// and a quote, and reports it as B/instrument (target: <= 2048).
func BenchmarkHotStatePerInstrument(b *testing.B) {
	const n = 10000
	var perInst float64
	for range b.N {
		specs := make([]InstrumentSpec, n)
		sched := tvbridge.MustSchedule("24x7", "Europe/Moscow")
		for i := range specs {
			specs[i] = InstrumentSpec{Instrument: tvbridge.Instrument{FIGI: fmt.Sprintf("BBG%09d", i)},
				Symbol: fmt.Sprintf("SYM%d", i), Schedule: sched}
		}
		books := make([]tvbridge.OrderBookEvent, n)
		for i := range books {
			books[i].Book = tvbridge.OrderBook{FIGI: specs[i].Instrument.FIGI,
				Bids: []tvbridge.PriceLevel{lvl(99, 1)}, Asks: []tvbridge.PriceLevel{lvl(101, 1)}}
		}
		before := heapInUse()
		clk := &manualClock{now: t0.Add(time.Second)}
		eng := New(Config{Clock: clk, DailyBars: true, Logger: quietLogger()}, &discardSink{})
		for _, s := range specs {
			eng.Add(s)
		}
		ev := &tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: clk.now},
			Candle: tvbridge.Candle{Interval: tvbridge.Interval1Min, Time: t0, Open: 1, High: 2, Low: 1, Close: 2, Volume: 3}}
		for i := range books {
			ev.Candle.FIGI = specs[i].Instrument.FIGI
			eng.Handle(ev)
			books[i].Received = clk.now
			eng.Handle(&books[i])
		}
		after := heapInUse()
		perInst = float64(after-before) / n
		runtime.KeepAlive(eng)
		runtime.KeepAlive(specs)
		runtime.KeepAlive(books)
	}
	b.ReportMetric(perInst, "B/instrument")
}

func lvl(p, q float64) tvbridge.PriceLevel { return tvbridge.PriceLevel{Price: p, Quantity: q} }

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
