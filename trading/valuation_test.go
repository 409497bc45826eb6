package trading_test

import (
	"context"
	"testing"

	"tvbridge"
	"tvbridge/live"
	"tvbridge/trading"
)

// ValuationVersion stands while State and Positions would return the
// same, and moves with the account, with the prices of what it holds or
// has working and with the currency pairs that convert its totals; it does
// not move with the prices of anything else.
func TestValuationVersion(t *testing.T) {
	const figiUSDRUB = "FIGI_USDRUB"
	lm := live.New()
	book := func(figi string, bid, ask float64) {
		lm.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: start}, Book: tvbridge.OrderBook{FIGI: figi, Depth: 1,
			Bids: []tvbridge.PriceLevel{{Price: bid, Quantity: 1}}, Asks: []tvbridge.PriceLevel{{Price: ask, Quantity: 1}}}})
	}
	book(figiA, 100, 100.02)
	book(figiB, 50, 51)
	book(figiUSDRUB, 90, 90.1)
	e := newEnv(t, withDollars(1000), withConfig(func(c *trading.Config) {
		c.Market = lm
		c.Rates = live.NewRates(lm, []tvbridge.CurrencyPair{{Base: "USD", Quote: "RUB", FIGI: figiUSDRUB}})
	}))
	ctx := context.Background()
	acct := e.account(user1)
	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 10, 99)); err != nil {
		t.Fatal(err)
	}
	version := func() [2]uint64 {
		t.Helper()
		v, ok, err := e.m.ValuationVersion(ctx, user1, acct)
		if err != nil || !ok {
			t.Fatalf("ValuationVersion: %v, %v", ok, err)
		}
		return v
	}
	state := func() tvbridge.AccountState {
		t.Helper()
		s, err := e.m.State(ctx, user1, acct)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v0, s0 := version(), state()
	if v := version(); v != v0 {
		t.Fatalf("version moved by itself: %v, then %v", v0, v)
	}
	book(figiB, 50.5, 51) // neither held nor worked
	if v := version(); v != v0 {
		t.Errorf("an unrelated price moved the version: %v -> %v", v0, v)
	}
	book(figiA, 100.01, 100.03) // the working order's instrument
	v1 := version()
	if v1 == v0 {
		t.Errorf("the working order's instrument moved and the version did not: %v", v1)
	}
	book(figiUSDRUB, 91, 91.1) // converts the dollars into the total
	v2 := version()
	if v2 == v1 {
		t.Errorf("the currency pair moved and the version did not: %v", v2)
	}
	if s := state(); s.Balance == s0.Balance {
		t.Errorf("a new USD/RUB rate left the balance at %v", s.Balance)
	}
	if _, err := e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 10, 98)); err != nil {
		t.Fatal(err)
	}
	if v := version(); v[0] == v2[0] {
		t.Errorf("a placed order left the account version at %v", v)
	}
	// Another user's account is refused, as State refuses it.
	if _, _, err := e.m.ValuationVersion(ctx, user2, acct); err == nil {
		t.Errorf("bob got a version of alice's account")
	}
}

// Without a market that versions its prices there is no version.
func TestValuationVersionUnknown(t *testing.T) {
	e := newEnv(t) // fakeMarket has no Version
	acct := e.account(user1)
	if _, ok, err := e.m.ValuationVersion(context.Background(), user1, acct); err != nil || ok {
		t.Errorf("ValuationVersion on a market without versions: ok %v, err %v", ok, err)
	}
}
