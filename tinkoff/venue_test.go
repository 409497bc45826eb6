package tinkoff_test

// Tests of the order venue against the real simulator's sandbox over
// loopback, on a fake clock shared by both. Most tests call Poll themselves
// and drain the queued events, so "nothing happened" is an exact assertion;
// TestVenueRun covers the ticker-driven loop and the events channel.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/sim"
	"tvbridge/sim/market"
	"tvbridge/tinkoff"
	"tvbridge/tinkoff/wire"
)

// sber trades in lots of 10 with a 0.01 increment, in RUB, on MOEX: open
// at simStart.
const (
	sber    = "BBG004730N88"
	sberLot = 10
)

// venueMarket is shared: building the model is the slow part of a rig.
var venueMarket = market.New(market.Config{Seed: 7})

// waitEvent bounds how long TestVenueRun waits for an event that is due; it
// only guards against a hung test.
const waitEvent = 20 * time.Second

type venueRig struct {
	t       testing.TB
	clk     *clock.Fake
	m       *market.Market
	client  *tinkoff.Client
	account string
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newVenueRig starts a simulator with a funded sandbox account.
func newVenueRig(t testing.TB, rub float64) *venueRig {
	t.Helper()
	clk := clock.NewFake(simStart)
	srv := sim.New(sim.Config{Market: venueMarket, Clock: clk, Tokens: []string{"secret"},
		Commission: 0.0005, Logger: quietLogger()})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	limits := map[string]int{}
	for bucket := range tinkoff.DefaultLimits {
		limits[bucket] = 1 << 20
	}
	client := tinkoff.NewClient(tinkoff.ClientConfig{BaseURL: hs.URL + wire.SandboxBase, Token: "secret",
		Clock: clk, Limits: limits, Logger: quietLogger()})
	ctx := context.Background()
	acc, err := client.SandboxRegister(ctx, "Tinkoff")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := client.SandboxSetCurrencyBalance(ctx, acc.BrokerAccountID, "RUB", rub); err != nil {
		t.Fatalf("fund: %v", err)
	}
	if !venueMarket.Status(sber, simStart).Trading() {
		t.Fatalf("%s does not trade at %v", sber, simStart)
	}
	return &venueRig{t: t, clk: clk, m: venueMarket, client: client, account: acc.BrokerAccountID}
}

func (r *venueRig) config() tinkoff.VenueConfig {
	return tinkoff.VenueConfig{
		Client: r.client, Users: map[string][]string{"alice": {r.account}},
		Instrument: r.instrument, Clock: r.clk, Logger: quietLogger(), Sandbox: true,
	}
}

func (r *venueRig) venue(mod func(*tinkoff.VenueConfig)) *tinkoff.OrderVenue {
	r.t.Helper()
	cfg := r.config()
	if mod != nil {
		mod(&cfg)
	}
	v, err := tinkoff.NewVenue(cfg)
	if err != nil {
		r.t.Fatalf("NewVenue: %v", err)
	}
	return v
}

func (r *venueRig) instrument(figi string) (tvbridge.Instrument, bool) {
	in, ok := r.m.Instrument(figi)
	if !ok {
		return tvbridge.Instrument{}, false
	}
	return in.Instrument, true
}

func (r *venueRig) submit(v *tinkoff.OrderVenue, o tvbridge.VenueOrder) tvbridge.VenueOrder {
	r.t.Helper()
	ref, err := v.Submit(context.Background(), r.account, o)
	if err != nil {
		r.t.Fatalf("submit %s: %v", o.ID, err)
	}
	if !strings.Contains(ref, "@") {
		r.t.Fatalf("venue ref %q has no submit time", ref)
	}
	o.VenueRef = ref
	return o
}

// poll polls once and returns the events it produced.
func (r *venueRig) poll(v *tinkoff.OrderVenue) []tvbridge.VenueEvent {
	r.t.Helper()
	if err := v.Poll(context.Background()); err != nil {
		r.t.Fatalf("poll: %v", err)
	}
	return tinkoff.DrainVenueEvents(v)
}

// trades returns the upstream's trades of the account's operations, by id.
func (r *venueRig) trades() map[string]wire.OperationTrade {
	r.t.Helper()
	ops, err := r.client.Operations(context.Background(), r.account, simStart.Add(-time.Hour), r.clk.Now().Add(time.Hour), "")
	if err != nil {
		r.t.Fatalf("operations: %v", err)
	}
	out := map[string]wire.OperationTrade{}
	for _, op := range ops {
		for _, tr := range op.Trades {
			out[tr.TradeID] = tr
		}
	}
	return out
}

// commissions returns the total commission of the account's operations.
func (r *venueRig) commissions() float64 {
	r.t.Helper()
	ops, err := r.client.Operations(context.Background(), r.account, simStart.Add(-time.Hour), r.clk.Now().Add(time.Hour), "")
	if err != nil {
		r.t.Fatalf("operations: %v", err)
	}
	var sum float64
	for _, op := range ops {
		if op.Commission != nil {
			sum += math.Abs(op.Commission.Value)
		}
	}
	return sum
}

func order(id string, side tvbridge.Side, typ tvbridge.OrderType, lots int, limit float64) tvbridge.VenueOrder {
	return tvbridge.VenueOrder{ID: id, AccountID: "core-" + id, FIGI: sber, Side: side, Type: typ,
		Qty: float64(lots * sberLot), Limit: limit}
}

// firstTradeBelow is the first model trade after from priced below price.
func firstTradeBelow(m *market.Market, from time.Time, price float64) (market.Trade, bool) {
	for minute := from.Truncate(time.Minute); minute.Before(from.Add(3 * time.Hour)); minute = minute.Add(time.Minute) {
		for _, tr := range m.MinuteTrades(sber, minute) {
			if tr.Time.After(from) && tr.Price < price {
				return tr, true
			}
		}
	}
	return market.Trade{}, false
}

// restingBuyLimit is a buy limit under the market that a trade in the next
// two hours goes through, and that trade.
func restingBuyLimit(t *testing.T, m *market.Market, now time.Time) (float64, market.Trade) {
	t.Helper()
	low := math.Inf(1)
	for minute := now.Truncate(time.Minute); minute.Before(now.Add(2 * time.Hour)); minute = minute.Add(time.Minute) {
		for _, tr := range m.MinuteTrades(sber, minute) {
			if tr.Time.After(now) {
				low = min(low, tr.Price)
			}
		}
	}
	limit := math.Round((low+0.01)*100) / 100
	if ask := m.OrderBook(sber, now, 1).Asks[0].Price; limit >= ask {
		t.Fatalf("no dip under the ask: limit %v, ask %v", limit, ask)
	}
	tr, ok := firstTradeBelow(m, now, limit)
	if !ok {
		t.Fatalf("nothing trades under %v", limit)
	}
	return limit, tr
}

// checkFills checks that events are fills of one order adding up to qty,
// each a real upstream trade, and returns their ExecIDs.
func (r *venueRig) checkFills(events []tvbridge.VenueEvent, orderID string, qty float64) []string {
	r.t.Helper()
	upstream := r.trades()
	var sum float64
	var ids []string
	for _, ev := range events {
		tr, ok := upstream[ev.ExecID]
		switch {
		case ev.Kind != tvbridge.VenueFill || ev.OrderID != orderID:
			r.t.Fatalf("want fills of %s, got %+v", orderID, ev)
		case !ok:
			r.t.Fatalf("fill %+v is not an upstream trade", ev)
		case ev.Price != tr.Price || ev.Qty != float64(tr.Quantity) || ev.Time.Format(wire.TimeLayout) != tr.Date:
			r.t.Fatalf("fill %+v differs from its trade %+v", ev, tr)
		}
		sum += ev.Qty
		ids = append(ids, ev.ExecID)
	}
	if sum != qty {
		r.t.Fatalf("fills of %s add up to %v, want %v: %+v", orderID, sum, qty, events)
	}
	return ids
}

func sumCommission(events []tvbridge.VenueEvent) float64 {
	var sum float64
	for _, ev := range events {
		sum += ev.Commission
	}
	return sum
}

func TestVenueMarketOrderFillsThroughOperations(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	v := r.venue(nil)
	book := r.m.OrderBook(sber, r.clk.Now(), 2)
	// More than the best ask holds: the order walks into the next level.
	lots := int(book.Asks[0].Quantity) + 1
	r.submit(v, order("m1", tvbridge.Buy, tvbridge.MarketOrder, lots, 0))

	events := r.poll(v)
	r.checkFills(events, "m1", float64(lots*sberLot))
	if len(events) != 2 || events[0].Price != book.Asks[0].Price || events[1].Price != book.Asks[1].Price {
		t.Fatalf("fills %+v, book asks %+v", events, book.Asks)
	}
	if got, want := sumCommission(events), r.commissions(); math.Abs(got-want) > 1e-9 || got <= 0 {
		t.Fatalf("commission %v, upstream %v", got, want)
	}
	if again := r.poll(v); len(again) != 0 || tinkoff.TrackedVenueOrders(v) != 0 {
		t.Fatalf("after the fill: events %+v, %d orders followed", again, tinkoff.TrackedVenueOrders(v))
	}
}

func TestVenueLimitOrderRestsThenFills(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	v := r.venue(nil)
	limit, through := restingBuyLimit(t, r.m, r.clk.Now())
	placed := r.submit(v, order("l1", tvbridge.Buy, tvbridge.LimitOrder, 2, limit))
	// A retried Submit of the same order places nothing new.
	if again := r.submit(v, order("l1", tvbridge.Buy, tvbridge.LimitOrder, 2, limit)); again.VenueRef != placed.VenueRef {
		t.Fatalf("retried Submit gave %q, first %q", again.VenueRef, placed.VenueRef)
	}
	if active, err := r.client.Orders(context.Background(), r.account); err != nil || len(active) != 1 {
		t.Fatalf("active orders upstream: %+v, %v", active, err)
	}
	if events := r.poll(v); len(events) != 0 {
		t.Fatalf("resting order produced %+v", events)
	}
	r.clk.Set(through.Time.Add(time.Second))
	events := r.poll(v)
	r.checkFills(events, "l1", 2*sberLot)
	if events[0].Price != limit || !events[0].Time.Equal(through.Time) {
		t.Fatalf("fill %+v, want at %v on the trade at %v", events[0], limit, through.Time)
	}
	if again := r.poll(v); len(again) != 0 {
		t.Fatalf("fill reported twice: %+v", again)
	}
}

func TestVenuePartialFillThenRest(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	v := r.venue(nil)
	now := r.clk.Now()
	ask := r.m.OrderBook(sber, now, 1).Asks[0]
	lots := int(ask.Quantity) + 2
	r.submit(v, order("p1", tvbridge.Buy, tvbridge.LimitOrder, lots, ask.Price))

	first := r.poll(v)
	r.checkFills(first, "p1", ask.Quantity*sberLot)
	if first[0].Commission <= 0 {
		t.Fatalf("first fill without commission: %+v", first[0])
	}
	through, ok := firstTradeBelow(r.m, now, ask.Price)
	if !ok {
		t.Fatal("nothing trades under the ask")
	}
	r.clk.Set(through.Time.Add(time.Second))
	rest := r.poll(v)
	r.checkFills(rest, "p1", 2*sberLot)
	if rest[0].Price != ask.Price {
		t.Fatalf("rest filled at %v, limit %v", rest[0].Price, ask.Price)
	}
	all := append(first, rest...)
	if got, want := sumCommission(all), r.commissions(); math.Abs(got-want) > 1e-9 {
		t.Fatalf("commissions add up to %v, upstream charged %v", got, want)
	}
	if again := r.poll(v); len(again) != 0 || tinkoff.TrackedVenueOrders(v) != 0 {
		t.Fatalf("after the last fill: %+v", again)
	}
}

func TestVenueCancel(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	v := r.venue(nil)
	ctx := context.Background()
	ask := r.m.OrderBook(sber, r.clk.Now(), 1).Asks[0]
	bid := r.m.OrderBook(sber, r.clk.Now(), 1).Bids[0].Price
	resting := r.submit(v, order("c1", tvbridge.Buy, tvbridge.LimitOrder, 1, bid-0.5))
	partial := r.submit(v, order("c2", tvbridge.Buy, tvbridge.LimitOrder, int(ask.Quantity)+3, ask.Price))
	r.checkFills(r.poll(v), "c2", ask.Quantity*sberLot)

	for _, o := range []tvbridge.VenueOrder{resting, partial} {
		if err := v.Cancel(ctx, r.account, o); err != nil {
			t.Fatalf("cancel %s: %v", o.ID, err)
		}
	}
	events := r.poll(v)
	if len(events) != 2 {
		t.Fatalf("want two cancellations, got %+v", events)
	}
	for i, id := range []string{"c1", "c2"} {
		if ev := events[i]; ev.Kind != tvbridge.VenueCancelled || ev.OrderID != id || ev.Reason == "" {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	// Cancelling again, or an order that filled, is not an error and
	// reports nothing new.
	if err := v.Cancel(ctx, r.account, resting); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
	filled := r.submit(v, order("c3", tvbridge.Buy, tvbridge.MarketOrder, 1, 0))
	if err := v.Cancel(ctx, r.account, filled); err != nil {
		t.Fatalf("cancel of a filled order: %v", err)
	}
	events = r.poll(v)
	r.checkFills(events, "c3", sberLot)
	if again := r.poll(v); len(again) != 0 || tinkoff.TrackedVenueOrders(v) != 0 {
		t.Fatalf("after cancelling: %+v", again)
	}
}

func TestVenueOrderCancelledUpstream(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	v := r.venue(func(c *tinkoff.VenueConfig) { c.PollInterval = time.Second })
	bid := r.m.OrderBook(sber, r.clk.Now(), 1).Bids[0].Price
	r.submit(v, order("u1", tvbridge.Buy, tvbridge.LimitOrder, 1, bid-0.5))
	// Setting the cash cancels resting buys in the simulator, as an
	// exchange-side cancellation would.
	if err := r.client.SandboxSetCurrencyBalance(context.Background(), r.account, "RUB", 1_000); err != nil {
		t.Fatal(err)
	}
	// Operations may lag: the order is reported cancelled only after the
	// grace period (3 polls).
	if events := r.poll(v); len(events) != 0 {
		t.Fatalf("cancelled before the grace period: %+v", events)
	}
	r.clk.Advance(2 * time.Second)
	if events := r.poll(v); len(events) != 0 {
		t.Fatalf("cancelled before the grace period: %+v", events)
	}
	r.clk.Advance(time.Second)
	events := r.poll(v)
	if len(events) != 1 || events[0].Kind != tvbridge.VenueCancelled || events[0].OrderID != "u1" {
		t.Fatalf("after the grace period: %+v", events)
	}
}

func TestVenueRestoreAfterRestart(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	now := r.clk.Now()
	ask := r.m.OrderBook(sber, now, 1).Asks[0]
	limit, through := restingBuyLimit(t, r.m, now)
	askThrough, ok := firstTradeBelow(r.m, now, ask.Price)
	if !ok {
		t.Fatal("nothing trades under the ask")
	}

	v1 := r.venue(nil)
	p := r.submit(v1, order("p", tvbridge.Buy, tvbridge.LimitOrder, int(ask.Quantity)+2, ask.Price))
	q := r.submit(v1, order("q", tvbridge.Buy, tvbridge.LimitOrder, 2, limit))
	before := r.poll(v1)
	applied := map[string]bool{}
	for _, id := range r.checkFills(before, "p", ask.Quantity*sberLot) {
		applied[id] = true
	}

	// v1 stops; both orders fill while nobody watches.
	r.clk.Set(maxTime(through.Time, askThrough.Time).Add(time.Second))
	v2 := r.venue(func(c *tinkoff.VenueConfig) { c.Applied = func(id string) bool { return applied[id] } })
	if err := v2.Restore(context.Background(), r.account, []tvbridge.VenueOrder{p, q}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	after := r.poll(v2)
	var ofP, ofQ []tvbridge.VenueEvent
	for _, ev := range after {
		if applied[ev.ExecID] {
			t.Fatalf("fill reported again after the restart: %+v", ev)
		}
		if ev.OrderID == "p" {
			ofP = append(ofP, ev)
		} else {
			ofQ = append(ofQ, ev)
		}
	}
	r.checkFills(ofP, "p", 2*sberLot)
	r.checkFills(ofQ, "q", 2*sberLot)
	// The commission of fills applied before the restart is estimated by
	// amount, so the total may be off by the upstream's rounding.
	if got, want := sumCommission(append(before, after...)), r.commissions(); math.Abs(got-want) > 0.011 {
		t.Fatalf("commissions add up to %v across the restart, upstream charged %v", got, want)
	}
	if again := r.poll(v2); len(again) != 0 {
		t.Fatalf("after reconciling: %+v", again)
	}

	// Without Applied, and with refs that lack the submit time, a third
	// instance reports every fill again under the same ExecIDs, which the
	// core's de-duplication drops.
	v3 := r.venue(nil)
	p.VenueRef, _, _ = strings.Cut(p.VenueRef, "@")
	q.VenueRef, _, _ = strings.Cut(q.VenueRef, "@")
	if err := v3.Restore(context.Background(), r.account, []tvbridge.VenueOrder{q, p}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	all := map[string]bool{}
	for _, ev := range append(before, after...) {
		all[ev.ExecID] = true
	}
	for _, ev := range r.poll(v3) {
		want := map[string]bool{"p": true, "q": true}
		if !all[ev.ExecID] || !want[ev.OrderID] {
			t.Fatalf("third instance reported %+v", ev)
		}
		delete(all, ev.ExecID)
	}
	if len(all) != 0 {
		t.Fatalf("fills not reported by the third instance: %v", all)
	}
}

func TestVenueRestoreWithoutRefIsRejected(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	v := r.venue(nil)
	o := order("x", tvbridge.Buy, tvbridge.LimitOrder, 1, 200)
	if err := v.Restore(context.Background(), r.account, []tvbridge.VenueOrder{o}); err != nil {
		t.Fatal(err)
	}
	events := tinkoff.DrainVenueEvents(v)
	if len(events) != 1 || events[0].Kind != tvbridge.VenueRejected || events[0].OrderID != "x" {
		t.Fatalf("events %+v", events)
	}
	if err := v.Restore(context.Background(), "SB-other", []tvbridge.VenueOrder{o}); !isCode(err, tvbridge.ErrUnknownAccount) {
		t.Fatalf("restore on an unconfigured account: %v", err)
	}
}

func isCode(err error, code tvbridge.ErrorCode) bool {
	var te *tvbridge.TradingError
	return errors.As(err, &te) && te.Code == code
}

func TestVenueRejections(t *testing.T) {
	r := newVenueRig(t, 10_000)
	const unlisted = "BBG00000NOPE" // known here, unknown upstream
	v := r.venue(func(c *tinkoff.VenueConfig) {
		c.Instrument = func(figi string) (tvbridge.Instrument, bool) {
			if figi == unlisted {
				return tvbridge.Instrument{FIGI: unlisted, Lot: 1, MinPriceIncrement: 0.01}, true
			}
			return r.instrument(figi)
		}
		c.Users["bob"] = []string{"SB0000404"} // configured, unknown upstream
	})
	ctx := context.Background()
	bid := r.m.OrderBook(sber, r.clk.Now(), 1).Bids[0].Price
	buy := func(id string, typ tvbridge.OrderType, qty, limit float64) tvbridge.VenueOrder {
		o := order(id, tvbridge.Buy, typ, 0, limit)
		o.Qty = qty
		return o
	}
	withFIGI := func(o tvbridge.VenueOrder, figi string) tvbridge.VenueOrder { o.FIGI = figi; return o }
	sell := order("s", tvbridge.Sell, tvbridge.MarketOrder, 1, 0)
	cases := []struct {
		name     string
		account  string
		order    tvbridge.VenueOrder
		code     tvbridge.ErrorCode
		upstream bool // the request reaches the simulator
	}{
		{"not a multiple of the lot", r.account, buy("q1", tvbridge.MarketOrder, 15, 0), tvbridge.ErrInvalidQty, false},
		{"zero qty", r.account, buy("q2", tvbridge.MarketOrder, 0, 0), tvbridge.ErrInvalidQty, false},
		{"NaN qty", r.account, buy("q3", tvbridge.MarketOrder, math.NaN(), 0), tvbridge.ErrInvalidQty, false},
		{"off the price grid", r.account, buy("p1", tvbridge.LimitOrder, 10, bid+0.005), tvbridge.ErrInvalidPrice, false},
		{"no limit price", r.account, buy("p2", tvbridge.LimitOrder, 10, 0), tvbridge.ErrInvalidPrice, false},
		{"stop order", r.account, buy("t1", tvbridge.StopOrder, 10, 0), tvbridge.ErrUnsupported, false},
		{"unknown here", r.account, withFIGI(buy("f1", tvbridge.MarketOrder, 10, 0), "BBG-UNKNOWN"), tvbridge.ErrUnknownInstrument, false},
		{"unknown account", "SB-not-configured", buy("a1", tvbridge.MarketOrder, 10, 0), tvbridge.ErrUnknownAccount, false},
		{"unknown upstream", r.account, withFIGI(buy("f2", tvbridge.LimitOrder, 1, 10), unlisted), tvbridge.ErrUnknownInstrument, true},
		{"not enough cash", r.account, buy("c1", tvbridge.MarketOrder, 100*sberLot, 0), tvbridge.ErrInsufficientFunds, true},
		{"nothing to sell", r.account, sell, tvbridge.ErrInsufficientFunds, true},
		{"account unknown upstream", "SB0000404", buy("a2", tvbridge.MarketOrder, 10, 0), tvbridge.ErrVenue, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent := r.client.Stats().Requests
			_, err := v.Submit(ctx, tc.account, tc.order)
			var te *tvbridge.TradingError
			if !errors.As(err, &te) || te.Code != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if reached := r.client.Stats().Requests > sent; reached != tc.upstream {
				t.Fatalf("request reached the upstream: %v, want %v", reached, tc.upstream)
			}
			if tc.upstream && te.Detail == "" {
				t.Fatalf("no upstream message in %v", err)
			}
		})
	}
	if n := tinkoff.TrackedVenueOrders(v); n != 0 {
		t.Fatalf("%d rejected orders followed", n)
	}

	// After the session the instrument does not trade.
	sched := mustInstrument(t, r.m, sber).Schedule
	next, ok := sched.NextChange(r.clk.Now())
	if !ok || sched.InSession(next.Add(time.Minute)) {
		t.Fatalf("the session does not end at %v", next)
	}
	r.clk.Set(next.Add(time.Minute))
	if _, err := v.Submit(ctx, r.account, buy("closed", tvbridge.MarketOrder, 10, 0)); !isCode(err, tvbridge.ErrMarketClosed) {
		t.Fatalf("after the session: %v", err)
	}
}

func mustInstrument(t *testing.T, m *market.Market, figi string) *market.Instrument {
	t.Helper()
	in, ok := m.Instrument(figi)
	if !ok {
		t.Fatalf("no instrument %s", figi)
	}
	return in
}

func TestVenueAccounts(t *testing.T) {
	r := newVenueRig(t, 250_000)
	ctx := context.Background()
	v := r.venue(func(c *tinkoff.VenueConfig) {
		c.Users["alice"] = []string{r.account, "SB0000404"} // the second is not upstream
		c.Users["carol"] = []string{}
	})
	got, err := v.Accounts(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := tvbridge.VenueAccount{ID: r.account, Name: "Tinkoff " + r.account, Type: tvbridge.DemoAccount, Currency: "RUB",
		Cash: []tvbridge.Money{{Currency: "RUB", Amount: 250_000}}}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("alice's accounts %+v, want %+v", got, want)
	}
	for _, user := range []string{"bob", "carol"} {
		if got, err := v.Accounts(ctx, user); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("%s without accounts: %+v, %v", user, got, err)
		}
	}

	if err := r.client.SandboxSetCurrencyBalance(ctx, r.account, "USD", 500); err != nil {
		t.Fatal(err)
	}
	live := r.venue(func(c *tinkoff.VenueConfig) {
		c.Sandbox = false
		c.Currencies = map[string]string{r.account: "USD"}
	})
	got, err = live.Accounts(ctx, "alice")
	if err != nil || len(got) != 1 || got[0].Type != tvbridge.LiveAccount || got[0].Currency != "USD" ||
		!reflect.DeepEqual(got[0].Cash, []tvbridge.Money{{Currency: "USD", Amount: 500}}) {
		t.Fatalf("USD account %+v, %v", got, err)
	}
}

func TestNewVenueChecksConfig(t *testing.T) {
	r := newVenueRig(t, 1)
	for name, mod := range map[string]func(*tinkoff.VenueConfig){
		"no client":            func(c *tinkoff.VenueConfig) { c.Client = nil },
		"no instruments":       func(c *tinkoff.VenueConfig) { c.Instrument = nil },
		"shared account":       func(c *tinkoff.VenueConfig) { c.Users["bob"] = []string{r.account} },
		"empty account id":     func(c *tinkoff.VenueConfig) { c.Users["bob"] = []string{" "} },
		"negative poll period": func(c *tinkoff.VenueConfig) { c.PollInterval = -time.Second },
	} {
		cfg := r.config()
		mod(&cfg)
		if _, err := tinkoff.NewVenue(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestVenueRun covers the loop: a marketable order is polled at once, a
// resting one on the next tick after it fills, and events arrive on the
// channel.
func TestVenueRun(t *testing.T) {
	r := newVenueRig(t, 1_000_000)
	v := r.venue(nil)
	ctx, cancel := context.WithCancel(context.Background())
	waiters := r.clk.Waiters()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	r.clk.BlockUntil(waiters + 1) // the poll ticker is armed

	if err := v.Run(ctx); err == nil {
		t.Fatal("a second Run was accepted")
	}
	r.submit(v, order("m", tvbridge.Buy, tvbridge.MarketOrder, 1, 0))
	r.checkFills([]tvbridge.VenueEvent{receive(t, v)}, "m", sberLot)

	limit, through := restingBuyLimit(t, r.m, r.clk.Now())
	r.submit(v, order("l", tvbridge.Buy, tvbridge.LimitOrder, 1, limit))
	r.clk.Set(through.Time.Add(time.Second))
	r.checkFills([]tvbridge.VenueEvent{receive(t, v)}, "l", sberLot)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func receive(t *testing.T, v *tinkoff.OrderVenue) tvbridge.VenueEvent {
	t.Helper()
	select {
	case ev := <-v.Events():
		return ev
	case <-time.After(waitEvent):
		t.Fatal("no event")
		return tvbridge.VenueEvent{}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
