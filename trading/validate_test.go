package trading_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"tvbridge"
)

// TestPlaceOrderValidation covers every refusal of a malformed order: the
// code and the field must tell the trader what to fix, and nothing may
// reach the venue.
func TestPlaceOrderValidation(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	e.market.setStatus(figiB, tvbridge.StatusBreakInTrading)
	limit := func(mod func(*tvbridge.OrderRequest)) tvbridge.OrderRequest {
		r := limitReq(tvbridge.Buy, 10, 99.5)
		mod(&r)
		return r
	}
	cases := []struct {
		name  string
		req   tvbridge.OrderRequest
		code  tvbridge.ErrorCode
		field string
	}{
		{"no instrument", limit(func(r *tvbridge.OrderRequest) { r.FIGI = "" }), tvbridge.ErrInvalidRequest, "instrument"},
		{"unknown instrument", limit(func(r *tvbridge.OrderRequest) { r.FIGI = "NOPE" }), tvbridge.ErrUnknownInstrument, "instrument"},
		{"other currency", limit(func(r *tvbridge.OrderRequest) { r.FIGI = figiUSD; r.LimitPrice = 10 }), tvbridge.ErrUnsupported, "instrument"},
		{"bad side", limit(func(r *tvbridge.OrderRequest) { r.Side = "hold" }), tvbridge.ErrInvalidRequest, "side"},
		{"no side", limit(func(r *tvbridge.OrderRequest) { r.Side = "" }), tvbridge.ErrInvalidRequest, "side"},
		{"bad type", limit(func(r *tvbridge.OrderRequest) { r.Type = "iceberg" }), tvbridge.ErrInvalidRequest, "type"},
		{"zero qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = 0 }), tvbridge.ErrInvalidQty, "qty"},
		{"negative qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = -10 }), tvbridge.ErrInvalidQty, "qty"},
		{"NaN qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = math.NaN() }), tvbridge.ErrInvalidQty, "qty"},
		{"infinite qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = math.Inf(1) }), tvbridge.ErrInvalidQty, "qty"},
		{"huge qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = 1e15 }), tvbridge.ErrInvalidQty, "qty"},
		{"qty off the lot", limit(func(r *tvbridge.OrderRequest) { r.Qty = 15 }), tvbridge.ErrInvalidQty, "qty"},
		{"qty below a lot", limit(func(r *tvbridge.OrderRequest) { r.Qty = 5 }), tvbridge.ErrInvalidQty, "qty"},
		{"limit without price", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = 0 }), tvbridge.ErrInvalidPrice, "limitPrice"},
		{"negative limit", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = -1 }), tvbridge.ErrInvalidPrice, "limitPrice"},
		{"NaN limit", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = math.NaN() }), tvbridge.ErrInvalidPrice, "limitPrice"},
		{"limit off the grid", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = 99.555 }), tvbridge.ErrInvalidPrice, "limitPrice"},
		{"stop without price", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder }), tvbridge.ErrInvalidPrice, "stopPrice"},
		{"stop off the grid", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder; r.StopPrice = 101.001 }), tvbridge.ErrInvalidPrice, "stopPrice"},
		{"buy stop below market", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder; r.StopPrice = 99 }), tvbridge.ErrInvalidPrice, "stopPrice"},
		{"buy stop at market", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder; r.StopPrice = 100.01 }), tvbridge.ErrInvalidPrice, "stopPrice"},
		{"sell stop above market", limit(func(r *tvbridge.OrderRequest) {
			r.Type, r.Side, r.StopPrice = tvbridge.StopOrder, tvbridge.Sell, 101
		}), tvbridge.ErrInvalidPrice, "stopPrice"},
		{"stop-limit without limit", limit(func(r *tvbridge.OrderRequest) {
			r.Type, r.StopPrice, r.LimitPrice = tvbridge.StopLimitOrder, 101, 0
		}), tvbridge.ErrInvalidPrice, "limitPrice"},
		{"stop-limit without stop", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopLimitOrder }), tvbridge.ErrInvalidPrice, "stopPrice"},
		{"unknown duration", limit(func(r *tvbridge.OrderRequest) { r.Duration.Type = "GTT" }), tvbridge.ErrUnsupported, "durationType"},
		{"stop loss above a buy", limit(func(r *tvbridge.OrderRequest) { r.Brackets.StopLoss = 100 }), tvbridge.ErrInvalidPrice, "stopLoss"},
		{"take profit below a buy", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TakeProfit = 99 }), tvbridge.ErrInvalidPrice, "takeProfit"},
		{"stop loss below a sell", limit(func(r *tvbridge.OrderRequest) { r.Side = tvbridge.Sell; r.Brackets.StopLoss = 99 }), tvbridge.ErrInvalidPrice, "stopLoss"},
		{"take profit above a sell", limit(func(r *tvbridge.OrderRequest) { r.Side = tvbridge.Sell; r.Brackets.TakeProfit = 100 }), tvbridge.ErrInvalidPrice, "takeProfit"},
		{"negative stop loss", limit(func(r *tvbridge.OrderRequest) { r.Brackets.StopLoss = -1 }), tvbridge.ErrInvalidPrice, "stopLoss"},
		{"stop loss off the grid", limit(func(r *tvbridge.OrderRequest) { r.Brackets.StopLoss = 98.005 }), tvbridge.ErrInvalidPrice, "stopLoss"},
		{"take profit off the grid", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TakeProfit = 101.001 }), tvbridge.ErrInvalidPrice, "takeProfit"},
		{"negative trailing", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TrailingStopPips = -5 }), tvbridge.ErrInvalidRequest, "trailingStopPips"},
		{"NaN trailing", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TrailingStopPips = math.NaN() }), tvbridge.ErrInvalidRequest, "trailingStopPips"},
		{"market while halted", tvbridge.OrderRequest{FIGI: figiB, Side: tvbridge.Buy, Type: tvbridge.MarketOrder, Qty: 1}, tvbridge.ErrMarketClosed, ""},
		{"insufficient funds", limit(func(r *tvbridge.OrderRequest) { r.Qty = 100_000 }), tvbridge.ErrInsufficientFunds, "qty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.m.PlaceOrder(context.Background(), user1, acct, c.req)
			var te *tvbridge.TradingError
			if !errors.As(err, &te) || te.Code != c.code || te.Field != c.field {
				t.Fatalf("PlaceOrder = %v, want %s (%s)", err, c.code, c.field)
			}
			if te.Detail == "" {
				t.Errorf("error %v has no detail for the trader", err)
			}
		})
	}
	if orders, _ := e.m.Orders(context.Background(), user1, acct); len(orders) != 0 {
		t.Errorf("refused orders were recorded: %+v", orders)
	}
	if ids := e.venue.liveIDs(); len(ids) != 0 {
		t.Errorf("refused orders reached the venue: %v", ids)
	}
}

// TestMarketOrderNeedsPrice: without any live price a market order can
// neither be checked for funds nor estimated.
func TestMarketOrderNeedsPrice(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	e.market.clear(figiA)
	_, err := e.m.PlaceOrder(context.Background(), user1, acct, marketReq(figiA, tvbridge.Buy, 10))
	if code(err) != tvbridge.ErrNoMarketData {
		t.Fatalf("PlaceOrder = %v, want %s", err, tvbridge.ErrNoMarketData)
	}
}

// TestValidationNormalises: a quantity and prices within float noise of
// the grid are accepted and stored on the grid; unused prices are dropped
// and the default duration is DAY.
func TestValidationNormalises(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.LimitOrder,
		Qty: 0.1 * 3 * 100, LimitPrice: 0.1 + 0.2 + 99.2, StopPrice: 55})
	if o.Qty != 30 || o.LimitPrice != 99.5 || o.StopPrice != 0 {
		t.Errorf("order = qty %v limit %v stop %v, want 30, 99.5, 0", o.Qty, o.LimitPrice, o.StopPrice)
	}
	if o.Duration.Type != tvbridge.DurationDay {
		t.Errorf("duration = %q, want DAY", o.Duration.Type)
	}
	lower := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy, Type: tvbridge.LimitOrder,
		Qty: 10, LimitPrice: 99, Duration: tvbridge.OrderDuration{Type: "gtc"}})
	if lower.Duration.Type != tvbridge.DurationGTC {
		t.Errorf("duration = %q, want GTC", lower.Duration.Type)
	}
}
