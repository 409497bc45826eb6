package tradeapi

import (
	"slices"

	"tvbridge"
	"tvbridge/api"
)

// getAccounts lists the caller's accounts with the feature flags. A user
// without any gets an error, which TradingView shows instead of the login.
func (h *Handler) getAccounts(c *call) (any, error) {
	accounts, err := h.broker.Accounts(c.ctx(), c.user())
	if err != nil {
		return nil, err
	}
	if len(accounts) == 0 {
		return nil, plainError(msgNoAccounts)
	}
	out := make([]accountJSON, len(accounts))
	for i, a := range accounts {
		name := a.Name
		if name == "" {
			name = a.ID
		}
		typ := tvbridge.DemoAccount
		if a.Type == tvbridge.LiveAccount {
			typ = tvbridge.LiveAccount
		}
		out[i] = accountJSON{ID: a.ID, Name: name, Type: string(typ), Currency: a.Currency,
			CurrencySign: currencySigns[a.Currency], Config: h.flags}
	}
	return out, nil
}

// getInstruments lists what the account may trade, as TradingView defines
// the list: the catalog's symbols in the groups the caller may use, quoted
// in a currency the account holds (Account.Currencies; all of them when
// the broker names none), since the broker refuses the others. Quantities
// are in units: the lot is both the minimum and the step (lotSize is left
// out, because it would make TradingView read minQty, qtyStep and qty in
// lots).
func (h *Handler) getInstruments(c *call) (any, error) {
	acct, err := h.ownAccount(c, c.account)
	if err != nil {
		return nil, err
	}
	out := []instrumentJSON{}
	unconverted := 0
	for _, sym := range h.cat.Symbols() {
		if !allowed(sym, c.principal.Groups) || !tradable(acct, sym) {
			continue
		}
		inst := sym.Instrument
		pip, ok := h.pipValue(sym, acct.Currency)
		if !ok {
			unconverted++
		}
		lot := float64(max(inst.Lot, 1))
		desc := inst.Name
		if desc == "" {
			desc = inst.Ticker
		}
		out = append(out, instrumentJSON{Name: sym.Name, Description: desc, MinQty: lot, QtyStep: lot,
			PipSize: clean(inst.MinPriceIncrement), PipValue: clean(pip), MinTick: clean(inst.MinPriceIncrement),
			Type: sym.Type})
	}
	if unconverted > 0 {
		h.log.Warn("tradeapi: pip values left in the instruments' own currency: no exchange rate",
			"account", acct.ID, "currency", acct.Currency, "instruments", unconverted)
	}
	return out, nil
}

// tradable reports whether the account holds the currency sym is quoted in.
func tradable(acct tvbridge.Account, sym *api.Symbol) bool {
	cur := sym.Instrument.Currency
	return len(acct.Currencies) == 0 || cur == "" || slices.Contains(acct.Currencies, cur)
}

// getState is the account's money, consistent with its positions: the
// totals in the account currency, and the account manager's summary with
// a row per currency (see amData).
func (h *Handler) getState(c *call) (any, error) {
	if v, ok := h.broker.(valuationVersioner); ok {
		body, ok := h.cachedValuation(c, stateBody, v, func() (jsonAppender, int, error) {
			s, err := h.state(c)
			return &statePayload{c.lang, s}, 256 + 128*len(s.Currencies), err
		})
		if ok {
			return body, nil
		}
	}
	s, err := h.state(c)
	if err != nil {
		return nil, err
	}
	return &statePayload{c.lang, s}, nil
}

// state is the account state with its currencies, the account currency
// first. A broker that gives no per-currency figures has one currency,
// the account's, with the totals.
func (h *Handler) state(c *call) (tvbridge.AccountState, error) {
	s, err := h.broker.State(c.ctx(), c.user(), c.account)
	if err != nil || len(s.Currencies) > 0 {
		return s, err
	}
	acct, err := h.ownAccount(c, c.account)
	if err != nil {
		return s, err
	}
	s.Currencies = []tvbridge.CurrencyState{{Currency: acct.Currency, Balance: s.Balance, UnrealizedPL: s.UnrealizedPL,
		Equity: s.Equity, RealizedPL: s.RealizedPL, Commissions: s.Commissions, MarginUsed: s.MarginUsed,
		MarginAvailable: s.MarginAvailable, Rate: 1}}
	return s, nil
}

// getBalances lists the account's money per currency in the spec's
// CryptoBalance form: total is the currency's equity (cash and open P/L),
// reserved what positions and working orders hold, available the rest,
// and value the total in the account currency (left out when no exchange
// rate is known). supportBalances stays off: TradingView takes /balances
// for crypto wallets and would show them in place of the account
// manager's first table, whose rows already show each currency.
func (h *Handler) getBalances(c *call) (any, error) {
	s, err := h.state(c)
	if err != nil {
		return nil, err
	}
	base := s.Currencies[0].Currency
	out := make([]balanceJSON, 0, len(s.Currencies))
	for _, cs := range s.Currencies {
		b := balanceJSON{Symbol: cs.Currency, Total: clean(cs.Equity), Available: clean(cs.MarginAvailable),
			Reserved: clean(cs.MarginUsed)}
		if cs.Rate > 0 && base != "" {
			v := clean(cs.Equity * cs.Rate)
			b.Value, b.ValueCurrency = &v, base
		}
		out = append(out, b)
	}
	return out, nil
}
