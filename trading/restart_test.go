package trading_test

import (
	"context"
	"reflect"
	"testing"

	"tvbridge"
	"tvbridge/trading"
)

// snapshot is everything a user sees of an account.
type snapshot struct {
	Orders     []tvbridge.Order
	History    []tvbridge.Order
	Positions  []tvbridge.Position
	Executions []tvbridge.Execution
	State      tvbridge.AccountState
}

func (e *env) snapshot(user, acct string) snapshot {
	e.t.Helper()
	ctx := context.Background()
	var s snapshot
	var err error
	if s.Orders, err = e.m.Orders(ctx, user, acct); err != nil {
		e.t.Fatal(err)
	}
	if s.History, err = e.m.OrdersHistory(ctx, user, acct, 0); err != nil {
		e.t.Fatal(err)
	}
	if s.Positions, err = e.m.Positions(ctx, user, acct); err != nil {
		e.t.Fatal(err)
	}
	if s.Executions, err = e.m.Executions(ctx, user, acct, "", 0); err != nil {
		e.t.Fatal(err)
	}
	s.State = e.state(user, acct)
	// Times come back from the store without a monotonic reading.
	for _, list := range [][]tvbridge.Order{s.Orders, s.History} {
		for i := range list {
			list[i].Created, list[i].Updated = list[i].Created.UTC().Round(0), list[i].Updated.UTC().Round(0)
		}
	}
	for i := range s.Executions {
		s.Executions[i].Time = s.Executions[i].Time.UTC().Round(0)
	}
	return s
}

// TestRestartInTheMiddle: with the state on disk, a restart between fills
// loses nothing and counts nothing twice: the venue gets its working order
// back with its reference, a fill reported again is ignored, the next one
// completes the order, and the brackets armed before the restart work.
func TestRestartInTheMiddle(t *testing.T) {
	e := newEnv(t, withBolt())
	acct := e.account(user1)
	req := limitReq(tvbridge.Buy, 50, 99)
	req.RequestID = "tv-1"
	req.Brackets = tvbridge.Brackets{StopLoss: 98, TakeProfit: 101}
	parent := e.place(user1, acct, req)
	next(t, e.venue.submits, "submit")
	stop := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiB, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 2, StopPrice: 55})
	first := e.venue.fill(t, parent.ID, 20, 99)
	e.until("the first fill is booked", func() bool { return e.order(user1, acct, parent.ID).FilledQty == 20 })
	before := e.snapshot(user1, acct)

	e.restart()
	restored := next(t, e.venue.restores, "restore")
	if len(restored) != 1 || restored[0].ID != parent.ID || restored[0].VenueRef != "R-"+parent.ID || restored[0].Qty != 50 {
		t.Fatalf("restored %+v", restored)
	}
	if after := e.snapshot(user1, acct); !reflect.DeepEqual(after, before) {
		t.Fatalf("state changed across the restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if again := e.place(user1, acct, req); again.ID != parent.ID {
		t.Errorf("request id forgotten: %+v", again)
	}

	e.venue.emit(first) // reported again after the reconnect
	e.fillAndWait(user1, acct, parent.ID, 30, 98.9)
	got := e.order(user1, acct, parent.ID)
	if got.Status != tvbridge.OrderFilled || got.FilledQty != 50 {
		t.Errorf("order after the restart = %+v", got)
	}
	execs, _ := e.m.Executions(context.Background(), user1, acct, "", 0)
	pos, _ := e.position(user1, acct, figiA)
	if len(execs) != 2 || pos.Qty != 50 {
		t.Errorf("%d executions and position %+v, want 2 and 50", len(execs), pos)
	}

	e.trade(figiB, 55)
	if sub := next(t, e.venue.submits, "stop after restart"); sub.ID != stop.ID {
		t.Errorf("submitted %+v, want the held stop", sub)
	}
	e.trade(figiA, 97.5)
	if sub := next(t, e.venue.submits, "stop loss after restart"); sub.ID != pos.StopLossID || sub.Qty != 50 {
		t.Errorf("submitted %+v, want the stop loss for 50", sub)
	}

	// And once more, with the stop loss executing.
	e.restart()
	if r := next(t, e.venue.restores, "restore"); len(r) != 2 {
		t.Errorf("restored %+v, want the stop and the stop loss", r)
	}
	e.fillAndWait(user1, acct, pos.StopLossID, 50, 97.5)
	if _, ok := e.position(user1, acct, figiA); ok {
		t.Errorf("position still open after its stop loss filled")
	}
	if st := e.state(user1, acct); !near(st.RealizedPL, 20*(97.5-99)+30*(97.5-98.9)) {
		t.Errorf("realized = %v", st.RealizedPL)
	}
}

// TestSubmitTimeout: a submit that times out leaves the venue's state
// unknown, so the order is rejected and the venue asked to cancel it; it
// is not restored after a restart.
func TestSubmitTimeout(t *testing.T) {
	e := newEnv(t, withBolt())
	acct := e.account(user1)
	e.venue.setSubmitErr(context.DeadlineExceeded)
	o, err := e.m.PlaceOrder(context.Background(), user1, acct, limitReq(tvbridge.Buy, 10, 99))
	if code(err) != tvbridge.ErrVenue || o.Status != tvbridge.OrderRejected {
		t.Fatalf("timed-out submit = %+v, %v", o, err)
	}
	if c := next(t, e.venue.cancels, "cancel after a timeout"); c.ID != o.ID {
		t.Errorf("cancelled %+v", c)
	}
	e.venue.setSubmitErr(nil)
	e.restart()
	select {
	case r := <-e.venue.restores:
		t.Errorf("a rejected order was restored: %+v", r)
	default:
	}
}

// TestPlacingOrderRestored: an order committed as placing whose submit
// never returned (the process died in between) is handed to Restore, and
// is working once the venue has it; an interrupted modification is settled.
func TestPlacingOrderRestored(t *testing.T) {
	store := trading.NewMemoryStore()
	acct := trading.AccountRecord{Account: tvbridge.Account{ID: "A1", Owner: user1, Currency: "RUB"}, VenueAccount: "V-alice", Cash: 1e6}
	placing := trading.OrderRecord{Order: tvbridge.Order{ID: "2", AccountID: "A1", FIGI: figiA, Side: tvbridge.Buy,
		Type: tvbridge.LimitOrder, Status: tvbridge.OrderPlacing, Qty: 10, LimitPrice: 99,
		Duration: tvbridge.OrderDuration{Type: tvbridge.DurationGTC}},
		Seq: 2, Gen: 1, VenueLive: true, VenueType: tvbridge.LimitOrder, VenueQty: 10, VenueLimit: 99}
	replacing := placing.Clone()
	replacing.ID, replacing.Seq, replacing.Status, replacing.Replacing, replacing.VenueLive = "3", 3, tvbridge.OrderWorking, true, false
	if err := store.Commit(context.Background(), trading.Change{Seq: 3, Accounts: []trading.AccountRecord{acct},
		Orders: []trading.OrderRecord{placing, replacing}}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withStore(store))
	restored := next(t, e.venue.restores, "restore")
	if len(restored) != 1 || restored[0].ID != "2" || restored[0].VenueRef != "" {
		t.Fatalf("restored %+v", restored)
	}
	e.waitStatus(user1, "A1", "2", tvbridge.OrderWorking)
	if o := e.order(user1, "A1", "3"); o.Status != tvbridge.OrderCancelled {
		t.Errorf("interrupted modification = %+v", o)
	}
	if next := e.place(user1, "A1", limitReq(tvbridge.Buy, 10, 98)); next.ID == "2" || next.ID == "3" {
		t.Errorf("id %s reused", next.ID)
	}
}
