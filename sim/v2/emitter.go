package v2sim

import (
	"slices"
	"sort"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinvest/wire"
)

// emitter owns MarketDataStream's side: which stream subscribed to what,
// and the state of every subscribed instrument. State is shared by all
// subscribers of the same thing: an instrument's trades are read from the
// model once per tick, through one cursor, and feed both its trade
// subscribers and its candle streams, so the candles streamed are exactly
// the aggregates of the trades streamed.
type emitter struct {
	srv *Server
	m   *market.Market

	mu    sync.Mutex
	insts map[string]*instStream // by FIGI
	list  []*instStream          // the same, in subscription order
	conns map[*mdConn]bool
	reqs  requestLog
}

type subKind uint8

const (
	kindCandles subKind = iota + 1
	kindBooks
	kindTrades
	kindInfo
	kindLastPrice
)

// counts reports whether a kind counts against the per-stream limit.
func (k subKind) counts() bool { return k == kindCandles || k == kindBooks || k == kindTrades }

// subKey is one subscription of a stream.
type subKey struct {
	kind     subKind
	figi     string
	interval tvbridge.CandleInterval
	depth    int32
}

type connSub struct {
	id           string
	waitingClose bool
	wiv          wire.SubscriptionInterval
}

// instStream is the stream state of one instrument.
type instStream struct {
	in *instrument

	// The trade cursor, kept while trades or candles are subscribed: every
	// trade before processed has been applied; trades caches the model's
	// trades of minute and next indexes the first not applied yet.
	cursor    bool
	processed time.Time
	minute    time.Time
	trades    []market.Trade
	next      int
	late      *market.Trade // held back by the LateTrades fault
	lateDir   wire.TradeDirection
	lateDue   time.Time

	tradeSubs []*mdConn
	candles   []*candleStream
	books     []*bookStream
	infoSubs  []*mdConn
	status    tvbridge.TradeStatus
	lpSubs    []*mdConn
	lastPrice time.Time // time of the last trade whose price went out
}

func (in *instStream) empty() bool {
	return len(in.tradeSubs) == 0 && len(in.candles) == 0 && len(in.books) == 0 && len(in.infoSubs) == 0 && len(in.lpSubs) == 0
}

type bookStream struct {
	depth int32
	subs  []*mdConn
	last  tvbridge.OrderBook
}

func newEmitter(s *Server) *emitter {
	return &emitter{srv: s, m: s.market, insts: make(map[string]*instStream), conns: make(map[*mdConn]bool),
		reqs: requestLog{}}
}

func (e *emitter) addConn(c *mdConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.conns[c] = true
}

// removeConn drops every subscription of a closed stream.
func (e *emitter) removeConn(c *mdConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range c.subs {
		e.detach(c, k)
	}
	clear(c.subs)
	delete(e.conns, c)
}

func (e *emitter) setPing(c *mdConn, ms int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := time.Duration(ms) * time.Millisecond
	c.pingEvery = min(max(d, 5*time.Second), 180*time.Second)
}

// subItem is one instrument of a subscription request.
type subItem struct {
	id       string
	interval wire.SubscriptionInterval
	depth    int32
}

type subOpts struct {
	waitingClose bool
	tradeSource  wire.TradeSourceType
}

// itemResult is the status of one instrument of a request.
type itemResult struct {
	item   subItem
	in     *instrument
	key    subKey
	status wire.SubscriptionStatus
	subID  string
}

// request applies a subscribe or unsubscribe request and answers it with
// a status per instrument, then sends the snapshots of what it subscribed.
func (e *emitter) request(c *mdConn, kind subKind, action wire.SubscriptionAction, items []subItem, opts subOpts, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	results := make([]itemResult, len(items))
	var refuse wire.SubscriptionStatus
	switch {
	case action != wire.SubscriptionActionSubscribe && action != wire.SubscriptionActionUnsubscribe:
		refuse = wire.SubscriptionStatusSubscriptionActionInvalid
	case !e.reqs.take(c.token, e.srv.cfg.MaxSubscribeRequestsPerMinute, now):
		refuse = wire.SubscriptionStatusTooManyRequests
		e.srv.stats.tooManyRequests.Add(1)
	}
	var added []itemResult
	for i, it := range items {
		r := &results[i]
		r.item = it
		if refuse != "" {
			r.status = refuse
			continue
		}
		r.status = e.resolve(r, kind)
		if r.status != "" {
			continue
		}
		if action == wire.SubscriptionActionSubscribe {
			r.status = e.add(c, r, opts, now)
			if r.status == wire.SubscriptionStatusSuccess {
				added = append(added, *r)
			}
		} else {
			r.status = e.remove(c, r)
		}
	}
	c.send(e.response(c, kind, action, results, opts))
	for _, r := range added {
		e.snapshot(c, r, now)
	}
}

// resolve finds a request item's instrument and key, or the status that
// refuses it.
func (e *emitter) resolve(r *itemResult, kind subKind) wire.SubscriptionStatus {
	in, ok := e.srv.cat.lookup(r.item.id)
	if !ok {
		return wire.SubscriptionStatusInstrumentNotFound
	}
	r.in = in
	r.key = subKey{kind: kind, figi: in.FIGI}
	switch kind {
	case kindCandles:
		iv, ok := streamIntervals[r.item.interval]
		if !ok {
			return wire.SubscriptionStatusIntervalInvalid
		}
		r.key.interval = iv
	case kindBooks:
		if !bookDepths[r.item.depth] {
			return wire.SubscriptionStatusDepthInvalid
		}
		r.key.depth = r.item.depth
	}
	return ""
}

// add subscribes c to r's key; a repeat is a success that changes nothing.
func (e *emitter) add(c *mdConn, r *itemResult, opts subOpts, now time.Time) wire.SubscriptionStatus {
	if cs, ok := c.subs[r.key]; ok {
		r.subID = cs.id
		if r.key.kind == kindCandles && cs.waitingClose != opts.waitingClose {
			e.detach(c, r.key)
			cs.waitingClose = opts.waitingClose
			e.attach(c, r.key, cs, now)
		}
		return wire.SubscriptionStatusSuccess
	}
	if r.key.kind.counts() && c.weight >= e.srv.cfg.MaxSubscriptionsPerStream {
		e.srv.stats.limitExceeded.Add(1)
		return wire.SubscriptionStatusLimitExceeded
	}
	cs := &connSub{id: derivedUUID("subscription", e.srv.trackingID()), waitingClose: opts.waitingClose, wiv: r.item.interval}
	c.subs[r.key] = cs
	if r.key.kind.counts() {
		c.weight++
	}
	r.subID = cs.id
	e.attach(c, r.key, cs, now)
	return wire.SubscriptionStatusSuccess
}

// remove unsubscribes c from r's key.
func (e *emitter) remove(c *mdConn, r *itemResult) wire.SubscriptionStatus {
	cs, ok := c.subs[r.key]
	if !ok {
		return wire.SubscriptionStatusSubscriptionNotFound
	}
	r.subID = cs.id
	e.detach(c, r.key)
	delete(c.subs, r.key)
	if r.key.kind.counts() {
		c.weight--
	}
	if len(c.subs) == 0 {
		c.emptySince = e.srv.clock.Now()
	}
	return wire.SubscriptionStatusSuccess
}

// instrument returns the stream state of an instrument, creating it.
func (e *emitter) instrument(in *instrument) *instStream {
	st := e.insts[in.FIGI]
	if st == nil {
		st = &instStream{in: in}
		e.insts[in.FIGI] = st
		e.list = append(e.list, st)
	}
	return st
}

// startCursor starts reading trades at now when nothing read them yet.
func (is *instStream) startCursor(now time.Time) {
	if is.cursor {
		return
	}
	is.cursor, is.processed, is.minute, is.trades, is.next, is.late = true, now, time.Time{}, nil, 0, nil
}

// attach adds c to the stream state of key.
func (e *emitter) attach(c *mdConn, key subKey, cs *connSub, now time.Time) {
	is := e.instrument(e.srv.cat.byFIGI[key.figi])
	switch key.kind {
	case kindTrades:
		is.startCursor(now)
		is.tradeSubs = append(is.tradeSubs, c)
	case kindCandles:
		is.startCursor(now)
		st := is.candle(key.interval)
		if st == nil {
			st = e.newCandleStream(is, key.interval, cs.wiv)
			is.candles = append(is.candles, st)
		}
		if cs.waitingClose {
			st.closing = append(st.closing, c)
		} else {
			st.live = append(st.live, c)
		}
	case kindBooks:
		b := is.book(key.depth)
		if b == nil {
			b = &bookStream{depth: key.depth, last: e.m.OrderBook(key.figi, now, int(key.depth))}
			is.books = append(is.books, b)
		}
		b.subs = append(b.subs, c)
	case kindInfo:
		if len(is.infoSubs) == 0 {
			is.status = e.m.Status(key.figi, now)
		}
		is.infoSubs = append(is.infoSubs, c)
	case kindLastPrice:
		is.lpSubs = append(is.lpSubs, c)
	}
}

// detach removes c from the stream state of key and frees what nobody
// reads.
func (e *emitter) detach(c *mdConn, key subKey) {
	is := e.insts[key.figi]
	if is == nil {
		return
	}
	switch key.kind {
	case kindTrades:
		is.tradeSubs = without(is.tradeSubs, c)
	case kindCandles:
		if st := is.candle(key.interval); st != nil {
			st.live, st.closing = without(st.live, c), without(st.closing, c)
			if len(st.live)+len(st.closing) == 0 {
				is.candles = without(is.candles, st)
			}
		}
	case kindBooks:
		if b := is.book(key.depth); b != nil {
			if b.subs = without(b.subs, c); len(b.subs) == 0 {
				is.books = without(is.books, b)
			}
		}
	case kindInfo:
		is.infoSubs = without(is.infoSubs, c)
	case kindLastPrice:
		is.lpSubs = without(is.lpSubs, c)
	}
	if len(is.tradeSubs) == 0 && len(is.candles) == 0 {
		is.cursor = false
	}
	if is.empty() {
		e.list = without(e.list, is)
		delete(e.insts, key.figi)
	}
}

func (is *instStream) book(depth int32) *bookStream {
	for _, b := range is.books {
		if b.depth == depth {
			return b
		}
	}
	return nil
}

// without returns s without x, keeping the order.
func without[T comparable](s []T, x T) []T {
	return slices.DeleteFunc(s, func(v T) bool { return v == x })
}

// snapshot sends a new subscriber the current state: the forming candle
// (unless it waits for the close), the book, the status, the last price.
func (e *emitter) snapshot(c *mdConn, r itemResult, now time.Time) {
	is := e.insts[r.in.FIGI]
	if is == nil {
		return
	}
	one := []*mdConn{c}
	switch r.key.kind {
	case kindCandles:
		if st := is.candle(r.key.interval); st != nil && st.has && !c.subs[r.key].waitingClose {
			e.data(one, st.frame(is.in, st.candle), false)
		}
	case kindBooks:
		if b := is.book(r.key.depth); b != nil {
			e.data(one, bookFrame(is.in, b.depth, b.last, now), false)
		}
	case kindInfo:
		e.data(one, statusFrame(is.in, is.status, now), false)
	case kindLastPrice:
		if tr, ok := e.m.LastTrade(is.in.FIGI, now); ok {
			e.data(one, encode(wire.MarketDataResponse{LastPrice: ptr(lastPrice(is.in, tr))}), false)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// response builds the subscribe...Response of a request.
func (e *emitter) response(c *mdConn, kind subKind, action wire.SubscriptionAction, rs []itemResult, opts subOpts) []byte {
	tracking := e.srv.trackingID()
	ids := func(r itemResult) (figi, uid string) {
		if r.in == nil {
			return "", r.item.id // the id asked for, so the client can match the answer
		}
		return r.in.FIGI, r.in.uid
	}
	var m wire.MarketDataResponse
	switch kind {
	case kindCandles:
		out := &wire.SubscribeCandlesResponse{TrackingID: tracking}
		for _, r := range rs {
			figi, uid := ids(r)
			out.CandlesSubscriptions = append(out.CandlesSubscriptions, wire.CandleSubscription{FIGI: figi,
				Interval: r.item.interval, SubscriptionStatus: r.status, InstrumentUID: uid, WaitingClose: opts.waitingClose,
				StreamID: c.streamID, SubscriptionID: r.subID, SubscriptionAction: action,
				CandleSourceType: wire.CandleSourceExchange})
		}
		m.SubscribeCandlesResponse = out
	case kindBooks:
		out := &wire.SubscribeOrderBookResponse{TrackingID: tracking}
		for _, r := range rs {
			figi, uid := ids(r)
			out.OrderBookSubscriptions = append(out.OrderBookSubscriptions, wire.OrderBookSubscription{FIGI: figi,
				Depth: r.item.depth, SubscriptionStatus: r.status, InstrumentUID: uid, StreamID: c.streamID,
				SubscriptionID: r.subID, OrderBookType: wire.OrderBookTypeExchange, SubscriptionAction: action})
		}
		m.SubscribeOrderBookResponse = out
	case kindTrades:
		out := &wire.SubscribeTradesResponse{TrackingID: tracking, TradeSource: opts.tradeSource}
		for _, r := range rs {
			figi, uid := ids(r)
			out.TradeSubscriptions = append(out.TradeSubscriptions, wire.TradeSubscription{FIGI: figi,
				SubscriptionStatus: r.status, InstrumentUID: uid, StreamID: c.streamID, SubscriptionID: r.subID,
				SubscriptionAction: action})
		}
		m.SubscribeTradesResponse = out
	default:
		var subs []wire.InfoSubscription
		for _, r := range rs {
			figi, uid := ids(r)
			subs = append(subs, wire.InfoSubscription{FIGI: figi, SubscriptionStatus: r.status, InstrumentUID: uid,
				StreamID: c.streamID, SubscriptionID: r.subID, SubscriptionAction: action})
		}
		if kind == kindInfo {
			m.SubscribeInfoResponse = &wire.SubscribeInfoResponse{TrackingID: tracking, InfoSubscriptions: subs}
		} else {
			m.SubscribeLastPriceResponse = &wire.SubscribeLastPriceResponse{TrackingID: tracking, LastPriceSubscriptions: subs}
		}
	}
	return encode(m)
}

// mySubscriptions answers getMySubscriptions: one response per kind with
// the stream's subscriptions.
func (e *emitter) mySubscriptions(c *mdConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	byKind := map[subKind][]itemResult{}
	var waiting bool
	keys := make([]subKey, 0, len(c.subs))
	for k := range c.subs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].figi < keys[j].figi })
	for _, k := range keys {
		cs := c.subs[k]
		in := e.srv.cat.byFIGI[k.figi]
		byKind[k.kind] = append(byKind[k.kind], itemResult{item: subItem{id: in.uid, interval: cs.wiv, depth: k.depth},
			in: in, key: k, status: wire.SubscriptionStatusSuccess, subID: cs.id})
		waiting = waiting || cs.waitingClose
	}
	for _, kind := range []subKind{kindCandles, kindBooks, kindTrades, kindInfo, kindLastPrice} {
		if rs := byKind[kind]; len(rs) > 0 {
			c.send(e.response(c, kind, wire.SubscriptionActionSubscribe, rs, subOpts{waitingClose: waiting}))
		}
	}
}

// data queues a data frame to subscribers: twice under the Duplicate
// fault (when dup), not at all under Stall (pings and subscription answers
// still go).
func (e *emitter) data(to []*mdConn, frame []byte, dup bool) {
	if len(to) == 0 {
		return
	}
	f := &e.srv.faults
	if f.stall.Load() {
		e.srv.stats.withheld.Add(uint64(len(to)))
		return
	}
	for _, c := range to {
		c.send(frame)
	}
	if dup && f.duplicate.Load() {
		for _, c := range to {
			c.send(frame)
		}
		e.srv.stats.duplicated.Add(uint64(len(to)))
	}
}

// tick advances every subscribed instrument to now, then pings and closes
// streams left without subscriptions.
func (e *emitter) tick(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, is := range e.list {
		e.advance(is, now)
	}
	for c := range e.conns {
		e.keepAlive(c, now)
	}
}

// keepAlive pings c when its period is over (also under Stall: the
// connection stays open and pinged, only data stops) and closes it after
// IdleStreamTimeout without subscriptions (80004).
func (e *emitter) keepAlive(c *mdConn, now time.Time) {
	if now.Sub(c.lastPing) >= c.pingEvery {
		c.lastPing = now
		c.send(encode(wire.MarketDataResponse{Ping: &wire.Ping{Time: wire.At(now), StreamID: c.streamID}}))
		e.srv.stats.pingsSent.Add(1)
	}
	if len(c.subs) == 0 && !c.closing && now.Sub(c.emptySince) >= e.srv.cfg.IdleStreamTimeout {
		c.closing = true
		e.srv.stats.idleCloses.Add(1)
		c.closeWith(wire.CloseDeadlineExceeded, wire.ErrNoActiveSubscriptions+": no active subscriptions")
	}
}

// advance streams what happened to one instrument since the last tick:
// trades in time order (a candle interval's final state goes out before
// the first trade of the next), then the forming candles, the late trade
// and its corrective candle, the book, the status and the last price.
func (e *emitter) advance(is *instStream, now time.Time) {
	if is.cursor {
		e.applyTrades(is, now)
		for _, st := range is.candles {
			if !now.Before(st.end) {
				e.closeCandle(is, st, now)
			}
		}
		e.deliverLate(is, now, false)
		for _, st := range is.candles {
			e.flushCandle(is, st)
		}
	}
	for _, b := range is.books {
		ob := e.m.OrderBook(is.in.FIGI, now, int(b.depth))
		if !slices.Equal(ob.Bids, b.last.Bids) || !slices.Equal(ob.Asks, b.last.Asks) {
			b.last = ob
			e.data(b.subs, bookFrame(is.in, b.depth, ob, now), true)
		}
	}
	if len(is.infoSubs) > 0 {
		if st := e.m.Status(is.in.FIGI, now); st != is.status {
			is.status = st
			e.data(is.infoSubs, statusFrame(is.in, st, now), false)
		}
	}
	if len(is.lpSubs) > 0 && e.m.Status(is.in.FIGI, now).Trading() {
		if tr, ok := e.m.LastTrade(is.in.FIGI, now); ok && tr.Time.After(is.lastPrice) {
			is.lastPrice = tr.Time
			e.data(is.lpSubs, encode(wire.MarketDataResponse{LastPrice: ptr(lastPrice(is.in, tr))}), false)
		}
	}
}

// applyTrades feeds every trade in [processed, now) to the candle streams
// and the trade subscribers, minute by minute.
func (e *emitter) applyTrades(is *instStream, now time.Time) {
	for is.processed.Before(now) {
		minute := is.processed.Truncate(time.Minute)
		if !minute.Equal(is.minute) || is.trades == nil {
			e.loadMinute(is, minute)
		}
		limit := earlier(minute.Add(time.Minute), now)
		for ; is.next < len(is.trades) && is.trades[is.next].Time.Before(limit); is.next++ {
			tr, dir := is.trades[is.next], direction(is.trades, is.next)
			if delay := time.Duration(e.srv.faults.lateTrades.Load()); delay > 0 && is.next == len(is.trades)-1 && is.late == nil {
				// The minute's last trade is held back until after the
				// minute's end: its minute's candle closes without it.
				is.late, is.lateDir, is.lateDue = &tr, dir, minute.Add(time.Minute+delay)
				e.srv.stats.lateTrades.Add(1)
				continue
			}
			e.applyTrade(is, tr, dir, now)
		}
		is.processed = limit
	}
}

// loadMinute caches the model's trades of a minute and skips those the
// cursor has already passed.
func (e *emitter) loadMinute(is *instStream, minute time.Time) {
	is.minute = minute
	is.trades = e.m.MinuteTrades(is.in.FIGI, minute)
	if is.trades == nil {
		is.trades = noTrades
	}
	is.next = sort.Search(len(is.trades), func(i int) bool { return !is.trades[i].Time.Before(is.processed) })
}

// noTrades marks a loaded minute without trades (nil means not loaded).
var noTrades = make([]market.Trade, 0)

func (e *emitter) applyTrade(is *instStream, tr market.Trade, dir wire.TradeDirection, now time.Time) {
	for _, st := range is.candles {
		if !tr.Time.Before(st.end) {
			e.closeCandle(is, st, now)
		}
		if !tr.Time.Before(st.start) {
			st.add(tr)
		}
	}
	e.data(is.tradeSubs, encode(wire.MarketDataResponse{Trade: ptr(tradeWire(is.in, tr, dir))}), true)
	e.deliverLate(is, tr.Time, false)
}

// deliverLate sends the held-back trade once it is due (after the first
// trade at or past that time, or at the first tick past it; force: at
// once), then the corrected candle of the interval it belongs to.
func (e *emitter) deliverLate(is *instStream, now time.Time, force bool) {
	tr := is.late
	if tr == nil || (!force && now.Before(is.lateDue)) {
		return
	}
	is.late = nil
	e.data(is.tradeSubs, encode(wire.MarketDataResponse{Trade: ptr(tradeWire(is.in, *tr, is.lateDir))}), true)
	for _, st := range is.candles {
		switch {
		case !tr.Time.Before(st.start) && tr.Time.Before(st.end):
			st.add(*tr)
			e.flushCandle(is, st)
		case st.prevKnown && !tr.Time.Before(st.prevStart) && tr.Time.Before(st.start):
			if !st.prevHas {
				st.prev = tvbridge.Candle{Time: st.prevStart, Open: tr.Price, High: tr.Price, Low: tr.Price}
				st.prevHas = true
			}
			addTrade(&st.prev, *tr)
			st.prevTS = tr.Time
			e.srv.stats.corrections.Add(1)
			e.data(st.all(), st.frameAt(is.in, st.prev, st.prevTS), true)
		}
	}
}

func bookFrame(in *instrument, depth int32, ob tvbridge.OrderBook, now time.Time) []byte {
	return encode(wire.MarketDataResponse{Orderbook: &wire.OrderBook{
		FIGI: in.FIGI, Depth: depth, IsConsistent: true, Bids: levels(in, ob.Bids), Asks: levels(in, ob.Asks),
		Time: wire.At(now), InstrumentUID: in.uid, OrderBookType: wire.OrderBookTypeExchange,
	}})
}

func statusFrame(in *instrument, st tvbridge.TradeStatus, now time.Time) []byte {
	return encode(wire.MarketDataResponse{TradingStatus: &wire.TradingStatus{
		FIGI: in.FIGI, TradingStatus: v2Status(st), Time: wire.At(now),
		LimitOrderAvailableFlag: st.Trading(), MarketOrderAvailableFlag: st == tvbridge.StatusNormalTrading,
		InstrumentUID: in.uid,
	}})
}
