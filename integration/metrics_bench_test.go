package integration

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/bolt"
	"tvbridge/live"
	"tvbridge/metrics"
	"tvbridge/paper"
	"tvbridge/tradeapi"
	"tvbridge/trading"
)

// Benchmarks of the metrics (issue 12):
//
//	go test -run '^$' -bench 'MetricsScrape' -benchtime 200x -count 5 ./integration/
//	go test -run '^$' -bench 'InstrumentationPaired' -count 5 ./integration/
//
// BenchmarkMetricsScrape: the whole bridge with 1,000 simulated instruments
// and 100 open /streaming connections, /metrics scraped over loopback and
// in process. BenchmarkInstrumentationPaired: the same requests to two
// servers over the same handlers, one bare and one behind the metrics
// middleware, interleaved on the same clients so both see the same machine
// load; it reports each side's mean time per request and the difference.

// BenchmarkMetricsScrape measures what one scrape costs at 1,000
// instruments and 100 /streaming connections: its time, its size and the
// allocations of the in-process variant. The simulator's clock stands
// still while it runs, so the bridge is idle and the allocations are the
// scrape's own.
func BenchmarkMetricsScrape(b *testing.B) {
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchange(b, start, 1000)
	dir := b.TempDir()
	br := startBridge(b, ex, dir, time.Hour)
	defer br.stop(b)
	o := startObserved(b, ex, br, dir)
	// Two minutes of market, so every instrument has frames, bars and ticks.
	for range 1200 {
		ex.clk.Advance(100 * time.Millisecond)
		time.Sleep(time.Millisecond) // paces the simulator; nothing waits on it
	}
	streams := openStreams(b, o.front.URL, 100)
	defer streams.close()
	for o.data.Stats().StreamsOpen < 100 {
		runtime.Gosched() // the connections register as their handlers start
	}
	reg := o.registry
	b.Run("loopback", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		defer client.CloseIdleConnections()
		var size int64
		for b.Loop() {
			resp, err := client.Get(o.admin.URL + "/metrics")
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			size = n
		}
		b.ReportMetric(float64(size), "bytes/scrape")
	})
	b.Run("in-process", func(b *testing.B) {
		h := reg.Handler()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		b.ReportAllocs()
		var size int
		for b.Loop() {
			w := &countingWriter{h: http.Header{}}
			h.ServeHTTP(w, req)
			size = w.n
		}
		b.ReportMetric(float64(size), "bytes/scrape")
	})
	own := o.sources
	own.NoRuntime = true
	for _, c := range []struct {
		name string
		reg  *metrics.Registry
	}{{"gather-all", reg}, {"gather-tvbridge", metrics.New(own)}} {
		// Collecting alone, without encoding: everything, and the tvbridge_
		// families without the Go runtime and process collectors.
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.reg.Gatherer().Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// countingWriter is a ResponseWriter that counts and drops the body.
type countingWriter struct {
	h http.Header
	n int
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *countingWriter) WriteHeader(int)             {}

// streams are /streaming connections read to nowhere.
type streams struct {
	resps []*http.Response
	wg    sync.WaitGroup
}

func openStreams(b *testing.B, base string, n int) *streams {
	b.Helper()
	s := &streams{}
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, DisableCompression: true}}
	for range n {
		resp, err := client.Get(base + "/streaming")
		if err != nil {
			b.Fatal(err)
		}
		s.resps = append(s.resps, resp)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); io.Copy(io.Discard, resp.Body) }()
	}
	return s
}

func (s *streams) close() {
	for _, r := range s.resps {
		r.Body.Close()
	}
	s.wg.Wait()
}

// BenchmarkInstrumentationPaired is the per-request cost of the metrics
// middleware on /history and on the trading polls, over loopback HTTP.
func BenchmarkInstrumentationPaired(b *testing.B) {
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchange(b, start, 0)
	dir := b.TempDir()
	br := startBridge(b, ex, dir, time.Hour)
	defer br.stop(b)
	for br.svc.Progress().InitialDone.Load() < int64(len(br.catalog.Symbols())) {
		ex.clk.Advance(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond) // paces the clock; the backfill's progress is the condition
	}
	plain, instr, acc := pairedServers(b, ex, br, dir)
	now := ex.clk.Now().Truncate(time.Minute).Unix()
	hour := fmt.Sprintf("/history?symbol=SBER&resolution=1&from=%d&to=%d", now-3600, now-180)
	for _, c := range []struct {
		name string
		path func(k int) string
	}{
		{"history", func(int) string { return hour }},
		{"history-sliding", func(k int) string {
			from := now - 3600 + int64(k%40)*60
			return fmt.Sprintf("/history?symbol=SBER&resolution=1&from=%d&to=%d", from, from+1800)
		}},
		{"orders", func(int) string { return "/accounts/" + acc + "/orders" }},
		{"positions", func(int) string { return "/accounts/" + acc + "/positions" }},
		{"state", func(int) string { return "/accounts/" + acc + "/state" }},
		{"quotes", func(int) string { return "/quotes?accountId=" + acc + "&symbols=SBER,GAZP" }},
	} {
		b.Run(c.name, func(b *testing.B) { pairedRequests(b, plain.URL, instr.URL, c.path) })
	}
}

// pairedServers starts the data and trading handlers twice over: bare, and
// behind the metrics middleware, as serve with --auth none wires them; the
// demo user holds a position and 20 working orders in SBER.
func pairedServers(b *testing.B, ex *exchange, br *bridge, dir string) (plain, instr *httptest.Server, acc string) {
	b.Helper()
	log := quietLog()
	sym, _ := br.catalog.Lookup("SBER")
	figi, lot := sym.Instrument.FIGI, float64(sym.Instrument.Lot)
	for i := 0; i < 3000; i++ {
		if _, _, ok := br.market.Book(figi); ok {
			break
		}
		ex.clk.Advance(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond) // lets the loopback stream deliver; the book is the condition
	}
	book, _, ok := br.market.Book(figi)
	if !ok {
		b.Fatal("no book")
	}
	lookup := br.catalog.Instrument
	rates := live.NewRates(br.market, br.catalog.CurrencyPairs())
	venue := paper.New(paper.Config{Market: br.market, Tape: br.tape, Instrument: lookup, Clock: ex.clk, Logger: log})
	store, err := bolt.OpenTrading(filepath.Join(dir, "trading.db"), bolt.Options{Logger: log, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	mgr, err := trading.New(trading.Config{Venue: venue, Market: br.market, Tape: br.tape, Store: store,
		Instrument: lookup, Rates: rates, Clock: ex.clk, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done; mgr.Close() })
	accs, err := mgr.Accounts(ctx, "demo")
	if err != nil {
		b.Fatal(err)
	}
	acc = accs[0].ID
	if _, err := mgr.PlaceOrder(ctx, "demo", acc, tvbridge.OrderRequest{FIGI: figi, Side: tvbridge.Buy,
		Type: tvbridge.MarketOrder, Qty: lot}); err != nil {
		b.Fatal(err)
	}
	inc := sym.Instrument.MinPriceIncrement
	far := math.Round(book.Bids[0].Price*0.5/inc) * inc
	for i := range 20 {
		if _, err := mgr.PlaceOrder(ctx, "demo", acc, tvbridge.OrderRequest{FIGI: figi, Side: tvbridge.Buy,
			Type: tvbridge.LimitOrder, Qty: lot, LimitPrice: math.Round((far-float64(i)*inc)/inc) * inc,
			Duration: tvbridge.OrderDuration{Type: tvbridge.DurationGTC}}); err != nil {
			b.Fatal(err)
		}
	}
	data := api.NewHandler(api.Config{Catalog: br.catalog, History: br.svc, Tape: br.tape, Clock: ex.clk, Logger: log})
	trade := tradeapi.New(tradeapi.Config{Broker: mgr, Catalog: br.catalog, Market: br.market, Rates: rates, Clock: ex.clk, Logger: log})
	mux := http.NewServeMux()
	for _, p := range []string{"/symbol_info", "/groups", "/history", "/streaming"} {
		mux.Handle(p, demoUser(data))
	}
	mux.Handle("/", demoUser(trade))
	reg := metrics.New(metrics.Sources{API: data, Trading: mgr, Tape: br.tape})
	plain, instr = httptest.NewServer(mux), httptest.NewServer(reg.HTTP(mux))
	b.Cleanup(plain.Close)
	b.Cleanup(instr.Close)
	return plain, instr, acc
}

// demoUser is serve's --auth none: every request acts as user demo.
func demoUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := tvbridge.Principal{User: "demo", Scheme: auth.SchemeNone}
		next.ServeHTTP(w, r.WithContext(tvbridge.WithPrincipal(r.Context(), p)))
	})
}

// pairedRequests sends each request to both servers from one client, in
// alternating order, and reports each side's median and mean time per
// request and the instrumented side's extra time in percent, by medians
// (a request the scheduler put aside lands on either side at random and
// moves the means by more than the middleware costs). One client at a
// time: with several, the times measure the queue on two cores.
func pairedRequests(b *testing.B, plainURL, instrURL string, path func(int) string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	defer client.CloseIdleConnections()
	for _, base := range []string{plainURL, instrURL} { // warm the caches and connections
		fetchOK(b, client, base+path(0))
		fetchOK(b, client, base+path(0))
	}
	var took [2][]time.Duration // plain, instrumented
	bases := [2]string{plainURL, instrURL}
	i := 0
	for b.Loop() {
		for j := range 2 {
			side := (i + j) % 2 // alternate which side goes first
			began := time.Now()
			fetchOK(b, client, bases[side]+path(i))
			took[side] = append(took[side], time.Since(began))
		}
		i++
	}
	var med, mean [2]float64
	for side, ds := range took {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		mean[side] = float64(sum) / float64(len(ds))
		slices.Sort(ds)
		med[side] = float64(ds[len(ds)/2])
	}
	b.ReportMetric(med[0]/1e3, "plain-p50-µs")
	b.ReportMetric(med[1]/1e3, "instr-p50-µs")
	b.ReportMetric(100*(med[1]/med[0]-1), "overhead-p50-%")
	b.ReportMetric(100*(mean[1]/mean[0]-1), "overhead-mean-%")
}

func fetchOK(b *testing.B, client *http.Client, u string) {
	resp, err := client.Get(u)
	if err != nil {
		b.Error(err)
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || n < 10 {
		b.Errorf("GET %s: %d, %d bytes, %v", u, resp.StatusCode, n, err)
	}
}
