package paper

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tape"
)

// testTimeout bounds a test that would otherwise hang on a bug; it is
// never what makes a test pass.
const testTimeout = 20 * time.Second

var t0 = time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC)

// Test instruments: LOT10 trades in lots of 10 on a 0.01 grid, ONE in
// single units on a 0.5 grid.
const (
	lot10 = "FIGI_LOT10"
	one   = "FIGI_ONE"
)

func instruments(figi string) (tvbridge.Instrument, bool) {
	switch figi {
	case lot10:
		return tvbridge.Instrument{FIGI: lot10, Ticker: "LOT10", Lot: 10, MinPriceIncrement: 0.01}, true
	case one:
		return tvbridge.Instrument{FIGI: one, Ticker: "ONE", Lot: 1, MinPriceIncrement: 0.5}, true
	}
	return tvbridge.Instrument{}, false
}

// fakeMarket is a LiveMarket the test sets directly. hook, when set, runs
// at the start of every Book call, so a test can block or break it.
type fakeMarket struct {
	mu     sync.Mutex
	books  map[string]tvbridge.OrderBook
	at     map[string]time.Time
	status map[string]tvbridge.TradeStatus
	hook   func(figi string)
}

func newFakeMarket() *fakeMarket {
	return &fakeMarket{books: map[string]tvbridge.OrderBook{}, at: map[string]time.Time{}, status: map[string]tvbridge.TradeStatus{}}
}

func (m *fakeMarket) setBook(figi string, at time.Time, bids, asks []tvbridge.PriceLevel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.books[figi] = tvbridge.OrderBook{FIGI: figi, Depth: 20, Bids: bids, Asks: asks}
	m.at[figi] = at
}

func (m *fakeMarket) setStatus(figi string, s tvbridge.TradeStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status[figi] = s
}

func (m *fakeMarket) setHook(h func(figi string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = h
}

func (m *fakeMarket) Book(figi string) (tvbridge.OrderBook, time.Time, bool) {
	m.mu.Lock()
	hook := m.hook
	m.mu.Unlock()
	if hook != nil {
		hook(figi)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.books[figi]
	b.Bids = append([]tvbridge.PriceLevel(nil), b.Bids...)
	b.Asks = append([]tvbridge.PriceLevel(nil), b.Asks...)
	return b, m.at[figi], ok
}

func (m *fakeMarket) Status(figi string) tvbridge.TradeStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status[figi]
}

func (m *fakeMarket) LastPrice(string) (float64, time.Time, bool) { return 0, time.Time{}, false }

func levels(pq ...float64) []tvbridge.PriceLevel {
	var out []tvbridge.PriceLevel
	for i := 0; i+1 < len(pq); i += 2 {
		out = append(out, tvbridge.PriceLevel{Price: pq[i], Quantity: pq[i+1]})
	}
	return out
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	v      *Venue
	market *fakeMarket
	clk    *clock.Fake
	tape   *tape.Tape
	acct   string
}

func newFixture(t testing.TB, tweak func(*Config)) *fixture {
	t.Helper()
	f := &fixture{market: newFakeMarket(), clk: clock.NewFake(t0), tape: tape.New(tape.Config{Capacity: 1 << 14}), acct: AccountID("alice")}
	cfg := Config{
		Market:     f.market,
		Tape:       f.tape,
		Instrument: instruments,
		Clock:      f.clk,
		Logger:     discard,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	f.v = New(cfg)
	return f
}

// run starts the venue and waits until it has subscribed to the tape and
// armed its sweep ticker.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	f.clk.BlockUntil(1)
}

func (f *fixture) submit(t *testing.T, o tvbridge.VenueOrder) {
	t.Helper()
	if _, err := f.v.Submit(context.Background(), f.acct, o); err != nil {
		t.Fatalf("Submit %s: %v", o.ID, err)
	}
}

func limit(id, figi string, side tvbridge.Side, qty, price float64) tvbridge.VenueOrder {
	return tvbridge.VenueOrder{ID: id, AccountID: "core-acct", FIGI: figi, Side: side, Type: tvbridge.LimitOrder, Qty: qty, Limit: price}
}

func market(id, figi string, side tvbridge.Side, qty float64) tvbridge.VenueOrder {
	return tvbridge.VenueOrder{ID: id, AccountID: "core-acct", FIGI: figi, Side: side, Type: tvbridge.MarketOrder, Qty: qty}
}

func trade(figi string, price, lots float64) tvbridge.Tick {
	return tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: figi, Symbol: figi, Time: t0, Price: price, Size: lots}
}

func quote(figi string) tvbridge.Tick {
	return tvbridge.Tick{Kind: tvbridge.TickQuote, FIGI: figi, Symbol: figi, Time: t0, Bid: 1, BidSize: 1, Ask: 2, AskSize: 1}
}

// queued takes every event queued so far, for tests that do not run the
// pump.
func queued(v *Venue) []tvbridge.VenueEvent {
	var out []tvbridge.VenueEvent
	for {
		ev, ok := v.events.peek()
		if !ok {
			return out
		}
		v.events.pop()
		out = append(out, ev)
	}
}

// receive reads n events from the running venue.
func receive(t *testing.T, v *Venue, n int) []tvbridge.VenueEvent {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	out := make([]tvbridge.VenueEvent, 0, n)
	for len(out) < n {
		select {
		case ev := <-v.Events():
			out = append(out, ev)
		case <-deadline.C:
			t.Fatalf("received %d events, want %d: %+v", len(out), n, out)
		}
	}
	return out
}

// brief is what a test checks of an event: kind, order, quantity, price.
type brief struct {
	Kind    tvbridge.VenueEventKind
	OrderID string
	Qty     float64
	Price   float64
}

func briefs(evs []tvbridge.VenueEvent) []brief {
	out := make([]brief, len(evs))
	for i, e := range evs {
		out[i] = brief{e.Kind, e.OrderID, e.Qty, e.Price}
	}
	return out
}

func checkEvents(t *testing.T, got []tvbridge.VenueEvent, want ...brief) {
	t.Helper()
	g := briefs(got)
	if len(g) != len(want) {
		t.Fatalf("events:\n got %+v\nwant %+v", g, want)
	}
	for i := range want {
		if g[i].Kind != want[i].Kind || g[i].OrderID != want[i].OrderID ||
			!near(g[i].Qty, want[i].Qty) || !near(g[i].Price, want[i].Price) {
			t.Fatalf("event %d:\n got %+v\nwant %+v\n(all: %+v)", i, g[i], want[i], g)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func fillOf(id string, qty, price float64) brief {
	return brief{tvbridge.VenueFill, id, qty, price}
}

func cancelOf(id string, qty float64) brief {
	return brief{tvbridge.VenueCancelled, id, qty, 0}
}

func errCode(err error) tvbridge.ErrorCode {
	var te *tvbridge.TradingError
	if errors.As(err, &te) {
		return te.Code
	}
	return ""
}

// remaining returns the resting quantity of an order in units, and whether
// it rests.
func remaining(v *Venue, id string) (float64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.byID[id]
	if !ok {
		return 0, false
	}
	return r.units(), true
}
