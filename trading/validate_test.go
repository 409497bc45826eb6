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
		name   string
		req    tvbridge.OrderRequest
		code   tvbridge.ErrorCode
		field  string
		reason tvbridge.Reason
	}{
		{"no instrument", limit(func(r *tvbridge.OrderRequest) { r.FIGI = "" }), tvbridge.ErrInvalidRequest, "instrument", ""},
		{"unknown instrument", limit(func(r *tvbridge.OrderRequest) { r.FIGI = "NOPE" }), tvbridge.ErrUnknownInstrument, "instrument", ""},
		{"other currency", limit(func(r *tvbridge.OrderRequest) { r.FIGI = figiUSD; r.LimitPrice = 10 }), tvbridge.ErrUnsupported, "instrument", tvbridge.ReasonCurrency},
		{"bad side", limit(func(r *tvbridge.OrderRequest) { r.Side = "hold" }), tvbridge.ErrInvalidRequest, "side", tvbridge.ReasonSide},
		{"no side", limit(func(r *tvbridge.OrderRequest) { r.Side = "" }), tvbridge.ErrInvalidRequest, "side", tvbridge.ReasonSide},
		{"bad type", limit(func(r *tvbridge.OrderRequest) { r.Type = "iceberg" }), tvbridge.ErrInvalidRequest, "type", tvbridge.ReasonOrderType},
		{"zero qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = 0 }), tvbridge.ErrInvalidQty, "qty", tvbridge.ReasonQtyPositive},
		{"negative qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = -10 }), tvbridge.ErrInvalidQty, "qty", tvbridge.ReasonQtyPositive},
		{"NaN qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = math.NaN() }), tvbridge.ErrInvalidQty, "qty", tvbridge.ReasonQtyPositive},
		{"infinite qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = math.Inf(1) }), tvbridge.ErrInvalidQty, "qty", tvbridge.ReasonQtyPositive},
		{"huge qty", limit(func(r *tvbridge.OrderRequest) { r.Qty = 1e15 }), tvbridge.ErrInvalidQty, "qty", tvbridge.ReasonQtyTooLarge},
		{"qty off the lot", limit(func(r *tvbridge.OrderRequest) { r.Qty = 15 }), tvbridge.ErrInvalidQty, "qty", tvbridge.ReasonQtyLot},
		{"qty below a lot", limit(func(r *tvbridge.OrderRequest) { r.Qty = 5 }), tvbridge.ErrInvalidQty, "qty", tvbridge.ReasonQtyLot},
		{"limit without price", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = 0 }), tvbridge.ErrInvalidPrice, "limitPrice", tvbridge.ReasonPriceRequired},
		{"negative limit", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = -1 }), tvbridge.ErrInvalidPrice, "limitPrice", tvbridge.ReasonPricePositive},
		{"NaN limit", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = math.NaN() }), tvbridge.ErrInvalidPrice, "limitPrice", tvbridge.ReasonPricePositive},
		{"limit off the grid", limit(func(r *tvbridge.OrderRequest) { r.LimitPrice = 99.555 }), tvbridge.ErrInvalidPrice, "limitPrice", tvbridge.ReasonPriceStep},
		{"stop without price", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder }), tvbridge.ErrInvalidPrice, "stopPrice", tvbridge.ReasonPriceRequired},
		{"stop off the grid", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder; r.StopPrice = 101.001 }), tvbridge.ErrInvalidPrice, "stopPrice", tvbridge.ReasonPriceStep},
		{"buy stop below market", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder; r.StopPrice = 99 }), tvbridge.ErrInvalidPrice, "stopPrice", tvbridge.ReasonStopSide},
		{"buy stop at market", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopOrder; r.StopPrice = 100.01 }), tvbridge.ErrInvalidPrice, "stopPrice", tvbridge.ReasonStopSide},
		{"sell stop above market", limit(func(r *tvbridge.OrderRequest) {
			r.Type, r.Side, r.StopPrice = tvbridge.StopOrder, tvbridge.Sell, 101
		}), tvbridge.ErrInvalidPrice, "stopPrice", tvbridge.ReasonStopSide},
		{"stop-limit without limit", limit(func(r *tvbridge.OrderRequest) {
			r.Type, r.StopPrice, r.LimitPrice = tvbridge.StopLimitOrder, 101, 0
		}), tvbridge.ErrInvalidPrice, "limitPrice", tvbridge.ReasonPriceRequired},
		{"stop-limit without stop", limit(func(r *tvbridge.OrderRequest) { r.Type = tvbridge.StopLimitOrder }), tvbridge.ErrInvalidPrice, "stopPrice", tvbridge.ReasonPriceRequired},
		{"unknown duration", limit(func(r *tvbridge.OrderRequest) { r.Duration.Type = "GTT" }), tvbridge.ErrUnsupported, "durationType", tvbridge.ReasonDuration},
		{"stop loss above a buy", limit(func(r *tvbridge.OrderRequest) { r.Brackets.StopLoss = 100 }), tvbridge.ErrInvalidPrice, "stopLoss", tvbridge.ReasonStopLossSide},
		{"take profit below a buy", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TakeProfit = 99 }), tvbridge.ErrInvalidPrice, "takeProfit", tvbridge.ReasonTakeProfitSide},
		{"stop loss below a sell", limit(func(r *tvbridge.OrderRequest) { r.Side = tvbridge.Sell; r.Brackets.StopLoss = 99 }), tvbridge.ErrInvalidPrice, "stopLoss", tvbridge.ReasonStopLossSide},
		{"take profit above a sell", limit(func(r *tvbridge.OrderRequest) { r.Side = tvbridge.Sell; r.Brackets.TakeProfit = 100 }), tvbridge.ErrInvalidPrice, "takeProfit", tvbridge.ReasonTakeProfitSide},
		{"negative stop loss", limit(func(r *tvbridge.OrderRequest) { r.Brackets.StopLoss = -1 }), tvbridge.ErrInvalidPrice, "stopLoss", tvbridge.ReasonPricePositive},
		{"stop loss off the grid", limit(func(r *tvbridge.OrderRequest) { r.Brackets.StopLoss = 98.005 }), tvbridge.ErrInvalidPrice, "stopLoss", tvbridge.ReasonPriceStep},
		{"take profit off the grid", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TakeProfit = 101.001 }), tvbridge.ErrInvalidPrice, "takeProfit", tvbridge.ReasonPriceStep},
		{"negative trailing", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TrailingStopPips = -5 }), tvbridge.ErrInvalidRequest, "trailingStopPips", tvbridge.ReasonTrailingPips},
		{"NaN trailing", limit(func(r *tvbridge.OrderRequest) { r.Brackets.TrailingStopPips = math.NaN() }), tvbridge.ErrInvalidRequest, "trailingStopPips", tvbridge.ReasonTrailingPips},
		{"market while halted", tvbridge.OrderRequest{FIGI: figiB, Side: tvbridge.Buy, Type: tvbridge.MarketOrder, Qty: 1}, tvbridge.ErrMarketClosed, "", tvbridge.ReasonMarketClosed},
		{"insufficient funds", limit(func(r *tvbridge.OrderRequest) { r.Qty = 100_000 }), tvbridge.ErrInsufficientFunds, "qty", tvbridge.ReasonFunds},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.m.PlaceOrder(context.Background(), user1, acct, c.req)
			var te *tvbridge.TradingError
			if !errors.As(err, &te) || te.Code != c.code || te.Field != c.field || te.Reason != c.reason {
				t.Fatalf("PlaceOrder = %#v, want %s (%s) for reason %q", err, c.code, c.field, c.reason)
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

// refusal returns err's TradingError, failing the test without one.
func refusal(t *testing.T, err error) *tvbridge.TradingError {
	t.Helper()
	var te *tvbridge.TradingError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a TradingError", err)
	}
	return te
}

// TestRefusalsCarryWhatIsWrong: a refusal names the exact problem and the
// values its explanation needs: which price a bracket must be on which
// side of, for what; the instrument (by FIGI, for the HTTP layer to name
// as TradingView does); the currency and amounts of missing funds.
func TestRefusalsCarryWhatIsWrong(t *testing.T) {
	e := newEnv(t)
	acct := e.account(user1)
	ctx := context.Background()
	type want struct {
		reason tvbridge.Reason
		field  string
		params tvbridge.ErrorParams
	}
	check := func(name string, err error, w want) {
		t.Helper()
		te := refusal(t, err)
		if te.Reason != w.reason || te.Field != w.field || te.Params != w.params {
			t.Errorf("%s: %s %q %+v, want %s %q %+v", name, te.Reason, te.Field, te.Params, w.reason, w.field, w.params)
		}
	}
	// The case: a stop loss above the limit price of a buy.
	req := limitReq(tvbridge.Buy, 10, 99.5)
	req.Brackets.StopLoss = 99.6
	_, err := e.m.PlaceOrder(ctx, user1, acct, req)
	check("stop loss above a buy limit", err, want{tvbridge.ReasonStopLossSide, "stopLoss",
		tvbridge.ErrorParams{Side: tvbridge.Buy, Ref: tvbridge.RefLimit, Price: 99.5}})

	stop := tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Sell, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 99,
		Brackets: tvbridge.Brackets{TakeProfit: 99.5}}
	_, err = e.m.PlaceOrder(ctx, user1, acct, stop)
	check("take profit above a sell stop", err, want{tvbridge.ReasonTakeProfitSide, "takeProfit",
		tvbridge.ErrorParams{Side: tvbridge.Sell, Ref: tvbridge.RefStop, Price: 99}})

	mkt := marketReq(figiA, tvbridge.Buy, 10)
	mkt.Brackets.TakeProfit = 99
	_, err = e.m.PlaceOrder(ctx, user1, acct, mkt)
	check("take profit below a market buy", err, want{tvbridge.ReasonTakeProfitSide, "takeProfit",
		tvbridge.ErrorParams{Side: tvbridge.Buy, Ref: tvbridge.RefMarket, Price: 100.02}})

	_, err = e.m.PlaceOrder(ctx, user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Buy,
		Type: tvbridge.StopOrder, Qty: 10, StopPrice: 100})
	check("buy stop below the market", err, want{tvbridge.ReasonStopSide, "stopPrice",
		tvbridge.ErrorParams{Side: tvbridge.Buy, Price: 100.01}})

	_, err = e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 15, 99.5))
	check("qty off the lot", err, want{tvbridge.ReasonQtyLot, "qty", tvbridge.ErrorParams{FIGI: figiA, Value: 15, Lot: 10}})

	_, err = e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 10, 99.555))
	check("limit off the grid", err, want{tvbridge.ReasonPriceStep, "limitPrice",
		tvbridge.ErrorParams{FIGI: figiA, Value: 99.555, Step: 0.01}})

	_, err = e.m.PlaceOrder(ctx, user1, acct, limitReq(tvbridge.Buy, 100_000, 99.5))
	check("funds", err, want{tvbridge.ReasonFunds, "qty",
		tvbridge.ErrorParams{Currency: "RUB", Need: 9_950_000, Have: 1_000_000}})

	// A position's brackets are checked against the current price.
	e.venue.autoFill = 100.02
	o := e.place(user1, acct, marketReq(figiA, tvbridge.Buy, 10))
	e.waitStatus(user1, acct, o.ID, tvbridge.OrderFilled)
	pos, _ := e.position(user1, acct, figiA)
	_, err = e.m.ModifyPosition(ctx, user1, acct, pos.ID, tvbridge.Brackets{StopLoss: 101})
	check("stop loss above a long", err, want{tvbridge.ReasonStopLossSide, "stopLoss",
		tvbridge.ErrorParams{Side: tvbridge.Buy, Ref: tvbridge.RefPosition, Price: 100.01}})
	err = e.m.ClosePosition(ctx, user1, acct, pos.ID, 20)
	check("close more than held", err, want{tvbridge.ReasonCloseAmount, "amount", tvbridge.ErrorParams{Value: 10}})

	// Changing a final order, or what an order cannot change.
	err = e.m.CancelOrder(ctx, user1, acct, o.ID)
	check("cancel a filled order", err, want{tvbridge.ReasonOrderFinal, "", tvbridge.ErrorParams{Status: tvbridge.OrderFilled}})
	e.venue.autoFill = 0
	rest := e.place(user1, acct, limitReq(tvbridge.Buy, 10, 99))
	_, err = e.m.ModifyOrder(ctx, user1, acct, rest.ID, tvbridge.OrderRequest{Side: tvbridge.Sell, Qty: 10, LimitPrice: 99})
	check("change the side", err, want{tvbridge.ReasonFixedField, "side", tvbridge.ErrorParams{}})
}
