package trading_test

import (
	"context"
	"reflect"
	"testing"

	"tvbridge"
)

// TestAccountsOpenedOnceAndOwned: the first call asks the venue and
// persists; later calls and restarts do not ask again; every method
// refuses another user's account exactly as an unknown one.
func TestAccountsOpenedOnceAndOwned(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	accts, err := e.m.Accounts(ctx, user1)
	if err != nil || len(accts) != 1 {
		t.Fatalf("Accounts = %v, %v", accts, err)
	}
	a := accts[0]
	if a.Owner != user1 || a.Currency != "RUB" || a.Type != tvbridge.DemoAccount || a.Name != "Paper alice" {
		t.Errorf("account = %+v", a)
	}
	if st := e.state(user1, a.ID); st.Balance != 1_000_000 || st.Equity != 1_000_000 || st.MarginAvailable != 1_000_000 {
		t.Errorf("new account state = %+v, want the venue's starting cash", st)
	}
	if again, _ := e.m.Accounts(ctx, user1); len(again) != 1 || !reflect.DeepEqual(again[0], a) {
		t.Errorf("second Accounts = %v, want %v", again, a)
	}
	e.restart()
	if again, _ := e.m.Accounts(ctx, user1); len(again) != 1 || !reflect.DeepEqual(again[0], a) {
		t.Errorf("Accounts after restart = %v, want %v", again, a)
	}
	if n := e.venue.calls(user1); n != 1 {
		t.Errorf("venue asked %d times for the accounts, want once", n)
	}

	bobs := e.account(user2)
	if bobs == a.ID {
		t.Fatalf("two users share account %s", bobs)
	}
	order := e.place(user1, a.ID, limitReq(tvbridge.Buy, 10, 99))
	e.fillAndWait(user1, a.ID, order.ID, 10, 99)
	pos, _ := e.position(user1, a.ID, figiA)

	checks := map[string]func(acct string) error{
		"State":         func(acct string) error { _, err := e.m.State(ctx, user2, acct); return err },
		"Orders":        func(acct string) error { _, err := e.m.Orders(ctx, user2, acct); return err },
		"OrdersHistory": func(acct string) error { _, err := e.m.OrdersHistory(ctx, user2, acct, 0); return err },
		"PlaceOrder": func(acct string) error {
			_, err := e.m.PlaceOrder(ctx, user2, acct, limitReq(tvbridge.Buy, 10, 99))
			return err
		},
		"ModifyOrder": func(acct string) error {
			_, err := e.m.ModifyOrder(ctx, user2, acct, order.ID, limitReq(tvbridge.Buy, 10, 98))
			return err
		},
		"CancelOrder": func(acct string) error { return e.m.CancelOrder(ctx, user2, acct, order.ID) },
		"PreviewOrder": func(acct string) error {
			_, err := e.m.PreviewOrder(ctx, user2, acct, limitReq(tvbridge.Buy, 10, 99))
			return err
		},
		"Positions": func(acct string) error { _, err := e.m.Positions(ctx, user2, acct); return err },
		"ModifyPosition": func(acct string) error {
			_, err := e.m.ModifyPosition(ctx, user2, acct, pos.ID, tvbridge.Brackets{})
			return err
		},
		"Reverse":    func(acct string) error { return e.m.ReversePosition(ctx, user2, acct, pos.ID) },
		"Close":      func(acct string) error { return e.m.ClosePosition(ctx, user2, acct, pos.ID, 0) },
		"Executions": func(acct string) error { _, err := e.m.Executions(ctx, user2, acct, "", 0); return err },
	}
	for name, call := range checks {
		other, unknown := call(a.ID), call("A999999")
		if code(other) != tvbridge.ErrUnknownAccount || code(unknown) != tvbridge.ErrUnknownAccount {
			t.Errorf("%s: another user's account = %v, an unknown one = %v; want %s for both", name, other, unknown, tvbridge.ErrUnknownAccount)
		}
	}
	if o := e.order(user1, a.ID, order.ID); o.Status != tvbridge.OrderFilled {
		t.Errorf("the owner's order changed: %+v", o)
	}
	if _, err := e.m.Accounts(ctx, ""); code(err) != tvbridge.ErrUnknownAccount {
		t.Errorf("Accounts for no user = %v", err)
	}
}
