package tradeapi

import (
	"slices"
	"strings"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/live"
)

// maxQuoteSymbols bounds one /quotes request; TradingView asks for the few
// symbols on screen.
const maxQuoteSymbols = 200

// getQuotes answers the best bid and ask of each requested symbol, in the
// order asked and under the name asked. A symbol that is unknown, or has no
// two-sided book yet, gets its own "error" entry: the spec's Quotes items
// have no message field, and their v (bid and ask) is required, so it holds
// what is known and 0 for the rest.
func (h *Handler) getQuotes(c *call) (any, error) {
	key, cacheable := h.quotesKey(c)
	if cacheable {
		// Kept while the version of the instruments it read stands.
		if e, ok := h.quoteBodies.get(key); ok && e.market() == e.version {
			return rawBody(e.body), nil
		}
	}
	acct, err := h.queryAccount(c)
	if err != nil {
		return nil, err
	}
	list, err := c.query.required("symbols")
	if err != nil {
		return nil, err
	}
	names := strings.Split(list, ",")
	if len(names) > maxQuoteSymbols {
		return nil, plainError(msgTooMany, maxQuoteSymbols)
	}
	// What the answer is made of, read before the prices are.
	var market func() uint64
	var version uint64
	if cacheable {
		market = h.versions.VersionOf(h.quotedFIGIs(names))
		version = market()
	}
	out := make(quoteList, 0, len(names))
	for _, name := range names {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, h.quote(c, name, acct.Currency))
		}
	}
	if len(out) == 0 {
		return nil, fieldError("symbols", msgRequired)
	}
	if !cacheable {
		return out, nil
	}
	body, err := encodeOK(out, 64+128*len(out))
	if err != nil {
		return out, nil // ok reports it
	}
	if market() == version {
		h.quoteBodies.put(key, quotesEntry{market: market, version: version, body: body})
	}
	return rawBody(body), nil
}

// quotesKey is the cache key of a /quotes request; ok is false when the
// market cannot version its prices (nothing is kept then).
func (h *Handler) quotesKey(c *call) (quotesKey, bool) {
	if h.versions == nil {
		return quotesKey{}, false
	}
	account, ok, err := c.query.text("accountId")
	if !ok || err != nil {
		return quotesKey{}, false // the answer is an error, made as usual
	}
	symbols, ok, err := c.query.text("symbols")
	if !ok || err != nil {
		return quotesKey{}, false
	}
	k := quotesKey{user: c.user(), account: account, symbols: symbols}
	if g := c.principal.Groups; g != nil {
		k.groups = "\x00" + strings.Join(g, ",") // set, even when empty
	}
	return k, true
}

// quotedFIGIs are the instruments a /quotes answer reads the prices of:
// the named symbols' and, for pip values, the currency pairs'.
func (h *Handler) quotedFIGIs(names []string) []string {
	var pairs []string
	if r, ok := h.rates.(interface{ FIGIs() []string }); ok {
		pairs = r.FIGIs()
	}
	figis := make([]string, 0, len(names)+len(pairs))
	for _, name := range names {
		if sym, ok := h.cat.Lookup(strings.TrimSpace(name)); ok {
			figis = append(figis, sym.Instrument.FIGI)
		}
	}
	return append(figis, pairs...)
}

func (h *Handler) quote(c *call, name, currency string) quoteJSON {
	q := quoteJSON{S: "error", N: name}
	sym, ok := h.cat.Lookup(name)
	if !ok || !allowed(sym, c.principal.Groups) {
		return q
	}
	p := live.PricesOf(h.market, sym.Instrument.FIGI)
	if top := p.Top; p.HasBook {
		if top.HasBid {
			q.V.Bid = clean(top.Bid)
		}
		if top.HasAsk {
			q.V.Ask = clean(top.Ask)
		}
		if q.V.Bid > 0 && q.V.Ask > 0 {
			q.S = "ok"
		}
	}
	if pip, ok := h.pipValue(sym, currency); ok {
		q.V.BuyPipValue, q.V.SellPipValue = clean(pip), clean(pip)
	}
	if st := p.Status; st != tvbridge.StatusUnknown && !st.Trading() {
		q.V.Halted = true
	}
	return q
}

// getDepth is the live order book of one symbol, quantities in units.
// Both sides are sorted by price ascending, as the spec's Depth says.
func (h *Handler) getDepth(c *call) (any, error) {
	if _, err := h.queryAccount(c); err != nil {
		return nil, err
	}
	name, err := c.query.required("symbol")
	if err != nil {
		return nil, err
	}
	sym, err := h.parser(c).symbol(name)
	if err != nil {
		return nil, err
	}
	c.sym = sym
	book, _, ok := h.market.Book(sym.Instrument.FIGI)
	if !ok {
		return nil, &tvbridge.TradingError{Code: tvbridge.ErrNoMarketData}
	}
	lot := float64(max(sym.Instrument.Lot, 1))
	return depthJSON{Asks: depthSide(book.Asks, lot), Bids: depthSide(book.Bids, lot)}, nil
}

func depthSide(levels []tvbridge.PriceLevel, lot float64) [][2]float64 {
	out := make([][2]float64, len(levels))
	for i, l := range levels {
		out[i] = [2]float64{clean(l.Price), clean(l.Quantity * lot)}
	}
	slices.SortFunc(out, func(a, b [2]float64) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	return out
}

// queryAccount is the caller's account named by the accountId query
// parameter of /quotes and /depth.
func (h *Handler) queryAccount(c *call) (tvbridge.Account, error) {
	id, err := c.query.required("accountId")
	if err != nil {
		return tvbridge.Account{}, err
	}
	return h.ownAccount(c, id)
}

// pipValue is the value of one price step of one unit of sym in the
// account currency. Without an exchange rate it is the value in the
// instrument's own currency, and ok is false.
func (h *Handler) pipValue(sym *api.Symbol, currency string) (float64, bool) {
	step := sym.Instrument.MinPriceIncrement
	rate, ok := h.rate(sym.Instrument.Currency, currency)
	if !ok {
		return step, false
	}
	return step * rate, true
}

// rate is the price of one unit of currency from in currency to.
func (h *Handler) rate(from, to string) (float64, bool) {
	if from == to || from == "" || to == "" {
		return 1, true
	}
	return h.rates.Rate(from, to)
}

// mappingOf lists every symbol that has a TradingView name.
func mappingOf(cat *api.Catalog, name func(*api.Symbol) string) mappingJSON {
	m := mappingJSON{Symbols: []mappingEntry{}, Fields: []string{"brokerSymbol"}}
	for _, sym := range cat.Symbols() {
		if tv := name(sym); tv != "" {
			m.Symbols = append(m.Symbols, mappingEntry{F: []string{sym.Name}, S: tv})
		}
	}
	return m
}

// defaultMappedName is EXCHANGE:TICKER with the upstream ticker in
// TradingView's alphabet ([A-Z0-9._], "/" as in BRK/B becoming ".").
func defaultMappedName(sym *api.Symbol) string {
	t := sym.Instrument.Ticker
	if t == "" || sym.Exchange == "" {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(t) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			b.WriteRune(r)
		case r == '/':
			b.WriteByte('.')
		default:
			b.WriteByte('_')
		}
	}
	return sym.Exchange + ":" + b.String()
}
