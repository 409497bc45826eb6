package trading

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tvbridge"
)

// PlaceOrder validates and places an order with its brackets. Market and
// limit orders go to the venue; stops and stop-limits are held here until
// a trade triggers them. A RequestID seen before for the account places
// nothing: the same request again (a retry) returns the first order (and
// its error, if it was refused); a different one is refused with
// ErrRequestReused, since answering with the first order would tell the
// trader that an order they did not send was placed.
func (m *Manager) PlaceOrder(ctx context.Context, user, accountID string, req tvbridge.OrderRequest) (tvbridge.Order, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return tvbridge.Order{}, err
	}
	a.mu.RLock()
	o, err, seen := m.replay(a, req)
	a.mu.RUnlock()
	if seen {
		return o, err
	}
	return m.place(ctx, a, req, true)
}

// replay returns the order placed earlier with req.RequestID, or refuses
// req when that order was placed with other parameters. Callers hold a.mu.
func (m *Manager) replay(a *account, req tvbridge.OrderRequest) (tvbridge.Order, error, bool) {
	if req.RequestID == "" {
		return tvbridge.Order{}, nil, false
	}
	o := a.requests[req.RequestID]
	if o == nil {
		return tvbridge.Order{}, nil, false
	}
	if field := m.requestDiffers(o.Request, req); field != "" {
		return tvbridge.Order{}, tvbridge.Refusef(tvbridge.ErrRequestReused, tvbridge.ReasonRequestReused, field,
			tvbridge.ErrorParams{Text: req.RequestID},
			"request id %q placed order %s with another %s", req.RequestID, o.ID, field), true
	}
	if o.Status == tvbridge.OrderRejected && o.RejectCode != "" {
		te := &tvbridge.TradingError{Code: o.RejectCode, Detail: o.Message}
		if r := o.Refusal; r != nil {
			te.Field, te.Reason, te.Params = r.Field, r.Reason, r.Params
		}
		return o.Order, te, true
	}
	return o.Order, nil, true
}

// place validates req and places it. Closing orders skip the funds check:
// closing a position must always be possible.
func (m *Manager) place(ctx context.Context, a *account, req tvbridge.OrderRequest, checkFunds bool) (placed tvbridge.Order, err error) {
	defer m.stats.placing(time.Now(), &placed, &err)
	inst, err := m.instrument(a, req.FIGI)
	if err != nil {
		return tvbridge.Order{}, err
	}
	if err := validateOrder(&req, inst, m.quote(req.FIGI)); err != nil {
		return tvbridge.Order{}, err
	}

	a.mu.Lock()
	if o, err, seen := m.replay(a, req); seen {
		a.mu.Unlock()
		return o, err // the same request raced us here
	}
	t := m.begin(a)
	o := t.newOrder(req)
	if checkFunds {
		if err := m.checkFunds(a, o); err != nil {
			a.mu.Unlock()
			return tvbridge.Order{}, err
		}
	}
	err = t.commit(ctx)
	a.mu.Unlock()
	t.finish()
	if err != nil {
		return tvbridge.Order{}, err
	}
	m.log.Debug("order placed", "account", a.id, "order", o.ID, "figi", o.FIGI, "side", o.Side, "type", o.Type, "qty", o.Qty)
	if o.VenueLive {
		err = m.submitGen(ctx, a, o.ID, o.Gen)
	}
	return m.orderSnapshot(a, o.ID), err
}

// newOrder stages an order from a validated request, with its brackets.
func (t *txn) newOrder(req tvbridge.OrderRequest) *OrderRecord {
	var placed *tvbridge.OrderRequest
	if req.RequestID != "" {
		placed = &req
	}
	o := t.create(OrderRecord{Request: placed, Order: tvbridge.Order{
		RequestID:  req.RequestID,
		FIGI:       req.FIGI,
		Side:       req.Side,
		Type:       req.Type,
		Qty:        req.Qty,
		LimitPrice: req.LimitPrice,
		StopPrice:  req.StopPrice,
		Duration:   req.Duration,
		Brackets:   req.Brackets,
	}})
	if o.Duration.Type == tvbridge.DurationDay {
		o.ExpiresAt = t.m.dayEnd(o.FIGI, t.now)
	}
	switch o.Type {
	case tvbridge.MarketOrder, tvbridge.LimitOrder:
		o.Status = tvbridge.OrderPlacing
		o.Gen, o.VenueLive = 1, true
		o.VenueType, o.VenueQty, o.VenueLimit = o.Type, o.Qty, o.LimitPrice
	default:
		o.Status = tvbridge.OrderWorking // held here until a trade triggers it
	}
	t.createBrackets(o, parentPrice(&req, t.m.quote(o.FIGI)))
	return o
}

// submitGen sends generation gen of an order to the venue, if it is still
// the live one, and records the venue's answer. A refusal rejects the
// order. A timeout leaves the venue's state unknown: the order is rejected
// too and the venue asked to cancel it, so it cannot fill unseen.
func (m *Manager) submitGen(ctx context.Context, a *account, id string, gen int) error {
	a.mu.RLock()
	o := a.orders[id]
	if o == nil || o.Gen != gen || !o.VenueLive {
		a.mu.RUnlock()
		return nil
	}
	vo := venueOrder(o)
	a.mu.RUnlock()

	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.VenueTimeout)
	ref, err := m.cfg.Venue.Submit(vctx, a.venueAccount, vo)
	cancel()
	if err != nil {
		err = asTradingError(err, "the venue refused the order")
		m.log.Info("venue refused an order", "account", a.id, "order", id, "err", err)
	}

	a.mu.Lock()
	t := m.begin(a)
	if cur := t.peek(id); cur != nil && cur.Gen == gen && cur.VenueLive {
		s := t.order(id)
		if err == nil {
			s.VenueRef = ref
			if s.Status == tvbridge.OrderPlacing {
				t.setStatus(s, tvbridge.OrderWorking, "", "")
			}
		} else {
			s.VenueLive = false
			var te *tvbridge.TradingError
			errors.As(err, &te)
			s.RejectCode = te.Code
			if te.Reason != "" {
				s.Refusal = &tvbridge.Refusal{Code: te.Code, Field: te.Field, Reason: te.Reason, Params: te.Params}
			}
			if t.setStatus(s, tvbridge.OrderRejected, "error", rejectMessage(te)) {
				t.orderEnded(s)
			}
		}
	}
	cerr := t.commit(context.Background())
	a.mu.Unlock()
	t.finish()
	if errors.Is(err, context.DeadlineExceeded) {
		m.goBG(func() { m.cancelVenueOrder(a, vo) })
	}
	if cerr != nil {
		m.log.Error("recording the venue's answer failed", "account", a.id, "order", id, "err", cerr)
		if err == nil {
			err = cerr
		}
	}
	return err
}

func rejectMessage(te *tvbridge.TradingError) string {
	if te.Detail != "" {
		return "rejected: " + te.Detail
	}
	return "rejected: " + string(te.Code)
}

// orderSnapshot returns the current state of an order.
func (m *Manager) orderSnapshot(a *account, id string) tvbridge.Order {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if o := a.orders[id]; o != nil {
		return o.Order
	}
	return tvbridge.Order{}
}

// PreviewOrder validates req and estimates its price, cost and commission
// without placing anything. Funds and market problems are warnings.
func (m *Manager) PreviewOrder(ctx context.Context, user, accountID string, req tvbridge.OrderRequest) (tvbridge.OrderPreview, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return tvbridge.OrderPreview{}, err
	}
	inst, err := m.instrument(a, req.FIGI)
	if err != nil {
		return tvbridge.OrderPreview{}, err
	}
	q := m.quote(req.FIGI)
	if err := validateOrder(&req, inst, q); err != nil {
		return tvbridge.OrderPreview{}, err
	}
	var p tvbridge.OrderPreview
	switch req.Type {
	case tvbridge.MarketOrder:
		avg, filled := q.walk(req.Side, req.Qty, inst.Lot)
		if filled < req.Qty-eps {
			p.Warnings = append(p.Warnings, fmt.Sprintf("the order book shows liquidity for %g of %g; the price may be worse", filled, req.Qty))
		}
		if avg <= 0 {
			avg = q.entry(req.Side)
		}
		p.Price = avg
	case tvbridge.StopOrder:
		p.Price = req.StopPrice
	default:
		p.Price = req.LimitPrice
	}
	p.Cost = round9(req.Qty * p.Price)
	p.Commission = round9(p.Cost * m.cfg.CommissionRate)
	p.Currency = m.currencyOf(a, req.FIGI)
	if q.status != tvbridge.StatusUnknown && !q.status.Trading() {
		p.Warnings = append(p.Warnings, "the instrument is not trading now; the order waits for the market to open")
	}
	o := &OrderRecord{Order: tvbridge.Order{FIGI: req.FIGI, Side: req.Side, Type: req.Type, Qty: req.Qty,
		LimitPrice: req.LimitPrice, StopPrice: req.StopPrice}}
	a.mu.RLock()
	ferr := m.checkFunds(a, o)
	a.mu.RUnlock()
	var te *tvbridge.TradingError
	if errors.As(ferr, &te) {
		p.Warnings = append(p.Warnings, "insufficient funds: "+te.Detail)
	}
	return p, nil
}
