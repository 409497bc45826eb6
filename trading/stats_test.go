package trading_test

import (
	"context"
	"testing"

	"tvbridge"
)

// Every kind of order event is counted once, and each placement that got an
// answer is timed.
func TestStats(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()

	filled := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99.5))
	next(t, e.venue.submits, "submit")
	e.fillAndWait(user1, acct, filled.ID, 10, 99.5)

	cancelled := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	next(t, e.venue.submits, "submit")
	if err := e.m.CancelOrder(ctx, user1, acct, cancelled.ID); err != nil {
		t.Fatal(err)
	}

	stop := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 20, StopPrice: 101})
	e.trade(figiA, 101)
	if s := next(t, e.venue.submits, "triggered stop"); s.ID != stop.ID {
		t.Fatalf("submitted %+v, want the stop", s)
	}

	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, -1, 99)); err == nil {
		t.Fatal("a negative quantity was accepted")
	}
	e.venue.setSubmitErr(tvbridge.Errorf(tvbridge.ErrInsufficientFunds, "", "no money at the venue"))
	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 10, 98)); err == nil {
		t.Fatal("the venue's refusal was not reported")
	}

	st := e.m.Stats()
	type counts struct{ placed, brackets, filled, cancelled, rejected, triggered, refused uint64 }
	got := counts{st.Placed, st.Brackets, st.Filled, st.Cancelled, st.Rejected, st.Triggered, st.Refused}
	if want := (counts{placed: 4, filled: 1, cancelled: 1, rejected: 1, triggered: 1, refused: 1}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if st.PlaceToAck.Count != 4 {
		t.Errorf("%d placements timed, want the 4 answered", st.PlaceToAck.Count)
	}
}
