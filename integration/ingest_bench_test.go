package integration

import (
	"fmt"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bars"
	"tvbridge/clock"
	"tvbridge/tape"
)

// tapeSink appends the engine's ticks to a tape, as ingest does.
type tapeSink struct{ tp *tape.Tape }

func (s tapeSink) Ticks(ticks []tvbridge.Tick)         { s.tp.Append(ticks...) }
func (s tapeSink) MinutesClosed(string, []bars.Closed) {}

// BenchmarkIngestToTape measures upstream events (alternating 1-minute
// candle updates and order books over 1,000 instruments) through the bar
// engine onto the tape, encoded lines included: the ingest path on one core.
//
//	go test -run '^$' -bench IngestToTape -cpu 1 -count 5 ./integration/
func BenchmarkIngestToTape(b *testing.B) {
	const instruments = 1000
	clk := clock.NewFake(time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC))
	tp := tape.New(tape.Config{})
	eng := bars.New(bars.Config{Clock: clk, DailyBars: true, Logger: quietLog()}, tapeSink{tp})
	figis := make([]string, instruments)
	for i := range figis {
		figis[i] = fmt.Sprintf("BBGIN%07d", i)
		eng.Add(bars.InstrumentSpec{
			Instrument: tvbridge.Instrument{FIGI: figis[i], Ticker: fmt.Sprintf("IN%04d", i), MinPriceIncrement: 0.01},
			Symbol:     fmt.Sprintf("IN%04d", i),
			Schedule:   tvbridge.MustSchedule("24x7", "Etc/UTC"),
		})
	}
	volume := make([]float64, instruments)
	minute := clk.Now().Truncate(time.Minute)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		i := n % instruments
		now := clk.Now()
		meta := tvbridge.EventMeta{Received: now}
		if n%2 == 0 {
			volume[i] += float64(1 + n%13)
			c := 100 + float64(n%17)/100
			eng.Handle(&tvbridge.CandleEvent{EventMeta: meta, Candle: tvbridge.Candle{FIGI: figis[i], Interval: tvbridge.Interval1Min,
				Time: minute, Open: 100, High: max(100, c, 100.16), Low: min(100, c), Close: c, Volume: volume[i]}})
		} else {
			bid := 99.9 + float64(n%7)/100
			eng.Handle(&tvbridge.OrderBookEvent{EventMeta: meta, Book: tvbridge.OrderBook{FIGI: figis[i], Depth: 1,
				Bids: []tvbridge.PriceLevel{{Price: bid, Quantity: float64(1 + n%9)}},
				Asks: []tvbridge.PriceLevel{{Price: bid + 0.3, Quantity: float64(1 + n%11)}}}})
		}
		n++
		if n%(2*instruments) == 0 {
			clk.Advance(time.Second) // time moves on: new quotes, daily ticks
			if clk.Now().Sub(minute) >= time.Minute {
				minute = clk.Now().Truncate(time.Minute)
				clear(volume)
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(tp.LastSeq())/float64(n), "ticks/event")
}
