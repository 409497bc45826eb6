package tradeapi

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"tvbridge"
)

// The payloads TradingView polls every second or so per trader (/orders,
// /positions, /state, /quotes) encode themselves by appending to a buffer,
// without reflection. Their output is byte for byte what encoding/json
// makes of the same structs (field order, omitempty, HTML-safe string
// escaping, ES6 number formatting), which the tests check against
// json.Marshal; a non-finite number fails like json.Marshal does.

// jsonAppender is a payload that encodes itself.
type jsonAppender interface {
	appendJSON(e *encoder)
}

// encoder appends JSON to b; err is the first unsupported value met.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) raw(s string) { e.b = append(e.b, s...) }
func (e *encoder) str(s string) { e.b = appendString(e.b, s) }

func (e *encoder) int(v int64) { e.b = strconv.AppendInt(e.b, v, 10) }

// float appends f as encoding/json does (64-bit floats).
func (e *encoder) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		if e.err == nil {
			e.err = &json.UnsupportedValueError{Value: reflect.ValueOf(f), Str: strconv.FormatFloat(f, 'g', -1, 64)}
		}
		return
	}
	e.b = numbers.append(e.b, f, appendFloat)
}

// numberMemo remembers recently formatted numbers: the polled payloads
// repeat the same prices, amounts and pip values poll after poll, and
// formatting a float is most of encoding one. Each slot holds the last
// number hashed to it; entries are immutable. A memo serves one format.
type numberMemo [1 << 12]atomic.Pointer[formattedNumber]

type formattedNumber struct {
	bits uint64
	text string
}

var (
	numbers numberMemo // appendFloat
	amounts numberMemo // appendMoney
)

// append appends format(dst, f), remembered.
func (m *numberMemo) append(dst []byte, f float64, format func([]byte, float64) []byte) []byte {
	bits := math.Float64bits(f)
	slot := &m[(bits*0x9E3779B97F4A7C15)>>(64-12)]
	if n := slot.Load(); n != nil && n.bits == bits {
		return append(dst, n.text...)
	}
	start := len(dst)
	dst = format(dst, f)
	slot.Store(&formattedNumber{bits: bits, text: string(dst[start:])})
	return dst
}

// appendFloat appends a finite f as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString appends s as encoding/json does by default: <, > and & as
// \u escapes, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// bodies recycles response buffers: a body is free again once written.
var bodies = sync.Pool{New: func() any { return &encoder{b: make([]byte, 0, 4096)} }}

// maxPooledBody keeps unusually large buffers out of the pool.
const maxPooledBody = 64 << 10

// orderList is /orders and /ordersHistory's payload.
type orderList []orderJSON

func (l orderList) appendJSON(e *encoder) {
	if l == nil {
		e.raw("null")
		return
	}
	e.b = append(e.b, '[')
	for i := range l {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		l[i].appendJSON(e)
	}
	e.b = append(e.b, ']')
}

func (o *orderJSON) appendJSON(e *encoder) {
	e.raw(`{"id":`)
	e.str(o.ID)
	e.raw(`,"instrument":`)
	e.str(o.Instrument)
	e.raw(`,"qty":`)
	e.float(o.Qty)
	e.raw(`,"side":`)
	e.str(o.Side)
	e.raw(`,"type":`)
	e.str(o.Type)
	e.raw(`,"status":`)
	e.str(o.Status)
	if o.FilledQty != 0 {
		e.raw(`,"filledQty":`)
		e.float(o.FilledQty)
	}
	if o.AvgPrice != 0 {
		e.raw(`,"avgPrice":`)
		e.float(o.AvgPrice)
	}
	if o.LimitPrice != 0 {
		e.raw(`,"limitPrice":`)
		e.float(o.LimitPrice)
	}
	if o.StopPrice != 0 {
		e.raw(`,"stopPrice":`)
		e.float(o.StopPrice)
	}
	if o.TrailingStopPips != 0 {
		e.raw(`,"trailingStopPips":`)
		e.float(o.TrailingStopPips)
	}
	if o.IsTrailingStop {
		e.raw(`,"isTrailingStop":true`)
	}
	if o.ParentID != "" {
		e.raw(`,"parentId":`)
		e.str(o.ParentID)
	}
	if o.ParentType != "" {
		e.raw(`,"parentType":`)
		e.str(o.ParentType)
	}
	if d := o.Duration; d != nil {
		e.raw(`,"duration":{"type":`)
		e.str(d.Type)
		if d.Datetime != 0 {
			e.raw(`,"datetime":`)
			e.int(d.Datetime)
		}
		e.b = append(e.b, '}')
	}
	if o.LastModified != 0 {
		e.raw(`,"lastModified":`)
		e.int(o.LastModified)
	}
	if m := o.Message; m != nil {
		e.raw(`,"message":{"text":`)
		e.str(m.Text)
		e.raw(`,"type":`)
		e.str(m.Type)
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, '}')
}

// positionList is /positions' payload.
type positionList []positionJSON

func (l positionList) appendJSON(e *encoder) {
	if l == nil {
		e.raw("null")
		return
	}
	e.b = append(e.b, '[')
	for i := range l {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		p := &l[i]
		e.raw(`{"id":`)
		e.str(p.ID)
		e.raw(`,"instrument":`)
		e.str(p.Instrument)
		e.raw(`,"qty":`)
		e.float(p.Qty)
		e.raw(`,"side":`)
		e.str(p.Side)
		e.raw(`,"avgPrice":`)
		e.float(p.AvgPrice)
		e.raw(`,"unrealizedPl":`)
		e.float(p.UnrealizedPL)
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ']')
}

// statePayload is /state's payload: stateJSONOf(l, s), encoded straight
// from the state, its account manager cells appended without making
// their strings.
type statePayload struct {
	l lang
	s tvbridge.AccountState
}

func (p *statePayload) appendJSON(e *encoder) {
	s := &p.s
	e.raw(`{"balance":`)
	e.float(clean(s.Balance))
	e.raw(`,"unrealizedPl":`)
	e.float(clean(s.UnrealizedPL))
	e.raw(`,"equity":`)
	e.float(clean(s.Equity))
	// amData's one table: the totals when there are several currencies
	// (no rate), then a row per currency.
	e.raw(`,"amData":[[`)
	if len(s.Currencies) > 1 {
		total := tvbridge.CurrencyState{Currency: totalLabel(p.l, s.Currencies[0].Currency),
			Balance: s.Balance, UnrealizedPL: s.UnrealizedPL, Equity: s.Equity, RealizedPL: s.RealizedPL,
			Commissions: s.Commissions, MarginUsed: s.MarginUsed, MarginAvailable: s.MarginAvailable}
		appendSummaryRow(e, &total, true)
	}
	for i := range s.Currencies {
		if i > 0 || len(s.Currencies) > 1 {
			e.b = append(e.b, ',')
		}
		appendSummaryRow(e, &s.Currencies[i], false)
	}
	e.raw(`]],"marginAvailable":`)
	e.float(clean(s.MarginAvailable))
	e.b = append(e.b, '}')
}

// totalLabel is the first cell of the totals row, fmt.Sprintf(totalRow.in(l),
// currency), remembered for the first few languages and currencies.
func totalLabel(l lang, currency string) string {
	type key struct {
		l        lang
		currency string
	}
	k := key{l, currency}
	if v, ok := totalLabels.Load(k); ok {
		return v.(string)
	}
	label := fmt.Sprintf(totalRow.in(l), currency)
	if totalLabelsKept.Add(1) <= 64 {
		totalLabels.Store(k, label)
	}
	return label
}

var (
	totalLabels     sync.Map
	totalLabelsKept atomic.Int32
)

// appendSummaryRow appends summaryRow(s) as a JSON array; total leaves
// the last cell (the rate) empty, as amData does.
func appendSummaryRow(e *encoder, s *tvbridge.CurrencyState, total bool) {
	e.b = append(e.b, '[')
	for i, c := range summaryColumns {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		switch {
		case total && i == len(summaryColumns)-1:
			e.raw(`""`)
		case c.amount != nil:
			e.b = amounts.append(e.b, c.amount(*s), appendMoney)
		case c.id == "rate" && s.Rate > 0: // formatRate's number
			e.b = append(e.b, '"')
			e.b = strconv.AppendFloat(e.b, clean(s.Rate), 'f', -1, 64)
			e.b = append(e.b, '"')
		default:
			e.str(c.value(*s))
		}
	}
	e.b = append(e.b, ']')
}

// appendMoney appends formatMoney(v) as a JSON string; its characters
// (digits, '.', '-', "NaN", "+Inf") need no escaping.
func appendMoney(dst []byte, v float64) []byte {
	dst = append(dst, '"')
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'f', 2, 64)
	if string(dst[start:]) == "-0.00" {
		dst = append(dst[:start], "0.00"...)
	}
	return append(dst, '"')
}

// quoteList is /quotes' payload.
type quoteList []quoteJSON

func (l quoteList) appendJSON(e *encoder) {
	if l == nil {
		e.raw("null")
		return
	}
	e.b = append(e.b, '[')
	for i := range l {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		q := &l[i]
		e.raw(`{"s":`)
		e.str(q.S)
		e.raw(`,"n":`)
		e.str(q.N)
		e.raw(`,"v":{"ask":`)
		e.float(q.V.Ask)
		e.raw(`,"bid":`)
		e.float(q.V.Bid)
		if q.V.BuyPipValue != 0 {
			e.raw(`,"buyPipValue":`)
			e.float(q.V.BuyPipValue)
		}
		if q.V.SellPipValue != 0 {
			e.raw(`,"sellPipValue":`)
			e.float(q.V.SellPipValue)
		}
		if q.V.Halted {
			e.raw(`,"halted":true`)
		}
		e.raw("}}")
	}
	e.b = append(e.b, ']')
}
