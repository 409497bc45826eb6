package tinvest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	figiSBER: {FIGI: figiSBER, UID: uidSBER, Ticker: "SBER", Lot: 10, MinPriceIncrement: 0.01, Currency: "RUB",
		Session: "24x7", Timezone: "UTC"},
	figiAAPL: {FIGI: figiAAPL, UID: uidAAPL, Ticker: "AAPL", Lot: 1, MinPriceIncrement: 0.01, Currency: "USD",
		Session: "24x7", Timezone: "UTC"},
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
	// stream, unseen by polls) as a slow service would.
	r.f.set(func(f *fakeTrading) {
		f.failPolls = true
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
	r.f.set(func(f *fakeTrading) { f.failPolls = false })

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

// After a restart the core hands back the orders that were working: the
// venue reports the fills made meanwhile (and those reported before, which
// the core applies once) and follows them on. An order the core was still
// placing has no VenueRef: found by its key, it is followed; not found, it
// was never placed and is rejected.
func TestVenueRestoreAfterRestart(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.startConnected()
	o := limitBuy("30", 30, 100)
	o.VenueRef = r.submit(o)
	r.f.fill(o.VenueRef, 1, 100)
	wantFill(t, r.event(), "30", 10, 100, 0.5)
	placing := limitBuy("31", 10, 99) // placed, but the process died before the answer was recorded
	r.submit(placing)
	lost := limitBuy("32", 10, 98) // the process died before sending it
	r.restart()

	r.f.fill(o.VenueRef, 1, 100.5) // while nobody follows
	r.start()
	r.f.waitConnected(t)
	if err := r.v.Restore(context.Background(), testAccount, []tvbridge.VenueOrder{o, placing, lost}); err != nil {
		t.Fatal(err)
	}
	got := map[string][]tvbridge.VenueEvent{}
	for range 2 { // two fills of 30
		ev := r.event()
		got[ev.OrderID] = append(got[ev.OrderID], ev)
	}
	if f := got["30"]; len(f) != 2 || f[0].Price != 100 || f[1].Price != 100.5 || f[0].ExecID == f[1].ExecID {
		t.Fatalf("fills of the restored order: %+v", f)
	}
	// 32 is rejected only once RestoreGrace has passed since the restart:
	// until then the old process's PostOrder could still reach T-Invest.
	r.barrier("before the grace")
	for step := 2 * time.Second; step < DefaultRestoreGrace; step += 2 * time.Second {
		r.clk.Advance(2 * time.Second)
		r.barrier(fmt.Sprint("grace ", step))
	}
	// Past the grace: a poll round reports it (rounds follow the poll
	// ticker, whose ticks coalesce while a round runs, so keep ticking).
	deadline := time.After(20 * time.Second)
	for {
		r.clk.Advance(2 * time.Second)
		select {
		case ev := <-r.v.Events():
			wantEnd(t, ev, tvbridge.VenueRejected, "32", "stopped while placing it")
		case <-time.After(50 * time.Millisecond):
			continue
		case <-deadline:
			t.Fatal("32 never rejected after the restore grace")
		}
		break
	}
	// Both restored orders are followed on the stream.
	r.f.fill(o.VenueRef, 1, 101)
	wantFill(t, r.event(), "30", 10, 101, 0.505)
	r.f.fill(r.f.orderByKey(testAccount, r.v.key(testAccount, "31")), 1, 99)
	wantFill(t, r.event(), "31", 10, 99, 0.495)
	r.barrier("b1")
}

// Restored orders are reconciled by polls when the stream is down, and an
// order that ended while tvbridge was down is reported with its fills.
func TestVenueRestoreEndedWhileDown(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) { f.refuseStream = 503 })
	o := limitBuy("33", 30, 100)
	o.VenueRef = r.submit(o)
	r.restart()
	r.f.fill(o.VenueRef, 2, 100)
	r.f.cancelUpstream(o.VenueRef, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_EXCHANGE")
	r.start()
	if err := r.v.Restore(context.Background(), testAccount, []tvbridge.VenueOrder{o}); err != nil {
		t.Fatal(err)
	}
	wantFill(t, r.event(), "33", 20, 100, 1)
	wantEnd(t, r.event(), tvbridge.VenueCancelled, "33", "20 of 30 filled")
}

// Errors map to what the trader can act on, with the service's words and
// x-tracking-id in the detail; what the venue can check costs no request.
func TestVenueErrorMapping(t *testing.T) {
	r := newVRig(t, nil, nil)
	cases := []struct {
		name   string
		err    fakeError
		order  tvbridge.VenueOrder
		code   tvbridge.ErrorCode
		reason tvbridge.Reason
		detail string
	}{
		{"funds", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30034", message: "Not enough balance"},
			limitBuy("e1", 10, 100), tvbridge.ErrInsufficientFunds, "", "Not enough balance (30034) (x-tracking-id trk-Bad Request)"},
		{"margin", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30042", message: "Not enough assets for a margin trade"},
			market("e2", tvbridge.Sell, 10), tvbridge.ErrInsufficientFunds, "", "margin"},
		{"weekend limit", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30092", message: "Trading unavailable on weekends"},
			limitBuy("e3", 10, 100), tvbridge.ErrMarketClosed, "", "weekends"},
		{"weekend market", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30092", message: "Trading unavailable on weekends"},
			market("e4", tvbridge.Buy, 10), tvbridge.ErrMarketClosed, tvbridge.ReasonMarketClosed, "weekends"},
		{"session", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30097", message: "Inappropriate trading session"},
			limitBuy("e5", 10, 100), tvbridge.ErrMarketClosed, "", "session"},
		{"tick", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30078", message: "Incorrect minimum price increment"},
			limitBuy("e6", 10, 100), tvbridge.ErrInvalidPrice, tvbridge.ReasonPriceStep, "increment"},
		{"not for the API", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30052", message: "Instrument forbidden for trading by API"},
			limitBuy("e7", 10, 100), tvbridge.ErrUnsupported, "", "through the API"},
		{"qualified", fakeError{status: 400, code: wire.CodeFailedPrecondition, service: "90002", message: "Only for qualified investors"},
			limitBuy("e8", 10, 100), tvbridge.ErrUnsupported, "", "qualified"},
		{"not available", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30079", message: "Instrument is not available for trading"},
			limitBuy("e9", 10, 100), tvbridge.ErrMarketClosed, "", "not available"},
		{"confirmation", fakeError{status: 400, code: wire.CodeFailedPrecondition, service: "90001", message: "Need confirmation: sms"},
			limitBuy("e10", 10, 100), tvbridge.ErrVenue, "", "confirmed"},
		{"token", fakeError{status: 401, code: wire.CodeUnauthenticated, service: "40003", message: "Authentication token is missing or invalid"},
			limitBuy("e11", 10, 100), tvbridge.ErrVenue, "", "issue a new one"},
		{"account", fakeError{status: 403, code: wire.CodePermissionDenied, service: "40004", message: "Working with orders is not available with this account"},
			limitBuy("e12", 10, 100), tvbridge.ErrVenue, "", "may not place orders"},
		{"too large", fakeError{status: 400, code: wire.CodeFailedPrecondition, service: "90003", message: "The price is too high"},
			limitBuy("e13", 10, 100), tvbridge.ErrInvalidQty, "", "split"},
		{"duplicate unknown", fakeError{status: 400, code: wire.CodeInvalidArgument, service: "30057", message: "The order is a duplicate, but the order report was not found"},
			limitBuy("e14", 10, 100), tvbridge.ErrVenue, "", "idempotency key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.f.set(func(f *fakeTrading) { f.postErrors = []fakeError{c.err} })
			_, err := r.v.Submit(context.Background(), testAccount, c.order)
			var te *tvbridge.TradingError
			if !errors.As(err, &te) || te.Code != c.code || te.Reason != c.reason || !strings.Contains(te.Detail, c.detail) {
				t.Fatalf("got %#v (%v), want %s %q mentioning %q", te, err, c.code, c.reason, c.detail)
			}
			if c.err.status == 401 && !IsAuth(err) {
				t.Error("a refused token is not IsAuth")
			}
		})
	}
	if r.f.orderCount() != 0 {
		t.Fatalf("%d orders placed", r.f.orderCount())
	}

	before := r.f.count(wire.MethodPostOrder)
	local := []struct {
		order  tvbridge.VenueOrder
		code   tvbridge.ErrorCode
		reason tvbridge.Reason
	}{
		{limitBuy("l1", 15, 100), tvbridge.ErrInvalidQty, tvbridge.ReasonQtyLot},          // 1.5 lots
		{limitBuy("l2", 10, 100.005), tvbridge.ErrInvalidPrice, tvbridge.ReasonPriceStep}, // off the tick
		{limitBuy("l3", 10, 0), tvbridge.ErrInvalidPrice, tvbridge.ReasonPricePositive},
		{tvbridge.VenueOrder{ID: "l4", FIGI: figiSBER, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 10}, tvbridge.ErrUnsupported, tvbridge.ReasonOrderType},
		{tvbridge.VenueOrder{ID: "l5", FIGI: "NOPE", Side: tvbridge.Buy, Type: tvbridge.MarketOrder, Qty: 10}, tvbridge.ErrUnknownInstrument, ""},
	}
	for _, c := range local {
		_, err := r.v.Submit(context.Background(), testAccount, c.order)
		var te *tvbridge.TradingError
		if !errors.As(err, &te) || te.Code != c.code || te.Reason != c.reason {
			t.Errorf("%s: %v, want %s %s", c.order.ID, err, c.code, c.reason)
		}
	}
	if _, err := r.v.Submit(context.Background(), "9999", limitBuy("l6", 10, 100)); !isCode(err, tvbridge.ErrUnknownAccount) {
		t.Errorf("unconfigured account: %v", err)
	}
	if n := r.f.count(wire.MethodPostOrder); n != before {
		t.Fatalf("%d requests for orders refused locally", n-before)
	}
}

func isCode(err error, code tvbridge.ErrorCode) bool {
	var te *tvbridge.TradingError
	return errors.As(err, &te) && te.Code == code
}

// 30057 (a key known without its report): the order is looked up by its
// key and followed when found.
func TestVenueDuplicateKeyFoundByKey(t *testing.T) {
	r := newVRig(t, nil, nil)
	o := limitBuy("40", 10, 100)
	key := r.v.key(testAccount, "40")
	r.f.set(func(f *fakeTrading) {
		f.mute = true
		f.newOrderLocked(testAccount, key, f.instruments[figiSBER], wire.OrderDirectionBuy, wire.OrderTypeLimit, 1, ptr(quotation(100)))
		f.mute = false
		f.postErrors = []fakeError{{status: 400, code: wire.CodeInvalidArgument, service: "30057", message: "duplicate"}}
	})
	ref, err := r.v.Submit(context.Background(), testAccount, o)
	if err != nil || ref != r.f.orderByKey(testAccount, key) {
		t.Fatalf("Submit: %q, %v", ref, err)
	}
	if b := r.lastBody(wire.MethodGetOrderState); b["orderId"] != key || b["orderIdType"] != "ORDER_ID_TYPE_REQUEST" {
		t.Fatalf("GetOrderState %v", b)
	}
}

// An answer describing another order than the one sent (its key used by
// another trading database with the same namespace) is refused.
func TestVenueForeignOrderUnderTheKeyRefused(t *testing.T) {
	r := newVRig(t, nil, nil)
	key := r.v.key(testAccount, "41")
	r.f.set(func(f *fakeTrading) {
		f.newOrderLocked(testAccount, key, f.instruments[figiAAPL], wire.OrderDirectionSell, wire.OrderTypeLimit, 7, ptr(quotation(5)))
	})
	_, err := r.v.Submit(context.Background(), testAccount, limitBuy("41", 10, 100))
	var te *tvbridge.TradingError
	if !errors.As(err, &te) || te.Code != tvbridge.ErrVenue || !strings.Contains(te.Detail, "namespace") {
		t.Fatalf("Submit: %v", err)
	}
}

// A 429 waits for x-ratelimit-reset within the client's limiter, then the
// order goes through; one that outlasts the retries is a venue error
// saying so.
func TestVenueRateLimited(t *testing.T) {
	r := newVRig(t, nil, func(c *Config) { c.MaxRetries = 1 })
	limited := fakeError{status: 429, code: wire.CodeResourceExhausted, service: "80002", message: "Request limit exceeded",
		header: map[string]string{wire.HeaderRateLimitReset: "7", wire.HeaderRateLimitRemaining: "0"}}
	r.f.set(func(f *fakeTrading) { f.postErrors = []fakeError{limited} })
	done := make(chan error, 1)
	go func() { _, err := r.v.Submit(context.Background(), testAccount, limitBuy("42", 10, 100)); done <- err }()
	r.f.waitRequests(t, wire.MethodPostOrder, 1)
	r.clk.BlockUntil(1)
	r.clk.Advance(7 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.f.set(func(f *fakeTrading) { f.postErrors = []fakeError{limited, limited} })
	go func() { _, err := r.v.Submit(context.Background(), testAccount, limitBuy("43", 10, 100)); done <- err }()
	r.f.waitRequests(t, wire.MethodPostOrder, 2)
	r.clk.BlockUntil(1)
	r.clk.Advance(7 * time.Second)
	err := <-done
	var te *tvbridge.TradingError
	if !errors.As(err, &te) || te.Code != tvbridge.ErrVenue || !strings.Contains(te.Detail, "request limit") ||
		!strings.Contains(te.Detail, "x-tracking-id") {
		t.Fatalf("Submit: %v", err)
	}
}

// A refused token ends Run with an error that says what to do: on the
// stream's handshake, on its close code, and on a poll.
func TestVenueTokenRefusedIsFatal(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(r *vrig)
	}{
		{"handshake 401", func(r *vrig) { r.f.set(func(f *fakeTrading) { f.refuseStream = 401 }) }},
		{"close 4016", func(r *vrig) {
			r.startConnected()
			r.f.closeStreams(wire.CloseUnauthenticated, "40003")
		}},
		{"poll 40003", func(r *vrig) {
			r.vcfg = func(c *VenueConfig) { c.PollOnly = true }
			r.v = r.newVenue()
			r.submit(limitBuy("44", 10, 100))
			r.f.handle(wire.MethodGetOrders, func(w http.ResponseWriter, req *http.Request) {
				writeError(w, 401, wire.CodeUnauthenticated, "40003", "Authentication token is missing or invalid", nil)
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newVRig(t, nil, nil)
			c.setup(r)
			if r.cancel == nil {
				r.start()
			}
			var err error
			select {
			case err = <-r.done:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not stop")
			}
			r.cancel()
			r.cancel = nil
			if !errors.Is(err, ErrUnauthenticated) || !IsAuth(err) || !strings.Contains(err.Error(), "issue a new one") {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// A silent stream (no frame, not even a ping) is reopened.
func TestVenueStreamStallReconnects(t *testing.T) {
	r := newVRig(t, func(c *VenueConfig) { c.StallTimeout = 10 * time.Second }, nil)
	r.startConnected()
	r.clk.Advance(10 * time.Second)
	r.pumpUntilConnected()
	if reqs := r.f.streamRequests(); len(reqs) != 2 || reqs[1].PingDelayMillis != 30000 ||
		strings.Join(reqs[1].Accounts, ",") != testAccount+","+testAccount2 {
		t.Fatalf("stream requests %+v", reqs)
	}
}

// Replace changes a working limit order in one ReplaceOrder under the new
// generation's key; the old generation ends cancelled, the new one fills.
func TestVenueReplace(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.startConnected()
	old := limitBuy("50", 30, 100)
	old.VenueRef = r.submit(old)
	r.f.fill(old.VenueRef, 1, 100)
	wantFill(t, r.event(), "50", 10, 100, 0.5)
	next := limitBuy("50.2", 20, 101)
	ref, err := r.v.Replace(context.Background(), testAccount, old, next)
	if err != nil {
		t.Fatal(err)
	}
	b := r.lastBody(wire.MethodReplaceOrder)
	if b["orderId"] != old.VenueRef || b["idempotencyKey"] != r.v.key(testAccount, "50.2") || b["quantity"] != "2" {
		t.Fatalf("ReplaceOrder %v", b)
	}
	wantEnd(t, r.event(), tvbridge.VenueCancelled, "50", "10 of 30 filled")
	r.f.fill(ref, 2, 101)
	wantFill(t, r.event(), "50.2", 20, 101, 1.01)
	// Retried, it is the same order.
	if again, err := r.v.Replace(context.Background(), testAccount, old, next); err == nil && again != ref {
		t.Fatalf("retried Replace: %s, %v", again, err)
	}
	r.barrier("b1")
}

// Accounts: the user's configured, open, tradable accounts with their cash
// per currency, the account currency first; Holdings adds the portfolio.
func TestVenueAccountsAndHoldings(t *testing.T) {
	r := newVRig(t, func(c *VenueConfig) {
		c.Users = map[string][]string{"alice": {testAccount, "2000000009", "2000000003", "2000000004"}, "bob": {testAccount2}}
	}, nil)
	r.f.set(func(f *fakeTrading) {
		f.accounts = append(f.accounts,
			wire.Account{ID: "2000000003", Status: wire.AccountStatusClosed, AccessLevel: wire.AccessLevelFullAccess},
			wire.Account{ID: "2000000004", Status: wire.AccountStatusOpen, AccessLevel: wire.AccessLevelReadOnly})
		f.portfolio[testAccount] = []wire.PortfolioPosition{
			{FIGI: figiSBER, InstrumentUID: uidSBER, InstrumentType: "share", Quantity: quotation(30),
				AveragePositionPrice: money("rub", "250.5"), CurrentPrice: money("rub", "251")},
			{FIGI: "RUB000UTSTOM", InstrumentType: "currency", Quantity: quotation(1000)},
		}
	})
	accs, err := r.v.Accounts(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(accs) != 1 {
		t.Fatalf("accounts %+v", accs)
	}
	a := accs[0]
	if a.ID != testAccount || a.Name != "T-Invest Broker" || a.Type != tvbridge.LiveAccount || a.Currency != "RUB" ||
		len(a.Cash) != 2 || a.Cash[0] != (tvbridge.Money{Currency: "RUB", Amount: 1000000}) ||
		a.Cash[1] != (tvbridge.Money{Currency: "USD", Amount: 2500.5}) {
		t.Fatalf("account %+v", a)
	}
	if accs, err := r.v.Accounts(context.Background(), "carol"); err != nil || len(accs) != 0 {
		t.Fatalf("a user without accounts: %v, %v", accs, err)
	}
	h, err := r.v.Holdings(context.Background(), testAccount)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Cash) != 2 || h.Cash[0].Blocked != 300 || len(h.Position) != 1 ||
		h.Position[0] != (HeldPosition{FIGI: figiSBER, UID: uidSBER, Qty: 30, AvgPrice: 250.5, Price: 251, Currency: "RUB"}) {
		t.Fatalf("holdings %+v", h)
	}
	if _, err := r.v.Holdings(context.Background(), "2000000099"); !isCode(err, tvbridge.ErrUnknownAccount) {
		t.Fatalf("holdings of an unconfigured account: %v", err)
	}
}

// Sandbox accounts work the same way, through the SandboxService calls,
// as demo accounts.
func TestVenueSandbox(t *testing.T) {
	r := newVRig(t, nil, func(c *Config) { c.Sandbox = true })
	r.startConnected()
	accs, err := r.v.Accounts(context.Background(), "bob")
	if err != nil || len(accs) != 1 || accs[0].Type != tvbridge.DemoAccount || accs[0].Name != "T-Invest IIS" {
		t.Fatalf("accounts %+v, %v", accs, err)
	}
	o := limitBuy("60", 10, 100)
	o.VenueRef = r.submit(o)
	if err := r.v.Cancel(context.Background(), testAccount, o); err != nil {
		t.Fatal(err)
	}
	wantEnd(t, r.event(), tvbridge.VenueCancelled, "60", "0 of 10 filled")
	for _, m := range []string{wire.MethodGetSandboxAccounts, wire.MethodGetSandboxPositions, wire.MethodPostSandboxOrder,
		wire.MethodCancelSandboxOrder} {
		if r.f.count(m) == 0 {
			t.Errorf("no %s", wire.MethodName(m))
		}
	}
	for _, m := range []string{wire.MethodGetAccounts, wire.MethodPostOrder, wire.MethodCancelOrder} {
		if r.f.count(m) != 0 {
			t.Errorf("production %s called", wire.MethodName(m))
		}
	}
}

// Configuration errors are refused.
func TestNewVenueChecksConfig(t *testing.T) {
	c := NewClient(Config{})
	for _, cfg := range []VenueConfig{
		{Instrument: venueInstrument, KeyNamespace: "x"},
		{Client: c, KeyNamespace: "x"},
		{Client: c, Instrument: venueInstrument},
		{Client: c, Instrument: venueInstrument, KeyNamespace: "x", Users: map[string][]string{"a": {"1"}, "b": {"1"}}},
		{Client: c, Instrument: venueInstrument, KeyNamespace: "x", PollInterval: -1},
	} {
		if _, err := NewVenue(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

// LoadKeyNamespace creates a random namespace once and reads it after.
func TestLoadKeyNamespace(t *testing.T) {
	path := t.TempDir() + "/tinvest-keys"
	a, err := LoadKeyNamespace(path)
	if err != nil || len(a) != 32 {
		t.Fatalf("%q, %v", a, err)
	}
	b, err := LoadKeyNamespace(path)
	if err != nil || b != a {
		t.Fatalf("second load %q, %v; first %q", b, err, a)
	}
	c, _ := LoadKeyNamespace(t.TempDir() + "/other")
	if c == a {
		t.Fatal("two files, one namespace")
	}
}

// A refused subscription (the token may not follow an account) is logged
// and the orders are polled; states of orders tvbridge does not follow
// (placed in T-Invest's app) are ignored.
func TestVenueSubscriptionRefusedPolls(t *testing.T) {
	r := newVRig(t, nil, nil)
	r.f.set(func(f *fakeTrading) {
		f.subError = &wire.ErrorDetail{Code: "40004", Message: "Working with orders is not available with this account"}
	})
	r.start()
	ref := r.submit(limitBuy("70", 20, 100))
	r.f.fill(ref, 1, 100)
	r.clk.Advance(2 * time.Second)
	wantFill(t, r.event(), "70", 10, 100, 0.5)
	waitFor(t, "the refusal logged", func() bool { return strings.Contains(r.logs.String(), "may not follow the orders") })
	if r.v.StreamUp() {
		t.Fatal("stream up")
	}

	r.restart()
	r.f.set(func(f *fakeTrading) { f.subError = nil })
	r.startConnected()
	r.f.set(func(f *fakeTrading) {
		other := f.newOrderLocked(testAccount, "app-order", f.instruments[figiSBER], wire.OrderDirectionBuy,
			wire.OrderTypeLimit, 1, ptr(quotation(100)))
		f.fillLocked(other, 1, 100)
	})
	r.barrier("b1")
}

// waitFor waits until cond holds, checking every millisecond; the deadline
// is a safety net.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
