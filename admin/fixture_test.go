package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/clock"
	"tvbridge/tape"
)

// The console's test world: TradingView's real data endpoints (api.Handler
// on a real tape, over an in-memory history and a fake clock) and a
// test double of the trading endpoints that records what the console
// posts, behind the admin handler on a real loopback socket.

const (
	testSymbol = "TEST24" // trades around the clock
	testFIGI   = "TESTFIGI0001"
)

// testStart is the fake clock's start: 12:00:30 UTC, the 12:00 bar open.
var testStart = time.Date(2025, 3, 4, 12, 0, 30, 0, time.UTC)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// world is one admin listener with its API behind it.
type world struct {
	t       testing.TB
	clk     *clock.Fake
	tape    *tape.Tape
	history *testHistory
	trading *testTrading
	srv     *httptest.Server // the admin listener
}

// newWorld starts the admin handler of cfg (its API is filled in) on a
// loopback socket, with 30 one-minute bars of history before testStart's
// minute and that minute's open bar.
func newWorld(t testing.TB, cfg Config) *world {
	t.Helper()
	w := &world{t: t, clk: clock.NewFake(testStart), tape: tape.New(tape.Config{}),
		trading: newTestTrading()}
	w.history = &testHistory{clk: w.clk, wrong: map[time.Time]tvbridge.Bar{}}
	open := testStart.Truncate(time.Minute)
	for i := 30; i >= 0; i-- {
		p := 100 + float64(i%7)
		w.history.put(tvbridge.Bar{Time: open.Add(-time.Duration(i) * time.Minute),
			Open: p, High: p + 1, Low: p - 1, Close: p + 0.5, Volume: 10 + float64(i)})
	}
	cat, err := api.BuildCatalog([]tvbridge.Instrument{
		{FIGI: testFIGI, Ticker: testSymbol, Name: "Test 24x7", Type: tvbridge.Stock, Currency: "RUB", Lot: 1,
			MinPriceIncrement: 0.01, Exchange: "SIMX", Timezone: "Etc/UTC", Session: "24x7"},
		{FIGI: "TESTFIGI0002", Ticker: "OTHER", Name: "Other", Type: tvbridge.Stock, Currency: "RUB", Lot: 1,
			MinPriceIncrement: 0.01, Exchange: "SIMX", Timezone: "Etc/UTC", Session: "24x7"},
	}, api.CatalogOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	data := api.NewHandler(api.Config{Catalog: cat, History: w.history, Tape: w.tape, Clock: w.clk,
		Logger: quietLogger(), Heartbeat: time.Hour})
	mux := http.NewServeMux()
	for _, p := range []string{"/symbol_info", "/groups", "/history", "/streaming"} {
		mux.Handle(p, data)
	}
	mux.Handle("/", w.trading)
	cfg.API = mux
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	w.srv = httptest.NewServer(New(cfg))
	t.Cleanup(w.srv.Close)
	return w
}

// trade puts one trade on the tape, as the bar engine would, and into the
// history's minute bar, moving the clock to its time.
func (w *world) trade(at time.Time, price, size float64) {
	w.clk.Set(at)
	w.history.fold(at, price, size)
	w.tape.Append(tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: testFIGI, Symbol: testSymbol, Time: at,
		Price: price, Size: size})
}

// testHistory is the bar store behind /history: one instrument's minutes,
// with deliberately wrong bars served for some minutes.
type testHistory struct {
	clk   clock.Clock
	mu    sync.Mutex
	bars  []tvbridge.Bar             // ascending
	wrong map[time.Time]tvbridge.Bar // served instead of the true bar
}

func (h *testHistory) put(b tvbridge.Bar) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, found := slices.BinarySearchFunc(h.bars, b.Time, func(x tvbridge.Bar, t time.Time) int { return x.Time.Compare(t) })
	if found {
		h.bars[i] = b
		return
	}
	h.bars = slices.Insert(h.bars, i, b)
}

// fold adds a trade to its minute's bar.
func (h *testHistory) fold(at time.Time, p, s float64) {
	m := at.Truncate(time.Minute)
	h.mu.Lock()
	var b *tvbridge.Bar
	if n := len(h.bars); n > 0 && h.bars[n-1].Time.Equal(m) {
		b = &h.bars[n-1]
	}
	if b == nil {
		h.mu.Unlock()
		h.put(tvbridge.Bar{Time: m, Open: p, High: p, Low: p, Close: p, Volume: s})
		return
	}
	b.High, b.Low, b.Close, b.Volume = max(b.High, p), min(b.Low, p), p, b.Volume+s
	h.mu.Unlock()
}

func (h *testHistory) Minutes(_ context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []tvbridge.Bar
	if figi != testFIGI {
		return nil, nil
	}
	for _, b := range h.bars {
		if !b.Time.Before(from) && b.Time.Before(to) {
			if w, ok := h.wrong[b.Time]; ok {
				b = w
			}
			out = append(out, b)
		}
	}
	return out, nil
}

func (h *testHistory) Daily(context.Context, string, time.Time, time.Time) ([]tvbridge.Bar, error) {
	return nil, nil
}

func (h *testHistory) FirstBar(_ context.Context, figi string) (time.Time, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if figi != testFIGI || len(h.bars) == 0 {
		return time.Time{}, false, nil
	}
	return h.bars[0].Time, true, nil
}

func (h *testHistory) ClosedBefore(string) time.Time { return h.clk.Now().Truncate(time.Minute) }

// testTrading is a test double of the trading endpoints for the paper
// account A1: a fixed book and position, and the orders posted to it.
type testTrading struct {
	mu     sync.Mutex
	posted []url.Values // the forms of POST /accounts/A1/orders, with the query's requestId
	placed chan url.Values
	orders []map[string]any
}

func newTestTrading() *testTrading {
	return &testTrading{placed: make(chan url.Values, 16), orders: []map[string]any{}}
}

func (tt *testTrading) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ok := func(d any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"s": "ok", "d": d})
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/accounts":
		ok([]map[string]any{{"id": "A1", "name": "Paper A1", "type": "demo", "currency": "RUB"}})
	case r.Method == http.MethodGet && r.URL.Path == "/depth":
		ok(map[string]any{"asks": [][2]float64{{101, 5}, {102, 7}}, "bids": [][2]float64{{99, 4}, {98, 3}}})
	case r.Method == http.MethodGet && r.URL.Path == "/accounts/A1/positions":
		ok([]map[string]any{{"id": "P1", "instrument": testSymbol, "qty": 2, "side": "buy", "avgPrice": 100, "unrealizedPl": 1.5}})
	case r.Method == http.MethodGet && r.URL.Path == "/accounts/A1/orders":
		tt.mu.Lock()
		defer tt.mu.Unlock()
		ok(tt.orders)
	case r.Method == http.MethodPost && r.URL.Path == "/accounts/A1/orders":
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form := r.PostForm
		form.Set("requestId", r.URL.Query().Get("requestId"))
		tt.mu.Lock()
		tt.posted = append(tt.posted, form)
		id := fmt.Sprintf("O%d", len(tt.posted))
		qty, _ := strconv.ParseFloat(form.Get("qty"), 64)
		limit, _ := strconv.ParseFloat(form.Get("limitPrice"), 64)
		tt.orders = append(tt.orders, map[string]any{"id": id, "instrument": form.Get("instrument"),
			"qty": qty, "side": form.Get("side"), "type": form.Get("type"), "status": "working", "limitPrice": limit})
		tt.mu.Unlock()
		tt.placed <- form
		ok(map[string]string{"orderId": id})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"s":"error","errmsg":"no such endpoint"}`)
	}
}
