package tinvest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

// Venue tests: the real client and venue against fakeTrading over loopback
// sockets, on a fake clock. Polls run when the test advances the clock or
// calls Poll; the stream delivers as soon as the fake publishes.

var venueInstruments = map[string]tvbridge.Instrument{
	figiSBER: {FIGI: figiSBER, UID: uidSBER, Ticker: "SBER", Lot: 10, MinPriceIncrement: 0.01, Currency: "RUB"},
	figiAAPL: {FIGI: figiAAPL, UID: uidAAPL, Ticker: "AAPL", Lot: 1, MinPriceIncrement: 0.01, Currency: "USD"},
}

func venueInstrument(figi string) (tvbridge.Instrument, bool) {
	inst, ok := venueInstruments[figi]
	return inst, ok
}

// vrig is one venue process against the fake service; restart makes the
// next process.
type vrig struct {
	t      *testing.T
	f      *fakeTrading
	clk    *clock.Fake
	client *Client
	v      *Venue
	logs   *syncBuffer
	ccfg   func(*Config)
	vcfg   func(*VenueConfig)
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newVRig(t *testing.T, vcfg func(*VenueConfig), ccfg func(*Config)) *vrig {
	t.Helper()
	r := &vrig{t: t, f: newFakeTrading(t), clk: clock.NewFake(t0), logs: &syncBuffer{}, ccfg: ccfg, vcfg: vcfg}
	t.Cleanup(func() {
		r.stop()
		if strings.Contains(r.logs.String(), "secret-token") {
			t.Errorf("token leaked into the log")
		}
		if t.Failed() {
			t.Logf("log:\n%s", r.logs.String())
		}
	})
	r.v = r.newVenue()
	return r
}

// newVenue builds a client and a venue, as a new process would.
func (r *vrig) newVenue() *Venue {
	r.t.Helper()
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{BaseURL: r.f.srv.URL + "/rest/", Token: "secret-token", Clock: r.clk, Logger: log,
		TotalPerSecond: 1 << 20, Limits: map[string]int{}}
	for b := range DefaultLimits {
		cfg.Limits[b] = 1 << 20
	}
	if r.ccfg != nil {
		r.ccfg(&cfg)
	}
	r.client = NewClient(cfg)
	vc := VenueConfig{Client: r.client, Instrument: venueInstrument, KeyNamespace: "test-namespace",
		Users:        map[string][]string{"alice": {testAccount}, "bob": {testAccount2}},
		Currencies:   map[string]string{testAccount2: "RUB"},
		PollInterval: 2 * time.Second, ReconcileInterval: time.Minute, StallTimeout: time.Hour,
		BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, NotFoundGrace: 30 * time.Second}
	if r.vcfg != nil {
		r.vcfg(&vc)
	}
	v, err := NewVenue(vc)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// start runs the venue.
func (r *vrig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	v := r.v
	go func() { r.done <- v.Run(ctx) }()
}

// stop stops a running venue, as a process exit would.
func (r *vrig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		r.t.Errorf("Run: %v", err)
	}
	r.cancel = nil
}

// restart stops the venue and builds the next one (not yet running).
func (r *vrig) restart() {
	r.stop()
	r.v = r.newVenue()
}

// startConnected runs the venue and waits for its order stream.
func (r *vrig) startConnected() {
	r.t.Helper()
	r.start()
	r.f.waitConnected(r.t)
}

func (r *vrig) event() tvbridge.VenueEvent {
	r.t.Helper()
	select {
	case ev := <-r.v.Events():
		return ev
	case <-time.After(20 * time.Second):
		r.t.Fatal("no venue event")
		return tvbridge.VenueEvent{}
	}
}

// pumpUntilConnected advances the clock, a reconnect backoff at a time,
// until the stream subscribes again.
func (r *vrig) pumpUntilConnected() {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-r.f.connected:
			return
		case <-deadline:
			r.t.Fatal("the order stream did not reconnect")
		case <-time.After(5 * time.Millisecond):
			r.clk.Advance(250 * time.Millisecond)
		}
	}
}

func (r *vrig) poll() {
	r.t.Helper()
	if err := r.v.Poll(context.Background()); err != nil {
		r.t.Fatalf("Poll: %v", err)
	}
}

func (r *vrig) submit(o tvbridge.VenueOrder) string {
	r.t.Helper()
	ref, err := r.v.Submit(context.Background(), testAccount, o)
	if err != nil {
		r.t.Fatalf("Submit %s: %v", o.ID, err)
	}
	return ref
}

func limitBuy(id string, units, price float64) tvbridge.VenueOrder {
	return tvbridge.VenueOrder{ID: id, AccountID: "A1", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: units, Limit: price}
}

func market(id string, side tvbridge.Side, units float64) tvbridge.VenueOrder {
	return tvbridge.VenueOrder{ID: id, AccountID: "A1", FIGI: figiSBER, Side: side, Type: tvbridge.MarketOrder, Qty: units}
}

// wantFill checks a fill event.
func wantFill(t *testing.T, ev tvbridge.VenueEvent, order string, qty, price, commission float64) {
	t.Helper()
	if ev.Kind != tvbridge.VenueFill || ev.OrderID != order || ev.Qty != qty || ev.Price != price || ev.ExecID == "" ||
		absf(ev.Commission-commission) > 1e-6 {
		t.Fatalf("event %+v, want a fill of %s: %v at %v, commission %v", ev, order, qty, price, commission)
	}
}

func wantEnd(t *testing.T, ev tvbridge.VenueEvent, kind tvbridge.VenueEventKind, order, reason string) {
	t.Helper()
	if ev.Kind != kind || ev.OrderID != order || !strings.Contains(ev.Reason, reason) {
		t.Fatalf("event %+v, want %s of %s mentioning %q", ev, kind, order, reason)
	}
}

func absf(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// lastBody returns the JSON body of the latest request to method.
func (r *vrig) lastBody(method string) map[string]any {
	r.t.Helper()
	var body string
	for _, rec := range r.f.recorded() {
		if rec.Path == method {
			body = rec.Body
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		r.t.Fatalf("%s body %q: %v", method, body, err)
	}
	return m
}

// barrier places and cancels an order, and waits for its cancellation:
// every event queued before it has been received by then.
func (r *vrig) barrier(name string) {
	r.t.Helper()
	o := limitBuy(name, 10, 1)
	o.VenueRef = r.submit(o)
	if err := r.v.Cancel(context.Background(), testAccount, o); err != nil {
		r.t.Fatal(err)
	}
	for {
		ev := r.event()
		if ev.OrderID == name && ev.Kind == tvbridge.VenueCancelled {
			return
		}
		r.t.Fatalf("unexpected event before the barrier: %+v", ev)
	}
}

// A limit order goes out as PostOrder in lots, its exact price, DAY, the
// derived idempotency key; its partial and full fills come on the stream
// (the polls fail throughout), with the commission estimated at the
// placement's rate.
func TestVenueLimitOrderFillsOnTheStream(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) { f.failPolls = true })
	r.startConnected()
	ref := r.submit(limitBuy("7", 30, 250.51))
	body := r.lastBody(wire.MethodPostOrder)
	want := map[string]any{"instrumentId": uidSBER, "quantity": "3", "direction": "ORDER_DIRECTION_BUY",
		"accountId": testAccount, "orderType": "ORDER_TYPE_LIMIT", "orderId": r.v.key(testAccount, "7"),
		"timeInForce": "TIME_IN_FORCE_DAY"}
	for k, w := range want {
		if body[k] != w {
			t.Errorf("PostOrder %s = %v, want %v", k, body[k], w)
		}
	}
	if p := body["price"].(map[string]any); p["units"] != "250" || p["nano"] != float64(510000000) {
		t.Errorf("price %v", p)
	}
	if key := r.v.key(testAccount, "7"); len(key) != 36 || key != IdempotencyKey("tvbridge venue order", "test-namespace", testAccount, "7") {
		t.Errorf("key %q", key)
	}
	r.f.fill(ref, 1, 250.5)
	wantFill(t, r.event(), "7", 10, 250.5, 2505*0.0005)
	r.f.fill(ref, 2, 250.49)
	wantFill(t, r.event(), "7", 20, 250.49, 5009.8*0.0005)
	r.f.set(func(f *fakeTrading) { f.failPolls = false })
	r.barrier("b1") // nothing else: a filled order ends with its fills
}

// A market order that fills at once: the stream's fill comes before
// PostOrder's answer and waits for its executed commission (or, when the
// answer wins the race, the poll it asks for finds the fill); either way
// the fill is reported once.
func TestVenueMarketOrderFilledBeforeTheAnswer(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) { f.marketPrice[figiSBER] = 251 })
	r.startConnected()
	r.submit(market("8", tvbridge.Sell, 50))
	if b := r.lastBody(wire.MethodPostOrder); b["orderType"] != "ORDER_TYPE_MARKET" || b["price"] != nil ||
		b["direction"] != "ORDER_DIRECTION_SELL" || b["quantity"] != "5" {
		t.Fatalf("PostOrder %v", b)
	}
	wantFill(t, r.event(), "8", 50, 251, 12550*0.0005)
	r.clk.Advance(time.Minute) // a reconcile is due
	r.poll()
	r.barrier("b1")
}

// Polls are the fallback when the stream is refused: GetOrders shows the
// partial fill (with the executed commission), GetOrderState the end.
func TestVenuePollingWhenTheStreamIsDown(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) { f.refuseStream = 503 })
	r.start()
	ref := r.submit(limitBuy("9", 30, 100))
	r.f.fill(ref, 1, 100)
	r.clk.Advance(2 * time.Second)
	wantFill(t, r.event(), "9", 10, 100, 0.5)
	r.f.fill(ref, 2, 99.99)
	r.clk.Advance(2 * time.Second)
	wantFill(t, r.event(), "9", 20, 99.99, 0.9999)
	if r.v.StreamUp() || r.f.count(wire.MethodGetOrderState) == 0 {
		t.Fatalf("stream up %v, GetOrderState %d", r.v.StreamUp(), r.f.count(wire.MethodGetOrderState))
	}
	ref2 := r.submit(limitBuy("10", 10, 100))
	r.f.cancelUpstream(ref2, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_EXCHANGE")
	r.clk.Advance(2 * time.Second)
	wantEnd(t, r.event(), tvbridge.VenueCancelled, "10", "T-Invest cancelled the order with 0 of 10 filled")
}

// A dropped stream is reconnected with backoff; a fill made meanwhile is
// found by the poll that follows the new subscription.
func TestVenueStreamReconnectReconciles(t *testing.T) {
	// Polls while the stream is down would find the fill too: make them
	// rare, so the poll after the reconnect is the one that does.
	r := newVRig(t, func(c *VenueConfig) { c.PollInterval = time.Hour }, nil)
	r.startConnected()
	ref := r.submit(limitBuy("11", 30, 100))
	r.f.dropStreams()
	r.f.fill(ref, 1, 100) // nobody listens
	r.pumpUntilConnected()
	wantFill(t, r.event(), "11", 10, 100, 0.5)
	r.f.fill(ref, 2, 101)
	wantFill(t, r.event(), "11", 20, 101, 1.01)
	r.barrier("b1")
}

// The same trade on the stream twice and in a poll is one fill.
func TestVenueExecutionsDeduplicated(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) { f.duplicate = true })
	r.startConnected()
	ref := r.submit(limitBuy("12", 30, 100))
	r.f.fill(ref, 1, 100)
	first := r.event()
	wantFill(t, first, "12", 10, 100, 0.5)
	r.poll()
	r.clk.Advance(time.Minute) // a reconcile is due, stream or not
	r.poll()
	r.f.fill(ref, 1, 100.5)
	second := r.event()
	wantFill(t, second, "12", 10, 100.5, 0.5025)
	if second.ExecID == first.ExecID {
		t.Fatal("same ExecID twice")
	}
	r.f.set(func(f *fakeTrading) { f.duplicate = false })
	r.barrier("b1")
}

// Trades without ids: the stream's and the poll's cannot be matched by id,
// so the poll's never count beyond what the service says is executed.
func TestVenueTradesWithoutIDsNeverOvercount(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) { f.noTradeIDs = true })
	r.startConnected()
	ref := r.submit(limitBuy("13", 30, 100))
	r.f.fill(ref, 1, 100)
	wantFill(t, r.event(), "13", 10, 100, 0.5)
	r.clk.Advance(time.Minute)
	r.poll()
	r.f.set(func(f *fakeTrading) { f.noTradeIDs = false })
	r.barrier("b1")
}

// A final state on the stream whose fills the stream missed: the venue
// reads the order's stages, reports the fills, then the cancellation.
func TestVenueFinalStateWithMissingFills(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.startConnected()
	ref := r.submit(limitBuy("14", 30, 100))
	r.f.set(func(f *fakeTrading) { f.mute = true })
	r.f.fill(ref, 2, 99.5)
	r.f.set(func(f *fakeTrading) { f.mute = false })
	r.f.cancelUpstream(ref, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_CLIENT")
	wantFill(t, r.event(), "14", 20, 99.5, 0.995)
	wantEnd(t, r.event(), tvbridge.VenueCancelled, "14", "20 of 30 filled")
}

// Cancel names the order by its id; the cancellation follows its fills.
// Cancelling an order that has filled meanwhile is not an error.
func TestVenueCancel(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.startConnected()
	o := limitBuy("15", 30, 100)
	o.VenueRef = r.submit(o)
	r.f.fill(o.VenueRef, 1, 100)
	wantFill(t, r.event(), "15", 10, 100, 0.5)
	if err := r.v.Cancel(context.Background(), testAccount, o); err != nil {
		t.Fatal(err)
	}
	if b := r.lastBody(wire.MethodCancelOrder); b["orderId"] != o.VenueRef || b["orderIdType"] != nil {
		t.Fatalf("CancelOrder %v", b)
	}
	wantEnd(t, r.event(), tvbridge.VenueCancelled, "15", "10 of 30 filled")

	o2 := limitBuy("16", 10, 100)
	o2.VenueRef = r.submit(o2)
	r.f.fill(o2.VenueRef, 1, 99)
	wantFill(t, r.event(), "16", 10, 99, 0.495)
	if err := r.v.Cancel(context.Background(), testAccount, o2); err != nil {
		t.Fatalf("cancel of a filled order: %v", err)
	}
	r.barrier("b1")

	// A cancel the service refuses for a working order is an error.
	o3 := limitBuy("17", 10, 100)
	o3.VenueRef = r.submit(o3)
	r.f.set(func(f *fakeTrading) {
		f.cancelErrors = []fakeError{{status: 400, code: wire.CodeInvalidArgument, service: "30059", message: "Cancel order error: busy"}}
	})
	err := r.v.Cancel(context.Background(), testAccount, o3)
	var te *tvbridge.TradingError
	if !errors.As(err, &te) || te.Code != tvbridge.ErrVenue || !strings.Contains(te.Detail, "busy") {
		t.Fatalf("refused cancel: %v", err)
	}
}

// A PostOrder without an answer may have placed the order: the venue
// finds it by its key, and Cancel names it by the key.
func TestVenueLostAnswerCancelledByKey(t *testing.T) {
	r := newVRig(t, nil, func(c *Config) { c.MaxRetries = -1 })
	r.f.set(func(f *fakeTrading) {
		f.postErrors = []fakeError{{status: 503, code: wire.CodeUnavailable, message: "upstream timeout"}}
	})
	r.startConnected()
	o := limitBuy("18", 10, 100)
	_, err := r.v.Submit(context.Background(), testAccount, o)
	var te *tvbridge.TradingError
	if !errors.As(err, &te) || te.Code != tvbridge.ErrVenue || !strings.Contains(te.Detail, "may have been placed") {
		t.Fatalf("Submit: %v", err)
	}
	// The fake failed before placing; place it by key (unheard on the
	// stream) as a slow service would.
	r.f.set(func(f *fakeTrading) {
		f.mute = true
		f.newOrderLocked(testAccount, r.v.key(testAccount, "18"), f.instruments[figiSBER], wire.OrderDirectionBuy,
			wire.OrderTypeLimit, 1, ptr(quotation(100)))
		f.mute = false
	})
	if err := r.v.Cancel(context.Background(), testAccount, o); err != nil {
		t.Fatal(err)
	}
	if b := r.lastBody(wire.MethodCancelOrder); b["orderId"] != r.v.key(testAccount, "18") || b["orderIdType"] != "ORDER_ID_TYPE_REQUEST" {
		t.Fatalf("CancelOrder %v", b)
	}
	wantEnd(t, r.event(), tvbridge.VenueCancelled, "18", "0 of 10 filled")

	// Never placed: rejected once the grace is over.
	r.f.set(func(f *fakeTrading) {
		f.postErrors = []fakeError{{status: 503, code: wire.CodeUnavailable, message: "upstream timeout"}}
	})
	if _, err := r.v.Submit(context.Background(), testAccount, limitBuy("19", 10, 100)); err == nil {
		t.Fatal("Submit succeeded")
	}
	r.poll()
	r.clk.Advance(31 * time.Second)
	r.poll()
	wantEnd(t, r.event(), tvbridge.VenueRejected, "19", "no order with its idempotency key")
}

func ptr[T any](v T) *T { return &v }

// The same order submitted again, by this process or the next, sends the
// same key and gets the same order; the service placed one. The key
// belongs to the namespace: another trading database's order "20" is
// another order.
func TestVenueIdempotentSubmit(t *testing.T) {
	r := newVRig(t, nil, nil)
	o := limitBuy("20", 10, 100)
	ref := r.submit(o)
	if again := r.submit(o); again != ref {
		t.Fatalf("second Submit %s, first %s", again, ref)
	}
	r.restart()
	if again := r.submit(o); again != ref {
		t.Fatalf("Submit after a restart %s, first %s", again, ref)
	}
	if n := r.f.orderCount(); n != 1 {
		t.Fatalf("%d orders placed", n)
	}
	r.vcfg = func(c *VenueConfig) { c.KeyNamespace = "another-database" }
	r.restart()
	if other := r.submit(o); other == ref {
		t.Fatal("another namespace got the same order")
	}
}

// A 5xx after the service placed the order is retried by the client with
// the same key: one order.
func TestVenueRetryAfterPlacementIsTheSameOrder(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) {
		f.postErrors = []fakeError{{status: 503, code: wire.CodeUnavailable, message: "gateway timeout", afterPlacing: true}}
	})
	done := make(chan string, 1)
	go func() { done <- r.submit(limitBuy("21", 10, 100)) }()
	r.clk.BlockUntil(1) // the client's retry backoff
	r.clk.Advance(time.Minute)
	ref := <-done
	if n := r.f.orderCount(); n != 1 || r.f.count(wire.MethodPostOrder) != 2 || ref != r.f.lastOrder() {
		t.Fatalf("%d orders, %d PostOrder calls, ref %s", n, r.f.count(wire.MethodPostOrder), ref)
	}
}
