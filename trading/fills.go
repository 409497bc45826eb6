package trading

import (
	"context"
	"fmt"
	"slices"

	"tvbridge"
)

// eventLoop applies venue events in the order the venue sends them.
func (m *Manager) eventLoop(ctx context.Context) {
	events := m.cfg.Venue.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				m.log.Error("venue closed its event channel; fills are no longer applied")
				return
			}
			m.applyEvent(ev)
		}
	}
}

// applyEvent applies one venue event and commits it: a fill with its
// position, execution and balance changes in one transaction, so a fill is
// either wholly applied or (after a failure or crash) not at all; the
// venue reports it again and the ExecID check keeps it from counting twice.
func (m *Manager) applyEvent(ev tvbridge.VenueEvent) {
	defer m.recoverPanic("venue event")
	id, gen := parseVenueID(ev.OrderID)
	a := m.accountOfOrder(id)
	if a == nil {
		m.log.Warn("venue event for an unknown order", "order", ev.OrderID, "kind", ev.Kind)
		return
	}
	a.mu.Lock()
	t := m.begin(a)
	t.tradePos = ev.TapePos // a fill by a trade: the order has seen it
	switch ev.Kind {
	case tvbridge.VenueFill:
		t.fill(id, ev)
	case tvbridge.VenueCancelled, tvbridge.VenueRejected:
		t.venueEnded(id, gen, ev)
	default:
		m.log.Warn("unknown venue event kind", "order", ev.OrderID, "kind", ev.Kind)
	}
	err := t.commit(context.Background())
	a.mu.Unlock()
	t.finish()
	if err != nil {
		m.log.Error("applying a venue event failed", "order", ev.OrderID, "kind", ev.Kind, "exec", ev.ExecID, "err", err)
	}
}

// fill books a fill: the order's filled quantity and average price, the
// position, the account's realized P/L and commissions, an execution, and
// the brackets that follow the position.
func (t *txn) fill(id string, ev tvbridge.VenueEvent) {
	cur := t.peek(id)
	if cur == nil {
		return
	}
	if !finite(ev.Qty) || ev.Qty <= 0 || !finite(ev.Price) || ev.Price <= 0 || !finite(ev.Commission) {
		t.m.log.Error("venue fill with an impossible quantity or price ignored",
			"order", ev.OrderID, "exec", ev.ExecID, "qty", ev.Qty, "price", ev.Price, "commission", ev.Commission)
		return
	}
	execID := ev.ExecID
	if execID == "" {
		execID = fmt.Sprintf("%s#%d", ev.OrderID, len(cur.ExecIDs)+1)
		t.m.log.Warn("venue fill without an ExecID; it cannot be deduplicated", "order", ev.OrderID, "assigned", execID)
	}
	if slices.Contains(cur.ExecIDs, execID) {
		t.m.log.Debug("duplicate venue fill ignored", "order", ev.OrderID, "exec", execID)
		return
	}
	qty := round9(ev.Qty)
	o := t.order(id)
	o.ExecIDs = append(o.ExecIDs, execID)
	t.fillOrder(o, qty, ev.Price)

	pos := t.position(o.FIGI)
	prev := pos.Qty
	closed, realized := applyFill(pos, o.Side, qty, ev.Price)
	cash := t.cash(pos.Currency) // the instrument's: P/L and commission are in it
	cash.RealizedPL += realized
	cash.Commissions += ev.Commission
	at := ev.Time
	if at.IsZero() {
		at = t.now
	}
	t.addExecution(tvbridge.Execution{
		ID: execID, AccountID: t.a.id, OrderID: o.ID, PositionID: pos.ID, FIGI: o.FIGI,
		Side: o.Side, Qty: qty, Price: ev.Price, Commission: ev.Commission, Time: at, IsClose: closed > 0,
	})
	t.positionChanged(pos, prev)
	t.attachBrackets(o, pos)
	if o.Status == tvbridge.OrderFilled {
		t.orderEnded(o)
	}
}

// fillOrder adds a fill to the order's filled quantity and average price
// and fills it when nothing remains. A fill for an order already final
// (the venue filled what the Manager had given up on) is still booked:
// the money moved; only the status stays.
func (t *txn) fillOrder(o *OrderRecord, qty, price float64) {
	filled := o.FilledQty + qty
	o.AvgPrice = (o.AvgPrice*o.FilledQty + price*qty) / filled
	o.FilledQty = round9(filled)
	if o.FilledQty > o.Qty+eps {
		t.m.log.Error("venue overfilled an order", "order", o.ID, "qty", o.Qty, "filled", o.FilledQty)
		o.FilledQty = o.Qty
	}
	if o.Status.Final() {
		t.m.log.Warn("fill booked for an order already final", "order", o.ID, "status", o.Status)
		return
	}
	if o.FilledQty >= o.Qty-eps {
		o.VenueLive = false
		t.setStatus(o, tvbridge.OrderFilled, "information", "filled")
	} else if o.Status == tvbridge.OrderPlacing {
		t.setStatus(o, tvbridge.OrderWorking, "", "")
	}
}

// applyFill moves a signed position by a fill and returns the quantity it
// closed and the P/L that realized. The average price is that of the
// units still held: unchanged by reducing fills, the fill price after a
// reversal. Money is kept at full precision and rounded only when shown,
// so rounding errors do not pile up over thousands of fills.
func applyFill(p *PositionRecord, side tvbridge.Side, qty, price float64) (closed, realized float64) {
	q := p.Qty
	delta := side.Sign() * qty
	next := round9(q + delta)
	if q == 0 || (q > 0) == (delta > 0) {
		p.AvgPrice = (p.AvgPrice*abs(q) + price*qty) / abs(next)
		p.Qty = next
		return 0, 0
	}
	closed = min(abs(q), qty)
	realized = closed * (price - p.AvgPrice) * sideOf(q).Sign()
	switch {
	case next == 0:
		p.AvgPrice = 0
	case (next > 0) != (q > 0):
		p.AvgPrice = price
	}
	p.Qty = next
	return closed, realized
}

// venueEnded applies a venue's cancellation or rejection of generation gen.
// An old generation's end is expected (a replaced order); the current
// one's ends the order, unless a modification is replacing it.
func (t *txn) venueEnded(id string, gen int, ev tvbridge.VenueEvent) {
	cur := t.peek(id)
	if cur == nil || gen != cur.Gen || !cur.VenueLive {
		return
	}
	o := t.order(id)
	o.VenueLive = false
	if o.Replacing {
		return // ModifyOrder waits for this and submits the replacement
	}
	reason := ev.Reason
	if ev.Kind == tvbridge.VenueRejected {
		if reason == "" {
			reason = "refused by the venue"
		}
		o.RejectCode = tvbridge.ErrVenue
		if t.setStatus(o, tvbridge.OrderRejected, "error", "rejected: "+reason) {
			t.orderEnded(o)
		}
		return
	}
	msg := "cancelled"
	if reason != "" {
		msg += ": " + reason
	}
	t.cancelOrder(o, "information", msg)
}
