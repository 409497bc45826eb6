package sim

import (
	"fmt"
	"math"
	"time"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

// Order statuses and sides, as the protocol spells them.
const (
	statusNew       = "New"
	statusPartial   = "PartiallyFill"
	statusFill      = "Fill"
	statusCancelled = "Cancelled"
	sideBuy         = "Buy"
	sideSell        = "Sell"
)

// Fills, unlike the real sandbox's "everything at once, market at 100":
//   - a market order walks the model's book at the clock's now, best level
//     first; what the book cannot absorb fills at its last level;
//   - a limit order takes the book levels at or better than its price at
//     once, and the rest rests;
//   - a resting order fills, all of it at its own price, on the first later
//     model trade that trades through that price (strictly better). Resting
//     orders are checked on every request that touches the account and on
//     every emission tick.
//
// Cash and holdings are checked up front, with no shorts: a buy needs its
// cost plus commission in available cash (cash not reserved by resting
// buys), a sell needs the pieces in available holdings.
type order struct {
	id       string
	inst     *market.Instrument
	buy      bool
	limit    bool
	price    float64 // limit price, or the average fill price of a market order
	lots     int
	executed int
	status   string
	placed   time.Time
	checked  time.Time // resting fills have been looked for up to here
	op       *operation
}

func (o *order) active() bool { return o.status == statusNew || o.status == statusPartial }

func (o *order) side() string {
	if o.buy {
		return sideBuy
	}
	return sideSell
}

// fill is a part of an order executed at one price.
type fill struct {
	price float64
	lots  int
}

// orderRequest is a validated order: instrument, side and size.
type orderRequest struct {
	inst  *market.Instrument
	buy   bool
	lots  int
	price float64 // limit orders only
}

// validateOrder checks what limit and market orders have in common.
func (b *broker) validateOrder(figi string, lots int, operation string, now time.Time) (orderRequest, error) {
	in, ok := b.m.Instrument(figi)
	if !ok {
		return orderRequest{}, errorf(codeNotFound, "Instrument not found by figi=%s", figi)
	}
	if lots < 1 {
		return orderRequest{}, errorf(codeValidation, "[lots]: must be greater than or equal to 1")
	}
	if operation != sideBuy && operation != sideSell {
		return orderRequest{}, errorf(codeValidation, "[operation]: must be Buy or Sell, got %q", operation)
	}
	if st := b.m.Status(figi, now); !st.Trading() {
		return orderRequest{}, errorf(codeInstrument, "Instrument is not available for trading (status %s)", st)
	}
	return orderRequest{inst: in, buy: operation == sideBuy, lots: lots}, nil
}

// placeLimit places a limit order; the marketable part fills at once.
func (b *broker) placeLimit(a *account, req orderRequest, now time.Time) (*order, error) {
	in := req.inst
	if req.price <= 0 || !onGrid(req.price, in.MinPriceIncrement) {
		return nil, errorf(codeOrder, "Price %v is not a multiple of the minimum price increment %v", req.price, in.MinPriceIncrement)
	}
	info := b.m.Info(in.FIGI, now)
	if req.buy && info.LimitUp != 0 && req.price > info.LimitUp {
		return nil, errorf(codeOrder, "Price %v is above the limit %v", req.price, info.LimitUp)
	}
	if !req.buy && info.LimitDown != 0 && req.price < info.LimitDown {
		return nil, errorf(codeOrder, "Price %v is below the limit %v", req.price, info.LimitDown)
	}
	book := b.m.OrderBook(in.FIGI, now, maxDepth)
	fills, left := walk(book, req.buy, req.lots, func(p float64) bool {
		return (req.buy && p <= req.price) || (!req.buy && p >= req.price)
	})
	if err := b.checkFunds(a, req, fills, fill{price: req.price, lots: left}); err != nil {
		return nil, err
	}
	o := b.newOrder(req, true, now)
	o.price = req.price
	a.orders = append(a.orders, o)
	for _, f := range fills {
		b.execute(a, o, f, now)
	}
	return o, nil
}

// placeMarket places a market order, which always fills in full.
func (b *broker) placeMarket(a *account, req orderRequest, now time.Time) (*order, error) {
	book := b.m.OrderBook(req.inst.FIGI, now, maxDepth)
	fills, left := walk(book, req.buy, req.lots, func(float64) bool { return true })
	if len(fills) == 0 {
		return nil, errorf(codeOrder, "No liquidity for %s", req.inst.FIGI)
	}
	if left > 0 {
		fills = append(fills, fill{price: fills[len(fills)-1].price, lots: left})
	}
	if err := b.checkFunds(a, req, fills, fill{}); err != nil {
		return nil, err
	}
	o := b.newOrder(req, false, now)
	a.orders = append(a.orders, o)
	var amount float64
	for _, f := range fills {
		amount += f.price * float64(f.lots)
		b.execute(a, o, f, now)
	}
	o.price = money(amount / float64(req.lots))
	return o, nil
}

func (b *broker) newOrder(req orderRequest, limit bool, now time.Time) *order {
	return &order{
		id:     fmt.Sprintf("%08x-5171-4000-8000-%012x", b.nextID(), now.UnixNano()&0xffffffffffff),
		inst:   req.inst,
		buy:    req.buy,
		limit:  limit,
		lots:   req.lots,
		status: statusNew,
		placed: now,
		// Only trades after placement may fill a resting order.
		checked: now,
	}
}

// walk takes lots from the side of the book an order trades against, best
// level first, while ok accepts the level's price.
func walk(book tvbridge.OrderBook, buy bool, lots int, ok func(float64) bool) ([]fill, int) {
	levels := book.Bids
	if buy {
		levels = book.Asks
	}
	var fills []fill
	for _, l := range levels {
		if lots == 0 || !ok(l.Price) {
			break
		}
		n := min(lots, int(l.Quantity))
		if n <= 0 {
			continue
		}
		fills = append(fills, fill{price: l.Price, lots: n})
		lots -= n
	}
	return fills, lots
}

// checkFunds refuses an order the account cannot pay for or deliver:
// fills now, plus what would rest.
func (b *broker) checkFunds(a *account, req orderRequest, fills []fill, resting fill) error {
	lot := float64(req.inst.Lot)
	if !req.buy {
		need := int64(req.lots * req.inst.Lot)
		have := a.availablePieces(req.inst.FIGI)
		if need > have {
			return errorf(codeNotEnough, "Not enough %s to sell: need %d pieces, have %d", req.inst.Ticker, need, have)
		}
		return nil
	}
	var cost float64
	for _, f := range append(fills, resting) {
		amount := money(f.price * float64(f.lots) * lot)
		cost += amount + cents(b.commission*amount)
	}
	cur := req.inst.Currency
	if have := money(a.cash[cur] - b.blockedCash(a, cur)); money(cost) > have {
		return errorf(codeNotEnough, "Not enough balance: need %v %s, have %v", money(cost), cur, have)
	}
	return nil
}

// execute applies one fill to the account, the order and its operation.
func (b *broker) execute(a *account, o *order, f fill, at time.Time) {
	in := o.inst
	pieces := int64(f.lots * in.Lot)
	amount := money(f.price * float64(pieces))
	commission := cents(b.commission * amount)
	p := a.positions[in.FIGI]
	if p == nil {
		p = &position{}
		a.positions[in.FIGI] = p
	}
	if o.buy {
		a.cash[in.Currency] = money(a.cash[in.Currency] - amount - commission)
		p.qty += pieces
		p.cost = money(p.cost + amount)
	} else {
		a.cash[in.Currency] = money(a.cash[in.Currency] + amount - commission)
		p.cost = money(p.cost - p.cost/float64(p.qty)*float64(pieces))
		p.qty -= pieces
	}
	if p.qty == 0 {
		delete(a.positions, in.FIGI)
	}
	o.executed += f.lots
	o.status = statusPartial
	b.record(a, o, f, pieces, amount, commission, at)
	if o.executed == o.lots {
		b.finish(o, statusFill)
	}
}

// record adds a fill to the order's operation, created on the first fill.
func (b *broker) record(a *account, o *order, f fill, pieces int64, amount, commission float64, at time.Time) {
	if o.op == nil {
		o.op = &operation{
			id: fmt.Sprintf("%d", b.nextID()), typ: o.side(), status: "Progress", date: o.placed,
			inst: o.inst, currency: o.inst.Currency, quantity: o.lots * o.inst.Lot,
		}
		a.ops = append(a.ops, o.op)
	}
	op := o.op
	op.trades = append(op.trades, wire.OperationTrade{
		TradeID: fmt.Sprintf("%d", b.nextID()), Date: at.UTC().Format(wire.TimeLayout),
		Price: f.price, Quantity: int(pieces),
	})
	op.executed += int(pieces)
	if o.buy {
		amount = -amount
	}
	op.payment = money(op.payment + amount)
	op.commission = cents(op.commission + commission)
	op.price = money(math.Abs(op.payment) / float64(op.executed))
}

// finish moves an order to a final status and closes its operation.
func (b *broker) finish(o *order, status string) {
	o.status = status
	if o.op != nil {
		o.op.status = "Done"
	}
}

// cancel cancels an active order; a final one gives ORDER_ERROR.
func (b *broker) cancel(a *account, id string) error {
	for _, o := range a.orders {
		if o.id != id {
			continue
		}
		switch o.status {
		case statusCancelled:
			return errorf(codeOrder, "Order %s is already cancelled", id)
		case statusFill:
			return errorf(codeOrder, "Order %s is already filled", id)
		}
		b.finish(o, statusCancelled)
		return nil
	}
	return errorf(codeOrder, "Order %s not found", id)
}

// settleAll fills the resting orders of every account up to now.
func (b *broker) settleAll(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sp := range b.spaces {
		for _, a := range sp.accounts {
			b.settle(a, now)
		}
	}
}

// settle fills resting orders that a model trade in (checked, now) traded
// through.
func (b *broker) settle(a *account, now time.Time) {
	for _, o := range a.orders {
		if o.active() && o.limit {
			b.checkResting(a, o, now)
		}
	}
}

func (b *broker) checkResting(a *account, o *order, now time.Time) {
	defer func() { o.checked = now }()
	for minute := o.checked.Truncate(time.Minute); minute.Before(now); minute = minute.Add(time.Minute) {
		for _, tr := range b.m.MinuteTrades(o.inst.FIGI, minute) {
			if !tr.Time.Before(now) {
				return
			}
			if tr.Time.Before(o.checked) || !o.tradesThrough(tr.Price) {
				continue
			}
			b.execute(a, o, fill{price: o.price, lots: o.lots - o.executed}, tr.Time)
			return
		}
	}
}

func (o *order) tradesThrough(price float64) bool {
	if o.buy {
		return price < o.price
	}
	return price > o.price
}

// blockedCash is the cash resting buys in the currency reserve.
func (b *broker) blockedCash(a *account, currency string) float64 {
	var sum float64
	for _, o := range a.orders {
		if o.active() && o.buy && o.inst.Currency == currency {
			amount := money(o.price * float64((o.lots-o.executed)*o.inst.Lot))
			sum += amount + cents(b.commission*amount)
		}
	}
	return sum
}

// blockedPieces is the holding resting sells of the instrument reserve.
func (a *account) blockedPieces(figi string) int64 {
	var n int64
	for _, o := range a.orders {
		if o.active() && !o.buy && o.inst.FIGI == figi {
			n += int64((o.lots - o.executed) * o.inst.Lot)
		}
	}
	return n
}

func (a *account) availablePieces(figi string) int64 {
	var held int64
	if p := a.positions[figi]; p != nil {
		held = p.qty
	}
	return held - a.blockedPieces(figi)
}

// onGrid reports whether price is a whole multiple of the increment.
func onGrid(price, increment float64) bool {
	if increment <= 0 {
		return true
	}
	q := price / increment
	return math.Abs(q-math.Round(q)) < 1e-6
}

// placedOrder is the payload of limit-order and market-order.
func placedOrder(o *order) wire.PlacedOrder {
	p := wire.PlacedOrder{
		OrderID: o.id, Operation: o.side(), Status: o.status,
		RequestedLots: o.lots, ExecutedLots: o.executed,
	}
	if o.op != nil {
		p.Commission = &wire.MoneyAmount{Currency: o.op.currency, Value: o.op.commission}
	}
	return p
}

// activeOrders is the payload of GET /orders.
func activeOrders(a *account) []wire.Order {
	out := []wire.Order{}
	for _, o := range a.orders {
		if !o.active() {
			continue
		}
		typ := "Market"
		if o.limit {
			typ = "Limit"
		}
		out = append(out, wire.Order{
			OrderID: o.id, FIGI: o.inst.FIGI, Operation: o.side(), Status: o.status,
			RequestedLots: o.lots, ExecutedLots: o.executed, Type: typ, Price: o.price,
		})
	}
	return out
}
