package trading

import (
	"context"

	"tvbridge"
)

// Positions lists the account's open positions with their unrealized P/L
// at the live bid (longs) or ask (shorts), falling back to the last price.
func (m *Manager) Positions(ctx context.Context, user, accountID string) ([]tvbridge.Position, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]tvbridge.Position, 0, len(a.posList))
	for _, p := range a.posList {
		if p.Qty != 0 {
			out = append(out, m.positionView(a, p))
		}
	}
	return out, nil
}

// positionView is a position as the Broker interface shows it: its P/L in
// its currency, and in the account's at the live rate when one is known.
func (m *Manager) positionView(a *account, p *PositionRecord) tvbridge.Position {
	long := p.Qty > 0
	mark := m.prices(p.FIGI).mark(long)
	var pl float64
	if mark > 0 {
		pl = (mark - p.AvgPrice) * p.Qty
	}
	upl := pl
	if rate, ok := m.rate(p.Currency, a.info.Currency); ok {
		upl = pl * rate
	}
	return tvbridge.Position{
		ID:           p.ID,
		AccountID:    p.AccountID,
		FIGI:         p.FIGI,
		Side:         sideOf(p.Qty),
		Qty:          abs(p.Qty),
		AvgPrice:     round9(p.AvgPrice),
		Currency:     p.Currency,
		CurrencyPL:   round9(pl),
		UnrealizedPL: round9(upl),
		StopLossID:   p.StopLossID,
		TakeProfitID: p.TakeProfitID,
	}
}

// openPosition finds an open position by id. Callers hold a.mu.
func openPosition(a *account, id string) (*PositionRecord, error) {
	p := a.posByID[id]
	if p == nil || p.Qty == 0 {
		return nil, tvbridge.Errorf(tvbridge.ErrUnknownPosition, "", "no open position %q", id)
	}
	return p, nil
}

// ModifyPosition sets the position's stop loss (optionally trailing) and
// take profit; a zero price removes one, which is then reported cancelled.
func (m *Manager) ModifyPosition(ctx context.Context, user, accountID, positionID string, b tvbridge.Brackets) (tvbridge.Position, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return tvbridge.Position{}, err
	}
	a.mu.Lock()
	t := m.begin(a)
	view, err := m.modifyPosition(t, positionID, b)
	if err == nil {
		err = t.commit(ctx)
	}
	a.mu.Unlock()
	t.finish()
	if err != nil {
		return tvbridge.Position{}, err
	}
	return view, nil
}

func (m *Manager) modifyPosition(t *txn, positionID string, b tvbridge.Brackets) (tvbridge.Position, error) {
	cur, err := openPosition(t.a, positionID)
	if err != nil {
		return tvbridge.Position{}, err
	}
	inst, err := m.instrument(t.a, cur.FIGI)
	if err != nil {
		return tvbridge.Position{}, err
	}
	ref := m.quote(cur.FIGI).ref()
	if ref <= 0 {
		ref = cur.AvgPrice
	}
	if err := checkBracketPrices(&b, inst); err != nil {
		return tvbridge.Position{}, err
	}
	if err := checkBracketSides(b, anchor{price: ref, ref: tvbridge.RefPosition, side: sideOf(cur.Qty)}); err != nil {
		return tvbridge.Position{}, err
	}
	pos := t.position(cur.FIGI)
	if err := t.setPositionBrackets(pos, b, ref); err != nil {
		return tvbridge.Position{}, err
	}
	return m.positionView(t.a, pos), nil
}

// setPositionBrackets makes the position's brackets what b says; ref is
// the market price a new trailing stop starts from.
func (t *txn) setPositionBrackets(pos *PositionRecord, b tvbridge.Brackets, ref float64) error {
	create := func(k bracketKind, price, trailing float64) func() *OrderRecord {
		return func() *OrderRecord { return t.newPositionBracket(pos, k, price, trailing, ref) }
	}
	if err := t.setBracket(&pos.StopLossID, stopLoss, b.StopLoss, b.TrailingStopPips, ref,
		create(stopLoss, b.StopLoss, b.TrailingStopPips)); err != nil {
		return err
	}
	if err := t.setBracket(&pos.TakeProfitID, takeProfit, b.TakeProfit, 0, ref,
		create(takeProfit, b.TakeProfit, 0)); err != nil {
		return err
	}
	t.link(pos.StopLossID, pos.TakeProfitID)
	return nil
}

// ReversePosition turns the position around with one market order for
// twice its quantity. Its brackets are cancelled first: they protect the
// old side.
func (m *Manager) ReversePosition(ctx context.Context, user, accountID, positionID string) error {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return err
	}
	req, err := m.closingOrder(ctx, a, positionID, 0, true)
	if err != nil {
		return err
	}
	_, err = m.place(ctx, a, req, true)
	return err
}

// ClosePosition closes qty units of the position (0: all of it) with a
// market order. Closing all of it cancels its brackets first; a partial
// close shrinks them as it fills.
func (m *Manager) ClosePosition(ctx context.Context, user, accountID, positionID string, qty float64) error {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return err
	}
	req, err := m.closingOrder(ctx, a, positionID, qty, false)
	if err != nil {
		return err
	}
	_, err = m.place(ctx, a, req, false)
	return err
}

// closingOrder builds the market order that closes qty of a position (0:
// all of it), or reverses it, and, if the order is valid and takes the
// whole position, cancels the position's brackets.
func (m *Manager) closingOrder(ctx context.Context, a *account, positionID string, qty float64, reverse bool) (tvbridge.OrderRequest, error) {
	a.mu.Lock()
	t := m.begin(a)
	req, err := m.stageClose(t, positionID, qty, reverse)
	if err == nil {
		err = t.commit(ctx)
	}
	a.mu.Unlock()
	t.finish()
	return req, err
}

func (m *Manager) stageClose(t *txn, positionID string, qty float64, reverse bool) (tvbridge.OrderRequest, error) {
	p, err := openPosition(t.a, positionID)
	if err != nil {
		return tvbridge.OrderRequest{}, err
	}
	held := abs(p.Qty)
	switch {
	case qty == 0:
		qty = held
	case !finite(qty) || qty < 0 || qty > held+eps:
		return tvbridge.OrderRequest{}, tvbridge.Refusef(tvbridge.ErrInvalidQty, tvbridge.ReasonCloseAmount, "amount",
			tvbridge.ErrorParams{Value: held}, "the amount to close, %g, is not between 0 and the %g held", qty, held)
	}
	req := tvbridge.OrderRequest{
		FIGI:     p.FIGI,
		Side:     sideOf(p.Qty).Opposite(),
		Type:     tvbridge.MarketOrder,
		Qty:      qty,
		Duration: tvbridge.OrderDuration{Type: tvbridge.DurationGTC},
	}
	if reverse {
		req.Qty = 2 * held
	}
	// Check the order before taking the brackets away.
	inst, err := m.instrument(t.a, p.FIGI)
	if err != nil {
		return tvbridge.OrderRequest{}, err
	}
	check := req
	if err := validateOrder(&check, inst, m.quote(p.FIGI)); err != nil {
		return tvbridge.OrderRequest{}, err
	}
	if (reverse || qty >= held-eps) && (p.StopLossID != "" || p.TakeProfitID != "") {
		pos := t.position(p.FIGI)
		for _, id := range []string{pos.StopLossID, pos.TakeProfitID} {
			if id != "" {
				t.endBracket(id, "cancelled: the position is being closed")
			}
		}
		pos.StopLossID, pos.TakeProfitID = "", ""
	}
	return req, nil
}
