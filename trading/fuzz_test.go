package trading_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tape"
	"tvbridge/trading"
)

// FuzzPlaceOrder feeds arbitrary order requests (what the HTTP layer
// parses from a form) to PlaceOrder and PreviewOrder. Neither may panic;
// a refusal is a TradingError with a known code and nothing placed; an
// accepted order is on the lot and price grids with the prices its type
// needs and its brackets on the right side.
func FuzzPlaceOrder(f *testing.F) {
	f.Add(uint8(0), "buy", "limit", 10.0, 99.5, 0.0, "GTC", 0.0, 0.0, 0.0)
	f.Add(uint8(0), "sell", "stop", 20.0, 0.0, 99.0, "DAY", 101.0, 98.0, 0.0)
	f.Add(uint8(1), "buy", "stoplimit", 3.0, 52.5, 52.0, "", 40.0, 60.0, 4.0)
	f.Add(uint8(1), "buy", "market", 1.0, 0.0, 0.0, "gtc", 0.0, 0.0, 10.0)
	f.Add(uint8(0), "buy", "limit", 15.0, 99.555, 0.0, "GTT", -1.0, math.NaN(), math.Inf(1))
	f.Add(uint8(2), "", "", 0.0, 0.0, 0.0, "", 0.0, 0.0, 0.0)
	f.Add(uint8(3), "sell", "limit", 1e300, 1e-300, math.Copysign(0, -1), "DAY", 0.0, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, which uint8, side, typ string, qty, limit, stop float64, duration string, sl, tp, trail float64) {
		figi := []string{figiA, figiB, figiUSD, "UNKNOWN"}[which%4]
		req := tvbridge.OrderRequest{FIGI: figi, Side: tvbridge.Side(side), Type: tvbridge.OrderType(typ), Qty: qty,
			LimitPrice: limit, StopPrice: stop, Duration: tvbridge.OrderDuration{Type: duration},
			Brackets: tvbridge.Brackets{StopLoss: sl, TakeProfit: tp, TrailingStopPips: trail}}
		m, venue := fuzzManager(t)
		ctx := context.Background()
		acct := "A1"
		if _, err := m.PreviewOrder(ctx, user1, acct, req); err != nil {
			checkRefusal(t, err)
		}
		o, err := m.PlaceOrder(ctx, user1, acct, req)
		if err != nil {
			checkRefusal(t, err)
			if orders, _ := m.Orders(ctx, user1, acct); len(orders) != 0 {
				t.Fatalf("refused order recorded: %+v", orders)
			}
			return
		}
		checkAccepted(t, o, venue)
	})
}

func fuzzManager(t *testing.T) (*trading.Manager, *fakeVenue) {
	store := trading.NewMemoryStore()
	acct := trading.AccountRecord{Account: tvbridge.Account{ID: "A1", Owner: user1, Currency: "RUB"}, VenueAccount: "V", Cash: 1e6}
	if err := store.Commit(context.Background(), trading.Change{Seq: 1, Accounts: []trading.AccountRecord{acct}}); err != nil {
		t.Fatal(err)
	}
	market := newFakeMarket()
	market.set(figiA, 100.00, 100.02, 100.01)
	market.set(figiB, 50, 51, 50.5)
	venue := newFakeVenue()
	m, err := trading.New(trading.Config{Venue: venue, Market: market, Tape: tape.New(tape.Config{Capacity: 16}),
		Store: store, Instrument: lookup, Clock: clock.NewFake(start), Logger: quietLogger(), VenueTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	venue.deliver = m.ApplyEventForTest
	return m, venue
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var te *tvbridge.TradingError
	if !errors.As(err, &te) {
		t.Fatalf("refusal is not a TradingError: %v", err)
	}
	switch te.Code {
	case tvbridge.ErrUnknownInstrument, tvbridge.ErrInvalidRequest, tvbridge.ErrInvalidQty, tvbridge.ErrInvalidPrice,
		tvbridge.ErrUnsupported, tvbridge.ErrInsufficientFunds, tvbridge.ErrMarketClosed, tvbridge.ErrNoMarketData:
	default:
		t.Fatalf("unexpected refusal code: %v", err)
	}
}

func checkAccepted(t *testing.T, o tvbridge.Order, venue *fakeVenue) {
	t.Helper()
	inst := instruments[o.FIGI]
	onGrid := func(x, step float64) bool { return math.Abs(x/step-math.Round(x/step)) < 1e-6 }
	switch {
	case !o.Side.Valid() || !o.Type.Valid():
		t.Fatalf("accepted side %q type %q", o.Side, o.Type)
	case o.Qty <= 0 || !onGrid(o.Qty, float64(inst.Lot)):
		t.Fatalf("accepted qty %v with lot %d", o.Qty, inst.Lot)
	case o.Duration.Type != tvbridge.DurationDay && o.Duration.Type != tvbridge.DurationGTC:
		t.Fatalf("accepted duration %q", o.Duration.Type)
	}
	needLimit := o.Type == tvbridge.LimitOrder || o.Type == tvbridge.StopLimitOrder
	needStop := o.Type == tvbridge.StopOrder || o.Type == tvbridge.StopLimitOrder
	if needLimit != (o.LimitPrice > 0) || needStop != (o.StopPrice > 0) {
		t.Fatalf("type %s with limit %v stop %v", o.Type, o.LimitPrice, o.StopPrice)
	}
	for _, p := range []float64{o.LimitPrice, o.StopPrice, o.Brackets.StopLoss, o.Brackets.TakeProfit} {
		if p < 0 || math.IsNaN(p) || math.IsInf(p, 0) || !onGrid(p, inst.MinPriceIncrement) {
			t.Fatalf("accepted price %v off the grid %v: %+v", p, inst.MinPriceIncrement, o)
		}
	}
	if b := o.Brackets; b.TrailingStopPips < 0 || math.IsNaN(b.TrailingStopPips) {
		t.Fatalf("accepted trailing %v", b.TrailingStopPips)
	}
	// The brackets straddle the price the order fills at.
	ref := map[tvbridge.OrderType]float64{tvbridge.LimitOrder: o.LimitPrice, tvbridge.StopLimitOrder: o.LimitPrice,
		tvbridge.StopOrder: o.StopPrice}[o.Type]
	if o.Type == tvbridge.MarketOrder {
		ref = map[string]map[tvbridge.Side]float64{figiA: {tvbridge.Buy: 100.02, tvbridge.Sell: 100}, figiB: {tvbridge.Buy: 51, tvbridge.Sell: 50}}[o.FIGI][o.Side]
	}
	below := func(x float64) bool { return x == 0 || x*o.Side.Sign() < ref*o.Side.Sign() }
	above := func(x float64) bool { return x == 0 || x*o.Side.Sign() > ref*o.Side.Sign() }
	if !below(o.Brackets.StopLoss) || !above(o.Brackets.TakeProfit) {
		t.Fatalf("brackets on the wrong side of %v: %+v", ref, o)
	}
	if o.Type == tvbridge.MarketOrder || o.Type == tvbridge.LimitOrder {
		if venue.remaining(o.ID) != o.Qty {
			t.Fatalf("accepted %s order %s is not at the venue", o.Type, o.ID)
		}
	}
}
