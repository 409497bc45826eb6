package check

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/clock"
	"tvbridge/openapi/openapitest"
)

// fakeBroker is a small, correct trading API for the smoke scenario, with
// switches for one defect each.
type fakeBroker struct {
	liveOnly        bool // only a live account
	forgetCancelled bool // cancelled orders vanish from /orders at once
	neverFill       bool // market orders stay working
	firstHalted     bool // AAA, the first instrument, is halted; BBB trades
	firstDear       bool // AAA costs more than the balance; BBB does not

	clk *clock.Fake
	mu  sync.Mutex
	ord []map[string]any
	pos map[string]float64 // instrument -> long qty
	exe []map[string]any
}

func (b *fakeBroker) handler() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, d any) {
		body := map[string]any{"s": "ok"}
		if d != nil {
			body["d"] = d
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) { ok(w, map[string]any{}) })
	mux.HandleFunc("GET /accounts", func(w http.ResponseWriter, r *http.Request) {
		accts := []map[string]any{{"id": "L1", "name": "Live", "type": "live", "config": map[string]any{}}}
		if !b.liveOnly {
			accts = append(accts, map[string]any{"id": "D1", "name": "Demo", "type": "demo", "config": map[string]any{"supportExecutions": true}})
		}
		ok(w, accts)
	})
	mux.HandleFunc("GET /accounts/D1/instruments", func(w http.ResponseWriter, r *http.Request) {
		insts := []map[string]any{{"name": "AAA", "description": "AAA Inc", "minTick": 0.01, "pipSize": 0.01, "pipValue": 1, "type": "stock"}}
		if b.firstHalted || b.firstDear {
			insts = append(insts, map[string]any{"name": "BBB", "description": "BBB Inc", "minTick": 0.05, "pipSize": 0.05,
				"pipValue": 1, "type": "stock"})
		}
		ok(w, insts)
	})
	mux.HandleFunc("GET /accounts/D1/state", func(w http.ResponseWriter, r *http.Request) {
		ok(w, map[string]any{"balance": 1000, "unrealizedPl": 0})
	})
	mux.HandleFunc("GET /quotes", func(w http.ResponseWriter, r *http.Request) {
		var quotes []map[string]any
		for _, n := range strings.Split(r.URL.Query().Get("symbols"), ",") {
			v := map[string]any{"ask": 100.02, "bid": 100}
			if b.firstHalted && n == "AAA" {
				v["halted"] = true
			}
			if b.firstDear && n == "AAA" {
				v = map[string]any{"ask": 5000.5, "bid": 5000}
			}
			quotes = append(quotes, map[string]any{"s": "ok", "n": n, "v": v})
		}
		ok(w, quotes)
	})
	mux.HandleFunc("GET /accounts/D1/orders", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		ok(w, b.ord)
	})
	mux.HandleFunc("POST /accounts/D1/orders", func(w http.ResponseWriter, r *http.Request) { ok(w, map[string]any{"orderId": b.place(r)}) })
	mux.HandleFunc("PUT /accounts/D1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		b.update(r.PathValue("id"), func(o map[string]any) {
			o["limitPrice"], _ = strconv.ParseFloat(r.FormValue("limitPrice"), 64)
		})
		ok(w, nil)
	})
	mux.HandleFunc("DELETE /accounts/D1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		b.update(r.PathValue("id"), func(o map[string]any) { o["status"] = "cancelled" })
		if b.forgetCancelled {
			b.mu.Lock()
			b.ord = b.ord[:len(b.ord)-1]
			b.mu.Unlock()
		}
		ok(w, nil)
	})
	mux.HandleFunc("GET /accounts/D1/positions", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		pos := []map[string]any{}
		for inst, q := range b.pos {
			pos = append(pos, map[string]any{"id": "P" + inst, "instrument": inst, "qty": q, "side": "buy", "avgPrice": 100.02})
		}
		ok(w, pos)
	})
	mux.HandleFunc("GET /accounts/D1/executions", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		ok(w, b.exe)
	})
	return mux
}

func (b *fakeBroker) place(r *http.Request) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := fmt.Sprintf("O%d", len(b.ord)+1)
	qty, _ := strconv.ParseFloat(r.FormValue("qty"), 64)
	o := map[string]any{"id": id, "instrument": r.FormValue("instrument"), "qty": qty, "side": r.FormValue("side"),
		"type": r.FormValue("type"), "status": "working"}
	if r.FormValue("type") == "limit" {
		o["limitPrice"], _ = strconv.ParseFloat(r.FormValue("limitPrice"), 64)
	}
	if r.FormValue("type") == "market" && !b.neverFill {
		o["status"], o["avgPrice"], o["filledQty"] = "filled", 100.02, qty
		sign := map[string]float64{"buy": 1, "sell": -1}[r.FormValue("side")]
		b.pos[r.FormValue("instrument")] += sign * qty
		if b.pos[r.FormValue("instrument")] == 0 {
			delete(b.pos, r.FormValue("instrument"))
		}
		b.exe = append(b.exe, map[string]any{"id": "E" + id, "instrument": r.FormValue("instrument"), "price": 100.02,
			"time": b.clk.Now().Unix(), "qty": qty, "side": r.FormValue("side"), "orderId": id, "isClose": sign < 0})
	}
	b.ord = append(b.ord, o)
	return id
}

func (b *fakeBroker) update(id string, f func(map[string]any)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.ord {
		if o["id"] == id {
			f(o)
		}
	}
}

func runTrading(t *testing.T, b *fakeBroker) *Report {
	t.Helper()
	b.clk = clock.NewFake(fakeStart)
	b.pos = map[string]float64{}
	hs := httptest.NewServer(b.handler())
	t.Cleanup(hs.Close)
	startDriver(t, b.clk, nil, nil)
	return run(t, Config{
		URL: hs.URL, Only: []string{"trading", "schema/trading"}, Clock: b.clk,
		Trading: &Trading{FillTimeout: 5 * time.Second}, Spec: openapitest.Spec(t),
	})
}

func TestTradingScenarioPasses(t *testing.T) {
	t.Parallel()
	b := &fakeBroker{}
	rep := runTrading(t, b)
	specMissing := openapitest.Spec(t) == nil
	requireAllPass(t, rep, func(name string) bool { return specMissing && name == "schema/trading" })
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pos) != 0 {
		t.Errorf("the scenario left positions open: %v", b.pos)
	}
	if res, _ := rep.Result("trading/accounts"); !strings.Contains(res.Reason, "D1") {
		t.Errorf("chose %q, want the demo account", res.Reason)
	}
}

// By default the scenario trades the first instrument whose quote is live:
// one whose market is closed now (halted) is passed over.
func TestTradingDefaultInstrumentIsLive(t *testing.T) {
	t.Parallel()
	b := &fakeBroker{firstHalted: true}
	rep := runTrading(t, b)
	specMissing := openapitest.Spec(t) == nil
	requireAllPass(t, rep, func(name string) bool { return specMissing && name == "schema/trading" })
	if res, _ := rep.Result("trading/instruments"); !strings.Contains(res.Reason, "trading BBB, the first with a live quote") {
		t.Errorf("instrument choice: %s", res.Reason)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.ord {
		if o["instrument"] != "BBB" {
			t.Errorf("an order in %v", o["instrument"])
		}
	}
}

// An instrument the demo account cannot pay for is passed over, so the
// checks' orders are not refused for funds (BTC_RUB on a small sandbox).
func TestTradingDefaultInstrumentIsAffordable(t *testing.T) {
	t.Parallel()
	b := &fakeBroker{firstDear: true}
	rep := runTrading(t, b)
	specMissing := openapitest.Spec(t) == nil
	requireAllPass(t, rep, func(name string) bool { return specMissing && name == "schema/trading" })
	if res, _ := rep.Result("trading/instruments"); !strings.Contains(res.Reason, "trading BBB, the first with a live quote the account can pay for") {
		t.Errorf("instrument choice: %s", res.Reason)
	}
}

func TestTradingDefects(t *testing.T) {
	cases := []struct {
		name string
		b    *fakeBroker
		want string
	}{
		{"no demo account", &fakeBroker{liveOnly: true}, "trading/accounts"},
		{"cancelled order not listed", &fakeBroker{forgetCancelled: true}, "trading/place-modify-cancel"},
		{"market order never fills", &fakeBroker{neverFill: true}, "trading/market-order"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := runTrading(t, tc.b)
			if res, _ := rep.Result(tc.want); res.Status != Fail {
				t.Errorf("%s: %s (%s), want fail\n%s", tc.want, res.Status, res.Reason, dump(rep))
			}
		})
	}
}

func TestTradingRefusesALiveAccount(t *testing.T) {
	t.Parallel()
	b := &fakeBroker{clk: clock.NewFake(fakeStart), pos: map[string]float64{}}
	hs := httptest.NewServer(b.handler())
	t.Cleanup(hs.Close)
	rep := run(t, Config{URL: hs.URL, Only: []string{"trading"}, Clock: b.clk, Trading: &Trading{Account: "L1"}})
	res, _ := rep.Result("trading/accounts")
	if res.Status != Fail || !strings.Contains(res.Reason, "refusing") {
		t.Fatalf("live account: %s %s", res.Status, res.Reason)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ord) != 0 {
		t.Fatalf("orders were placed on a live account: %v", b.ord)
	}
}
