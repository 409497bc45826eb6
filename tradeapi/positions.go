package tradeapi

import (
	"tvbridge"
)

// getPositions lists the open positions with their unrealized P/L.
func (h *Handler) getPositions(c *call) (any, error) {
	if v, ok := h.broker.(valuationVersioner); ok {
		body, ok := h.cachedValuation(c, positionsBody, v, func() (jsonAppender, int, error) {
			list, err := h.listPositions(c)
			return list, 64 + 200*len(list), err
		})
		if ok {
			return body, nil
		}
	}
	return h.listPositions(c)
}

func (h *Handler) listPositions(c *call) (positionList, error) {
	positions, err := h.broker.Positions(c.ctx(), c.user(), c.account)
	if err != nil {
		return nil, err
	}
	out := make(positionList, len(positions))
	for i, p := range positions {
		out[i] = positionJSONOf(p, h.instrumentName(p.FIGI))
	}
	return out, nil
}

// modifyPosition sets or removes a position's brackets, or, when the body
// carries a side other than the position's, reverses it (TradingView's
// native reverse, which sends nothing else worth applying).
func (h *Handler) modifyPosition(c *call) (any, error) {
	f, err := c.form()
	if err != nil {
		return nil, err
	}
	change, err := parsePositionChange(f)
	if err != nil {
		return nil, err
	}
	id := c.r.PathValue("positionId")
	pos, err := h.findPosition(c, id)
	if err != nil {
		return nil, err
	}
	if change.Side != "" && change.Side != pos.Side {
		err = h.broker.ReversePosition(c.ctx(), c.user(), c.account, id)
	} else {
		_, err = h.broker.ModifyPosition(c.ctx(), c.user(), c.account, id, change.Brackets)
	}
	if err != nil {
		return nil, err
	}
	return noData{}, nil
}

// closePosition closes a position at market, or `amount` units of it. The
// amount is read from the query string too when the body has none: a
// client that drops DELETE bodies must not turn a partial close into a
// full one.
func (h *Handler) closePosition(c *call) (any, error) {
	f, err := c.form()
	if err != nil {
		return nil, err
	}
	if _, inBody := f["amount"]; !inBody {
		if v, ok := c.query["amount"]; ok {
			f["amount"] = v
		}
	}
	amount, err := parseCloseAmount(f)
	if err != nil {
		return nil, err
	}
	id := c.r.PathValue("positionId")
	if amount > 0 {
		// Only to name the lot if the amount is refused.
		if _, err := h.findPosition(c, id); err != nil {
			return nil, err
		}
	}
	if err := h.broker.ClosePosition(c.ctx(), c.user(), c.account, id, amount); err != nil {
		return nil, err
	}
	return noData{}, nil
}

// findPosition looks a position up and notes its instrument for messages.
func (h *Handler) findPosition(c *call, id string) (tvbridge.Position, error) {
	positions, err := h.broker.Positions(c.ctx(), c.user(), c.account)
	if err != nil {
		return tvbridge.Position{}, err
	}
	for _, p := range positions {
		if p.ID == id {
			c.sym, _ = h.cat.ByFIGI(p.FIGI)
			return p, nil
		}
	}
	return tvbridge.Position{}, &tvbridge.TradingError{Code: tvbridge.ErrUnknownPosition}
}

// getExecutions lists the fills of one instrument, newest first.
func (h *Handler) getExecutions(c *call) (any, error) {
	name, err := c.query.required("instrument")
	if err != nil {
		return nil, err
	}
	sym, err := h.parser(c).symbol(name)
	if err != nil {
		return nil, err
	}
	n, err := h.listCount(c)
	if err != nil {
		return nil, err
	}
	execs, err := h.broker.Executions(c.ctx(), c.user(), c.account, sym.Instrument.FIGI, n)
	if err != nil {
		return nil, err
	}
	out := make([]executionJSON, len(execs))
	for i, e := range execs {
		out[i] = executionJSONOf(e, h.instrumentName(e.FIGI))
	}
	return out, nil
}
