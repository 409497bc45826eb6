package trading_test

import (
	"context"
	"testing"

	"tvbridge"
)

// sentinel places a sell stop on figiB that a trade at 40 triggers, so a
// test can tell that the tape loop has processed everything before it.
func (e *env) sentinel(user, acct string) tvbridge.Order {
	e.t.Helper()
	return e.place(user, acct, tvbridge.OrderRequest{FIGI: figiB, Side: tvbridge.Sell, Type: tvbridge.StopOrder, Qty: 1, StopPrice: 45})
}

// flushTape triggers the sentinel and waits for its submission: trades put
// on the tape before it have been checked.
func (e *env) flushTape(sentinelID string) {
	e.t.Helper()
	e.trade(figiB, 40)
	for {
		s := next(e.t, e.venue.submits, "sentinel submit")
		if s.ID == sentinelID {
			return
		}
		e.t.Fatalf("unexpected submission before the sentinel: %+v", s)
	}
}

// TestStopTriggersOnTrades: a buy stop triggers on the first trade at or
// above its price and becomes a market order at the venue, once.
func TestStopTriggersOnTrades(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 20, StopPrice: 101})
	s := e.sentinel(user1, acct)
	e.trade(figiA, 100.99)
	e.flushTape(s.ID)

	e.trade(figiA, 101)
	sub := next(t, e.venue.submits, "triggered stop")
	if sub.ID != o.ID || sub.Type != tvbridge.MarketOrder || sub.Qty != 20 || sub.Side != tvbridge.Buy {
		t.Fatalf("triggered order = %+v", sub)
	}
	e.trade(figiA, 102) // no second trigger
	s2 := e.sentinel(user1, acct)
	e.flushTape(s2.ID)
	e.fillAndWait(user1, acct, o.ID, 20, 101.05)
	got := e.order(user1, acct, o.ID)
	if got.Status != tvbridge.OrderFilled || got.Type != tvbridge.StopOrder || got.StopPrice != 101 || got.AvgPrice != 101.05 {
		t.Errorf("filled stop = %+v", got)
	}
}

// TestStopLimitTriggers: a sell stop-limit becomes a limit order at its
// limit price when a trade reaches its stop.
func TestStopLimitTriggers(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Sell, Type: tvbridge.StopLimitOrder,
		Qty: 10, StopPrice: 99, LimitPrice: 98.9})
	e.trade(figiA, 98.95)
	sub := next(t, e.venue.submits, "triggered stop-limit")
	if sub.ID != o.ID || sub.Type != tvbridge.LimitOrder || sub.Limit != 98.9 || sub.Side != tvbridge.Sell {
		t.Fatalf("triggered order = %+v", sub)
	}
	// Modifying its limit now replaces it at the venue.
	got, err := e.m.ModifyOrder(context.Background(), user1, acct, o.ID, tvbridge.OrderRequest{Qty: 10, StopPrice: 99, LimitPrice: 98.8})
	if err != nil || got.LimitPrice != 98.8 {
		t.Fatalf("ModifyOrder = %+v, %v", got, err)
	}
	next(t, e.venue.cancels, "cancel of the triggered order")
	if r := next(t, e.venue.submits, "replacement"); r.ID != o.ID+".2" || r.Limit != 98.8 {
		t.Errorf("replacement = %+v", r)
	}
	if _, err := e.m.ModifyOrder(context.Background(), user1, acct, o.ID, tvbridge.OrderRequest{Qty: 10, StopPrice: 98, LimitPrice: 98.8}); code(err) != tvbridge.ErrUnsupported {
		t.Errorf("changing a triggered stop price = %v", err)
	}
}

// TestHeldStopCancel: cancelling a held stop needs no venue.
func TestHeldStopCancel(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Sell, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 99})
	if err := e.m.CancelOrder(context.Background(), user1, acct, o.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderCancelled {
		t.Errorf("order = %+v", got)
	}
	s := e.sentinel(user1, acct)
	e.trade(figiA, 98)
	e.flushTape(s.ID)
}

// TestTriggerSurvivesRestart: a trigger committed before the process died
// is not submitted again; the venue gets it through Restore.
func TestTriggerSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 101})
	e.trade(figiA, 101.5)
	next(t, e.venue.submits, "triggered stop")
	e.restart()
	restored := next(t, e.venue.restores, "restore")
	if len(restored) != 1 || restored[0].ID != o.ID || restored[0].VenueRef != "R-"+o.ID || restored[0].Type != tvbridge.MarketOrder {
		t.Fatalf("restored = %+v", restored)
	}
	e.trade(figiA, 102)
	s := e.sentinel(user1, acct)
	e.flushTape(s.ID)
	e.fillAndWait(user1, acct, o.ID, 10, 101.5)
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderFilled {
		t.Errorf("order = %+v", got)
	}
}

// TestHeldStopReArmedAfterRestart: an untriggered stop still triggers
// after a restart, and the last price is checked at start for trades that
// were missed while down.
func TestHeldStopReArmedAfterRestart(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	a := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 101})
	b := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiB, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 1, StopPrice: 52})
	e.stop()
	e.market.set(figiB, 52, 52.5, 52.5) // traded through b's stop while down
	e.open()
	e.run()
	if sub := next(t, e.venue.submits, "missed trigger"); sub.ID != b.ID {
		t.Fatalf("submitted %+v, want %s", sub, b.ID)
	}
	e.trade(figiA, 101)
	if sub := next(t, e.venue.submits, "re-armed trigger"); sub.ID != a.ID {
		t.Fatalf("submitted %+v, want %s", sub, a.ID)
	}
}
