package tradeapi

import (
	"fmt"
	"strconv"

	"tvbridge"
)

// getOrders lists the session's orders (working ones and recent final ones).
func (h *Handler) getOrders(c *call) (any, error) {
	if v, ok := h.broker.(ordersVersioner); ok {
		if body, ok := h.cachedOrders(c, v); ok {
			return body, nil
		}
	}
	return h.listOrders(c)
}

func (h *Handler) listOrders(c *call) (orderList, error) {
	orders, err := h.broker.Orders(c.ctx(), c.user(), c.account)
	if err != nil {
		return nil, err
	}
	out := make(orderList, len(orders))
	for i, o := range orders {
		out[i] = h.orderJSON(c, o)
	}
	return out, nil
}

// orderJSON converts an order, wording its rejection, when the reason is
// known, in the caller's language and with TradingView's symbol names.
func (h *Handler) orderJSON(c *call, o tvbridge.Order) orderJSON {
	j := orderJSONOf(o, h.instrumentName(o.FIGI))
	if r := o.Refusal; r != nil && j.Message != nil {
		te := &tvbridge.TradingError{Code: r.Code, Field: r.Field, Reason: r.Reason, Params: r.Params}
		figi := r.Params.FIGI
		if figi == "" {
			figi = o.FIGI
		}
		if msg, ok := explainReason(c.lang, te, h.symbolName(figi, nil)); ok {
			j.Message.Text = fmt.Sprintf(msgRejected.in(c.lang), msg)
		}
	}
	return j
}

// getOrdersHistory lists final orders, newest first. The spec allows only
// final statuses here, so anything else the broker returns is left out.
func (h *Handler) getOrdersHistory(c *call) (any, error) {
	n, err := h.listCount(c)
	if err != nil {
		return nil, err
	}
	orders, err := h.broker.OrdersHistory(c.ctx(), c.user(), c.account, n)
	if err != nil {
		return nil, err
	}
	out := make(orderList, 0, len(orders))
	for _, o := range orders {
		if o.Status.Final() {
			out = append(out, h.orderJSON(c, o))
		}
	}
	return out, nil
}

// placeOrder places an order. The broker deduplicates by requestId: the
// same request again returns the first order's id, and the id reused for
// a different order is refused.
func (h *Handler) placeOrder(c *call) (any, error) {
	f, err := c.form()
	if err != nil {
		return nil, err
	}
	req, sym, err := h.parser(c).order(f, nil)
	c.sym = sym
	if err != nil {
		return nil, err
	}
	if req.RequestID, err = requestID(c.query, f); err != nil {
		return nil, err
	}
	o, err := h.broker.PlaceOrder(c.ctx(), c.user(), c.account, req)
	if err != nil {
		return nil, err
	}
	return postOrderJSON{OrderID: o.ID}, nil
}

// modifyOrder changes a working order. TradingView may leave out the
// instrument, side and type (only qty is required by every spec version),
// so they are taken from the order itself.
func (h *Handler) modifyOrder(c *call) (any, error) {
	f, err := c.form()
	if err != nil {
		return nil, err
	}
	id := c.r.PathValue("orderId")
	current, err := h.findOrder(c, id)
	if err != nil {
		return nil, err
	}
	req, sym, err := h.parser(c).order(f, &current)
	c.sym = sym
	if err != nil {
		return nil, err
	}
	if _, err := h.broker.ModifyOrder(c.ctx(), c.user(), c.account, id, req); err != nil {
		return nil, err
	}
	return noData{}, nil
}

// findOrder looks an order up among the session's orders.
func (h *Handler) findOrder(c *call, id string) (tvbridge.Order, error) {
	orders, err := h.broker.Orders(c.ctx(), c.user(), c.account)
	if err != nil {
		return tvbridge.Order{}, err
	}
	for _, o := range orders {
		if o.ID == id {
			return o, nil
		}
	}
	return tvbridge.Order{}, &tvbridge.TradingError{Code: tvbridge.ErrUnknownOrder}
}

// cancelOrder cancels an order and, in the broker, its brackets.
func (h *Handler) cancelOrder(c *call) (any, error) {
	if err := h.broker.CancelOrder(c.ctx(), c.user(), c.account, c.r.PathValue("orderId")); err != nil {
		return nil, err
	}
	return noData{}, nil
}

// Preview row titles.
var (
	previewHeader     = Text{"Estimate", "Оценка"}
	previewPrice      = Text{"Estimated price", "Ожидаемая цена"}
	previewLots       = Text{"Lots", "Лотов"}
	previewCost       = Text{"Estimated cost", "Ожидаемая стоимость"}
	previewCommission = Text{"Estimated commission", "Ожидаемая комиссия"}
)

// previewOrder estimates an order's price, cost and commission. The `id`
// of a modify preview is not used: modify previews are not offered.
func (h *Handler) previewOrder(c *call) (any, error) {
	f, err := c.form()
	if err != nil {
		return nil, err
	}
	req, sym, err := h.parser(c).order(f, nil)
	c.sym = sym
	if err != nil {
		return nil, err
	}
	pv, err := h.broker.PreviewOrder(c.ctx(), c.user(), c.account, req)
	if err != nil {
		return nil, err
	}
	inst := sym.Instrument
	currency := pv.Currency // the order is paid for in it: the instrument's
	if currency == "" {
		currency = inst.Currency
	}
	rows := []rowJSON{
		{previewPrice.in(c.lang), withCurrency(formatPrice(pv.Price, sym.PriceScale), inst.Currency)},
		{previewLots.in(c.lang), formatNumber(req.Qty / float64(max(inst.Lot, 1)))},
		{previewCost.in(c.lang), withCurrency(formatMoney(pv.Cost), currency)},
		{previewCommission.in(c.lang), withCurrency(formatMoney(pv.Commission), currency)},
	}
	return previewJSON{
		Sections: []sectionJSON{{Header: previewHeader.in(c.lang), Rows: rows}},
		Warnings: pv.Warnings,
	}, nil
}

// formatPrice prints a price with the decimals of the instrument's price
// scale (a power of ten).
func formatPrice(v float64, priceScale int) string {
	decimals := len(strconv.Itoa(max(priceScale, 1))) - 1
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func withCurrency(v, currency string) string {
	if currency == "" {
		return v
	}
	return v + " " + currency
}
