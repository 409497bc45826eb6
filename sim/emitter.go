package sim

import (
	"slices"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/sim/market"
)

// emitter owns the stream side: which connections subscribed to what, and
// the state of every subscribed candle, book and status stream.
//
// Stream state is shared by all subscribers of the same thing: a candle
// stream (FIGI, interval) is aggregated once from the model's trades and each
// frame is encoded once, then queued to every subscriber. Throttling is
// therefore per stream, not per connection. A connection that subscribed the
// same thing N times is in the stream's subscriber list N times and gets
// every frame N times, like on the real service; one unsubscribe removes all
// N copies.
type emitter struct {
	srv *Server
	m   *market.Market

	mu       sync.Mutex
	insts    map[string]*instStream // by FIGI
	list     []*instStream          // the same, for iteration
	conns    map[*streamConn]*connSubs
	lastPing time.Time
	sil      silenceView // the Silence faults at the time being processed
}

// connSubs is what one connection subscribed to, with multiplicity.
type connSubs struct {
	counts map[tvbridge.Subscription]int
	total  int
}

// subscribers has one entry per subscription copy.
type subscribers []*streamConn

func (ss subscribers) send(frame []byte) {
	for _, c := range ss {
		c.send(frame)
	}
}

// instStream is the stream state of one instrument. An instrument has few
// streams, so they are kept in slices, which iterate faster than maps.
type instStream struct {
	inst    *market.Instrument
	prices  priceFormat
	pos     int // index in emitter.list
	candles []*candleStream
	books   []*bookStream
	info    *infoStream

	// The trade cursor, kept while candle streams exist: every trade before
	// processed has been applied. trades caches the model's trades of the
	// minute being read and next indexes the first one not yet applied.
	processed time.Time
	minute    time.Time
	trades    []market.Trade
	next      int
}

func (in *instStream) empty() bool {
	return len(in.candles) == 0 && len(in.books) == 0 && in.info == nil
}

func (in *instStream) candle(iv tvbridge.CandleInterval) *candleStream {
	for _, st := range in.candles {
		if st.interval == iv {
			return st
		}
	}
	return nil
}

func (in *instStream) book(depth int) *bookStream {
	for _, b := range in.books {
		if b.depth == depth {
			return b
		}
	}
	return nil
}

// without returns s without x, keeping the order.
func without[T comparable](s []T, x T) []T {
	kept := s[:0]
	for _, v := range s {
		if v != x {
			kept = append(kept, v)
		}
	}
	return kept
}

type bookStream struct {
	depth    int
	subs     subscribers
	last     tvbridge.OrderBook
	lastSent time.Time
	sent     bool
}

type infoStream struct {
	subs   subscribers
	status tvbridge.TradeStatus
}

func newEmitter(s *Server) *emitter {
	return &emitter{
		srv:      s,
		m:        s.market,
		insts:    make(map[string]*instStream),
		conns:    make(map[*streamConn]*connSubs),
		lastPing: s.clock.Now(),
	}
}

func (e *emitter) addConn(c *streamConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.conns[c] = &connSubs{counts: make(map[tvbridge.Subscription]int)}
}

// removeConn drops every subscription of a closed connection.
func (e *emitter) removeConn(c *streamConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.conns[c]
	if cs == nil {
		return
	}
	for sub := range cs.counts {
		e.detach(c, sub)
	}
	delete(e.conns, c)
}

func (e *emitter) subscriptionCount(c *streamConn) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cs := e.conns[c]; cs != nil {
		return cs.total
	}
	return 0
}

// subscribe adds one copy of sub for c and sends c the current snapshot: the
// forming candle if it has trades, the book, or the instrument info.
func (e *emitter) subscribe(c *streamConn, sub tvbridge.Subscription, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.conns[c]
	if cs == nil {
		return // the connection is already gone
	}
	in := e.instrument(sub.FIGI)
	ts := appendTime(nil, now)
	e.sil = e.srv.faults.silenceAt(now)
	switch sub.Kind {
	case tvbridge.SubCandle:
		e.subscribeCandle(in, c, sub.Interval, now, ts)
	case tvbridge.SubOrderBook:
		e.subscribeBook(in, c, sub.Depth, now, ts)
	case tvbridge.SubInstrumentInfo:
		e.subscribeInfo(in, c, now, ts)
	}
	cs.counts[sub]++
	cs.total++
}

// unsubscribe removes every copy of sub for c. Unsubscribing something not
// subscribed is silently ignored.
func (e *emitter) unsubscribe(c *streamConn, sub tvbridge.Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.conns[c]
	if cs == nil || cs.counts[sub] == 0 {
		return
	}
	e.detach(c, sub)
	cs.total -= cs.counts[sub]
	delete(cs.counts, sub)
}

// detach removes c from the stream of sub and frees streams nobody reads.
func (e *emitter) detach(c *streamConn, sub tvbridge.Subscription) {
	in := e.insts[sub.FIGI]
	if in == nil {
		return
	}
	switch sub.Kind {
	case tvbridge.SubCandle:
		if st := in.candle(sub.Interval); st != nil {
			if st.subs = without(st.subs, c); len(st.subs) == 0 {
				if st.pending != nil {
					e.orphanFinal(in, st)
				}
				in.candles = without(in.candles, st)
			}
		}
	case tvbridge.SubOrderBook:
		if b := in.book(sub.Depth); b != nil {
			if b.subs = without(b.subs, c); len(b.subs) == 0 {
				in.books = without(in.books, b)
			}
		}
	case tvbridge.SubInstrumentInfo:
		if in.info != nil {
			if in.info.subs = without(in.info.subs, c); len(in.info.subs) == 0 {
				in.info = nil
			}
		}
	}
	if in.empty() {
		last := e.list[len(e.list)-1]
		e.list[in.pos], last.pos = last, in.pos
		e.list = e.list[:len(e.list)-1]
		delete(e.insts, sub.FIGI)
	}
}

// instrument returns the stream state of a FIGI the caller has validated.
func (e *emitter) instrument(figi string) *instStream {
	in := e.insts[figi]
	if in == nil {
		inst, _ := e.m.Instrument(figi)
		in = &instStream{inst: inst, prices: newPriceFormat(inst.MinPriceIncrement), pos: len(e.list)}
		e.insts[figi] = in
		e.list = append(e.list, in)
	}
	return in
}

func (e *emitter) subscribeBook(in *instStream, c *streamConn, depth int, now time.Time, ts []byte) {
	b := in.book(depth)
	ob := e.m.OrderBook(in.inst.FIGI, now, depth)
	if b == nil {
		b = &bookStream{depth: depth, last: ob, lastSent: now, sent: true}
		in.books = append(in.books, b)
	}
	b.subs = append(b.subs, c)
	if e.sil.of(in.inst.FIGI) {
		// The book goes out when the silence ends.
		b.sent = false
		e.srv.stats.silenced.Add(1)
		return
	}
	c.send(bookFrame(ts, &ob, depth, in.prices))
}

func (e *emitter) subscribeInfo(in *instStream, c *streamConn, now time.Time, ts []byte) {
	info := e.m.Info(in.inst.FIGI, now)
	if in.info == nil {
		in.info = &infoStream{status: info.TradeStatus}
	}
	in.info.subs = append(in.info.subs, c)
	if e.sil.of(in.inst.FIGI) {
		// The status goes out when the silence ends, as if it had changed.
		in.info.status = ""
		e.srv.stats.silenced.Add(1)
		return
	}
	c.send(infoFrame(ts, &info, in.inst.Type == tvbridge.Bond))
}

// tick advances every subscribed stream to now and sends what changed.
func (e *emitter) tick(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := appendTime(nil, now)
	e.sil = e.srv.faults.silenceAt(now)
	for _, in := range e.list {
		e.advanceCandles(in, now, ts)
		for _, b := range in.books {
			e.updateBook(in, b, now, ts)
		}
		if in.info != nil {
			e.updateInfo(in, now, ts)
		}
	}
	if now.Sub(e.lastPing) >= PingInterval {
		e.lastPing = now
		for c := range e.conns {
			c.enqueue(outFrame{op: opPing})
		}
	}
}

// updateBook sends the book when it changed, at most once per BookThrottle,
// and re-sends an unchanged one every bookRepeat as the real service did.
// Nothing is sent while the instrument is silenced.
func (e *emitter) updateBook(in *instStream, b *bookStream, now time.Time, ts []byte) {
	if now.Sub(b.lastSent) < e.srv.cfg.BookThrottle || e.sil.of(in.inst.FIGI) {
		return
	}
	ob := e.m.OrderBook(in.inst.FIGI, now, b.depth)
	if b.sent && sameBook(&ob, &b.last) && now.Sub(b.lastSent) < bookRepeat {
		return
	}
	b.subs.send(bookFrame(ts, &ob, b.depth, in.prices))
	b.last, b.lastSent, b.sent = ob, now, true
}

func sameBook(a, b *tvbridge.OrderBook) bool {
	return slices.Equal(a.Bids, b.Bids) && slices.Equal(a.Asks, b.Asks)
}

// updateInfo sends instrument_info when the trading status changed since
// the last one sent; a change during a silence goes out when it ends.
func (e *emitter) updateInfo(in *instStream, now time.Time, ts []byte) {
	if e.sil.of(in.inst.FIGI) {
		return
	}
	status := e.m.Status(in.inst.FIGI, now)
	if status == in.info.status {
		return
	}
	info := e.m.Info(in.inst.FIGI, now)
	in.info.status = status
	in.info.subs.send(infoFrame(ts, &info, in.inst.Type == tvbridge.Bond))
}
