package paper

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tvbridge"
)

// benchMarket serves the same deep book for every instrument, always fresh.
type benchMarket struct{ book tvbridge.OrderBook }

func (m benchMarket) Book(string) (tvbridge.OrderBook, time.Time, bool) {
	return m.book, time.Now(), true
}
func (benchMarket) Status(string) tvbridge.TradeStatus          { return tvbridge.StatusNormalTrading }
func (benchMarket) LastPrice(string) (float64, time.Time, bool) { return 0, time.Time{}, false }

func benchInstrument(figi string) (tvbridge.Instrument, bool) {
	return tvbridge.Instrument{FIGI: figi, Lot: 1, MinPriceIncrement: 0.01}, true
}

// startBench runs v with its events drained, until the benchmark ends.
func startBench(b *testing.B, v *Venue, drain bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = v.Run(ctx)
	}()
	if drain {
		go func() {
			for {
				select {
				case <-v.Events():
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	b.Cleanup(func() { cancel(); <-done })
}

// BenchmarkMatchTrades measures how many tape trades per second the venue
// matches with 20,000 resting orders over 1,000 instruments (10 buys below
// and 10 sells above 100 each). "cross%" is the share of trades that go
// through at least one order; those fill up to 3 of them partially.
func BenchmarkMatchTrades(b *testing.B) {
	for _, spread := range []float64{0, 0.2, 1.0} {
		b.Run(fmt.Sprintf("spread=%.1f", spread), func(b *testing.B) {
			benchMatchTrades(b, spread)
		})
	}
}

func benchMatchTrades(b *testing.B, spread float64) {
	const instruments, perSide = 1000, 10
	v := New(Config{Market: benchMarket{}, Instrument: benchInstrument, Logger: discard, SweepInterval: time.Hour})
	figis := make([]string, instruments)
	for i := range figis {
		figis[i] = fmt.Sprintf("BENCH%04d", i)
		for k := range perSide {
			step := 0.01 * float64(k+1)
			// Huge quantities: orders never fill completely, so the book
			// keeps its 20,000 orders for the whole run.
			v.rest(mustValidate(b, v, limit(fmt.Sprintf("%s-b%d", figis[i], k), figis[i], tvbridge.Buy, 1e9, 99.9-step)))
			v.rest(mustValidate(b, v, limit(fmt.Sprintf("%s-s%d", figis[i], k), figis[i], tvbridge.Sell, 1e9, 100.1+step)))
		}
	}
	// Trades around 100, spread wide either way; spread 0 never crosses.
	rng := rand.New(rand.NewPCG(1, 2))
	type tr struct {
		figi  string
		price float64
	}
	trades := make([]tr, 1<<16)
	crossing := 0
	for i := range trades {
		p := 100 + (rng.Float64()*2-1)*(0.1+spread)
		trades[i] = tr{figis[rng.IntN(instruments)], float64(int(p*100)) / 100}
		if p < 99.89 || p > 100.11 {
			crossing++
		}
	}
	startBench(b, v, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t := trades[i&(len(trades)-1)]
		v.onTrade(t.figi, t.price, 3, 0)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "trades/s")
	b.ReportMetric(100*float64(crossing)/float64(len(trades)), "cross%")
}

func mustValidate(b *testing.B, v *Venue, o tvbridge.VenueOrder) *resting {
	r, err := v.validate(AccountID("bench"), o)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkMarketOrderSubmitToFill measures from Submit to the first fill
// arriving on Events, with Run delivering and a 10-level book.
func BenchmarkMarketOrderSubmitToFill(b *testing.B) {
	var asks []tvbridge.PriceLevel
	for k := range 10 {
		asks = append(asks, tvbridge.PriceLevel{Price: 100 + 0.01*float64(k), Quantity: 1000})
	}
	v := New(Config{Market: benchMarket{tvbridge.OrderBook{Asks: asks}}, Instrument: benchInstrument,
		Logger: discard, SweepInterval: time.Hour})
	startBench(b, v, false)
	ctx, acct := context.Background(), AccountID("bench")
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := v.Submit(ctx, acct, market(fmt.Sprint(i), "BENCH", tvbridge.Buy, 5)); err != nil {
			b.Fatal(err)
		}
		if ev := <-v.Events(); ev.Kind != tvbridge.VenueFill {
			b.Fatalf("event %+v, want a fill", ev)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
}
