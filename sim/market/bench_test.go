package market

import (
	"testing"
	"time"

	"tvbridge"
)

// benchDay is a Tuesday: every venue trades.
var benchDay = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

// BenchmarkMinuteTradesCold generates a fresh minute per iteration: a new
// market every 100,000 minutes keeps the cache from ever answering.
func BenchmarkMinuteTradesCold(b *testing.B) {
	for _, ticker := range []string{"SBER", "BTC_USD", "SU26238RMFS4"} {
		b.Run(ticker, func(b *testing.B) {
			var m *Market
			var f string
			trades := 0
			for i := 0; b.Loop(); i++ {
				if i%100_000 == 0 {
					m = New(Config{Seed: 1})
					f = figi(b, m, ticker)
				}
				// 10:00-18:00 Moscow on weekdays: 480 trading minutes a day.
				day := benchDay.AddDate(0, 0, 7*(i/(5*480))+(i/480)%5-1) // Monday to Friday
				at := day.Add(7*time.Hour + time.Duration(i%480)*time.Minute)
				trades += len(m.MinuteTrades(f, at))
			}
			b.ReportMetric(float64(trades)/float64(b.N), "trades/op")
		})
	}
}

func BenchmarkMinuteTradesCached(b *testing.B) {
	m := New(Config{Seed: 1})
	f := figi(b, m, "SBER")
	at := benchDay.Add(12 * time.Hour)
	m.MinuteTrades(f, at)
	for b.Loop() {
		m.MinuteTrades(f, at)
	}
}

// BenchmarkCandleForming is the stream's forming candle, 10 updates a
// second, across a trading day.
func BenchmarkCandleForming(b *testing.B) {
	for _, interval := range []tvbridge.CandleInterval{tvbridge.Interval1Min, tvbridge.IntervalHour, tvbridge.IntervalDay} {
		b.Run(string(interval), func(b *testing.B) {
			m := New(Config{Seed: 1})
			f := figi(b, m, "SBER")
			open := benchDay.Add(7 * time.Hour)
			for i := 0; b.Loop(); i++ {
				now := open.Add(time.Duration(i%(10*3600*8)) * 100 * time.Millisecond)
				m.Candle(f, interval, m.IntervalStart(f, interval, now), now)
			}
		})
	}
}

// BenchmarkOrderBook is a depth-20 book, 4 snapshots a second.
func BenchmarkOrderBook(b *testing.B) {
	m := New(Config{Seed: 1})
	f := figi(b, m, "SBER")
	open := benchDay.Add(7 * time.Hour)
	for i := 0; b.Loop(); i++ {
		m.OrderBook(f, open.Add(time.Duration(i%(4*3600*8))*250*time.Millisecond), 20)
	}
}

func BenchmarkInfo(b *testing.B) {
	m := New(Config{Seed: 1})
	f := figi(b, m, "SBER")
	open := benchDay.Add(7 * time.Hour)
	for i := 0; b.Loop(); i++ {
		m.Info(f, open.Add(time.Duration(i%3600)*time.Second))
	}
}

// BenchmarkAllEventsOneMinute10k computes what the simulator streams in one
// minute for 10,000 instruments: every trade (one candle update each), the
// forming minute candle after each trade, a depth-20 book and an
// instrument_info per instrument. ns/event is the model's cost per event.
func BenchmarkAllEventsOneMinute10k(b *testing.B) {
	m := New(Config{Seed: 1, Instruments: 10_000})
	insts := m.Instruments()
	events := 0
	for i := 0; b.Loop(); i++ {
		minute := benchDay.Add(12*time.Hour + time.Duration(i)*time.Minute) // 15:00 Moscow, 08:00 New York onwards
		for _, in := range insts {
			trades := m.MinuteTrades(in.FIGI, minute)
			for _, tr := range trades {
				m.Candle(in.FIGI, tvbridge.Interval1Min, minute, tr.Time.Add(time.Nanosecond))
			}
			m.OrderBook(in.FIGI, minute.Add(30*time.Second), 20)
			m.Info(in.FIGI, minute.Add(30*time.Second))
			events += len(trades) + 2
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

// BenchmarkCandlesYearOfDays is a year of daily candles, cold (a fresh
// market each time) and warm.
func BenchmarkCandlesYearOfDays(b *testing.B) {
	now := benchDay.Add(12 * time.Hour)
	for _, ticker := range []string{"SBER", "BTC_USD"} {
		b.Run(ticker+"/cold", func(b *testing.B) {
			for b.Loop() {
				m := New(Config{Seed: 1})
				m.Candles(figi(b, m, ticker), tvbridge.IntervalDay, now.AddDate(-1, 0, 0), now, now)
			}
		})
		b.Run(ticker+"/warm", func(b *testing.B) {
			m := New(Config{Seed: 1})
			f := figi(b, m, ticker)
			m.Candles(f, tvbridge.IntervalDay, now.AddDate(-1, 0, 0), now, now)
			for b.Loop() {
				m.Candles(f, tvbridge.IntervalDay, now.AddDate(-1, 0, 0), now, now)
			}
		})
	}
}

func BenchmarkNew10k(b *testing.B) {
	for b.Loop() {
		New(Config{Seed: 1, Instruments: 10_000})
	}
}
