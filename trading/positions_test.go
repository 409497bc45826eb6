package trading_test

import (
	"context"
	"testing"

	"tvbridge"
)

// filledPosition buys (or sells) qty of figiA at price through a limit
// order and waits for the fill.
func (e *env) filledPosition(acct string, side tvbridge.Side, qty, price float64) tvbridge.Order {
	e.t.Helper()
	o := e.place(user1, acct, limitReq(side, qty, price))
	next(e.t, e.venue.submits, "submit")
	e.fillAndWait(user1, acct, o.ID, qty, price)
	return o
}

// TestPositionPL: average price, realized P/L on reducing fills,
// unrealized P/L at the bid for a long, and the account state built from
// them and the commissions.
func TestPositionPL(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	e.filledPosition(acct, tvbridge.Buy, 20, 100)
	e.filledPosition(acct, tvbridge.Buy, 20, 101)
	e.filledPosition(acct, tvbridge.Sell, 10, 102)
	pos, _ := e.position(user1, acct, figiA)
	if pos.Qty != 30 || pos.Side != tvbridge.Buy || !near(pos.AvgPrice, 100.5) {
		t.Fatalf("position = %+v", pos)
	}
	e.market.set(figiA, 103, 103.1, 103.05)
	pos, _ = e.position(user1, acct, figiA)
	if !near(pos.UnrealizedPL, 30*2.5) {
		t.Errorf("unrealized = %v, want 30 x (103 - 100.5)", pos.UnrealizedPL)
	}
	execs, _ := e.m.Executions(context.Background(), user1, acct, "", 0)
	var commissions float64
	for _, x := range execs {
		commissions += x.Commission
	}
	st := e.state(user1, acct)
	want := 1_000_000 + 15 - commissions // realized 10 x (102 - 100.5)
	if !near(st.RealizedPL, 15) || !near(st.Commissions, commissions) || !near(st.Balance, want) ||
		!near(st.UnrealizedPL, 75) || !near(st.Equity, want+75) {
		t.Errorf("state = %+v, want balance %v", st, want)
	}
	if !near(st.MarginUsed, 30*103) || !near(st.MarginAvailable, st.Equity-30*103) {
		t.Errorf("margin = %v used, %v available", st.MarginUsed, st.MarginAvailable)
	}
	if !execs[0].IsClose || execs[1].IsClose || execs[2].IsClose {
		t.Errorf("IsClose = %v %v %v, want only the sell", execs[0].IsClose, execs[1].IsClose, execs[2].IsClose)
	}

	// Without a book the last price values the position.
	e.market.setBook(tvbridge.OrderBook{FIGI: figiA})
	if pos, _ := e.position(user1, acct, figiA); !near(pos.UnrealizedPL, 30*2.55) {
		t.Errorf("unrealized at the last price = %v", pos.UnrealizedPL)
	}
}

// TestShortAndReverse: a short is valued at the ask; reversing places one
// market order for twice the quantity and the new position's average is
// the fill price.
func TestShortAndReverse(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	e.filledPosition(acct, tvbridge.Sell, 10, 100)
	pos, _ := e.position(user1, acct, figiA)
	if pos.Side != tvbridge.Sell || pos.Qty != 10 || !near(pos.UnrealizedPL, -0.2) {
		t.Fatalf("short = %+v, want -0.2 at the ask 100.02", pos)
	}
	if err := e.m.ReversePosition(ctx, user1, acct, pos.ID); err != nil {
		t.Fatal(err)
	}
	rev := next(t, e.venue.submits, "reverse order")
	if rev.Type != tvbridge.MarketOrder || rev.Side != tvbridge.Buy || rev.Qty != 20 {
		t.Fatalf("reverse order = %+v", rev)
	}
	e.fillAndWait(user1, acct, rev.ID, 20, 99)
	long, _ := e.position(user1, acct, figiA)
	if long.ID != pos.ID || long.Side != tvbridge.Buy || long.Qty != 10 || long.AvgPrice != 99 {
		t.Errorf("reversed position = %+v", long)
	}
	if st := e.state(user1, acct); !near(st.RealizedPL, 10) {
		t.Errorf("realized = %v, want 10 x (100 - 99)", st.RealizedPL)
	}
	if err := e.m.ReversePosition(ctx, user1, acct, "P0"); code(err) != tvbridge.ErrUnknownPosition {
		t.Errorf("reverse of an unknown position = %v", err)
	}
}

// TestClosePosition: partial and full closes, and what is refused.
func TestClosePosition(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	e.filledPosition(acct, tvbridge.Buy, 30, 100)
	pos, _ := e.position(user1, acct, figiA)
	for _, c := range []struct {
		qty  float64
		want tvbridge.ErrorCode
	}{{40, tvbridge.ErrInvalidQty}, {-10, tvbridge.ErrInvalidQty}, {15, tvbridge.ErrInvalidQty}} {
		if err := e.m.ClosePosition(ctx, user1, acct, pos.ID, c.qty); code(err) != c.want {
			t.Errorf("close %v = %v, want %s", c.qty, err, c.want)
		}
	}
	if err := e.m.ClosePosition(ctx, user1, acct, pos.ID, 10); err != nil {
		t.Fatal(err)
	}
	c := next(t, e.venue.submits, "partial close")
	if c.Side != tvbridge.Sell || c.Qty != 10 || c.Type != tvbridge.MarketOrder {
		t.Fatalf("close order = %+v", c)
	}
	e.fillAndWait(user1, acct, c.ID, 10, 101)
	if p, _ := e.position(user1, acct, figiA); p.Qty != 20 || p.AvgPrice != 100 {
		t.Errorf("after partial close = %+v", p)
	}
	if err := e.m.ClosePosition(ctx, user1, acct, pos.ID, 0); err != nil {
		t.Fatal(err)
	}
	c = next(t, e.venue.submits, "full close")
	e.fillAndWait(user1, acct, c.ID, 20, 99)
	if p, ok := e.position(user1, acct, figiA); ok {
		t.Errorf("closed position still listed: %+v", p)
	}
	if err := e.m.ClosePosition(ctx, user1, acct, pos.ID, 0); code(err) != tvbridge.ErrUnknownPosition {
		t.Errorf("closing a flat position = %v", err)
	}
	if st := e.state(user1, acct); !near(st.RealizedPL, 10-20) {
		t.Errorf("realized = %v", st.RealizedPL)
	}
}

// TestFunds: working buys reserve cash, orders beyond the available margin
// are refused, sells that only close reserve nothing, and closing is
// always allowed.
func TestFunds(t *testing.T) {
	e := newEnv(t)
	e.venue.cash = 10_000 // applies to accounts opened from now on
	acct := e.account(user1)
	ctx := context.Background()
	o := e.place(user1, acct, limitReq(tvbridge.Buy, 50, 100)) // 5,000 reserved
	next(t, e.venue.submits, "submit")
	st := e.state(user1, acct)
	if !near(st.MarginUsed, 5000) || !near(st.MarginAvailable, 5000) {
		t.Fatalf("state with a working buy = %+v", st)
	}
	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 60, 100)); code(err) != tvbridge.ErrInsufficientFunds {
		t.Errorf("buy beyond the available cash = %v", err)
	}
	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Sell, 60, 100)); code(err) != tvbridge.ErrInsufficientFunds {
		t.Errorf("short beyond the available margin = %v", err)
	}
	e.fillAndWait(user1, acct, o.ID, 50, 100)
	// Selling what is held needs no margin.
	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Sell, 50, 101)); err != nil {
		t.Errorf("selling the position: %v", err)
	}
	next(t, e.venue.submits, "sell")
	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Sell, 100, 101)); code(err) != tvbridge.ErrInsufficientFunds {
		t.Errorf("selling beyond the position = %v", err)
	}
	pos, _ := e.position(user1, acct, figiA)
	if err := e.m.ClosePosition(ctx, user1, acct, pos.ID, 0); err != nil {
		t.Errorf("closing must always be possible: %v", err)
	}
}

// TestPreviewOrder: price from the book, cost, commission and warnings,
// without placing anything.
func TestPreviewOrder(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	e.market.setBook(tvbridge.OrderBook{FIGI: figiA, Asks: []tvbridge.PriceLevel{{Price: 100, Quantity: 2}, {Price: 101, Quantity: 2}}})
	p, err := e.m.PreviewOrder(ctx, user1, acct, marketReq(figiA, tvbridge.Buy, 30))
	if err != nil {
		t.Fatal(err)
	}
	wantPrice := (20*100 + 10*101) / 30.0
	if !near(p.Price, wantPrice) || !near(p.Cost, 3010) || !near(p.Commission, 3010*0.0005) || len(p.Warnings) != 0 {
		t.Errorf("preview = %+v, want price %v", p, wantPrice)
	}
	p, _ = e.m.PreviewOrder(ctx, user1, acct, marketReq(figiA, tvbridge.Buy, 50))
	if len(p.Warnings) != 1 {
		t.Errorf("thin book preview = %+v, want a liquidity warning", p)
	}
	p, _ = e.m.PreviewOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 100_000, 99))
	if p.Price != 99 || len(p.Warnings) != 1 {
		t.Errorf("unaffordable preview = %+v, want a funds warning", p)
	}
	if _, err := e.m.PreviewOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 15, 99)); code(err) != tvbridge.ErrInvalidQty {
		t.Errorf("invalid preview = %v", err)
	}
	if orders, _ := e.m.Orders(ctx, user1, acct); len(orders) != 0 {
		t.Errorf("preview placed %+v", orders)
	}
}
