package trading_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/trading"
)

// TestLimitOrderLifecycle: placing -> working -> partly filled -> filled,
// with filled quantity, average price, executions and position following.
func TestLimitOrderLifecycle(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 30, 99.5))
	if o.Status != tvbridge.OrderWorking || o.AccountID != acct || o.Qty != 30 || o.FilledQty != 0 {
		t.Fatalf("placed order = %+v", o)
	}
	sub := next(t, e.venue.submits, "submit")
	if sub.ID != o.ID || sub.Type != tvbridge.LimitOrder || sub.Qty != 30 || sub.Limit != 99.5 || sub.Side != tvbridge.Buy || sub.AccountID != acct {
		t.Errorf("venue order = %+v", sub)
	}

	e.fillAndWait(user1, acct, o.ID, 10, 99.5)
	got := e.order(user1, acct, o.ID)
	if got.Status != tvbridge.OrderWorking || got.FilledQty != 10 || got.AvgPrice != 99.5 {
		t.Errorf("after a partial fill: %+v", got)
	}
	e.fillAndWait(user1, acct, o.ID, 20, 99.4)
	got = e.order(user1, acct, o.ID)
	wantAvg := (10*99.5 + 20*99.4) / 30
	if got.Status != tvbridge.OrderFilled || got.FilledQty != 30 || !near(got.AvgPrice, wantAvg) {
		t.Errorf("after the last fill: %+v, want filled at %v", got, wantAvg)
	}
	pos, ok := e.position(user1, acct, figiA)
	if !ok || pos.Side != tvbridge.Buy || pos.Qty != 30 || !near(pos.AvgPrice, wantAvg) {
		t.Errorf("position = %+v", pos)
	}
	execs, _ := e.m.Executions(context.Background(), user1, acct, figiA, 0)
	if len(execs) != 2 || execs[0].Price != 99.4 || execs[1].Price != 99.5 || execs[0].IsClose || execs[0].PositionID != pos.ID || execs[0].OrderID != o.ID {
		t.Errorf("executions = %+v", execs)
	}
	if none, _ := e.m.Executions(context.Background(), user1, acct, figiB, 0); len(none) != 0 {
		t.Errorf("executions of another instrument = %+v", none)
	}
	if one, _ := e.m.Executions(context.Background(), user1, acct, "", 1); len(one) != 1 || one[0].ID != execs[0].ID {
		t.Errorf("maxCount 1 = %+v", one)
	}
	hist, _ := e.m.OrdersHistory(context.Background(), user1, acct, 10)
	if len(hist) != 1 || hist[0].ID != o.ID {
		t.Errorf("history = %+v", hist)
	}
}

// TestCancelOrder: a venue order ends when the venue confirms; a final
// order cannot be cancelled again; unknown orders are reported as such.
func TestCancelOrder(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	next(t, e.venue.submits, "submit")
	if err := e.m.CancelOrder(ctx, user1, acct, o.ID); err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	if c := next(t, e.venue.cancels, "cancel"); c.ID != o.ID || c.VenueRef != "R-"+o.ID {
		t.Errorf("venue cancel = %+v", c)
	}
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderCancelled || got.Message == "" {
		t.Errorf("after cancel: %+v", got)
	}
	if err := e.m.CancelOrder(ctx, user1, acct, o.ID); code(err) != tvbridge.ErrOrderFinal {
		t.Errorf("second cancel = %v, want %s", err, tvbridge.ErrOrderFinal)
	}
	if err := e.m.CancelOrder(ctx, user1, acct, "424242"); code(err) != tvbridge.ErrUnknownOrder {
		t.Errorf("cancel of an unknown order = %v", err)
	}
	if _, err := e.m.ModifyOrder(ctx, user1, acct, o.ID, limitReq(tvbridge.Buy, 10, 98)); code(err) != tvbridge.ErrOrderFinal {
		t.Errorf("modify of a cancelled order = %v", err)
	}
}

// TestModifyReplacesAtVenue: changing a working limit order's quantity or
// price cancels it at the venue and submits the rest under a new
// generation, whose fills count for the same order.
func TestModifyReplacesAtVenue(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 30, 99))
	next(t, e.venue.submits, "submit")
	e.fillAndWait(user1, acct, o.ID, 10, 99)

	got, err := e.m.ModifyOrder(ctx, user1, acct, o.ID, limitReq(tvbridge.Buy, 50, 98.5))
	if err != nil {
		t.Fatalf("ModifyOrder: %v", err)
	}
	if got.Qty != 50 || got.LimitPrice != 98.5 || got.FilledQty != 10 || got.Status != tvbridge.OrderWorking {
		t.Errorf("modified order = %+v", got)
	}
	if c := next(t, e.venue.cancels, "cancel"); c.ID != o.ID {
		t.Errorf("cancelled %s, want %s", c.ID, o.ID)
	}
	sub := next(t, e.venue.submits, "replacement")
	if sub.ID != o.ID+".2" || sub.Qty != 40 || sub.Limit != 98.5 {
		t.Errorf("replacement = %+v, want %s.2 for 40 at 98.5", sub, o.ID)
	}
	e.fillAndWait(user1, acct, sub.ID, 40, 98.5)
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderFilled || got.FilledQty != 50 {
		t.Errorf("after the replacement filled: %+v", got)
	}
	if p, _ := e.position(user1, acct, figiA); p.Qty != 50 {
		t.Errorf("position = %+v", p)
	}
}

// TestModifyRules: what a modification may not do.
func TestModifyRules(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 30, 99))
	next(t, e.venue.submits, "submit")
	e.fillAndWait(user1, acct, o.ID, 20, 99)
	cases := []struct {
		name string
		req  tvbridge.OrderRequest
		want tvbridge.ErrorCode
	}{
		{"below filled", limitReq(tvbridge.Buy, 10, 99), tvbridge.ErrInvalidQty},
		{"other side", limitReq(tvbridge.Sell, 30, 99), tvbridge.ErrInvalidRequest},
		{"other type", tvbridge.OrderRequest{Type: tvbridge.StopOrder, Qty: 30, StopPrice: 101}, tvbridge.ErrInvalidRequest},
		{"other instrument", tvbridge.OrderRequest{FIGI: figiB, Qty: 30, LimitPrice: 99}, tvbridge.ErrInvalidRequest},
		{"off the grid", limitReq(tvbridge.Buy, 30, 99.001), tvbridge.ErrInvalidPrice},
		{"off the lot", limitReq(tvbridge.Buy, 35, 99), tvbridge.ErrInvalidQty},
		{"unknown duration", tvbridge.OrderRequest{Qty: 30, LimitPrice: 99, Duration: tvbridge.OrderDuration{Type: "IOC"}}, tvbridge.ErrUnsupported},
		{"too big", limitReq(tvbridge.Buy, 100_000, 99), tvbridge.ErrInsufficientFunds},
	}
	for _, c := range cases {
		if _, err := e.m.ModifyOrder(ctx, user1, acct, o.ID, c.req); code(err) != c.want {
			t.Errorf("%s: ModifyOrder = %v, want %s", c.name, err, c.want)
		}
	}
	if _, err := e.m.ModifyOrder(ctx, user1, acct, "777", limitReq(tvbridge.Buy, 30, 99)); code(err) != tvbridge.ErrUnknownOrder {
		t.Errorf("unknown order: %v", err)
	}
	// Reducing to exactly the filled quantity completes the order.
	got, err := e.m.ModifyOrder(ctx, user1, acct, o.ID, limitReq(tvbridge.Buy, 20, 99))
	if err != nil || got.Status != tvbridge.OrderFilled || got.Qty != 20 {
		t.Errorf("modify to the filled qty = %+v, %v", got, err)
	}
	select {
	case s := <-e.venue.submits:
		t.Errorf("nothing left to submit, but %+v was", s)
	default:
	}
}

// TestModifyHeldStop: an untriggered stop is changed in place; a stop
// price on the wrong side of the market is refused.
func TestModifyHeldStop(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 101})
	if o.Status != tvbridge.OrderWorking {
		t.Fatalf("held stop = %+v", o)
	}
	got, err := e.m.ModifyOrder(ctx, user1, acct, o.ID, tvbridge.OrderRequest{Qty: 20, StopPrice: 102, Duration: tvbridge.OrderDuration{Type: "GTC"}})
	if err != nil || got.Qty != 20 || got.StopPrice != 102 || got.Duration.Type != tvbridge.DurationGTC {
		t.Fatalf("modified stop = %+v, %v", got, err)
	}
	if _, err := e.m.ModifyOrder(ctx, user1, acct, o.ID, tvbridge.OrderRequest{Qty: 20, StopPrice: 99}); code(err) != tvbridge.ErrInvalidPrice {
		t.Errorf("stop moved below the market: %v", err)
	}
	select {
	case c := <-e.venue.cancels:
		t.Errorf("a held stop went to the venue: %+v", c)
	case s := <-e.venue.submits:
		t.Errorf("a held stop went to the venue: %+v", s)
	default:
	}
}

// TestModifyWithoutCancelConfirmation: if the venue never confirms the
// cancel, the modification fails and the order keeps working unchanged.
func TestModifyWithoutCancelConfirmation(t *testing.T) {
	e := newEnv(t, withConfig(func(c *trading.Config) { c.VenueTimeout = 50 * time.Millisecond }))
	acct := e.account(user1)
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	next(t, e.venue.submits, "submit")
	e.venue.mu.Lock()
	e.venue.holdCancels = true
	e.venue.mu.Unlock()
	modified := make(chan error, 1)
	go func() {
		_, err := e.m.ModifyOrder(context.Background(), user1, acct, o.ID, limitReq(tvbridge.Buy, 10, 98))
		modified <- err
	}()
	next(t, e.venue.cancels, "the cancel of the replace")
	// While the venue has not answered, the order cannot be changed again.
	if err := e.m.CancelOrder(context.Background(), user1, acct, o.ID); code(err) != tvbridge.ErrVenue {
		t.Errorf("CancelOrder during a replace = %v, want %s", err, tvbridge.ErrVenue)
	}
	if err := next(t, modified, "ModifyOrder"); code(err) != tvbridge.ErrVenue {
		t.Fatalf("ModifyOrder = %v, want %s", err, tvbridge.ErrVenue)
	}
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderWorking || got.LimitPrice != 99 {
		t.Errorf("order after the failed modification = %+v", got)
	}
	// The fill that raced the cancel still counts.
	e.fillAndWait(user1, acct, o.ID, 10, 99)
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderFilled {
		t.Errorf("order = %+v", got)
	}
}

// TestIdempotentPlace: a repeated RequestID returns the first order and
// places nothing, also after a restart; a refused first attempt is
// refused again the same way.
func TestIdempotentPlace(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	req := limitReq(tvbridge.Buy, 10, 99)
	req.RequestID = "req-1"
	first := e.place(user1, acct, req)
	next(t, e.venue.submits, "submit")
	if again := e.place(user1, acct, req); again.ID != first.ID || again.Qty != 10 {
		t.Errorf("retry = %+v, want the first order %s", again, first.ID)
	}
	e.restart()
	if again := e.place(user1, acct, req); again.ID != first.ID {
		t.Errorf("retry after restart = %+v", again)
	}
	// Another user's request id is theirs.
	bob := e.account(user2)
	if other := e.place(user2, bob, req); other.ID == first.ID {
		t.Errorf("another user's request reused order %s", first.ID)
	}
	next(t, e.venue.submits, "bob's submit")

	e.venue.setSubmitErr(tvbridge.Errorf(tvbridge.ErrInsufficientFunds, "", "no money at the venue"))
	bad := limitReq(tvbridge.Buy, 10, 98)
	bad.RequestID = "req-2"
	o1, err1 := e.m.PlaceOrder(context.Background(), user1, acct, bad)
	e.venue.setSubmitErr(nil)
	o2, err2 := e.m.PlaceOrder(context.Background(), user1, acct, bad)
	if code(err1) != tvbridge.ErrInsufficientFunds || code(err2) != tvbridge.ErrInsufficientFunds || o1.ID != o2.ID || o2.Status != tvbridge.OrderRejected {
		t.Errorf("refused request and retry = (%+v, %v), (%+v, %v)", o1, err1, o2, err2)
	}
	select {
	case s := <-e.venue.submits:
		t.Errorf("a retry was placed: %+v", s)
	default:
	}
	orders, _ := e.m.Orders(context.Background(), user1, acct)
	if len(orders) != 2 {
		t.Errorf("orders = %+v, want the first and the rejected one", orders)
	}
}

// TestVenueRejection: a refusal at submit rejects the order with the
// venue's reason; a later rejection event does the same for a working one.
func TestVenueRejection(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	e.venue.setSubmitErr(errors.New("connection reset"))
	o, err := e.m.PlaceOrder(context.Background(), user1, acct, limitReq(tvbridge.Buy, 10, 99))
	if code(err) != tvbridge.ErrVenue || o.Status != tvbridge.OrderRejected || o.MessageKind != "error" {
		t.Fatalf("PlaceOrder = %+v, %v", o, err)
	}
	e.venue.setSubmitErr(nil)
	w := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	next(t, e.venue.submits, "submit")
	e.venue.emit(tvbridge.VenueEvent{Kind: tvbridge.VenueRejected, OrderID: w.ID, Reason: "price limit"})
	got := e.waitStatus(user1, acct, w.ID, tvbridge.OrderRejected)
	if got.Message != "rejected: price limit" {
		t.Errorf("message = %q", got.Message)
	}
	// Final states are never left: a late cancel changes nothing.
	e.venue.emit(tvbridge.VenueEvent{Kind: tvbridge.VenueCancelled, OrderID: w.ID})
	e.fillAndWait(user1, acct, e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99)).ID, 10, 99)
	if got := e.order(user1, acct, w.ID); got.Status != tvbridge.OrderRejected {
		t.Errorf("final order moved: %+v", got)
	}
}

// TestDuplicateAndForeignEvents: a fill reported twice counts once; events
// for unknown orders and impossible fills are ignored.
func TestDuplicateAndForeignEvents(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 20, 99))
	next(t, e.venue.submits, "submit")
	ev := e.venue.fill(t, o.ID, 10, 99)
	e.venue.emit(ev)
	e.venue.emit(tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: "999999", ExecID: "X", Qty: 1, Price: 1})
	e.venue.emit(tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: o.ID, ExecID: "bad", Qty: -3, Price: 99})
	e.fillAndWait(user1, acct, o.ID, 10, 99)
	got := e.order(user1, acct, o.ID)
	execs, _ := e.m.Executions(context.Background(), user1, acct, "", 0)
	if got.FilledQty != 20 || got.Status != tvbridge.OrderFilled || len(execs) != 2 {
		t.Errorf("order = %+v, executions = %d; want 20 filled from 2 fills", got, len(execs))
	}
}

// TestFailingStore: a change the store refuses is not applied in memory
// either; a fill that could not be committed counts once the venue
// reports it again.
func TestFailingStore(t *testing.T) {
	store := trading.NewMemoryStore()
	e := newEnv(t, withStore(store))
	acct := e.account(user1)
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	next(t, e.venue.submits, "submit")

	store.FailCommits(errors.New("disk full"))
	if _, err := e.m.PlaceOrder(context.Background(), user1, acct, limitReq(tvbridge.Buy, 10, 98)); err == nil || code(err) != "" {
		t.Errorf("PlaceOrder on a failing store = %v, want a plain error", err)
	}
	if _, err := e.m.ModifyOrder(context.Background(), user1, acct, o.ID, limitReq(tvbridge.Buy, 10, 99)); err == nil {
		t.Errorf("ModifyOrder on a failing store succeeded")
	}
	fill := tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: o.ID, ExecID: "F1", Qty: 10, Price: 99, Time: start}
	e.m.ApplyEventForTest(fill) // what the event loop does, synchronously
	orders, _ := e.m.Orders(context.Background(), user1, acct)
	if len(orders) != 1 || orders[0].FilledQty != 0 || orders[0].Status != tvbridge.OrderWorking {
		t.Errorf("orders after refused commits = %+v", orders)
	}
	if _, ok := e.position(user1, acct, figiA); ok {
		t.Errorf("a fill that was not committed moved the position")
	}
	store.FailCommits(nil)
	e.m.ApplyEventForTest(fill)
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderFilled {
		t.Errorf("order after the fill was reported again = %+v", got)
	}
	if p, _ := e.position(user1, acct, figiA); p.Qty != 10 {
		t.Errorf("position = %+v", p)
	}
}

// TestRequestIDReuse: a RequestID sent again with any order parameter
// changed is neither a retry nor a new order: it is refused, naming the
// first field that differs, and places nothing, before and after a
// restart (the first request is on disk with its order). The same request
// again, however spelled (another price within float noise, no duration
// for DAY), and after the order was modified, still returns the order.
func TestRequestIDReuse(t *testing.T) {
	e := newEnv(t, withBolt())
	acct := e.account(user1)
	ctx := context.Background()
	req := limitReq(tvbridge.Buy, 10, 99)
	req.RequestID = "tv-7"
	req.Duration = tvbridge.OrderDuration{}
	req.Brackets = tvbridge.Brackets{StopLoss: 98, TakeProfit: 101}
	first := e.place(user1, acct, req)
	next(t, e.venue.submits, "submit")

	changes := []struct {
		field  string
		change func(*tvbridge.OrderRequest)
	}{
		{"instrument", func(r *tvbridge.OrderRequest) { r.FIGI = figiB }},
		{"instrument", func(r *tvbridge.OrderRequest) { r.FIGI = "NOPE" }},
		{"side", func(r *tvbridge.OrderRequest) { r.Side = tvbridge.Sell }},
		{"type", func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopLimitOrder; r.StopPrice = 101 }},
		{"qty", func(r *tvbridge.OrderRequest) { r.Qty = 20 }},
		{"qty", func(r *tvbridge.OrderRequest) { r.Qty = 15 }}, // not even a valid quantity
		{"limitPrice", func(r *tvbridge.OrderRequest) { r.LimitPrice = 99.01 }},
		{"durationType", func(r *tvbridge.OrderRequest) { r.Duration.Type = tvbridge.DurationGTC }},
		{"stopLoss", func(r *tvbridge.OrderRequest) { r.Brackets.StopLoss = 0 }},
		{"takeProfit", func(r *tvbridge.OrderRequest) { r.Brackets.TakeProfit = 102 }},
		{"trailingStopPips", func(r *tvbridge.OrderRequest) { r.Brackets.TrailingStopPips = 5 }},
	}
	refusedAll := func(when string) {
		t.Helper()
		for _, c := range changes {
			r := req
			c.change(&r)
			o, err := e.m.PlaceOrder(ctx, user1, acct, r)
			te := refusal(t, err)
			if te.Code != tvbridge.ErrRequestReused || te.Reason != tvbridge.ReasonRequestReused || te.Field != c.field ||
				te.Params.Text != "tv-7" || o.ID != "" {
				t.Errorf("%s, %s changed: (%+v, %#v), want a refusal naming %s", when, c.field, o, err, c.field)
			}
		}
		select {
		case s := <-e.venue.submits:
			t.Errorf("%s: a reused request id placed %+v", when, s)
		default:
		}
	}
	refusedAll("before the restart")

	// The same order, spelled otherwise, is a retry.
	same := req
	same.LimitPrice = 98.9 + 0.1
	same.Duration = tvbridge.OrderDuration{Type: "day"}
	if again := e.place(user1, acct, same); again.ID != first.ID {
		t.Errorf("retry = %+v, want order %s", again, first.ID)
	}
	// A modification changes the order, not what the request was.
	if _, err := e.m.ModifyOrder(ctx, user1, acct, first.ID, tvbridge.OrderRequest{Qty: 20, LimitPrice: 99,
		Brackets: req.Brackets}); err != nil {
		t.Fatal(err)
	}
	next(t, e.venue.submits, "the replacement's submit")
	e.restart()
	next(t, e.venue.restores, "restore")
	refusedAll("after the restart")
	if again := e.place(user1, acct, req); again.ID != first.ID || again.Qty != 20 {
		t.Errorf("retry after modify and restart = %+v, want order %s at its new quantity", again, first.ID)
	}
	if orders, _ := e.m.Orders(ctx, user1, acct); len(orders) != 3 { // the order and its two brackets
		t.Errorf("orders = %+v", orders)
	}
}
