package tradeapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/clock"
	"tvbridge/openapi/openapitest"
)

const (
	sberFIGI = "BBG004730N88"
	aaplFIGI = "BBG000B9XRY4"
	usdFIGI  = "BBG0013HGFT4"
	bondFIGI = "BBG00HY8RN76"
)

var fixtureNow = time.Date(2024, 3, 8, 12, 0, 0, 0, time.UTC)

func fixtureInstruments() []tvbridge.Instrument {
	moex := func(i tvbridge.Instrument) tvbridge.Instrument {
		i.Exchange, i.Timezone, i.Session = "MOEX", "Europe/Moscow", "1000-1840:23456"
		return i
	}
	return []tvbridge.Instrument{
		moex(tvbridge.Instrument{FIGI: sberFIGI, Ticker: "SBER", Name: "Сбер Банк", Type: tvbridge.Stock,
			Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01}),
		moex(tvbridge.Instrument{FIGI: usdFIGI, Ticker: "USD000UTSTOM", Name: "Доллар США", Type: tvbridge.Currency,
			Currency: "RUB", Lot: 1000, MinPriceIncrement: 0.0025}),
		moex(tvbridge.Instrument{FIGI: bondFIGI, Ticker: "SU26238RMFS4", Name: "ОФЗ 26238", Type: tvbridge.Bond,
			Currency: "RUB", Lot: 1, MinPriceIncrement: 0.005}),
		{FIGI: aaplFIGI, Ticker: "AAPL", Name: "Apple", Type: tvbridge.Stock, Currency: "USD", Lot: 1,
			MinPriceIncrement: 0.01, Exchange: "SPB", Timezone: "America/New_York", Session: "0930-1600:23456"},
	}
}

func fixtureCatalog(t testing.TB) *api.Catalog {
	t.Helper()
	cat, err := api.BuildCatalog(fixtureInstruments(), api.CatalogOptions{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// brokerCall is one recorded Broker call.
type brokerCall struct {
	Method, User, Account, ID, FIGI string
	Req                             tvbridge.OrderRequest
	Brackets                        tvbridge.Brackets
	Qty                             float64
	Max                             int
}

// fakeBroker is a Broker with canned answers. Like the real one, it
// refuses accounts the user does not own with ErrUnknownAccount.
type fakeBroker struct {
	mu        sync.Mutex
	calls     []brokerCall
	accounts  map[string][]tvbridge.Account // by user
	orders    []tvbridge.Order
	history   []tvbridge.Order
	positions []tvbridge.Position
	execs     []tvbridge.Execution
	state     tvbridge.AccountState
	preview   tvbridge.OrderPreview
	placed    tvbridge.Order
	fail      map[string]error // method -> error it returns
	panics    string           // method that panics
}

func newFakeBroker() *fakeBroker {
	return &fakeBroker{
		accounts: map[string][]tvbridge.Account{
			"alice": {{ID: "A1", Owner: "alice", Name: "Paper", Type: tvbridge.DemoAccount, Currency: "RUB"}},
			"bob":   {{ID: "B1", Owner: "bob", Name: "Bob's", Type: tvbridge.LiveAccount, Currency: "USD"}},
		},
		fail: map[string]error{},
	}
}

// enter records a call and returns the error to answer with, if any.
func (b *fakeBroker) enter(c brokerCall) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, c)
	if b.panics == c.Method {
		panic("fake broker: " + c.Method)
	}
	if err := b.fail[c.Method]; err != nil {
		return err
	}
	if c.Method != "Accounts" && !slices.ContainsFunc(b.accounts[c.User], func(a tvbridge.Account) bool { return a.ID == c.Account }) {
		return &tvbridge.TradingError{Code: tvbridge.ErrUnknownAccount, Detail: "no such account " + c.Account}
	}
	return nil
}

func (b *fakeBroker) Calls() []brokerCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// Called returns the recorded calls of one method.
func (b *fakeBroker) Called(method string) []brokerCall {
	var out []brokerCall
	for _, c := range b.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (b *fakeBroker) Accounts(_ context.Context, user string) ([]tvbridge.Account, error) {
	if err := b.enter(brokerCall{Method: "Accounts", User: user}); err != nil {
		return nil, err
	}
	return b.accounts[user], nil
}

func (b *fakeBroker) State(_ context.Context, user, acct string) (tvbridge.AccountState, error) {
	err := b.enter(brokerCall{Method: "State", User: user, Account: acct})
	return b.state, err
}

func (b *fakeBroker) Orders(_ context.Context, user, acct string) ([]tvbridge.Order, error) {
	err := b.enter(brokerCall{Method: "Orders", User: user, Account: acct})
	return b.orders, err
}

func (b *fakeBroker) OrdersHistory(_ context.Context, user, acct string, n int) ([]tvbridge.Order, error) {
	err := b.enter(brokerCall{Method: "OrdersHistory", User: user, Account: acct, Max: n})
	return b.history, err
}

func (b *fakeBroker) PlaceOrder(_ context.Context, user, acct string, req tvbridge.OrderRequest) (tvbridge.Order, error) {
	err := b.enter(brokerCall{Method: "PlaceOrder", User: user, Account: acct, Req: req})
	return b.placed, err
}

func (b *fakeBroker) ModifyOrder(_ context.Context, user, acct, id string, req tvbridge.OrderRequest) (tvbridge.Order, error) {
	err := b.enter(brokerCall{Method: "ModifyOrder", User: user, Account: acct, ID: id, Req: req})
	return tvbridge.Order{ID: id}, err
}

func (b *fakeBroker) CancelOrder(_ context.Context, user, acct, id string) error {
	return b.enter(brokerCall{Method: "CancelOrder", User: user, Account: acct, ID: id})
}

func (b *fakeBroker) PreviewOrder(_ context.Context, user, acct string, req tvbridge.OrderRequest) (tvbridge.OrderPreview, error) {
	err := b.enter(brokerCall{Method: "PreviewOrder", User: user, Account: acct, Req: req})
	return b.preview, err
}

func (b *fakeBroker) Positions(_ context.Context, user, acct string) ([]tvbridge.Position, error) {
	err := b.enter(brokerCall{Method: "Positions", User: user, Account: acct})
	return b.positions, err
}

func (b *fakeBroker) ModifyPosition(_ context.Context, user, acct, id string, br tvbridge.Brackets) (tvbridge.Position, error) {
	err := b.enter(brokerCall{Method: "ModifyPosition", User: user, Account: acct, ID: id, Brackets: br})
	return tvbridge.Position{ID: id}, err
}

func (b *fakeBroker) ReversePosition(_ context.Context, user, acct, id string) error {
	return b.enter(brokerCall{Method: "ReversePosition", User: user, Account: acct, ID: id})
}

func (b *fakeBroker) ClosePosition(_ context.Context, user, acct, id string, qty float64) error {
	return b.enter(brokerCall{Method: "ClosePosition", User: user, Account: acct, ID: id, Qty: qty})
}

func (b *fakeBroker) Executions(_ context.Context, user, acct, figi string, n int) ([]tvbridge.Execution, error) {
	err := b.enter(brokerCall{Method: "Executions", User: user, Account: acct, FIGI: figi, Max: n})
	return b.execs, err
}

// fakeMarket is a LiveMarket with set books, statuses and last prices.
type fakeMarket struct {
	mu     sync.Mutex
	books  map[string]tvbridge.OrderBook
	status map[string]tvbridge.TradeStatus
	last   map[string]float64
}

func newFakeMarket() *fakeMarket {
	return &fakeMarket{books: map[string]tvbridge.OrderBook{}, status: map[string]tvbridge.TradeStatus{},
		last: map[string]float64{}}
}

func (m *fakeMarket) setBook(figi string, bids, asks []tvbridge.PriceLevel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.books[figi] = tvbridge.OrderBook{FIGI: figi, Depth: max(len(bids), len(asks)), Bids: bids, Asks: asks}
}

func (m *fakeMarket) Book(figi string) (tvbridge.OrderBook, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.books[figi]
	return b, fixtureNow, ok
}

func (m *fakeMarket) Status(figi string) tvbridge.TradeStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status[figi]
}

func (m *fakeMarket) LastPrice(figi string) (float64, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.last[figi]
	return p, fixtureNow, ok
}

// fixture is a handler on fakes, served over loopback HTTP.
type fixture struct {
	t      testing.TB
	srv    *httptest.Server
	h      *Handler
	broker *fakeBroker
	market *fakeMarket
	clock  *clock.Fake
}

// userHeader carries the test's principal; the lead's auth middleware
// plays this part in production.
const userHeader = "X-Test-User"

func newFixture(t testing.TB, tweak ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, broker: newFakeBroker(), market: newFakeMarket(), clock: clock.NewFake(fixtureNow)}
	cfg := Config{Broker: f.broker, Catalog: fixtureCatalog(t), Market: f.market, Clock: f.clock,
		Logger: discardLogger()}
	for _, fn := range tweak {
		fn(&cfg)
	}
	f.h = New(cfg)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get(userHeader); u != "" {
			groups := []string(nil)
			if g := r.Header.Get("X-Test-Groups"); g != "" {
				groups = strings.Split(g, ",")
			}
			r = r.WithContext(tvbridge.WithPrincipal(r.Context(), tvbridge.Principal{User: u, Groups: groups, Scheme: "test"}))
		}
		f.h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// response is an answer read off the wire.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request as user ("" for none) with a form body when form is
// not nil.
func (f *fixture) do(method, path, user string, form url.Values) response {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.Header.Set(userHeader, user)
	}
	return f.send(req)
}

func (f *fixture) send(req *http.Request) response {
	f.t.Helper()
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (f *fixture) get(path, user string) response { f.t.Helper(); return f.do("GET", path, user, nil) }

// ok checks a successful answer against the spec's schema and decodes it.
func (r response) ok(t testing.TB, schema string, into any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	openapitest.Check(t, schema, r.body)
	var env struct {
		S string          `json:"s"`
		D json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || env.S != "ok" {
		t.Fatalf("not an ok answer (%v): %s", err, r.body)
	}
	if into != nil {
		if err := json.Unmarshal(env.D, into); err != nil {
			t.Fatalf("decode d: %v: %s", err, env.D)
		}
	}
}

// errmsg checks an error answer (status and schema) and returns its message.
func (r response) errmsg(t testing.TB, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	openapitest.Check(t, "ErrorResponse", r.body)
	var e struct {
		S, Errmsg string
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.S != "error" || e.Errmsg == "" {
		t.Fatalf("not an error answer (%v): %s", err, r.body)
	}
	return e.Errmsg
}

// raw decodes a body into generic JSON, to check which fields are present.
func raw(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return m
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
