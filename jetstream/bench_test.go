package jetstream

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/jetstream/natstest"
	"tvbridge/tape"
)

const benchBatch = 20 // ticks per message, as the bar engine emits them in bursts

// BenchmarkPublish: synchronous, fenced publishes of 20-tick batches as
// fast as one publisher goes (one round trip each).
//
//	go test -run XXX -bench Publish -benchtime 5000x ./jetstream/
func BenchmarkPublish(b *testing.B) {
	url := natstest.URL(b)
	n := natstest.Stream(b, url)
	l := testLog(b, url, n, "bench")
	p := newPublisher(b, l, 1)
	r := rand.New(rand.NewPCG(1, 1))
	batches := make([][]tvbridge.Tick, 64)
	for i := range batches {
		batches[i] = genTicks(r, benchBatch, time.Now())
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := p.Publish(ctx, batches[i%len(batches)], nil); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, "msgs/s")
	b.ReportMetric(float64(b.N*benchBatch)/el, "ticks/s")
}

// BenchmarkEndToEnd publishes 20,000 ticks/s in batches of 20 (1,000
// messages/s, paced) and measures, per tick, the time from the start of the
// Publish call to the moment its /streaming line can be read from the tape
// of a follower on another connection (decode, Tape.Append, reader wake-up
// included). b.N is the number of messages.
//
//	go test -run XXX -bench EndToEnd -benchtime 10000x ./jetstream/
func BenchmarkEndToEnd(b *testing.B) {
	url := natstest.URL(b)
	n := natstest.Stream(b, url)
	pl := testLog(b, url, n, "ingester")
	fl := testLog(b, url, n, "node")
	p := newPublisher(b, pl, 1)

	tp := tape.New(tape.Config{Capacity: 1 << 18})
	reader := tp.NewReader()
	feeder := &TapeFeeder{Tape: tp}
	f := fl.NewFollower(FollowerOptions{Apply: feeder.Apply})
	runFollower(b, f)

	total := b.N * benchBatch
	lat := make([]time.Duration, 0, total)
	readDone := make(chan error, 1)
	go func() {
		buf := make([]tvbridge.TapeEntry, 0, 1024)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*time.Millisecond+30*time.Second)
		defer cancel()
		for len(lat) < total {
			var err error
			buf, err = reader.Next(ctx, buf[:0])
			if err != nil {
				readDone <- err
				return
			}
			now := time.Now()
			for _, e := range buf {
				lat = append(lat, now.Sub(e.Tick.Received))
			}
		}
		readDone <- nil
	}()

	r := rand.New(rand.NewPCG(2, 2))
	batches := make([][]tvbridge.Tick, 64)
	for i := range batches {
		batches[i] = genTicks(r, benchBatch, time.Now())
	}
	const interval = time.Millisecond // 1,000 messages/s = 20,000 ticks/s
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		batch := batches[i%len(batches)]
		sent := time.Now()
		for k := range batch {
			batch[k].Received = sent
		}
		if err := p.Publish(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	sendTime := time.Since(start)
	if err := <-readDone; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(total)/sendTime.Seconds(), "ticks/s")
}

// BenchmarkCatchUp: a follower applies a backlog of 20-tick messages into
// an in-process tape as fast as it can (a node starting, or one that fell
// behind). b.N is the number of messages.
//
//	go test -run XXX -bench CatchUp -benchtime 20000x ./jetstream/
func BenchmarkCatchUp(b *testing.B) {
	url := natstest.URL(b)
	n := natstest.Stream(b, url)
	l := testLog(b, url, n, "ingester")
	p := newPublisher(b, l, 1)
	r := rand.New(rand.NewPCG(3, 3))
	batch := genTicks(r, benchBatch, time.Now())
	fillBacklog(b, l, p.enc.encode(batch, nil, nil), b.N)

	tp := tape.New(tape.Config{})
	feeder := &TapeFeeder{Tape: tp}
	done := make(chan struct{})
	want := uint64(b.N)
	f := l.NewFollower(FollowerOptions{Apply: func(bt Batch) error {
		err := feeder.Apply(bt)
		if bt.Seq == want {
			close(done)
		}
		return err
	}})
	b.ResetTimer()
	start := time.Now()
	runFollower(b, f)
	<-done
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, "msgs/s")
	b.ReportMetric(float64(b.N*benchBatch)/el, "ticks/s")
}

// BenchmarkTrades: a new trading owner's replay of the trades after its
// predecessor's mark (Log.Trades), b.N messages of benchBatch ticks.
func BenchmarkTrades(b *testing.B) {
	url := natstest.URL(b)
	n := natstest.Stream(b, url)
	l := testLog(b, url, n, "ingester")
	p := newPublisher(b, l, 1)
	r := rand.New(rand.NewPCG(4, 4))
	batch := genTicks(r, benchBatch, time.Now())
	fillBacklog(b, l, p.enc.encode(batch, nil, nil), b.N)
	trades := 0
	b.ResetTimer()
	start := time.Now()
	err := l.Trades(context.Background(), 0, Position(uint64(b.N)+1, 0)-1, func(uint64, tvbridge.Tick) { trades++ })
	el := time.Since(start).Seconds()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el, "msgs/s")
	b.ReportMetric(float64(b.N*benchBatch)/el, "ticks/s")
	b.ReportMetric(float64(trades)/el, "trades/s")
}

// fillBacklog stores n copies of payload with pipelined publishes (not the
// fenced path: this is setup), in rounds the client lets be outstanding.
func fillBacklog(b *testing.B, l *Log, payload []byte, n int) {
	b.Helper()
	js := l.JetStream()
	payload = append([]byte(nil), payload...)
	for i := 0; i < n; i++ {
		if _, err := js.PublishAsync(l.DataSubject(), payload); err != nil {
			b.Fatal(err)
		}
		if (i+1)%2048 == 0 || i == n-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(60 * time.Second):
				b.Fatal("backlog not stored within 60s")
			}
		}
	}
}
