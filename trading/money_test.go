package trading_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"tvbridge"
	"tvbridge/trading"
)

// currencyOf returns the state of one currency; zero without it.
func currencyOf(st tvbridge.AccountState, cur string) tvbridge.CurrencyState {
	for _, c := range st.Currencies {
		if c.Currency == cur {
			return c
		}
	}
	return tvbridge.CurrencyState{}
}

// currency returns the state of one currency, failing without it.
func currency(t *testing.T, st tvbridge.AccountState, cur string) tvbridge.CurrencyState {
	t.Helper()
	for _, c := range st.Currencies {
		if c.Currency == cur {
			return c
		}
	}
	t.Fatalf("no %s in %+v", cur, st.Currencies)
	return tvbridge.CurrencyState{}
}

// TestMultiCurrencyAccount: an account holds roubles and dollars, and
// trades instruments in either: a dollar stock is paid for in dollars (its
// margin, P/L and commissions are in dollars, whatever the roubles), while
// totals convert dollars at the live rate. A currency the account does not
// hold cannot be traded.
func TestMultiCurrencyAccount(t *testing.T) {
	e := newEnv(t, withDollars(1_000))
	ctx := context.Background()
	accts, _ := e.m.Accounts(ctx, user1)
	acct := accts[0].ID
	if got := accts[0].Currencies; !slices.Equal(got, []string{"RUB", "USD"}) {
		t.Fatalf("currencies %v, want RUB and USD", got)
	}
	st := e.state(user1, acct)
	if usd := currency(t, st, "USD"); usd.Balance != 1_000 || usd.Rate != 90 || st.Currencies[0].Currency != "RUB" ||
		st.Balance != 1_000_000+90_000 || st.MarginAvailable != 1_090_000 {
		t.Fatalf("new account %+v", st)
	}

	// Buy 50 dollar shares at 10.10: dollars pay for them.
	e.venue.autoFill = 10.1
	o := e.place(user1, acct, marketReq(figiUSD, tvbridge.Buy, 50))
	e.waitStatus(user1, acct, o.ID, tvbridge.OrderFilled)
	st = e.state(user1, acct)
	usd, rub := currency(t, st, "USD"), currency(t, st, "RUB")
	// Marked at the bid, 10: P/L -5, margin 500, commission 0.25 (505 * 0.0005).
	want := tvbridge.CurrencyState{Currency: "USD", Balance: 999.75, UnrealizedPL: -5, Equity: 994.75,
		Commissions: 0.25, MarginUsed: 500, MarginAvailable: 494.75, Rate: 90}
	if usd != want || rub.MarginUsed != 0 || rub.Balance != 1_000_000 {
		t.Fatalf("after the buy: USD %+v (want %+v), RUB %+v", usd, want, rub)
	}
	if !near(st.Balance, 1_000_000+999.75*90) || !near(st.UnrealizedPL, -450) || !near(st.MarginUsed, 45_000) {
		t.Errorf("totals %+v", st)
	}
	pos, _ := e.position(user1, acct, figiUSD)
	if pos.Currency != "USD" || pos.CurrencyPL != -5 || pos.UnrealizedPL != -450 || pos.AvgPrice != 10.1 {
		t.Errorf("position %+v", pos)
	}

	// 60 more need 606 dollars; 494.75 are there, however many roubles.
	_, err := e.m.PlaceOrder(ctx, user1, acct, marketReq(figiUSD, tvbridge.Buy, 60))
	if te := refusal(t, err); te.Reason != tvbridge.ReasonFunds ||
		te.Params != (tvbridge.ErrorParams{Currency: "USD", Need: 606, Have: 494.75}) {
		t.Errorf("buying beyond the dollars: %#v", te)
	}
	// Selling at 11 realizes 45 dollars, in dollars.
	e.venue.autoFill = 11
	o = e.place(user1, acct, marketReq(figiUSD, tvbridge.Sell, 50))
	e.waitStatus(user1, acct, o.ID, tvbridge.OrderFilled)
	st = e.state(user1, acct)
	if usd := currency(t, st, "USD"); usd.RealizedPL != 45 || !near(usd.Commissions, 0.25+0.28) || usd.MarginUsed != 0 ||
		currency(t, st, "RUB").RealizedPL != 0 || !near(st.RealizedPL, 45*90) {
		t.Errorf("after the sale: %+v", st)
	}
	if execs, _ := e.m.Executions(ctx, user1, acct, figiUSD, 0); len(execs) != 2 || execs[0].Commission != 0.28 {
		t.Errorf("executions %+v", execs)
	}

	// Euros: not held, so not tradable.
	_, err = e.m.PlaceOrder(ctx, user1, acct, marketReq(figiEUR, tvbridge.Buy, 1))
	if te := refusal(t, err); te.Reason != tvbridge.ReasonCurrency || te.Params != (tvbridge.ErrorParams{FIGI: figiEUR, Currency: "EUR"}) {
		t.Errorf("euro instrument: %#v", te)
	}
}

// TestNoRateLeavesACurrencyOutOfTotals: without a dollar rate the totals
// count roubles only and say so (Rate 0); dollars are still traded, and a
// position's P/L stays in dollars.
func TestNoRateLeavesACurrencyOutOfTotals(t *testing.T) {
	e := newEnv(t, withDollars(1_000), withConfig(func(c *trading.Config) { c.Rates = fakeRates{} }))
	acct := e.account(user1)
	e.venue.autoFill = 10.1
	o := e.place(user1, acct, marketReq(figiUSD, tvbridge.Buy, 50))
	e.waitStatus(user1, acct, o.ID, tvbridge.OrderFilled)
	st := e.state(user1, acct)
	if usd := currency(t, st, "USD"); usd.Rate != 0 || usd.MarginUsed != 500 || st.Balance != 1_000_000 ||
		st.MarginUsed != 0 || st.UnrealizedPL != 0 {
		t.Errorf("state without a rate %+v", st)
	}
	if pos, _ := e.position(user1, acct, figiUSD); pos.UnrealizedPL != -5 || pos.CurrencyPL != -5 {
		t.Errorf("position without a rate %+v", pos)
	}
}

// TestMultiCurrencyRestart: balances per currency, positions with their
// currency, P/L and commissions are on disk: a restart changes nothing.
func TestMultiCurrencyRestart(t *testing.T) {
	e := newEnv(t, withBolt(), withDollars(1_000))
	acct := e.account(user1)
	e.venue.autoFill = 10.1
	e.waitStatus(user1, acct, e.place(user1, acct, marketReq(figiUSD, tvbridge.Buy, 50)).ID, tvbridge.OrderFilled)
	e.venue.autoFill = 100.02
	e.waitStatus(user1, acct, e.place(user1, acct, marketReq(figiA, tvbridge.Buy, 10)).ID, tvbridge.OrderFilled)
	e.venue.autoFill = 11
	e.waitStatus(user1, acct, e.place(user1, acct, marketReq(figiUSD, tvbridge.Sell, 20)).ID, tvbridge.OrderFilled)
	before := e.snapshot(user1, acct)
	e.restart()
	if after := e.snapshot(user1, acct); !reflect.DeepEqual(after, before) {
		t.Fatalf("state changed across the restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if usd := currency(t, before.State, "USD"); usd.RealizedPL != 18 {
		t.Errorf("dollar P/L %+v", usd)
	}
}

// TestSingleCurrencyRecordsLoad: an account and a position stored before
// accounts held several currencies load as that one currency's money.
func TestSingleCurrencyRecordsLoad(t *testing.T) {
	store := trading.NewMemoryStore()
	acct := trading.AccountRecord{Account: tvbridge.Account{ID: "A1", Owner: user1, Currency: "RUB"}, VenueAccount: "V-alice",
		Cash: 1e6, RealizedPL: 12.5, Commissions: 0.75}
	pos := trading.PositionRecord{ID: "P2", AccountID: "A1", FIGI: figiA, Qty: 10, AvgPrice: 99}
	if err := store.Commit(context.Background(), trading.Change{Seq: 2, Accounts: []trading.AccountRecord{acct},
		Positions: []trading.PositionRecord{pos}}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withStore(store), withConfig(func(c *trading.Config) { c.Rates = usdRates }))
	accts, _ := e.m.Accounts(context.Background(), user1)
	if len(accts) != 1 || !slices.Equal(accts[0].Currencies, []string{"RUB"}) {
		t.Fatalf("accounts %+v", accts)
	}
	st := e.state(user1, "A1")
	if rub := currency(t, st, "RUB"); len(st.Currencies) != 1 || rub.Balance != 1e6+12.5-0.75 || rub.RealizedPL != 12.5 ||
		rub.Commissions != 0.75 || rub.MarginUsed != 1000 {
		t.Errorf("state %+v", st)
	}
	if p, _ := e.position(user1, "A1", figiA); p.Currency != "RUB" {
		t.Errorf("position %+v", p)
	}
}
