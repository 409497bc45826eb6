package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Trading configures the trading smoke scenario. It places real orders
// (one far limit order, cancelled, and a market order, flattened), so it
// refuses any account whose type is not "demo".
type Trading struct {
	Account string // account id; default the first demo account
	// Instrument is traded; by default the account's first instrument
	// whose quote is live (a bid and an ask, not halted), so that a market
	// closed at this hour does not fail the scenario, else its first.
	Instrument  string
	Locale      string        // default "en"
	FillTimeout time.Duration // for order status changes to show; default 30s
}

type tradingAccount struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Config struct {
		SupportPositions       *bool `json:"supportPositions"`
		SupportPositionNetting *bool `json:"supportPositionNetting"`
		SupportExecutions      *bool `json:"supportExecutions"`
	} `json:"config"`
}

type tradingInstrument struct {
	Name    string  `json:"name"`
	MinTick float64 `json:"minTick"`
	MinQty  float64 `json:"minQty"`
	QtyStep float64 `json:"qtyStep"`
}

type tradingOrder struct {
	ID         string   `json:"id"`
	Instrument string   `json:"instrument"`
	Qty        float64  `json:"qty"`
	Side       string   `json:"side"`
	Type       string   `json:"type"`
	Status     string   `json:"status"`
	LimitPrice *float64 `json:"limitPrice"`
	AvgPrice   *float64 `json:"avgPrice"`
}

type tradingQuote struct {
	S string `json:"s"`
	N string `json:"n"`
	V struct {
		Ask    *float64 `json:"ask"`
		Bid    *float64 `json:"bid"`
		Halted bool     `json:"halted"`
	} `json:"v"`
}

// live reports a two-sided quote of an instrument that is not halted.
func (q tradingQuote) live() bool {
	return q.S != "error" && q.V.Ask != nil && q.V.Bid != nil && *q.V.Bid > 0 && *q.V.Ask > 0 && !q.V.Halted
}

type tradingPosition struct {
	ID         string  `json:"id"`
	Instrument string  `json:"instrument"`
	Qty        float64 `json:"qty"`
	Side       string  `json:"side"`
}

type tradingExecution struct {
	Instrument string  `json:"instrument"`
	OrderID    string  `json:"orderId"`
	Qty        float64 `json:"qty"`
	Side       string  `json:"side"`
}

// trade is the state of one scenario run.
type trade struct {
	r        *runner
	cfg      Trading
	acct     tradingAccount
	inst     tradingInstrument
	bid, ask float64
	qty      float64
}

// checkTrading runs the scenario; each step needs the ones before it.
func (r *runner) checkTrading(ctx context.Context) {
	if !r.sel.anyEnabled("trading") {
		return
	}
	if r.cfg.Trading == nil {
		r.skipAll("trading", "not requested: --trading runs the smoke scenario on a demo account")
		return
	}
	tr := &trade{r: r, cfg: *r.cfg.Trading}
	if tr.cfg.Locale == "" {
		tr.cfg.Locale = "en"
	}
	if tr.cfg.FillTimeout <= 0 {
		tr.cfg.FillTimeout = 30 * time.Second
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"trading/config", tr.config},
		{"trading/accounts", tr.accounts},
		{"trading/instruments", tr.instruments},
		{"trading/state", tr.state},
		{"trading/quotes", tr.quotes},
		{"trading/place-modify-cancel", tr.placeModifyCancel},
		{"trading/market-order", tr.marketOrder},
	}
	for _, st := range steps {
		if err := st.run(ctx); err != nil {
			r.skipAll("trading", "needs %s, which failed", st.name)
			return
		}
	}
}

// errStep stops the scenario; the step has recorded why.
var errStep = errors.New("trading step failed")

// call makes a trading request, validates it against a schema (chosen
// from the answer when schema is "trio") and decodes d into v.
func (tr *trade) call(ctx context.Context, method, path string, q, form url.Values, schema string, v any) (*exchange, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("locale", tr.cfg.Locale)
	ex := tr.r.c.send(ctx, method, path, q, form, withToken)
	if err := ex.failed(); err != nil {
		return ex, err
	}
	e, err := parseEnvelope(ex.body)
	switch {
	case err == nil && e.S == "error":
		tr.r.obs.schema("schema/trading", "ErrorResponse", ex)
	case schema == "trio" && e.D != nil:
		tr.r.obs.schema("schema/trading", "SuccessResponseWithTransactionId", ex)
	case schema == "trio":
		tr.r.obs.schema("schema/trading", "SuccessResponse", ex)
	default:
		tr.r.obs.schema("schema/trading", schema, ex)
	}
	return ex, okData(ex.body, v)
}

func (tr *trade) path(format string, args ...any) string {
	escaped := make([]any, len(args))
	for i, a := range args {
		escaped[i] = url.PathEscape(fmt.Sprint(a))
	}
	return fmt.Sprintf(format, escaped...)
}

func (tr *trade) config(ctx context.Context) error {
	var d map[string]any
	ex, err := tr.call(ctx, http.MethodGet, "/config", nil, nil, "ConfigResponse", &d)
	if err != nil {
		tr.r.fail("trading/config", ex, "GET /config: %v", err)
		return errStep
	}
	tr.r.pass("trading/config", "a Config with %s", plural(len(d), "field"))
	return nil
}

func (tr *trade) accounts(ctx context.Context) error {
	var accts []tradingAccount
	ex, err := tr.call(ctx, http.MethodGet, "/accounts", nil, nil, "AccountResponse", &accts)
	if err != nil {
		tr.r.fail("trading/accounts", ex, "GET /accounts: %v", err)
		return errStep
	}
	for _, a := range accts {
		if (tr.cfg.Account == "" && a.Type == "demo") || a.ID == tr.cfg.Account {
			tr.acct = a
			break
		}
	}
	switch {
	case tr.acct.ID == "" && tr.cfg.Account != "":
		tr.r.fail("trading/accounts", ex, "no account %q among %s", tr.cfg.Account, plural(len(accts), "account"))
		return errStep
	case tr.acct.ID == "":
		tr.r.fail("trading/accounts", ex, "no demo account among %s; the scenario places orders and runs on demo accounts only", plural(len(accts), "account"))
		return errStep
	case tr.acct.Type != "demo":
		tr.r.fail("trading/accounts", ex, "account %s has type %q: refusing to place orders on anything but a demo account", tr.acct.ID, tr.acct.Type)
		return errStep
	}
	tr.r.pass("trading/accounts", "demo account %s (%s)", tr.acct.ID, tr.acct.Name)
	return nil
}

func (tr *trade) instruments(ctx context.Context) error {
	var insts []tradingInstrument
	ex, err := tr.call(ctx, http.MethodGet, tr.path("/accounts/%s/instruments", tr.acct.ID), nil, nil, "InstrumentsResponse", &insts)
	if err != nil {
		tr.r.fail("trading/instruments", ex, "%v", err)
		return errStep
	}
	how := ""
	if tr.cfg.Instrument == "" && len(insts) > 0 {
		tr.inst, how = insts[0], ", the first"
		if live, affordable, ok := tr.firstLive(ctx, insts); ok {
			tr.inst, how = live, ", the first with a live quote"
			if affordable {
				how += " the account can pay for"
			}
		}
	}
	for _, in := range insts {
		if tr.cfg.Instrument != "" && in.Name == tr.cfg.Instrument {
			tr.inst = in
			break
		}
	}
	switch {
	case tr.inst.Name == "":
		tr.r.fail("trading/instruments", ex, "no instrument %q among %s", tr.cfg.Instrument, plural(len(insts), "instrument"))
		return errStep
	case tr.inst.MinTick <= 0:
		tr.r.fail("trading/instruments", ex, "%s: minTick %g is not positive", tr.inst.Name, tr.inst.MinTick)
		return errStep
	}
	tr.qty = minQty(tr.inst)
	tr.r.pass("trading/instruments", "%s, trading %s%s (minTick %g, qty %g)", plural(len(insts), "instrument"),
		tr.inst.Name, how, tr.inst.MinTick, tr.qty)
	return nil
}

// quoteBatch is how many symbols firstLive asks /quotes for at once.
const quoteBatch = 50

// firstLive returns the first instrument whose quote has a bid and an ask
// and is not halted. It asks /quotes in batches, in the instruments'
// order, and stops at the first batch with one; a failing /quotes ends the
// search (the quotes step reports it).
// firstLive is the first instrument with a live quote whose smallest
// order (ask x its minimum quantity) the account's balance covers, so the
// orders the checks place are not refused for funds (an account in one
// currency may trade instruments quoted in another: the comparison is then
// rough, which only moves the choice); else the first with a live quote.
func (tr *trade) firstLive(ctx context.Context, insts []tradingInstrument) (inst tradingInstrument, affordable, ok bool) {
	balance, known := tr.balance(ctx)
	for from := 0; from < len(insts); from += quoteBatch {
		batch := insts[from:min(from+quoteBatch, len(insts))]
		names := make([]string, len(batch))
		for i, in := range batch {
			names[i] = in.Name
		}
		var quotes []tradingQuote
		q := url.Values{"accountId": {tr.acct.ID}, "symbols": {strings.Join(names, ",")}}
		if _, err := tr.call(ctx, http.MethodGet, "/quotes", q, nil, "QuotesResponse", &quotes); err != nil {
			return inst, false, ok
		}
		for _, in := range batch {
			for _, qt := range quotes {
				if qt.N != in.Name || !qt.live() {
					continue
				}
				if !known || *qt.V.Ask*minQty(in) <= balance {
					return in, known, true
				}
				if !ok {
					inst, ok = in, true // the fallback
				}
			}
		}
	}
	return inst, false, ok
}

// minQty is the smallest quantity the checks order of in.
func minQty(in tradingInstrument) float64 {
	switch {
	case in.MinQty > 0:
		return in.MinQty
	case in.QtyStep > 0:
		return in.QtyStep
	}
	return 1
}

// balance is the account's balance from /state; ok is false when it cannot
// be read (the state check reports why).
func (tr *trade) balance(ctx context.Context) (float64, bool) {
	var d struct {
		Balance *float64 `json:"balance"`
	}
	if _, err := tr.call(ctx, http.MethodGet, tr.path("/accounts/%s/state", tr.acct.ID), nil, nil, "AccountStateResponse", &d); err != nil || d.Balance == nil {
		return 0, false
	}
	return *d.Balance, true
}

func (tr *trade) state(ctx context.Context) error {
	var d struct {
		Balance      *float64 `json:"balance"`
		UnrealizedPl *float64 `json:"unrealizedPl"`
	}
	ex, err := tr.call(ctx, http.MethodGet, tr.path("/accounts/%s/state", tr.acct.ID), nil, nil, "AccountStateResponse", &d)
	switch {
	case err != nil:
		tr.r.fail("trading/state", ex, "%v", err)
		return errStep
	case d.Balance == nil || d.UnrealizedPl == nil:
		tr.r.fail("trading/state", ex, "balance and unrealizedPl are required")
		return errStep
	}
	tr.r.pass("trading/state", "balance %g, unrealized P&L %g", *d.Balance, *d.UnrealizedPl)
	return nil
}

func (tr *trade) quotes(ctx context.Context) error {
	var d []tradingQuote
	q := url.Values{"accountId": {tr.acct.ID}, "symbols": {tr.inst.Name}}
	ex, err := tr.call(ctx, http.MethodGet, "/quotes", q, nil, "QuotesResponse", &d)
	if err != nil {
		tr.r.fail("trading/quotes", ex, "%v", err)
		return errStep
	}
	for _, qt := range d {
		if qt.N == tr.inst.Name && qt.S != "error" && qt.V.Ask != nil && qt.V.Bid != nil && *qt.V.Bid > 0 {
			tr.bid, tr.ask = *qt.V.Bid, *qt.V.Ask
			tr.r.pass("trading/quotes", "%s bid %g ask %g", tr.inst.Name, tr.bid, tr.ask)
			return nil
		}
	}
	tr.r.fail("trading/quotes", ex, "no quote with a positive bid and an ask for %s (n must equal the requested name)", tr.inst.Name)
	return errStep
}

// price formats a price below the bid, on the tick grid.
func (tr *trade) price(fraction float64) string {
	tick := tr.inst.MinTick
	p := math.Max(math.Floor(tr.bid*fraction/tick), 1) * tick
	decimals := 0
	if s := strconv.FormatFloat(tick, 'f', -1, 64); strings.Contains(s, ".") {
		decimals = len(s) - strings.IndexByte(s, '.') - 1
	}
	return strconv.FormatFloat(p, 'f', decimals, 64)
}

func (tr *trade) orderForm(side, typ string) url.Values {
	return url.Values{
		"instrument": {tr.inst.Name}, "qty": {strconv.FormatFloat(tr.qty, 'f', -1, 64)},
		"side": {side}, "type": {typ},
		"currentAsk": {strconv.FormatFloat(tr.ask, 'f', -1, 64)}, "currentBid": {strconv.FormatFloat(tr.bid, 'f', -1, 64)},
	}
}

// place posts an order and returns its id.
func (tr *trade) place(ctx context.Context, form url.Values) (string, *exchange, error) {
	var d struct {
		OrderID string `json:"orderId"`
	}
	ex, err := tr.call(ctx, http.MethodPost, tr.path("/accounts/%s/orders", tr.acct.ID), nil, form, "PostOrderResponse", &d)
	if err == nil && d.OrderID == "" {
		err = errors.New("no orderId in the answer: the order cannot be followed")
	}
	return d.OrderID, ex, err
}

// waitOrder polls /orders until the order satisfies ok or FillTimeout
// passes; it returns the last state seen.
func (tr *trade) waitOrder(ctx context.Context, id string, ok func(tradingOrder) bool) (tradingOrder, *exchange, error) {
	deadline := tr.r.clk.Now().Add(tr.cfg.FillTimeout)
	for {
		var orders []tradingOrder
		ex, err := tr.call(ctx, http.MethodGet, tr.path("/accounts/%s/orders", tr.acct.ID), nil, nil, "OrdersResponse", &orders)
		if err != nil {
			return tradingOrder{}, ex, err
		}
		var found *tradingOrder
		for i := range orders {
			if orders[i].ID == id {
				found = &orders[i]
			}
		}
		switch {
		case found != nil && ok(*found):
			return *found, ex, nil
		case !tr.r.clk.Now().Before(deadline) && found == nil:
			return tradingOrder{}, ex, fmt.Errorf("order %s is not in /orders", id)
		case !tr.r.clk.Now().Before(deadline):
			return *found, ex, fmt.Errorf("order %s is %s after %s", id, found.Status, tr.cfg.FillTimeout)
		}
		if err := tr.r.sleep(ctx, 500*time.Millisecond); err != nil {
			return tradingOrder{}, ex, err
		}
	}
}

func (tr *trade) placeModifyCancel(ctx context.Context) error {
	const name = "trading/place-modify-cancel"
	form := tr.orderForm("buy", "limit")
	form.Set("limitPrice", tr.price(0.9))
	id, ex, err := tr.place(ctx, form)
	if err != nil {
		tr.r.fail(name, ex, "place a limit buy at %s: %v", form.Get("limitPrice"), err)
		return errStep
	}
	if _, ex, err := tr.waitOrder(ctx, id, func(o tradingOrder) bool { return o.Status == "working" }); err != nil {
		tr.r.fail(name, ex, "a limit buy far below the market should be working: %v", err)
		return errStep
	}
	newPrice := tr.price(0.85)
	mod := tr.orderForm("buy", "limit")
	mod.Set("limitPrice", newPrice)
	if ex, err := tr.call(ctx, http.MethodPut, tr.path("/accounts/%s/orders/%s", tr.acct.ID, id), nil, mod, "trio", nil); err != nil {
		tr.r.fail(name, ex, "modify order %s: %v", id, err)
		return errStep
	}
	want, _ := strconv.ParseFloat(newPrice, 64)
	if _, ex, err := tr.waitOrder(ctx, id, func(o tradingOrder) bool { return o.LimitPrice != nil && near(*o.LimitPrice, want) }); err != nil {
		tr.r.fail(name, ex, "after the modify, /orders should show limitPrice %s: %v", newPrice, err)
		return errStep
	}
	if ex, err := tr.call(ctx, http.MethodDelete, tr.path("/accounts/%s/orders/%s", tr.acct.ID, id), nil, nil, "trio", nil); err != nil {
		tr.r.fail(name, ex, "cancel order %s: %v", id, err)
		return errStep
	}
	if _, ex, err := tr.waitOrder(ctx, id, func(o tradingOrder) bool { return o.Status == "cancelled" }); err != nil {
		tr.r.fail(name, ex, "after the cancel, /orders should list the order as cancelled (it must stay listed): %v", err)
		return errStep
	}
	tr.r.pass(name, "order %s placed at %s, modified to %s and cancelled, as /orders showed", id, form.Get("limitPrice"), newPrice)
	return nil
}

func (tr *trade) marketOrder(ctx context.Context) error {
	const name = "trading/market-order"
	id, ex, err := tr.place(ctx, tr.orderForm("buy", "market"))
	if err != nil {
		tr.r.fail(name, ex, "place a market buy of %g %s: %v", tr.qty, tr.inst.Name, err)
		return errStep
	}
	filled, ex, err := tr.waitOrder(ctx, id, func(o tradingOrder) bool { return o.Status == "filled" || o.Status == "rejected" })
	switch {
	case err != nil:
		tr.r.fail(name, ex, "market order %s should fill: %v", id, err)
		return errStep
	case filled.Status == "rejected":
		tr.r.fail(name, ex, "market order %s was rejected", id)
		return errStep
	}
	t := &tally{}
	if filled.AvgPrice == nil {
		t.warn(ex, "filled order %s has no avgPrice", id)
	}
	tr.checkPosition(ctx, t)
	tr.checkExecution(ctx, id, t)
	if _, ex, err := tr.place(ctx, tr.orderForm("sell", "market")); err != nil {
		t.warn(ex, "could not flatten the position with a market sell: %v", err)
	}
	t.pass("market order %s filled at %s and showed up in orders, positions and executions", id, fmtPtr(filled.AvgPrice))
	tr.r.setTally(name, t)
	return nil
}

func (tr *trade) checkPosition(ctx context.Context, t *tally) {
	flags := tr.acct.Config
	if (flags.SupportPositions != nil && !*flags.SupportPositions) || (flags.SupportPositionNetting != nil && *flags.SupportPositionNetting) {
		return // positions live elsewhere (or nowhere) for this account
	}
	var pos []tradingPosition
	ex, err := tr.call(ctx, http.MethodGet, tr.path("/accounts/%s/positions", tr.acct.ID), nil, nil, "PositionsResponse", &pos)
	if err != nil {
		t.fail(ex, "GET positions: %v", err)
		return
	}
	for _, p := range pos {
		if p.Instrument == tr.inst.Name && p.Side == "buy" && p.Qty >= tr.qty {
			return
		}
	}
	t.fail(ex, "no long %s position of at least %g after the market buy filled", tr.inst.Name, tr.qty)
}

func (tr *trade) checkExecution(ctx context.Context, id string, t *tally) {
	if f := tr.acct.Config.SupportExecutions; f == nil || !*f {
		return
	}
	var execs []tradingExecution
	q := url.Values{"instrument": {tr.inst.Name}}
	ex, err := tr.call(ctx, http.MethodGet, tr.path("/accounts/%s/executions", tr.acct.ID), q, nil, "ExecutionsResponse", &execs)
	if err != nil {
		t.fail(ex, "GET executions: %v", err)
		return
	}
	for _, e := range execs {
		if e.OrderID == id {
			return
		}
	}
	t.fail(ex, "no execution with orderId %s after it filled (supportExecutions is on)", id)
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "?"
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}
