package trading

import (
	"errors"

	"tvbridge"
)

// exposure adds up the working orders of one instrument that could grow
// its position if they filled.
type exposure struct {
	figi               string
	buyQty, buyValue   float64
	sellQty, sellValue float64
}

// reserved reports, per instrument, the cash working orders hold back:
// what the position value would grow by if every working order filled,
// priced at the orders' prices. Orders that would only shrink the position
// reserve nothing, and brackets never do: they only ever close. With
// extra, that order counts instead of the stored order with its id.
// Callers hold a.mu.
func (m *Manager) reserved(a *account, extra *OrderRecord, report func(figi string, amount float64)) {
	var exps []exposure
	add := func(o *OrderRecord) {
		remaining := o.Qty - o.FilledQty
		if o.Status.Final() || o.ParentID != "" || remaining <= eps {
			return
		}
		i := 0
		for i < len(exps) && exps[i].figi != o.FIGI {
			i++
		}
		if i == len(exps) {
			exps = append(exps, exposure{figi: o.FIGI})
		}
		price := m.orderPrice(o)
		if o.Side == tvbridge.Buy {
			exps[i].buyQty += remaining
			exps[i].buyValue += remaining * price
		} else {
			exps[i].sellQty += remaining
			exps[i].sellValue += remaining * price
		}
	}
	for _, o := range a.open {
		if extra == nil || o.ID != extra.ID {
			add(o)
		}
	}
	if extra != nil {
		add(extra)
	}
	for _, e := range exps {
		var pos float64
		if p := a.positions[e.figi]; p != nil {
			pos = p.Qty
		}
		report(e.figi, e.reserve(pos))
	}
}

// reserve is the value by which the position pos (signed) could grow: the
// buys beyond closing a short, the sells beyond closing a long.
func (e exposure) reserve(pos float64) float64 {
	var r float64
	if e.buyQty > 0 {
		grow := max(0, pos+e.buyQty) - max(0, pos)
		r += e.buyValue / e.buyQty * grow
	}
	if e.sellQty > 0 {
		grow := max(0, -pos+e.sellQty) - max(0, -pos)
		r += e.sellValue / e.sellQty * grow
	}
	return r
}

// orderPrice is the price an order is expected to fill at.
func (m *Manager) orderPrice(o *OrderRecord) float64 {
	switch o.Type {
	case tvbridge.LimitOrder, tvbridge.StopLimitOrder:
		return o.LimitPrice
	case tvbridge.StopOrder:
		return o.StopPrice
	}
	return m.prices(o.FIGI).entry(o.Side)
}

// checkFunds refuses o (a new order, or a modified version of a stored
// one) when it needs more margin than the account has available in the
// instrument's currency: an order is paid for in that currency alone, as
// at a brokerage where buying a dollar stock spends dollars. Callers hold
// a.mu.
func (m *Manager) checkFunds(a *account, o *OrderRecord) error {
	cur := m.currencyOf(a, o.FIGI)
	before := currencyState(m.currencyStates(a, nil), cur)
	after := currencyState(m.currencyStates(a, o), cur)
	need := after.MarginUsed - before.MarginUsed
	if need > eps && need > before.MarginAvailable+eps {
		have := max(before.MarginAvailable, 0)
		return tvbridge.Refusef(tvbridge.ErrInsufficientFunds, tvbridge.ReasonFunds, "qty",
			tvbridge.ErrorParams{Currency: cur, Need: need, Have: have},
			"the order needs %.2f %s of margin; %.2f is available", need, cur, have)
	}
	return nil
}

// asTradingError returns err if it is a TradingError, and otherwise wraps
// it as a venue error with detail.
func asTradingError(err error, detail string) error {
	var te *tvbridge.TradingError
	if errors.As(err, &te) {
		return te
	}
	return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: detail, Err: err}
}
