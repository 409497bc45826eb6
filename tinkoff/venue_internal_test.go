package tinkoff

// Unit tests of the venue's reconciliation on synthetic upstream answers:
// the cases the simulator never produces (lagging operations, ambiguous
// operations, stale closed operations, malformed trades).

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"strconv"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

var t0 = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)

const testFIGI = "FIGI1"

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestAccount() *venueAccount {
	return &venueAccount{id: "A", orders: map[string]*trackedOrder{},
		claimed: map[string]time.Time{}, done: map[string]time.Time{}}
}

// track follows an order of pieces units; a zero submitted means unknown.
func (a *venueAccount) track(id, ref string, side tvbridge.Side, limit float64, pieces int, submitted time.Time) *trackedOrder {
	typ := tvbridge.MarketOrder
	if limit > 0 {
		typ = tvbridge.LimitOrder
	}
	t := &trackedOrder{
		order: tvbridge.VenueOrder{ID: id, FIGI: testFIGI, Side: side, Type: typ, Qty: float64(pieces), Limit: limit},
		ref:   ref, pieces: pieces, lot: 1, increment: 0.01, submitted: submitted,
		seq: uint64(len(a.orders) + 1), seen: map[string]bool{},
	}
	t.notBefore = submitted.Add(-time.Minute)
	if submitted.IsZero() {
		t.notBefore = t0.Add(-7 * 24 * time.Hour)
	}
	a.orders[ref] = t
	a.changes++
	return t
}

func testEnv(now time.Time) reconcileEnv {
	return reconcileEnv{now: now, grace: 3 * time.Second, log: discardLog(), keepClaims: now.Add(-30 * 24 * time.Hour)}
}

// reconcileOnce runs one poll's reconciliation on the given answers.
func (a *venueAccount) reconcileOnce(env reconcileEnv, active []wire.Order, ops ...wire.Operation) []tvbridge.VenueEvent {
	snap := pollSnapshot{orders: sortedOrders(a.orders), changes: a.changes, quiet: a.inflight == 0}
	return a.reconcile(env, snap, active, ops)
}

func activeOrder(ref string) wire.Order { return wire.Order{OrderID: ref, FIGI: testFIGI} }

func operation(id, typ, status string, qty int, date time.Time, commission float64, trades ...wire.OperationTrade) wire.Operation {
	op := wire.Operation{ID: id, OperationType: typ, Status: status, FIGI: testFIGI, Quantity: qty,
		Date: date.Format(wire.TimeLayout), Trades: trades, Currency: "RUB"}
	if commission != 0 {
		op.Commission = &wire.MoneyAmount{Currency: "RUB", Value: -commission}
	}
	return op
}

func fillTrade(id string, qty int, price float64, at time.Time) wire.OperationTrade {
	return wire.OperationTrade{TradeID: id, Quantity: qty, Price: price, Date: at.Format(wire.TimeLayout)}
}

func kinds(events []tvbridge.VenueEvent) string {
	s := ""
	for _, ev := range events {
		s += string(ev.Kind) + ":" + ev.OrderID + ":" + ev.ExecID + " "
	}
	return s
}

func TestReconcileWaitsForLaggingOperations(t *testing.T) {
	a := newTestAccount()
	a.track("o1", "r1", tvbridge.Buy, 100, 20, t0)
	partial := operation("op1", "Buy", "Progress", 20, t0, 1, fillTrade("x1", 10, 100, t0.Add(time.Second)))

	// Gone from /orders, half filled, operation still in progress: wait.
	events := a.reconcileOnce(testEnv(t0.Add(2*time.Second)), nil, partial)
	if kinds(events) != "fill:o1:x1 " || events[0].Commission != 1 {
		t.Fatalf("first poll: %+v", events)
	}
	if events := a.reconcileOnce(testEnv(t0.Add(4*time.Second)), nil, partial); len(events) != 0 {
		t.Fatalf("within the grace period: %+v", events)
	}
	// The operation catches up: the last fill, no cancellation.
	full := operation("op1", "Buy", "Done", 20, t0, 1.5,
		fillTrade("x1", 10, 100, t0.Add(time.Second)), fillTrade("x2", 10, 99.5, t0.Add(3*time.Second)))
	events = a.reconcileOnce(testEnv(t0.Add(5*time.Second)), nil, full)
	if kinds(events) != "fill:o1:x2 " || events[0].Commission != 0.5 || len(a.orders) != 0 {
		t.Fatalf("after the operation caught up: %+v", events)
	}

	// A closed operation short of the quantity is a cancellation, at once.
	a.track("o2", "r2", tvbridge.Buy, 100, 20, t0)
	closed := operation("op2", "Buy", "Done", 20, t0, 0, fillTrade("x3", 10, 100, t0))
	events = a.reconcileOnce(testEnv(t0.Add(6*time.Second)), nil, full, closed)
	if kinds(events) != "fill:o2:x3 cancelled:o2: " {
		t.Fatalf("closed short: %+v", events)
	}

	// No operation at all: cancelled after the grace period.
	a.track("o3", "r3", tvbridge.Sell, 0, 5, t0)
	if events := a.reconcileOnce(testEnv(t0.Add(7*time.Second)), nil); len(events) != 0 {
		t.Fatalf("vanished order cancelled at once: %+v", events)
	}
	events = a.reconcileOnce(testEnv(t0.Add(10*time.Second)), nil)
	if kinds(events) != "cancelled:o3: " || events[0].Reason == "" {
		t.Fatalf("vanished order after the grace period: %+v", events)
	}
}

// When placement said the order executed, a missing operation is late, not
// a sign of cancellation: the venue waits far longer before giving up.
func TestReconcileWaitsLongerForExecutedOrders(t *testing.T) {
	a := newTestAccount()
	a.track("o1", "r1", tvbridge.Buy, 0, 10, t0).executed = 10
	a.orders["r1"].cancelAcked = true // even a cancel does not settle it
	for _, after := range []time.Duration{0, 3 * time.Second, 59 * time.Second} {
		if events := a.reconcileOnce(testEnv(t0.Add(after)), nil); len(events) != 0 {
			t.Fatalf("after %v: %+v", after, events)
		}
	}
	events := a.reconcileOnce(testEnv(t0.Add(time.Minute)), nil)
	if kinds(events) != "cancelled:o1: " {
		t.Fatalf("after the long wait: %+v", events)
	}
}

func TestReconcileDeclinedOperationRejects(t *testing.T) {
	a := newTestAccount()
	a.track("o1", "r1", tvbridge.Buy, 0, 10, t0)
	events := a.reconcileOnce(testEnv(t0), nil, operation("op1", "Buy", "Decline", 10, t0, 0))
	if kinds(events) != "rejected:o1: " {
		t.Fatalf("events %+v", events)
	}
}

// A restored order still active must not take a closed operation of an
// earlier order with the same parameters.
func TestReconcileActiveOrderIgnoresClosedOperation(t *testing.T) {
	a := newTestAccount()
	a.track("o1", "r1", tvbridge.Buy, 100, 10, time.Time{})
	old := operation("op-old", "Buy", "Done", 10, t0.Add(-time.Hour), 0, fillTrade("old", 10, 99, t0.Add(-time.Hour)))
	events := a.reconcileOnce(testEnv(t0), []wire.Order{activeOrder("r1")}, old)
	if len(events) != 0 || a.orders["r1"].opID != "" {
		t.Fatalf("events %+v, matched to %q", events, a.orders["r1"].opID)
	}
}

// Two restored buys: one fits only the newer operation (its limit is
// below the other's prices), the other fits both and prefers the newer.
// Both must end up matched.
func TestReconcileMatchesEveryOrderItCan(t *testing.T) {
	a := newTestAccount()
	a.track("wide", "r1", tvbridge.Buy, 101, 10, time.Time{})
	a.track("narrow", "r2", tvbridge.Buy, 100, 10, time.Time{})
	older := operation("opA", "Buy", "Done", 10, t0, 0, fillTrade("a", 10, 100.5, t0))
	newer := operation("opB", "Buy", "Done", 10, t0.Add(time.Second), 0, fillTrade("b", 10, 99.5, t0.Add(time.Second)))
	events := a.reconcileOnce(testEnv(t0.Add(time.Minute)), nil, older, newer)
	if kinds(events) != "fill:wide:a fill:narrow:b " {
		t.Fatalf("events %s", kinds(events))
	}
}

// Orders with known submit times take the operation closest in time.
func TestReconcilePrefersClosestOperation(t *testing.T) {
	a := newTestAccount()
	a.track("first", "r1", tvbridge.Sell, 0, 10, t0)
	a.track("second", "r2", tvbridge.Sell, 0, 10, t0.Add(20*time.Second))
	op1 := operation("op1", "Sell", "Done", 10, t0.Add(21*time.Second), 0, fillTrade("s2", 10, 50, t0.Add(21*time.Second)))
	op2 := operation("op2", "Sell", "Done", 10, t0, 0, fillTrade("s1", 10, 50, t0))
	events := a.reconcileOnce(testEnv(t0.Add(time.Minute)), nil, op1, op2)
	if kinds(events) != "fill:first:s1 fill:second:s2 " {
		t.Fatalf("events %s", kinds(events))
	}
}

func TestReconcileDoesNotMatchWhileSubmitting(t *testing.T) {
	a := newTestAccount()
	a.track("o1", "r1", tvbridge.Buy, 0, 10, t0)
	a.orders["r1"].cancelAcked = true
	op := operation("op1", "Buy", "Done", 10, t0, 0, fillTrade("x", 10, 10, t0))
	a.inflight = 1
	if events := a.reconcileOnce(testEnv(t0), nil, op); len(events) != 0 {
		t.Fatalf("while a Submit is in flight: %+v", events)
	}
	a.inflight = 0
	snap := pollSnapshot{orders: sortedOrders(a.orders), changes: a.changes, quiet: true}
	a.changes++ // an order was adopted during the poll
	if events := a.reconcile(testEnv(t0), snap, nil, []wire.Operation{op}); len(events) != 0 {
		t.Fatalf("after an adoption during the poll: %+v", events)
	}
	if events := a.reconcileOnce(testEnv(t0), nil, op); kinds(events) != "fill:o1:x " {
		t.Fatalf("once quiet: %+v", events)
	}
}

func TestReconcileCommissionAndAppliedFills(t *testing.T) {
	a := newTestAccount()
	a.track("o1", "r1", tvbridge.Buy, 0, 30, t0)
	op := operation("op1", "Buy", "Done", 30, t0, 0.6,
		fillTrade("x1", 10, 100, t0), fillTrade("x2", 10, 100, t0), fillTrade("x3", 10, 100, t0))
	env := testEnv(t0)
	env.applied = func(id string) bool { return id == "x1" }
	events := a.reconcileOnce(env, nil, op)
	if kinds(events) != "fill:o1:x2 fill:o1:x3 " {
		t.Fatalf("events %s", kinds(events))
	}
	if c := sumCommissions(events); math.Abs(c-0.4) > 1e-9 {
		t.Fatalf("commission of the new fills %v, want 0.4", c)
	}
}

func TestReconcileIgnoresOverfillAndMalformedTrades(t *testing.T) {
	a := newTestAccount()
	a.track("o1", "r1", tvbridge.Buy, 0, 10, t0)
	first := operation("op1", "Buy", "Progress", 0, t0, 0,
		fillTrade("bad", 0, 100, t0), fillTrade("nan", 5, math.NaN(), t0), fillTrade("ok", 5, 100, t0))
	events := a.reconcileOnce(testEnv(t0), []wire.Order{activeOrder("r1")}, first)
	if kinds(events) != "fill:o1:ok " {
		t.Fatalf("events %s", kinds(events))
	}
	// The operation grows beyond the order: the excess is not reported.
	later := first
	later.Trades = append(later.Trades, fillTrade("ok2", 5, 101, t0), fillTrade("over", 1, 100, t0))
	events = a.reconcileOnce(testEnv(t0), []wire.Order{activeOrder("r1")}, later)
	if kinds(events) != "fill:o1:ok2 " {
		t.Fatalf("events %s", kinds(events))
	}
}

func sumCommissions(events []tvbridge.VenueEvent) float64 {
	var s float64
	for _, ev := range events {
		s += ev.Commission
	}
	return s
}

func TestVenueRefRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, id := range []string{"5171-uuid", "12345", "a@b"} {
		gotID, gotAt := parseVenueRef(formatVenueRef(id, at))
		if gotID != id || !gotAt.Equal(at) {
			t.Errorf("%q: got %q, %v", id, gotID, gotAt)
		}
	}
	if id, at := parseVenueRef("plain-id"); id != "plain-id" || !at.IsZero() {
		t.Errorf("plain id: %q, %v", id, at)
	}
	if id, at := parseVenueRef("x@not-a-time"); id != "x@not-a-time" || !at.IsZero() {
		t.Errorf("bad time: %q, %v", id, at)
	}
}

func TestLotsAndPriceGrid(t *testing.T) {
	for _, c := range []struct {
		qty  float64
		lot  int
		lots int
		ok   bool
	}{{10, 10, 1, true}, {30, 10, 3, true}, {15, 10, 0, false}, {0, 1, 0, false}, {-10, 10, 0, false},
		{math.Inf(1), 1, 0, false}, {0.3 * 10, 3, 1, true}, {1e12, 1, 0, false}} {
		lots, ok := wholeLots(c.qty, c.lot)
		if lots != c.lots || ok != c.ok {
			t.Errorf("wholeLots(%v, %d) = %d, %v", c.qty, c.lot, lots, ok)
		}
	}
	if p := snapToGrid(0.1+0.2, 0.01); p != 0.3 {
		t.Errorf("snapToGrid gave %v", p)
	}
	if p := snapToGrid(0.0000351, 0.000005); p != 0.000035 {
		t.Errorf("snapToGrid gave %v", p)
	}
	if !onPriceGrid(238.42, 0.01) || onPriceGrid(238.425, 0.01) || !onPriceGrid(7, 0) {
		t.Error("onPriceGrid")
	}
}

// FuzzVenueReconcile feeds arbitrary /orders and /operations answers to
// three polls: nothing may panic, no order is reported filled beyond its
// quantity, no ExecID twice, and nothing after an order's final event.
func FuzzVenueReconcile(f *testing.F) {
	f.Add([]byte(`{"active":[{"orderId":"r1"}],"ops":[{"id":"1","operationType":"Buy","status":"Progress","figi":"FIGI1","quantity":20,"date":"2026-11-18T09:00:00Z","commission":{"currency":"RUB","value":-1},"trades":[{"tradeId":"t1","price":100,"quantity":10,"date":"2026-11-18T09:00:01Z"}]}]}`))
	f.Add([]byte(`{"active":[],"ops":[{"id":"1","operationType":"Buy","status":"Done","figi":"FIGI1","quantity":20,"date":"2026-11-18T09:00:00Z","trades":[{"tradeId":"t1","price":100,"quantity":10,"date":"x"},{"tradeId":"t1","price":99,"quantity":10,"date":"2026-11-18T09:00:00Z"}]},{"id":"2","operationType":"Sell","status":"Decline","figi":"FIGI1","quantity":5,"date":"2026-11-18T09:00:00+03:00"}]}`))
	f.Add([]byte(`{"ops":[{"id":"","operationType":"BuyCard","status":"Done","figi":"FIGI1","date":"2026-11-18T09:00:00Z","trades":[{"price":-1,"quantity":-5}]},{"id":"3","operationType":"PayIn","payment":5,"date":"2026-11-18T09:00:00Z"}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in struct {
			Active []wire.Order     `json:"active"`
			Ops    []wire.Operation `json:"ops"`
		}
		if err := json.Unmarshal(data, &in); err != nil {
			return
		}
		a := newTestAccount()
		a.track("o1", "r1", tvbridge.Buy, 100, 20, t0)
		a.track("o2", "r2", tvbridge.Sell, 0, 5, time.Time{})
		a.track("o3", "r3", tvbridge.Sell, 99, 10, t0.Add(time.Second))
		filled := map[string]float64{}
		final := map[string]bool{}
		execs := map[string]bool{}
		for i := range 3 {
			for _, ev := range a.reconcileOnce(testEnv(t0.Add(time.Duration(i)*5*time.Second)), in.Active, in.Ops...) {
				if final[ev.OrderID] {
					t.Fatalf("event after the final one: %+v", ev)
				}
				switch ev.Kind {
				case tvbridge.VenueFill:
					if execs[ev.ExecID] {
						t.Fatalf("ExecID %q reported twice", ev.ExecID)
					}
					execs[ev.ExecID] = true
					filled[ev.OrderID] += ev.Qty
					if !(ev.Qty > 0) || !(ev.Price > 0) || ev.Commission < 0 || math.IsNaN(ev.Commission) {
						t.Fatalf("bad fill %+v", ev)
					}
				default:
					final[ev.OrderID] = true
				}
			}
		}
		for id, want := range map[string]float64{"o1": 20, "o2": 5, "o3": 10} {
			if filled[id] > want {
				t.Fatalf("%s filled %v of %v", id, filled[id], want)
			}
		}
	})
}

// FuzzParseVenueRef: any stored ref parses without panicking, and a ref
// this venue wrote reads back as written.
func FuzzParseVenueRef(f *testing.F) {
	f.Add("5171-uuid@2026-11-18T09:00:00.123456789Z", int64(0))
	f.Add("12345", int64(1_700_000_000_000_000_000))
	f.Add("@@", int64(-1))
	f.Add("a@2026-13-40T99:00:00Z", int64(42))
	f.Fuzz(func(t *testing.T, ref string, ns int64) {
		id, at := parseVenueRef(ref)
		if !at.IsZero() {
			if id2, at2 := parseVenueRef(formatVenueRef(id, at)); id2 != id || !at2.Equal(at) {
				t.Fatalf("%q -> %q, %v -> %q, %v", ref, id, at, id2, at2)
			}
		}
		if ref == "" {
			return
		}
		submitted := time.Unix(0, ns).UTC()
		if id2, at2 := parseVenueRef(formatVenueRef(ref, submitted)); id2 != ref || !at2.Equal(submitted) {
			t.Fatalf("round trip of %q at %v: %q, %v", ref, submitted, id2, at2)
		}
	})
}

func BenchmarkReconcile(b *testing.B) {
	// 100 working orders, 100 operations of other orders to rule out.
	var ops []wire.Operation
	for i := range 100 {
		ops = append(ops, operation("op"+strconv.Itoa(i), "Sell", "Done", 10, t0, 1,
			fillTrade("x"+strconv.Itoa(i), 10, 100, t0)))
	}
	var active []wire.Order
	for i := range 100 {
		active = append(active, activeOrder("r"+strconv.Itoa(i)))
	}
	a := newTestAccount()
	for i := range 100 {
		a.track("o"+strconv.Itoa(i), "r"+strconv.Itoa(i), tvbridge.Buy, 100, 10, t0)
	}
	env := testEnv(t0)
	b.ReportAllocs()
	for b.Loop() {
		a.reconcileOnce(env, active, ops...)
	}
}
