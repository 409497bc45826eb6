package trading

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"tvbridge"
)

// Held orders (stops, stop-limits and brackets) trigger on trades from the
// tape: a buy stop when a trade is at or above its stop price, a sell stop
// at or below; a take profit when a trade touches its limit. The trigger is
// committed (Triggered, a new venue generation) before the venue order is
// sent, so it happens once even if the process dies in between: on restart
// the order is handed to Venue.Restore, not submitted again.

// tapeLoop reads trades and checks the held orders of their instrument;
// restored is closed once the venue has its working orders back.
func (m *Manager) tapeLoop(ctx context.Context, restored <-chan struct{}) {
	if m.replayGap(ctx, restored) {
		// The orders held when the state was loaded; those placed since
		// were placed at the current prices.
		m.recheckHeld(m.loadedHeld)
	}
	buf := make([]tvbridge.TapeEntry, 0, 256)
	for {
		r := m.tapeReader()
		if r == nil {
			return
		}
		entries, err := r.Next(ctx, buf[:0])
		switch {
		case err == nil:
		case errors.Is(err, tvbridge.ErrTooSlow):
			// Trades were lost; the last prices stand in for them.
			m.resubscribe(r)
			if m.replayMissed(ctx) {
				m.log.Warn("trading fell behind the tape; resubscribed and replayed the missed trades from the market-data log")
				continue
			}
			m.log.Error("trading fell behind the tape; resubscribing and checking held orders at the last prices")
			m.recheckHeld(nil)
			continue
		case ctx.Err() != nil:
			return
		default:
			m.log.Error("tape read failed; held orders no longer trigger", "err", err)
			return
		}
		for _, e := range entries {
			pos, done := m.livePos(e.Seq)
			if done {
				continue // the start replay evaluated it
			}
			tick := e.Tick
			if tick.Kind == tvbridge.TickTrade && finite(tick.Price) && tick.Price > 0 {
				m.shared.tapePos.raise(pos)
				m.onTrade(tick.FIGI, tick.Price, pos)
				m.feedVenue(tick, pos)
			}
			m.shared.evalPos.raise(pos)
		}
	}
}

func (m *Manager) tapeReader() tvbridge.TapeReader {
	m.readerMu.Lock()
	defer m.readerMu.Unlock()
	return m.reader
}

// resubscribe replaces a reader that fell behind, unless Close took it.
func (m *Manager) resubscribe(old tvbridge.TapeReader) {
	m.readerMu.Lock()
	defer m.readerMu.Unlock()
	if m.reader != old {
		return
	}
	old.Close()
	m.reader = m.cfg.Tape.Subscribe()
}

// feedVenue hands a trade to a venue that matches the trades the core
// feeds it (tvbridge.TradeFeed), after the held orders saw it.
func (m *Manager) feedVenue(tick tvbridge.Tick, pos uint64) {
	if f, ok := m.cfg.Venue.(tvbridge.TradeFeed); ok {
		f.Trade(tick.FIGI, tick.Price, tick.Size, pos)
	}
}

// recheckHeld checks held orders (those in only, unless it is nil)
// against their instrument's last price: after a start or a gap in the
// tape, when trades may have been missed.
func (m *Manager) recheckHeld(only map[string]bool) {
	m.heldMu.RLock()
	figis := make([]string, 0, len(m.held))
	for figi := range m.held {
		figis = append(figis, figi)
	}
	m.heldMu.RUnlock()
	for _, figi := range figis {
		if last, _, ok := m.cfg.Market.LastPrice(figi); ok && last > 0 {
			m.checkFIGI(figi, last, 0, only)
		}
	}
}

// heldIDs is the set of the orders held now.
func (m *Manager) heldIDs() map[string]bool {
	m.heldMu.RLock()
	defer m.heldMu.RUnlock()
	ids := map[string]bool{}
	for _, byID := range m.held {
		for id := range byID {
			ids[id] = true
		}
	}
	return ids
}

// onTrade checks the held orders of figi against a trade at price; pos is
// the trade's log position in cluster mode (0: unknown, or a last price).
func (m *Manager) onTrade(figi string, price float64, pos uint64) { m.checkFIGI(figi, price, pos, nil) }

// checkFIGI is onTrade for the orders in only, unless it is nil.
func (m *Manager) checkFIGI(figi string, price float64, pos uint64, only map[string]bool) {
	m.heldMu.RLock()
	byID := m.held[figi]
	if len(byID) == 0 {
		m.heldMu.RUnlock()
		return
	}
	groups := make(map[*account][]string, len(byID))
	for id, a := range byID {
		if only == nil || only[id] {
			groups[a] = append(groups[a], id)
		}
	}
	m.heldMu.RUnlock()
	for a, ids := range groups {
		slices.SortFunc(ids, compareIDs)
		m.checkHeld(a, ids, price, pos)
	}
}

// checkHeld moves trailing stops and triggers the orders the trade hits.
func (m *Manager) checkHeld(a *account, ids []string, price float64, pos uint64) {
	defer m.recoverPanic("trade trigger")
	a.mu.Lock()
	t := m.begin(a)
	t.tradePos = pos
	for _, id := range ids {
		o := t.peek(id)
		if o == nil || !armed(o) {
			continue
		}
		if pos > 0 && pos <= o.TapeSeen {
			continue // seen before, or older than the order (shared.go)
		}
		if o.TrailingStopPips > 0 {
			if best, stop := t.trailed(o, price); best != o.TrailBest || stop != o.StopPrice {
				o = t.order(id)
				o.TrailBest, o.StopPrice = best, stop
			}
		}
		if !hit(o, price) {
			continue
		}
		if sib := t.executingSibling(o); sib != nil {
			// A take profit resting at the venue must not keep the stop
			// loss from protecting the position: cancel it first.
			if kindOf(o) == stopLoss && sib.VenueType == tvbridge.LimitOrder {
				t.requestCancel(sib.ID)
			}
			continue
		}
		t.trigger(t.order(id), price)
	}
	err := t.commit(context.Background())
	a.mu.Unlock()
	t.finish()
	if err != nil {
		m.log.Error("recording a trigger failed; it will be retried on the next trade", "account", a.id, "err", err)
	}
}

// hit reports whether a trade at price triggers o.
func hit(o *OrderRecord, price float64) bool {
	buy := o.Side == tvbridge.Buy
	if o.Type == tvbridge.LimitOrder { // a take profit: touched
		return buy && price <= o.LimitPrice+eps || !buy && price >= o.LimitPrice-eps
	}
	if o.StopPrice <= 0 {
		return false
	}
	return buy && price >= o.StopPrice-eps || !buy && price <= o.StopPrice+eps
}

// executingSibling returns o's OCO sibling if it has triggered and is
// executing at the venue; o waits meanwhile, or both could fill.
func (t *txn) executingSibling(o *OrderRecord) *OrderRecord {
	s := t.peek(o.SiblingID)
	if s != nil && s.VenueLive && !s.Status.Final() {
		return s
	}
	return nil
}

// requestCancel asks the venue to cancel an order's live generation, at
// most once per VenueTimeout, however many trades ask for it.
func (t *txn) requestCancel(id string) {
	cur := t.peek(id)
	if !cur.CancelRequested.IsZero() && t.now.Sub(cur.CancelRequested) < t.m.cfg.VenueTimeout {
		return
	}
	t.order(id).CancelRequested = t.now
	t.cancelAtVenue(id)
}

// trigger commits o's trigger and queues its submission: a market order
// for a stop, a limit order for a stop-limit or a take profit.
func (t *txn) trigger(o *OrderRecord, price float64) {
	o.Triggered = true
	o.Gen++
	o.CancelRequested = time.Time{}
	o.VenueLive = true
	o.VenueQty = round9(o.Qty - o.FilledQty)
	o.VenueType, o.VenueLimit = tvbridge.MarketOrder, 0
	if o.Type != tvbridge.StopOrder {
		o.VenueType, o.VenueLimit = tvbridge.LimitOrder, o.LimitPrice
	}
	o.Message, o.MessageKind = fmt.Sprintf("triggered by a trade at %g", price), "information"
	m, a, id, gen := t.m, t.a, o.ID, o.Gen
	t.later(func() {
		m.goBG(func() { _ = m.submitGen(context.Background(), a, id, gen) })
	})
}

// trailDistance is a trailing stop's distance in price.
func (t *txn) trailDistance(o *OrderRecord) (dist, step float64) {
	inst, _ := t.m.cfg.Instrument(o.FIGI)
	step = inst.MinPriceIncrement
	return o.TrailingStopPips * step, step
}

// trailStop is where a trailing stop sits when the best price is best.
func (t *txn) trailStop(o *OrderRecord, best float64) float64 {
	dist, step := t.trailDistance(o)
	stop := best + dist
	if o.Side == tvbridge.Sell {
		stop = best - dist
	}
	if step > 0 {
		stop = math.Round(stop/step) * step
	}
	return max(round9(stop), 0)
}

// trailed returns a trailing stop's best price and stop after a trade at
// price: the stop follows the best price and never moves back.
func (t *txn) trailed(o *OrderRecord, price float64) (best, stop float64) {
	best, stop = o.TrailBest, o.StopPrice
	if o.Side == tvbridge.Sell { // protects a long: follows the highs
		if best == 0 || price > best {
			best = price
		}
		if s := t.trailStop(o, best); s > stop {
			stop = s
		}
		return best, stop
	}
	if best == 0 || price < best {
		best = price
	}
	if s := t.trailStop(o, best); stop == 0 || s < stop {
		stop = s
	}
	return best, stop
}

// startTrailing starts a trailing stop at ref, keeping an explicit stop
// price if it is already tighter.
func (t *txn) startTrailing(o *OrderRecord, ref float64) {
	if ref <= 0 {
		return
	}
	o.TrailBest = 0
	o.TrailBest, o.StopPrice = t.trailed(o, ref)
}
