package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"tvbridge"

	"tvbridge/clock"
	"tvbridge/tinkoff/wire"
)

// Benchmarks of the hot path; the target is 300,000 candle or order-book
// frames per second decoded and delivered on one core:
//
//	go test -run '^$' -bench . -cpu 1 -count 5 ./tinkoff/stream/
//
// Frames differ from one another (64 instruments, changing values) so that
// duplicate suppression does not short-cut the work.

const benchFIGIs = 64

// candleFrames are updates of growing candles: each instrument's frames
// walk through 16 minutes with volume rising inside each minute.
func candleFrames() [][]byte {
	frames := make([][]byte, 4096)
	perFIGI := len(frames) / benchFIGIs
	for i := range frames {
		k := i / benchFIGIs // this frame's index among its instrument's frames
		minute := k * 16 / perFIGI
		frames[i] = fmt.Appendf(nil, `{"event":"candle","time":"2024-03-04T10:%02d:%02d.%09dZ","payload":{"o":%.4f,"c":%.4f,"h":%.4f,"l":%.4f,"v":%d,"time":"2024-03-04T10:%02d:00Z","interval":"1min","figi":"BBG%09d"}}`,
			minute, i%60, i*7919%1000000000, 250.1, 250.1+float64(i%7)/100, 251.75, 249.9925, 1000+k, minute, i%benchFIGIs)
	}
	return frames
}

func bookFrames(depth int) [][]byte {
	frames := make([][]byte, 4096)
	for i := range frames {
		var bids, asks []string
		for l := range depth {
			bids = append(bids, fmt.Sprintf("[%.2f,%d]", 250.0-float64(l)/100-float64(i%13)/100, 1+(i+l)%50))
			asks = append(asks, fmt.Sprintf("[%.2f,%d]", 250.01+float64(l)/100, 1+(i*3+l)%70))
		}
		frames[i] = fmt.Appendf(nil, `{"event":"orderbook","time":"2024-03-04T10:00:01.%09dZ","payload":{"figi":"BBG%09d","depth":%d,"bids":[%s],"asks":[%s]}}`,
			i*7919%1000000000, i%benchFIGIs, depth, strings.Join(bids, ","), strings.Join(asks, ","))
	}
	return frames
}

func benchDecode(b *testing.B, frames [][]byte) {
	d := newDecoder()
	var f frame
	var bytes int64
	n := 0
	for b.Loop() {
		data := frames[n%len(frames)]
		if err := d.decode(data, &f); err != nil {
			b.Fatal(err)
		}
		bytes += int64(len(data))
		n++
	}
	b.SetBytes(bytes / int64(n))
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkDecodeCandle(b *testing.B)      { benchDecode(b, candleFrames()) }
func BenchmarkDecodeOrderBook10(b *testing.B) { benchDecode(b, bookFrames(10)) }
func BenchmarkDecodeOrderBook20(b *testing.B) { benchDecode(b, bookFrames(20)) }

// BenchmarkDecodeCandleEncodingJSON is the reflection-based alternative, for
// comparison: envelope first, then the payload by event name.
func BenchmarkDecodeCandleEncodingJSON(b *testing.B) {
	frames := candleFrames()
	n := 0
	for b.Loop() {
		var env wire.StreamEnvelope
		if err := json.Unmarshal(frames[n%len(frames)], &env); err != nil {
			b.Fatal(err)
		}
		var c wire.CandlePayload
		if err := json.Unmarshal(env.Payload, &c); err != nil {
			b.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339Nano, c.Time); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "frames/s")
}

// benchDeliver runs the reader's whole path after the socket: decode,
// watchdog bookkeeping, duplicate check, output stage, Events channel, and
// a consumer goroutine that receives every event. A consumer that falls
// behind (on one core it only runs when the reader is preempted) gets
// coalesced events, as in production; "delivered/s" counts what it received.
func benchDeliver(b *testing.B, frames [][]byte) {
	p := New(Config{URL: "ws://127.0.0.1:1/unused", Clock: clock.Real{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()
	var received atomic.Int64
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for range p.Events() {
			received.Add(1)
		}
	}()
	for i := range benchFIGIs { // watched instruments, as if subscribed
		p.inst.track(fmt.Sprintf("BBG%09d", i), time.Now())
	}
	dec := newDecoder()
	var f frame
	n := 0
	start := time.Now()
	for b.Loop() {
		if n%len(frames) == 0 && n > 0 {
			// Each pass over the frames is a fresh set of candles: the
			// stream's time never goes back, the replay loop's does.
			for i := range benchFIGIs {
				p.out.forget(tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: fmt.Sprintf("BBG%09d", i), Interval: tvbridge.Interval1Min})
			}
		}
		p.handleFrame(0, dec, &f, frames[n%len(frames)], time.Now())
		n++
	}
	st := p.Stats()
	want := int64(n) - st.Duplicates - st.Coalesced
	for received.Load() < want {
		time.Sleep(time.Millisecond) // the consumer drains what is left
	}
	elapsed := time.Since(start) // decoded and delivered, drain included
	cancel()
	<-runDone
	<-consumerDone
	if st.BadFrames != 0 || st.Duplicates != 0 {
		b.Fatalf("bad frames %d, duplicates %d: the benchmark frames are wrong", st.BadFrames, st.Duplicates)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(received.Load())/elapsed.Seconds(), "delivered/s")
}

func BenchmarkDecodeDeliverCandle(b *testing.B)      { benchDeliver(b, candleFrames()) }
func BenchmarkDecodeDeliverOrderBook10(b *testing.B) { benchDeliver(b, bookFrames(10)) }
func BenchmarkDecodeDeliverOrderBook20(b *testing.B) { benchDeliver(b, bookFrames(20)) }
