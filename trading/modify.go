package trading

import (
	"context"
	"fmt"
	"time"

	"tvbridge"
)

// ModifyOrder changes a working order's quantity, prices, duration and
// brackets. Orders held here (untriggered stops, brackets) are simply
// updated. A limit order at the venue whose quantity or price changes is
// cancelled and replaced: the Manager waits for the venue to confirm the
// cancel, so fills that raced it are counted, then submits the remaining
// quantity at the new price under a new generation.
func (m *Manager) ModifyOrder(ctx context.Context, user, accountID, orderID string, req tvbridge.OrderRequest) (tvbridge.Order, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return tvbridge.Order{}, err
	}
	// An order still being placed settles first.
	cur, err := m.waitOrder(ctx, a, orderID, func(o *OrderRecord) bool { return o.Status != tvbridge.OrderPlacing })
	if err != nil {
		return tvbridge.Order{}, err
	}
	if cur.Status.Final() {
		return cur.Order, errOrderFinal(orderID, cur.Status)
	}
	if err := matchOrder(&req, &cur); err != nil {
		return tvbridge.Order{}, err
	}
	inst, err := m.instrument(a, cur.FIGI)
	if err != nil {
		return tvbridge.Order{}, err
	}
	if cur.ParentID != "" {
		return m.modifyBracket(ctx, a, orderID, req, inst)
	}
	if err := m.validateModify(&req, &cur, inst); err != nil {
		return tvbridge.Order{}, err
	}
	a.mu.Lock()
	t := m.begin(a)
	vo, replace, err := m.stageModify(t, orderID, req)
	if err == nil {
		err = t.commit(ctx)
	}
	a.mu.Unlock()
	t.finish()
	switch {
	case err != nil:
		return tvbridge.Order{}, err
	case replace:
		return m.replaceAtVenue(ctx, a, orderID, vo, req)
	}
	return m.orderSnapshot(a, orderID), nil
}

// matchOrder fills in the request's instrument, side and type from the
// order and refuses a request that tries to change them.
func matchOrder(req *tvbridge.OrderRequest, o *OrderRecord) error {
	if req.FIGI == "" {
		req.FIGI = o.FIGI
	}
	if req.Side == "" {
		req.Side = o.Side
	}
	if req.Type == "" {
		req.Type = o.Type
	}
	field := ""
	switch {
	case req.FIGI != o.FIGI:
		field = "instrument"
	case req.Side != o.Side:
		field = "side"
	case req.Type != o.Type:
		field = "type"
	default:
		return nil
	}
	return tvbridge.Refusef(tvbridge.ErrInvalidRequest, tvbridge.ReasonFixedField, field, tvbridge.ErrorParams{},
		"an order's %s cannot change", field)
}

// errOrderFinal refuses to change an order that is already final.
func errOrderFinal(id string, s tvbridge.OrderStatus) error {
	return tvbridge.Refusef(tvbridge.ErrOrderFinal, tvbridge.ReasonOrderFinal, "", tvbridge.ErrorParams{Status: s},
		"order %s is already %s", id, s)
}

// validateModify validates the new parameters. Market checks apply only to
// what changes: an unchanged stop price or bracket stays valid however the
// market moved since it was set. The quantity may not go below what
// already filled.
func (m *Manager) validateModify(req *tvbridge.OrderRequest, cur *OrderRecord, inst tvbridge.Instrument) error {
	qty, err := checkQty(req.Qty, inst)
	if err != nil {
		return err
	}
	req.Qty = qty
	if req.Qty < cur.FilledQty-eps {
		return tvbridge.Refusef(tvbridge.ErrInvalidQty, tvbridge.ReasonBelowFilled, "qty",
			tvbridge.ErrorParams{Value: cur.FilledQty}, "quantity %g is below the %g already filled", req.Qty, cur.FilledQty)
	}
	if err := checkOrderPrices(req, inst); err != nil {
		return err
	}
	if err := checkDuration(&req.Duration); err != nil {
		return err
	}
	q := m.quote(cur.FIGI)
	if req.StopPrice != cur.StopPrice && !cur.Triggered {
		if err := checkStopSide(req.Side, req.StopPrice, q.ref()); err != nil {
			return err
		}
	}
	if err := checkBracketPrices(&req.Brackets, inst); err != nil {
		return err
	}
	at := orderAnchor(req, q)
	if cur.FilledQty > 0 {
		at = anchor{price: q.ref(), ref: tvbridge.RefCurrent, side: req.Side} // the brackets protect a position now
	}
	var changed tvbridge.Brackets
	if req.Brackets.StopLoss != cur.Brackets.StopLoss {
		changed.StopLoss = req.Brackets.StopLoss
	}
	if req.Brackets.TakeProfit != cur.Brackets.TakeProfit {
		changed.TakeProfit = req.Brackets.TakeProfit
	}
	return checkBracketSides(changed, at)
}

// needsReplace reports whether the change needs the venue: the order is
// live there and its quantity or limit changes. A market order, or the
// stop price of a triggered stop, can no longer change.
func needsReplace(cur *OrderRecord, req *tvbridge.OrderRequest) (bool, error) {
	if !cur.VenueLive {
		return false, nil
	}
	qtyChanged := abs(req.Qty-cur.Qty) > eps
	if cur.Triggered && abs(req.StopPrice-cur.StopPrice) > eps {
		return false, tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonTriggered, "stopPrice", tvbridge.ErrorParams{},
			"the stop has triggered; its stop price cannot change")
	}
	if cur.VenueType == tvbridge.MarketOrder {
		if qtyChanged {
			return false, tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonAtMarket, "qty", tvbridge.ErrorParams{},
				"the order is executing at market; its quantity cannot change")
		}
		return false, nil
	}
	return qtyChanged || abs(req.LimitPrice-cur.LimitPrice) > eps, nil
}

// stageModify stages a modification of the order as it is now (it may
// have moved since it was validated): changed in place when the venue is
// not involved, or marked Replacing and returned for a cancel/replace at
// the venue.
func (m *Manager) stageModify(t *txn, id string, req tvbridge.OrderRequest) (tvbridge.VenueOrder, bool, error) {
	o, err := t.modifiable(id)
	if err != nil {
		return tvbridge.VenueOrder{}, false, err
	}
	replace, err := needsReplace(o, &req)
	if err != nil {
		return tvbridge.VenueOrder{}, false, err
	}
	if !replace {
		return tvbridge.VenueOrder{}, false, m.applyModify(t, o, req)
	}
	next := o.Clone()
	next.Qty, next.LimitPrice = req.Qty, req.LimitPrice
	if err := m.checkFunds(t.a, &next); err != nil {
		return tvbridge.VenueOrder{}, false, err
	}
	// Marked first, so that the venue's cancel does not end the order.
	o.Replacing = true
	return venueOrder(o), true, nil
}

// modifiable stages an order for modification, refusing a final one and
// one a modification is still replacing at the venue.
func (t *txn) modifiable(id string) (*OrderRecord, error) {
	cur := t.peek(id)
	switch {
	case cur == nil:
		return nil, tvbridge.Errorf(tvbridge.ErrUnknownOrder, "", "no order %q", id)
	case cur.Status.Final():
		return nil, errOrderFinal(id, cur.Status)
	case cur.Replacing:
		return nil, tvbridge.Refusef(tvbridge.ErrVenue, tvbridge.ReasonBusy, "", tvbridge.ErrorParams{},
			"order %s is being modified at the venue; try again in a moment", id)
	}
	return t.order(id), nil
}

// applyModify stages the new parameters on o (quantity, prices, duration,
// brackets) after checking the account can afford them.
func (m *Manager) applyModify(t *txn, o *OrderRecord, req tvbridge.OrderRequest) error {
	next := o.Clone()
	next.Qty, next.LimitPrice, next.StopPrice = req.Qty, req.LimitPrice, req.StopPrice
	if err := m.checkFunds(t.a, &next); err != nil {
		return err
	}
	o.Qty, o.LimitPrice, o.StopPrice = req.Qty, req.LimitPrice, req.StopPrice
	if o.Duration.Type != req.Duration.Type {
		o.Duration = req.Duration
		o.ExpiresAt = time.Time{}
		if o.Duration.Type == tvbridge.DurationDay {
			o.ExpiresAt = m.dayEnd(o.FIGI, t.now)
		}
	}
	// Inactive brackets show their parent's quantity.
	for _, id := range []string{o.StopLossID, o.TakeProfitID} {
		if b := t.peek(id); b != nil && b.Status == tvbridge.OrderInactive && b.Qty != o.Qty {
			t.order(id).Qty = o.Qty
		}
	}
	return t.setOrderBrackets(o, req.Brackets)
}

// setOrderBrackets makes a parent order's brackets what b says. Before the
// parent fills they are its inactive brackets. Once a fill has opened a
// position on its side they are the position's, and changing them changes
// the position's.
func (t *txn) setOrderBrackets(o *OrderRecord, b tvbridge.Brackets) error {
	q := t.m.quote(o.FIGI)
	if pos := t.peekPosition(o.FIGI); o.FilledQty > 0 && pos != nil && pos.Qty != 0 && sideOf(pos.Qty) == o.Side {
		// Brackets still waiting for more fills give way to the position's.
		for _, id := range []string{o.StopLossID, o.TakeProfitID} {
			if b := t.peek(id); b != nil && b.Status == tvbridge.OrderInactive {
				t.cancelOrder(t.order(id), "information", "cancelled: replaced by the position's brackets")
			}
		}
		if err := t.setPositionBrackets(t.position(o.FIGI), b, q.ref()); err != nil {
			return err
		}
		pos = t.peekPosition(o.FIGI)
		o.StopLossID, o.TakeProfitID, o.Brackets = pos.StopLossID, pos.TakeProfitID, b
		return nil
	}
	ref := parentPrice(&tvbridge.OrderRequest{Type: o.Type, Side: o.Side, LimitPrice: o.LimitPrice, StopPrice: o.StopPrice}, q)
	create := func(k bracketKind, price, trailing float64) func() *OrderRecord {
		return func() *OrderRecord {
			nb := t.newBracket(o, k, price, trailing)
			if k == stopLoss && price == 0 && ref > 0 {
				nb.StopPrice = t.trailStop(nb, ref) // provisional until the parent fills
			}
			return nb
		}
	}
	if err := t.setBracket(&o.StopLossID, stopLoss, b.StopLoss, b.TrailingStopPips, ref,
		create(stopLoss, b.StopLoss, b.TrailingStopPips)); err != nil {
		return err
	}
	if err := t.setBracket(&o.TakeProfitID, takeProfit, b.TakeProfit, 0, ref,
		create(takeProfit, b.TakeProfit, 0)); err != nil {
		return err
	}
	o.Brackets = b
	t.link(o.StopLossID, o.TakeProfitID)
	return nil
}

// replaceAtVenue cancels the live generation vo of an order marked
// Replacing, waits for the venue to confirm, and submits the rest under
// the new parameters.
func (m *Manager) replaceAtVenue(ctx context.Context, a *account, id string, vo tvbridge.VenueOrder, req tvbridge.OrderRequest) (tvbridge.Order, error) {
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.VenueTimeout)
	err := m.cfg.Venue.Cancel(vctx, a.venueAccount, vo)
	cancel()
	if err == nil {
		_, err = m.waitOrder(ctx, a, id, func(o *OrderRecord) bool { return !o.VenueLive || o.Status.Final() })
	}
	return m.finishReplace(ctx, a, id, req, err)
}

// finishReplace submits the replacement once the old generation is gone,
// or gives up the modification if the venue did not confirm the cancel.
func (m *Manager) finishReplace(ctx context.Context, a *account, id string, req tvbridge.OrderRequest, cancelErr error) (tvbridge.Order, error) {
	a.mu.Lock()
	t := m.begin(a)
	o := t.order(id)
	var err error
	var gen int
	switch {
	case o == nil:
		err = tvbridge.Errorf(tvbridge.ErrUnknownOrder, "", "no order %q", id)
	case o.Status.Final():
		err = errOrderFinal(id, o.Status)
	case cancelErr != nil || o.VenueLive:
		o.Replacing = false
		err = &tvbridge.TradingError{Code: tvbridge.ErrVenue, Reason: tvbridge.ReasonNotReplaced,
			Detail: "the venue did not confirm the cancel of the old order", Err: cancelErr}
	default:
		o.Replacing = false
		if err = m.applyModify(t, o, req); err != nil {
			// Funds changed while waiting: the old order is gone, so is this one.
			t.cancelOrder(o, "error", "cancelled: the modified order was refused: "+err.Error())
			break
		}
		if remaining := round9(o.Qty - o.FilledQty); remaining <= eps {
			t.setStatus(o, tvbridge.OrderFilled, "information", "filled")
			t.orderEnded(o)
		} else {
			o.Gen++
			gen = o.Gen
			o.VenueLive, o.VenueRef = true, ""
			o.VenueQty, o.VenueLimit = remaining, o.LimitPrice
		}
	}
	if cerr := t.commit(context.Background()); cerr != nil && err == nil {
		err = cerr
	}
	a.mu.Unlock()
	t.finish()
	if err == nil && gen > 0 {
		err = m.submitGen(ctx, a, id, gen)
	}
	return m.orderSnapshot(a, id), err
}

// modifyBracket changes a bracket's price. Its quantity follows its parent
// and cannot be set.
func (m *Manager) modifyBracket(ctx context.Context, a *account, id string, req tvbridge.OrderRequest, inst tvbridge.Instrument) (tvbridge.Order, error) {
	a.mu.Lock()
	t := m.begin(a)
	b, err := t.modifiable(id)
	if err == nil {
		err = m.applyBracketModify(t, b, req, inst)
	}
	if err == nil {
		err = t.commit(ctx)
	}
	a.mu.Unlock()
	t.finish()
	if err != nil {
		return tvbridge.Order{}, err
	}
	return m.orderSnapshot(a, id), nil
}

func (m *Manager) applyBracketModify(t *txn, b *OrderRecord, req tvbridge.OrderRequest, inst tvbridge.Instrument) error {
	if req.Qty != 0 && abs(req.Qty-b.Qty) > eps {
		return tvbridge.Refusef(tvbridge.ErrInvalidQty, tvbridge.ReasonBracketQty, "qty", tvbridge.ErrorParams{Value: b.Qty},
			"a bracket's quantity follows its parent (%g)", b.Qty)
	}
	k := kindOf(b)
	if b.VenueLive || b.Triggered {
		return errBracketExecuting(k)
	}
	field, price := "stopPrice", req.StopPrice
	if k == takeProfit {
		field, price = "limitPrice", req.LimitPrice
	}
	if price == 0 {
		return priceRequired(field, b.Type)
	}
	price, err := checkPrice(field, price, inst)
	if err != nil {
		return err
	}
	nb := tvbridge.Brackets{StopLoss: price}
	if k == takeProfit {
		nb = tvbridge.Brackets{TakeProfit: price}
	}
	if err := checkBracketSides(nb, m.bracketAnchor(t, b)); err != nil {
		return err
	}
	if k == takeProfit {
		b.LimitPrice = price
	} else {
		b.StopPrice = price
	}
	if req.Duration.Type != "" && req.Duration.Type != b.Duration.Type {
		return tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonBracketDuration, "durationType", tvbridge.ErrorParams{},
			"brackets are good till cancelled")
	}
	// Keep the parent order's view of its brackets in step.
	if parent := t.peek(b.ParentID); b.ParentKind == tvbridge.ParentOrder && parent != nil && !parent.Status.Final() {
		p := t.order(parent.ID)
		if k == takeProfit {
			p.Brackets.TakeProfit = price
		} else {
			p.Brackets.StopLoss = price
		}
	}
	return nil
}

// bracketAnchor is the price a bracket's price must be on the right side
// of: its parent order's price while inactive, the market once working.
func (m *Manager) bracketAnchor(t *txn, b *OrderRecord) anchor {
	if b.ParentKind == tvbridge.ParentOrder {
		if p := t.peek(b.ParentID); p != nil {
			return orderAnchor(&tvbridge.OrderRequest{Type: p.Type, Side: p.Side, LimitPrice: p.LimitPrice, StopPrice: p.StopPrice}, m.quote(p.FIGI))
		}
	}
	return anchor{price: m.quote(b.FIGI).ref(), ref: tvbridge.RefPosition, side: b.Side.Opposite()}
}

// CancelOrder cancels a working order. Orders held here end at once; a
// venue order ends when the venue confirms, which CancelOrder waits for
// (up to VenueTimeout). Cancelling a parent cancels its inactive brackets;
// cancelling a bracket leaves its sibling and parent alone.
func (m *Manager) CancelOrder(ctx context.Context, user, accountID, orderID string) error {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return err
	}
	cur, err := m.waitOrder(ctx, a, orderID, func(o *OrderRecord) bool { return o.Status != tvbridge.OrderPlacing })
	if err != nil {
		return err
	}
	if cur.Status.Final() {
		return errOrderFinal(orderID, cur.Status)
	}

	a.mu.Lock()
	t := m.begin(a)
	o, err := t.modifiable(orderID)
	var vo tvbridge.VenueOrder
	venue := false
	if err == nil {
		if o.VenueLive {
			venue, vo = true, venueOrder(o)
		} else {
			t.cancelOrder(o, "information", "cancelled by the trader")
			err = t.commit(ctx)
		}
	}
	a.mu.Unlock()
	t.finish()
	if err != nil || !venue {
		return err
	}

	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.VenueTimeout)
	err = m.cfg.Venue.Cancel(vctx, a.venueAccount, vo)
	cancel()
	if err != nil {
		return asTradingError(err, "the venue could not cancel the order")
	}
	if _, err := m.waitOrder(ctx, a, orderID, func(o *OrderRecord) bool { return o.Status.Final() }); err != nil {
		m.log.Info("cancel accepted but not yet confirmed by the venue", "order", orderID, "err", err)
	}
	return nil
}

// waitOrder waits, up to VenueTimeout, until done holds for the order and
// returns a copy of it.
func (m *Manager) waitOrder(ctx context.Context, a *account, id string, done func(*OrderRecord) bool) (OrderRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.VenueTimeout)
	defer cancel()
	for {
		a.mu.RLock()
		o := a.orders[id]
		var cp OrderRecord
		finished := o == nil || done(o)
		if o != nil {
			cp = o.Clone()
		}
		changed := a.changed
		a.mu.RUnlock()
		if o == nil {
			return OrderRecord{}, tvbridge.Errorf(tvbridge.ErrUnknownOrder, "", "no order %q", id)
		}
		if finished {
			return cp, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return cp, &tvbridge.TradingError{Code: tvbridge.ErrVenue, Reason: tvbridge.ReasonPending,
				Detail: fmt.Sprintf("order %s is still %s at the venue", id, cp.Status), Err: ctx.Err()}
		}
	}
}
