package tinkoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// trackedOrder is an order the venue follows until it is final.
type trackedOrder struct {
	order     tvbridge.VenueOrder // the core's view; order.ID names the events
	ref       string              // the Tinkoff order id
	pieces    int                 // ordered quantity in units
	increment float64             // price increment; 0 when unknown
	submitted time.Time           // zero when unknown (restored from an old ref)
	notBefore time.Time           // its operation cannot be dated earlier
	seq       uint64              // registration order

	opID         string          // its operation, once matched
	filled       int             // units reported, or applied by the core before a restart
	executed     int             // units the upstream said were executed (placement, /orders)
	lot          int             // units per lot; 0 when unknown
	commission   float64         // commission accounted for in reported fills
	seen         map[string]bool // trade ids handled
	present      bool            // listed by the latest /orders answer
	missingSince time.Time       // when first found missing from /orders
	cancelAcked  bool            // Tinkoff acknowledged our cancel
}

// venueAccount is the polling state of one Tinkoff account.
type venueAccount struct {
	id       string
	orders   map[string]*trackedOrder // by Tinkoff order id
	inflight int                      // Submits waiting for Tinkoff's answer
	changes  uint64                   // Submits started and orders adopted, ever
	claimed  map[string]time.Time     // operations matched to an order, with their dates
	done     map[string]time.Time     // orders reported final, with when
}

// pollSnapshot is what a poll knew about an account before its requests.
type pollSnapshot struct {
	orders  []*trackedOrder
	changes uint64
	quiet   bool      // no Submit in flight
	from    time.Time // earliest date an operation of these orders can have
	figi    string    // the orders' only FIGI, or "" when they have several
}

// lagGraceFactor stretches VanishGrace for an order whose operation lags
// behind what the upstream said was executed.
const lagGraceFactor = 20

// reconcileEnv is what reconciliation needs from the venue.
type reconcileEnv struct {
	now     time.Time
	grace   time.Duration
	applied func(execID string) bool
	log     *slog.Logger
	// keepClaims: claims on operations dated earlier can go; no order,
	// current or future, can be matched to such an operation.
	keepClaims time.Time
}

// Poll reconciles, once, every account that has orders being followed:
// fills found in /operations and orders no longer in /orders become events.
// Run calls it every PollInterval; polls never overlap. Errors are per
// account; the other accounts are still polled.
func (v *OrderVenue) Poll(ctx context.Context) error {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	var errs []error
	for _, id := range v.accountsToPoll() {
		if err := v.pollAccount(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (v *OrderVenue) accountsToPoll() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ids []string
	for id, a := range v.accounts {
		if len(a.orders) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// pollAccount asks for the active orders first and the operations second:
// an order missing from the first answer is final, so the second holds all
// its fills.
func (v *OrderVenue) pollAccount(ctx context.Context, id string) (err error) {
	defer func() {
		// Upstream data drives this code: a bug must not kill the poller.
		if p := recover(); p != nil {
			v.log.Error("poll panicked", "account", id, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("tinkoff venue: poll of account %s panicked: %v", id, p)
		}
	}()
	snap, ok := v.snapshot(id)
	if !ok {
		return nil
	}
	active, err := v.client.Orders(ctx, id)
	if err != nil {
		return fmt.Errorf("tinkoff venue: poll account %s: active orders: %w", id, err)
	}
	now := v.clock.Now()
	ops, err := v.client.Operations(ctx, id, snap.from, now.Add(v.cfg.ClockSkew), snap.figi)
	if err != nil {
		return fmt.Errorf("tinkoff venue: poll account %s: operations: %w", id, err)
	}
	env := reconcileEnv{now: now, grace: v.cfg.VanishGrace, applied: v.cfg.Applied, log: v.log.With("account", id),
		keepClaims: minTime(snap.from, now.Add(-v.cfg.RestoreLookback-v.cfg.ClockSkew))}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.queue.Push(v.accounts[id].reconcile(env, snap, active, ops)...)
	return nil
}

func (v *OrderVenue) snapshot(id string) (pollSnapshot, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.accounts[id]
	if a == nil || len(a.orders) == 0 {
		return pollSnapshot{}, false
	}
	snap := pollSnapshot{orders: sortedOrders(a.orders), changes: a.changes, quiet: a.inflight == 0}
	snap.from = snap.orders[0].notBefore
	snap.figi = snap.orders[0].order.FIGI
	for _, t := range snap.orders[1:] {
		snap.from = minTime(snap.from, t.notBefore)
		if t.order.FIGI != snap.figi {
			snap.figi = ""
		}
	}
	return snap, true
}

// reconcile applies one poll's answers to the account's orders and returns
// the events to deliver, in order.
func (a *venueAccount) reconcile(env reconcileEnv, snap pollSnapshot, active []wire.Order, ops []wire.Operation) []tvbridge.VenueEvent {
	orders := a.stillTracked(snap.orders)
	markPresence(orders, active, env.now)
	trades := tradeOperations(ops, env.log)
	a.forget(env.keepClaims)
	// While an order is being placed or adopted, its operation may be in
	// this answer without the order being in the snapshot: matching now
	// could give that operation to another order.
	matched := snap.quiet && a.inflight == 0 && a.changes == snap.changes
	if matched {
		a.bind(orders, trades, env.now)
	}
	var events []tvbridge.VenueEvent
	for _, t := range orders {
		op := trades[t.opID]
		if op != nil {
			events = append(events, t.fills(op, env)...)
		}
		if ev, done := t.settle(op, matched, env); done {
			delete(a.orders, t.ref)
			a.done[t.ref] = env.now
			if ev != nil {
				events = append(events, *ev)
			}
		}
	}
	return events
}

// forget drops what is older than before: operations claimed and orders
// finished that long ago cannot be confused with new ones.
func (a *venueAccount) forget(before time.Time) {
	for id, date := range a.claimed {
		if date.Before(before) {
			delete(a.claimed, id)
		}
	}
	for ref, at := range a.done {
		if at.Before(before) {
			delete(a.done, ref)
		}
	}
}

func (a *venueAccount) stillTracked(orders []*trackedOrder) []*trackedOrder {
	out := make([]*trackedOrder, 0, len(orders))
	for _, t := range orders {
		if a.orders[t.ref] == t {
			out = append(out, t)
		}
	}
	return out
}

// markPresence records which orders /orders still lists, and how much of
// them it says is executed.
func markPresence(orders []*trackedOrder, active []wire.Order, now time.Time) {
	live := make(map[string]wire.Order, len(active))
	for _, o := range active {
		live[o.OrderID] = o
	}
	for _, t := range orders {
		var w wire.Order
		w, t.present = live[t.ref]
		switch {
		case t.present:
			t.missingSince = time.Time{}
			t.executed = max(t.executed, min(w.ExecutedLots*t.lot, t.pieces))
		case t.missingSince.IsZero():
			t.missingSince = now
		}
	}
}

// fills returns a fill event per trade of the order's operation not handled
// before. The operation's commission is cumulative: what it grew by since
// the last fills is shared among the new ones by amount.
func (t *trackedOrder) fills(op *opView, env reconcileEnv) []tvbridge.VenueEvent {
	var opCommission float64
	if op.Commission != nil && !math.IsNaN(op.Commission.Value) && !math.IsInf(op.Commission.Value, 0) {
		opCommission = math.Abs(op.Commission.Value)
	}
	total := tradesAmount(op.Trades)
	var events []tvbridge.VenueEvent
	var amounts []float64
	for _, tr := range op.sortedTrades() {
		if t.seen[tr.id] {
			continue
		}
		t.seen[tr.id] = true
		if !wellFormed(tr.OperationTrade) {
			env.log.Warn("ignoring a malformed trade", "order", t.order.ID, "operation", op.ID, "trade", tr.id, "qty", tr.Quantity, "price", tr.Price)
			continue
		}
		if tr.Quantity > t.pieces-t.filled {
			env.log.Error("trade would overfill the order; ignoring it", "order", t.order.ID, "operation", op.ID,
				"trade", tr.id, "qty", tr.Quantity, "filled", t.filled, "ordered", t.pieces)
			continue
		}
		t.filled += tr.Quantity
		amount := tr.Price * float64(tr.Quantity)
		if env.applied != nil && env.applied(tr.id) {
			// Reported before a restart: count it, and its share of the
			// commission, but do not report it again.
			if total > 0 {
				t.commission += opCommission * amount / total
			}
			continue
		}
		at := tr.at
		if at.IsZero() {
			at = env.now
		}
		events = append(events, tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: t.order.ID, ExecID: tr.id,
			Qty: float64(tr.Quantity), Price: tr.Price, Time: at})
		amounts = append(amounts, amount)
	}
	if len(events) > 0 {
		delta := max(0, opCommission-t.commission)
		t.commission += delta
		shareCommission(events, amounts, delta)
	}
	return events
}

// shareCommission spreads commission over fills by amount, rounded to 1e-6;
// the last fill takes the rounding remainder so the sum is exact.
func shareCommission(events []tvbridge.VenueEvent, amounts []float64, commission float64) {
	var total, given float64
	for _, a := range amounts {
		total += a
	}
	for i := range events {
		if i == len(events)-1 || total <= 0 {
			events[i].Commission = round6(commission - given)
			given = commission
			continue
		}
		c := round6(commission * amounts[i] / total)
		events[i].Commission = c
		given += c
	}
}

// settle decides whether the order is done: filled, or missing from
// /orders for a reason good enough to report it cancelled (or rejected).
func (t *trackedOrder) settle(op *opView, matched bool, env reconcileEnv) (*tvbridge.VenueEvent, bool) {
	if t.filled >= t.pieces {
		return nil, true // the fills said it all
	}
	if t.present || (t.opID == "" && !matched) {
		return nil, false
	}
	ev := &tvbridge.VenueEvent{Kind: tvbridge.VenueCancelled, OrderID: t.order.ID, Time: env.now}
	progress := fmt.Sprintf("%d of %d filled", t.filled, t.pieces)
	opClosed := op != nil && !strings.EqualFold(op.Status, "Progress")
	// When the upstream said more was executed than the operations show,
	// they are behind: wait longer before giving up on those fills.
	lagging := t.filled < t.executed
	wait := env.grace
	if lagging {
		wait *= lagGraceFactor
	}
	switch {
	case opClosed && strings.EqualFold(op.Status, "Decline") && t.filled == 0:
		ev.Kind, ev.Reason = tvbridge.VenueRejected, "Tinkoff declined the order"
	case opClosed:
		ev.Reason = "Tinkoff closed the order with " + progress
	case op == nil && t.cancelAcked && !lagging:
		ev.Reason = "cancelled on Tinkoff with " + progress
	case env.now.Sub(t.missingSince) >= wait:
		ev.Reason = "the order is no longer active on Tinkoff, " + progress
		env.log.Warn("order vanished without all fills found; reporting it cancelled", "order", t.order.ID,
			"tinkoffOrder", t.ref, "filled", t.filled, "executed", t.executed, "ordered", t.pieces, "operation", t.opID)
	default:
		return nil, false // operations may lag behind orders
	}
	return ev, true
}

// opView is a Buy or Sell operation with its date parsed.
type opView struct {
	wire.Operation
	date time.Time
	buy  bool
}

// trade is an operation's trade with its ExecID and parsed date (zero when
// unparsable).
type trade struct {
	wire.OperationTrade
	id string
	at time.Time
}

// tradeOperations indexes the operations that are order executions.
func tradeOperations(ops []wire.Operation, log *slog.Logger) map[string]*opView {
	out := make(map[string]*opView)
	for _, op := range ops {
		var buy bool
		switch op.OperationType {
		case "Buy", "BuyCard":
			buy = true
		case "Sell":
		default:
			continue
		}
		date, err := time.Parse(time.RFC3339Nano, op.Date)
		if op.ID == "" || err != nil {
			log.Warn("ignoring an operation without id or date", "operation", op.ID, "date", op.Date)
			continue
		}
		out[op.ID] = &opView{Operation: op, date: date, buy: buy}
	}
	return out
}

// sortedTrades returns the trades oldest first, each with its ExecID: the
// trade id, or the operation id and position when the trade has none.
func (op *opView) sortedTrades() []trade {
	out := make([]trade, len(op.Trades))
	for i, tr := range op.Trades {
		out[i] = trade{OperationTrade: tr, id: tr.TradeID}
		if tr.TradeID == "" {
			out[i].id = op.ID + "#" + strconv.Itoa(i)
		}
		if at, err := time.Parse(time.RFC3339Nano, tr.Date); err == nil {
			out[i].at = at
		}
	}
	slices.SortStableFunc(out, func(a, b trade) int { return a.at.Compare(b.at) })
	return out
}

// wellFormed reports whether a trade has a positive quantity and price.
func wellFormed(tr wire.OperationTrade) bool {
	return tr.Quantity > 0 && tr.Price > 0 && !math.IsInf(tr.Price, 0)
}

func tradesAmount(trades []wire.OperationTrade) float64 {
	var sum float64
	for _, tr := range trades {
		if wellFormed(tr) {
			sum += tr.Price * float64(tr.Quantity)
		}
	}
	return sum
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
