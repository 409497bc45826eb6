package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/ingest"
	"tvbridge/tape"
	"tvbridge/tinkoff/stream"
	"tvbridge/tinkoff/wire"
)

// firehose is a Tinkoff v1 stream server that sends candle and order-book
// frames for whatever is subscribed at a fixed total rate, so the bridge's
// own latency can be measured under a known load.
type firehose struct {
	rate  int // frames a second, across all connections
	mu    sync.Mutex
	conns []*fhConn
	sent  atomic.Int64
}

type fhConn struct {
	ws    *websocket.Conn
	mu    sync.Mutex
	figis []string
	out   chan []byte
}

func (f *firehose) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fhConn{ws: ws, out: make(chan []byte, 1<<16)}
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	go func() {
		for frame := range c.out {
			if ws.WriteMessage(websocket.TextMessage, frame) != nil {
				return
			}
		}
	}()
	for {
		var req wire.StreamRequest
		if err := ws.ReadJSON(&req); err != nil {
			return
		}
		if req.Event == "candle:subscribe" {
			c.mu.Lock()
			c.figis = append(c.figis, req.FIGI)
			c.mu.Unlock()
		}
	}
}

// pace sends frames until ctx is done: every millisecond, rate/1000 frames
// round-robin over (connection, instrument), alternating candles and books.
func (f *firehose) pace(ctx context.Context) {
	type state struct{ minute, v, c float64 }
	states := map[string]*state{}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	i := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds()*float64(f.rate)) - f.sent.Load()
			f.mu.Lock()
			conns := slices.Clone(f.conns)
			f.mu.Unlock()
			for ; due > 0 && len(conns) > 0; due-- {
				c := conns[i%len(conns)]
				c.mu.Lock()
				if len(c.figis) == 0 {
					c.mu.Unlock()
					i++
					continue
				}
				figi := c.figis[(i/len(conns))%len(c.figis)]
				c.mu.Unlock()
				st := states[figi]
				minute := float64(now.Truncate(time.Minute).Unix())
				if st == nil || st.minute != minute {
					st = &state{minute: minute, c: 100}
					states[figi] = st
				}
				var frame []byte
				if i%2 == 0 {
					st.v += float64(1 + (i/2)%97) // varied sizes keep trade lines distinct
					st.c += float64(i%7-3) * 0.01
					frame = candleFrame(figi, now, st.minute, st.c, st.v)
				} else {
					frame = bookFrame(figi, now, st.c, i)
				}
				select {
				case c.out <- frame:
					f.sent.Add(1)
				default: // the client is not reading: that is its problem
				}
				i++
			}
		}
	}
}

func candleFrame(figi string, now time.Time, minute, c, v float64) []byte {
	// Open and extremes are derived from the close so the candle stays valid.
	o, h, l := 100.0, max(100.0, c+0.05), min(100.0, c-0.05)
	b := make([]byte, 0, 256)
	b = append(b, `{"event":"candle","time":"`...)
	b = now.UTC().AppendFormat(b, wire.TimeLayout)
	b = append(b, `","payload":{"o":`...)
	b = appendPrice(b, o)
	b = append(b, `,"c":`...)
	b = appendPrice(b, c)
	b = append(b, `,"h":`...)
	b = appendPrice(b, h)
	b = append(b, `,"l":`...)
	b = appendPrice(b, l)
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, `,"time":"`...)
	b = time.Unix(int64(minute), 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","interval":"1min","figi":"`...)
	b = append(b, figi...)
	return append(b, `"}}`...)
}

func bookFrame(figi string, now time.Time, c float64, i int) []byte {
	bid := c - 0.01*float64(1+i%3)
	b := make([]byte, 0, 192)
	b = append(b, `{"event":"orderbook","time":"`...)
	b = now.UTC().AppendFormat(b, wire.TimeLayout)
	b = append(b, `","payload":{"figi":"`...)
	b = append(b, figi...)
	b = append(b, `","depth":1,"bids":[[`...)
	b = appendPrice(b, bid)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(1+i%50), 10)
	b = append(b, `]],"asks":[[`...)
	b = appendPrice(b, c+0.01)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(1+i%40), 10)
	return append(b, `]]}}`...)
}

// appendPrice writes x rounded to whole cents.
func appendPrice(b []byte, x float64) []byte {
	return strconv.AppendFloat(b, float64(int64(x*100+0.5))/100, 'f', -1, 64)
}

// firehoseUpstream is a tvbridge.MarketData made of the real stream pool and
// a synthetic catalogue (no REST history: nothing to backfill).
type firehoseUpstream struct {
	*stream.Pool
	insts []tvbridge.Instrument
}

func (u firehoseUpstream) Instruments(context.Context) ([]tvbridge.Instrument, error) {
	return u.insts, nil
}

func (u firehoseUpstream) Candles(context.Context, string, time.Time, time.Time, tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	return nil, nil
}

func (u firehoseUpstream) OrderBook(context.Context, string, int) (tvbridge.OrderBook, error) {
	return tvbridge.OrderBook{}, nil
}

// BenchmarkStreamingLatency measures, for 4 TradingView connections plus 100
// more, the time from an upstream frame being read off the socket to the
// /streaming line it caused being read by each client, at 20,000 upstream
// frames a second over 1,000 instruments; and counts trades any client lost.
//
//	go test -run '^$' -bench StreamingLatency -benchtime 1x ./integration/
func BenchmarkStreamingLatency(b *testing.B) {
	for _, c := range []struct {
		clients int
		window  time.Duration
	}{{4, 2 * time.Millisecond}, {104, 2 * time.Millisecond}, {104, 5 * time.Millisecond}} {
		b.Run(fmt.Sprintf("connections=%d/flush=%s", c.clients, c.window), func(b *testing.B) {
			benchStreaming(b, c.clients, c.window)
		})
	}
}

func benchStreaming(b *testing.B, clients int, flushWindow time.Duration) {
	const (
		instruments = 1000
		rate        = 20000
		warmup      = 2 * time.Second
		measure     = 10 * time.Second
	)
	for n := 0; n < b.N; n++ {
		fh := &firehose{rate: rate}
		hs := httptest.NewServer(fh)
		defer hs.Close()
		insts := make([]tvbridge.Instrument, instruments)
		specs := make([]bars.InstrumentSpec, instruments)
		for i := range insts {
			insts[i] = tvbridge.Instrument{FIGI: fmt.Sprintf("BBGFH%07d", i), Ticker: fmt.Sprintf("FH%04d", i), Name: "firehose",
				Type: tvbridge.Stock, Currency: "RUB", Lot: 1, MinPriceIncrement: 0.01, Exchange: "SIMX", Timezone: "Etc/UTC", Session: "24x7"}
			specs[i] = bars.InstrumentSpec{Instrument: insts[i], Symbol: insts[i].Ticker, Schedule: tvbridge.MustSchedule("24x7", "Etc/UTC")}
		}
		pool := stream.New(stream.Config{URL: "ws" + hs.URL[4:], Token: "t", MaxPerConnection: 200, Logger: quietLog()})
		up := firehoseUpstream{Pool: pool, insts: insts}
		store, err := bolt.Open(filepath.Join(b.TempDir(), "bars.db"), bolt.Options{Logger: quietLog()})
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		tp := tape.New(tape.Config{})
		svc, err := ingest.New(ingest.Config{Upstream: up, Store: store, Tape: tp, Instruments: specs, Logger: quietLog(),
			BackfillDepth: time.Hour, BookDepth: 1})
		if err != nil {
			b.Fatal(err)
		}
		catalog, err := api.BuildCatalog(insts, api.CatalogOptions{Logger: quietLog()})
		if err != nil {
			b.Fatal(err)
		}
		apiSrv := httptest.NewServer(api.NewHandler(api.Config{Catalog: catalog, History: svc, Tape: tp, Logger: quietLog(), FlushWindow: flushWindow}))
		defer apiSrv.Close()

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); pool.Run(ctx) }()
		go func() { defer wg.Done(); svc.Run(ctx) }()

		// The monitor reads the tape itself to learn each line's receipt
		// time. A line that occurs twice is ambiguous and not timed.
		received := sync.Map{} // line hash -> *stamp
		var tapeTrades, tapeLines atomic.Int64
		var tapeLag []time.Duration // receipt to the monitor reading it off the tape
		measuring := atomic.Bool{}
		mon := tp.Subscribe()
		monDone := make(chan struct{})
		go func() {
			defer close(monDone)
			buf := make([]tvbridge.TapeEntry, 0, 512)
			for {
				es, err := mon.Next(ctx, buf[:0])
				if err != nil {
					return
				}
				now := time.Now()
				for _, e := range es {
					if st, loaded := received.LoadOrStore(hashLine(e.Line), &stamp{at: e.Tick.Received}); loaded {
						st.(*stamp).dup = true
					}
					if e.Tick.Kind == tvbridge.TickTrade {
						tapeTrades.Add(1)
					}
					if measuring.Load() {
						tapeLines.Add(1)
						tapeLag = append(tapeLag, now.Sub(e.Tick.Received))
					}
				}
			}
		}()

		results := make([]clientResult, clients)
		for i := range results {
			resp, err := http.Get(apiSrv.URL + "/streaming")
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func(r *clientResult) {
				defer wg.Done()
				defer resp.Body.Close()
				r.read(resp, &measuring)
			}(&results[i])
		}
		paceCtx, stopPace := context.WithCancel(ctx)
		go fh.pace(paceCtx)
		time.Sleep(warmup) // load-generator pacing, not synchronisation
		framesBefore := pool.Stats().FramesRead
		measuring.Store(true)
		b.ResetTimer()
		time.Sleep(measure)
		measuring.Store(false)
		b.StopTimer()
		frames := pool.Stats().FramesRead - framesBefore
		stopPace()
		// Every client must get every trade the tape carried.
		deadline := time.Now().Add(30 * time.Second)
		for !allTrades(results, tapeTrades.Load()) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		apiSrv.CloseClientConnections()
		wg.Wait()
		<-monDone

		var lat []time.Duration
		lost, ambiguous := int64(0), 0
		for i := range results {
			r := &results[i]
			for _, s := range r.samples {
				st, ok := received.Load(s.hash)
				if !ok || st.(*stamp).dup {
					ambiguous++
					continue
				}
				lat = append(lat, s.at.Sub(st.(*stamp).at))
			}
			lost = max(lost, tapeTrades.Load()-r.trades.Load())
		}
		slices.Sort(lat)
		slices.Sort(tapeLag)
		if len(lat) == 0 || len(tapeLag) == 0 {
			b.Fatal("no latency samples")
		}
		pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
		tpct := func(p float64) time.Duration { return tapeLag[int(float64(len(tapeLag)-1)*p)] }
		b.ReportMetric(float64(frames)/measure.Seconds(), "upstream_frames/s")
		b.ReportMetric(float64(pct(0.5).Microseconds()), "p50_µs")
		b.ReportMetric(float64(pct(0.99).Microseconds()), "p99_µs")
		b.ReportMetric(float64(pct(0.999).Microseconds()), "p99.9_µs")
		b.ReportMetric(float64(tpct(0.5).Microseconds()), "tape_p50_µs")
		b.ReportMetric(float64(tpct(0.99).Microseconds()), "tape_p99_µs")
		b.ReportMetric(float64(lost), "max_trades_lost_per_client")
		b.ReportMetric(float64(len(lat))/measure.Seconds()/float64(clients), "lines/s/client")
		b.ReportMetric(float64(tapeLines.Load())/measure.Seconds(), "tape_lines/s")
		stats := svc.Engine().Stats()
		b.Logf("queued in pool %d; frames %d, lines timed %d (ambiguous %d), tape trades %d, engine trades %d, quotes %d, stale books %d",
			pool.Stats().Queued, frames, len(lat), ambiguous, tapeTrades.Load(), stats.Trades, stats.Quotes, stats.BooksStale)
	}
}

type sample struct {
	hash uint64
	at   time.Time
}

type stamp struct {
	at  time.Time
	dup bool
}

type clientResult struct {
	samples []sample
	trades  atomic.Int64
}

func allTrades(rs []clientResult, want int64) bool {
	for i := range rs {
		if rs[i].trades.Load() < want {
			return false
		}
	}
	return true
}

var tradePrefix = []byte(`{"f":"t"`)

// read counts every trade line, and timestamps some while measuring.
func (r *clientResult) read(resp *http.Response, measuring *atomic.Bool) {
	br := bufio.NewReaderSize(resp.Body, 1<<16)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if !bytes.HasPrefix(line, tradePrefix) {
			continue
		}
		// Trades are never conflated, so every client sees each of them;
		// timing one in four keeps the clients' own cost down.
		if n := r.trades.Add(1); n%4 == 0 && measuring.Load() {
			r.samples = append(r.samples, sample{hashLine(line), time.Now()})
		}
	}
}

// hashLine is FNV-1a, inline so the 104 clients do not allocate per line.
func hashLine(l []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range l {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
