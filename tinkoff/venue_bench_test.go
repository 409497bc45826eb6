package tinkoff_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinkoff"
)

// BenchmarkVenueMarketOrderToFill measures, over loopback against the
// simulator, the time from Submit of a marketable order to its fill event
// on the Events channel of a running venue: the placement, the poll that
// Submit triggers (/orders and /operations) and the delivery. It reports
// the median and p99 of that latency.
func BenchmarkVenueMarketOrderToFill(b *testing.B) {
	r := newVenueRig(b, 1e12)
	// The clock steps 1s per order and operations are searched ±0.4s
	// around it, so each poll reads one operation, as in real use.
	v := r.venue(func(c *tinkoff.VenueConfig) {
		c.PollInterval = time.Hour
		c.ClockSkew = 400 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	// The session leaves about 24,000 one-second steps.
	if b.N > 20_000 {
		b.Fatalf("b.N = %d would run past the session; use -benchtime=Nx with N <= 20000", b.N)
	}
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		side := tvbridge.Buy
		if i%2 == 1 {
			side = tvbridge.Sell
		}
		start := time.Now()
		if _, err := v.Submit(ctx, r.account, order("b", side, tvbridge.MarketOrder, 1, 0)); err != nil {
			b.Fatalf("submit %d: %v", i, err)
		}
		select {
		case ev := <-v.Events():
			if ev.Kind != tvbridge.VenueFill {
				b.Fatalf("event %+v", ev)
			}
		case <-time.After(waitEvent):
			b.Fatal("no fill")
		}
		latencies = append(latencies, time.Since(start))
		r.clk.Advance(time.Second)
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
}
