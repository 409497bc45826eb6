package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/jetstream"
	"tvbridge/jetstream/natstest"
	"tvbridge/replica"
	"tvbridge/tape"
)

// BenchmarkClusterPublishToStreaming measures, in cluster mode, the time
// from an event handed to the ingester's tape (replica.Outbox.Append, what
// the bar engine calls) to its /streaming line read by a client of another
// node, at 20,000 events a second (issue 13). The path is the real one:
// the Outbox coalesces what waits and publishes it with the fenced
// jetstream.Publisher (one NATS connection: the ingester's) to JetStream;
// a jetstream.Follower on a second NATS connection (the other node's)
// feeds its tape.Tape and hot minutes (jetstream.TapeFeeder with
// HotMinutes.Apply, as serve wires it); api.Handler serves that tape on
// /streaming over loopback HTTP to 4 clients (TradingView opens up to 4),
// goroutines of this process. The NATS server is the machine's
// (jetstream/natstest), sharing its cores.
//
// Events: 60 % trades, 40 % quotes over 100 instruments, paced 20 every
// millisecond; each Append publishes the instrument's open minute too, as
// the ingester does. Every trade has a unique size, so a client knows from
// its line which event it is: every client times every trade line (trades
// are never conflated) and must see every trade (trades_lost is the worst
// shortfall of a client). b.N is milliseconds of load; the first second is
// warm-up, not timed. GC at 400 % as serve runs it.
//
//	go test -run '^$' -bench ClusterPublishToStreaming -benchtime 20000x -count 3 ./integration/
func BenchmarkClusterPublishToStreaming(b *testing.B) {
	const (
		perMilli    = 20 // 20,000 events a second
		instruments = 100
		clients     = 4
		warmup      = 1000 // milliseconds
	)
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := natstest.URL(b)
	names := natstest.Stream(b, url)
	open := func(node string) *jetstream.Log {
		l, err := jetstream.Open(ctx, url, jetstream.Options{Stream: names.Stream, Subject: names.Prefix, NodeID: node, Logger: quietLog()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(l.Close)
		return l
	}
	ingester, other := open("ingester"), open("node2")

	// The ingester: Outbox over the fenced publisher.
	pub, err := ingester.NewPublisher(ctx, 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := pub.Claim(ctx); err != nil {
		b.Fatal(err)
	}
	failed := make(chan error, 1)
	ob := replica.NewOutbox(replica.OutboxConfig{Publisher: pub, Local: tape.New(tape.Config{}),
		OnFail: func(err error) { failed <- err }, Logger: quietLog()})
	minuteOpen := time.Now().Truncate(time.Minute)
	ob.SetOpenMinute(func(string) (tvbridge.Bar, bool) {
		return tvbridge.Bar{Time: minuteOpen, Open: 100, High: 101, Low: 99, Close: 100.5, Volume: 1000}, true
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); _ = ob.Run(ctx) }()

	// The other node: follower, tape, hot minutes, /streaming.
	tp := tape.New(tape.Config{})
	hot := &jetstream.HotMinutes{}
	feed := &jetstream.TapeFeeder{Tape: tp, Next: hot.Apply}
	f := other.NewFollower(jetstream.FollowerOptions{Apply: feed.Apply, Logger: quietLog()})
	wg.Add(1)
	go func() { defer wg.Done(); _ = f.Run(ctx) }()
	var insts []tvbridge.Instrument
	for i := range instruments {
		insts = append(insts, tvbridge.Instrument{FIGI: fmt.Sprintf("FIGI%04d", i), Ticker: fmt.Sprintf("SYM%d", i),
			Type: tvbridge.Stock, Currency: "RUB", MinPriceIncrement: 0.01, Lot: 1, Exchange: "MOEX", Timezone: "Etc/UTC", Session: "24x7"})
	}
	cat, err := api.BuildCatalog(insts, api.CatalogOptions{Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.NewHandler(api.Config{Catalog: cat, History: noHistory{}, Tape: tp, Logger: quietLog()}))
	defer srv.Close()

	events := b.N * perMilli
	trades := events * 3 / 5
	sent := make([]atomic.Int64, trades+1) // by trade number (its size), UnixNano of Append
	results := make([]streamClient, clients)
	for i := range results {
		c := &results[i]
		c.lat = make([]time.Duration, 0, trades)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/streaming", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		c.done, c.exited = make(chan struct{}), make(chan struct{})
		go c.read(resp, sent, min(warmup, b.N/2)*perMilli*3/5, trades)
	}

	b.ResetTimer()
	start := time.Now()
	trade := 0
	for ms := range b.N {
		if d := time.Until(start.Add(time.Duration(ms) * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		for k := range perMilli {
			ev := ms*perMilli + k
			in := insts[ev%instruments]
			t := tvbridge.Tick{FIGI: in.FIGI, Symbol: in.Ticker, Time: now.Truncate(time.Second), Received: now}
			if ev%5 < 3 {
				trade++
				t.Kind, t.Price, t.Size = tvbridge.TickTrade, 100+float64(ev%200)*0.01, float64(trade)
				sent[trade].Store(time.Now().UnixNano())
			} else {
				t.Kind, t.Bid, t.BidSize, t.Ask, t.AskSize = tvbridge.TickQuote, 100, 10, 100.01, float64(1+ev%50)
			}
			ob.Append(t)
		}
	}
	sendTime := time.Since(start)
	deadline := time.After(30 * time.Second)
wait:
	for i := range results {
		select {
		case <-results[i].done:
		case err := <-failed:
			b.Fatal(err)
		case <-deadline:
			b.Errorf("client %d: not every trade read within 30 s of the last", i)
			break wait
		}
	}
	b.StopTimer()
	cancel() // ends the connections
	for i := range results {
		<-results[i].exited
	}
	var all []time.Duration
	lost := 0
	for i := range results {
		all = append(all, results[i].lat...)
		lost = max(lost, trades-results[i].seen)
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(0.999), "p99.9-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(events)/sendTime.Seconds(), "events/s")
	b.ReportMetric(float64(lost), "trades_lost")
	b.ReportMetric(float64(ob.Published())/sendTime.Seconds(), "msgs/s")
	if ob.Dropped() > 0 {
		b.Errorf("the outbox dropped %d entries", ob.Dropped())
	}
}

// streamClient is one /streaming connection of the benchmark.
type streamClient struct {
	lat    []time.Duration // of trades after the warm-up
	seen   int             // trade lines read
	done   chan struct{}   // closed when every trade was read
	exited chan struct{}   // closed when read returns
}

var sizeKey = []byte(`,"s":`)

// read reads trade lines until the last trade's, timing those numbered
// above skip.
func (c *streamClient) read(resp *http.Response, sent []atomic.Int64, skip, last int) {
	defer close(c.exited)
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 1<<16)
	closed := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if !bytes.HasPrefix(line, tradePrefix) {
			continue
		}
		now := time.Now().UnixNano()
		i := bytes.Index(line, sizeKey)
		if i < 0 {
			continue
		}
		rest := line[i+len(sizeKey):]
		n, err := strconv.Atoi(string(rest[:bytes.IndexByte(rest, ',')]))
		if err != nil || n <= 0 || n > last {
			continue
		}
		c.seen++
		if n > skip {
			c.lat = append(c.lat, time.Duration(now-sent[n].Load()))
		}
		if c.seen == last && !closed {
			closed = true
			close(c.done)
		}
	}
}

// noHistory is an empty api.History: the benchmark serves /streaming only.
type noHistory struct{}

func (noHistory) Minutes(context.Context, string, time.Time, time.Time) ([]tvbridge.Bar, error) {
	return nil, nil
}
func (noHistory) Daily(context.Context, string, time.Time, time.Time) ([]tvbridge.Bar, error) {
	return nil, nil
}
func (noHistory) FirstBar(context.Context, string) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (noHistory) ClosedBefore(string) time.Time { return time.Time{} }
