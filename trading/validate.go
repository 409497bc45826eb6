package trading

import (
	"strings"

	"tvbridge"
)

// Validation turns a request from outside into one the state machine can
// trust, or a TradingError naming the offending field with TradingView's
// form field name. On success the request is normalised: quantity and
// prices snapped to their grids, prices the order type does not use
// cleared, and an empty duration made DurationDay.

// validateOrder checks a new order (or the new parameters of one) against
// its instrument and the market.
func validateOrder(req *tvbridge.OrderRequest, inst tvbridge.Instrument, q quote) error {
	if !req.Side.Valid() {
		return tvbridge.Errorf(tvbridge.ErrInvalidRequest, "side", "side must be buy or sell, not %q", req.Side)
	}
	if !req.Type.Valid() {
		return tvbridge.Errorf(tvbridge.ErrInvalidRequest, "type",
			"type must be market, limit, stop or stoplimit, not %q", req.Type)
	}
	qty, err := checkQty(req.Qty, inst.Lot)
	if err != nil {
		return err
	}
	req.Qty = qty
	if err := checkOrderPrices(req, inst.MinPriceIncrement); err != nil {
		return err
	}
	if err := checkDuration(&req.Duration); err != nil {
		return err
	}
	if err := checkMarket(req, q); err != nil {
		return err
	}
	return checkBrackets(&req.Brackets, req.Side == tvbridge.Buy, parentPrice(req, q), inst.MinPriceIncrement)
}

// checkQty checks a quantity in units against the lot size and returns it
// on the lot grid.
func checkQty(qty float64, lot int) (float64, error) {
	lot = max(lot, 1)
	if !finite(qty) || qty <= 0 {
		return 0, tvbridge.Errorf(tvbridge.ErrInvalidQty, "qty", "quantity must be a positive number")
	}
	if qty > maxQty {
		return 0, tvbridge.Errorf(tvbridge.ErrInvalidQty, "qty", "quantity %g is too large", qty)
	}
	lots, ok := snap(qty/float64(lot), 1)
	if !ok || lots < 1 {
		return 0, tvbridge.Errorf(tvbridge.ErrInvalidQty, "qty", "quantity %g is not a multiple of the lot size %d", qty, lot)
	}
	return lots * float64(lot), nil
}

// checkPrice checks one price field: positive and on the grid.
func checkPrice(field string, p, step float64) (float64, error) {
	if !finite(p) || p <= 0 {
		return 0, tvbridge.Errorf(tvbridge.ErrInvalidPrice, field, "%s must be a positive number", field)
	}
	snapped, ok := snap(p, step)
	if !ok {
		return 0, tvbridge.Errorf(tvbridge.ErrInvalidPrice, field,
			"%s %g is not a multiple of the price increment %g", field, p, step)
	}
	return snapped, nil
}

// checkOrderPrices requires the prices the order type uses and clears the
// others.
func checkOrderPrices(req *tvbridge.OrderRequest, step float64) error {
	needLimit := req.Type == tvbridge.LimitOrder || req.Type == tvbridge.StopLimitOrder
	needStop := req.Type == tvbridge.StopOrder || req.Type == tvbridge.StopLimitOrder
	var err error
	if !needLimit {
		req.LimitPrice = 0
	} else if req.LimitPrice == 0 {
		return tvbridge.Errorf(tvbridge.ErrInvalidPrice, "limitPrice", "limitPrice is required for %s orders", req.Type)
	} else if req.LimitPrice, err = checkPrice("limitPrice", req.LimitPrice, step); err != nil {
		return err
	}
	if !needStop {
		req.StopPrice = 0
	} else if req.StopPrice == 0 {
		return tvbridge.Errorf(tvbridge.ErrInvalidPrice, "stopPrice", "stopPrice is required for %s orders", req.Type)
	} else if req.StopPrice, err = checkPrice("stopPrice", req.StopPrice, step); err != nil {
		return err
	}
	return nil
}

// checkDuration accepts DAY and GTC; an empty duration means DAY.
func checkDuration(d *tvbridge.OrderDuration) error {
	switch strings.ToUpper(d.Type) {
	case "", tvbridge.DurationDay:
		*d = tvbridge.OrderDuration{Type: tvbridge.DurationDay}
	case tvbridge.DurationGTC:
		*d = tvbridge.OrderDuration{Type: tvbridge.DurationGTC}
	default:
		return tvbridge.Errorf(tvbridge.ErrUnsupported, "durationType",
			"duration %q is not offered; use %s or %s", d.Type, tvbridge.DurationDay, tvbridge.DurationGTC)
	}
	return nil
}

// checkMarket checks what depends on the market now: a market order needs
// a trading market and a price, and a stop must be on the far side of the
// market, or it would trigger at once.
func checkMarket(req *tvbridge.OrderRequest, q quote) error {
	switch req.Type {
	case tvbridge.MarketOrder:
		if q.status != tvbridge.StatusUnknown && !q.status.Trading() {
			return tvbridge.Errorf(tvbridge.ErrMarketClosed, "", "the instrument is not trading now (%s)", q.status)
		}
		if q.entry(req.Side) <= 0 {
			return tvbridge.Errorf(tvbridge.ErrNoMarketData, "", "no live price to execute a market order against")
		}
	case tvbridge.StopOrder, tvbridge.StopLimitOrder:
		return checkStopSide(req.Side, req.StopPrice, q.ref())
	}
	return nil
}

// checkStopSide requires a buy stop above the market and a sell stop below
// it; with no market price known there is nothing to check against.
func checkStopSide(side tvbridge.Side, stop, ref float64) error {
	if ref <= 0 {
		return nil
	}
	if side == tvbridge.Buy && stop <= ref+eps {
		return tvbridge.Errorf(tvbridge.ErrInvalidPrice, "stopPrice", "a buy stop must be above the market (last %g)", ref)
	}
	if side == tvbridge.Sell && stop >= ref-eps {
		return tvbridge.Errorf(tvbridge.ErrInvalidPrice, "stopPrice", "a sell stop must be below the market (last %g)", ref)
	}
	return nil
}

// parentPrice is the price an order is expected to fill at, which its
// brackets must straddle; 0 when unknown.
func parentPrice(req *tvbridge.OrderRequest, q quote) float64 {
	switch req.Type {
	case tvbridge.LimitOrder, tvbridge.StopLimitOrder:
		return req.LimitPrice
	case tvbridge.StopOrder:
		return req.StopPrice
	}
	return q.entry(req.Side)
}

// checkBrackets checks bracket prices and that they straddle ref: for
// brackets protecting a long (a buy parent, or a long position) the stop
// loss is below and the take profit above; the other way round for a
// short. A zero ref skips the side check.
func checkBrackets(b *tvbridge.Brackets, protectsLong bool, ref, step float64) error {
	var err error
	if b.StopLoss != 0 {
		if b.StopLoss, err = checkPrice("stopLoss", b.StopLoss, step); err != nil {
			return err
		}
	}
	if b.TakeProfit != 0 {
		if b.TakeProfit, err = checkPrice("takeProfit", b.TakeProfit, step); err != nil {
			return err
		}
	}
	if !finite(b.TrailingStopPips) || b.TrailingStopPips < 0 {
		return tvbridge.Errorf(tvbridge.ErrInvalidRequest, "trailingStopPips", "trailingStopPips must be a positive number")
	}
	if b.TrailingStopPips > 0 && step <= 0 {
		return tvbridge.Errorf(tvbridge.ErrUnsupported, "trailingStopPips",
			"trailing stops need the instrument's price increment, which is unknown")
	}
	if ref <= 0 {
		return nil
	}
	below, above := "below", "above"
	if !protectsLong {
		below, above = above, below
	}
	if b.StopLoss != 0 && (protectsLong && b.StopLoss >= ref-eps || !protectsLong && b.StopLoss <= ref+eps) {
		return tvbridge.Errorf(tvbridge.ErrInvalidPrice, "stopLoss", "the stop loss must be %s %g", below, ref)
	}
	if b.TakeProfit != 0 && (protectsLong && b.TakeProfit <= ref+eps || !protectsLong && b.TakeProfit >= ref-eps) {
		return tvbridge.Errorf(tvbridge.ErrInvalidPrice, "takeProfit", "the take profit must be %s %g", above, ref)
	}
	return nil
}
