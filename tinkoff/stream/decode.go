package stream

import (
	"errors"
	"fmt"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// eventKind is what a decoded frame carries.
type eventKind uint8

const (
	kindUnknown eventKind = iota // an event name this client does not know
	kindCandle
	kindOrderBook
	kindInstrumentInfo
	kindError
)

// frame is one decoded server frame. The decoder reuses it: Bids and Asks of
// Book point into the decoder's scratch space and are only valid until the
// next decode; the output stage copies what it keeps.
type frame struct {
	kind       eventKind
	name       string    // the event name, kept for unknown events only
	serverTime time.Time // envelope time; zero when absent or unparsable

	candle tvbridge.Candle
	book   tvbridge.OrderBook
	info   tvbridge.InstrumentInfo

	errText   string
	requestID string
}

// Decoding limits. They only exist to keep hostile input cheap.
const (
	maxDepth      = 1000 // largest order-book depth accepted (the service allows 20)
	maxNameLen    = 64   // unknown event names are truncated to this for logs
	maxInternSize = 4096 // distinct FIGIs a decoder remembers
)

var errBadFrame = errors.New("malformed frame")

// decoder turns frames into values. It is not safe for concurrent use: each
// connection's reader owns one.
type decoder struct {
	s      scanner
	figis  map[string]string     // interned FIGIs, so steady-state frames allocate nothing for them
	levels []tvbridge.PriceLevel // scratch: bids then asks of the last book
}

func newDecoder() *decoder {
	return &decoder{figis: make(map[string]string)}
}

// decode parses one frame into f. Unknown fields are ignored anywhere, the
// envelope time is optional, and numbers may use exponent notation. Any
// error means the frame is unusable; f is then unspecified.
//
// The envelope's members may come in any order. When "event" precedes
// "payload" (always, in practice) the payload is parsed in place; otherwise
// its span is remembered and parsed once the event name is known.
func (d *decoder) decode(data []byte, f *frame) error {
	*f = frame{kind: kindUnknown}
	s := &d.s
	s.reset(data)
	if !s.objectStart() {
		return fmt.Errorf("%w: not a JSON object", errBadFrame)
	}
	haveEvent, havePayload := false, false
	payloadStart, payloadEnd := -1, -1
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return fmt.Errorf("%w: bad envelope syntax at byte %d", errBadFrame, s.pos)
		}
		if !more {
			break
		}
		switch string(key) {
		case "event":
			if haveEvent {
				return fmt.Errorf("%w: repeated event member", errBadFrame)
			}
			name, ok := s.str()
			if !ok {
				return fmt.Errorf("%w: event is not a string", errBadFrame)
			}
			f.kind, f.name = eventKindOf(name)
			haveEvent = true
		case "time":
			if !s.null() {
				b, ok := s.str()
				if !ok {
					return fmt.Errorf("%w: time is not a string", errBadFrame)
				}
				f.serverTime, _ = parseTime(b) // a bad send time is not worth the payload
			}
		case "payload":
			if havePayload || payloadStart >= 0 {
				return fmt.Errorf("%w: repeated payload member", errBadFrame)
			}
			if haveEvent {
				if err := d.payload(s, f); err != nil {
					return err
				}
				havePayload = true
			} else {
				s.skipSpace()
				payloadStart = s.pos
				if !s.skipValue() {
					return fmt.Errorf("%w: bad payload syntax", errBadFrame)
				}
				payloadEnd = s.pos
			}
		default:
			if !s.skipValue() {
				return fmt.Errorf("%w: bad value of %q", errBadFrame, key)
			}
		}
	}
	if !s.atEnd() {
		return fmt.Errorf("%w: trailing data after the object", errBadFrame)
	}
	if !haveEvent {
		return fmt.Errorf("%w: no event name", errBadFrame)
	}
	if !havePayload {
		if payloadStart < 0 {
			if f.kind == kindUnknown {
				return nil // nothing to read; the caller counts the unknown name
			}
			return fmt.Errorf("%w: %s event without payload", errBadFrame, f.name)
		}
		var sub scanner
		sub.reset(data[:payloadEnd])
		sub.pos = payloadStart
		if err := d.payload(&sub, f); err != nil {
			return err
		}
	}
	return nil
}

// eventKindOf maps an event name to its kind; the name is kept (truncated)
// only for unknown events, so known frames allocate nothing here.
func eventKindOf(name []byte) (eventKind, string) {
	switch string(name) {
	case wire.EventCandle:
		return kindCandle, wire.EventCandle
	case wire.EventOrderBook:
		return kindOrderBook, wire.EventOrderBook
	case wire.EventInstrumentInfo:
		return kindInstrumentInfo, wire.EventInstrumentInfo
	case wire.EventError:
		return kindError, wire.EventError
	}
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return kindUnknown, string(name)
}

// payload parses the payload value at the scanner's position by f.kind.
func (d *decoder) payload(s *scanner, f *frame) error {
	var err error
	switch f.kind {
	case kindCandle:
		err = d.candle(s, &f.candle)
	case kindOrderBook:
		err = d.orderBook(s, &f.book)
	case kindInstrumentInfo:
		err = d.instrumentInfo(s, &f.info)
	case kindError:
		err = d.errorPayload(s, f)
	default:
		if !s.skipValue() {
			err = fmt.Errorf("%w: bad payload syntax", errBadFrame)
		}
	}
	if err != nil {
		return fmt.Errorf("%s payload: %w", f.name, err)
	}
	return nil
}

// fieldSet records which required fields a payload had.
type fieldSet uint16

func (fs *fieldSet) add(bit fieldSet)      { *fs |= bit }
func (fs fieldSet) has(bits fieldSet) bool { return fs&bits == bits }
func syntaxErr(what string, s *scanner) error {
	return fmt.Errorf("%w: bad %s at byte %d", errBadFrame, what, s.pos)
}
func missingErr(fields string) error {
	return fmt.Errorf("%w: missing or invalid %s", errBadFrame, fields)
}
func negativeErr(field string, v float64) error {
	return fmt.Errorf("%w: negative %s %g", errBadFrame, field, v)
}

const (
	hasO fieldSet = 1 << iota
	hasC
	hasH
	hasL
	hasV
	hasTime
	hasInterval
	hasFIGI
	hasDepth
	hasStatus
)

// candle parses {"o","c","h","l","v","time","interval","figi"}. All are
// required; the interval must be one the stream knows.
func (d *decoder) candle(s *scanner, c *tvbridge.Candle) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	var seen fieldSet
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return syntaxErr("member", s)
		}
		if !more {
			break
		}
		switch string(key) {
		case "o":
			ok = d.num(s, &c.Open, &seen, hasO)
		case "c":
			ok = d.num(s, &c.Close, &seen, hasC)
		case "h":
			ok = d.num(s, &c.High, &seen, hasH)
		case "l":
			ok = d.num(s, &c.Low, &seen, hasL)
		case "v":
			ok = d.num(s, &c.Volume, &seen, hasV)
		case "time":
			var b []byte
			if b, ok = s.str(); ok {
				if c.Time, ok = parseTime(b); ok {
					seen.add(hasTime)
				}
			}
		case "interval":
			var b []byte
			if b, ok = s.str(); ok {
				if c.Interval, ok = parseInterval(b); ok {
					seen.add(hasInterval)
				}
			}
		case "figi":
			ok = d.figi(s, &c.FIGI, &seen)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(fmt.Sprintf("%q", key), s)
		}
	}
	if !seen.has(hasO | hasC | hasH | hasL | hasV | hasTime | hasInterval | hasFIGI) {
		return missingErr("candle fields (need o, c, h, l, v, time, interval, figi)")
	}
	if c.Volume < 0 {
		return negativeErr("volume", c.Volume)
	}
	return nil
}

// orderBook parses {"figi","depth","bids":[[p,q],...],"asks":[...]}. The
// arrays may be shorter than depth, or null.
func (d *decoder) orderBook(s *scanner, b *tvbridge.OrderBook) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	var seen fieldSet
	d.levels = d.levels[:0]
	var bids, asks levelSpan
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return syntaxErr("member", s)
		}
		if !more {
			break
		}
		switch string(key) {
		case "figi":
			ok = d.figi(s, &b.FIGI, &seen)
		case "depth":
			var depth float64
			if depth, ok = s.number(); ok && depth >= 1 && depth <= maxDepth && depth == float64(int(depth)) {
				b.Depth = int(depth)
				seen.add(hasDepth)
			}
		case "bids":
			bids, ok = d.levelList(s)
		case "asks":
			asks, ok = d.levelList(s)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(fmt.Sprintf("%q", key), s)
		}
	}
	if !seen.has(hasFIGI | hasDepth) {
		return missingErr("orderbook figi or depth (1..1000)")
	}
	b.Bids = bids.of(d.levels)
	b.Asks = asks.of(d.levels)
	for _, side := range [][]tvbridge.PriceLevel{b.Bids, b.Asks} {
		for _, l := range side {
			if l.Quantity < 0 {
				return negativeErr("quantity", l.Quantity)
			}
		}
	}
	return nil
}

// levelSpan locates one side of the book inside decoder.levels. A repeated
// "bids" key leaves the earlier levels unused: the last one wins, as in
// encoding/json.
type levelSpan struct{ start, end int }

func (l levelSpan) of(levels []tvbridge.PriceLevel) []tvbridge.PriceLevel {
	if l.end == l.start {
		return nil
	}
	return levels[l.start:l.end:l.end]
}

// levelList parses [[price, quantity], ...] (or null) into decoder.levels.
// Extra numbers after the first two of a level are ignored.
func (d *decoder) levelList(s *scanner) (levelSpan, bool) {
	span := levelSpan{start: len(d.levels), end: len(d.levels)}
	if s.null() {
		return span, true
	}
	if !s.arrayStart() {
		return span, false
	}
	for first := true; ; first = false {
		more, ok := s.nextElem(first)
		if !ok {
			return span, false
		}
		if !more {
			break
		}
		level, ok := d.level(s)
		if !ok {
			return span, false
		}
		d.levels = append(d.levels, level)
	}
	span.end = len(d.levels)
	return span, true
}

// level parses one [price, quantity, ...] pair. Numbers after the first two
// are ignored.
func (d *decoder) level(s *scanner) (tvbridge.PriceLevel, bool) {
	var l tvbridge.PriceLevel
	var ok bool
	if !s.consume('[') {
		return l, false
	}
	if l.Price, ok = s.number(); !ok || !s.consume(',') {
		return l, false
	}
	if l.Quantity, ok = s.number(); !ok {
		return l, false
	}
	for s.consume(',') {
		if !s.skipValue() {
			return l, false
		}
	}
	return l, s.consume(']')
}

// instrumentInfo parses {"figi","trade_status","min_price_increment","lot",
// "accrued_interest"?,"limit_up"?,"limit_down"?}. figi and trade_status are
// required; an unrecognised status decodes as StatusUnknown.
func (d *decoder) instrumentInfo(s *scanner, in *tvbridge.InstrumentInfo) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	var seen fieldSet
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return syntaxErr("member", s)
		}
		if !more {
			break
		}
		switch string(key) {
		case "figi":
			ok = d.figi(s, &in.FIGI, &seen)
		case "trade_status":
			var b []byte
			if b, ok = s.str(); ok {
				in.TradeStatus = parseTradeStatus(b)
				seen.add(hasStatus)
			}
		case "min_price_increment":
			ok = d.optNum(s, &in.MinPriceIncrement)
		case "lot":
			ok = d.optNum(s, &in.Lot)
		case "accrued_interest":
			ok = d.optNum(s, &in.AccruedInterest)
		case "limit_up":
			ok = d.optNum(s, &in.LimitUp)
		case "limit_down":
			ok = d.optNum(s, &in.LimitDown)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(fmt.Sprintf("%q", key), s)
		}
	}
	if !seen.has(hasFIGI | hasStatus) {
		return missingErr("instrument_info figi or trade_status")
	}
	if in.MinPriceIncrement < 0 {
		return negativeErr("min_price_increment", in.MinPriceIncrement)
	}
	if in.Lot < 0 {
		return negativeErr("lot", in.Lot)
	}
	return nil
}

// errorPayload parses {"error": text, "request_id": id}. The id is optional
// and accepted as a number too, in case a server echoes it unquoted.
func (d *decoder) errorPayload(s *scanner, f *frame) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return syntaxErr("member", s)
		}
		if !more {
			break
		}
		switch string(key) {
		case "error":
			var b []byte
			if b, ok = s.str(); ok {
				f.errText = string(b)
			} else {
				ok = s.skipValue() // a non-string error keeps the frame; the text stays empty
			}
		case "request_id":
			f.requestID, ok = d.requestID(s)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(fmt.Sprintf("%q", key), s)
		}
	}
	return nil
}

// requestID reads a request id given as a string, a number or null.
func (d *decoder) requestID(s *scanner) (string, bool) {
	switch s.peek() {
	case '"':
		b, ok := s.str()
		return string(b), ok
	case 'n':
		return "", s.null()
	}
	start := s.pos
	if _, ok := s.number(); !ok {
		return "", false
	}
	return string(s.buf[start:s.pos]), true
}

// num reads a required number and marks it seen.
func (d *decoder) num(s *scanner, dst *float64, seen *fieldSet, bit fieldSet) bool {
	v, ok := s.number()
	if ok {
		*dst = v
		seen.add(bit)
	}
	return ok
}

// optNum reads an optional number; null leaves dst zero.
func (d *decoder) optNum(s *scanner, dst *float64) bool {
	if s.null() {
		*dst = 0
		return true
	}
	v, ok := s.number()
	*dst = v
	return ok
}

// figi reads a non-empty FIGI, interning it.
func (d *decoder) figi(s *scanner, dst *string, seen *fieldSet) bool {
	b, ok := s.str()
	if !ok || len(b) == 0 {
		return false
	}
	*dst = d.intern(b)
	seen.add(hasFIGI)
	return true
}

// intern returns a string equal to b, reusing an earlier allocation when the
// FIGI was seen before. The table is bounded so a server inventing FIGIs
// cannot grow it without limit; past the bound FIGIs are simply allocated.
func (d *decoder) intern(b []byte) string {
	if v, ok := d.figis[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(d.figis) < maxInternSize {
		d.figis[v] = v
	}
	return v
}

// parseInterval maps the stream's interval names to the domain constants
// without allocating.
func parseInterval(b []byte) (tvbridge.CandleInterval, bool) {
	for _, iv := range intervals {
		if string(iv) == string(b) {
			return iv, true
		}
	}
	return "", false
}

var intervals = []tvbridge.CandleInterval{
	tvbridge.Interval1Min, tvbridge.Interval2Min, tvbridge.Interval3Min, tvbridge.Interval5Min,
	tvbridge.Interval10Min, tvbridge.Interval15Min, tvbridge.Interval30Min, tvbridge.IntervalHour,
	tvbridge.Interval2Hour, tvbridge.Interval4Hour, tvbridge.IntervalDay, tvbridge.IntervalWeek,
	tvbridge.IntervalMonth,
}
