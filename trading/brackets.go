package trading

import (
	"context"

	"tvbridge"
)

// Brackets. A stop loss is a stop order and a take profit a limit order on
// the side opposite their parent; both are held here, never resting at the
// venue, so that the OCO link between them is exact: a trade that touches
// one triggers it (market for the stop loss, limit at its price for the
// take profit) and the other waits while it executes.
//
// Life cycle (TradingView's, rule 6.3): created inactive with their parent
// order (ParentKind order); when the parent first fills they become working
// brackets of the position (ParentKind position, ParentID the position id)
// and their quantity follows the position's from then on. A fill of one
// reduces the other; the position closing cancels both. Cancelling an
// unfilled parent cancels them; removing one reports it cancelled.

// bracketKind tells stop losses from take profits.
type bracketKind int

const (
	stopLoss bracketKind = iota
	takeProfit
)

func kindOf(o *OrderRecord) bracketKind {
	if o.Type == tvbridge.LimitOrder {
		return takeProfit
	}
	return stopLoss
}

// slot picks, of a parent's or position's two bracket id fields, the one
// for kind k.
func (k bracketKind) slot(sl, tp *string) *string {
	if k == takeProfit {
		return tp
	}
	return sl
}

// armed reports whether the Manager holds o and triggers it on trades:
// a working stop, stop-limit or bracket not yet sent to the venue.
func armed(o *OrderRecord) bool {
	if o.Status != tvbridge.OrderWorking || o.Triggered || o.VenueLive {
		return false
	}
	return o.Type == tvbridge.StopOrder || o.Type == tvbridge.StopLimitOrder || o.ParentID != ""
}

// createBrackets stages the inactive brackets parent asked for; ref is the
// price the parent is expected to fill at (0 if unknown).
func (t *txn) createBrackets(parent *OrderRecord, ref float64) {
	b := parent.Brackets
	if b.StopLoss > 0 || b.TrailingStopPips > 0 {
		sl := t.newBracket(parent, stopLoss, b.StopLoss, b.TrailingStopPips)
		if sl.StopPrice == 0 && ref > 0 {
			sl.StopPrice = t.trailStop(sl, ref) // provisional until the parent fills
		}
		parent.StopLossID = sl.ID
	}
	if b.TakeProfit > 0 {
		parent.TakeProfitID = t.newBracket(parent, takeProfit, b.TakeProfit, 0).ID
	}
	t.link(parent.StopLossID, parent.TakeProfitID)
}

// newBracket stages an inactive bracket of parent.
func (t *txn) newBracket(parent *OrderRecord, k bracketKind, price, trailingPips float64) *OrderRecord {
	o := OrderRecord{Order: tvbridge.Order{
		FIGI:       parent.FIGI,
		Side:       parent.Side.Opposite(),
		Type:       tvbridge.StopOrder,
		Status:     tvbridge.OrderInactive,
		Qty:        parent.Qty,
		StopPrice:  price,
		Duration:   tvbridge.OrderDuration{Type: tvbridge.DurationGTC},
		ParentID:   parent.ID,
		ParentKind: tvbridge.ParentOrder,
	}}
	if k == takeProfit {
		o.Type, o.StopPrice, o.LimitPrice = tvbridge.LimitOrder, 0, price
	} else {
		o.TrailingStopPips = trailingPips
	}
	return t.create(o)
}

// newPositionBracket stages a working bracket of a position.
func (t *txn) newPositionBracket(pos *PositionRecord, k bracketKind, price, trailingPips, ref float64) *OrderRecord {
	o := OrderRecord{Order: tvbridge.Order{
		FIGI:       pos.FIGI,
		Side:       sideOf(pos.Qty).Opposite(),
		Type:       tvbridge.StopOrder,
		Status:     tvbridge.OrderWorking,
		Qty:        abs(pos.Qty),
		StopPrice:  price,
		Duration:   tvbridge.OrderDuration{Type: tvbridge.DurationGTC},
		ParentID:   pos.ID,
		ParentKind: tvbridge.ParentPosition,
	}}
	if k == takeProfit {
		o.Type, o.StopPrice, o.LimitPrice = tvbridge.LimitOrder, 0, price
	}
	b := t.create(o)
	if k == stopLoss && trailingPips > 0 {
		b.TrailingStopPips = trailingPips
		t.startTrailing(b, ref)
	}
	slot := k.slot(&pos.StopLossID, &pos.TakeProfitID)
	if *slot != "" {
		t.endBracket(*slot, "cancelled: replaced by a new "+k.String())
	}
	*slot = b.ID
	t.link(pos.StopLossID, pos.TakeProfitID)
	return b
}

// link makes two brackets each other's OCO sibling.
func (t *txn) link(slID, tpID string) {
	if slID == "" || tpID == "" {
		return
	}
	sl, tp := t.peek(slID), t.peek(tpID)
	if sl == nil || tp == nil || sl.Status.Final() || tp.Status.Final() {
		return
	}
	if sl.SiblingID != tpID {
		t.order(slID).SiblingID = tpID
	}
	if tp.SiblingID != slID {
		t.order(tpID).SiblingID = slID
	}
}

// attachBrackets runs after a fill of o: its inactive brackets become the
// position's when the fill opened or grew a position on o's side, and are
// cancelled when it only reduced one (there is nothing to protect).
func (t *txn) attachBrackets(o *OrderRecord, pos *PositionRecord) {
	if o.ParentID != "" {
		return // brackets have no brackets
	}
	for _, id := range []string{o.StopLossID, o.TakeProfitID} {
		b := t.peek(id)
		if b == nil || b.Status != tvbridge.OrderInactive {
			continue
		}
		if pos.Qty == 0 || sideOf(pos.Qty) != o.Side {
			t.cancelOrder(t.order(id), "information", "cancelled: the order closed a position instead of opening one")
			continue
		}
		b = t.order(id)
		if b.TrailingStopPips > 0 && o.Brackets.StopLoss == 0 {
			b.StopPrice = 0 // provisional: a trailing stop starts from the fill
		}
		t.activateBracket(b, pos, o.AvgPrice)
	}
	t.link(pos.StopLossID, pos.TakeProfitID)
}

// activateBracket makes an inactive bracket a working bracket of pos,
// replacing the position's bracket of the same kind, if any. ref is the
// parent's fill price, where a trailing stop starts.
func (t *txn) activateBracket(b *OrderRecord, pos *PositionRecord, ref float64) {
	slot := kindOf(b).slot(&pos.StopLossID, &pos.TakeProfitID)
	if old := *slot; old != "" && old != b.ID {
		t.endBracket(old, "cancelled: replaced by the brackets of order "+b.ParentID)
	}
	*slot = b.ID
	t.setStatus(b, tvbridge.OrderWorking, "", "")
	b.ParentKind, b.ParentID = tvbridge.ParentPosition, pos.ID
	b.Qty = abs(pos.Qty)
	if b.TrailingStopPips > 0 {
		t.startTrailing(b, ref)
	}
}

// positionChanged keeps the position's brackets in step after its
// quantity changed from prev: closed or reversed, they are cancelled (one
// executing at the venue, perhaps the one that just filled, for the rest of
// its quantity: there is nothing left to protect); otherwise held brackets
// take the new quantity.
func (t *txn) positionChanged(pos *PositionRecord, prev float64) {
	flipped := prev != 0 && pos.Qty != 0 && sideOf(prev) != sideOf(pos.Qty)
	if pos.Qty == 0 || flipped {
		for _, id := range []string{pos.StopLossID, pos.TakeProfitID} {
			if id != "" {
				t.endBracket(id, "cancelled: the position was closed")
			}
		}
		pos.StopLossID, pos.TakeProfitID = "", ""
		return
	}
	for _, id := range []string{pos.StopLossID, pos.TakeProfitID} {
		b := t.peek(id)
		if b != nil && !b.Status.Final() && !b.Triggered && b.Qty != abs(pos.Qty) {
			t.order(id).Qty = abs(pos.Qty)
		}
	}
}

// endBracket cancels a bracket: at once when held here, through the venue
// when it already triggered (its cancel event finishes it).
func (t *txn) endBracket(id, msg string) {
	b := t.peek(id)
	if b == nil || b.Status.Final() {
		return
	}
	if b.VenueLive {
		t.cancelAtVenue(id)
		return
	}
	t.cancelOrder(t.order(id), "information", msg)
}

// cancelOrder cancels a staged order that the venue does not hold.
func (t *txn) cancelOrder(o *OrderRecord, kind, msg string) {
	if t.setStatus(o, tvbridge.OrderCancelled, kind, msg) {
		t.orderEnded(o)
	}
}

// orderEnded follows an order into its final status: an unfilled parent's
// brackets are cancelled with it, a filled bracket's sibling is cancelled
// (OCO), and an ended bracket leaves its parent or position.
func (t *txn) orderEnded(o *OrderRecord) {
	for _, id := range []string{o.StopLossID, o.TakeProfitID} {
		if b := t.peek(id); b != nil && b.Status == tvbridge.OrderInactive {
			t.cancelOrder(t.order(id), "information", "cancelled with its parent order")
		}
	}
	if o.ParentID == "" {
		return
	}
	if o.Status == tvbridge.OrderFilled && o.SiblingID != "" {
		t.endBracket(o.SiblingID, "cancelled: its other bracket filled")
	}
	t.detachBracket(o)
}

// detachBracket removes an ended bracket from its position, or from its
// parent order while that is still working, so a new one can take its place.
func (t *txn) detachBracket(b *OrderRecord) {
	if b.ParentKind == tvbridge.ParentPosition {
		p := t.peekPosition(b.FIGI)
		if p == nil || (p.StopLossID != b.ID && p.TakeProfitID != b.ID) {
			return
		}
		p = t.position(b.FIGI)
		slot := kindOf(b).slot(&p.StopLossID, &p.TakeProfitID)
		*slot = ""
		return
	}
	parent := t.peek(b.ParentID)
	if parent == nil || parent.Status.Final() || b.Status == tvbridge.OrderFilled {
		return
	}
	if parent.StopLossID == b.ID {
		p := t.order(parent.ID)
		p.StopLossID, p.Brackets.StopLoss, p.Brackets.TrailingStopPips = "", 0, 0
	}
	if parent.TakeProfitID == b.ID {
		p := t.order(parent.ID)
		p.TakeProfitID, p.Brackets.TakeProfit = "", 0
	}
}

// cancelAtVenue asks the venue, after the commit and in the background, to
// cancel the live generation of an order.
func (t *txn) cancelAtVenue(id string) {
	m, a := t.m, t.a
	t.later(func() {
		m.goBG(func() {
			a.mu.RLock()
			o := a.orders[id]
			live := o != nil && o.VenueLive
			var vo tvbridge.VenueOrder
			if live {
				vo = venueOrder(o)
			}
			a.mu.RUnlock()
			if live {
				m.cancelVenueOrder(a, vo)
			}
		})
	})
}

// cancelVenueOrder asks the venue to cancel vo, logging a failure.
func (m *Manager) cancelVenueOrder(a *account, vo tvbridge.VenueOrder) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.VenueTimeout)
	defer cancel()
	if err := m.cfg.Venue.Cancel(ctx, a.venueAccount, vo); err != nil {
		m.log.Warn("venue cancel failed", "account", a.id, "order", vo.ID, "err", err)
	}
}

// setBracket adds, changes or (price 0, no trailing) removes the bracket
// of kind k held in slot, for a parent order or a position. create makes
// a new one when there is none.
func (t *txn) setBracket(slot *string, k bracketKind, price, trailingPips, ref float64, create func() *OrderRecord) error {
	cur := t.peek(*slot)
	if cur != nil && cur.Status.Final() {
		cur, *slot = nil, ""
	}
	remove := price == 0 && (k == takeProfit || trailingPips == 0)
	switch {
	case remove && cur == nil:
		return nil
	case remove:
		if cur.VenueLive {
			return errBracketExecuting(k)
		}
		t.cancelOrder(t.order(cur.ID), "information", "cancelled: removed by the trader")
		*slot = ""
		return nil
	case cur == nil:
		*slot = create().ID
		return nil
	case cur.VenueLive || cur.Triggered:
		return errBracketExecuting(k)
	}
	b := t.order(cur.ID)
	if k == takeProfit {
		b.LimitPrice = price
		return nil
	}
	b.StopPrice, b.TrailingStopPips = price, trailingPips
	switch {
	case trailingPips > 0 && b.Status == tvbridge.OrderWorking:
		t.startTrailing(b, ref)
	case trailingPips > 0 && price == 0 && ref > 0:
		b.StopPrice = t.trailStop(b, ref) // provisional until the parent fills
	}
	return nil
}

// errBracketExecuting refuses to change a bracket that is already at the
// venue or triggered.
func errBracketExecuting(k bracketKind) error {
	return tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonBracketExecuting, k.field(), tvbridge.ErrorParams{},
		"the %s is already executing", k)
}

func (k bracketKind) String() string {
	if k == takeProfit {
		return "take profit"
	}
	return "stop loss"
}

func (k bracketKind) field() string {
	if k == takeProfit {
		return "takeProfit"
	}
	return "stopLoss"
}
