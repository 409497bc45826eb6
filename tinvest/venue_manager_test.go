package tinvest

import (
	"context"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tape"
	"tvbridge/tinvest/wire"
	"tvbridge/trading"
)

// The trading core on the v2 venue, against the fake service: what
// TradingView's requests become upstream, held stops and brackets, and a
// restart. The core holds stops, stop-limits and brackets and sends a
// market or limit order when one triggers (see the package doc).

// liveMarket is a LiveMarket the test sets.
type liveMarket struct {
	mu    sync.Mutex
	books map[string]tvbridge.OrderBook
	last  map[string]float64
}

func (m *liveMarket) set(figi string, bid, ask, last float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.books[figi] = tvbridge.OrderBook{FIGI: figi, Depth: 1,
		Bids: []tvbridge.PriceLevel{{Price: bid, Quantity: 1000}}, Asks: []tvbridge.PriceLevel{{Price: ask, Quantity: 1000}}}
	m.last[figi] = last
}

func (m *liveMarket) Book(figi string) (tvbridge.OrderBook, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.books[figi]
	return b, t0, ok
}

func (m *liveMarket) Status(string) tvbridge.TradeStatus { return tvbridge.StatusNormalTrading }

func (m *liveMarket) LastPrice(figi string) (float64, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.last[figi]
	return p, t0, ok
}

// mrig is the trading core on a vrig's venue.
type mrig struct {
	*vrig
	market  *liveMarket
	tape    *tape.Tape
	store   *trading.MemoryStore
	m       *trading.Manager
	changes chan struct{}
	mcancel context.CancelFunc
	mdone   chan error
	acct    string
}

func newMRig(t *testing.T) *mrig {
	r := &mrig{vrig: newVRig(t, nil, nil), market: &liveMarket{books: map[string]tvbridge.OrderBook{}, last: map[string]float64{}},
		tape: tape.New(tape.Config{Capacity: 1024}), store: trading.NewMemoryStore(), changes: make(chan struct{}, 1)}
	r.market.set(figiSBER, 249.9, 250.1, 250)
	t.Cleanup(r.stopManager)
	r.startManager()
	accts, err := r.m.Accounts(context.Background(), "alice")
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts %+v, %v", accts, err)
	}
	r.acct = accts[0].ID
	return r
}

// startManager starts a Manager on the store and the rig's venue, which
// the Manager runs.
func (r *mrig) startManager() {
	r.t.Helper()
	m, err := trading.New(trading.Config{Venue: r.v, Market: r.market, Tape: r.tape, Store: r.store,
		Instrument: venueInstrument, Clock: r.clk, Logger: r.v.log, VenueTimeout: 20 * time.Second,
		OnChange: func(string) {
			select {
			case r.changes <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.m, r.mcancel, r.mdone = m, cancel, make(chan error, 1)
	go func() { r.mdone <- m.Run(ctx) }()
}

// stopManager stops the Manager and its venue, as a process exit would.
func (r *mrig) stopManager() {
	if r.mcancel == nil {
		return
	}
	r.mcancel()
	if err := <-r.mdone; err != nil {
		r.t.Errorf("Run: %v", err)
	}
	r.m.Close()
	r.mcancel = nil
}

// restartManager stops the process and starts the next one on the same
// store, with a new client and venue.
func (r *mrig) restartManager() {
	r.stopManager()
	r.v = r.newVenue()
	r.startManager()
}

// until waits until cond holds, re-checking after every committed change.
func (r *mrig) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-r.changes:
		case <-deadline:
			r.t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func (r *mrig) order(id string) tvbridge.Order {
	r.t.Helper()
	orders, err := r.m.Orders(context.Background(), "alice", r.acct)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, o := range orders {
		if o.ID == id {
			return o
		}
	}
	r.t.Fatalf("no order %s", id)
	return tvbridge.Order{}
}

// brackets returns the stop loss and take profit of the one bracketed
// order or position of the test.
func (r *mrig) brackets(parent string) (sl, tp string) {
	r.t.Helper()
	orders, err := r.m.Orders(context.Background(), "alice", r.acct)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, o := range orders {
		switch {
		case o.ParentID == "" || o.Status.Final():
		case o.Type == tvbridge.StopOrder:
			sl = o.ID
		case o.Type == tvbridge.LimitOrder:
			tp = o.ID
		}
	}
	if sl == "" || tp == "" {
		r.t.Fatalf("brackets of %s: %q, %q in %+v", parent, sl, tp, orders)
	}
	return sl, tp
}

func (r *mrig) place(req tvbridge.OrderRequest) tvbridge.Order {
	r.t.Helper()
	if req.Duration.Type == "" {
		req.Duration.Type = tvbridge.DurationGTC
	}
	o, err := r.m.PlaceOrder(context.Background(), "alice", r.acct, req)
	if err != nil {
		r.t.Fatalf("PlaceOrder %+v: %v", req, err)
	}
	return o
}

func (r *mrig) status(id string, s tvbridge.OrderStatus) func() bool {
	return func() bool { return r.order(id).Status == s }
}

func (r *mrig) position() float64 {
	ps, err := r.m.Positions(context.Background(), "alice", r.acct)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, p := range ps {
		if p.FIGI == figiSBER {
			return p.Side.Sign() * p.Qty
		}
	}
	return 0
}

func (r *mrig) trade(price float64) {
	r.tape.Append(tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: figiSBER, Symbol: "SBER", Time: r.clk.Now(), Price: price, Size: 10})
}

// A TradingView trader's orders on the v2 venue: limit, idempotent retry,
// partial fill on the stream, modify (the core cancels and resubmits under
// the next generation's key), full fill, cancel; executions and position.
func TestManagerOnTheV2Venue(t *testing.T) {
	r := newMRig(t)
	req := tvbridge.OrderRequest{RequestID: "tv-1", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: 30, LimitPrice: 250}
	o := r.place(req)
	if o.Status != tvbridge.OrderWorking {
		t.Fatalf("placed %+v", o)
	}
	if again := r.place(req); again.ID != o.ID || r.f.orderCount() != 1 {
		t.Fatalf("retried request: %+v, %d upstream orders", again, r.f.orderCount())
	}
	first := r.f.orderByKey(testAccount, r.v.key(testAccount, o.ID))
	r.f.fill(first, 1, 250)
	r.until("the partial fill", func() bool { return r.order(o.ID).FilledQty == 10 })

	mod := req
	mod.Qty, mod.LimitPrice = 40, 250.5
	if _, err := r.m.ModifyOrder(context.Background(), "alice", r.acct, o.ID, mod); err != nil {
		t.Fatal(err)
	}
	second := r.f.orderByKey(testAccount, r.v.key(testAccount, o.ID+".2"))
	if second == "" || r.f.orderCount() != 2 {
		t.Fatalf("no second generation upstream (%d orders)", r.f.orderCount())
	}
	if b := r.lastBody(wire.MethodPostOrder); b["quantity"] != "3" {
		t.Fatalf("second generation %v", b)
	}
	r.f.fill(second, 3, 250.5)
	r.until("the order filled", r.status(o.ID, tvbridge.OrderFilled))
	if got := r.order(o.ID); got.FilledQty != 40 || absf(got.AvgPrice-250.375) > 1e-9 {
		t.Fatalf("filled order %+v", got)
	}
	if p := r.position(); p != 40 {
		t.Fatalf("position %v", p)
	}
	execs, err := r.m.Executions(context.Background(), "alice", r.acct, "", 10)
	if err != nil || len(execs) != 2 {
		t.Fatalf("executions %+v, %v", execs, err)
	}

	c := r.place(tvbridge.OrderRequest{RequestID: "tv-2", FIGI: figiSBER, Side: tvbridge.Sell, Type: tvbridge.LimitOrder, Qty: 10, LimitPrice: 300})
	if err := r.m.CancelOrder(context.Background(), "alice", r.acct, c.ID); err != nil {
		t.Fatal(err)
	}
	r.until("the cancel", r.status(c.ID, tvbridge.OrderCancelled))
}

// Brackets are held by the core, never sent before they trigger: the stop
// loss triggers on a trade, goes out as a market order and fills; the take
// profit is cancelled with it (OCO).
func TestManagerStopLossFillsOnTheV2Venue(t *testing.T) {
	r := newMRig(t)
	r.f.set(func(f *fakeTrading) { f.marketPrice[figiSBER] = 250 })
	o := r.place(tvbridge.OrderRequest{RequestID: "tv-1", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.MarketOrder, Qty: 20,
		Brackets: tvbridge.Brackets{StopLoss: 240, TakeProfit: 260}})
	r.until("the parent filled", r.status(o.ID, tvbridge.OrderFilled))
	sl, tp := r.brackets(o.ID)
	r.until("brackets working", func() bool {
		return r.order(sl).Status == tvbridge.OrderWorking && r.order(tp).Status == tvbridge.OrderWorking
	})
	if n := r.f.count(wire.MethodPostOrder); n != 1 {
		t.Fatalf("%d orders sent upstream; brackets are held", n)
	}
	r.f.set(func(f *fakeTrading) { f.marketPrice[figiSBER] = 239.8 })
	r.trade(239.9)
	r.until("the stop loss filled", r.status(sl, tvbridge.OrderFilled))
	r.until("the take profit cancelled", r.status(tp, tvbridge.OrderCancelled))
	if p := r.position(); p != 0 {
		t.Fatalf("position %v", p)
	}
	if b := r.lastBody(wire.MethodPostOrder); b["direction"] != "ORDER_DIRECTION_SELL" || b["orderType"] != "ORDER_TYPE_MARKET" ||
		b["quantity"] != "2" || b["orderId"] != r.v.key(testAccount, sl) {
		t.Fatalf("stop loss upstream %v", b)
	}
}

// The take profit triggers into a limit order at the venue and fills
// there; the stop loss is cancelled with it. A held stop is cancelled
// without ever reaching the venue.
func TestManagerTakeProfitFillsAndHeldStopCancels(t *testing.T) {
	r := newMRig(t)
	stop := r.place(tvbridge.OrderRequest{RequestID: "tv-0", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 270})
	if err := r.m.CancelOrder(context.Background(), "alice", r.acct, stop.ID); err != nil {
		t.Fatal(err)
	}
	if s := r.order(stop.ID).Status; s != tvbridge.OrderCancelled || r.f.count(wire.MethodPostOrder) != 0 || r.f.count(wire.MethodCancelOrder) != 0 {
		t.Fatalf("held stop %s; %d orders and %d cancels upstream", s, r.f.count(wire.MethodPostOrder), r.f.count(wire.MethodCancelOrder))
	}

	r.f.set(func(f *fakeTrading) { f.marketPrice[figiSBER] = 250 })
	o := r.place(tvbridge.OrderRequest{RequestID: "tv-1", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.MarketOrder, Qty: 20,
		Brackets: tvbridge.Brackets{StopLoss: 240, TakeProfit: 260}})
	r.until("the parent filled", r.status(o.ID, tvbridge.OrderFilled))
	sl, tp := r.brackets(o.ID)
	r.until("brackets working", func() bool { return r.order(tp).Status == tvbridge.OrderWorking })
	r.trade(260)
	ref := ""
	r.until("the take profit at the venue", func() bool {
		ref = r.f.orderByKey(testAccount, r.v.key(testAccount, tp))
		return ref != ""
	})
	if b := r.lastBody(wire.MethodPostOrder); b["orderType"] != "ORDER_TYPE_LIMIT" || b["direction"] != "ORDER_DIRECTION_SELL" {
		t.Fatalf("take profit upstream %v", b)
	}
	r.f.fill(ref, 2, 260)
	r.until("the take profit filled", r.status(tp, tvbridge.OrderFilled))
	r.until("the stop loss cancelled", r.status(sl, tvbridge.OrderCancelled))
	if p := r.position(); p != 0 {
		t.Fatalf("position %v", p)
	}
}

// A take profit resting unfilled at the venue is cancelled there when the
// stop loss is hit; the stop loss then triggers and fills.
func TestManagerRestingTakeProfitCancelledForTheStopLoss(t *testing.T) {
	r := newMRig(t)
	r.f.set(func(f *fakeTrading) { f.marketPrice[figiSBER] = 250 })
	o := r.place(tvbridge.OrderRequest{RequestID: "tv-1", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.MarketOrder, Qty: 20,
		Brackets: tvbridge.Brackets{StopLoss: 240, TakeProfit: 260}})
	r.until("the parent filled", r.status(o.ID, tvbridge.OrderFilled))
	sl, tp := r.brackets(o.ID)
	r.until("brackets working", func() bool { return r.order(tp).Status == tvbridge.OrderWorking })
	r.trade(260)
	r.until("the take profit at the venue", func() bool { return r.f.orderByKey(testAccount, r.v.key(testAccount, tp)) != "" })
	r.f.set(func(f *fakeTrading) { f.marketPrice[figiSBER] = 239 })
	r.trade(239.5)
	r.until("the take profit cancelled", r.status(tp, tvbridge.OrderCancelled))
	if r.f.count(wire.MethodCancelOrder) != 1 {
		t.Fatalf("%d cancels upstream", r.f.count(wire.MethodCancelOrder))
	}
	r.trade(239.4)
	r.until("the stop loss filled", r.status(sl, tvbridge.OrderFilled))
	if p := r.position(); p != 0 {
		t.Fatalf("position %v", p)
	}
}

// A restart with a working order: the next process restores it, reports
// the fill made while it was down, answers the retried request with the
// same order (nothing placed twice), and follows the order to its end.
func TestManagerRestartOnTheV2Venue(t *testing.T) {
	r := newMRig(t)
	req := tvbridge.OrderRequest{RequestID: "tv-1", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: 30, LimitPrice: 250}
	o := r.place(req)
	ref := r.f.orderByKey(testAccount, r.v.key(testAccount, o.ID))
	r.stopManager()
	r.f.fill(ref, 1, 250)
	r.v = r.newVenue()
	r.startManager()
	r.until("the fill made while down", func() bool { return r.order(o.ID).FilledQty == 10 })
	if again := r.place(req); again.ID != o.ID || r.f.orderCount() != 1 {
		t.Fatalf("retried request after the restart: %+v, %d upstream orders", again, r.f.orderCount())
	}
	r.f.fill(ref, 2, 249.5)
	r.until("the order filled", r.status(o.ID, tvbridge.OrderFilled))
	execs, err := r.m.Executions(context.Background(), "alice", r.acct, "", 10)
	if err != nil || len(execs) != 2 {
		t.Fatalf("executions %+v, %v", execs, err)
	}
	r.restartManager()
	if got := r.order(o.ID); got.Status != tvbridge.OrderFilled || got.FilledQty != 30 {
		t.Fatalf("after a second restart %+v", got)
	}
}
