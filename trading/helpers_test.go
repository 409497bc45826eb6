package trading_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/tape"
	"tvbridge/trading"
)

// Test instruments.
const (
	figiA   = "FIGI000000A1" // lot 10, step 0.01, MOEX hours
	figiB   = "FIGI000000B2" // lot 1, step 0.5, 24x7 UTC
	figiUSD = "FIGI00000USD" // quoted in USD
	figiEUR = "FIGI00000EUR" // quoted in EUR, which no test account holds
	user1   = "alice"
	user2   = "bob"
)

// start is a Tuesday, 12:00 in Moscow: inside figiA's session.
var start = time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC)

var instruments = map[string]tvbridge.Instrument{
	figiA: {FIGI: figiA, Ticker: "AAA", Lot: 10, MinPriceIncrement: 0.01, Currency: "RUB",
		Session: "1000-1840:23456", Timezone: "Europe/Moscow"},
	figiB: {FIGI: figiB, Ticker: "BBB", Lot: 1, MinPriceIncrement: 0.5, Currency: "RUB",
		Session: "24x7", Timezone: "UTC"},
	figiUSD: {FIGI: figiUSD, Ticker: "USDX", Lot: 1, MinPriceIncrement: 0.01, Currency: "USD",
		Session: "24x7", Timezone: "UTC"},
	figiEUR: {FIGI: figiEUR, Ticker: "EURX", Lot: 1, MinPriceIncrement: 0.01, Currency: "EUR",
		Session: "24x7", Timezone: "UTC"},
}

// fakeRates are fixed exchange rates, {from, to} -> rate; the inverse
// pair is inverted.
type fakeRates map[[2]string]float64

func (r fakeRates) Rate(from, to string) (float64, bool) {
	if from == to {
		return 1, true
	}
	if v, ok := r[[2]string{from, to}]; ok {
		return v, true
	}
	if v, ok := r[[2]string{to, from}]; ok {
		return 1 / v, true
	}
	return 0, false
}

// usdRates prices a dollar at 90 roubles.
var usdRates = fakeRates{{"USD", "RUB"}: 90}

func lookup(figi string) (tvbridge.Instrument, bool) {
	inst, ok := instruments[figi]
	return inst, ok
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeMarket is a LiveMarket the test sets.
type fakeMarket struct {
	mu     sync.Mutex
	books  map[string]tvbridge.OrderBook
	last   map[string]float64
	status map[string]tvbridge.TradeStatus
}

func newFakeMarket() *fakeMarket {
	return &fakeMarket{books: map[string]tvbridge.OrderBook{}, last: map[string]float64{}, status: map[string]tvbridge.TradeStatus{}}
}

// set gives figi a one-level book and a last price.
func (f *fakeMarket) set(figi string, bid, ask, last float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.books[figi] = tvbridge.OrderBook{FIGI: figi, Depth: 1,
		Bids: []tvbridge.PriceLevel{{Price: bid, Quantity: 100}},
		Asks: []tvbridge.PriceLevel{{Price: ask, Quantity: 100}}}
	f.last[figi] = last
}

func (f *fakeMarket) setBook(book tvbridge.OrderBook) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.books[book.FIGI] = book
}

func (f *fakeMarket) setStatus(figi string, s tvbridge.TradeStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[figi] = s
}

func (f *fakeMarket) clear(figi string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.books, figi)
	delete(f.last, figi)
}

func (f *fakeMarket) Book(figi string) (tvbridge.OrderBook, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.books[figi]
	return b, start, ok
}

func (f *fakeMarket) Status(figi string) tvbridge.TradeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[figi]
}

func (f *fakeMarket) LastPrice(figi string) (float64, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.last[figi]
	return p, start, ok
}

// fakeVenue records what the Manager asks and lets the test report fills.
// Events go to a channel for Run, or, when deliver is set, straight to the
// Manager (the synchronous property test).
type fakeVenue struct {
	mu        sync.Mutex
	cash      float64
	currency  string
	otherCash []tvbridge.Money // cash in other currencies than currency
	events    chan tvbridge.VenueEvent
	deliver   func(tvbridge.VenueEvent)
	submits   chan tvbridge.VenueOrder
	cancels   chan tvbridge.VenueOrder
	restores  chan []tvbridge.VenueOrder
	live      map[string]*liveOrder // venue order id -> order
	submitErr error
	cancelErr error
	// holdCancels makes Cancel succeed without reporting the cancel.
	holdCancels bool
	// autoFill, when > 0, fills every submitted order at once at that price.
	autoFill      float64
	accountsCalls map[string]int
	execSeq       int
}

type liveOrder struct {
	tvbridge.VenueOrder
	filled float64
}

func newFakeVenue() *fakeVenue {
	return &fakeVenue{
		cash:          1_000_000,
		currency:      "RUB",
		events:        make(chan tvbridge.VenueEvent, 1024),
		submits:       make(chan tvbridge.VenueOrder, 1024),
		cancels:       make(chan tvbridge.VenueOrder, 1024),
		restores:      make(chan []tvbridge.VenueOrder, 64),
		live:          map[string]*liveOrder{},
		accountsCalls: map[string]int{},
	}
}

func (v *fakeVenue) Accounts(_ context.Context, user string) ([]tvbridge.VenueAccount, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.accountsCalls[user]++
	cash := append([]tvbridge.Money{{Currency: v.currency, Amount: v.cash}}, v.otherCash...)
	return []tvbridge.VenueAccount{{ID: "V-" + user, Name: "Paper " + user, Type: tvbridge.DemoAccount,
		Currency: v.currency, Cash: cash}}, nil
}

func (v *fakeVenue) Submit(_ context.Context, _ string, o tvbridge.VenueOrder) (string, error) {
	v.mu.Lock()
	err := v.submitErr
	if err == nil {
		v.live[o.ID] = &liveOrder{VenueOrder: o}
	}
	v.mu.Unlock()
	if err != nil {
		return "", err
	}
	select {
	case v.submits <- o:
	default: // benchmarks submit more than anyone reads
	}
	v.mu.Lock()
	auto := v.autoFill
	v.mu.Unlock()
	if auto > 0 {
		v.fill(nil, o.ID, o.Qty, auto)
	}
	return "R-" + o.ID, nil
}

func (v *fakeVenue) Cancel(_ context.Context, _ string, o tvbridge.VenueOrder) error {
	v.mu.Lock()
	err, hold := v.cancelErr, v.holdCancels
	_, live := v.live[o.ID]
	if err == nil && !hold {
		delete(v.live, o.ID)
	}
	v.mu.Unlock()
	if err != nil {
		return err
	}
	v.cancels <- o
	if live && !hold {
		v.emit(tvbridge.VenueEvent{Kind: tvbridge.VenueCancelled, OrderID: o.ID, Reason: "cancelled on request"})
	}
	return nil
}

func (v *fakeVenue) Restore(_ context.Context, _ string, orders []tvbridge.VenueOrder) error {
	v.mu.Lock()
	for _, o := range orders {
		v.live[o.ID] = &liveOrder{VenueOrder: o}
	}
	v.mu.Unlock()
	v.restores <- orders
	return nil
}

func (v *fakeVenue) Events() <-chan tvbridge.VenueEvent { return v.events }

func (v *fakeVenue) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (v *fakeVenue) emit(ev tvbridge.VenueEvent) {
	v.mu.Lock()
	deliver := v.deliver
	v.mu.Unlock()
	if deliver != nil {
		deliver(ev)
		return
	}
	v.events <- ev
}

// fill reports a fill of qty at price of a live venue order and returns
// the event. It does not wait for the Manager to apply it.
func (v *fakeVenue) fill(t testing.TB, venueID string, qty, price float64) tvbridge.VenueEvent {
	v.mu.Lock()
	o := v.live[venueID]
	if o == nil {
		v.mu.Unlock()
		t.Helper()
		t.Fatalf("fill: venue order %s is not live", venueID)
	}
	o.filled += qty
	if o.filled >= o.Qty-1e-9 {
		delete(v.live, venueID)
	}
	v.execSeq++
	ev := tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: venueID, ExecID: fmt.Sprintf("E%d", v.execSeq),
		Qty: qty, Price: price, Commission: math.Round(qty*price*0.0005*100) / 100, Time: start}
	v.mu.Unlock()
	v.emit(ev)
	return ev
}

// remaining is what is left of a live venue order (0 when not live).
func (v *fakeVenue) remaining(venueID string) float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if o := v.live[venueID]; o != nil {
		return o.Qty - o.filled
	}
	return 0
}

func (v *fakeVenue) liveIDs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ids := make([]string, 0, len(v.live))
	for id := range v.live {
		ids = append(ids, id)
	}
	return ids
}

func (v *fakeVenue) setSubmitErr(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.submitErr = err
}

func (v *fakeVenue) calls(user string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.accountsCalls[user]
}

// next reads a recorded call, failing the test after a generous deadline.
func next[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case x := <-ch:
		return x
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// env is a Manager on fakes, running.
type env struct {
	t       testing.TB
	clk     *clock.Fake
	venue   *fakeVenue
	market  *fakeMarket
	tape    *tape.Tape
	store   trading.Store
	m       *trading.Manager
	changes chan struct{}
	cfg     []func(*trading.Config)
	log     *fakeLog // withShared: the market-data log the tape follows
	// reopenStore, when set, closes the store and opens it again: what a
	// process restart does to a store on disk.
	reopenStore func() trading.Store
	cancel      context.CancelFunc
	done        chan error
}

type envOption func(*env)

// withConfig changes the Manager's configuration.
func withConfig(f func(*trading.Config)) envOption {
	return func(e *env) { e.cfg = append(e.cfg, f) }
}

// withDollars gives new accounts dollars too, and prices them at usdRates.
func withDollars(amount float64) envOption {
	return func(e *env) {
		e.venue.otherCash = []tvbridge.Money{{Currency: "USD", Amount: amount}}
		e.cfg = append(e.cfg, func(c *trading.Config) { c.Rates = usdRates })
	}
}

// withStore starts on a given store.
func withStore(s trading.Store) envOption {
	return func(e *env) { e.store = s }
}

// withBolt puts the state in a bbolt file, reopened on every restart.
func withBolt() envOption {
	return func(e *env) {
		path := filepath.Join(e.t.TempDir(), "trading.db")
		var cur *bolt.TradingStore
		e.reopenStore = func() trading.Store {
			if cur != nil {
				if err := cur.Close(); err != nil {
					e.t.Fatalf("close store: %v", err)
				}
			}
			s, err := bolt.OpenTrading(path, bolt.Options{Logger: quietLogger()})
			if err != nil {
				e.t.Fatalf("open store: %v", err)
			}
			cur = s
			return s
		}
		e.store = e.reopenStore()
		e.t.Cleanup(func() { _ = cur.Close() })
	}
}

// newEnv starts a Manager on a memory store with prices set for figiA
// (100.00/100.02, last 100.01) and figiB (50/51, last 50.5).
func newEnv(t testing.TB, opts ...envOption) *env {
	e := &env{t: t, clk: clock.NewFake(start), venue: newFakeVenue(), market: newFakeMarket(),
		tape: tape.New(tape.Config{Capacity: 1024}), store: trading.NewMemoryStore(), changes: make(chan struct{}, 1)}
	e.market.set(figiA, 100.00, 100.02, 100.01)
	e.market.set(figiB, 50, 51, 50.5)
	e.market.set(figiUSD, 10, 10.1, 10.05)
	for _, o := range opts {
		o(e)
	}
	e.open()
	e.run()
	t.Cleanup(e.stop)
	return e
}

func (e *env) config() trading.Config {
	c := trading.Config{
		Venue: e.venue, Market: e.market, Tape: e.tape, Store: e.store, Instrument: lookup,
		Clock: e.clk, Logger: quietLogger(), VenueTimeout: 5 * time.Second, CommissionRate: 0.0005,
		OnChange: func(string) {
			select {
			case e.changes <- struct{}{}:
			default:
			}
		},
	}
	for _, f := range e.cfg {
		f(&c)
	}
	return c
}

func (e *env) open() {
	m, err := trading.New(e.config())
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.m = m
}

func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.m.Run(ctx) }()
}

// stop stops Run and closes the Manager, as a process exit would.
func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("Run: %v", err)
	}
	if err := e.m.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.cancel = nil
}

// restart stops the Manager and starts a new one on the same store.
func (e *env) restart() {
	e.stop()
	if e.reopenStore != nil {
		e.store = e.reopenStore()
	}
	e.open()
	e.run()
}

// until waits until cond holds, re-checking after every committed change.
func (e *env) until(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-e.changes:
		case <-deadline:
			e.t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// account returns user's first account id.
func (e *env) account(user string) string {
	e.t.Helper()
	accts, err := e.m.Accounts(context.Background(), user)
	if err != nil || len(accts) == 0 {
		e.t.Fatalf("Accounts(%s) = %v, %v", user, accts, err)
	}
	return accts[0].ID
}

func (e *env) place(user, acct string, req tvbridge.OrderRequest) tvbridge.Order {
	e.t.Helper()
	o, err := e.m.PlaceOrder(context.Background(), user, acct, req)
	if err != nil {
		e.t.Fatalf("PlaceOrder(%+v): %v", req, err)
	}
	return o
}

// order returns the order with id as Orders lists it.
func (e *env) order(user, acct, id string) tvbridge.Order {
	e.t.Helper()
	o, ok := e.find(user, acct, id)
	if !ok {
		e.t.Fatalf("order %s not listed", id)
	}
	return o
}

func (e *env) find(user, acct, id string) (tvbridge.Order, bool) {
	e.t.Helper()
	orders, err := e.m.Orders(context.Background(), user, acct)
	if err != nil {
		e.t.Fatalf("Orders: %v", err)
	}
	for _, o := range orders {
		if o.ID == id {
			return o, true
		}
	}
	return tvbridge.Order{}, false
}

// waitStatus waits until the order has status s.
func (e *env) waitStatus(user, acct, id string, s tvbridge.OrderStatus) tvbridge.Order {
	e.t.Helper()
	var o tvbridge.Order
	e.until(fmt.Sprintf("order %s is %s", id, s), func() bool {
		o, _ = e.find(user, acct, id)
		return o.Status == s
	})
	return o
}

// fillAndWait fills a venue order and waits until the fill is booked.
func (e *env) fillAndWait(user, acct, venueID string, qty, price float64) {
	e.t.Helper()
	ev := e.venue.fill(e.t, venueID, qty, price)
	e.until("fill "+ev.ExecID+" is booked", func() bool {
		execs, err := e.m.Executions(context.Background(), user, acct, "", 0)
		if err != nil {
			e.t.Fatalf("Executions: %v", err)
		}
		for _, x := range execs {
			if x.ID == ev.ExecID {
				return true
			}
		}
		return false
	})
}

// trade puts a trade on the tape.
func (e *env) trade(figi string, price float64) {
	tick := tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: figi, Symbol: instruments[figi].Ticker,
		Time: e.clk.Now(), Price: price, Size: 1}
	if e.log != nil {
		e.log.append(e.tape, tick)
		return
	}
	e.tape.Append(tick)
}

func (e *env) position(user, acct, figi string) (tvbridge.Position, bool) {
	e.t.Helper()
	ps, err := e.m.Positions(context.Background(), user, acct)
	if err != nil {
		e.t.Fatalf("Positions: %v", err)
	}
	for _, p := range ps {
		if p.FIGI == figi {
			return p, true
		}
	}
	return tvbridge.Position{}, false
}

func (e *env) state(user, acct string) tvbridge.AccountState {
	e.t.Helper()
	st, err := e.m.State(context.Background(), user, acct)
	if err != nil {
		e.t.Fatalf("State: %v", err)
	}
	return st
}

// code returns the TradingError code of err ("" if none).
func code(err error) tvbridge.ErrorCode {
	var te *tvbridge.TradingError
	if errors.As(err, &te) {
		return te.Code
	}
	return ""
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6 }

func limitReq(side tvbridge.Side, qty, price float64) tvbridge.OrderRequest {
	return tvbridge.OrderRequest{FIGI: figiA, Side: side, Type: tvbridge.LimitOrder, Qty: qty, LimitPrice: price,
		Duration: tvbridge.OrderDuration{Type: tvbridge.DurationGTC}}
}

func marketReq(figi string, side tvbridge.Side, qty float64) tvbridge.OrderRequest {
	return tvbridge.OrderRequest{FIGI: figi, Side: side, Type: tvbridge.MarketOrder, Qty: qty}
}
