package integration

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/auth"
	"tvbridge/bolt"
	"tvbridge/paper"
	"tvbridge/tradeapi"
	"tvbridge/trading"
	"tvbridge/web"
)

// BenchmarkTradingReadsChain is the CPU one polled trading read costs in
// serve's handler chain (CORS, routing, bearer-token auth or --auth none,
// the trading API and the manager), without the network: each endpoint
// next to a plain handler writing the same bytes and headers into the same
// writer. The difference is what the chain adds to every poll; the
// loopback comparison with wrk is scripts/tradereads (issue 14).
//
//	go test -run '^$' -bench TradingReadsChain -benchmem -count 5 ./integration/
func BenchmarkTradingReadsChain(b *testing.B) {
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newExchange(b, start, 0)
	dir := b.TempDir()
	br := startBridge(b, ex, dir, time.Hour)
	defer br.stop(b)
	sym, _ := br.catalog.Lookup("SBER")
	figi, lot := sym.Instrument.FIGI, float64(sym.Instrument.Lot)
	for i := 0; i < 3000; i++ {
		if _, _, ok := br.market.Book(figi); ok {
			break
		}
		ex.clk.Advance(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
	}
	book, _, ok := br.market.Book(figi)
	if !ok {
		b.Fatal("no book")
	}
	log := quietLog()
	venue := paper.New(paper.Config{Market: br.market, Tape: br.tape, Instrument: br.catalog.Instrument, Clock: ex.clk,
		Logger: log, StartingCash: 1e9})
	store, err := bolt.OpenTrading(filepath.Join(dir, "trading.db"), bolt.Options{Logger: log, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	mgr, err := trading.New(trading.Config{Venue: venue, Market: br.market, Tape: br.tape, Store: store,
		Instrument: br.catalog.Instrument, Clock: ex.clk, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer mgr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mgr.Run(ctx)
	users, err := auth.OpenStore(filepath.Join(dir, "auth.db"),
		auth.StoreOptions{NoSync: true, Logger: log, KDF: auth.KDF{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer users.Close()
	svc, err := auth.New(auth.Config{Store: users, Clock: ex.clk, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	if err := users.AddUser("bench", []byte("bench-password"), nil); err != nil {
		b.Fatal(err)
	}
	trade := tradeapi.New(tradeapi.Config{Broker: mgr, Catalog: br.catalog, Market: br.market, Clock: ex.clk, Logger: log})

	// serve's wiring (cmd/tvbridge/front.go): CORS around a mux with the
	// trading API behind auth at "/".
	stacks := map[string]http.Handler{}
	for _, mode := range []string{"on", "none"} {
		mux := http.NewServeMux()
		if mode == "on" {
			svc.Register(mux)
			mux.Handle("/", svc.Protect(auth.Trading, trade))
		} else {
			mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p := tvbridge.Principal{User: "bench", Scheme: auth.SchemeNone}
				trade.ServeHTTP(w, r.WithContext(tvbridge.WithPrincipal(r.Context(), p)))
			}))
		}
		stacks[mode] = web.CORS(web.CORSConfig{}, mux)
	}
	rec := httptest.NewRecorder()
	login := httptest.NewRequest(http.MethodPost, "/authorize",
		strings.NewReader(url.Values{"login": {"bench"}, "password": {"bench-password"}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	stacks["on"].ServeHTTP(rec, login)
	token := between(rec.Body.String(), `"access_token":"`, `"`)
	if token == "" {
		b.Fatalf("login: %s", rec.Body)
	}

	accs, err := mgr.Accounts(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	acc := accs[0].ID
	for try := 0; ; try++ {
		_, err := mgr.PlaceOrder(ctx, "bench", acc, tvbridge.OrderRequest{FIGI: figi, Side: tvbridge.Buy,
			Type: tvbridge.MarketOrder, Qty: lot, Duration: tvbridge.OrderDuration{Type: tvbridge.DurationDay}})
		if err == nil {
			break
		}
		if try > 1000 {
			b.Fatal(err)
		}
		ex.clk.Advance(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	inc := sym.Instrument.MinPriceIncrement
	far := math.Round(book.Bids[0].Price*0.5/inc) * inc
	for i := 0; i < 20; i++ {
		if _, err := mgr.PlaceOrder(ctx, "bench", acc, tvbridge.OrderRequest{FIGI: figi, Side: tvbridge.Buy,
			Type: tvbridge.LimitOrder, Qty: lot, LimitPrice: math.Round((far-float64(i)*inc)/inc) * inc,
			Duration: tvbridge.OrderDuration{Type: tvbridge.DurationGTC}}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 1000; i++ {
		if p, _ := mgr.Positions(ctx, "bench", acc); len(p) == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// --auth none acts as one fixed user (serve's "demo"; here the same user as with a token).
	paths := []struct{ name, path string }{
		{"orders", "/accounts/" + acc + "/orders"},
		{"positions", "/accounts/" + acc + "/positions"},
		{"state", "/accounts/" + acc + "/state"},
		{"quotes", "/quotes?accountId=" + acc + "&symbols=SBER,GAZP,LKOH"},
	}
	for _, mode := range []string{"on", "none"} {
		for _, p := range paths {
			req := httptest.NewRequest(http.MethodGet, p.path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Origin", "https://www.tradingview.com")
			w := &sinkWriter{}
			stacks[mode].ServeHTTP(w.reset(), req)
			if w.status != 200 || !strings.HasPrefix(string(w.body), `{"s":"ok"`) {
				b.Fatalf("%s %s: %d %s", mode, p.path, w.status, w.body)
			}
			if p.name == "orders" && strings.Count(string(w.body), `"id":`) != 21 {
				b.Fatalf("orders: %s", w.body)
			}
			body, header := w.body, w.h.Clone()
			plain := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				h := w.Header()
				for k, v := range header {
					h[k] = v
				}
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
			})
			for _, side := range []struct {
				name string
				h    http.Handler
			}{{"serve", stacks[mode]}, {"plain", plain}} {
				b.Run(fmt.Sprintf("auth=%s/%s/%s", mode, p.name, side.name), func(b *testing.B) {
					w := &sinkWriter{}
					b.ReportAllocs()
					for b.Loop() {
						side.h.ServeHTTP(w.reset(), req)
					}
				})
			}
		}
	}
}

// sinkWriter is a ResponseWriter that keeps the last response; reset gives
// it a new header map, as net/http does per request.
type sinkWriter struct {
	h      http.Header
	status int
	body   []byte
}

func (s *sinkWriter) reset() *sinkWriter {
	s.h, s.status, s.body = make(http.Header), 0, s.body[:0]
	return s
}

func (s *sinkWriter) Header() http.Header { return s.h }
func (s *sinkWriter) WriteHeader(c int) {
	if s.status == 0 {
		s.status = c
	}
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = 200
	}
	s.body = append(s.body, p...)
	return len(p), nil
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
