package sim

import (
	"math"
	"net/url"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

const testCommission = 0.0005

func newTradingHarness(t *testing.T) *harness {
	return newHarness(t, func(c *Config) { c.Commission = testCommission })
}

// register opens the token's sandbox account and funds it in RUB.
func (h *harness) register(rub float64) string {
	h.t.Helper()
	var acc wire.SandboxAccount
	h.rest("POST", "/openapi/sandbox/sandbox/register", nil, wire.SandboxRegisterRequest{BrokerAccountType: "Tinkoff"}).ok(h.t, &acc)
	if acc.BrokerAccountType != "Tinkoff" || acc.BrokerAccountID == "" {
		h.t.Fatalf("register: %+v", acc)
	}
	q := url.Values{"brokerAccountId": {acc.BrokerAccountID}}
	h.rest("POST", "/openapi/sandbox/sandbox/currencies/balance", q, wire.SandboxSetCurrencyBalanceRequest{Currency: "RUB", Balance: rub}).ok(h.t, nil)
	return acc.BrokerAccountID
}

// rubStock is a liquid RUB stock trading at the harness's start.
func (h *harness) rubStock() *market.Instrument {
	h.t.Helper()
	in := h.liveInstrument(tvbridge.Stock)
	if in.Currency != "RUB" {
		h.t.Fatalf("%s trades in %s", in.Ticker, in.Currency)
	}
	return in
}

func (h *harness) cash(account, currency string) (balance, blocked float64) {
	h.t.Helper()
	var cur wire.Currencies
	h.rest("GET", "/openapi/sandbox/portfolio/currencies", url.Values{"brokerAccountId": {account}}, nil).ok(h.t, &cur)
	for _, c := range cur.Currencies {
		if c.Currency == currency {
			return c.Balance, c.Blocked
		}
	}
	return 0, 0
}

func (h *harness) operations(account, figi string) []wire.Operation {
	h.t.Helper()
	q := url.Values{"brokerAccountId": {account},
		"from": {testStart.Add(-time.Hour).Format(time.RFC3339)},
		"to":   {h.now().Add(time.Hour).Format(time.RFC3339)}}
	if figi != "" {
		q.Set("figi", figi)
	}
	var ops wire.Operations
	h.rest("GET", "/openapi/sandbox/operations", q, nil).ok(h.t, &ops)
	return ops.Operations
}

func placeLimit(h *harness, account, figi string, lots int, op string, price float64) restResult {
	return h.rest("POST", "/openapi/sandbox/orders/limit-order",
		url.Values{"figi": {figi}, "brokerAccountId": {account}},
		wire.LimitOrderRequest{Lots: lots, Operation: op, Price: price})
}

func placeMarket(h *harness, account, figi string, lots int, op string) restResult {
	return h.rest("POST", "/openapi/sandbox/orders/market-order",
		url.Values{"figi": {figi}, "brokerAccountId": {account}},
		wire.MarketOrderRequest{Lots: lots, Operation: op})
}

func TestSandboxAccounts(t *testing.T) {
	h := newTradingHarness(t)
	h.rest("GET", "/openapi/sandbox/portfolio", nil, nil).fails(t, 500, codeUser)
	id := h.register(1000)
	var again, iis wire.SandboxAccount
	h.rest("POST", "/openapi/sandbox/sandbox/register", nil, nil).ok(t, &again)
	h.rest("POST", "/openapi/sandbox/sandbox/register", nil, wire.SandboxRegisterRequest{BrokerAccountType: "TinkoffIis"}).ok(t, &iis)
	if again.BrokerAccountID != id || iis.BrokerAccountID == id || iis.BrokerAccountType != "TinkoffIis" {
		t.Fatalf("register: %s, again %+v, IIS %+v", id, again, iis)
	}
	var accounts wire.UserAccounts
	h.rest("GET", "/openapi/sandbox/user/accounts", nil, nil).ok(t, &accounts)
	if len(accounts.Accounts) != 2 {
		t.Fatalf("accounts %+v", accounts)
	}
	if bal, _ := h.cash(id, "RUB"); bal != 1000 {
		t.Fatalf("RUB balance %v", bal)
	}
	h.rest("POST", "/openapi/sandbox/sandbox/currencies/balance", nil,
		wire.SandboxSetCurrencyBalanceRequest{Currency: "XXX", Balance: 1}).fails(t, 500, codeValidation)

	in := h.rubStock()
	q := url.Values{"brokerAccountId": {id}}
	h.rest("POST", "/openapi/sandbox/sandbox/positions/balance", q,
		wire.SandboxSetPositionBalanceRequest{FIGI: in.FIGI, Balance: float64(3 * in.Lot)}).ok(t, nil)
	var pf wire.Portfolio
	h.rest("GET", "/openapi/sandbox/portfolio", q, nil).ok(t, &pf)
	if len(pf.Positions) != 1 || pf.Positions[0].Lots != 3 || pf.Positions[0].Balance != float64(3*in.Lot) {
		t.Fatalf("portfolio %+v", pf)
	}
	h.rest("POST", "/openapi/sandbox/sandbox/clear", q, nil).ok(t, nil)
	h.rest("GET", "/openapi/sandbox/portfolio", q, nil).ok(t, &pf)
	if len(pf.Positions) != 0 {
		t.Fatalf("portfolio after clear %+v", pf)
	}
	h.rest("POST", "/openapi/sandbox/sandbox/remove", q, nil).ok(t, nil)
	h.rest("GET", "/openapi/sandbox/portfolio", q, nil).fails(t, 500, codeUnknownAccount)
}

func TestProductionAccountIsSeparate(t *testing.T) {
	h := newTradingHarness(t)
	var accounts wire.UserAccounts
	h.rest("GET", "/openapi/user/accounts", nil, nil).ok(t, &accounts)
	if len(accounts.Accounts) != 1 || accounts.Accounts[0].BrokerAccountType != "Tinkoff" {
		t.Fatalf("production accounts %+v", accounts)
	}
	var cur wire.Currencies
	h.rest("GET", "/openapi/portfolio/currencies", nil, nil).ok(t, &cur)
	if len(cur.Currencies) != 2 || cur.Currencies[0].Currency != "RUB" || cur.Currencies[0].Balance != 1_000_000 {
		t.Fatalf("production cash %+v", cur)
	}
	in := h.rubStock()
	var placed wire.PlacedOrder
	placeMarketProd := h.rest("POST", "/openapi/orders/market-order", url.Values{"figi": {in.FIGI}},
		wire.MarketOrderRequest{Lots: 1, Operation: "Buy"})
	placeMarketProd.ok(t, &placed)
	if placed.Status != statusFill {
		t.Fatalf("production market order %+v", placed)
	}
	// The sandbox namespace of the same token is untouched.
	h.rest("GET", "/openapi/sandbox/portfolio", nil, nil).fails(t, 500, codeUser)
}

func TestMarketOrderWalksTheBook(t *testing.T) {
	h := newTradingHarness(t)
	in := h.rubStock()
	book := h.m.OrderBook(in.FIGI, h.now(), maxDepth)
	// Enough lots to take the best ask and part of the next level.
	lots := int(book.Asks[0].Quantity) + 1
	wantAmount := book.Asks[0].Price*book.Asks[0].Quantity*float64(in.Lot) + book.Asks[1].Price*float64(in.Lot)
	id := h.register(math.Ceil(wantAmount * 1.01))
	rubBefore, _ := h.cash(id, "RUB")

	var placed wire.PlacedOrder
	placeMarket(h, id, in.FIGI, lots, "Buy").ok(t, &placed)
	if placed.Status != statusFill || placed.ExecutedLots != lots || placed.RequestedLots != lots || placed.Commission == nil {
		t.Fatalf("placed %+v", placed)
	}
	ops := h.operations(id, in.FIGI)
	if len(ops) != 1 {
		t.Fatalf("operations %+v", ops)
	}
	buy := ops[0]
	if buy.OperationType != "Buy" || buy.Status != "Done" || len(buy.Trades) != 2 || buy.QuantityExecuted != lots*in.Lot {
		t.Fatalf("buy operation %s", mustJSON(buy))
	}
	if buy.Trades[0].Price != book.Asks[0].Price || buy.Trades[1].Price != book.Asks[1].Price {
		t.Errorf("fill prices %v, %v; book %v, %v", buy.Trades[0].Price, buy.Trades[1].Price, book.Asks[0].Price, book.Asks[1].Price)
	}
	if math.Abs(buy.Payment+wantAmount) > 1e-6 {
		t.Errorf("payment %v, want %v", buy.Payment, -wantAmount)
	}
	commission := -buy.Commission.Value
	if math.Abs(commission-testCommission*wantAmount) > 0.01*float64(len(buy.Trades)) {
		t.Errorf("commission %v, want about %v", commission, testCommission*wantAmount)
	}
	rubAfter, _ := h.cash(id, "RUB")
	if math.Abs(rubBefore-rubAfter-wantAmount-commission) > 1e-6 {
		t.Errorf("cash went from %v to %v; amount %v, commission %v", rubBefore, rubAfter, wantAmount, commission)
	}
	var pf wire.Portfolio
	h.rest("GET", "/openapi/sandbox/portfolio", url.Values{"brokerAccountId": {id}}, nil).ok(t, &pf)
	p := pf.Positions[0]
	if p.FIGI != in.FIGI || p.Lots != lots || p.Balance != float64(lots*in.Lot) ||
		math.Abs(p.AveragePositionPrice.Value-wantAmount/float64(lots*in.Lot)) > 1e-6 {
		t.Errorf("position %s", mustJSON(p))
	}

	// No shorts, no credit.
	placeMarket(h, id, in.FIGI, lots+1, "Sell").fails(t, 500, codeNotEnough)
	placeMarket(h, id, in.FIGI, lots, "Buy").fails(t, 500, codeNotEnough)
	// Selling what is held works.
	placeMarket(h, id, in.FIGI, lots, "Sell").ok(t, &placed)
	h.rest("GET", "/openapi/sandbox/portfolio", url.Values{"brokerAccountId": {id}}, nil).ok(t, &pf)
	if len(pf.Positions) != 0 {
		t.Errorf("position left after selling all: %+v", pf)
	}
}

func TestOrderValidation(t *testing.T) {
	h := newTradingHarness(t)
	in := h.rubStock()
	id := h.register(1_000_000)
	bid := h.m.OrderBook(in.FIGI, h.now(), 1).Bids[0].Price
	placeLimit(h, id, in.FIGI, 0, "Buy", bid).fails(t, 500, codeValidation)
	placeLimit(h, id, in.FIGI, 1, "Hold", bid).fails(t, 500, codeValidation)
	placeLimit(h, id, in.FIGI, 1, "Buy", bid+in.MinPriceIncrement/3).fails(t, 500, codeOrder)
	placeLimit(h, id, "BBG-NOPE", 1, "Buy", bid).fails(t, 500, codeNotFound)
	placeLimit(h, "SB-NOPE", in.FIGI, 1, "Buy", bid).fails(t, 500, codeUnknownAccount)
	if info := h.m.Info(in.FIGI, h.now()); info.LimitUp != 0 {
		above := math.Round((info.LimitUp+10*in.MinPriceIncrement)/in.MinPriceIncrement) * in.MinPriceIncrement
		placeLimit(h, id, in.FIGI, 1, "Buy", above).fails(t, 500, codeOrder)
	}
	// After the session, nothing trades.
	if next, ok := in.Schedule.NextChange(h.now()); ok && !in.Schedule.InSession(next.Add(time.Minute)) {
		h.advance(next.Add(time.Minute).Sub(h.now()))
		placeMarket(h, id, in.FIGI, 1, "Buy").fails(t, 500, codeInstrument)
	}
}

// firstTradeThrough finds the first model trade in [from, from+span) below
// (buy) the price.
func firstTradeBelow(m *market.Market, figi string, from time.Time, span time.Duration, price float64) (market.Trade, bool) {
	for minute := from.Truncate(time.Minute); minute.Before(from.Add(span)); minute = minute.Add(time.Minute) {
		for _, tr := range m.MinuteTrades(figi, minute) {
			if !tr.Time.Before(from) && tr.Price < price {
				return tr, true
			}
		}
	}
	return market.Trade{}, false
}

// lowestTrade is the cheapest model trade in [from, from+span).
func lowestTrade(m *market.Market, figi string, from time.Time, span time.Duration) float64 {
	low := math.Inf(1)
	for minute := from.Truncate(time.Minute); minute.Before(from.Add(span)); minute = minute.Add(time.Minute) {
		for _, tr := range m.MinuteTrades(figi, minute) {
			if !tr.Time.Before(from) {
				low = min(low, tr.Price)
			}
		}
	}
	return low
}

func TestRestingLimitOrderFillsLater(t *testing.T) {
	h := newTradingHarness(t)
	in := h.rubStock()
	id := h.register(1_000_000)
	now := h.now()
	ask := h.m.OrderBook(in.FIGI, now, 1).Asks[0].Price
	// One increment above the lowest trade of the next hours: it will trade
	// through, but later.
	limit := lowestTrade(h.m, in.FIGI, now, 3*time.Hour) + in.MinPriceIncrement
	if limit >= ask {
		t.Fatalf("the price only rises: limit %v, ask %v", limit, ask)
	}
	fillTrade, ok := firstTradeBelow(h.m, in.FIGI, now, 3*time.Hour, limit)
	if !ok {
		t.Fatal("no trade through the limit")
	}
	var placed wire.PlacedOrder
	placeLimit(h, id, in.FIGI, 2, "Buy", limit).ok(t, &placed)
	if placed.Status != statusNew || placed.ExecutedLots != 0 {
		t.Fatalf("placed %+v", placed)
	}
	var orders []wire.Order
	h.rest("GET", "/openapi/sandbox/orders", url.Values{"brokerAccountId": {id}}, nil).ok(t, &orders)
	if len(orders) != 1 || orders[0].OrderID != placed.OrderID || orders[0].Type != "Limit" || orders[0].Price != limit {
		t.Fatalf("orders %+v", orders)
	}
	if _, blocked := h.cash(id, "RUB"); blocked < limit*float64(2*in.Lot) {
		t.Fatalf("blocked %v for a %v order", blocked, limit*float64(2*in.Lot))
	}
	// The emission loop fills it, without any request touching the account.
	for !h.now().After(fillTrade.Time) {
		h.advance(time.Minute)
	}
	if st := h.orderStatus(placed.OrderID); st != statusFill {
		t.Fatalf("after the trade at %v the order is %s", fillTrade.Time, st)
	}
	h.rest("GET", "/openapi/sandbox/orders", url.Values{"brokerAccountId": {id}}, nil).ok(t, &orders)
	if len(orders) != 0 {
		t.Fatalf("orders after the fill %+v", orders)
	}
	ops := h.operations(id, in.FIGI)
	if len(ops) != 1 || len(ops[0].Trades) != 1 {
		t.Fatalf("operations %s", mustJSON(ops))
	}
	tr := ops[0].Trades[0]
	if tr.Price != limit || tr.Date != fillTrade.Time.Format(wire.TimeLayout) || tr.Quantity != 2*in.Lot {
		t.Errorf("fill %+v, want at %v, %v", tr, limit, fillTrade.Time)
	}
}

// orderStatus reads an order's status straight from the broker.
func (h *harness) orderStatus(id string) string {
	b := h.srv.broker
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sp := range b.spaces {
		for _, a := range sp.accounts {
			for _, o := range a.orders {
				if o.id == id {
					return o.status
				}
			}
		}
	}
	return ""
}

func TestMarketableLimitOrderFillsAtBookPrice(t *testing.T) {
	h := newTradingHarness(t)
	in := h.rubStock()
	id := h.register(1_000_000)
	book := h.m.OrderBook(in.FIGI, h.now(), 2)
	// A buy limit well above the ask takes the ask at the ask's price.
	limit := book.Asks[1].Price
	var placed wire.PlacedOrder
	placeLimit(h, id, in.FIGI, 1, "Buy", limit).ok(t, &placed)
	if placed.Status != statusFill || placed.ExecutedLots != 1 {
		t.Fatalf("placed %+v", placed)
	}
	if ops := h.operations(id, in.FIGI); ops[0].Trades[0].Price != book.Asks[0].Price {
		t.Fatalf("filled at %v, best ask %v", ops[0].Trades[0].Price, book.Asks[0].Price)
	}
}

func TestCancelTwice(t *testing.T) {
	h := newTradingHarness(t)
	in := h.rubStock()
	id := h.register(1_000_000)
	bid := h.m.OrderBook(in.FIGI, h.now(), 1).Bids[0].Price
	var placed wire.PlacedOrder
	placeLimit(h, id, in.FIGI, 1, "Buy", bid-5*in.MinPriceIncrement).ok(t, &placed)
	q := url.Values{"orderId": {placed.OrderID}, "brokerAccountId": {id}}
	h.rest("POST", "/openapi/sandbox/orders/cancel", q, nil).ok(t, nil)
	h.rest("POST", "/openapi/sandbox/orders/cancel", q, nil).fails(t, 500, codeOrder)
	h.rest("POST", "/openapi/sandbox/orders/cancel", url.Values{"orderId": {"nope"}, "brokerAccountId": {id}}, nil).fails(t, 500, codeOrder)
	var orders []wire.Order
	h.rest("GET", "/openapi/sandbox/orders", url.Values{"brokerAccountId": {id}}, nil).ok(t, &orders)
	if len(orders) != 0 {
		t.Fatalf("orders after cancel %+v", orders)
	}
	if _, blocked := h.cash(id, "RUB"); blocked != 0 {
		t.Fatalf("cash still blocked: %v", blocked)
	}
}
