package trading

import (
	"math"
	"slices"

	"tvbridge"
)

// An account holds cash in several currencies (see CashRecord). Each
// instrument settles in its own currency: its orders are paid for, its
// P/L and commissions booked, and its positions valued there. The account
// currency only matters for totals, which convert every currency at the
// live exchange rate (Config.Rates).

// stateLocked computes the account state; with extra, as if that order
// were also working. Callers hold a.mu.
func (m *Manager) stateLocked(a *account, extra *OrderRecord) tvbridge.AccountState {
	cs := m.currencyStates(a, extra)
	st := tvbridge.AccountState{Currencies: cs}
	for i := range cs {
		c := &cs[i]
		rate, ok := m.rate(c.Currency, a.info.Currency)
		if !ok {
			continue // left out of the totals; Rate 0 says so
		}
		c.Rate = rate
		st.Balance += c.Balance * rate
		st.UnrealizedPL += c.UnrealizedPL * rate
		st.RealizedPL += c.RealizedPL * rate
		st.Commissions += c.Commissions * rate
		st.MarginUsed += c.MarginUsed * rate
	}
	st.Balance, st.UnrealizedPL = round9(st.Balance), round9(st.UnrealizedPL)
	st.RealizedPL, st.Commissions = round9(st.RealizedPL), round9(st.Commissions)
	st.Equity = round9(st.Balance + st.UnrealizedPL)
	st.MarginUsed = round9(st.MarginUsed)
	st.MarginAvailable = round9(st.Equity - st.MarginUsed)
	return st
}

// currencyStates computes the money per currency, in each currency: the
// account's balances in their order, then any currency only a position
// uses (one opened before its currency had a balance).
//
// Balance is cash: starting cash + realized P/L - commissions. Positions
// are valued at the price they would close at (bid for longs, ask for
// shorts). Margin used is the value of open positions, longs and shorts
// alike (no leverage: a short needs margin equal to its value), plus what
// working orders would add to that value if they filled (see reserved).
func (m *Manager) currencyStates(a *account, extra *OrderRecord) []tvbridge.CurrencyState {
	cs := make([]tvbridge.CurrencyState, 0, len(a.rec.Balances))
	for _, b := range a.rec.Balances {
		cs = append(cs, tvbridge.CurrencyState{Currency: b.Currency, Balance: b.balance(),
			RealizedPL: b.RealizedPL, Commissions: b.Commissions})
	}
	at := func(cur string) int {
		i := slices.IndexFunc(cs, func(c tvbridge.CurrencyState) bool { return c.Currency == cur })
		if i < 0 {
			cs = append(cs, tvbridge.CurrencyState{Currency: cur})
			i = len(cs) - 1
		}
		return i
	}
	for _, p := range a.posList {
		if p.Qty == 0 {
			continue
		}
		mark := m.prices(p.FIGI).mark(p.Qty > 0)
		if mark <= 0 {
			mark = p.AvgPrice
		}
		i := at(p.Currency)
		cs[i].UnrealizedPL += (mark - p.AvgPrice) * p.Qty
		cs[i].MarginUsed += mark * abs(p.Qty)
	}
	m.reserved(a, extra, func(figi string, amount float64) {
		cs[at(m.currencyOf(a, figi))].MarginUsed += amount
	})
	for i := range cs {
		c := &cs[i]
		c.Equity = c.Balance + c.UnrealizedPL
		c.MarginAvailable = c.Equity - c.MarginUsed
		c.Balance, c.UnrealizedPL, c.Equity = round9(c.Balance), round9(c.UnrealizedPL), round9(c.Equity)
		c.RealizedPL, c.Commissions = round9(c.RealizedPL), round9(c.Commissions)
		c.MarginUsed, c.MarginAvailable = round9(c.MarginUsed), round9(c.MarginAvailable)
	}
	return cs
}

// currencyState picks one currency's state; a currency the account never
// touched has nothing.
func currencyState(cs []tvbridge.CurrencyState, cur string) tvbridge.CurrencyState {
	for _, c := range cs {
		if c.Currency == cur {
			return c
		}
	}
	return tvbridge.CurrencyState{Currency: cur}
}

// rate is the price of one unit of from in to, from Config.Rates; a
// currency converts to itself (or to or from "", unknown) at 1.
func (m *Manager) rate(from, to string) (float64, bool) {
	if from == to || from == "" || to == "" {
		return 1, true
	}
	if m.cfg.Rates == nil {
		return 0, false
	}
	r, ok := m.cfg.Rates.Rate(from, to)
	if !ok || !(r > 0) || math.IsInf(r, 0) {
		return 0, false
	}
	return r, true
}

// cash returns the staged money of one currency, adding the currency when
// the account has no balance in it yet.
func (t *txn) cash(currency string) *CashRecord {
	acct := t.account()
	for i := range acct.Balances {
		if acct.Balances[i].Currency == currency {
			return &acct.Balances[i]
		}
	}
	acct.Balances = append(acct.Balances, CashRecord{Currency: currency})
	return &acct.Balances[len(acct.Balances)-1]
}
