package v2sim

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"tvbridge/sim/market"
	"tvbridge/tinvest/wire"
)

// broker keeps the simulated accounts in memory. A token owns one
// production account, opened on its first request with Config.OpeningCash,
// and the sandbox accounts it opens. Every account trades against the
// market model (orders.go); account ids are unique over all tokens, so
// OrdersService and the SandboxService mirror reach the same accounts.
type broker struct {
	srv        *Server
	m          *market.Market
	cat        *catalog
	commission float64

	mu      sync.Mutex
	seq     uint64
	holders map[string]*holder // by token
	byID    map[string]*account
}

type holder struct {
	prod    *account
	sandbox []*account
}

type account struct {
	id, token, name string
	sandbox         bool
	opened          time.Time
	cash            map[string]float64   // by upper-case currency
	positions       map[string]*position // by FIGI
	orders          []*order             // every order placed, oldest first
	byKey           map[string]*order    // by idempotency key
	byOrderID       map[string]*order
	ops             []*operation
}

// position is a holding in units; cost is what the units held cost, for
// the average price.
type position struct {
	inst *instrument
	qty  int64
	cost float64
}

// operation is one GetOperations entry.
type operation struct {
	id, parent string
	typ        wire.OperationType
	state      wire.OperationState
	date       time.Time
	inst       *instrument // nil for money operations
	currency   string
	payment    float64
	price      float64 // average price per unit
	qty, rest  int64   // units ordered and not yet executed
	trades     []wire.OperationTrade
}

func newBroker(s *Server) *broker {
	return &broker{srv: s, m: s.market, cat: s.cat, commission: s.cfg.Commission,
		holders: make(map[string]*holder), byID: make(map[string]*account)}
}

func (b *broker) nextID() uint64 {
	b.seq++
	return b.seq
}

// holderLocked returns the token's accounts, opening its production
// account on first use.
func (b *broker) holderLocked(token string, now time.Time) *holder {
	h := b.holders[token]
	if h != nil {
		return h
	}
	h = &holder{}
	b.holders[token] = h
	a := b.newAccountLocked(token, false, "Broker account", now)
	for _, cur := range sortedKeys(b.srv.cfg.OpeningCash) {
		b.payInLocked(a, cur, b.srv.cfg.OpeningCash[cur], now)
	}
	h.prod = a
	return h
}

func (b *broker) newAccountLocked(token string, sandbox bool, name string, now time.Time) *account {
	id := fmt.Sprintf("%d", 2000000000+b.nextID())
	if sandbox {
		id = derivedUUID("sandbox account", fmt.Sprintf("%s|%d", token, b.nextID()))
	}
	a := &account{id: id, token: token, name: name, sandbox: sandbox, opened: now,
		cash: make(map[string]float64), positions: make(map[string]*position),
		byKey: make(map[string]*order), byOrderID: make(map[string]*order)}
	b.byID[id] = a
	return a
}

// accountLocked resolves a token's account and settles its resting orders
// up to now. sandboxOnly: the SandboxService methods, which reach sandbox
// accounts only.
func (b *broker) accountLocked(token, id string, sandboxOnly bool, now time.Time) (*account, error) {
	b.holderLocked(token, now)
	if id == "" {
		return nil, invalid(codeBadRequest, "accountId is required")
	}
	a := b.byID[id]
	if a == nil || (sandboxOnly && !a.sandbox) {
		return nil, notFound(codeAccountNotFound, "account %s not found", id)
	}
	if a.token != token {
		return nil, newErr(wire.CodePermissionDenied, wire.ErrPermissionDeniedAcct, "no access to account %s", id)
	}
	b.settle(a, now)
	return a, nil
}

// with runs f on a resolved account under the broker's lock.
func (b *broker) with(token, id string, sandboxOnly bool, now time.Time, f func(*account) (any, error)) (any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.accountLocked(token, id, sandboxOnly, now)
	if err != nil {
		return nil, err
	}
	return f(a)
}

// accounts lists the token's production or sandbox accounts.
func (b *broker) accounts(token string, sandbox bool, now time.Time) []wire.Account {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.holderLocked(token, now)
	list := []*account{h.prod}
	if sandbox {
		list = h.sandbox
	}
	out := []wire.Account{}
	for _, a := range list {
		typ := wire.AccountTypeTinkoff
		out = append(out, wire.Account{ID: a.id, Type: typ, Name: a.name, Status: wire.AccountStatusOpen,
			OpenedDate: wire.At(a.opened), AccessLevel: wire.AccessLevelFullAccess})
	}
	return out
}

// ownsAccount reports whether the token owns the account.
func (b *broker) ownsAccount(token, id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.byID[id]
	return a != nil && a.token == token
}

// tokenAccounts lists the ids of the token's accounts, production first.
func (b *broker) tokenAccounts(token string, now time.Time) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.holderLocked(token, now)
	ids := []string{h.prod.id}
	for _, a := range h.sandbox {
		ids = append(ids, a.id)
	}
	return ids
}

func (b *broker) openSandbox(token, name string, now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.holderLocked(token, now)
	if name == "" {
		name = "Sandbox account"
	}
	a := b.newAccountLocked(token, true, name, now)
	h.sandbox = append(h.sandbox, a)
	return a.id
}

func (b *broker) closeSandbox(token, id string, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.accountLocked(token, id, true, now)
	if err != nil {
		return err
	}
	for _, o := range a.orders {
		if o.active() {
			b.finish(o, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_CLIENT", now)
		}
	}
	h := b.holders[token]
	h.sandbox = slices.DeleteFunc(h.sandbox, func(x *account) bool { return x == a })
	delete(b.byID, id)
	return nil
}

// payInLocked credits an account and records the operation.
func (b *broker) payInLocked(a *account, currency string, amount float64, now time.Time) {
	cur := strings.ToUpper(currency)
	a.cash[cur] = round6(a.cash[cur] + amount)
	a.ops = append(a.ops, &operation{id: b.opID(), typ: wire.OperationTypeInput, state: wire.OperationStateExecuted,
		date: now, currency: cur, payment: amount})
}

func (b *broker) opID() string { return fmt.Sprintf("%d", 300000000+b.nextID()) }

// positions is GetPositions' answer: cash, the cash resting buys block,
// and the securities in units with what resting sells block.
func (b *broker) positions(a *account) wire.PositionsResponse {
	r := wire.PositionsResponse{AccountID: a.id, Money: []wire.MoneyValue{}}
	for _, cur := range sortedKeys(a.cash) {
		r.Money = append(r.Money, money(cur, a.cash[cur]))
		if bl := b.blockedCash(a, cur); bl > 0 {
			r.Blocked = append(r.Blocked, money(cur, bl))
		}
	}
	for _, figi := range sortedKeys(a.positions) {
		p := a.positions[figi]
		r.Securities = append(r.Securities, wire.PositionsSecurities{FIGI: figi, Balance: wire.Int64(p.qty),
			Blocked: wire.Int64(a.blockedUnits(figi)), PositionUID: p.inst.positionUID, InstrumentUID: p.inst.uid,
			InstrumentType: p.inst.typeName})
	}
	return r
}

// portfolio is GetPortfolio's answer: the securities at the last price and
// the cash as currency positions. Totals add amounts of every currency as
// they are (the model has no exchange rates).
func (b *broker) portfolio(a *account, now time.Time) wire.PortfolioResponse {
	r := wire.PortfolioResponse{AccountID: a.id}
	totals := map[wire.InstrumentType]float64{}
	var all float64
	for _, figi := range sortedKeys(a.positions) {
		p := a.positions[figi]
		in := p.inst
		avg := p.cost / float64(p.qty)
		price := avg
		if tr, ok := b.m.LastTrade(figi, now); ok {
			price = tr.Price
		}
		value := price * float64(p.qty)
		totals[in.kind] += value
		all += value
		r.Positions = append(r.Positions, wire.PortfolioPosition{
			FIGI: figi, InstrumentType: in.typeName, Quantity: amount(float64(p.qty)),
			AveragePositionPrice: money(in.Currency, round6(avg)), AveragePositionPriceFifo: money(in.Currency, round6(avg)),
			CurrentPrice: money(in.Currency, price), ExpectedYield: amount(round6(value - p.cost)),
			BlockedLots: amount(float64(a.blockedUnits(figi) / int64(max(in.Lot, 1)))),
			PositionUID: in.positionUID, InstrumentUID: in.uid,
		})
	}
	var cash float64
	for _, cur := range sortedKeys(a.cash) {
		cash += a.cash[cur]
		r.Positions = append(r.Positions, wire.PortfolioPosition{
			FIGI: strings.ToUpper(cur) + "000UTSTOM", InstrumentType: "currency", Quantity: amount(a.cash[cur]),
			CurrentPrice: money(cur, 1), AveragePositionPrice: money(cur, 1),
		})
	}
	cur := "rub"
	r.TotalAmountShares = money(cur, totals[wire.InstrumentTypeShare])
	r.TotalAmountBonds = money(cur, totals[wire.InstrumentTypeBond])
	r.TotalAmountEtf = money(cur, totals[wire.InstrumentTypeETF])
	r.TotalAmountCurrencies = money(cur, totals[wire.InstrumentTypeCurrency]+cash)
	r.TotalAmountFutures = money(cur, 0)
	r.TotalAmountPortfolio = money(cur, all+cash)
	return r
}

// operations lists the operations dated in [from, to), newest first,
// optionally of one FIGI.
func (b *broker) operations(a *account, from, to time.Time, figi string) wire.OperationsResponse {
	r := wire.OperationsResponse{Operations: []wire.Operation{}}
	for i := len(a.ops) - 1; i >= 0; i-- {
		op := a.ops[i]
		if (!from.IsZero() && op.date.Before(from)) || (!to.IsZero() && !op.date.Before(to)) {
			continue
		}
		if figi != "" && (op.inst == nil || op.inst.FIGI != figi) {
			continue
		}
		r.Operations = append(r.Operations, op.wire())
	}
	return r
}

func (op *operation) wire() wire.Operation {
	w := wire.Operation{ID: op.id, ParentOperationID: op.parent, Currency: strings.ToLower(op.currency),
		Payment: money(op.currency, op.payment), State: op.state, Date: wire.At(op.date),
		OperationType: op.typ, Type: operationNames[op.typ], Trades: op.trades,
		Quantity: wire.Int64(op.qty), QuantityRest: wire.Int64(op.rest)}
	if op.price != 0 {
		w.Price = money(op.currency, op.price)
	}
	if op.inst != nil {
		w.FIGI, w.InstrumentType, w.InstrumentUID, w.PositionUID = op.inst.FIGI, op.inst.typeName, op.inst.uid, op.inst.positionUID
		w.AssetUID = op.inst.assetUID
	}
	return w
}

var operationNames = map[wire.OperationType]string{
	wire.OperationTypeInput:     "Пополнение брокерского счёта",
	wire.OperationTypeBuy:       "Покупка ЦБ",
	wire.OperationTypeSell:      "Продажа ЦБ",
	wire.OperationTypeBrokerFee: "Удержание комиссии за операцию",
}

// round6 rounds away binary floating-point noise from amounts.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// cents rounds a commission to the currency's minor unit.
func cents(x float64) float64 { return math.Round(x*100) / 100 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
