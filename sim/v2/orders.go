package v2sim

import (
	"fmt"
	"math"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// Orders fill against the model, as the v1 simulator's do:
//   - a market (or best-price) order walks the model's book at the clock's
//     now, best level first; what the book cannot absorb fills at its last
//     level;
//   - a limit order takes the levels at or better than its price at once
//     and rests with the rest (FILL_AND_KILL cancels the rest,
//     FILL_OR_KILL cancels the whole order unless the book fills it all);
//   - a resting order fills at its own price on each later model trade that
//     trades through it (strictly better), up to that trade's lots, and is
//     cancelled by the exchange when the session ends (TIME_IN_FORCE_DAY).
//     Resting orders are checked on every tick and every request that
//     touches the account.
//
// No shorts and no margin: a buy needs its cost plus commission in cash
// not reserved by resting buys, a sell needs the units not reserved by
// resting sells. Every change of an order goes to OrderStateStream.

type order struct {
	id, key    string
	acct       *account
	inst       *instrument
	buy, limit bool
	typ        wire.OrderType
	tif        wire.TimeInForceType
	price      float64 // limit price per unit; a market order's estimate
	lots       int64
	executed   int64
	status     wire.OrderExecutionReportStatus
	info       string // statusInfo of the last change
	placed     time.Time
	checked    time.Time // resting fills were looked for up to here
	completed  time.Time
	fills      []fillRec
	amount     float64 // executed money
	commission float64
	op, fee    *operation
}

// fillRec is one execution of an order.
type fillRec struct {
	id    string
	price float64
	lots  int64
	at    time.Time
}

func (o *order) active() bool {
	return o.status == wire.ExecutionReportStatusNew || o.status == wire.ExecutionReportStatusPartiallyFill
}

func (o *order) direction() wire.OrderDirection {
	if o.buy {
		return wire.OrderDirectionBuy
	}
	return wire.OrderDirectionSell
}

func (o *order) units(lots int64) int64 { return lots * int64(max(o.inst.Lot, 1)) }

// maxKey is the idempotency key's longest length.
const maxKey = 36

// post places an order, or returns the order already placed under its key.
func (b *broker) post(a *account, req *wire.PostOrderRequest, now time.Time) (*order, error) {
	if req.OrderID == "" || len(req.OrderID) > maxKey {
		return nil, invalid(codeBadRequest, "orderId (the idempotency key) must have 1 to %d characters", maxKey)
	}
	if o := a.byKey[req.OrderID]; o != nil {
		return o, nil
	}
	in, ok := b.cat.lookup(req.InstrumentID)
	if !ok {
		return nil, notFound(codeInstrumentNotFound, "instrument not found: %q", req.InstrumentID)
	}
	o := &order{key: req.OrderID, acct: a, inst: in, typ: req.OrderType, tif: req.TimeInForce, lots: int64(req.Quantity),
		status: wire.ExecutionReportStatusNew, placed: now, checked: now}
	if err := b.validate(o, req.Direction, req.Price, now); err != nil {
		return nil, err
	}
	return o, b.place(o, now)
}

// validate fills in the order's side, type and price, refusing what the
// service refuses.
func (b *broker) validate(o *order, dir wire.OrderDirection, price *wire.Quotation, now time.Time) error {
	if o.lots <= 0 {
		return invalid(codeQtyPositive, "quantity must be positive")
	}
	switch dir {
	case wire.OrderDirectionBuy, wire.OrderDirectionSell:
		o.buy = dir == wire.OrderDirectionBuy
	default:
		return invalid(codeBadRequest, "direction %q is not BUY or SELL", dir)
	}
	switch o.typ {
	case wire.OrderTypeLimit:
		o.limit = true
	case wire.OrderTypeMarket, wire.OrderTypeBestPrice:
	default:
		return invalid(codeBadRequest, "orderType %q is not LIMIT, MARKET or BESTPRICE", o.typ)
	}
	switch o.tif {
	case "", wire.TimeInForceUnspecified:
		o.tif = wire.TimeInForceDay
	case wire.TimeInForceDay, wire.TimeInForceFillAndKill, wire.TimeInForceFillOrKill:
	default:
		return invalid(codeBadRequest, "timeInForce %q is not supported", o.tif)
	}
	if st := b.m.Status(o.inst.FIGI, now); !st.Trading() {
		return invalid(codeNotAvailable, "instrument %s is not available for trading now (%s)", o.inst.Ticker, v2Status(st))
	}
	if !o.limit {
		return nil
	}
	if price == nil || price.Sign() <= 0 {
		return invalid(codePricePositive, "the price must be positive")
	}
	if !wire.OnTick(*price, o.inst.tick) {
		return invalid(wire.ErrPriceNotOnTick, "price %s is not a multiple of the price step %s", price, o.inst.tick)
	}
	o.price = price.Float64()
	info := b.m.Info(o.inst.FIGI, now)
	if (o.buy && info.LimitUp != 0 && o.price > info.LimitUp) || (!o.buy && info.LimitDown != 0 && o.price < info.LimitDown) {
		return invalid(codeOutsideLimits, "price %s is outside the limits %v..%v", price, info.LimitDown, info.LimitUp)
	}
	return nil
}

// place checks the funds, records the order and fills what the book
// allows now.
func (b *broker) place(o *order, now time.Time) error {
	book := b.m.OrderBook(o.inst.FIGI, now, 50)
	fills, left := walk(book, o.buy, o.lots, func(p float64) bool {
		return !o.limit || (o.buy && p <= o.price) || (!o.buy && p >= o.price)
	})
	if !o.limit {
		if len(fills) == 0 {
			return invalid(codeNotAvailable, "no liquidity for %s", o.inst.Ticker)
		}
		if left > 0 {
			fills = append(fills, fill{price: fills[len(fills)-1].price, lots: left})
			left = 0
		}
		var sum float64
		for _, f := range fills {
			sum += f.price * float64(f.lots)
		}
		o.price = sum / float64(o.lots)
	}
	if o.tif == wire.TimeInForceFillOrKill && left > 0 {
		fills = nil // nothing trades unless everything does
	}
	resting := fill{price: o.price, lots: left}
	if o.tif != wire.TimeInForceDay {
		resting.lots = 0
	}
	if err := b.checkFunds(o, fills, resting); err != nil {
		return err
	}
	a := o.acct
	o.id = fmt.Sprintf("%d", 40000000000+b.nextID())
	a.orders = append(a.orders, o)
	a.byKey[o.key], a.byOrderID[o.id] = o, o
	b.publish(o, nil, now)
	var done []fillRec
	for _, f := range fills {
		done = append(done, b.execute(o, f, now))
	}
	switch {
	case o.executed == o.lots:
	case o.tif != wire.TimeInForceDay:
		b.finish(o, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_EXCHANGE", now)
	}
	if len(done) > 0 || !o.active() {
		b.publish(o, done, now)
	}
	return nil
}

// fill is a part of an order executed at one price.
type fill struct {
	price float64
	lots  int64
}

// walk takes lots from the side of the book an order trades against, best
// level first, while ok accepts the level's price.
func walk(book tvbridge.OrderBook, buy bool, lots int64, ok func(float64) bool) ([]fill, int64) {
	side := book.Bids
	if buy {
		side = book.Asks
	}
	var out []fill
	for _, l := range side {
		if lots == 0 || !ok(l.Price) {
			break
		}
		n := min(lots, int64(l.Quantity))
		if n <= 0 {
			continue
		}
		out = append(out, fill{price: l.Price, lots: n})
		lots -= n
	}
	return out, lots
}

// checkFunds refuses an order the account cannot pay for or deliver.
func (b *broker) checkFunds(o *order, fills []fill, resting fill) error {
	a := o.acct
	if !o.buy {
		need := o.units(o.lots)
		if have := a.availableUnits(o.inst.FIGI); need > have {
			return invalid(b.fundsCode(a), "not enough %s to sell: need %d, have %d", o.inst.Ticker, need, have)
		}
		return nil
	}
	var cost float64
	for _, f := range append(fills, resting) {
		amount := round6(f.price * float64(o.units(f.lots)))
		cost += amount + cents(b.commission*amount)
	}
	cur := strings.ToUpper(o.inst.Currency)
	if have := round6(a.cash[cur] - b.blockedCash(a, cur)); round6(cost) > have {
		return invalid(b.fundsCode(a), "not enough money: need %v %s, have %v", round6(cost), cur, have)
	}
	return nil
}

func (b *broker) fundsCode(a *account) string {
	if a.sandbox {
		return codeNotEnoughBalance
	}
	return codeNotEnoughMargin
}

// execute applies one fill to the account, the order and its operations.
func (b *broker) execute(o *order, f fill, at time.Time) fillRec {
	a, in := o.acct, o.inst
	units := o.units(f.lots)
	amt := round6(f.price * float64(units))
	fee := cents(b.commission * amt)
	cur := strings.ToUpper(in.Currency)
	p := a.positions[in.FIGI]
	if p == nil {
		p = &position{inst: in}
		a.positions[in.FIGI] = p
	}
	if o.buy {
		a.cash[cur] = round6(a.cash[cur] - amt - fee)
		p.qty += units
		p.cost = round6(p.cost + amt)
	} else {
		a.cash[cur] = round6(a.cash[cur] + amt - fee)
		p.cost = round6(p.cost - p.cost/float64(p.qty)*float64(units))
		p.qty -= units
	}
	if p.qty == 0 {
		delete(a.positions, in.FIGI)
	}
	rec := fillRec{id: fmt.Sprintf("%d", 7000000000+b.nextID()), price: f.price, lots: f.lots, at: at}
	o.executed += f.lots
	o.amount = round6(o.amount + amt)
	o.commission = cents(o.commission + fee)
	o.fills = append(o.fills, rec)
	o.status, o.info = wire.ExecutionReportStatusPartiallyFill, ""
	b.record(o, rec, units, amt, fee)
	if o.executed == o.lots {
		o.status, o.completed = wire.ExecutionReportStatusFill, at
		o.op.state = wire.OperationStateExecuted
		o.fee.state = wire.OperationStateExecuted
	}
	return rec
}

// record adds a fill to the order's operation and its fee, created on the
// first fill.
func (b *broker) record(o *order, rec fillRec, units int64, amt, fee float64) {
	a, cur := o.acct, strings.ToUpper(o.inst.Currency)
	if o.op == nil {
		typ := wire.OperationTypeSell
		if o.buy {
			typ = wire.OperationTypeBuy
		}
		o.op = &operation{id: b.opID(), typ: typ, state: wire.OperationStateProgress, date: o.placed, inst: o.inst,
			currency: cur, qty: o.units(o.lots)}
		o.fee = &operation{id: b.opID(), parent: o.op.id, typ: wire.OperationTypeBrokerFee,
			state: wire.OperationStateProgress, date: o.placed, inst: o.inst, currency: cur}
		a.ops = append(a.ops, o.op, o.fee)
	}
	op := o.op
	op.trades = append(op.trades, wire.OperationTrade{TradeID: rec.id, DateTime: wire.At(rec.at),
		Quantity: wire.Int64(units), Price: money(cur, rec.price)})
	if o.buy {
		amt = -amt
	}
	op.payment = round6(op.payment + amt)
	op.rest = op.qty - o.units(o.executed)
	op.price = round6(math.Abs(op.payment) / float64(o.units(o.executed)))
	o.fee.payment = cents(o.fee.payment - fee)
}

// finish moves an active order to a final status.
func (b *broker) finish(o *order, status wire.OrderExecutionReportStatus, info string, now time.Time) {
	o.status, o.info, o.completed = status, info, now
	if o.op != nil {
		o.op.state = wire.OperationStateExecuted
		o.fee.state = wire.OperationStateExecuted
	}
}

// find looks an order up by its id or (ORDER_ID_TYPE_REQUEST) its key.
func (a *account) find(id string, idType wire.OrderIDType) *order {
	if idType == wire.OrderIDTypeRequest {
		return a.byKey[id]
	}
	return a.byOrderID[id]
}

// cancel cancels an active order; a final one gives 30059.
func (b *broker) cancel(a *account, id string, idType wire.OrderIDType, now time.Time) error {
	o := a.find(id, idType)
	if o == nil {
		return notFound(codeOrderNotFound, "order %s not found", id)
	}
	if !o.active() {
		return invalid(codeCancelError, "cancel order error: order %s is %s", o.id, o.status)
	}
	b.finish(o, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_CLIENT", now)
	b.publish(o, nil, now)
	return nil
}

// replace cancels a resting limit order and places its rest under a new
// key with a new quantity and price; a known key returns its order.
func (b *broker) replace(a *account, req *wire.ReplaceOrderRequest, now time.Time) (*order, error) {
	if req.IdempotencyKey == "" || len(req.IdempotencyKey) > maxKey {
		return nil, invalid(codeBadRequest, "idempotencyKey must have 1 to %d characters", maxKey)
	}
	if o := a.byKey[req.IdempotencyKey]; o != nil {
		return o, nil
	}
	old := a.byOrderID[req.OrderID]
	if old == nil {
		return nil, notFound(codeOrderNotFound, "order %s not found", req.OrderID)
	}
	if !old.active() || !old.limit {
		return nil, invalid(codeCancelError, "order %s cannot be replaced: %s", old.id, old.status)
	}
	price := req.Price
	if price == nil {
		q := old.inst.price(old.price)
		price = &q
	}
	o := &order{key: req.IdempotencyKey, acct: a, inst: old.inst, typ: wire.OrderTypeLimit, tif: wire.TimeInForceDay,
		lots: int64(req.Quantity), status: wire.ExecutionReportStatusNew, placed: now, checked: now}
	// The old order's reservation is released before the new one is checked.
	b.finish(old, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_CLIENT", now)
	if err := b.validate(o, old.direction(), price, now); err != nil {
		old.status, old.info, old.completed = wire.ExecutionReportStatusNew, "", time.Time{}
		if old.executed > 0 {
			old.status = wire.ExecutionReportStatusPartiallyFill
		}
		return nil, err
	}
	if err := b.place(o, now); err != nil {
		old.status, old.info, old.completed = wire.ExecutionReportStatusNew, "", time.Time{}
		if old.executed > 0 {
			old.status = wire.ExecutionReportStatusPartiallyFill
		}
		return nil, err
	}
	b.publish(old, nil, now)
	return o, nil
}

// settleAll fills the resting orders of every account up to now.
func (b *broker) settleAll(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.byID {
		b.settle(a, now)
	}
}

// settle fills resting limit orders that model trades in (checked, now)
// traded through, and cancels those whose session ended.
func (b *broker) settle(a *account, now time.Time) {
	for _, o := range a.orders {
		if !o.active() || !o.limit || !o.checked.Before(now) {
			continue
		}
		done := b.checkResting(o, now)
		if o.active() && b.m.Status(o.inst.FIGI, now) == tvbridge.StatusNotAvailableForTrading {
			b.finish(o, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_EXCHANGE", now)
		}
		if len(done) > 0 || !o.active() {
			b.publish(o, done, now)
		}
	}
}

func (b *broker) checkResting(o *order, now time.Time) []fillRec {
	from := o.checked
	o.checked = now
	var done []fillRec
	for minute := from.Truncate(time.Minute); minute.Before(now); minute = minute.Add(time.Minute) {
		for _, tr := range b.m.MinuteTrades(o.inst.FIGI, minute) {
			if !tr.Time.Before(now) {
				return done
			}
			if !tr.Time.After(from) || !o.tradesThrough(tr.Price) {
				continue
			}
			done = append(done, b.execute(o, fill{price: o.price, lots: min(tr.Lots, o.lots-o.executed)}, tr.Time))
			if !o.active() {
				return done
			}
		}
	}
	return done
}

func (o *order) tradesThrough(price float64) bool {
	if o.buy {
		return price < o.price
	}
	return price > o.price
}

// blockedCash is the cash resting buys in the currency reserve.
func (b *broker) blockedCash(a *account, cur string) float64 {
	var sum float64
	for _, o := range a.orders {
		if o.active() && o.buy && strings.EqualFold(o.inst.Currency, cur) {
			amt := round6(o.price * float64(o.units(o.lots-o.executed)))
			sum += amt + cents(b.commission*amt)
		}
	}
	return round6(sum)
}

// blockedUnits is the holding resting sells of the instrument reserve.
func (a *account) blockedUnits(figi string) int64 {
	var n int64
	for _, o := range a.orders {
		if o.active() && !o.buy && o.inst.FIGI == figi {
			n += o.units(o.lots - o.executed)
		}
	}
	return n
}

func (a *account) availableUnits(figi string) int64 {
	var held int64
	if p := a.positions[figi]; p != nil {
		held = p.qty
	}
	return held - a.blockedUnits(figi)
}

// publish sends an order's state, with the fills of this change, to the
// account's OrderStateStream subscribers.
func (b *broker) publish(o *order, fills []fillRec, now time.Time) {
	b.srv.orders.publish(o.acct.token, o.acct.id, o.streamState(fills, now))
}

// The order's amounts, as v2 spells them.

func (o *order) cur() string { return strings.ToLower(o.inst.Currency) }

func (o *order) initialOrderPrice() float64 { return round6(o.price * float64(o.units(o.lots))) }

func (o *order) avgPrice() float64 {
	if o.executed == 0 {
		return 0
	}
	return round6(o.amount / float64(o.units(o.executed)))
}

func (o *order) initialCommission(rate float64) float64 { return cents(rate * o.initialOrderPrice()) }

// state is the order as GetOrderState and GetOrders report it; stages in
// lots.
func (o *order) state(rate float64) wire.OrderState {
	st := wire.OrderState{
		OrderID: o.id, ExecutionReportStatus: o.status, LotsRequested: wire.Int64(o.lots), LotsExecuted: wire.Int64(o.executed),
		InitialOrderPrice: money(o.cur(), o.initialOrderPrice()), ExecutedOrderPrice: money(o.cur(), o.avgPrice()),
		TotalOrderAmount: money(o.cur(), round6(o.amount+o.commission)), AveragePositionPrice: money(o.cur(), o.avgPrice()),
		InitialCommission: money(o.cur(), o.initialCommission(rate)), ExecutedCommission: money(o.cur(), o.commission),
		FIGI: o.inst.FIGI, Direction: o.direction(), InitialSecurityPrice: money(o.cur(), o.price),
		Currency: o.cur(), OrderType: o.typ, OrderDate: wire.At(o.placed), InstrumentUID: o.inst.uid,
		OrderRequestID: o.key,
	}
	for _, f := range o.fills {
		st.Stages = append(st.Stages, wire.OrderStage{Price: money(o.cur(), f.price), Quantity: wire.Int64(f.lots),
			TradeID: f.id, ExecutionTime: wire.At(f.at)})
	}
	return st
}

// postResponse is PostOrder's and ReplaceOrder's answer.
func (o *order) postResponse(rate float64, tracking string, now time.Time) wire.PostOrderResponse {
	return wire.PostOrderResponse{
		OrderID: o.id, ExecutionReportStatus: o.status, LotsRequested: wire.Int64(o.lots), LotsExecuted: wire.Int64(o.executed),
		InitialOrderPrice: money(o.cur(), o.initialOrderPrice()), ExecutedOrderPrice: money(o.cur(), o.avgPrice()),
		TotalOrderAmount: money(o.cur(), round6(o.amount+o.commission)), InitialCommission: money(o.cur(), o.initialCommission(rate)),
		ExecutedCommission: money(o.cur(), o.commission), FIGI: o.inst.FIGI, Direction: o.direction(),
		InitialSecurityPrice: money(o.cur(), o.price), OrderType: o.typ, InstrumentUID: o.inst.uid,
		OrderRequestID: o.key, InitialOrderPricePt: amount(o.price),
		ResponseMetadata: &wire.ResponseMetadata{TrackingID: tracking, ServerTime: wire.At(now)},
	}
}

// streamState is the order on OrderStateStream: trades are this change's
// fills, in units.
func (o *order) streamState(fills []fillRec, now time.Time) wire.StreamOrderState {
	st := wire.StreamOrderState{
		OrderID: o.id, OrderRequestID: o.key, CreatedAt: wire.At(o.placed), ExecutionReportStatus: o.status,
		StatusInfo: o.info, Ticker: o.inst.Ticker, ClassCode: o.inst.classCode, LotSize: int32(max(o.inst.Lot, 1)),
		Direction: o.direction(), TimeInForce: o.tif, OrderType: o.typ, AccountID: o.acct.id,
		InitialOrderPrice: money(o.cur(), o.initialOrderPrice()), OrderPrice: money(o.cur(), o.price),
		ExecutedOrderPrice: money(o.cur(), o.avgPrice()), Currency: o.cur(),
		LotsRequested: wire.Int64(o.lots), LotsExecuted: wire.Int64(o.executed), LotsLeft: wire.Int64(o.lots - o.executed),
		Exchange: o.inst.schedule.name, InstrumentUID: o.inst.uid,
	}
	amt := money(o.cur(), o.amount)
	st.Amount = &amt
	if !o.active() {
		st.CompletionTime = wire.At(o.completed)
		if o.status == wire.ExecutionReportStatusCancelled {
			st.LotsCancelled, st.LotsLeft = wire.Int64(o.lots-o.executed), 0
		}
	}
	for _, f := range fills {
		st.Trades = append(st.Trades, wire.OrderTrade{DateTime: wire.At(f.at), Price: o.inst.price(f.price),
			Quantity: wire.Int64(o.units(f.lots)), TradeID: f.id})
	}
	return st
}
