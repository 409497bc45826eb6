package tradeapi

import (
	"errors"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/api"
)

// Bounds on numbers from the outside. Anything beyond them is a typo or an
// attack, never an order.
const (
	maxQty       = 1e9  // TradingView's default Instrument.maxQty
	maxPrice     = 1e12 // far above any price on the exchanges tvbridge serves
	maxPips      = 1e9
	maxUnix      = 253402300799 // 9999-12-31T23:59:59Z
	maxRequestID = 64
	maxNumberLen = 64
)

var (
	sideValues = []string{string(tvbridge.Buy), string(tvbridge.Sell)}
	typeValues = []string{string(tvbridge.MarketOrder), string(tvbridge.LimitOrder),
		string(tvbridge.StopOrder), string(tvbridge.StopLimitOrder)}
)

// fields are the values of a form body or a query string. TradingView
// leaves unused fields empty, so an empty value counts as absent; a field
// given twice is an error rather than a guess which one was meant.
type fields url.Values

// text returns a field's value; ok is false when it is absent or empty.
func (f fields) text(name string) (v string, ok bool, err error) {
	vs := f[name]
	if len(vs) > 1 {
		return "", false, fieldError(name, msgTwice)
	}
	if len(vs) == 0 || vs[0] == "" {
		return "", false, nil
	}
	return vs[0], true, nil
}

func (f fields) required(name string) (string, error) {
	v, ok, err := f.text(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fieldError(name, msgRequired)
	}
	return v, nil
}

// enum returns a field's value when it is one of allowed.
func (f fields) enum(name string, allowed []string) (string, bool, error) {
	v, ok, err := f.text(name)
	if err != nil || !ok {
		return "", false, err
	}
	if !slices.Contains(allowed, v) {
		return "", false, fieldError(name, msgOneOf, strings.Join(allowed, ", "), quoteInput(v))
	}
	return v, true, nil
}

// bound says which numbers a field accepts: up to max, and zero only when
// zeroOK (a zero stop loss means "no stop loss").
type bound struct {
	zeroOK bool
	max    float64
}

var (
	qtyBound     = bound{max: maxQty}
	priceBound   = bound{max: maxPrice}
	bracketBound = bound{zeroOK: true, max: maxPrice}
	pipsBound    = bound{zeroOK: true, max: maxPips}
	quoteBound   = bound{zeroOK: true, max: maxPrice}
)

// number parses a decimal number within b. Only plain decimal notation is
// accepted: strconv.ParseFloat alone would also take "NaN", "Inf", hex
// floats and underscores.
func (f fields) number(name string, b bound) (float64, bool, error) {
	s, ok, err := f.text(name)
	if err != nil || !ok {
		return 0, false, err
	}
	v, err := parseDecimal(s)
	if err != nil {
		return 0, false, fieldError(name, msgNotNumber, quoteInput(s))
	}
	switch {
	case v < 0 || (v == 0 && !b.zeroOK):
		if b.zeroOK {
			return 0, false, fieldError(name, msgNotNegative)
		}
		return 0, false, fieldError(name, msgPositive)
	case v > b.max:
		return 0, false, fieldError(name, msgTooLarge, formatNumber(b.max))
	}
	return v, true, nil
}

func (f fields) requiredNumber(name string, b bound) (float64, error) {
	v, ok, err := f.number(name, b)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fieldError(name, msgRequired)
	}
	return v, nil
}

// integer parses a whole number in [1, max].
func (f fields) integer(name string, max float64) (float64, bool, error) {
	s, ok, err := f.text(name)
	if err != nil || !ok {
		return 0, false, err
	}
	v, err := parseDecimal(s)
	if err != nil || v != math.Trunc(v) {
		return 0, false, fieldError(name, msgNotInteger, quoteInput(s))
	}
	switch {
	case v < 1:
		return 0, false, fieldError(name, msgPositive)
	case v > max:
		return 0, false, fieldError(name, msgTooLarge, formatNumber(max))
	}
	return v, true, nil
}

// parseDecimal parses [+-]digits[.digits][e[+-]digits], the way JavaScript
// prints numbers. A magnitude beyond float64 comes back as ±Inf (or 0 when
// too small), for the caller's bounds to refuse as too large.
func parseDecimal(s string) (float64, error) {
	if !isDecimal(s) {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, err
	}
	return v, nil
}

func isDecimal(s string) bool {
	if len(s) == 0 || len(s) > maxNumberLen {
		return false
	}
	i := 0
	if s[i] == '+' || s[i] == '-' {
		i++
	}
	digits := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parser turns request fields into domain requests. It knows the catalog
// (instrument names), the instruments the user may trade, the offered
// durations and the time.
type parser struct {
	cat       *api.Catalog
	groups    []string // the groups the user may trade; nil means all
	durations []Duration
	now       time.Time
}

// symbol finds an instrument by its name (or ticker) among those the user
// may trade.
func (p *parser) symbol(name string) (*api.Symbol, error) {
	sym, ok := p.cat.Lookup(name)
	if !ok || !allowed(sym, p.groups) {
		return nil, plainError(msgUnknownSymbol, quoteInput(name))
	}
	return sym, nil
}

// allowed reports whether a user restricted to groups (nil: none) may use sym.
func allowed(sym *api.Symbol, groups []string) bool {
	return groups == nil || slices.Contains(groups, sym.Group)
}

// order parses a place, preview or modify body. Placing and previewing need
// instrument, side and type; a modify may leave them out, and they default
// to those of the order it changes (current, nil otherwise). The symbol is
// the instrument the order is about, when the catalog knows it.
func (p *parser) order(f fields, current *tvbridge.Order) (tvbridge.OrderRequest, *api.Symbol, error) {
	var req tvbridge.OrderRequest
	sym, err := p.orderIdentity(f, current, &req)
	if err != nil {
		return req, sym, err
	}
	if req.Qty, err = f.requiredNumber("qty", qtyBound); err != nil {
		return req, sym, err
	}
	if err := p.prices(f, &req); err != nil {
		return req, sym, err
	}
	if err := p.duration(f, &req); err != nil {
		return req, sym, err
	}
	if req.Brackets, err = brackets(f); err != nil {
		return req, sym, err
	}
	// What the trader saw in the ticket: validated, not used (it matters
	// for forex, which tvbridge does not trade).
	for _, name := range []string{"currentAsk", "currentBid"} {
		if _, _, err := f.number(name, quoteBound); err != nil {
			return req, sym, err
		}
	}
	return req, sym, nil
}

// orderIdentity fills the instrument, side and type of req.
func (p *parser) orderIdentity(f fields, current *tvbridge.Order, req *tvbridge.OrderRequest) (*api.Symbol, error) {
	var sym *api.Symbol
	if current != nil {
		req.FIGI, req.Side, req.Type = current.FIGI, current.Side, current.Type
		sym, _ = p.cat.ByFIGI(current.FIGI)
	}
	name, ok, err := f.text("instrument")
	if err != nil {
		return sym, err
	}
	if ok {
		if sym, err = p.symbol(name); err != nil {
			return nil, err
		}
		req.FIGI = sym.Instrument.FIGI
	}
	side, ok, err := f.enum("side", sideValues)
	if err != nil {
		return sym, err
	}
	if ok {
		req.Side = tvbridge.Side(side)
	}
	typ, ok, err := f.enum("type", typeValues)
	if err != nil {
		return sym, err
	}
	if ok {
		req.Type = tvbridge.OrderType(typ)
	}
	switch {
	case req.FIGI == "":
		return sym, fieldError("instrument", msgRequired)
	case req.Side == "":
		return sym, fieldError("side", msgRequired)
	case req.Type == "":
		return sym, fieldError("type", msgRequired)
	}
	return sym, nil
}

// prices reads the limit and stop prices the order type needs. Prices the
// type does not use are ignored: they are the ticket's leftovers.
func (p *parser) prices(f fields, req *tvbridge.OrderRequest) error {
	var err error
	if req.Type == tvbridge.LimitOrder || req.Type == tvbridge.StopLimitOrder {
		if req.LimitPrice, err = f.requiredNumber("limitPrice", priceBound); err != nil {
			return err
		}
	}
	if req.Type == tvbridge.StopOrder || req.Type == tvbridge.StopLimitOrder {
		if req.StopPrice, err = f.requiredNumber("stopPrice", priceBound); err != nil {
			return err
		}
	}
	return nil
}

// duration reads durationType (one of the offered durations, allowed for
// the order type) and, for durations with a date or time picker, the
// expiry. Without durationType the core applies its default.
func (p *parser) duration(f fields, req *tvbridge.OrderRequest) error {
	ids := make([]string, len(p.durations))
	for i, d := range p.durations {
		ids[i] = d.ID
	}
	id, ok, err := f.enum("durationType", ids)
	if err != nil || !ok {
		return err
	}
	d := p.durations[slices.Index(ids, id)]
	if !slices.Contains(d.OrderTypes, req.Type) {
		return plainError(msgDurationType, id, string(req.Type))
	}
	req.Duration.Type = id
	if !d.DatePicker && !d.TimePicker {
		return nil
	}
	until, ok, err := f.integer("durationDateTime", maxUnix)
	if err != nil {
		return err
	}
	if !ok {
		return fieldError("durationDateTime", msgRequired)
	}
	t := time.Unix(int64(until), 0).UTC()
	if !t.After(p.now) {
		return fieldError("durationDateTime", msgPast)
	}
	req.Duration.Until = t
	return nil
}

// brackets reads stop loss, take profit and trailing stop. Absent or zero
// means none: a modify without stopLoss removes the stop loss.
func brackets(f fields) (tvbridge.Brackets, error) {
	var b tvbridge.Brackets
	var err error
	if b.StopLoss, _, err = f.number("stopLoss", bracketBound); err != nil {
		return b, err
	}
	if b.TakeProfit, _, err = f.number("takeProfit", bracketBound); err != nil {
		return b, err
	}
	if b.TrailingStopPips, _, err = f.number("trailingStopPips", pipsBound); err != nil {
		return b, err
	}
	if _, ok, err := f.text("guaranteedStop"); err != nil || ok {
		if err != nil {
			return b, err
		}
		return b, plainError(msgNoGuaranteed)
	}
	return b, nil
}

// positionChange is a parsed PUT position body: new brackets, or with Side
// set, TradingView's native reverse to that side.
type positionChange struct {
	Brackets tvbridge.Brackets
	Side     tvbridge.Side
}

func parsePositionChange(f fields) (positionChange, error) {
	var c positionChange
	var err error
	if c.Brackets, err = brackets(f); err != nil {
		return c, err
	}
	for _, name := range []string{"currentAsk", "currentBid"} {
		if _, _, err := f.number(name, quoteBound); err != nil {
			return c, err
		}
	}
	side, _, err := f.enum("side", sideValues)
	c.Side = tvbridge.Side(side)
	return c, err
}

// parseCloseAmount reads the quantity of a partial close; 0 closes all.
func parseCloseAmount(f fields) (float64, error) {
	v, _, err := f.number("amount", qtyBound)
	return v, err
}

// requestID reads the idempotency key of a place order: a query parameter
// in the spec, accepted in the body too.
func requestID(query, body fields) (string, error) {
	id, ok, err := query.text("requestId")
	if err == nil && !ok {
		id, _, err = body.text("requestId")
	}
	if err != nil {
		return "", err
	}
	if len(id) > maxRequestID {
		return "", fieldError("requestId", msgTooLong, maxRequestID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return "", fieldError("requestId", msgPrintable)
		}
	}
	return id, nil
}
