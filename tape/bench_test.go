package tape

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"tvbridge"
)

// benchTicks is a realistic mix: per symbol a quote, a trade, a quote, a
// trade and now and then a daily bar.
func benchTicks(n int) []tvbridge.Tick {
	ticks := make([]tvbridge.Tick, n)
	for i := range ticks {
		sym := fmt.Sprintf("SYM%02d", i%50)
		switch {
		case i%16 == 15:
			ticks[i] = daily(sym, 100+float64(i%7))
		case i%2 == 0:
			ticks[i] = quote(sym, 100+float64(i%7)*0.01)
		default:
			ticks[i] = trade(sym, 100+float64(i%7)*0.01)
		}
	}
	return ticks
}

// BenchmarkAppend measures one producer appending ticks one by one and in
// batches, with no readers: the producer-side cost per entry (encoding
// included).
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			tp := New(Config{})
			ticks := benchTicks(1024)
			b.ReportAllocs()
			start := time.Now()
			n := 0
			for b.Loop() {
				i := n % len(ticks)
				tp.Append(ticks[i : i+batch]...)
				n += batch
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "entries/s")
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/entry")
		})
	}
}

// BenchmarkFanOut104 measures one producer feeding 104 readers (26
// TradingView clients with 4 connections each) as fast as they can go. The
// producer holds back when the slowest reader is half a ring behind, so the
// number is sustained throughput rather than how fast readers get lapped.
// Conflation is off so that every reader copies every entry.
func BenchmarkFanOut104(b *testing.B) {
	const readers, batch = 104, 8
	tp := New(Config{ConflateAfter: -1})
	ticks := benchTicks(1024)
	rs := make([]*Reader, readers)
	for i := range rs {
		rs[i] = tp.NewReader()
	}
	total := uint64(b.N) * batch

	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, r := range rs {
		wg.Go(func() { drain(b, r, total) })
	}
	for i := 0; i < b.N; i++ {
		if i%512 == 0 {
			waitForReaders(tp, rs, uint64(tp.Capacity()/2))
		}
		j := (i * batch) % len(ticks)
		tp.Append(ticks[j : j+batch]...)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(total*readers), "ns/entry/reader")
}

// drain reads r until it has consumed Seq total, touching every line as a
// writer would.
func drain(b *testing.B, r *Reader, total uint64) {
	buf := make([]tvbridge.TapeEntry, 0, 256)
	bytes := 0
	for r.Stats().Cursor < total {
		var err error
		buf, err = r.Next(context.Background(), buf[:0])
		if err != nil {
			b.Error(err)
			return
		}
		for _, e := range buf {
			bytes += len(e.Line)
		}
	}
	if bytes == 0 {
		b.Error("no bytes read")
	}
}

// waitForReaders yields until every reader is at most maxLag entries behind.
func waitForReaders(tp *Tape, rs []*Reader, maxLag uint64) {
	for {
		last := tp.LastSeq()
		behind := false
		for _, r := range rs {
			if last-r.Stats().Cursor > maxLag {
				behind = true
				break
			}
		}
		if !behind {
			return
		}
		runtime.Gosched()
	}
}

// BenchmarkLatency20k104 paces a producer at the target load, 20,000 ticks/s
// in 1 ms batches of 20, to 104 readers and reports the delay from Append to
// a reader holding the entry: p50, p99 and max over every entry and reader.
// Each op is one tick, so b.N/20000 seconds of wall time.
func BenchmarkLatency20k104(b *testing.B) {
	const readers, perMilli = 104, 20
	tp := New(Config{})
	ticks := benchTicks(1000)
	rs := make([]*Reader, readers)
	for i := range rs {
		rs[i] = tp.NewReader()
	}
	total := uint64(b.N / perMilli * perMilli)
	delays := make([][]time.Duration, readers)

	var wg sync.WaitGroup
	for i, r := range rs {
		delays[i] = make([]time.Duration, 0, total)
		wg.Go(func() { delays[i] = measure(b, r, total, delays[i]) })
	}
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	batch := make([]tvbridge.Tick, perMilli)
	for sent := uint64(0); sent < total; sent += perMilli {
		<-tick.C
		now := time.Now()
		for k := range batch {
			batch[k] = ticks[(sent+uint64(k))%uint64(len(ticks))]
			batch[k].Received = now
		}
		tp.Append(batch...)
	}
	tick.Stop()
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(delays...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max-µs")
}

// measure reads r up to Seq total and records each entry's delay since its
// tick was appended.
func measure(b *testing.B, r *Reader, total uint64, out []time.Duration) []time.Duration {
	buf := make([]tvbridge.TapeEntry, 0, 256)
	for r.Stats().Cursor < total {
		var err error
		buf, err = r.Next(context.Background(), buf[:0])
		if err != nil {
			b.Error(err)
			return out
		}
		now := time.Now()
		for _, e := range buf {
			out = append(out, now.Sub(e.Tick.Received))
		}
	}
	return out
}
