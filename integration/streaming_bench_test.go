package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
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
	// Pongs go through the same writer: it owns the connection's writes.
	ws.SetPingHandler(func(data string) error {
		select {
		case c.out <- appendFrame(nil, websocket.PongMessage, []byte(data)):
		default:
		}
		return nil
	})
	go c.write(ws.UnderlyingConn())
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

// write sends the queued frames, as many as are waiting in one write, as a
// busy server's socket does. With a syscall per frame the emulated upstream
// took a fifth of the bridge's process's CPU, which is not the bridge's.
func (c *fhConn) write(conn net.Conn) {
	var buf []byte
	for frame := range c.out {
		buf = append(buf[:0], frame...)
		for more := true; more && len(buf) < 64<<10; {
			select {
			case frame := <-c.out:
				buf = append(buf, frame...)
			default:
				more = false
			}
		}
		if _, err := conn.Write(buf); err != nil {
			return
		}
	}
}

// appendFrame appends an unmasked (server to client) WebSocket frame.
func appendFrame(dst []byte, opcode int, payload []byte) []byte {
	dst = append(dst, 0x80|byte(opcode))
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
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
				case c.out <- appendFrame(nil, websocket.TextMessage, frame):
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
// Beside p50/p99 it reports where a tail comes from: append_p99 (frame read
// to tape), tape_p99 (frame read to a tape reader woken), and the Go
// scheduler's p99 wait to run in the bridge's and the clients' processes.
// TVBRIDGE_BENCH_CPUPROFILE=file profiles the bridge while it measures.
//
//	go test -run '^$' -bench StreamingLatency -benchtime 1x ./integration/
func BenchmarkStreamingLatency(b *testing.B) {
	for _, c := range []struct {
		clients  int
		window   time.Duration // 0: the adaptive default
		separate bool          // clients in a separate process, as TradingView's are
	}{
		{4, 0, true}, {104, 0, true}, {4, 0, false}, {104, 0, false},
		{104, 2 * time.Millisecond, true}, {104, 3 * time.Millisecond, true}, {104, 5 * time.Millisecond, true},
	} {
		where := "in-process"
		if c.separate {
			where = "own-process"
		}
		window := "adaptive"
		if c.window > 0 {
			window = c.window.String()
		}
		b.Run(fmt.Sprintf("connections=%d/flush=%s/clients=%s", c.clients, window, where), func(b *testing.B) {
			benchStreaming(b, c.clients, c.window, c.separate)
		})
	}
}

func benchStreaming(b *testing.B, clients int, flushWindow time.Duration, separate bool) {
	const (
		instruments = 1000
		rate        = 20000
		warmup      = 2 * time.Second
		measure     = 10 * time.Second
	)
	// The bridge's process runs with tvbridge serve's --gc-percent default.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
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
		timed := &timedTape{Tape: tp}
		svc, err := ingest.New(ingest.Config{Upstream: up, Store: store, Tape: timed, Instruments: specs, Logger: quietLog(),
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
		received := map[uint64]*stamp{} // line hash; the monitor's until it is done
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
					if st := received[hashLine(e.Line)]; st != nil {
						st.dup = true
					} else {
						received[hashLine(e.Line)] = &stamp{at: e.Tick.Received}
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

		gen := startLoad(b, apiSrv.URL, clients, separate)
		paceCtx, stopPace := context.WithCancel(ctx)
		go fh.pace(paceCtx)
		time.Sleep(warmup) // load-generator pacing, not synchronisation
		framesBefore := pool.Stats().FramesRead
		measuring.Store(true)
		timed.measuring.Store(true)
		gen.setMeasuring(true)
		b.ResetTimer()
		schedBefore := schedLatencies()
		stopProfile := profileCPU(b)
		time.Sleep(measure)
		stopProfile()
		schedP99 := schedLatencies().minus(schedBefore).quantile(0.99)
		measuring.Store(false)
		timed.measuring.Store(false)
		gen.setMeasuring(false)
		b.StopTimer()
		frames := pool.Stats().FramesRead - framesBefore
		stopPace()
		// Every client must get every trade the tape carried. Frames still
		// in flight add trades after this count; the clients stop reading
		// once they have it, so the loss is measured against it too.
		want := tapeTrades.Load()
		res, clientSched := gen.finish(want)
		cancel()
		apiSrv.CloseClientConnections()
		wg.Wait()
		<-monDone

		var lat []time.Duration
		lost, ambiguous := int64(0), 0
		for _, r := range res {
			for _, s := range r.Samples {
				st := received[s.Hash]
				if st == nil || st.dup {
					ambiguous++
					continue
				}
				lat = append(lat, time.Duration(s.At-st.at.UnixNano()))
			}
			lost = max(lost, want-r.Trades)
		}
		slices.Sort(lat)
		slices.Sort(tapeLag)
		slices.Sort(timed.lags)
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
		b.ReportMetric(float64(schedP99.Microseconds()), "sched_p99_µs")
		if separate {
			b.ReportMetric(float64(clientSched.Microseconds()), "client_sched_p99_µs")
		}
		if n := len(timed.lags); n > 0 {
			b.ReportMetric(float64(timed.lags[(n-1)*99/100].Microseconds()), "append_p99_µs")
		}
		b.ReportMetric(float64(len(lat))/measure.Seconds()/float64(clients), "timed_trades/s/client")
		b.ReportMetric(float64(tapeLines.Load())/measure.Seconds(), "tape_lines/s")
		stats := svc.Engine().Stats()
		b.Logf("queued in pool %d; frames %d, lines timed %d (ambiguous %d), tape trades %d, engine trades %d, quotes %d, stale books %d",
			pool.Stats().Queued, frames, len(lat), ambiguous, tapeTrades.Load(), stats.Trades, stats.Quotes, stats.BooksStale)
	}
}

type sample struct {
	Hash uint64
	At   int64 // wall-clock Unix nanoseconds: comparable across processes
}

type stamp struct {
	at  time.Time
	dup bool
}

// loadResult is what the load generator's process reports.
type loadResult struct {
	Clients  []clientResult
	SchedP99 time.Duration // its scheduler's p99 wait while measuring
}

// clientResult is what one /streaming client saw.
type clientResult struct {
	Samples []sample
	Trades  int64
}

var tradePrefix = []byte(`{"f":"t"`)

// readStream counts every trade line, and timestamps one in four while
// measuring. Trades are never conflated, so every client sees each of them.
func readStream(body io.Reader, measuring *atomic.Bool, trades *atomic.Int64, r *clientResult) {
	br := bufio.NewReaderSize(body, 1<<16)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if !bytes.HasPrefix(line, tradePrefix) {
			continue
		}
		if n := trades.Add(1); n%4 == 0 && measuring.Load() {
			r.Samples = append(r.Samples, sample{hashLine(line), time.Now().UnixNano()})
		}
	}
}

// load is a set of /streaming clients: goroutines of this process, or a
// child process running TestLoadGenerator (the same binary).
type load struct {
	b         *testing.B
	measuring atomic.Bool
	trades    []atomic.Int64
	results   []clientResult
	wg        sync.WaitGroup
	bodies    []io.Closer
	// own process
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader

	schedP99 time.Duration // own process: measured while measuring
}

func startLoad(b *testing.B, url string, clients int, separate bool) *load {
	l := &load{b: b, trades: make([]atomic.Int64, clients), results: make([]clientResult, clients)}
	if separate {
		l.cmd = exec.Command(os.Args[0], "-test.run=^TestLoadGenerator$", "-test.count=1")
		l.cmd.Env = append(os.Environ(), "TVBRIDGE_LOADGEN_URL="+url, fmt.Sprintf("TVBRIDGE_LOADGEN_CLIENTS=%d", clients))
		l.cmd.Stderr = os.Stderr
		var err error
		if l.stdin, err = l.cmd.StdinPipe(); err != nil {
			b.Fatal(err)
		}
		stdout, err := l.cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := l.cmd.Start(); err != nil {
			b.Fatal(err)
		}
		l.out = bufio.NewReader(stdout)
		if line, err := l.out.ReadString('\n'); err != nil || line != "ready\n" {
			b.Fatalf("load generator: %q, %v", line, err)
		}
		return l
	}
	if err := l.connect(url); err != nil {
		b.Fatal(err)
	}
	return l
}

// connect opens every client's /streaming connection and starts reading.
func (l *load) connect(url string) error {
	for i := range l.results {
		resp, err := http.Get(url + "/streaming")
		if err != nil {
			return err
		}
		l.bodies = append(l.bodies, resp.Body)
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			readStream(resp.Body, &l.measuring, &l.trades[i], &l.results[i])
		}(i)
	}
	return nil
}

func (l *load) setMeasuring(on bool) {
	if l.cmd != nil {
		fmt.Fprintln(l.stdin, map[bool]string{true: "start", false: "stop"}[on])
		return
	}
	l.measuring.Store(on)
}

// finish waits (up to 30 s) until every client has read want trades, then
// stops the clients and returns what they saw.
func (l *load) finish(want int64) ([]clientResult, time.Duration) {
	if l.cmd != nil {
		fmt.Fprintf(l.stdin, "finish %d\n", want)
		var res loadResult
		if err := json.NewDecoder(l.out).Decode(&res); err != nil {
			l.b.Fatalf("load generator results: %v", err)
		}
		l.stdin.Close()
		if err := l.cmd.Wait(); err != nil {
			l.b.Fatalf("load generator: %v", err)
		}
		return res.Clients, res.SchedP99
	}
	deadline := time.Now().Add(30 * time.Second)
	for !allRead(l.trades, want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the clients' counters; the deadline is a guard
	}
	for _, body := range l.bodies {
		body.Close()
	}
	l.wg.Wait()
	for i := range l.results {
		l.results[i].Trades = l.trades[i].Load()
	}
	return l.results, l.schedP99
}

func allRead(trades []atomic.Int64, want int64) bool {
	for i := range trades {
		if trades[i].Load() < want {
			return false
		}
	}
	return true
}

// TestLoadGenerator is the client process of BenchmarkStreamingLatency; it
// does nothing unless that benchmark started it. It opens the connections,
// says "ready", measures between "start" and "stop" on stdin, and after
// "finish N" waits for N trades on every connection and prints its results
// as JSON.
func TestLoadGenerator(t *testing.T) {
	url := os.Getenv("TVBRIDGE_LOADGEN_URL")
	if url == "" {
		t.Skip("run by BenchmarkStreamingLatency only")
	}
	clients, _ := strconv.Atoi(os.Getenv("TVBRIDGE_LOADGEN_CLIENTS"))
	l := &load{trades: make([]atomic.Int64, clients), results: make([]clientResult, clients)}
	if err := l.connect(url); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	var sched schedHist
	for in.Scan() {
		var want int64
		switch cmd := in.Text(); {
		case cmd == "start":
			l.measuring.Store(true)
			sched = schedLatencies()
		case cmd == "stop":
			l.measuring.Store(false)
			l.schedP99 = schedLatencies().minus(sched).quantile(0.99)
		case strings.HasPrefix(cmd, "finish "):
			want, _ = strconv.ParseInt(strings.TrimPrefix(cmd, "finish "), 10, 64)
			l.b = nil
			clients, sched := l.finish(want)
			if err := json.NewEncoder(os.Stdout).Encode(loadResult{clients, sched}); err != nil {
				t.Fatal(err)
			}
			return
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

// schedHist is the Go scheduler's histogram of how long goroutines waited
// to run after becoming runnable: in a saturated process it is where a
// streaming tail comes from.
type schedHist struct {
	counts  []uint64
	buckets []float64
}

func schedLatencies() schedHist {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	h := s[0].Value.Float64Histogram()
	return schedHist{counts: slices.Clone(h.Counts), buckets: h.Buckets}
}

func (h schedHist) minus(o schedHist) schedHist {
	d := schedHist{counts: slices.Clone(h.counts), buckets: h.buckets}
	for i := range d.counts {
		d.counts[i] -= o.counts[i]
	}
	return d
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h schedHist) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	want, seen := uint64(float64(total)*q), uint64(0)
	for i, c := range h.counts {
		if seen += c; seen > want {
			return time.Duration(h.buckets[i+1] * float64(time.Second))
		}
	}
	return 0
}

// timedTape records, while measuring, how long after its frame was read
// each tick reached the tape: the ingest part of the latency, without the
// wake-up of whoever reads the tape. Append has one caller, the event loop.
type timedTape struct {
	*tape.Tape
	measuring atomic.Bool
	lags      []time.Duration // read after the event loop has stopped
}

func (t *timedTape) Append(ticks ...tvbridge.Tick) {
	if t.measuring.Load() {
		now := time.Now()
		for _, tk := range ticks {
			t.lags = append(t.lags, now.Sub(tk.Received))
		}
	}
	t.Tape.Append(ticks...)
}

// profileCPU profiles the bridge's process while the benchmark measures,
// into the file TVBRIDGE_BENCH_CPUPROFILE names (go test's -cpuprofile
// would also take in setup and the analysis of the results).
func profileCPU(b *testing.B) (stop func()) {
	path := os.Getenv("TVBRIDGE_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
