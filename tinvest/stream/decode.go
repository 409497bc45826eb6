package stream

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// eventKind is what a decoded frame carries.
type eventKind uint8

const (
	kindUnknown eventKind = iota // a member this client does not know
	kindCandle
	kindOrderBook
	kindTradingStatus
	kindTrade
	kindPing
	kindSubscription // a subscribe...Response
	kindIgnored      // lastPrice, openInterest: known, not used
)

// frame is one decoded server frame. The decoder reuses it: Book's levels
// point into the decoder's scratch space and are valid until the next
// decode; the output stage copies what it keeps.
type frame struct {
	kind eventKind
	name string // the member name, kept for unknown members only

	uid string // instrumentUid of a data message ("" when absent)
	// serverTime is the message's own time: the trade's, the book's, the
	// status change's, the candle's last trade; zero when absent.
	serverTime time.Time

	candle     tvbridge.Candle
	book       tvbridge.OrderBook
	status     tvbridge.TradeStatus
	statusFIGI string
	trade      tvbridge.Trade

	sub subResponse
}

// subResponse is a subscribe...Response: its kind and per-instrument
// statuses.
type subResponse struct {
	kind       tvbridge.SubscriptionKind
	trackingID string
	entries    []subEntry
}

// subEntry is one instrument's status in a subscribe...Response.
type subEntry struct {
	figi, uid string
	interval  tvbridge.CandleInterval // candles
	depth     int                     // books
	status    wire.SubscriptionStatus
	action    wire.SubscriptionAction // "" from servers that leave it out
}

// Decoding limits; they only keep hostile input cheap.
const (
	maxLevels     = 1000 // per side
	maxNameLen    = 64
	maxInternSize = 8192
)

var errBadFrame = errors.New("malformed frame")

// decoder turns MarketDataStream frames into values. Not safe for
// concurrent use: each connection's reader owns one.
type decoder struct {
	s      scanner
	ids    map[string]string // interned FIGIs and uids
	recent [256]string       // ids last seen, by recentSlot (see id)
	levels []tvbridge.PriceLevel
}

func newDecoder() *decoder { return &decoder{ids: make(map[string]string)} }

// decode parses one frame into f. A frame is a JSON object with exactly one
// known member (the oneof); unknown members are ignored; a frame with no
// known member is kindUnknown. Any error means the frame is unusable.
func (d *decoder) decode(data []byte, f *frame) error {
	*f = frame{kind: kindUnknown}
	s := &d.s
	s.reset(data)
	if !s.objectStart() {
		return fmt.Errorf("%w: not a JSON object", errBadFrame)
	}
	known := 0
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return fmt.Errorf("%w: bad syntax at byte %d", errBadFrame, s.pos)
		}
		if !more {
			break
		}
		k := memberKind(key)
		if k == kindUnknown {
			if f.name == "" {
				f.name = truncName(key)
			}
			if !s.skipValue() {
				return fmt.Errorf("%w: bad value of %q", errBadFrame, truncName(key))
			}
			continue
		}
		if known++; known > 1 {
			return fmt.Errorf("%w: more than one message in a frame", errBadFrame)
		}
		f.kind, f.name = k, ""
		if err := d.member(s, key, f); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	if !s.atEnd() {
		return fmt.Errorf("%w: trailing data", errBadFrame)
	}
	return nil
}

func truncName(b []byte) string {
	if len(b) > maxNameLen {
		b = b[:maxNameLen]
	}
	return string(b)
}

// memberKind maps a top-level member name to its kind.
func memberKind(key []byte) eventKind {
	switch string(key) {
	case "candle":
		return kindCandle
	case "orderbook":
		return kindOrderBook
	case "tradingStatus":
		return kindTradingStatus
	case "trade":
		return kindTrade
	case "ping":
		return kindPing
	case "subscribeCandlesResponse", "subscribeOrderBookResponse", "subscribeTradesResponse",
		"subscribeInfoResponse", "subscribeLastPriceResponse":
		return kindSubscription
	case "lastPrice", "openInterest":
		return kindIgnored
	}
	return kindUnknown
}

func (d *decoder) member(s *scanner, key []byte, f *frame) error {
	switch f.kind {
	case kindCandle:
		return d.candle(s, f)
	case kindOrderBook:
		return d.orderBook(s, f)
	case kindTradingStatus:
		return d.tradingStatus(s, f)
	case kindTrade:
		return d.trade(s, f)
	case kindPing:
		return d.ping(s, f)
	case kindSubscription:
		return d.subscription(s, key, f)
	}
	if !s.skipValue() {
		return errBadFrame
	}
	return nil
}

func syntaxErr(what string, s *scanner) error {
	return fmt.Errorf("%w: bad %s at byte %d", errBadFrame, what, s.pos)
}

// quotation reads a Quotation object strictly (see wire.Quotation) and
// returns the float64 nearest to it.
func (d *decoder) quotation(s *scanner) (float64, bool) {
	if q, ok := s.quotationFast(); ok {
		return float64Of(q), true
	}
	if s.null() {
		return 0, true
	}
	if !s.objectStart() {
		return 0, false
	}
	var q wire.Quotation
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return 0, false
		}
		if !more {
			break
		}
		switch string(key) {
		case "units":
			if q.Units, ok = s.int64Value(); !ok {
				return 0, false
			}
		case "nano":
			if q.Nano, ok = s.int32Value(); !ok {
				return 0, false
			}
		default:
			if !s.skipValue() {
				return 0, false
			}
		}
	}
	if q.Validate() != nil {
		return 0, false
	}
	return q.Float64(), true
}

// id reads an identifier string, interned. The map hashes the whole id
// (a uid is 36 bytes), twice a frame; a direct-mapped table of the ids
// last seen answers nearly every look-up with one comparison instead.
func (d *decoder) id(s *scanner) (string, bool) {
	b, ok := s.str()
	if !ok {
		return "", false
	}
	slot := &d.recent[recentSlot(b)]
	if *slot == string(b) {
		return *slot, true
	}
	v, ok := d.ids[string(b)]
	if !ok {
		v = string(b)
		if len(d.ids) < maxInternSize {
			d.ids[v] = v
		}
	}
	*slot = v
	return v, true
}

// recentSlot picks an id's slot in decoder.recent from its last eight
// bytes, where FIGIs and uids differ most.
func recentSlot(b []byte) uint8 {
	var w uint64
	if len(b) >= 8 {
		w = binary.LittleEndian.Uint64(b[len(b)-8:])
	} else {
		for _, c := range b {
			w = w<<8 | uint64(c)
		}
	}
	const golden = 0x9E3779B97F4A7C15 // Fibonacci hashing: the top byte mixes all of w
	return uint8((w ^ uint64(len(b))) * golden >> 56)
}

// timeValue reads an RFC 3339 timestamp (null: zero).
func (d *decoder) timeValue(s *scanner) (time.Time, bool) {
	if s.null() {
		return time.Time{}, true
	}
	b, ok := s.str()
	if !ok {
		return time.Time{}, false
	}
	return parseTime(b)
}

// enumValue reads an enum name (null: empty).
func (d *decoder) enumValue(s *scanner) ([]byte, bool) {
	if s.null() {
		return nil, true
	}
	return s.str()
}

func missing(what string) error { return fmt.Errorf("%w: missing %s", errBadFrame, what) }

// candle parses a stream Candle. Required: an instrument (figi or uid),
// a known interval, the time. Prices and volume left out are zero, as
// proto3 JSON leaves zeros out.
func (d *decoder) candle(s *scanner, f *frame) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	c := &f.candle
	var haveTime, haveInterval bool
	var volume int64
	walk := fieldWalk{order: candleOrder}
	for first := true; ; first = false {
		key, more, ok := walk.nextField(s, first)
		if !ok {
			return syntaxErr("member", s)
		}
		if !more {
			break
		}
		switch string(key) {
		case "figi":
			c.FIGI, ok = d.id(s)
		case "instrumentUid":
			f.uid, ok = d.id(s)
		case "interval":
			var b []byte
			if b, ok = d.enumValue(s); ok {
				c.Interval, haveInterval = intervalFromWire(b)
			}
		case "open":
			c.Open, ok = d.quotation(s)
		case "high":
			c.High, ok = d.quotation(s)
		case "low":
			c.Low, ok = d.quotation(s)
		case "close":
			c.Close, ok = d.quotation(s)
		case "volume":
			volume, ok = s.int64Value()
		case "time":
			c.Time, ok = d.timeValue(s)
			haveTime = ok && !c.Time.IsZero()
		case "lastTradeTs":
			f.serverTime, ok = d.timeValue(s)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(strconv.Quote(string(key)), s)
		}
	}
	if c.FIGI == "" && f.uid == "" {
		return missing("figi and instrumentUid")
	}
	if !haveInterval {
		return missing("known interval")
	}
	if !haveTime {
		return missing("time")
	}
	if volume < 0 {
		return fmt.Errorf("%w: negative volume", errBadFrame)
	}
	c.Volume = float64(volume)
	return nil
}

// trade parses a stream Trade. Required: an instrument, the time and a
// positive quantity.
func (d *decoder) trade(s *scanner, f *frame) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	t := &f.trade
	var qty int64
	walk := fieldWalk{order: tradeOrder}
	for first := true; ; first = false {
		key, more, ok := walk.nextField(s, first)
		if !ok {
			return syntaxErr("member", s)
		}
		if !more {
			break
		}
		switch string(key) {
		case "figi":
			t.FIGI, ok = d.id(s)
		case "instrumentUid":
			f.uid, ok = d.id(s)
		case "price":
			t.Price, ok = d.quotation(s)
		case "quantity":
			qty, ok = s.int64Value()
		case "time":
			t.Time, ok = d.timeValue(s)
		case "direction", "tradeSource":
			_, ok = d.enumValue(s)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(strconv.Quote(string(key)), s)
		}
	}
	if t.FIGI == "" && f.uid == "" {
		return missing("figi and instrumentUid")
	}
	if t.Time.IsZero() {
		return missing("time")
	}
	if qty <= 0 {
		return fmt.Errorf("%w: trade quantity %d", errBadFrame, qty)
	}
	t.Quantity = float64(qty)
	f.serverTime = t.Time
	return nil
}

// orderBook parses a stream OrderBook; an empty side may be left out.
func (d *decoder) orderBook(s *scanner, f *frame) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	b := &f.book
	d.levels = d.levels[:0]
	var bids, asks levelSpan
	walk := fieldWalk{order: bookOrder}
	for first := true; ; first = false {
		key, more, ok := walk.nextField(s, first)
		if !ok {
			return syntaxErr("member", s)
		}
		if !more {
			break
		}
		switch string(key) {
		case "figi":
			b.FIGI, ok = d.id(s)
		case "instrumentUid":
			f.uid, ok = d.id(s)
		case "depth":
			var depth int32
			if depth, ok = s.int32Value(); ok && (depth < 0 || depth > maxLevels) {
				ok = false
			}
			b.Depth = int(depth)
		case "bids":
			bids, ok = d.levelList(s)
		case "asks":
			asks, ok = d.levelList(s)
		case "time":
			f.serverTime, ok = d.timeValue(s)
		case "isConsistent":
			_, ok = s.boolValue()
		case "limitUp", "limitDown":
			_, ok = d.quotation(s)
		case "orderBookType":
			_, ok = d.enumValue(s)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(strconv.Quote(string(key)), s)
		}
	}
	if b.FIGI == "" && f.uid == "" {
		return missing("figi and instrumentUid")
	}
	b.Bids = bids.of(d.levels)
	b.Asks = asks.of(d.levels)
	return nil
}

// levelSpan locates one side inside decoder.levels; a repeated side wins.
type levelSpan struct{ start, end int }

func (l levelSpan) of(levels []tvbridge.PriceLevel) []tvbridge.PriceLevel {
	if l.end == l.start {
		return nil
	}
	return levels[l.start:l.end:l.end]
}

// levelList parses [{"price":{...},"quantity":"20"}, ...] (or null).
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
		if len(d.levels)-span.start >= maxLevels {
			return span, false
		}
		l, ok := s.levelFast()
		if !ok {
			l, ok = d.level(s)
		}
		if !ok {
			return span, false
		}
		d.levels = append(d.levels, l)
	}
	span.end = len(d.levels)
	return span, true
}

// level reads a level in any layout (levelList tries levelFast first).
func (d *decoder) level(s *scanner) (tvbridge.PriceLevel, bool) {
	var l tvbridge.PriceLevel
	if !s.objectStart() {
		return l, false
	}
	for first := true; ; first = false {
		key, more, ok := s.nextField(first)
		if !ok {
			return l, false
		}
		if !more {
			break
		}
		switch string(key) {
		case "price":
			l.Price, ok = d.quotation(s)
		case "quantity":
			var q int64
			if q, ok = s.int64Value(); ok && q < 0 {
				ok = false
			}
			l.Quantity = float64(q)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return l, false
		}
	}
	return l, true
}

// tradingStatus parses a stream TradingStatus.
func (d *decoder) tradingStatus(s *scanner, f *frame) error {
	if !s.objectStart() {
		return syntaxErr("object", s)
	}
	var figi string
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
			figi, ok = d.id(s)
		case "instrumentUid":
			f.uid, ok = d.id(s)
		case "tradingStatus":
			var b []byte
			if b, ok = d.enumValue(s); ok {
				f.status = tradeStatusBytes(b)
			}
		case "time":
			f.serverTime, ok = d.timeValue(s)
		case "limitOrderAvailableFlag", "marketOrderAvailableFlag":
			_, ok = s.boolValue()
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(strconv.Quote(string(key)), s)
		}
	}
	if figi == "" && f.uid == "" {
		return missing("figi and instrumentUid")
	}
	f.statusFIGI = figi
	return nil
}

// ping parses {"time":...,"streamId":...}.
func (d *decoder) ping(s *scanner, f *frame) error {
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
		case "time":
			f.serverTime, ok = d.timeValue(s)
		default:
			ok = s.skipValue()
		}
		if !ok {
			return syntaxErr(strconv.Quote(string(key)), s)
		}
	}
	return nil
}

// subscription decodes a subscribe...Response with encoding/json (they
// are rare) into the wire types, then flattens the statuses.
func (d *decoder) subscription(s *scanner, key []byte, f *frame) error {
	s.skipSpace()
	start := s.pos
	if !s.skipValue() {
		return syntaxErr("value", s)
	}
	raw := s.buf[start:s.pos]
	r := &f.sub
	switch string(key) {
	case "subscribeCandlesResponse":
		var m wire.SubscribeCandlesResponse
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%w: %v", errBadFrame, err)
		}
		r.kind, r.trackingID = tvbridge.SubCandle, m.TrackingID
		for _, e := range m.CandlesSubscriptions {
			iv, _ := intervalFromWire([]byte(e.Interval))
			r.entries = append(r.entries, subEntry{figi: e.FIGI, uid: e.InstrumentUID, interval: iv,
				status: e.SubscriptionStatus, action: e.SubscriptionAction})
		}
	case "subscribeOrderBookResponse":
		var m wire.SubscribeOrderBookResponse
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%w: %v", errBadFrame, err)
		}
		r.kind, r.trackingID = tvbridge.SubOrderBook, m.TrackingID
		for _, e := range m.OrderBookSubscriptions {
			r.entries = append(r.entries, subEntry{figi: e.FIGI, uid: e.InstrumentUID, depth: int(e.Depth),
				status: e.SubscriptionStatus, action: e.SubscriptionAction})
		}
	case "subscribeTradesResponse":
		var m wire.SubscribeTradesResponse
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%w: %v", errBadFrame, err)
		}
		r.kind, r.trackingID = tvbridge.SubTrade, m.TrackingID
		for _, e := range m.TradeSubscriptions {
			r.entries = append(r.entries, subEntry{figi: e.FIGI, uid: e.InstrumentUID,
				status: e.SubscriptionStatus, action: e.SubscriptionAction})
		}
	case "subscribeInfoResponse":
		var m wire.SubscribeInfoResponse
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%w: %v", errBadFrame, err)
		}
		r.kind, r.trackingID = tvbridge.SubInstrumentInfo, m.TrackingID
		for _, e := range m.InfoSubscriptions {
			r.entries = append(r.entries, subEntry{figi: e.FIGI, uid: e.InstrumentUID,
				status: e.SubscriptionStatus, action: e.SubscriptionAction})
		}
	default: // last prices: not used by this client
		var m wire.SubscribeLastPriceResponse
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%w: %v", errBadFrame, err)
		}
		f.kind = kindIgnored
	}
	return nil
}

// figi returns the FIGI a data frame names ("" when it names only a uid).
func (f *frame) figi() string {
	switch f.kind {
	case kindOrderBook:
		return f.book.FIGI
	case kindTrade:
		return f.trade.FIGI
	case kindTradingStatus:
		return f.statusFIGI
	}
	return f.candle.FIGI
}

// intervals maps the stream's interval names to the domain's.
var intervals = map[string]tvbridge.CandleInterval{
	string(wire.SubscriptionIntervalOneMinute):      tvbridge.Interval1Min,
	string(wire.SubscriptionInterval2Min):           tvbridge.Interval2Min,
	string(wire.SubscriptionInterval3Min):           tvbridge.Interval3Min,
	string(wire.SubscriptionIntervalFiveMinutes):    tvbridge.Interval5Min,
	string(wire.SubscriptionInterval10Min):          tvbridge.Interval10Min,
	string(wire.SubscriptionIntervalFifteenMinutes): tvbridge.Interval15Min,
	string(wire.SubscriptionInterval30Min):          tvbridge.Interval30Min,
	string(wire.SubscriptionIntervalOneHour):        tvbridge.IntervalHour,
	string(wire.SubscriptionInterval2Hour):          tvbridge.Interval2Hour,
	string(wire.SubscriptionInterval4Hour):          tvbridge.Interval4Hour,
	string(wire.SubscriptionIntervalOneDay):         tvbridge.IntervalDay,
	string(wire.SubscriptionIntervalWeek):           tvbridge.IntervalWeek,
	string(wire.SubscriptionIntervalMonth):          tvbridge.IntervalMonth,
}

// subscriptionIntervals is the reverse of intervals.
var subscriptionIntervals = func() map[tvbridge.CandleInterval]wire.SubscriptionInterval {
	m := make(map[tvbridge.CandleInterval]wire.SubscriptionInterval, len(intervals))
	for k, v := range intervals {
		m[v] = wire.SubscriptionInterval(k)
	}
	return m
}()

func intervalFromWire(b []byte) (tvbridge.CandleInterval, bool) {
	iv, ok := intervals[string(b)]
	return iv, ok
}
