package paper

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

func TestAccountsOneStableDemoAccountPerUser(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.StartingCash = 250_000; c.Currency = "USD" })
	ctx := context.Background()
	a1, err := f.v.Accounts(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := f.v.Accounts(ctx, "alice@example.com")
	b, _ := f.v.Accounts(ctx, "bob")
	if len(a1) != 1 || !reflect.DeepEqual(a1[0], a2[0]) {
		t.Fatalf("accounts of one user differ between calls: %+v vs %+v", a1, a2)
	}
	got := a1[0]
	want := tvbridge.VenueAccount{ID: got.ID, Name: "Paper", Type: tvbridge.DemoAccount, Currency: "USD",
		Cash: []tvbridge.Money{{Currency: "USD", Amount: 250_000}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("account = %+v, want %+v", got, want)
	}
	if !validAccountID(got.ID) || strings.Contains(strings.ToLower(got.ID), "alice") {
		t.Errorf("id %q should be P + 10 hash characters, not the user name", got.ID)
	}
	if b[0].ID == got.ID {
		t.Errorf("two users share account id %q", got.ID)
	}
	if _, err := f.v.Accounts(ctx, ""); errCode(err) != tvbridge.ErrUnknownAccount {
		t.Errorf("empty user: err %v, want %s", err, tvbridge.ErrUnknownAccount)
	}
}

// A paper account holds cash in several currencies: the listed ones, the
// account currency first (with nothing when it is not listed).
func TestAccountsMultiCurrencyCash(t *testing.T) {
	for _, tc := range []struct {
		cfg  func(*Config)
		want []tvbridge.Money
	}{
		{func(c *Config) {
			c.Cash = []tvbridge.Money{{Currency: "USD", Amount: 5_000}, {Currency: "RUB", Amount: 300_000}, {Currency: "EUR", Amount: 1}}
		}, []tvbridge.Money{{Currency: "RUB", Amount: 300_000}, {Currency: "USD", Amount: 5_000}, {Currency: "EUR", Amount: 1}}},
		{func(c *Config) { c.Cash = []tvbridge.Money{{Currency: "USD", Amount: 5_000}} },
			[]tvbridge.Money{{Currency: "RUB"}, {Currency: "USD", Amount: 5_000}}},
		{func(c *Config) { c.Cash = []tvbridge.Money{{Currency: "USD", Amount: 5_000}}; c.Currency = "USD" },
			[]tvbridge.Money{{Currency: "USD", Amount: 5_000}}},
	} {
		f := newFixture(t, tc.cfg)
		got, err := f.v.Accounts(context.Background(), "carol")
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Cash, tc.want) {
			t.Errorf("accounts %+v (%v), want cash %+v", got, err, tc.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	f := newFixture(t, nil)
	cfg := f.v.cfg
	if !reflect.DeepEqual(cfg.Cash, []tvbridge.Money{{Currency: "RUB", Amount: 10_000_000}, {Currency: "USD", Amount: 100_000}}) ||
		cfg.Currency != "RUB" || cfg.CommissionRate != 0.0005 ||
		cfg.MaxBookAge != 10*time.Second || cfg.SweepInterval != time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
	if got := newFixture(t, func(c *Config) { c.CommissionRate = -1 }).v.cfg.CommissionRate; got != 0 {
		t.Errorf("negative commission rate should mean none, got %v", got)
	}
}

func TestMarketOrderWalksTheBookAndCancelsTheRest(t *testing.T) {
	f := newFixture(t, nil)
	f.market.setBook(lot10, t0, levels(99.5, 4, 99, 1), levels(100, 2, 100.5, 3))

	f.submit(t, market("buy", lot10, tvbridge.Buy, 70)) // 7 lots; the asks hold 5
	f.submit(t, market("sell", lot10, tvbridge.Sell, 30))
	evs := queued(f.v)
	checkEvents(t, evs,
		fillOf("buy", 20, 100), fillOf("buy", 30, 100.5), cancelOf("buy", 20),
		fillOf("sell", 30, 99.5))
	if !strings.Contains(evs[2].Reason, "50 of 70") {
		t.Errorf("cancel reason %q should say how much the book absorbed", evs[2].Reason)
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if e.Kind == tvbridge.VenueFill {
			if e.ExecID == "" || ids[e.ExecID] {
				t.Errorf("ExecID %q empty or repeated", e.ExecID)
			}
			ids[e.ExecID] = true
		}
		if !e.Time.Equal(t0) {
			t.Errorf("event time %v, want the clock's %v", e.Time, t0)
		}
	}
	if _, ok := remaining(f.v, "buy"); ok {
		t.Error("a market order must never rest")
	}
}

func TestOrdersOnOneSnapshotShareItsLiquidity(t *testing.T) {
	f := newFixture(t, nil)
	f.market.setBook(one, t0, nil, levels(100, 5, 100.5, 5))

	f.submit(t, market("m1", one, tvbridge.Buy, 2))
	f.submit(t, market("m2", one, tvbridge.Buy, 4))
	checkEvents(t, queued(f.v), fillOf("m1", 2, 100), fillOf("m2", 3, 100), fillOf("m2", 1, 100.5))

	// The marketable part of a limit order sees the same depleted snapshot.
	f.submit(t, limit("l1", one, tvbridge.Buy, 5, 100))
	if got := queued(f.v); len(got) != 0 {
		t.Fatalf("the 100 level was taken; a limit at 100 must rest, got %+v", briefs(got))
	}

	// A new snapshot is whole again; l1 rests at 100 and is a maker now.
	f.clk.Advance(time.Second)
	f.market.setBook(one, f.clk.Now(), nil, levels(100, 5))
	f.submit(t, market("m3", one, tvbridge.Buy, 1))
	checkEvents(t, queued(f.v), fillOf("m3", 1, 100))
}

func TestMarketOrderRefusals(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(*fixture)
		want   tvbridge.ErrorCode
		detail string
	}{
		{"no book", func(*fixture) {}, tvbridge.ErrNoMarketData, "no order book"},
		{"stale book", func(f *fixture) {
			f.market.setBook(one, t0.Add(-11*time.Second), nil, levels(100, 5))
		}, tvbridge.ErrNoMarketData, "11s old"},
		{"market closed", func(f *fixture) {
			f.market.setBook(one, t0, nil, levels(100, 5))
			f.market.setStatus(one, tvbridge.StatusBreakInTrading)
		}, tvbridge.ErrMarketClosed, "break_in_trading"},
		{"empty side", func(f *fixture) {
			f.market.setBook(one, t0, levels(99, 5), nil)
			f.market.setStatus(one, tvbridge.StatusNormalTrading)
		}, tvbridge.ErrNoMarketData, "no asks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tc.setup(f)
			_, err := f.v.Submit(context.Background(), f.acct, market("m", one, tvbridge.Buy, 1))
			if errCode(err) != tc.want || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("err = %v, want %s mentioning %q", err, tc.want, tc.detail)
			}
			if evs := queued(f.v); len(evs) != 0 {
				t.Errorf("a refused order produced events: %+v", briefs(evs))
			}
		})
	}
}

func TestUnknownStatusTradesOnlyWithAFreshBook(t *testing.T) {
	f := newFixture(t, nil)
	f.market.setBook(one, t0.Add(-10*time.Second), nil, levels(100, 5)) // exactly MaxBookAge old: still fresh
	f.submit(t, market("m", one, tvbridge.Buy, 1))
	checkEvents(t, queued(f.v), fillOf("m", 1, 100))
}

func TestCommission(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*Config)
		want []float64 // per fill
	}{
		{"default rate", nil, []float64{0.0005 * 20 * 100, 0.0005 * 30 * 100.5}},
		{"custom rate", func(c *Config) { c.CommissionRate = 0.001 }, []float64{2, 3.015}},
		{"minimum", func(c *Config) { c.MinCommission = 1.5 }, []float64{1.5, 1.5075}},
		{"none", func(c *Config) { c.CommissionRate = -1 }, []float64{0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			f.market.setBook(lot10, t0, nil, levels(100, 2, 100.5, 3))
			f.submit(t, market("m", lot10, tvbridge.Buy, 50))
			evs := queued(f.v)
			if len(evs) != len(tc.want) {
				t.Fatalf("events %+v", briefs(evs))
			}
			for i, e := range evs {
				if !near(e.Commission, tc.want[i]) {
					t.Errorf("fill %d commission %v, want %v", i, e.Commission, tc.want[i])
				}
			}
		})
	}
}

func TestLimitOrderFillsItsMarketablePartAndRestsTheRest(t *testing.T) {
	f := newFixture(t, nil)
	f.market.setBook(lot10, t0, levels(99, 5), levels(100, 1, 100.5, 1, 101, 5))

	f.submit(t, limit("b", lot10, tvbridge.Buy, 50, 100.5))
	checkEvents(t, queued(f.v), fillOf("b", 10, 100), fillOf("b", 10, 100.5))
	if rest, ok := remaining(f.v, "b"); !ok || rest != 30 {
		t.Fatalf("resting %v (%v), want 30 units", rest, ok)
	}

	// Not marketable at all: a sell above the bid rests whole.
	f.submit(t, limit("s", lot10, tvbridge.Sell, 20, 99.01))
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("unexpected fills %+v", briefs(evs))
	}
	if rest, ok := remaining(f.v, "s"); !ok || rest != 20 {
		t.Fatalf("resting %v (%v), want 20 units", rest, ok)
	}
}

func TestLimitOrderRestsWholeWithoutALiveBook(t *testing.T) {
	for name, setup := range map[string]func(*fixture){
		"stale":  func(f *fixture) { f.market.setBook(one, t0.Add(-time.Minute), nil, levels(99, 5)) },
		"closed": func(f *fixture) { f.market.setStatus(one, tvbridge.StatusSessionClose) },
		"none":   func(*fixture) {},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil)
			setup(f)
			f.submit(t, limit("b", one, tvbridge.Buy, 3, 100))
			if evs := queued(f.v); len(evs) != 0 {
				t.Fatalf("filled against a book it may not use: %+v", briefs(evs))
			}
			if rest, ok := remaining(f.v, "b"); !ok || rest != 3 {
				t.Fatalf("resting %v (%v), want 3", rest, ok)
			}
		})
	}
}

func TestTradeThroughFillsRestingOrdersAtTheirLimitUpToTheTradeSize(t *testing.T) {
	f := newFixture(t, nil)
	f.submit(t, limit("b", lot10, tvbridge.Buy, 50, 100.5))

	f.v.onTrade(lot10, 100.5, 9, 0) // at the limit: not through it
	f.v.onTrade(lot10, 100.6, 9, 0) // above a buy limit
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("trades at or above a buy limit filled it: %+v", briefs(evs))
	}
	f.v.onTrade(lot10, 100.49, 2, 0) // through, 2 lots
	f.v.onTrade(lot10, 99, 9, 0)     // through, more than is left
	checkEvents(t, queued(f.v), fillOf("b", 20, 100.5), fillOf("b", 30, 100.5))
	if _, ok := remaining(f.v, "b"); ok {
		t.Fatal("a filled order still rests")
	}
	f.v.onTrade(lot10, 98, 9, 0)
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("a filled order filled again: %+v", briefs(evs))
	}
}

func TestTradeThroughPriceTimePriorityOnBothSides(t *testing.T) {
	f := newFixture(t, nil)
	f.submit(t, limit("b100", one, tvbridge.Buy, 2, 100))
	f.submit(t, limit("b101", one, tvbridge.Buy, 2, 101))
	f.submit(t, limit("b100late", one, tvbridge.Buy, 2, 100))
	f.submit(t, limit("s102", one, tvbridge.Sell, 2, 102))
	f.submit(t, limit("s99", one, tvbridge.Sell, 3, 99))

	// A trade at 99.5 goes through every buy above it and the sell at 99;
	// its 4 lots go to the best buys first, and separately to the sell.
	f.v.onTrade(one, 99.5, 4, 0)
	checkEvents(t, queued(f.v),
		fillOf("b101", 2, 101), fillOf("b100", 2, 100), fillOf("s99", 3, 99))
	f.v.onTrade(one, 103, 1, 0)
	checkEvents(t, queued(f.v), fillOf("s102", 1, 102))
	if rest, _ := remaining(f.v, "b100late"); rest != 2 {
		t.Errorf("b100late rests %v, want 2 (it came after b100)", rest)
	}
}

func TestMalformedTradesAreIgnored(t *testing.T) {
	f := newFixture(t, nil)
	f.submit(t, limit("b", one, tvbridge.Buy, 2, 100))
	for _, tr := range [][2]float64{{0, 5}, {-1, 5}, {99, 0}, {99, 0.5}, {99, -3}} {
		f.v.onTrade(one, tr[0], tr[1], 0)
	}
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("malformed trades filled: %+v", briefs(evs))
	}
}

func TestCrossingBookFillsRestingOrdersAtTheirLimit(t *testing.T) {
	f := newFixture(t, nil)
	f.market.setBook(lot10, t0, levels(99, 9), levels(101, 9))
	f.submit(t, limit("b", lot10, tvbridge.Buy, 50, 100))
	f.submit(t, limit("s", lot10, tvbridge.Sell, 10, 100.5))
	f.v.onBook(lot10)
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("an uncrossed book filled: %+v", briefs(evs))
	}

	// The asks fall through the buy limit, the bids rise through the sell.
	f.clk.Advance(time.Second)
	f.market.setBook(lot10, f.clk.Now(), levels(100.6, 1), levels(99.5, 2, 100, 1, 100.5, 9))
	f.v.onBook(lot10)
	checkEvents(t, queued(f.v), fillOf("b", 30, 100), fillOf("s", 10, 100.5))

	// The same snapshot again (the sweep): its crossing lots are used up.
	f.v.onBook(lot10)
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("one snapshot filled twice: %+v", briefs(evs))
	}
	if rest, _ := remaining(f.v, "b"); rest != 20 {
		t.Fatalf("b rests %v, want 20", rest)
	}
}

func TestCrossingBookIgnoredWhenStaleOrClosed(t *testing.T) {
	f := newFixture(t, nil)
	f.submit(t, limit("b", one, tvbridge.Buy, 2, 100))
	f.market.setBook(one, t0, nil, levels(99, 5))
	f.market.setStatus(one, tvbridge.StatusClosingPeriod) // trading
	f.clk.Advance(11 * time.Second)
	f.v.onBook(one) // crossed, trading, but 11s old

	f.market.setBook(one, f.clk.Now(), nil, levels(99, 5))
	f.market.setStatus(one, tvbridge.StatusNotAvailableForTrading)
	f.v.onBook(one) // crossed, fresh, but not trading
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("filled against a stale or closed market: %+v", briefs(evs))
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	o := limit("b", lot10, tvbridge.Buy, 50, 100)
	f.submit(t, o)
	f.v.onTrade(lot10, 99, 2, 0)

	if err := f.v.Cancel(ctx, AccountID("mallory"), o); errCode(err) != tvbridge.ErrUnknownOrder {
		t.Fatalf("cancel from another account: err %v, want %s", err, tvbridge.ErrUnknownOrder)
	}
	if err := f.v.Cancel(ctx, f.acct, o); err != nil {
		t.Fatal(err)
	}
	evs := queued(f.v)
	checkEvents(t, evs, fillOf("b", 20, 100), cancelOf("b", 30))
	if evs[1].Reason == "" {
		t.Error("a cancellation needs a reason")
	}

	f.v.onTrade(lot10, 99, 9, 0)
	for _, again := range []tvbridge.VenueOrder{o, limit("never-seen", lot10, tvbridge.Buy, 10, 100)} {
		if err := f.v.Cancel(ctx, f.acct, again); err != nil {
			t.Errorf("cancel %s: %v, want nil", again.ID, err)
		}
	}
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("events after the cancellation: %+v", briefs(evs))
	}
}

func TestRestoreRestsWorkingOrdersAgain(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.submit(t, limit("already", one, tvbridge.Buy, 1, 100))
	err := f.v.Restore(ctx, f.acct, []tvbridge.VenueOrder{
		limit("b", lot10, tvbridge.Buy, 30, 100), // remaining qty after earlier fills
		market("m", lot10, tvbridge.Buy, 10),
		limit("bad", lot10, tvbridge.Buy, 15, 100), // not a multiple of the lot
		limit("already", one, tvbridge.Buy, 1, 100),
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := queued(f.v)
	checkEvents(t, evs, cancelOf("m", 10), cancelOf("bad", 15))
	if !strings.Contains(evs[1].Reason, "invalid_qty") {
		t.Errorf("reason %q should say why it could not be restored", evs[1].Reason)
	}
	f.v.onTrade(lot10, 99, 9, 0)
	f.v.onTrade(one, 99, 9, 0)
	checkEvents(t, queued(f.v), fillOf("b", 30, 100), fillOf("already", 1, 100))
}

func TestSubmitIsIdempotentWhileResting(t *testing.T) {
	f := newFixture(t, nil)
	o := limit("b", one, tvbridge.Buy, 2, 100)
	ref1, err1 := f.v.Submit(context.Background(), f.acct, o)
	ref2, err2 := f.v.Submit(context.Background(), f.acct, o)
	if err1 != nil || err2 != nil || ref1 != ref2 || ref1 == "" {
		t.Fatalf("refs %q, %q, errs %v, %v", ref1, ref2, err1, err2)
	}
	f.v.onTrade(one, 99, 9, 0)
	checkEvents(t, queued(f.v), fillOf("b", 2, 100))
}

func TestSubmitValidation(t *testing.T) {
	f := newFixture(t, nil)
	f.market.setBook(lot10, t0, levels(99, 5), levels(100, 5))
	ok := limit("x", lot10, tvbridge.Buy, 10, 100)
	cases := []struct {
		name    string
		account string
		mutate  func(*tvbridge.VenueOrder)
		want    tvbridge.ErrorCode
		field   string
	}{
		{"foreign account", "acct-1", nil, tvbridge.ErrUnknownAccount, ""},
		{"no id", f.acct, func(o *tvbridge.VenueOrder) { o.ID = "" }, tvbridge.ErrInvalidRequest, "id"},
		{"bad side", f.acct, func(o *tvbridge.VenueOrder) { o.Side = "long" }, tvbridge.ErrInvalidRequest, "side"},
		{"stop", f.acct, func(o *tvbridge.VenueOrder) { o.Type = tvbridge.StopOrder }, tvbridge.ErrUnsupported, "type"},
		{"unknown figi", f.acct, func(o *tvbridge.VenueOrder) { o.FIGI = "NOPE" }, tvbridge.ErrUnknownInstrument, "figi"},
		{"zero qty", f.acct, func(o *tvbridge.VenueOrder) { o.Qty = 0 }, tvbridge.ErrInvalidQty, "qty"},
		{"odd lot", f.acct, func(o *tvbridge.VenueOrder) { o.Qty = 15 }, tvbridge.ErrInvalidQty, "qty"},
		{"negative qty", f.acct, func(o *tvbridge.VenueOrder) { o.Qty = -10 }, tvbridge.ErrInvalidQty, "qty"},
		{"no limit", f.acct, func(o *tvbridge.VenueOrder) { o.Limit = 0 }, tvbridge.ErrInvalidPrice, "limitPrice"},
		{"off grid", f.acct, func(o *tvbridge.VenueOrder) { o.Limit = 100.005 }, tvbridge.ErrInvalidPrice, "limitPrice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			_, err := f.v.Submit(context.Background(), tc.account, o)
			if errCode(err) != tc.want {
				t.Fatalf("err %v, want %s", err, tc.want)
			}
			if te := err.(*tvbridge.TradingError); te.Field != tc.field {
				t.Errorf("field %q, want %q", te.Field, tc.field)
			}
		})
	}
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("rejected orders produced events: %+v", briefs(evs))
	}
}

func TestSubmitRecoversFromPanics(t *testing.T) {
	f := newFixture(t, nil)
	f.market.setHook(func(string) { panic("broken market") })
	_, err := f.v.Submit(context.Background(), f.acct, market("m", one, tvbridge.Buy, 1))
	if errCode(err) != tvbridge.ErrVenue {
		t.Fatalf("err %v, want %s", err, tvbridge.ErrVenue)
	}
	f.market.setHook(nil)
	f.market.setBook(one, t0, nil, levels(100, 5))
	f.submit(t, market("m2", one, tvbridge.Buy, 1)) // the venue's lock was released
	checkEvents(t, queued(f.v), fillOf("m2", 1, 100))
}

// With TradesFromCore the venue matches the trades the core hands it, with
// their log positions: fills carry the position, a trade at or before an
// order's TapeSeen (a replay of what it has seen) passes it over for the
// worse orders behind it, and the tape's own trades are left alone.
func TestTradesFromCoreWithPositions(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TradesFromCore = true })
	seen := limit("seen", one, tvbridge.Buy, 2, 101)
	seen.TapeSeen = 50
	f.submit(t, seen)
	f.submit(t, limit("fresh", one, tvbridge.Buy, 2, 100))

	f.v.handle(tvbridge.TapeEntry{Seq: 1, Tick: tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: one, Price: 99, Size: 9}})
	if evs := queued(f.v); len(evs) != 0 {
		t.Fatalf("the venue matched a tape trade it is fed instead: %+v", briefs(evs))
	}
	f.v.Trade(one, 99.5, 1, 40) // replayed: "seen" has seen it, "fresh" has not
	evs := queued(f.v)
	checkEvents(t, evs, fillOf("fresh", 1, 100))
	if evs[0].TapePos != 40 {
		t.Errorf("fill TapePos %d, want 40", evs[0].TapePos)
	}
	f.v.Trade(one, 99.5, 2, 60) // new to both: the better limit first
	checkEvents(t, queued(f.v), fillOf("seen", 2, 101))
	f.v.Trade(one, 99.5, 2, 60) // a later replay of it: "seen" is gone, "fresh" has seen 40 only
	checkEvents(t, queued(f.v), fillOf("fresh", 1, 100))
	if _, ok := remaining(f.v, "fresh"); ok {
		t.Fatal("a filled order still rests")
	}

	g := newFixture(t, nil) // reading the tape itself, it ignores what it is fed
	g.submit(t, limit("b", one, tvbridge.Buy, 2, 100))
	g.v.Trade(one, 99, 9, 70)
	if evs := queued(g.v); len(evs) != 0 {
		t.Fatalf("fed a trade without TradesFromCore: %+v", briefs(evs))
	}
}
