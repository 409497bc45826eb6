package tinkoff

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"tvbridge"
)

// Matching operations to orders.
//
// A v1 operation does not say which order it executes, so the venue infers
// it once per operation and remembers it (venueAccount.claimed). An
// operation can belong to an order when it is on the same FIGI and side,
// for the same quantity, dated no earlier than the order could have been
// placed, every trade within the order's limit, and, while the order is
// still active, not yet closed. Among several possibilities an order
// prefers the operation closest in time to its submit time: operations are
// dated when their order was placed (the simulator does so; the real
// service is undocumented here). Orders whose submit time is unknown
// (restored from an old VenueRef) come last and prefer newer operations.
//
// Identical orders placed at the same moment can still swap operations;
// their fills are then reported on the wrong one of two equal orders.

// bind matches unmatched orders to unclaimed operations. It finds as many
// pairs as possible (Kuhn's augmenting paths), so an order that fits only
// one operation gets it even when another order would also take it; each
// order tries its operations closest in time first.
func (a *venueAccount) bind(orders []*trackedOrder, ops map[string]*opView, now time.Time) {
	// Unclaimed operations by what an order must share with them.
	type key struct {
		figi string
		buy  bool
	}
	unclaimed := make(map[key][]*opView)
	for id, op := range ops {
		if _, taken := a.claimed[id]; !taken {
			k := key{op.FIGI, op.buy}
			unclaimed[k] = append(unclaimed[k], op)
		}
	}
	var free []*trackedOrder
	prefs := make(map[*trackedOrder][]*opView)
	for _, t := range orders {
		if t.opID != "" {
			continue
		}
		for _, op := range unclaimed[key{t.order.FIGI, t.order.Side == tvbridge.Buy}] {
			if t.accepts(op) {
				prefs[t] = append(prefs[t], op)
			}
		}
		if len(prefs[t]) > 0 {
			free = append(free, t)
			slices.SortFunc(prefs[t], func(x, y *opView) int {
				return cmp.Or(cmp.Compare(t.distance(x, now), t.distance(y, now)), cmp.Compare(x.ID, y.ID))
			})
		}
	}
	// Orders with a known submit time first; restored ones without it
	// take what is left.
	slices.SortStableFunc(free, func(x, y *trackedOrder) int {
		return cmp.Or(cmp.Compare(boolRank(x.submitted.IsZero()), boolRank(y.submitted.IsZero())), cmp.Compare(x.seq, y.seq))
	})
	owner := make(map[string]*trackedOrder)
	for _, t := range free {
		augment(t, prefs, owner, make(map[string]bool))
	}
	for id, t := range owner {
		t.opID = id
		a.claimed[id] = ops[id].date
	}
}

// augment finds t an operation, moving earlier orders to other operations
// they also fit when that frees one for t.
func augment(t *trackedOrder, prefs map[*trackedOrder][]*opView, owner map[string]*trackedOrder, visited map[string]bool) bool {
	for _, op := range prefs[t] {
		if visited[op.ID] {
			continue
		}
		visited[op.ID] = true
		if prev := owner[op.ID]; prev == nil || augment(prev, prefs, owner, visited) {
			owner[op.ID] = t
			return true
		}
	}
	return false
}

// distance ranks an operation for the order: how far its date is from the
// submit time, or, when that is unknown, how old it is (newest first).
func (t *trackedOrder) distance(op *opView, now time.Time) time.Duration {
	if t.submitted.IsZero() {
		return now.Sub(op.date)
	}
	return op.date.Sub(t.submitted).Abs()
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// accepts reports whether op can be this order's operation.
func (t *trackedOrder) accepts(op *opView) bool {
	switch {
	case op.buy != (t.order.Side == tvbridge.Buy), op.FIGI != t.order.FIGI:
		return false
	case op.Quantity != 0 && op.Quantity != t.pieces:
		return false
	case op.date.Before(t.notBefore):
		return false
	case t.present && !strings.EqualFold(op.Status, "Progress"):
		// A closed operation belongs to an order that is over.
		return false
	}
	qty := 0
	for _, tr := range op.Trades {
		if !wellFormed(tr) {
			continue // fills ignores it too
		}
		if !t.priceFits(tr.Price) {
			return false
		}
		qty += tr.Quantity
	}
	return qty <= t.pieces
}

// priceFits reports whether a limit order could have traded at price.
func (t *trackedOrder) priceFits(price float64) bool {
	if t.order.Type != tvbridge.LimitOrder {
		return true
	}
	tol := t.increment / 2
	if tol <= 0 {
		tol = 1e-9 * max(1, math.Abs(t.order.Limit))
	}
	if t.order.Side == tvbridge.Buy {
		return price <= t.order.Limit+tol
	}
	return price >= t.order.Limit-tol
}
