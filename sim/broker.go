package sim

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

// broker keeps the simulated brokerage accounts in memory. Each token has
// two independent namespaces, one for production paths and one for sandbox
// paths; both trade against the market model (see orders.go).
type broker struct {
	m          *market.Market
	commission float64
	prodCash   map[string]float64

	mu     sync.Mutex
	seq    uint64
	spaces map[spaceKey]*space
}

type spaceKey struct {
	token   string
	sandbox bool
}

type space struct {
	accounts []*account // in creation order
}

type account struct {
	id, typ   string // typ is Tinkoff or TinkoffIis
	cash      map[string]float64
	positions map[string]*position
	orders    []*order // every order placed, oldest first
	ops       []*operation
}

// position is a holding in pieces; cost is what the pieces held cost, for
// the average price.
type position struct {
	qty  int64
	cost float64
}

type operation struct {
	id, typ, status string // typ: Buy, Sell, PayIn, PayOut
	date            time.Time
	inst            *market.Instrument // nil for cash operations
	currency        string
	payment         float64
	commission      float64
	price           float64 // order price (limit) or average fill price
	quantity        int     // pieces ordered
	executed        int     // pieces filled
	trades          []wire.OperationTrade
}

// sandboxCurrencies are the currencies the sandbox accepts a balance in.
var sandboxCurrencies = map[string]bool{
	"RUB": true, "USD": true, "EUR": true, "GBP": true, "HKD": true,
	"CHF": true, "JPY": true, "CNY": true, "TRY": true,
}

func newBroker(m *market.Market, commission float64, prodCash map[string]float64) *broker {
	return &broker{m: m, commission: commission, prodCash: prodCash, spaces: make(map[spaceKey]*space)}
}

// nextID returns a fresh sequence number for ids.
func (b *broker) nextID() uint64 {
	b.seq++
	return b.seq
}

func (b *broker) newAccount(sandbox bool, typ string) *account {
	id := fmt.Sprintf("%d", 2000000000+b.nextID())
	if sandbox {
		id = fmt.Sprintf("SB%07d", b.nextID())
	}
	return &account{id: id, typ: typ, cash: make(map[string]float64), positions: make(map[string]*position)}
}

// account resolves brokerAccountId ("" means the Tinkoff account) and
// settles the account's resting orders up to now. A token's production
// namespace gets a Tinkoff account with Config.ProdCash on first use; the
// sandbox one needs /sandbox/register. Callers hold b.mu.
func (b *broker) account(key spaceKey, id string, now time.Time) (*account, error) {
	sp := b.spaces[key]
	if sp == nil {
		sp = &space{}
		b.spaces[key] = sp
	}
	if !key.sandbox && len(sp.accounts) == 0 {
		a := b.newAccount(false, "Tinkoff")
		for cur, v := range b.prodCash {
			b.setCash(a, cur, v, now)
		}
		sp.accounts = append(sp.accounts, a)
	}
	for _, a := range sp.accounts {
		if (id == "" && a.typ == "Tinkoff") || (id != "" && a.id == id) {
			b.settle(a, now)
			return a, nil
		}
	}
	if id == "" {
		return nil, errorf(codeUser, "Broker account not found for type=Tinkoff")
	}
	return nil, errorf(codeUnknownAccount, "Unknown account %s", id)
}

// withAccount runs f on a resolved account under the broker lock.
func (b *broker) withAccount(key spaceKey, id string, now time.Time, f func(*account) (any, error)) (any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.account(key, id, now)
	if err != nil {
		return nil, err
	}
	return f(a)
}

// register returns the token's sandbox account of the type, creating it if
// needed.
func (b *broker) register(token, typ string) (wire.SandboxAccount, error) {
	if typ == "" {
		typ = "Tinkoff"
	}
	if typ != "Tinkoff" && typ != "TinkoffIis" {
		return wire.SandboxAccount{}, errorf(codeValidation, "[brokerAccountType]: unknown value %s", typ)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := spaceKey{token: token, sandbox: true}
	sp := b.spaces[key]
	if sp == nil {
		sp = &space{}
		b.spaces[key] = sp
	}
	for _, a := range sp.accounts {
		if a.typ == typ {
			return wire.SandboxAccount{BrokerAccountType: a.typ, BrokerAccountID: a.id}, nil
		}
	}
	a := b.newAccount(true, typ)
	sp.accounts = append(sp.accounts, a)
	return wire.SandboxAccount{BrokerAccountType: a.typ, BrokerAccountID: a.id}, nil
}

// remove deletes a sandbox account.
func (b *broker) remove(key spaceKey, id string, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.account(key, id, now)
	if err != nil {
		return err
	}
	sp := b.spaces[key]
	for i, x := range sp.accounts {
		if x == a {
			sp.accounts = append(sp.accounts[:i], sp.accounts[i+1:]...)
			break
		}
	}
	return nil
}

// clear removes every position and all cash, and cancels active orders.
func (b *broker) clear(a *account) {
	for _, o := range a.orders {
		if o.active() {
			b.finish(o, statusCancelled)
		}
	}
	a.cash = make(map[string]float64)
	a.positions = make(map[string]*position)
}

// setCash sets a currency balance, recording the difference as a PayIn or
// PayOut operation. Resting buys in the currency are cancelled: the cash
// they reserved is gone.
func (b *broker) setCash(a *account, currency string, balance float64, now time.Time) {
	for _, o := range a.orders {
		if o.active() && o.buy && o.inst.Currency == currency {
			b.finish(o, statusCancelled)
		}
	}
	diff := money(balance - a.cash[currency])
	a.cash[currency] = money(balance)
	if diff == 0 {
		return
	}
	typ := "PayIn"
	if diff < 0 {
		typ = "PayOut"
	}
	a.ops = append(a.ops, &operation{
		id: fmt.Sprintf("%d", b.nextID()), typ: typ, status: "Done", date: now,
		currency: currency, payment: diff,
	})
}

// setPosition sets a holding in pieces, valued at the last trade price.
// Resting sells of the instrument are cancelled, as setCash does for buys.
func (b *broker) setPosition(a *account, in *market.Instrument, balance float64, now time.Time) error {
	if balance < 0 || balance != math.Trunc(balance) || balance > 1e15 {
		return errorf(codeValidation, "[balance]: must be a non-negative whole number of pieces")
	}
	for _, o := range a.orders {
		if o.active() && !o.buy && o.inst == in {
			b.finish(o, statusCancelled)
		}
	}
	qty := int64(balance)
	if qty == 0 {
		delete(a.positions, in.FIGI)
		return nil
	}
	price := in.BasePrice
	if tr, ok := b.m.LastTrade(in.FIGI, now); ok {
		price = tr.Price
	}
	a.positions[in.FIGI] = &position{qty: qty, cost: money(price * float64(qty))}
	return nil
}

// portfolio lists the holdings, by FIGI.
func (b *broker) portfolio(a *account, now time.Time) wire.Portfolio {
	out := wire.Portfolio{Positions: []wire.PortfolioPosition{}}
	for _, figi := range sortedKeys(a.positions) {
		p := a.positions[figi]
		in, _ := b.m.Instrument(figi)
		avg := p.cost / float64(p.qty)
		pp := wire.PortfolioPosition{
			FIGI:                 figi,
			Ticker:               in.Ticker,
			ISIN:                 in.ISIN,
			InstrumentType:       string(in.Type),
			Balance:              float64(p.qty),
			Blocked:              float64(a.blockedPieces(figi)),
			Lots:                 int(p.qty / int64(max(in.Lot, 1))),
			AveragePositionPrice: &wire.MoneyAmount{Currency: in.Currency, Value: money(avg)},
			Name:                 in.Name,
		}
		if tr, ok := b.m.LastTrade(figi, now); ok {
			pp.ExpectedYield = &wire.MoneyAmount{Currency: in.Currency, Value: money((tr.Price - avg) * float64(p.qty))}
		}
		out.Positions = append(out.Positions, pp)
	}
	return out
}

// currencies lists the cash balances; blocked is what resting buys reserve.
func (b *broker) currencies(a *account) wire.Currencies {
	out := wire.Currencies{Currencies: []wire.CurrencyPosition{}}
	for _, cur := range sortedKeys(a.cash) {
		out.Currencies = append(out.Currencies, wire.CurrencyPosition{
			Currency: cur, Balance: a.cash[cur], Blocked: money(b.blockedCash(a, cur)),
		})
	}
	return out
}

// operations lists the operations dated in [from, to), oldest first,
// optionally of one FIGI.
func (b *broker) operations(a *account, from, to time.Time, figi string) wire.Operations {
	out := wire.Operations{Operations: []wire.Operation{}}
	for _, op := range a.ops {
		if op.date.Before(from) || !op.date.Before(to) {
			continue
		}
		if figi != "" && (op.inst == nil || op.inst.FIGI != figi) {
			continue
		}
		out.Operations = append(out.Operations, op.wire())
	}
	return out
}

func (op *operation) wire() wire.Operation {
	w := wire.Operation{
		ID: op.id, Status: op.status, Currency: op.currency, Payment: op.payment,
		Date: op.date.UTC().Format(wire.TimeLayout), OperationType: op.typ,
		Trades: op.trades, Price: op.price, Quantity: op.quantity, QuantityExecuted: op.executed,
	}
	if op.inst != nil {
		w.FIGI = op.inst.FIGI
		w.InstrumentType = string(op.inst.Type)
		w.Commission = &wire.MoneyAmount{Currency: op.currency, Value: -op.commission}
	}
	return w
}

func (b *broker) accounts(key spaceKey, now time.Time) wire.UserAccounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := wire.UserAccounts{Accounts: []wire.UserAccount{}}
	if !key.sandbox {
		// Creates the production account on first use.
		if _, err := b.account(key, "", now); err != nil {
			return out
		}
	}
	if sp := b.spaces[key]; sp != nil {
		for _, a := range sp.accounts {
			out.Accounts = append(out.Accounts, wire.UserAccount{BrokerAccountType: a.typ, BrokerAccountID: a.id})
		}
	}
	return out
}

// money rounds away binary floating-point noise from amounts.
func money(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// cents rounds a commission to the currency's minor unit.
func cents(x float64) float64 { return math.Round(x*100) / 100 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
