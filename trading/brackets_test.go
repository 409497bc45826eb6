package trading_test

import (
	"context"
	"testing"

	"tvbridge"
)

// bracketed places a buy limit of 30 figiA at 99 with a stop loss at 98
// and a take profit at 101, and returns it with its brackets.
func (e *env) bracketed(acct string) (parent, sl, tp tvbridge.Order) {
	e.t.Helper()
	req := limitReq(tvbridge.Buy, 30, 99)
	req.Brackets = tvbridge.Brackets{StopLoss: 98, TakeProfit: 101}
	parent = e.place(user1, acct, req)
	next(e.t, e.venue.submits, "parent submit")
	orders, _ := e.m.Orders(context.Background(), user1, acct)
	for _, o := range orders {
		if o.ParentID != parent.ID {
			continue
		}
		if o.Type == tvbridge.StopOrder {
			sl = o
		} else {
			tp = o
		}
	}
	if sl.ID == "" || tp.ID == "" {
		e.t.Fatalf("brackets not listed: %+v", orders)
	}
	return parent, sl, tp
}

// liveBracket returns parent's non-final bracket of type typ.
func (e *env) liveBracket(acct, parentID string, typ tvbridge.OrderType) tvbridge.Order {
	e.t.Helper()
	orders, _ := e.m.Orders(context.Background(), user1, acct)
	for _, o := range orders {
		if o.ParentID == parentID && o.Type == typ && !o.Status.Final() {
			return o
		}
	}
	e.t.Fatalf("no live %s bracket of %s in %+v", typ, parentID, orders)
	return tvbridge.Order{}
}

// TestBracketsOSOAndOCO walks the whole bracket life: inactive with an
// unfilled parent, working position brackets following partial fills, a
// take profit triggering, its partial fill shrinking the stop loss, and
// its full fill cancelling it.
func TestBracketsOSOAndOCO(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	parent, sl, tp := e.bracketed(acct)
	for _, b := range []tvbridge.Order{sl, tp} {
		if b.Status != tvbridge.OrderInactive || b.ParentKind != tvbridge.ParentOrder || b.Side != tvbridge.Sell || b.Qty != 30 {
			t.Errorf("bracket of an unfilled parent = %+v", b)
		}
	}
	if sl.StopPrice != 98 || tp.LimitPrice != 101 || sl.SiblingID != tp.ID || tp.SiblingID != sl.ID {
		t.Errorf("brackets = %+v / %+v", sl, tp)
	}
	if sl.TrailingStopPips != 0 {
		t.Errorf("a plain stop loss carries trailing pips: %+v", sl)
	}

	e.fillAndWait(user1, acct, parent.ID, 10, 99)
	pos, _ := e.position(user1, acct, figiA)
	for _, id := range []string{sl.ID, tp.ID} {
		b := e.order(user1, acct, id)
		if b.Status != tvbridge.OrderWorking || b.ParentKind != tvbridge.ParentPosition || b.ParentID != pos.ID || b.Qty != 10 {
			t.Errorf("bracket after the parent's first fill = %+v (position %s)", b, pos.ID)
		}
	}
	if pos.StopLossID != sl.ID || pos.TakeProfitID != tp.ID {
		t.Errorf("position = %+v", pos)
	}
	e.fillAndWait(user1, acct, parent.ID, 20, 99)
	if b := e.order(user1, acct, sl.ID); b.Qty != 30 {
		t.Errorf("stop loss qty = %v after the parent filled 30", b.Qty)
	}

	e.trade(figiA, 101)
	sub := next(t, e.venue.submits, "take profit")
	if sub.ID != tp.ID || sub.Type != tvbridge.LimitOrder || sub.Limit != 101 || sub.Qty != 30 || sub.Side != tvbridge.Sell {
		t.Fatalf("take profit at the venue = %+v", sub)
	}
	e.fillAndWait(user1, acct, tp.ID, 10, 101)
	if b := e.order(user1, acct, sl.ID); b.Qty != 20 || b.Status != tvbridge.OrderWorking {
		t.Errorf("stop loss after a partial take profit = %+v", b)
	}
	e.fillAndWait(user1, acct, tp.ID, 20, 101)
	if b := e.order(user1, acct, tp.ID); b.Status != tvbridge.OrderFilled {
		t.Errorf("take profit = %+v", b)
	}
	if b := e.order(user1, acct, sl.ID); b.Status != tvbridge.OrderCancelled {
		t.Errorf("stop loss after the take profit filled = %+v", b)
	}
	if _, ok := e.position(user1, acct, figiA); ok {
		t.Errorf("position still open")
	}
	execs, _ := e.m.Executions(context.Background(), user1, acct, figiA, 0)
	if !execs[0].IsClose || execs[len(execs)-1].IsClose {
		t.Errorf("IsClose flags wrong: %+v", execs)
	}
	if st := e.state(user1, acct); !near(st.RealizedPL, 60) {
		t.Errorf("realized P/L = %v, want 30 x 2", st.RealizedPL)
	}
}

// TestStopLossTriggersAndCancelsTakeProfit: the stop loss becomes a market
// order; its fill closes the position and cancels the take profit.
func TestStopLossTriggersAndCancelsTakeProfit(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	parent, sl, tp := e.bracketed(acct)
	e.fillAndWait(user1, acct, parent.ID, 30, 99)
	e.trade(figiA, 97.9)
	sub := next(t, e.venue.submits, "stop loss")
	if sub.ID != sl.ID || sub.Type != tvbridge.MarketOrder || sub.Qty != 30 {
		t.Fatalf("stop loss at the venue = %+v", sub)
	}
	// While the stop loss executes, the take profit waits even if touched.
	e.trade(figiA, 101)
	s := e.sentinel(user1, acct)
	e.flushTape(s.ID)
	e.fillAndWait(user1, acct, sl.ID, 30, 97.8)
	if b := e.order(user1, acct, tp.ID); b.Status != tvbridge.OrderCancelled {
		t.Errorf("take profit = %+v", b)
	}
	if st := e.state(user1, acct); !near(st.RealizedPL, -36) {
		t.Errorf("realized = %v, want 30 x -1.2", st.RealizedPL)
	}
}

// TestCancelParentCancelsBrackets: cancelling an unfilled parent cancels
// its brackets with it.
func TestCancelParentCancelsBrackets(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	parent, sl, tp := e.bracketed(acct)
	if err := e.m.CancelOrder(context.Background(), user1, acct, parent.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{parent.ID, sl.ID, tp.ID} {
		if o := e.order(user1, acct, id); o.Status != tvbridge.OrderCancelled {
			t.Errorf("order %s = %+v", id, o)
		}
	}
}

// TestRemoveAndCancelOneBracket: removing a bracket by modifying the
// parent with a zero price reports it cancelled; cancelling one bracket
// leaves the other and the parent alone; a bracket's price can be moved.
func TestRemoveAndCancelOneBracket(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	parent, sl, tp := e.bracketed(acct)

	req := limitReq(tvbridge.Buy, 30, 99)
	req.Brackets = tvbridge.Brackets{TakeProfit: 101.5}
	got, err := e.m.ModifyOrder(ctx, user1, acct, parent.ID, req)
	if err != nil || got.Brackets.StopLoss != 0 || got.Brackets.TakeProfit != 101.5 {
		t.Fatalf("ModifyOrder = %+v, %v", got, err)
	}
	if o := e.order(user1, acct, sl.ID); o.Status != tvbridge.OrderCancelled {
		t.Errorf("removed stop loss = %+v", o)
	}
	if o := e.order(user1, acct, tp.ID); o.Status != tvbridge.OrderInactive || o.LimitPrice != 101.5 {
		t.Errorf("take profit = %+v", o)
	}
	select {
	case x := <-e.venue.cancels:
		t.Errorf("a bracket change reached the venue: %+v", x)
	default:
	}

	// Add a stop loss back, then move it on the bracket itself.
	req.Brackets.StopLoss = 97
	if _, err := e.m.ModifyOrder(ctx, user1, acct, parent.ID, req); err != nil {
		t.Fatal(err)
	}
	newSL := e.liveBracket(acct, parent.ID, tvbridge.StopOrder)
	if newSL.Status != tvbridge.OrderInactive || newSL.StopPrice != 97 || newSL.SiblingID != tp.ID {
		t.Errorf("new stop loss = %+v", newSL)
	}
	moved, err := e.m.ModifyOrder(ctx, user1, acct, newSL.ID, tvbridge.OrderRequest{Qty: 30, StopPrice: 97.5})
	if err != nil || moved.StopPrice != 97.5 {
		t.Errorf("moving the stop loss = %+v, %v", moved, err)
	}
	if _, err := e.m.ModifyOrder(ctx, user1, acct, newSL.ID, tvbridge.OrderRequest{Qty: 30, StopPrice: 99.5}); code(err) != tvbridge.ErrInvalidPrice {
		t.Errorf("stop loss above its buy parent = %v", err)
	}
	if _, err := e.m.ModifyOrder(ctx, user1, acct, newSL.ID, tvbridge.OrderRequest{Qty: 10, StopPrice: 97}); code(err) != tvbridge.ErrInvalidQty {
		t.Errorf("bracket qty change = %v", err)
	}
	if p := e.order(user1, acct, parent.ID); p.Brackets.StopLoss != 97.5 {
		t.Errorf("parent brackets = %+v", p.Brackets)
	}

	if err := e.m.CancelOrder(ctx, user1, acct, tp.ID); err != nil {
		t.Fatal(err)
	}
	if o := e.order(user1, acct, newSL.ID); o.Status != tvbridge.OrderInactive {
		t.Errorf("cancelling the take profit touched the stop loss: %+v", o)
	}
	if o := e.order(user1, acct, parent.ID); o.Status != tvbridge.OrderWorking || o.Brackets.TakeProfit != 0 {
		t.Errorf("cancelling the take profit touched the parent: %+v", o)
	}
}

// TestPositionBrackets: ModifyPosition adds, moves and removes a
// position's brackets; closing the position cancels them.
func TestPositionBrackets(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 20, 100))
	next(t, e.venue.submits, "submit")
	e.fillAndWait(user1, acct, o.ID, 20, 100)
	pos, _ := e.position(user1, acct, figiA)

	if _, err := e.m.ModifyPosition(ctx, user1, acct, pos.ID, tvbridge.Brackets{StopLoss: 100.5}); code(err) != tvbridge.ErrInvalidPrice {
		t.Errorf("stop loss above a long's market = %v", err)
	}
	if _, err := e.m.ModifyPosition(ctx, user1, acct, "P404", tvbridge.Brackets{}); code(err) != tvbridge.ErrUnknownPosition {
		t.Errorf("unknown position = %v", err)
	}
	p, err := e.m.ModifyPosition(ctx, user1, acct, pos.ID, tvbridge.Brackets{StopLoss: 99, TakeProfit: 102})
	if err != nil || p.StopLossID == "" || p.TakeProfitID == "" {
		t.Fatalf("ModifyPosition = %+v, %v", p, err)
	}
	sl := e.order(user1, acct, p.StopLossID)
	if sl.Status != tvbridge.OrderWorking || sl.ParentKind != tvbridge.ParentPosition || sl.ParentID != pos.ID ||
		sl.Qty != 20 || sl.Side != tvbridge.Sell || sl.StopPrice != 99 || sl.SiblingID != p.TakeProfitID {
		t.Errorf("position stop loss = %+v", sl)
	}
	p2, err := e.m.ModifyPosition(ctx, user1, acct, pos.ID, tvbridge.Brackets{StopLoss: 99.5})
	if err != nil || p2.StopLossID != sl.ID || p2.TakeProfitID != "" {
		t.Fatalf("second ModifyPosition = %+v, %v", p2, err)
	}
	if tp := e.order(user1, acct, p.TakeProfitID); tp.Status != tvbridge.OrderCancelled {
		t.Errorf("removed take profit = %+v", tp)
	}
	if sl := e.order(user1, acct, sl.ID); sl.StopPrice != 99.5 {
		t.Errorf("moved stop loss = %+v", sl)
	}

	// A partial close shrinks the stop loss; a full close cancels it.
	if err := e.m.ClosePosition(ctx, user1, acct, pos.ID, 10); err != nil {
		t.Fatal(err)
	}
	c := next(t, e.venue.submits, "partial close")
	e.fillAndWait(user1, acct, c.ID, 10, 100)
	if sl := e.order(user1, acct, sl.ID); sl.Qty != 10 || sl.Status != tvbridge.OrderWorking {
		t.Errorf("stop loss after a partial close = %+v", sl)
	}
	if err := e.m.ClosePosition(ctx, user1, acct, pos.ID, 0); err != nil {
		t.Fatal(err)
	}
	if sl := e.order(user1, acct, sl.ID); sl.Status != tvbridge.OrderCancelled {
		t.Errorf("stop loss after closing = %+v", sl)
	}
}

// TestReducingOrderCancelsItsBrackets: brackets of an order that only
// closes a position have nothing to protect.
func TestReducingOrderCancelsItsBrackets(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	long := e.place(user1, acct, limitReq(tvbridge.Buy, 20, 100))
	e.fillAndWait(user1, acct, long.ID, 20, 100)
	req := limitReq(tvbridge.Sell, 20, 100.5)
	req.Brackets = tvbridge.Brackets{StopLoss: 101}
	sell := e.place(user1, acct, req)
	e.fillAndWait(user1, acct, sell.ID, 20, 100.5)
	got := e.order(user1, acct, sell.ID)
	orders, _ := e.m.Orders(context.Background(), user1, acct)
	for _, o := range orders {
		if o.ParentID == sell.ID && o.Status != tvbridge.OrderCancelled {
			t.Errorf("bracket of a closing order = %+v", o)
		}
	}
	if got.Status != tvbridge.OrderFilled {
		t.Errorf("order = %+v", got)
	}
}

// trailingLong buys 10 figiA at market with a trailing stop loss 0.10
// behind, filled at 100, and returns the position.
func (e *env) trailingLong(acct string) tvbridge.Position {
	e.t.Helper()
	req := marketReq(figiA, tvbridge.Buy, 10)
	req.Brackets = tvbridge.Brackets{TrailingStopPips: 10} // 0.10
	o := e.place(user1, acct, req)
	next(e.t, e.venue.submits, "market")
	e.fillAndWait(user1, acct, o.ID, 10, 100)
	pos, _ := e.position(user1, acct, figiA)
	return pos
}

// TestTrailingStop: a trailing stop loss starts at the fill price minus
// its distance, follows new highs, never moves back, and triggers.
func TestTrailingStop(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	pos := e.trailingLong(acct)
	sl := e.order(user1, acct, pos.StopLossID)
	if sl.TrailingStopPips != 10 || !near(sl.StopPrice, 99.9) {
		t.Fatalf("trailing stop = %+v", sl)
	}
	e.trade(figiA, 100.5)
	e.until("the stop follows the high", func() bool { return near(e.order(user1, acct, sl.ID).StopPrice, 100.4) })
	e.trade(figiA, 100.45)
	s := e.sentinel(user1, acct)
	e.flushTape(s.ID)
	if got := e.order(user1, acct, sl.ID); !near(got.StopPrice, 100.4) {
		t.Errorf("stop moved back to %v", got.StopPrice)
	}
	e.trade(figiA, 100.4)
	if sub := next(t, e.venue.submits, "trailing stop"); sub.ID != sl.ID || sub.Type != tvbridge.MarketOrder {
		t.Errorf("submitted %+v", sub)
	}
}

// TestRestingTakeProfitYieldsToStopLoss: a take profit that triggered but
// rests unfilled at the venue is cancelled when the stop loss is hit, and
// the stop loss then triggers.
func TestRestingTakeProfitYieldsToStopLoss(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	parent, sl, tp := e.bracketed(acct)
	e.fillAndWait(user1, acct, parent.ID, 30, 99)
	e.trade(figiA, 101)
	if sub := next(t, e.venue.submits, "take profit"); sub.ID != tp.ID {
		t.Fatalf("submitted %+v", sub)
	}
	e.trade(figiA, 97.5)
	if c := next(t, e.venue.cancels, "cancel of the take profit"); c.ID != tp.ID {
		t.Fatalf("cancelled %+v", c)
	}
	e.waitStatus(user1, acct, tp.ID, tvbridge.OrderCancelled)
	e.trade(figiA, 97.4)
	if sub := next(t, e.venue.submits, "stop loss"); sub.ID != sl.ID || sub.Qty != 30 {
		t.Fatalf("submitted %+v, want the stop loss", sub)
	}
}
