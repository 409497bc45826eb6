package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"math"
	"strconv"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/bolt"
	"tvbridge/live"
	"tvbridge/openapi/openapitest"
	"tvbridge/paper"
	"tvbridge/tinvest"
	v2wire "tvbridge/tinvest/wire"
	"tvbridge/tradeapi"
	"tvbridge/trading"
)

// trader is the trading half of one bridge run: paper venue, manager, auth
// and the trading HTTP API, over real loopback HTTP.
type trader struct {
	store  *bolt.TradingStore
	mgr    *trading.Manager
	auth   *auth.Service
	http   *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

// startTrader starts the trading half as serve wires it: a paper venue
// with its default cash (roubles and dollars) unless paperCfg changes it,
// and the live rates of the catalogue's currency pairs.
func startTrader(t *testing.T, ex *exchange, b *bridge, dir string, users *auth.Store, paperCfg ...func(*paper.Config)) *trader {
	t.Helper()
	log := quietLog()
	lookup := b.catalog.Instrument
	var venue tvbridge.Venue
	if ex.v2 != nil {
		venue = v2Venue(t, ex, dir, lookup)
	} else {
		pc := paper.Config{Market: b.market, Tape: b.tape, Instrument: lookup, Clock: ex.clk, Logger: log}
		for _, f := range paperCfg {
			f(&pc)
		}
		venue = paper.New(pc)
	}
	rates := live.NewRates(b.market, b.catalog.CurrencyPairs())
	store, err := bolt.OpenTrading(filepath.Join(dir, "trading.db"), bolt.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := trading.New(trading.Config{Venue: venue, Market: b.market, Tape: b.tape, Store: store,
		Instrument: lookup, Rates: rates, Clock: ex.clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Store: users, Clock: ex.clk, Logger: log, Groups: b.catalog.Groups})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	trade := tradeapi.New(tradeapi.Config{Broker: mgr, Catalog: b.catalog, Market: b.market, Rates: rates, Clock: ex.clk, Logger: log})
	mux.Handle("/mapping", trade.Mapping())
	mux.Handle("/", svc.Protect(auth.Trading, trade))
	ctx, cancel := context.WithCancel(context.Background())
	tr := &trader{store: store, mgr: mgr, auth: svc, http: httptest.NewServer(mux), cancel: cancel, done: make(chan error, 1)}
	go func() { tr.done <- mgr.Run(ctx) }()
	return tr
}

// v2Venue is the T-Invest API v2 venue on the simulator's sandbox: alice
// and bob each get a sandbox account with roubles and dollars the first
// time, kept on the exchange across trader restarts; the idempotency-key
// namespace lives in dir, as serve keeps it beside trading.db.
func v2Venue(t *testing.T, ex *exchange, dir string, lookup func(string) (tvbridge.Instrument, bool)) *tinvest.Venue {
	t.Helper()
	client := tinvest.NewClient(tinvest.Config{BaseURL: ex.http.URL + "/rest/", Token: "t", Sandbox: true, Clock: ex.clk,
		Logger: quietLog(), TotalPerSecond: 1_000_000, Limits: map[string]int{tinvest.BucketSandbox: 1_000_000}})
	if ex.v2Users == nil {
		ex.v2Users = map[string][]string{}
		for _, user := range []string{"alice", "bob"} {
			id, err := client.OpenSandboxAccount(context.Background(), user)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []v2wire.MoneyValue{{Currency: "rub", Units: 1_000_000}, {Currency: "usd", Units: 10_000}} {
				if _, err := client.SandboxPayIn(context.Background(), id, m); err != nil {
					t.Fatal(err)
				}
			}
			ex.v2Users[user] = []string{id}
		}
	}
	ns, err := tinvest.LoadKeyNamespace(filepath.Join(dir, "tinvest-keys"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tinvest.NewVenue(tinvest.VenueConfig{Client: client, Users: ex.v2Users, Instrument: lookup, KeyNamespace: ns,
		Clock: ex.clk, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// stop ends the trading half as a process exit would.
func (tr *trader) stop(t *testing.T) {
	t.Helper()
	tr.http.Close()
	tr.cancel()
	if err := <-tr.done; err != nil {
		t.Errorf("trading manager: %v", err)
	}
	tr.mgr.Close()
	tr.auth.Close()
	if err := tr.store.Close(); err != nil {
		t.Error(err)
	}
}

// tvTrader is a TradingView browser session of one user.
type tvTrader struct {
	t     *testing.T
	base  string
	token string
}

func (c *tvTrader) do(method, path string, form url.Values) map[string]any {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		c.t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	v["_status"] = float64(resp.StatusCode)
	v["_raw"] = string(raw)
	return v
}

func (c *tvTrader) ok(method, path string, form url.Values, schema string) map[string]any {
	c.t.Helper()
	v := c.do(method, path, form)
	if v["s"] != "ok" {
		c.t.Fatalf("%s %s %v: %s", method, path, form, v["_raw"])
	}
	openapitest.Check(c.t, schema, []byte(v["_raw"].(string)))
	return v
}

func (c *tvTrader) fails(method, path string, form url.Values, wantMsg string) {
	c.t.Helper()
	v := c.do(method, path, form)
	if v["s"] != "error" || !strings.Contains(strings.ToLower(fmt.Sprint(v["errmsg"])), strings.ToLower(wantMsg)) {
		c.t.Fatalf("%s %s %v: got %s, want an error mentioning %q", method, path, form, v["_raw"], wantMsg)
	}
	openapitest.Check(c.t, "ErrorResponse", []byte(v["_raw"].(string)))
}

func login(t *testing.T, base, user, password string) *tvTrader {
	t.Helper()
	c := &tvTrader{t: t, base: base}
	v := c.ok("POST", "/authorize", url.Values{"login": {user}, "password": {password}}, "AuthorizeResponse")
	c.token = v["d"].(map[string]any)["access_token"].(string)
	return c
}

// orderByID returns the order with id from /orders, or nil.
func (c *tvTrader) order(acc, id string) map[string]any {
	c.t.Helper()
	for _, o := range c.ok("GET", "/accounts/"+acc+"/orders", nil, "OrdersResponse")["d"].([]any) {
		if m := o.(map[string]any); m["id"] == id {
			return m
		}
	}
	return nil
}

// TestTradingScenario runs a trader's day over loopback HTTP against the
// simulated exchange: log in, market and limit orders, modify, cancel,
// brackets, partial close, duplicate requestId, malformed requests, another
// user's account, and a restart in the middle that loses nothing.
func TestTradingScenario(t *testing.T) { tradingScenario(t, newExchange) }

// TestTradingScenarioV2 is the same on the T-Invest API v2 venue, against
// the v2 simulator's sandbox: orders go upstream, brackets are held by the
// core and triggered on the v2 stream's trades.
func TestTradingScenarioV2(t *testing.T) { tradingScenario(t, newExchangeV2) }

func tradingScenario(t *testing.T, newEx func(testing.TB, time.Time, int) *exchange) {
	if testing.Short() {
		t.Skip("end-to-end trading scenario; skipped with -short")
	}
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC) // MOEX main session
	ex := newEx(t, start, 0)
	dir := t.TempDir()
	b := startBridge(t, ex, dir, time.Hour)
	defer b.stop(t)

	users, err := auth.OpenStore(filepath.Join(dir, "auth.db"), auth.StoreOptions{NoSync: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()
	for _, u := range []string{"alice", "bob"} {
		if err := users.AddUser(u, []byte(u+"-secret-pw"), nil); err != nil {
			t.Fatal(err)
		}
	}
	tr := startTrader(t, ex, b, dir, users)

	sym, ok := b.catalog.Lookup("SBER")
	if !ok {
		t.Fatal("no SBER in the simulated catalogue")
	}
	figi := sym.Instrument.FIGI
	lot := float64(sym.Instrument.Lot)
	// Let the market run until the live book has SBER.
	advanceUntil(t, ex, func() bool { _, _, ok := b.market.Book(figi); return ok })

	alice := login(t, tr.http.URL, "alice", "alice-secret-pw")
	bob := login(t, tr.http.URL, "bob", "bob-secret-pw")
	acc := alice.ok("GET", "/accounts", nil, "AccountResponse")["d"].([]any)[0].(map[string]any)["id"].(string)
	bobAcc := bob.ok("GET", "/accounts", nil, "AccountResponse")["d"].([]any)[0].(map[string]any)["id"].(string)
	alice.ok("GET", "/config", nil, "ConfigResponse")
	alice.ok("GET", "/accounts/"+acc+"/instruments", nil, "InstrumentsResponse")
	alice.ok("GET", "/accounts/"+acc+"/state", nil, "AccountStateResponse")

	// Isolation: Bob cannot read or trade Alice's account.
	bob.fails("GET", "/accounts/"+acc+"/orders", nil, "account")
	bob.fails("POST", "/accounts/"+acc+"/orders", url.Values{"instrument": {"SBER"}, "qty": {fmt.Sprint(lot)},
		"side": {"buy"}, "type": {"market"}}, "account")
	if v := alice.do("GET", "/accounts/"+bobAcc+"/positions", nil); v["s"] != "error" {
		t.Fatalf("alice read bob's positions: %s", v["_raw"])
	}

	// Malformed requests get clear errors and place nothing.
	for _, bad := range []url.Values{
		{"instrument": {"SBER"}, "side": {"buy"}, "type": {"market"}},                               // no qty
		{"instrument": {"SBER"}, "qty": {"abc"}, "side": {"buy"}, "type": {"market"}},               // non-numeric
		{"instrument": {"NOPE"}, "qty": {fmt.Sprint(lot)}, "side": {"buy"}, "type": {"market"}},     // unknown
		{"instrument": {"SBER"}, "qty": {fmt.Sprint(lot)}, "side": {"up"}, "type": {"market"}},      // bad side
		{"instrument": {"SBER"}, "qty": {fmt.Sprint(lot)}, "side": {"buy"}, "type": {"limit"}},      // no price
		{"instrument": {"SBER"}, "qty": {fmt.Sprint(lot / 2)}, "side": {"buy"}, "type": {"market"}}, // part lot
		{"instrument": {"SBER"}, "qty": {"-10"}, "side": {"buy"}, "type": {"market"}},               // negative
	} {
		if v := alice.do("POST", "/accounts/"+acc+"/orders", bad); v["s"] != "error" {
			t.Errorf("malformed order %v accepted: %s", bad, v["_raw"])
		}
	}
	if v := alice.do("POST", "/accounts/"+acc+"/orders?locale=ru", url.Values{"instrument": {"NOPE"}, "qty": {"1"},
		"side": {"buy"}, "type": {"market"}}); v["s"] != "error" || !containsCyrillic(fmt.Sprint(v["errmsg"])) {
		t.Errorf("locale=ru error not in Russian: %s", v["_raw"])
	}
	if n := len(alice.ok("GET", "/accounts/"+acc+"/orders", nil, "OrdersResponse")["d"].([]any)); n != 0 {
		t.Fatalf("malformed requests placed %d orders", n)
	}

	// A market buy with brackets fills against the live book; its
	// brackets start working on the position.
	book, _, _ := b.market.Book(figi)
	ask := book.Asks[0].Price
	qty := 3 * lot
	marketBuy := url.Values{"instrument": {"SBER"}, "qty": {fmt.Sprint(qty)}, "side": {"buy"}, "type": {"market"},
		"stopLoss": {price(ask*0.8, sym)}, "takeProfit": {price(ask*1.2, sym)}}
	placed := alice.ok("POST", "/accounts/"+acc+"/orders?requestId=req-1", marketBuy, "PostOrderResponse")
	orderID := placed["d"].(map[string]any)["orderId"].(string)
	// The same request again returns the same order and places nothing;
	// the same requestId with other parameters is refused.
	again := alice.ok("POST", "/accounts/"+acc+"/orders?requestId=req-1", marketBuy, "PostOrderResponse")
	if id := again["d"].(map[string]any)["orderId"]; id != orderID {
		t.Fatalf("repeated requestId placed %v, first was %v", id, orderID)
	}
	alice.fails("POST", "/accounts/"+acc+"/orders?requestId=req-1&locale=ru", url.Values{"instrument": {"SBER"},
		"qty": {fmt.Sprint(qty)}, "side": {"buy"}, "type": {"market"}}, "отличается поле «Стоп-лосс»")
	advanceUntil(t, ex, func() bool { o := alice.order(acc, orderID); return o != nil && o["status"] == "filled" })
	positions := alice.ok("GET", "/accounts/"+acc+"/positions", nil, "PositionsResponse")["d"].([]any)
	if len(positions) != 1 {
		t.Fatalf("positions after the fill: %v", positions)
	}
	pos := positions[0].(map[string]any)
	if pos["qty"].(float64) != qty || pos["side"] != "buy" || pos["instrument"] != "SBER" {
		t.Fatalf("position %v, want buy %v SBER", pos, qty)
	}
	brackets := 0
	for _, o := range alice.ok("GET", "/accounts/"+acc+"/orders", nil, "OrdersResponse")["d"].([]any) {
		m := o.(map[string]any)
		if m["parentId"] != nil && m["status"] == "working" {
			brackets++
			if m["qty"].(float64) != qty {
				t.Errorf("bracket qty %v, want %v", m["qty"], qty)
			}
		}
	}
	if brackets != 2 {
		t.Fatalf("%d working brackets after the parent filled, want stop-loss and take-profit", brackets)
	}
	execs := alice.ok("GET", "/accounts/"+acc+"/executions?instrument=SBER", nil, "ExecutionsResponse")["d"].([]any)
	filled := 0.0
	for _, e := range execs {
		filled += e.(map[string]any)["qty"].(float64)
	}
	if filled != qty {
		t.Fatalf("executions sum to %v, want %v", filled, qty)
	}

	// A limit buy far below the market rests; modify it, then restart the
	// process in the middle; it is still there, and cancel works.
	limit := price(book.Bids[0].Price*0.7, sym)
	placed = alice.ok("POST", "/accounts/"+acc+"/orders", url.Values{"instrument": {"SBER"}, "qty": {fmt.Sprint(lot)},
		"side": {"buy"}, "type": {"limit"}, "limitPrice": {limit}, "durationType": {tvbridge.DurationGTC}}, "PostOrderResponse")
	limitID := placed["d"].(map[string]any)["orderId"].(string)
	if o := alice.order(acc, limitID); o == nil || o["status"] != "working" {
		t.Fatalf("resting limit order: %v", o)
	}
	alice.ok("PUT", "/accounts/"+acc+"/orders/"+limitID, url.Values{"qty": {fmt.Sprint(2 * lot)}, "limitPrice": {limit}}, "SuccessResponse")
	if o := alice.order(acc, limitID); o["qty"].(float64) != 2*lot {
		t.Fatalf("modified order: %v", o)
	}
	stateBefore := alice.ok("GET", "/accounts/"+acc+"/state", nil, "AccountStateResponse")["d"].(map[string]any)

	tr.stop(t)
	tr = startTrader(t, ex, b, dir, users)
	defer tr.stop(t)
	alice = login(t, tr.http.URL, "alice", "alice-secret-pw")
	if o := alice.order(acc, limitID); o == nil || o["status"] != "working" || o["qty"].(float64) != 2*lot {
		t.Fatalf("resting order after restart: %v", o)
	}
	if o := alice.order(acc, orderID); o == nil || o["status"] != "filled" {
		t.Fatalf("filled order after restart: %v", o)
	}
	stateAfter := alice.ok("GET", "/accounts/"+acc+"/state", nil, "AccountStateResponse")["d"].(map[string]any)
	if stateAfter["balance"] != stateBefore["balance"] {
		t.Fatalf("balance changed across restart: %v -> %v", stateBefore["balance"], stateAfter["balance"])
	}
	again = alice.ok("POST", "/accounts/"+acc+"/orders?requestId=req-1", marketBuy, "PostOrderResponse")
	if id := again["d"].(map[string]any)["orderId"]; id != orderID {
		t.Fatalf("requestId forgotten across restart: %v, first was %v", id, orderID)
	}
	alice.fails("POST", "/accounts/"+acc+"/orders?requestId=req-1", url.Values{"instrument": {"GAZP"},
		"qty": {"10"}, "side": {"buy"}, "type": {"market"}}, "request id \"req-1\" was already used for a different order (Instrument differs)")
	alice.ok("DELETE", "/accounts/"+acc+"/orders/"+limitID, nil, "SuccessResponse")
	if o := alice.order(acc, limitID); o == nil || o["status"] != "cancelled" {
		t.Fatalf("cancelled order: %v", o)
	}
	alice.fails("DELETE", "/accounts/"+acc+"/orders/"+limitID, nil, "")

	// Partial close, then close the rest: the brackets go with it.
	posID := pos["id"].(string)
	alice.ok("DELETE", "/accounts/"+acc+"/positions/"+posID, url.Values{"amount": {fmt.Sprint(lot)}}, "SuccessResponse")
	advanceUntil(t, ex, func() bool {
		ps := alice.ok("GET", "/accounts/"+acc+"/positions", nil, "PositionsResponse")["d"].([]any)
		return len(ps) == 1 && ps[0].(map[string]any)["qty"].(float64) == qty-lot
	})
	alice.ok("DELETE", "/accounts/"+acc+"/positions/"+posID, nil, "SuccessResponse")
	advanceUntil(t, ex, func() bool {
		return len(alice.ok("GET", "/accounts/"+acc+"/positions", nil, "PositionsResponse")["d"].([]any)) == 0
	})
	for _, o := range alice.ok("GET", "/accounts/"+acc+"/orders", nil, "OrdersResponse")["d"].([]any) {
		if m := o.(map[string]any); m["status"] == "working" || m["status"] == "inactive" {
			t.Errorf("order still %s after the position closed: %v", m["status"], m)
		}
	}
	state := alice.ok("GET", "/accounts/"+acc+"/state", nil, "AccountStateResponse")["d"].(map[string]any)
	if state["unrealizedPl"].(float64) != 0 || state["equity"] != state["balance"] {
		t.Errorf("flat account state %v", state)
	}
	if ex.v2 != nil {
		checkUpstreamTrades(t, ex, figi, []int64{int64(qty), -int64(lot), -int64(qty - lot)})
	}
}

// checkUpstreamTrades checks, on the v2 simulator, that alice's account
// traded exactly the given quantities of figi (in units, sells negative):
// a repeated requestId, a restart or a bracket never placed an
// order twice.
func checkUpstreamTrades(t *testing.T, ex *exchange, figi string, units []int64) {
	t.Helper()
	client := tinvest.NewClient(tinvest.Config{BaseURL: ex.http.URL + "/rest/", Token: "t", Sandbox: true, Clock: ex.clk, Logger: quietLog()})
	ops, err := client.Operations(context.Background(), ex.v2Users["alice"][0], ex.clk.Now().Add(-24*time.Hour), ex.clk.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, op := range ops {
		if op.FIGI != figi || op.State != v2wire.OperationStateExecuted {
			continue
		}
		switch op.OperationType {
		case v2wire.OperationTypeBuy:
			got = append(got, int64(op.Quantity))
		case v2wire.OperationTypeSell:
			got = append(got, -int64(op.Quantity))
		}
	}
	// The simulated clock barely moves: compare as sets, not in time order.
	slices.Sort(got)
	slices.Sort(units)
	if fmt.Sprint(got) != fmt.Sprint(units) {
		t.Errorf("upstream trades of %s: %v, want %v", figi, got, units)
	}
}

// advanceUntil moves the exchange clock in small steps, letting the stream
// deliver, until cond holds.
func advanceUntil(t *testing.T, ex *exchange, cond func() bool) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		if cond() {
			return
		}
		ex.clk.Advance(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond) // lets the loopback stream deliver; cond is the synchronisation
	}
	t.Fatalf("condition not met by %s", ex.clk.Now())
}

// price formats p rounded to sym's price grid.
func price(p float64, sym *api.Symbol) string {
	inc := sym.Instrument.MinPriceIncrement
	steps := math.Round(p / inc)
	return strconv.FormatFloat(steps*inc, 'f', decimals(inc), 64)
}

func decimals(inc float64) int {
	for d := 0; d < 9; d++ {
		if math.Abs(inc*math.Pow10(d)-math.Round(inc*math.Pow10(d))) < 1e-9 {
			return d
		}
	}
	return 9
}

func containsCyrillic(s string) bool {
	for _, r := range s {
		if r >= 'А' && r <= 'я' {
			return true
		}
	}
	return false
}
