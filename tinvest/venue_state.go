package tinvest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// finalOrder is an order reported final: when, and its order id.
type finalOrder struct {
	at  time.Time
	ref string
}

// tracked is one generation of a core order that the venue follows until
// it is final. Its fields are guarded by Venue.mu.
type tracked struct {
	order      tvbridge.VenueOrder // the core's view; order.ID names the events
	account    string
	key        string // the idempotency key
	exchangeID string // the service's order id, once known
	lot        int64  // units per lot
	lotKnown   bool   // lot is the instrument's (else 1 until a state gives it)
	units      int64  // ordered units
	filled     int64  // units reported as fills
	executed   int64  // units the service says are executed (the most seen)
	seen       map[string]bool
	commission float64 // commission booked in reported fills
	// rate is the broker's commission per unit of money, estimated from
	// the placement answer (initialCommission / initialOrderPrice); the
	// stream's states carry no commission, so their fills are booked at
	// this rate.
	rate          float64
	inflight      int  // placing calls (PostOrder, ReplaceOrder) waiting for an answer
	unconfirmed   bool // a placing call had no answer: the order may or may not exist
	restored      bool // handed over by Restore
	cancelSent    bool
	notFoundSince time.Time
	seq           uint64
	// held are events kept back while a placing call is in flight: the
	// stream's fills of an order that fills at once often come before
	// PostOrder's answer, which has the commission they are booked with.
	held []heldEvent
}

// heldEvent is an event kept back; pending: a fill whose commission is
// still to be set.
type heldEvent struct {
	ev      tvbridge.VenueEvent
	amount  float64
	pending bool
}

// ids returns how the service's calls name the order: its order id, or its
// idempotency key until the order id is known. Callers hold Venue.mu.
func (t *tracked) ids() (string, wire.OrderIDType) {
	if t.exchangeID != "" {
		return t.exchangeID, ""
	}
	return t.key, wire.OrderIDTypeRequest
}

// idsOf is t.ids under the lock, with the order id alone.
func (v *Venue) idsOf(t *tracked) (id string, idType wire.OrderIDType, exchangeID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id, idType = t.ids()
	return id, idType, t.exchangeID
}

func (t *tracked) progress() string {
	return fmt.Sprintf("%d of %d filled", t.filled, t.units)
}

// beginSubmit tracks an order before it is placed, under its key, so that
// stream states arriving before the placing call's answer find it.
func (v *Venue) beginSubmit(account string, o tvbridge.VenueOrder, key string, inst tvbridge.Instrument, lots int64) *tracked {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.orders[key]
	if t == nil {
		t = v.newTrackedLocked(account, o, key)
	}
	t.order.ID, t.order.FIGI, t.order.Side, t.order.Type, t.order.Qty, t.order.Limit = o.ID, o.FIGI, o.Side, o.Type, o.Qty, o.Limit
	t.lot, t.lotKnown = int64(max(inst.Lot, 1)), true
	t.units = lots * t.lot
	t.inflight++
	return t
}

// endSubmit ends a placing call that failed. maybePlaced: the call had no
// answer, so the order may exist; it stays followed by its key (a poll
// finds it, or after NotFoundGrace reports it rejected).
func (v *Venue) endSubmit(t *tracked, maybePlaced bool) {
	if maybePlaced {
		defer v.kickPoll()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	t.inflight--
	if t.inflight == 0 {
		v.flushHeldLocked(t, 0)
	}
	switch {
	case maybePlaced:
		t.unconfirmed = true
		t.notFoundSince = time.Time{}
		v.urgent[t.key] = true
	case t.inflight == 0 && t.exchangeID == "" && v.orders[t.key] == t:
		delete(v.orders, t.key) // refused: there is no such order
	}
}

// placed records a placing call's answer and returns the VenueRef.
func (v *Venue) placed(t *tracked, r wire.PostOrderResponse) string {
	v.mu.Lock()
	t.inflight--
	t.unconfirmed = false
	v.setExchangeIDLocked(t, r.OrderID)
	t.order.VenueRef = r.OrderID
	if ic, ip := r.InitialCommission.Float64(), r.InitialOrderPrice.Float64(); ic > 0 && ip > 0 {
		t.rate = ic / ip
	}
	if t.inflight == 0 {
		v.flushHeldLocked(t, r.ExecutedCommission.Float64())
	}
	soon := r.LotsExecuted > 0 || r.ExecutionReportStatus.Final()
	if soon && v.orders[t.key] == t {
		v.urgent[t.key] = true // its fills are there to be read
	}
	v.mu.Unlock()
	if soon {
		v.kickPoll()
	}
	return r.OrderID
}

// adopt returns the tracked order of o, tracking it first if needed (an
// order of a previous run being restored or cancelled).
func (v *Venue) adopt(account string, o tvbridge.VenueOrder, restored bool) *tracked {
	key := v.key(account, o.ID)
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.orders[key]
	if t == nil && o.VenueRef != "" {
		t = v.byExchange[o.VenueRef]
	}
	if t != nil {
		t.order.ID = o.ID
		if t.exchangeID == "" && o.VenueRef != "" {
			v.setExchangeIDLocked(t, o.VenueRef)
		}
		return t
	}
	t = v.newTrackedLocked(account, o, key)
	t.restored = restored
	t.lot = 1
	if inst, ok := v.cfg.Instrument(o.FIGI); ok {
		t.lot, t.lotKnown = int64(max(inst.Lot, 1)), true
	}
	// o.Qty is this generation's whole quantity in units, as Submit had it.
	t.units = int64(math.Round(o.Qty))
	v.setExchangeIDLocked(t, o.VenueRef)
	return t
}

func (v *Venue) newTrackedLocked(account string, o tvbridge.VenueOrder, key string) *tracked {
	v.seq++
	t := &tracked{order: o, account: account, key: key, seen: make(map[string]bool), seq: v.seq}
	v.orders[key] = t
	return t
}

func (v *Venue) setExchangeIDLocked(t *tracked, id string) {
	if id == "" || t.exchangeID == id {
		return
	}
	if t.exchangeID != "" && v.byExchange[t.exchangeID] == t {
		delete(v.byExchange, t.exchangeID)
	}
	t.exchangeID = id
	v.byExchange[id] = t
}

// fetchSoon asks the poller to fetch the order's state now.
func (v *Venue) fetchSoon(key string) {
	v.mu.Lock()
	if v.orders[key] != nil {
		v.urgent[key] = true
	}
	v.mu.Unlock()
	v.kickPoll()
}

// finishLocked stops following an order reported final.
func (v *Venue) finishLocked(t *tracked, now time.Time) {
	if v.orders[t.key] == t {
		delete(v.orders, t.key)
	}
	if t.exchangeID != "" && v.byExchange[t.exchangeID] == t {
		delete(v.byExchange, t.exchangeID)
		v.done[t.exchangeID] = finalOrder{at: now, ref: t.exchangeID}
	}
	v.done[t.key] = finalOrder{at: now, ref: t.exchangeID}
	delete(v.urgent, t.key)
}

// lookupLocked finds the tracked order a state describes: by its key, else
// by its order id.
func (v *Venue) lookupLocked(key, exchangeID string) *tracked {
	if key != "" {
		if t := v.orders[key]; t != nil {
			return t
		}
	}
	if exchangeID != "" {
		return v.byExchange[exchangeID]
	}
	return nil
}

// orderView is an order's state as the stream or a poll reports it.
type orderView struct {
	source       string // "stream" or "poll", for logs
	exchangeID   string
	key          string
	status       wire.OrderExecutionReportStatus
	lotsExecuted int64
	lotSize      int64 // 0 when not given
	trades       []viewTrade
	tradesInLots bool // a poll's stages count lots; the stream's trades count units
	// complete: trades are all the order's fills (a poll's stages), not
	// only the latest (a stream state).
	complete      bool
	commission    float64 // executed commission so far, when hasCommission
	hasCommission bool
	avgPrice      float64 // average fill price per unit; 0 when unknown
	rate          float64 // commission per unit of money at placement; 0 when unknown
	info          string  // the stream's statusInfo
}

type viewTrade struct {
	id    string
	qty   int64
	price float64
	at    time.Time
}

// streamView reads a stream state.
func streamView(s *wire.StreamOrderState) orderView {
	view := orderView{source: "stream", exchangeID: s.OrderID, key: s.OrderRequestID, status: s.ExecutionReportStatus,
		lotsExecuted: int64(s.LotsExecuted), lotSize: int64(s.LotSize), info: s.StatusInfo}
	for _, tr := range s.Trades {
		view.trades = append(view.trades, viewTrade{id: tr.TradeID, qty: int64(tr.Quantity), price: tr.Price.Float64(), at: tr.DateTime.Time})
	}
	return view
}

// stateView reads a polled state (GetOrders, GetOrderState).
func stateView(st wire.OrderState) orderView {
	view := orderView{source: "poll", exchangeID: st.OrderID, key: st.OrderRequestID, status: st.ExecutionReportStatus,
		lotsExecuted: int64(st.LotsExecuted), tradesInLots: true, complete: true,
		commission: math.Abs(st.ExecutedCommission.Float64()), hasCommission: true,
		avgPrice: st.AveragePositionPrice.Float64()}
	if ic, ip := st.InitialCommission.Float64(), st.InitialOrderPrice.Float64(); ic > 0 && ip > 0 {
		view.rate = ic / ip
	}
	for _, s := range st.Stages {
		view.trades = append(view.trades, viewTrade{id: s.TradeID, qty: int64(s.Quantity), price: s.Price.Float64(), at: s.ExecutionTime.Time})
	}
	return view
}

// applyLocked turns a state of t into events, pushes them, and reports
// whether t needs a poll of its state (a final stream state whose fills
// were not all seen). Fills are deduplicated by trade id, so a fill seen
// on the stream and again in a poll is reported once.
func (v *Venue) applyLocked(t *tracked, view orderView, now time.Time) (needState bool) {
	v.setExchangeIDLocked(t, view.exchangeID)
	if t.exchangeID != "" {
		t.order.VenueRef = t.exchangeID
	}
	if view.lotSize > 0 && !t.lotKnown {
		t.lot, t.lotKnown = view.lotSize, true
	}
	t.notFoundSince, t.unconfirmed = time.Time{}, false
	t.executed = max(t.executed, view.lotsExecuted*t.lot)

	if t.rate == 0 {
		t.rate = view.rate
	}
	if view.hasCommission && view.commission > 0 && t.rate == 0 {
		// No placement answer to estimate the rate from (a restored
		// order): the executed commission tells it.
		var amount float64
		for _, tr := range view.trades {
			amount += tr.price * float64(tr.qty)
		}
		if view.tradesInLots {
			amount *= float64(t.lot)
		}
		if amount > 0 {
			t.rate = view.commission / amount
		}
	}
	var events []tvbridge.VenueEvent
	var amounts []float64
	trades := slices.Clone(view.trades)
	slices.SortStableFunc(trades, func(a, b viewTrade) int { return a.at.Compare(b.at) })
	for i, tr := range trades {
		id, real := tr.id, tr.id != ""
		if !real {
			// Without a trade id only the state's own position names it; a
			// fill named so is never counted beyond what is executed.
			id = syntheticTradeID(t, view, i, tr)
		}
		if t.seen[id] {
			continue
		}
		t.seen[id] = true
		units := tr.qty
		if view.tradesInLots {
			units *= t.lot
		}
		if units <= 0 || !(tr.price > 0) || math.IsInf(tr.price, 0) {
			v.log.Warn("ignoring a malformed trade", "order", t.order.ID, "tinvest_order", t.exchangeID, "trade", id,
				"qty", tr.qty, "price", tr.price, "source", view.source)
			continue
		}
		limit := t.units
		if !real {
			limit = min(limit, t.executed)
		}
		if t.filled+units > limit {
			v.log.Error("trade would fill more than the order; ignoring it", "order", t.order.ID, "tinvest_order", t.exchangeID,
				"trade", id, "units", units, "filled", t.filled, "ordered", t.units, "executed", t.executed, "source", view.source)
			continue
		}
		t.filled += units
		at := tr.at
		if at.IsZero() {
			at = now
		}
		events = append(events, tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: t.order.ID, ExecID: id,
			Qty: float64(units), Price: tr.price, Time: at})
		amounts = append(amounts, tr.price*float64(units))
	}

	final := view.status.Final()
	if final && t.executed > t.filled {
		if !view.complete {
			// The stream's final state did not carry every fill: a poll
			// of the order's stages will.
			v.pushLocked(t, events, amounts, view)
			return true
		}
		missing := min(t.executed, t.units) - t.filled
		if missing > 0 && view.avgPrice > 0 {
			v.log.Warn("the order's fills are not all listed; booking the rest at its average price", "order", t.order.ID,
				"tinvest_order", t.exchangeID, "units", missing, "price", view.avgPrice)
			t.filled += missing
			events = append(events, tvbridge.VenueEvent{Kind: tvbridge.VenueFill, OrderID: t.order.ID,
				ExecID: t.exchangeID + "#rest" + strconv.FormatInt(t.filled, 10), Qty: float64(missing), Price: view.avgPrice, Time: now})
			amounts = append(amounts, view.avgPrice*float64(missing))
		} else if missing > 0 {
			v.log.Error("the order's fills are not all listed and its average price is unknown; they are not booked",
				"order", t.order.ID, "tinvest_order", t.exchangeID, "units", missing)
		}
	}
	v.pushLocked(t, events, amounts, view)
	if !final {
		return false
	}
	if t.filled < t.units {
		ev := tvbridge.VenueEvent{Kind: tvbridge.VenueCancelled, OrderID: t.order.ID, Time: now, Reason: endReason(t, view)}
		if view.status == wire.ExecutionReportStatusRejected && t.filled == 0 {
			ev.Kind = tvbridge.VenueRejected
		}
		v.emitLocked(t, heldEvent{ev: ev})
		v.log.Info("order ended", "order", t.order.ID, "tinvest_order", t.exchangeID, "status", view.status,
			"filled", t.filled, "ordered", t.units, "source", view.source)
	}
	v.finishLocked(t, now)
	return false
}

// pushLocked books the commission of new fills and queues them: the share
// of a poll's executed commission, or the estimate at the placement's rate
// for the stream's, which carry none; while the order is being placed the
// stream's fills wait for the placing answer's commission.
func (v *Venue) pushLocked(t *tracked, events []tvbridge.VenueEvent, amounts []float64, view orderView) {
	if len(events) == 0 {
		return
	}
	pending := false
	switch {
	case view.hasCommission:
		delta := max(0, view.commission-t.commission)
		t.commission += delta
		shareCommission(events, amounts, delta)
	case t.inflight > 0:
		pending = true
	case t.rate > 0:
		for i := range events {
			events[i].Commission = round6(t.rate * amounts[i])
			t.commission += events[i].Commission
		}
	}
	for i, ev := range events {
		v.emitLocked(t, heldEvent{ev: ev, amount: amounts[i], pending: pending})
	}
}

// emitLocked queues an event, or holds it behind the ones held.
func (v *Venue) emitLocked(t *tracked, h heldEvent) {
	if h.pending || len(t.held) > 0 {
		t.held = append(t.held, h)
		return
	}
	v.queue.Push(h.ev)
}

// flushHeldLocked queues the held events once the placing call answered:
// the pending fills share the answer's executed commission (beyond what
// is booked), or are booked at the placement's rate.
func (v *Venue) flushHeldLocked(t *tracked, executedCommission float64) {
	if len(t.held) == 0 {
		return
	}
	var idx []int
	var events []tvbridge.VenueEvent
	var amounts []float64
	for i, h := range t.held {
		if h.pending {
			idx = append(idx, i)
			events = append(events, h.ev)
			amounts = append(amounts, h.amount)
		}
	}
	if len(events) > 0 {
		if c := math.Abs(executedCommission); c > t.commission {
			shareCommission(events, amounts, c-t.commission)
		} else {
			for i := range events {
				events[i].Commission = round6(t.rate * amounts[i])
			}
		}
		for i, j := range idx {
			t.commission += events[i].Commission
			t.held[j].ev = events[i]
		}
	}
	for _, h := range t.held {
		v.queue.Push(h.ev)
	}
	t.held = nil
}

// syntheticTradeID names a trade the service gave no id.
func syntheticTradeID(t *tracked, view orderView, i int, tr viewTrade) string {
	if view.complete {
		return fmt.Sprintf("%s#%d", cmp.Or(t.exchangeID, t.key), i)
	}
	return fmt.Sprintf("%s@%d:%d@%v", cmp.Or(t.exchangeID, t.key), tr.at.UnixNano(), tr.qty, tr.price)
}

// endReason says, in English, why an order ended with units unfilled.
func endReason(t *tracked, view orderView) string {
	why := ""
	if info := strings.TrimSpace(view.info); info != "" && !strings.HasSuffix(info, "UNSPECIFIED") {
		why = " (" + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(info, "CAUSE_"), "_", " ")) + ")"
	}
	switch view.status {
	case wire.ExecutionReportStatusRejected:
		return "T-Invest rejected the order" + why + ", " + t.progress()
	case wire.ExecutionReportStatusFill:
		return "T-Invest reports the order filled with " + t.progress()
	}
	if t.cancelSent && why == "" {
		return "cancelled on T-Invest with " + t.progress()
	}
	return "T-Invest cancelled the order" + why + " with " + t.progress()
}

// notFoundLocked handles a NOT_FOUND answer for t's state.
func (v *Venue) notFoundLocked(t *tracked, now time.Time) {
	if t.inflight > 0 {
		return // being placed: not there yet
	}
	grace := v.cfg.NotFoundGrace
	if t.restored && t.exchangeID == "" {
		grace = v.cfg.RestoreGrace // the old process's PostOrder may still land
	}
	if t.notFoundSince.IsZero() {
		t.notFoundSince = now
	}
	if now.Sub(t.notFoundSince) < grace {
		v.urgent[t.key] = true // asked again every round until the grace is over
		return
	}
	ev := tvbridge.VenueEvent{Kind: tvbridge.VenueCancelled, OrderID: t.order.ID, Time: now}
	switch {
	case t.exchangeID == "" && t.restored:
		ev.Kind = tvbridge.VenueRejected
		ev.Reason = "T-Invest has no order with this order's idempotency key: tvbridge stopped while placing it, before it was placed"
	case t.exchangeID == "":
		ev.Kind = tvbridge.VenueRejected
		ev.Reason = "placing the order had no answer, and T-Invest has no order with its idempotency key"
	default:
		ev.Reason = "T-Invest no longer knows order " + t.exchangeID + ", " + t.progress() + "; check the account"
		v.log.Warn("order unknown to T-Invest; reporting it cancelled", "order", t.order.ID, "tinvest_order", t.exchangeID,
			"filled", t.filled, "ordered", t.units)
	}
	if ev.Kind == tvbridge.VenueRejected && t.filled > 0 {
		ev.Kind = tvbridge.VenueCancelled
	}
	v.emitLocked(t, heldEvent{ev: ev})
	v.finishLocked(t, now)
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

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
