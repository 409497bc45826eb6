package tradeapi

import (
	"tvbridge"
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

// getInstruments lists what the account may trade: the catalog's symbols
// in the groups the caller may use. Quantities are in units: the lot is
// both the minimum and the step (lotSize is left out, because it would make
// TradingView read minQty, qtyStep and qty in lots).
func (h *Handler) getInstruments(c *call) (any, error) {
	acct, err := h.ownAccount(c, c.account)
	if err != nil {
		return nil, err
	}
	out := []instrumentJSON{}
	unconverted := 0
	for _, sym := range h.cat.Symbols() {
		if !allowed(sym, c.principal.Groups) {
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

// getState is the account's money, consistent with its positions, with the
// account manager's summary row.
func (h *Handler) getState(c *call) (any, error) {
	s, err := h.broker.State(c.ctx(), c.user(), c.account)
	if err != nil {
		return nil, err
	}
	return stateJSONOf(s), nil
}

// getBalances answers that there are none. /balances is for crypto
// balances (the spec's CryptoBalance), which no tvbridge backend has;
// supportBalances is false, so TradingView does not call it, and the
// account's cash is in /state. An error says so rather than an empty list
// that would look like a wallet with nothing in it.
func (h *Handler) getBalances(c *call) (any, error) {
	if _, err := h.ownAccount(c, c.account); err != nil {
		return nil, err
	}
	return nil, plainError(msgNoBalances)
}
