package trading

import (
	"strings"

	"tvbridge"
)

// Validation turns a request from outside into one the state machine can
// trust, or a TradingError naming the offending field with TradingView's
// form field name and the Reason, so the trader reads what is wrong rather
// than the broad class of the error. On success the request is normalised:
// quantity and prices snapped to their grids, prices the order type does
// not use cleared, and an empty duration made DurationDay.

// validateOrder checks a new order (or the new parameters of one) against
// its instrument and the market.
func validateOrder(req *tvbridge.OrderRequest, inst tvbridge.Instrument, q quote) error {
	if err := normalize(req, inst); err != nil {
		return err
	}
	if err := checkMarket(req, inst, q); err != nil {
		return err
	}
	return checkBracketSides(req.Brackets, orderAnchor(req, q))
}

// normalize checks and normalises what does not depend on the market, so
// that two requests for the same order compare equal however they spelled
// it (see sameRequest).
func normalize(req *tvbridge.OrderRequest, inst tvbridge.Instrument) error {
	if !req.Side.Valid() {
		return tvbridge.Refusef(tvbridge.ErrInvalidRequest, tvbridge.ReasonSide, "side", tvbridge.ErrorParams{},
			"side must be buy or sell, not %q", req.Side)
	}
	if !req.Type.Valid() {
		return tvbridge.Refusef(tvbridge.ErrInvalidRequest, tvbridge.ReasonOrderType, "type", tvbridge.ErrorParams{},
			"type must be market, limit, stop or stoplimit, not %q", req.Type)
	}
	qty, err := checkQty(req.Qty, inst)
	if err != nil {
		return err
	}
	req.Qty = qty
	if err := checkOrderPrices(req, inst); err != nil {
		return err
	}
	if err := checkDuration(&req.Duration); err != nil {
		return err
	}
	return checkBracketPrices(&req.Brackets, inst)
}

// checkQty checks a quantity in units against the lot size and returns it
// on the lot grid.
func checkQty(qty float64, inst tvbridge.Instrument) (float64, error) {
	lot := max(inst.Lot, 1)
	if !finite(qty) || qty <= 0 {
		return 0, tvbridge.Refusef(tvbridge.ErrInvalidQty, tvbridge.ReasonQtyPositive, "qty", tvbridge.ErrorParams{},
			"quantity must be a positive number")
	}
	if qty > maxQty {
		return 0, tvbridge.Refusef(tvbridge.ErrInvalidQty, tvbridge.ReasonQtyTooLarge, "qty", tvbridge.ErrorParams{Value: qty},
			"quantity %g is too large", qty)
	}
	lots, ok := snap(qty/float64(lot), 1)
	if !ok || lots < 1 {
		return 0, tvbridge.Refusef(tvbridge.ErrInvalidQty, tvbridge.ReasonQtyLot, "qty",
			tvbridge.ErrorParams{FIGI: inst.FIGI, Value: qty, Lot: float64(lot)},
			"quantity %g is not a multiple of the lot size %d", qty, lot)
	}
	return lots * float64(lot), nil
}

// checkPrice checks one price field: positive and on the grid.
func checkPrice(field string, p float64, inst tvbridge.Instrument) (float64, error) {
	if !finite(p) || p <= 0 {
		return 0, tvbridge.Refusef(tvbridge.ErrInvalidPrice, tvbridge.ReasonPricePositive, field, tvbridge.ErrorParams{},
			"%s must be a positive number", field)
	}
	step := inst.MinPriceIncrement
	snapped, ok := snap(p, step)
	if !ok {
		return 0, tvbridge.Refusef(tvbridge.ErrInvalidPrice, tvbridge.ReasonPriceStep, field,
			tvbridge.ErrorParams{FIGI: inst.FIGI, Value: p, Step: step},
			"%s %g is not a multiple of the price increment %g", field, p, step)
	}
	return snapped, nil
}

// priceRequired refuses an order of type t that lacks the price field.
func priceRequired(field string, t tvbridge.OrderType) error {
	return tvbridge.Refusef(tvbridge.ErrInvalidPrice, tvbridge.ReasonPriceRequired, field,
		tvbridge.ErrorParams{OrderType: t}, "%s is required for %s orders", field, t)
}

// checkOrderPrices requires the prices the order type uses and clears the
// others.
func checkOrderPrices(req *tvbridge.OrderRequest, inst tvbridge.Instrument) error {
	needLimit := req.Type == tvbridge.LimitOrder || req.Type == tvbridge.StopLimitOrder
	needStop := req.Type == tvbridge.StopOrder || req.Type == tvbridge.StopLimitOrder
	var err error
	if !needLimit {
		req.LimitPrice = 0
	} else if req.LimitPrice == 0 {
		return priceRequired("limitPrice", req.Type)
	} else if req.LimitPrice, err = checkPrice("limitPrice", req.LimitPrice, inst); err != nil {
		return err
	}
	if !needStop {
		req.StopPrice = 0
	} else if req.StopPrice == 0 {
		return priceRequired("stopPrice", req.Type)
	} else if req.StopPrice, err = checkPrice("stopPrice", req.StopPrice, inst); err != nil {
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
		return tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonDuration, "durationType",
			tvbridge.ErrorParams{Text: d.Type},
			"duration %q is not offered; use %s or %s", d.Type, tvbridge.DurationDay, tvbridge.DurationGTC)
	}
	return nil
}

// checkMarket checks what depends on the market now: a market order needs
// a trading market and a price, and a stop must be on the far side of the
// market, or it would trigger at once.
func checkMarket(req *tvbridge.OrderRequest, inst tvbridge.Instrument, q quote) error {
	switch req.Type {
	case tvbridge.MarketOrder:
		if q.status != tvbridge.StatusUnknown && !q.status.Trading() {
			return tvbridge.Refusef(tvbridge.ErrMarketClosed, tvbridge.ReasonMarketClosed, "",
				tvbridge.ErrorParams{FIGI: inst.FIGI}, "the instrument is not trading now (%s)", q.status)
		}
		if q.entry(req.Side) <= 0 {
			return tvbridge.Refusef(tvbridge.ErrNoMarketData, tvbridge.ReasonNoPrice, "",
				tvbridge.ErrorParams{FIGI: inst.FIGI}, "no live price to execute a market order against")
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
	if side == tvbridge.Buy && stop <= ref+eps || side == tvbridge.Sell && stop >= ref-eps {
		return tvbridge.Refusef(tvbridge.ErrInvalidPrice, tvbridge.ReasonStopSide, "stopPrice",
			tvbridge.ErrorParams{Side: side, Price: ref},
			"a %s stop must be on the far side of the market (last %g)", side, ref)
	}
	return nil
}

// anchor is the price brackets must straddle and, for the trader, what
// that price is and what the brackets protect: side is the order's side,
// or the position's (buy for a long). A zero price skips the check.
type anchor struct {
	price float64
	ref   tvbridge.PriceRef
	side  tvbridge.Side
}

// orderAnchor is the anchor of a new order's brackets: the price the order
// is expected to fill at.
func orderAnchor(req *tvbridge.OrderRequest, q quote) anchor {
	a := anchor{price: parentPrice(req, q), ref: tvbridge.RefMarket, side: req.Side}
	switch req.Type {
	case tvbridge.LimitOrder, tvbridge.StopLimitOrder:
		a.ref = tvbridge.RefLimit
	case tvbridge.StopOrder:
		a.ref = tvbridge.RefStop
	}
	return a
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

// checkBracketPrices checks the bracket prices on their own: positive and
// on the grid, and a trailing distance that is a positive number.
func checkBracketPrices(b *tvbridge.Brackets, inst tvbridge.Instrument) error {
	var err error
	if b.StopLoss != 0 {
		if b.StopLoss, err = checkPrice("stopLoss", b.StopLoss, inst); err != nil {
			return err
		}
	}
	if b.TakeProfit != 0 {
		if b.TakeProfit, err = checkPrice("takeProfit", b.TakeProfit, inst); err != nil {
			return err
		}
	}
	if !finite(b.TrailingStopPips) || b.TrailingStopPips < 0 {
		return tvbridge.Refusef(tvbridge.ErrInvalidRequest, tvbridge.ReasonTrailingPips, "trailingStopPips",
			tvbridge.ErrorParams{}, "trailingStopPips must be a positive number")
	}
	if b.TrailingStopPips > 0 && inst.MinPriceIncrement <= 0 {
		return tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonTrailingStep, "trailingStopPips",
			tvbridge.ErrorParams{FIGI: inst.FIGI}, "trailing stops need the instrument's price increment, which is unknown")
	}
	return nil
}

// checkBracketSides checks that brackets straddle their anchor: for
// brackets protecting a long (a buy parent, or a long position) the stop
// loss is below and the take profit above; the other way round for a
// short.
func checkBracketSides(b tvbridge.Brackets, at anchor) error {
	if at.price <= 0 {
		return nil
	}
	long := at.side == tvbridge.Buy
	below, above := "below", "above"
	if !long {
		below, above = above, below
	}
	p := tvbridge.ErrorParams{Side: at.side, Ref: at.ref, Price: at.price}
	if b.StopLoss != 0 && (long && b.StopLoss >= at.price-eps || !long && b.StopLoss <= at.price+eps) {
		return tvbridge.Refusef(tvbridge.ErrInvalidPrice, tvbridge.ReasonStopLossSide, "stopLoss", p,
			"the stop loss must be %s the %s price %g", below, at.ref, at.price)
	}
	if b.TakeProfit != 0 && (long && b.TakeProfit <= at.price+eps || !long && b.TakeProfit >= at.price-eps) {
		return tvbridge.Refusef(tvbridge.ErrInvalidPrice, tvbridge.ReasonTakeProfitSide, "takeProfit", p,
			"the take profit must be %s the %s price %g", above, at.ref, at.price)
	}
	return nil
}
