package tinkoff

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"tvbridge/tinkoff/wire"

	"tvbridge"
)

// candlesBody is a /market/candles response with one day of 1-minute candles.
func candlesBody(from time.Time) []byte {
	var b strings.Builder
	b.WriteString(`{"trackingId":"t","status":"Ok","payload":{"figi":"BBG000B9XRY4","interval":"1min","candles":[`)
	for i := range 1440 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"figi":"BBG000B9XRY4","interval":"1min","o":123.45,"c":123.5,"h":124.01,"l":1.2301E+2,"v":%d,"time":%q}`,
			i%97+1, from.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	b.WriteString(`]}}`)
	return []byte(b.String())
}

// BenchmarkDecodeCandlesDay measures decoding and converting one full
// 1-minute response (the unit of backfill work), without the network.
func BenchmarkDecodeCandlesDay(b *testing.B) {
	from := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	body := candlesBody(from)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var payload wire.Candles
		if _, err := decodeResponse(200, body, &payload); err != nil {
			b.Fatal(err)
		}
		cs, err := convertCandles(payload.Candles, "BBG000B9XRY4", tvbridge.Interval1Min)
		if err != nil || len(mergeCandles(cs, from, from.Add(day))) != 1440 {
			b.Fatal(err)
		}
	}
}

// BenchmarkCandlesThreeDaysLoopback is Client.Candles end to end over a
// loopback server: three requests of 1440 candles, merged.
func BenchmarkCandlesThreeDaysLoopback(b *testing.B) {
	from := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	f := newFakeService(b)
	candleServer(b, f, from, time.Minute)
	c := NewClient(ClientConfig{BaseURL: f.srv.URL + "/openapi", MarketPerMinute: 1 << 30,
		Clock: testClock(), Logger: slog.New(slog.DiscardHandler)})
	b.ReportAllocs()
	for b.Loop() {
		got, err := c.Candles(context.Background(), "BBG000B9XRY4", from, from.Add(3*day), tvbridge.Interval1Min)
		if err != nil || len(got) != 3*1440 {
			b.Fatal(err, len(got))
		}
	}
}

// BenchmarkLimiterAcquire is the cost of the rate limiter when it need not wait.
func BenchmarkLimiterAcquire(b *testing.B) {
	clk := testClock()
	l := newLimiter(clk, 120, time.Minute)
	for b.Loop() {
		if l.tryAcquire() > 0 {
			clk.Advance(time.Minute)
		}
	}
}

// BenchmarkLimiterWait is the cost of a whole uncontended wait: the path
// every REST call takes while the bucket has room and nobody queues.
func BenchmarkLimiterWait(b *testing.B) {
	clk := testClock()
	l := newLimiter(clk, 120, time.Minute)
	ctx := context.Background()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := l.wait(ctx); err != nil {
			b.Fatal(err)
		}
		if n++; n == 120 {
			n = 0
			clk.Advance(time.Minute)
		}
	}
}
