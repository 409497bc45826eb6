package trading_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tvbridge"
)

// moscowClose is figiA's session end on the start day: 18:40 in Moscow.
var moscowClose = time.Date(2024, 3, 5, 15, 40, 0, 0, time.UTC)

// TestDayOrdersExpire: at the end of the trading day a DAY limit order is
// cancelled at the venue and a held DAY stop here; GTC orders stay.
func TestDayOrdersExpire(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	day := limitReq(tvbridge.Buy, 10, 99)
	day.Duration.Type = tvbridge.DurationDay
	limit := e.place(user1, acct, day)
	next(t, e.venue.submits, "submit")
	stop := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 101})
	gtc := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 98))
	next(t, e.venue.submits, "submit")

	e.clk.BlockUntil(1) // the expiry timer is armed
	e.clk.Set(moscowClose.Add(-time.Second))
	e.m.ExpireForTest()
	if o := e.order(user1, acct, limit.ID); o.Status != tvbridge.OrderWorking {
		t.Fatalf("expired early: %+v", o)
	}
	e.clk.Set(moscowClose)
	if c := next(t, e.venue.cancels, "expiry cancel"); c.ID != limit.ID {
		t.Errorf("cancelled %+v, want %s", c, limit.ID)
	}
	e.waitStatus(user1, acct, limit.ID, tvbridge.OrderCancelled)
	if o := e.waitStatus(user1, acct, stop.ID, tvbridge.OrderCancelled); o.Message != "expired at the end of the trading day" {
		t.Errorf("held stop = %+v", o)
	}
	if o := e.order(user1, acct, gtc.ID); o.Status != tvbridge.OrderWorking {
		t.Errorf("GTC order = %+v", o)
	}
}

// TestDayOrderOutsideSessionLastsNextDay: a DAY order placed after the
// close lives until the end of the next trading day.
func TestDayOrderOutsideSessionLastsNextDay(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	e.clk.Set(moscowClose.Add(time.Hour))
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 101})
	e.clk.Set(moscowClose.Add(24*time.Hour - time.Second))
	e.m.ExpireForTest() // what the expiry loop would do now, synchronously
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderWorking {
		t.Fatalf("expired before the next close: %+v", got)
	}
	e.clk.Set(moscowClose.Add(24 * time.Hour))
	e.m.ExpireForTest()
	if got := e.order(user1, acct, o.ID); got.Status != tvbridge.OrderCancelled {
		t.Fatalf("not expired at the next close: %+v", got)
	}
}

// TestFinalOrderRetention: a final order stays in Orders for the rest of
// its trading day and at least a minute, and in OrdersHistory after.
func TestFinalOrderRetention(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	// figiA: cancelled mid-session, listed until the 18:40 close.
	a := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	if err := e.m.CancelOrder(ctx, user1, acct, a.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Set(moscowClose.Add(-time.Second))
	if _, ok := e.find(user1, acct, a.ID); !ok {
		t.Errorf("cancelled order gone before the end of its trading day")
	}
	e.clk.Set(moscowClose)
	if _, ok := e.find(user1, acct, a.ID); ok {
		t.Errorf("cancelled order still listed after its trading day")
	}
	// After the close: listed for one minute.
	b := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	if err := e.m.CancelOrder(ctx, user1, acct, b.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(59 * time.Second)
	if _, ok := e.find(user1, acct, b.ID); !ok {
		t.Errorf("cancelled order gone within a minute")
	}
	e.clk.Advance(time.Second)
	if _, ok := e.find(user1, acct, b.ID); ok {
		t.Errorf("cancelled order listed after a minute out of session")
	}
	hist, _ := e.m.OrdersHistory(ctx, user1, acct, 0)
	if len(hist) != 2 || hist[0].ID != b.ID || hist[1].ID != a.ID {
		t.Errorf("history = %+v", hist)
	}
	if one, _ := e.m.OrdersHistory(ctx, user1, acct, 1); len(one) != 1 || one[0].ID != b.ID {
		t.Errorf("history maxCount 1 = %+v", one)
	}
}

// TestOrdersVersion: the same version and count always mean the same
// Orders; a committed change or a final order leaving the list changes one.
func TestOrdersVersion(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	other := e.account(user2)
	ctx := context.Background()
	type key struct {
		v uint64
		n int
	}
	seen := map[key]string{}
	check := func(what string) key {
		t.Helper()
		v, n, err := e.m.OrdersVersion(ctx, user1, acct)
		if err != nil {
			t.Fatal(err)
		}
		orders, err := e.m.Orders(ctx, user1, acct)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(orders) {
			t.Fatalf("%s: count %d, %d orders", what, n, len(orders))
		}
		k, list := key{v, n}, fmt.Sprintf("%+v", orders)
		if prev, ok := seen[k]; ok && prev != list {
			t.Fatalf("%s: version %d count %d lists\n%s\nafter\n%s", what, v, n, list, prev)
		}
		seen[k] = list
		return k
	}
	k0 := check("empty")
	a := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	k1 := check("placed")
	if k1 == k0 {
		t.Fatal("placing an order kept the version")
	}
	if check("again") != k1 {
		t.Fatal("version moved without a change")
	}
	e.place(user2, other, limitReq(tvbridge.Buy, 10, 99)) // another account's change
	if check("other account") != k1 {
		t.Fatal("another account's order moved this one's version")
	}
	if err := e.m.CancelOrder(ctx, user1, acct, a.ID); err != nil {
		t.Fatal(err)
	}
	k2 := check("cancelled")
	if k2 == k1 {
		t.Fatal("cancelling kept the version")
	}
	e.clk.Set(moscowClose.Add(-time.Second))
	if check("before the close") != k2 {
		t.Fatal("version moved with time alone")
	}
	e.clk.Set(moscowClose)
	if k3 := check("after the close"); k3 == k2 || k3.n != k2.n-1 {
		t.Fatalf("final order left the list: %+v -> %+v", k2, k3)
	}
	if _, _, err := e.m.OrdersVersion(ctx, user2, acct); err == nil {
		t.Fatal("another user's account answered")
	}
}
