package api

import "tvbridge"

// CurrencyPairs lists the catalog's currency instruments that price one
// currency in another (USD000UTSTOM: dollars in roubles), each pair once:
// for a pair listed twice, the symbol first by name, so the choice is the
// same on every run. Their live prices are the exchange rates trading
// converts money with (live.Rates).
func (c *Catalog) CurrencyPairs() []tvbridge.CurrencyPair {
	var out []tvbridge.CurrencyPair
	seen := map[[2]string]bool{}
	for _, s := range c.symbols { // sorted by name
		pair := [2]string{s.BaseCurrency, s.Instrument.Currency}
		if s.Type != "forex" || pair[0] == "" || pair[1] == "" || seen[pair] {
			continue
		}
		seen[pair] = true
		out = append(out, tvbridge.CurrencyPair{Base: pair[0], Quote: pair[1], FIGI: s.Instrument.FIGI})
	}
	return out
}
