package trading_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tape"
	"tvbridge/trading"
)

// The property test drives a Manager synchronously (no Run: venue events
// are applied as the fake venue emits them, trades and expiries through
// the test hooks) with random sequences of orders, fills, duplicate fills,
// cancels, modifications, trades, price moves, position actions, expiries
// and restarts, and checks the invariants after every step.

type propEnv struct {
	t       *testing.T
	r       *rand.Rand
	clk     *clock.Fake
	venue   *fakeVenue
	market  *fakeMarket
	store   *trading.MemoryStore
	m       *trading.Manager
	acct    string
	fills   []tvbridge.VenueEvent
	final   map[string]tvbridge.Order // orders seen final, as first seen
	mid     map[string]float64
	ctx     context.Context
	applied int
}

func TestPropertyRandomOperations(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runProperty(t, uint64(seed), 250) })
	}
}

func runProperty(t *testing.T, seed uint64, steps int) {
	p := &propEnv{t: t, r: rand.New(rand.NewPCG(seed, 7)), clk: clock.NewFake(start), venue: newFakeVenue(),
		market: newFakeMarket(), store: trading.NewMemoryStore(), final: map[string]tvbridge.Order{},
		mid: map[string]float64{figiA: 100, figiB: 50, figiUSD: 10}, ctx: context.Background()}
	p.venue.otherCash = propOtherCash
	p.venue.deliver = func(ev tvbridge.VenueEvent) { p.m.ApplyEventForTest(ev) }
	p.movePrices()
	p.open()
	defer func() { _ = p.m.Close() }()
	accts, err := p.m.Accounts(p.ctx, user1)
	if err != nil {
		t.Fatal(err)
	}
	p.acct = accts[0].ID
	ops := []func() string{p.place, p.place, p.place, p.fill, p.fill, p.fill, p.duplicate, p.cancel, p.modify,
		p.trade, p.trade, p.movePrices, p.closePosition, p.modifyPosition, p.expire}
	for step := range steps {
		what := ops[p.r.IntN(len(ops))]()
		p.m.WaitBackgroundForTest()
		if p.r.IntN(40) == 0 {
			what += "; " + p.restart()
		}
		if err := p.check(); err != nil {
			t.Fatalf("seed %d step %d (%s): %v", seed, step, what, err)
		}
	}
	if p.applied == 0 {
		t.Errorf("seed %d: no fill was ever applied; the test exercised nothing", seed)
	}
}

func (p *propEnv) open() {
	m, err := trading.New(trading.Config{
		Venue: p.venue, Market: p.market, Tape: tape.New(tape.Config{Capacity: 16}), Store: p.store,
		Instrument: lookup, Rates: usdRates, Clock: p.clk, Logger: quietLogger(), VenueTimeout: 5 * time.Second,
		MaxHistory: 100_000, MaxExecutions: 100_000,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	p.m = m
}

// tolerate accepts trading refusals, which random requests earn often, and
// fails on anything else.
func (p *propEnv) tolerate(err error) string {
	var te *tvbridge.TradingError
	if err != nil && !errors.As(err, &te) {
		p.t.Fatalf("unexpected error: %v", err)
	}
	if te != nil {
		return string(te.Code)
	}
	return "ok"
}

// figi picks an instrument: two in roubles, one in dollars.
func (p *propEnv) figi() string {
	return []string{figiA, figiB, figiUSD}[p.r.IntN(3)]
}

// propOtherCash is the property account's cash besides its roubles.
var propOtherCash = []tvbridge.Money{{Currency: "USD", Amount: 10_000}}

// price returns a price near figi's mid on its grid, offset by up to n steps.
func (p *propEnv) price(figi string, n int) float64 {
	step := instruments[figi].MinPriceIncrement
	return math.Round((p.mid[figi]+float64(p.r.IntN(2*n+1)-n)*step)/step) * step
}

func (p *propEnv) place() string {
	figi := p.figi()
	inst := instruments[figi]
	side := tvbridge.Buy
	if p.r.IntN(2) == 0 {
		side = tvbridge.Sell
	}
	types := []tvbridge.OrderType{tvbridge.MarketOrder, tvbridge.LimitOrder, tvbridge.StopOrder, tvbridge.StopLimitOrder}
	req := tvbridge.OrderRequest{FIGI: figi, Side: side, Type: types[p.r.IntN(4)],
		Qty: float64((1 + p.r.IntN(5)) * inst.Lot), LimitPrice: p.price(figi, 20), StopPrice: p.price(figi, 20)}
	if p.r.IntN(3) == 0 {
		req.Brackets.StopLoss = p.price(figi, 40)
	}
	if p.r.IntN(3) == 0 {
		req.Brackets.TakeProfit = p.price(figi, 40)
	}
	if p.r.IntN(6) == 0 {
		req.Brackets.TrailingStopPips = float64(1 + p.r.IntN(20))
	}
	if p.r.IntN(2) == 0 {
		req.Duration.Type = tvbridge.DurationGTC
	}
	if p.r.IntN(5) == 0 {
		req.RequestID = fmt.Sprint("rq", p.r.IntN(10))
	}
	if p.r.IntN(20) == 0 {
		p.venue.setSubmitErr(tvbridge.Errorf(tvbridge.ErrVenue, "", "refused"))
		defer p.venue.setSubmitErr(nil)
	}
	_, err := p.m.PlaceOrder(p.ctx, user1, p.acct, req)
	return "place " + string(req.Type) + ": " + p.tolerate(err)
}

func (p *propEnv) fill() string {
	ids := p.venue.liveIDs()
	if len(ids) == 0 {
		return "fill: nothing live"
	}
	id := ids[p.r.IntN(len(ids))]
	p.venue.mu.Lock()
	o := p.venue.live[id]
	lot := float64(instruments[o.FIGI].Lot)
	p.venue.mu.Unlock()
	lots := math.Round(p.venue.remaining(id) / lot)
	qty := float64(1+p.r.IntN(int(lots))) * lot
	ev := p.venue.fill(p.t, id, qty, p.price(o.FIGI, 5))
	p.fills = append(p.fills, ev)
	p.applied++
	return fmt.Sprintf("fill %s %g", id, qty)
}

func (p *propEnv) duplicate() string {
	if len(p.fills) == 0 {
		return "duplicate: none"
	}
	ev := p.fills[p.r.IntN(len(p.fills))]
	p.m.ApplyEventForTest(ev)
	return "duplicate " + ev.ExecID
}

// someOrder picks a random order from /orders.
func (p *propEnv) someOrder() (tvbridge.Order, bool) {
	orders, err := p.m.Orders(p.ctx, user1, p.acct)
	if err != nil || len(orders) == 0 {
		return tvbridge.Order{}, false
	}
	return orders[p.r.IntN(len(orders))], true
}

func (p *propEnv) cancel() string {
	o, ok := p.someOrder()
	if !ok {
		return "cancel: none"
	}
	return "cancel " + o.ID + ": " + p.tolerate(p.m.CancelOrder(p.ctx, user1, p.acct, o.ID))
}

func (p *propEnv) modify() string {
	o, ok := p.someOrder()
	if !ok {
		return "modify: none"
	}
	req := tvbridge.OrderRequest{Qty: o.Qty + float64(p.r.IntN(3)-1)*float64(instruments[o.FIGI].Lot),
		LimitPrice: o.LimitPrice, StopPrice: o.StopPrice, Duration: o.Duration, Brackets: o.Brackets}
	if p.r.IntN(2) == 0 && o.LimitPrice != 0 {
		req.LimitPrice = p.price(o.FIGI, 20)
	}
	if p.r.IntN(2) == 0 && o.StopPrice != 0 {
		req.StopPrice = p.price(o.FIGI, 20)
	}
	if p.r.IntN(3) == 0 {
		req.Brackets.StopLoss = 0
	}
	_, err := p.m.ModifyOrder(p.ctx, user1, p.acct, o.ID, req)
	return "modify " + o.ID + ": " + p.tolerate(err)
}

func (p *propEnv) trade() string {
	figi := p.figi()
	price := p.price(figi, 30)
	p.m.TradeForTest(figi, price)
	return fmt.Sprintf("trade %s %g", figi, price)
}

func (p *propEnv) movePrices() string {
	for _, figi := range []string{figiA, figiB, figiUSD} {
		step := instruments[figi].MinPriceIncrement
		p.mid[figi] = math.Max(10*step, p.mid[figi]+float64(p.r.IntN(21)-10)*step)
		mid := p.mid[figi]
		p.market.set(figi, mid-step, mid+step, mid)
	}
	return "move prices"
}

func (p *propEnv) somePosition() (tvbridge.Position, bool) {
	ps, err := p.m.Positions(p.ctx, user1, p.acct)
	if err != nil || len(ps) == 0 {
		return tvbridge.Position{}, false
	}
	return ps[p.r.IntN(len(ps))], true
}

func (p *propEnv) closePosition() string {
	pos, ok := p.somePosition()
	if !ok {
		return "close: none"
	}
	if p.r.IntN(3) == 0 {
		return "reverse: " + p.tolerate(p.m.ReversePosition(p.ctx, user1, p.acct, pos.ID))
	}
	lot := float64(instruments[pos.FIGI].Lot)
	qty := float64(p.r.IntN(int(pos.Qty/lot)+1)) * lot
	return fmt.Sprintf("close %g: %s", qty, p.tolerate(p.m.ClosePosition(p.ctx, user1, p.acct, pos.ID, qty)))
}

func (p *propEnv) modifyPosition() string {
	pos, ok := p.somePosition()
	if !ok {
		return "modify position: none"
	}
	b := tvbridge.Brackets{StopLoss: p.price(pos.FIGI, 40), TakeProfit: p.price(pos.FIGI, 40)}
	if p.r.IntN(3) == 0 {
		b.StopLoss = 0
	}
	if p.r.IntN(4) == 0 {
		b.TrailingStopPips = float64(1 + p.r.IntN(10))
	}
	_, err := p.m.ModifyPosition(p.ctx, user1, p.acct, pos.ID, b)
	return "modify position: " + p.tolerate(err)
}

func (p *propEnv) expire() string {
	p.clk.Advance(time.Duration(p.r.IntN(240)) * time.Minute)
	p.m.ExpireForTest()
	return "expire at " + p.clk.Now().Format(time.DateTime)
}

// restart closes the Manager and opens a new one on the same store; what
// the user sees must not change.
func (p *propEnv) restart() string {
	before := p.view()
	if err := p.m.Close(); err != nil {
		p.t.Fatal(err)
	}
	p.open()
	if after := p.view(); !reflect.DeepEqual(before, after) {
		p.t.Fatalf("restart changed the state: %s", diffViews(before, after))
	}
	return "restart"
}

type propView struct {
	Orders     []tvbridge.Order
	History    []tvbridge.Order
	Positions  []tvbridge.Position
	Executions []tvbridge.Execution
	State      tvbridge.AccountState
}

func (p *propEnv) view() propView {
	var v propView
	var err error
	v.Orders, err = p.m.Orders(p.ctx, user1, p.acct)
	if err == nil {
		v.History, err = p.m.OrdersHistory(p.ctx, user1, p.acct, 0)
	}
	if err == nil {
		v.Positions, err = p.m.Positions(p.ctx, user1, p.acct)
	}
	if err == nil {
		v.Executions, err = p.m.Executions(p.ctx, user1, p.acct, "", 0)
	}
	if err == nil {
		v.State, err = p.m.State(p.ctx, user1, p.acct)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// check verifies the invariants.
func (p *propEnv) check() error {
	v := p.view()
	all := map[string]tvbridge.Order{}
	for _, o := range append(append([]tvbridge.Order{}, v.History...), v.Orders...) {
		all[o.ID] = o
	}
	if err := p.checkOrders(all); err != nil {
		return err
	}
	deposits := map[string]float64{"RUB": 1_000_000}
	for _, c := range propOtherCash {
		deposits[c.Currency] += c.Amount
	}
	if err := checkBookkeeping(v, all, deposits); err != nil {
		return err
	}
	return checkBrackets(v, all)
}

// checkOrders: quantities in range, nothing placing after a synchronous
// step, and final orders never change.
func (p *propEnv) checkOrders(all map[string]tvbridge.Order) error {
	for id, o := range all {
		if o.FilledQty < 0 || o.FilledQty > o.Qty+1e-9 {
			return fmt.Errorf("order %s filled %g of %g", id, o.FilledQty, o.Qty)
		}
		if o.Status == tvbridge.OrderPlacing {
			return fmt.Errorf("order %s still placing", id)
		}
		if o.Status == tvbridge.OrderFilled && !near(o.FilledQty, o.Qty) {
			return fmt.Errorf("order %s filled with %g of %g", id, o.FilledQty, o.Qty)
		}
		if first, seen := p.final[id]; seen {
			if o.Status != first.Status || o.FilledQty != first.FilledQty {
				return fmt.Errorf("final order %s changed from %s/%g to %s/%g", id, first.Status, first.FilledQty, o.Status, o.FilledQty)
			}
		} else if o.Status.Final() {
			p.final[id] = o
		}
	}
	return nil
}

// checkBookkeeping replays the executions: positions, filled quantities,
// realized P/L and commissions per currency (each instrument's own), and
// the account state per currency and in total must all agree. deposits is
// the starting cash per currency.
func checkBookkeeping(v propView, all map[string]tvbridge.Order, deposits map[string]float64) error {
	positions, filled, money, err := replayExecutions(v.Executions)
	if err != nil {
		return err
	}
	if err := checkPositions(v.Positions, positions, money); err != nil {
		return err
	}
	for id, o := range all {
		if !near(o.FilledQty, filled[id]) {
			return fmt.Errorf("order %s filled %g, executions %g", id, o.FilledQty, filled[id])
		}
	}
	return checkState(v.State, money, deposits)
}

type replayedPos struct{ qty, avg float64 }

// replayedMoney is what the executions and positions say about one currency.
type replayedMoney struct{ realized, commissions, upl float64 }

// replayExecutions rebuilds positions, filled quantities, and realized P/L
// and commissions per currency from the executions, oldest first.
func replayExecutions(execs []tvbridge.Execution) (map[string]*replayedPos, map[string]float64, map[string]*replayedMoney, error) {
	positions := map[string]*replayedPos{}
	filled := map[string]float64{}
	money := map[string]*replayedMoney{}
	seen := map[string]bool{}
	for i := len(execs) - 1; i >= 0; i-- {
		x := execs[i]
		if seen[x.ID] {
			return nil, nil, nil, fmt.Errorf("execution %s booked twice", x.ID)
		}
		seen[x.ID] = true
		filled[x.OrderID] += x.Qty
		cur := instruments[x.FIGI].Currency
		if money[cur] == nil {
			money[cur] = &replayedMoney{}
		}
		money[cur].commissions += x.Commission
		ps := positions[x.FIGI]
		if ps == nil {
			ps = &replayedPos{}
			positions[x.FIGI] = ps
		}
		d := x.Side.Sign() * x.Qty
		switch {
		case ps.qty == 0 || (ps.qty > 0) == (d > 0):
			ps.avg = (ps.avg*math.Abs(ps.qty) + x.Price*x.Qty) / math.Abs(ps.qty+d)
			if x.IsClose {
				return nil, nil, nil, fmt.Errorf("execution %s opened a position but says IsClose", x.ID)
			}
		default:
			closed := math.Min(math.Abs(ps.qty), x.Qty)
			money[cur].realized += closed * (x.Price - ps.avg) * math.Copysign(1, ps.qty)
			if (ps.qty+d > 0) != (ps.qty > 0) && math.Abs(ps.qty+d) > 1e-9 {
				ps.avg = x.Price
			}
			if !x.IsClose {
				return nil, nil, nil, fmt.Errorf("execution %s reduced a position but not IsClose", x.ID)
			}
		}
		ps.qty += d
	}
	return positions, filled, money, nil
}

// checkPositions compares the listed positions with the replayed ones and
// adds their unrealized P/L to their currency's.
func checkPositions(list []tvbridge.Position, positions map[string]*replayedPos, money map[string]*replayedMoney) error {
	listed := map[string]tvbridge.Position{}
	for _, lp := range list {
		listed[lp.FIGI] = lp
		if want := instruments[lp.FIGI].Currency; lp.Currency != want {
			return fmt.Errorf("position %s in %q, its instrument trades in %q", lp.ID, lp.Currency, want)
		}
		if money[lp.Currency] == nil {
			money[lp.Currency] = &replayedMoney{}
		}
		money[lp.Currency].upl += lp.CurrencyPL
	}
	for figi, ps := range positions {
		lp, ok := listed[figi]
		switch {
		case math.Abs(ps.qty) < 1e-9 && ok:
			return fmt.Errorf("flat %s listed as %+v", figi, lp)
		case math.Abs(ps.qty) < 1e-9:
		case !ok || !near(lp.Side.Sign()*lp.Qty, ps.qty) || !near(lp.AvgPrice, ps.avg):
			return fmt.Errorf("position %s = %+v, executions say %g at %g", figi, lp, ps.qty, ps.avg)
		}
	}
	return nil
}

// checkState checks each currency's state against the replay, and the
// totals against the currencies at their rates.
func checkState(st tvbridge.AccountState, money map[string]*replayedMoney, deposits map[string]float64) error {
	var total tvbridge.AccountState
	for _, c := range st.Currencies {
		r := money[c.Currency]
		if r == nil {
			r = &replayedMoney{}
		}
		delete(money, c.Currency)
		switch {
		case !near(c.RealizedPL, r.realized):
			return fmt.Errorf("%s realized %g, executions %g", c.Currency, c.RealizedPL, r.realized)
		case !near(c.Commissions, r.commissions):
			return fmt.Errorf("%s commissions %g, executions %g", c.Currency, c.Commissions, r.commissions)
		case !near(c.Balance, deposits[c.Currency]+r.realized-r.commissions):
			return fmt.Errorf("%s balance %g, want %g", c.Currency, c.Balance, deposits[c.Currency]+r.realized-r.commissions)
		case !near(c.UnrealizedPL, r.upl) || !near(c.Equity, c.Balance+c.UnrealizedPL):
			return fmt.Errorf("%s state %+v inconsistent with positions (unrealized %g)", c.Currency, c, r.upl)
		case !near(c.MarginAvailable, c.Equity-c.MarginUsed) || c.MarginUsed < -1e-9:
			return fmt.Errorf("%s margin %+v", c.Currency, c)
		}
		total.Balance += c.Balance * c.Rate
		total.UnrealizedPL += c.UnrealizedPL * c.Rate
		total.RealizedPL += c.RealizedPL * c.Rate
		total.Commissions += c.Commissions * c.Rate
		total.MarginUsed += c.MarginUsed * c.Rate
	}
	for cur, r := range money {
		if *r != (replayedMoney{}) {
			return fmt.Errorf("%s has money (%+v) but no state", cur, *r)
		}
	}
	switch {
	case !near(st.Balance, total.Balance) || !near(st.UnrealizedPL, total.UnrealizedPL) ||
		!near(st.RealizedPL, total.RealizedPL) || !near(st.Commissions, total.Commissions) ||
		!near(st.MarginUsed, total.MarginUsed):
		return fmt.Errorf("totals %+v, currencies at their rates sum to %+v", st, total)
	case !near(st.Equity, st.Balance+st.UnrealizedPL) || !near(st.MarginAvailable, st.Equity-st.MarginUsed):
		return fmt.Errorf("totals inconsistent: %+v", st)
	}
	return nil
}

// checkBrackets: brackets point at a live parent, positions at live
// brackets of their own, and inactive brackets belong to unfilled parents.
func checkBrackets(v propView, all map[string]tvbridge.Order) error {
	byPos := map[string]tvbridge.Position{}
	for _, ps := range v.Positions {
		byPos[ps.ID] = ps
		for _, id := range []string{ps.StopLossID, ps.TakeProfitID} {
			if id == "" {
				continue
			}
			b, ok := all[id]
			if !ok || b.Status.Final() || b.ParentID != ps.ID || b.Side == ps.Side {
				return fmt.Errorf("position %s points at bracket %+v", ps.ID, b)
			}
		}
	}
	for id, o := range all {
		if o.ParentID == "" || o.Status.Final() {
			continue
		}
		switch o.ParentKind {
		case tvbridge.ParentPosition:
			ps, ok := byPos[o.ParentID]
			if !ok || (ps.StopLossID != id && ps.TakeProfitID != id) {
				return fmt.Errorf("bracket %s of position %s, which does not list it (%+v)", id, o.ParentID, ps)
			}
			if o.Status != tvbridge.OrderWorking {
				return fmt.Errorf("position bracket %s is %s", id, o.Status)
			}
		case tvbridge.ParentOrder:
			parent, ok := all[o.ParentID]
			if !ok || parent.Status.Final() || o.Status != tvbridge.OrderInactive {
				return fmt.Errorf("order bracket %+v of parent %+v", o, parent)
			}
		}
	}
	return nil
}

// diffViews describes the first differences between two views.
func diffViews(a, b propView) string {
	var out string
	diffList := func(name string, x, y []tvbridge.Order) {
		if len(x) != len(y) {
			out += fmt.Sprintf("%s: %d vs %d entries; ", name, len(x), len(y))
		}
		for i := range min(len(x), len(y)) {
			if !reflect.DeepEqual(x[i], y[i]) {
				out += fmt.Sprintf("%s[%d]:\n  %+v\n  %+v\n", name, i, x[i], y[i])
			}
		}
	}
	diffList("orders", a.Orders, b.Orders)
	diffList("history", a.History, b.History)
	if !reflect.DeepEqual(a.Positions, b.Positions) {
		out += fmt.Sprintf("positions:\n  %+v\n  %+v\n", a.Positions, b.Positions)
	}
	if !reflect.DeepEqual(a.Executions, b.Executions) {
		out += "executions differ\n"
	}
	if !reflect.DeepEqual(a.State, b.State) {
		out += fmt.Sprintf("state:\n  %+v\n  %+v\n", a.State, b.State)
	}
	return out
}
