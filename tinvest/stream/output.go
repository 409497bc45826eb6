package stream

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
)

// output is the pool's single delivery stage between the connection readers
// and the consumer. Readers never block on it, so a slow consumer cannot
// stall the sockets (the service drops clients that read too slowly).
//
// It does two things:
//
//   - Duplicate suppression. Per key (candle: figi, interval and candle time;
//     book: figi and depth; info: figi) it remembers the last value accepted
//     and drops an identical one, and a candle state older than it (less
//     cumulative volume and an earlier last trade; less volume with the
//     same last trade is the service correcting itself, and passes):
//     snapshots replayed after a reconnect, books
//     the service re-sends unchanged, copies caused by a duplicated
//     server-side subscription.
//
//   - Coalescing. While the consumer keeps up, events go straight into the
//     Events channel. Once it is full, events wait in a FIFO queue in which
//     a newer value replaces a waiting one with the same key (latest wins).
//     That is lossless for those three kinds: a book is a full snapshot, a
//     candle update is cumulative, a trading status is the whole state.
//     Trades and error events are never coalesced. Trades are dropped only
//     when maxQueued events already wait (the consumer is stuck): trade
//     reports it, and the pool changes the instrument's epoch.
type output struct {
	ch   chan tvbridge.Event
	wake chan struct{} // tells run that the queue is not empty

	duplicates *atomic.Int64
	coalesced  *atomic.Int64
	maxQueued  int

	mu       sync.Mutex
	closed   bool
	queue    []*queued // FIFO; queue[head:] is waiting
	head     int
	byKey    map[eventKey]*queued
	inFlight bool // run holds an event taken from the queue; keeps the order

	candles map[seriesKey]*recentCandles
	books   map[bookKey]*tvbridge.OrderBook
	infos   map[string]tvbridge.InstrumentInfo
}

// eventKey identifies what an event is the latest value of.
type eventKey struct {
	kind       eventKind
	figi       string
	interval   tvbridge.CandleInterval
	depth      int
	candleTime int64 // unix nanoseconds of the candle start
}

type queued struct {
	key   eventKey
	keyed bool // false for error events: they have no key and are never replaced
	ev    tvbridge.Event
}

type seriesKey struct {
	figi     string
	interval tvbridge.CandleInterval
}

type bookKey struct {
	figi  string
	depth int
}

// maxDedupeKeys bounds each duplicate-suppression table. A table that
// reaches it is emptied: the cost is at most one repeated event per key, and
// a server inventing instruments cannot grow memory without limit.
const maxDedupeKeys = 1 << 16

func newOutput(buffer, maxQueued int, duplicates, coalesced *atomic.Int64) *output {
	return &output{
		maxQueued:  maxQueued,
		ch:         make(chan tvbridge.Event, buffer),
		wake:       make(chan struct{}, 1),
		duplicates: duplicates,
		coalesced:  coalesced,
		byKey:      make(map[eventKey]*queued),
		candles:    make(map[seriesKey]*recentCandles),
		books:      make(map[bookKey]*tvbridge.OrderBook),
		infos:      make(map[string]tvbridge.InstrumentInfo),
	}
}

// candle delivers a candle update unless it repeats the last one seen for
// the same candle.
func (o *output) candle(meta tvbridge.EventMeta, c tvbridge.Candle) {
	o.mu.Lock()
	defer o.mu.Unlock()
	sk := seriesKey{c.FIGI, c.Interval}
	recent := o.candles[sk]
	if recent == nil {
		if len(o.candles) >= maxDedupeKeys {
			clear(o.candles)
		}
		recent = new(recentCandles)
		o.candles[sk] = recent
	}
	if !recent.record(c, meta.ServerTime) {
		o.duplicates.Add(1)
		return
	}
	key := eventKey{kind: kindCandle, figi: c.FIGI, interval: c.Interval, candleTime: c.Time.UnixNano()}
	o.pushLocked(key, true, &tvbridge.CandleEvent{EventMeta: meta, Candle: c})
}

// book delivers a book snapshot unless it equals the last one for the same
// figi and depth. b points into decoder scratch space; it is copied.
func (o *output) book(meta tvbridge.EventMeta, b *tvbridge.OrderBook) {
	o.mu.Lock()
	defer o.mu.Unlock()
	bk := bookKey{b.FIGI, b.Depth}
	last := o.books[bk]
	if last != nil && sameBook(last, b) {
		o.duplicates.Add(1)
		return
	}
	if last == nil {
		if len(o.books) >= maxDedupeKeys {
			clear(o.books)
		}
		last = &tvbridge.OrderBook{FIGI: b.FIGI, Depth: b.Depth}
		o.books[bk] = last
	}
	last.Bids = append(last.Bids[:0], b.Bids...)
	last.Asks = append(last.Asks[:0], b.Asks...)
	key := eventKey{kind: kindOrderBook, figi: b.FIGI, depth: b.Depth}
	o.pushLocked(key, true, &tvbridge.OrderBookEvent{EventMeta: meta, Book: copyBook(b)})
}

// info delivers an instrument_info unless it equals the last one.
func (o *output) info(meta tvbridge.EventMeta, in tvbridge.InstrumentInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if last, ok := o.infos[in.FIGI]; ok && last == in {
		o.duplicates.Add(1)
		return
	}
	if len(o.infos) >= maxDedupeKeys {
		clear(o.infos)
	}
	o.infos[in.FIGI] = in
	key := eventKey{kind: kindTradingStatus, figi: in.FIGI}
	o.pushLocked(key, true, &tvbridge.InstrumentInfoEvent{EventMeta: meta, Info: in})
}

// trade delivers a trade; trades are never suppressed or coalesced. It
// reports false when the trade was dropped because maxQueued events wait.
func (o *output) trade(meta tvbridge.EventMeta, t tvbridge.Trade) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue)-o.head >= o.maxQueued {
		return false
	}
	o.pushLocked(eventKey{}, false, &tvbridge.TradeEvent{EventMeta: meta, Trade: t})
	return true
}

// error delivers an error event; these are never suppressed or coalesced.
func (o *output) error(ev *tvbridge.ErrorEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pushLocked(eventKey{}, false, ev)
}

// forget drops the duplicate-suppression state of an unsubscribed
// subscription, so that subscribing again delivers the first snapshot even
// if it equals the last one delivered before.
func (o *output) forget(sub tvbridge.Subscription) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch sub.Kind {
	case tvbridge.SubCandle:
		delete(o.candles, seriesKey{sub.FIGI, sub.Interval})
	case tvbridge.SubOrderBook:
		delete(o.books, bookKey{sub.FIGI, sub.Depth})
	case tvbridge.SubInstrumentInfo:
		delete(o.infos, sub.FIGI)
	}
}

// pushLocked sends ev straight to the channel when nothing is waiting and
// the channel has room, and queues it otherwise, replacing a waiting event
// with the same key.
func (o *output) pushLocked(key eventKey, keyed bool, ev tvbridge.Event) {
	if o.closed {
		return
	}
	if o.head == len(o.queue) && !o.inFlight {
		select {
		case o.ch <- ev:
			return
		default:
		}
	}
	if keyed {
		if waiting, ok := o.byKey[key]; ok {
			waiting.ev = ev
			o.coalesced.Add(1)
			return
		}
	}
	q := &queued{key: key, keyed: keyed, ev: ev}
	o.queue = append(o.queue, q)
	if keyed {
		o.byKey[key] = q
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run moves queued events into the channel until ctx is done, blocking on
// the consumer rather than on the readers.
func (o *output) run(ctx context.Context) {
	for {
		ev, ok := o.take()
		if !ok {
			select {
			case <-o.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case o.ch <- ev:
		case <-ctx.Done():
			return
		}
		o.mu.Lock()
		o.inFlight = false
		o.mu.Unlock()
	}
}

// take removes the oldest waiting event.
func (o *output) take() (tvbridge.Event, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.head == len(o.queue) {
		return nil, false
	}
	q := o.queue[o.head]
	o.queue[o.head] = nil
	o.head++
	if q.keyed {
		delete(o.byKey, q.key)
	}
	switch {
	case o.head == len(o.queue):
		o.queue, o.head = o.queue[:0], 0
	case o.head > 1024 && o.head*2 > len(o.queue):
		// Reclaim the consumed front under sustained lag.
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue, o.head = o.queue[:n], 0
	}
	o.inFlight = true
	return q.ev, true
}

// waiting returns the number of queued events.
func (o *output) waiting() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue) - o.head
}

// close closes the Events channel; later pushes are dropped. Only call it
// once no reader or run goroutine is left.
func (o *output) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.ch)
	}
}

// recentCandles remembers the last few candles of one series by candle
// time, with the time of the last trade each state includes. The stream
// re-sends the forming candle many times and, after a reconnect, may replay
// an older one; a handful of slots covers both.
type recentCandles [4]recentCandle

type recentCandle struct {
	c         tvbridge.Candle
	lastTrade time.Time // the update's lastTradeTs; zero when it had none
}

// record stores c (whose state includes the trades up to lastTrade) and
// reports whether it is news: not identical to what was stored for the same
// candle time, and not a stale state of it. Volume is cumulative within a
// candle, so a state with less volume than one already accepted and an
// earlier last trade is an older update arriving late (the service does not
// guarantee order); passing it on could make a consumer that lags see the
// newer state twice once the queue coalesces. Less volume with the same or
// a later last trade is the service correcting a state it sent (a wrong
// intermediate state taken back): that is news, and the bar engine needs it
// to know the state it has is not the candle's. Without last-trade times
// less volume is taken as stale, as before.
func (r *recentCandles) record(c tvbridge.Candle, lastTrade time.Time) bool {
	oldest := 0
	for i := range r {
		if r[i].c.Time.Equal(c.Time) && !r[i].c.Time.IsZero() {
			if sameCandle(r[i].c, c) {
				return false
			}
			if c.Volume < r[i].c.Volume && (lastTrade.IsZero() || r[i].lastTrade.IsZero() || lastTrade.Before(r[i].lastTrade)) {
				return false
			}
			r[i] = recentCandle{c, lastTrade}
			return true
		}
		if r[i].c.Time.Before(r[oldest].c.Time) {
			oldest = i
		}
	}
	r[oldest] = recentCandle{c, lastTrade}
	return true
}

func sameCandle(a, b tvbridge.Candle) bool {
	return a.FIGI == b.FIGI && a.Interval == b.Interval && a.Time.Equal(b.Time) &&
		a.Open == b.Open && a.High == b.High && a.Low == b.Low && a.Close == b.Close &&
		a.Volume == b.Volume
}

func sameBook(a, b *tvbridge.OrderBook) bool {
	return a.Depth == b.Depth && slices.Equal(a.Bids, b.Bids) && slices.Equal(a.Asks, b.Asks)
}

// copyBook gives the event its own levels, one allocation for both sides.
func copyBook(b *tvbridge.OrderBook) tvbridge.OrderBook {
	out := *b
	n := len(b.Bids) + len(b.Asks)
	if n == 0 {
		out.Bids, out.Asks = nil, nil
		return out
	}
	levels := make([]tvbridge.PriceLevel, n)
	copy(levels, b.Bids)
	copy(levels[len(b.Bids):], b.Asks)
	out.Bids = levels[:len(b.Bids):len(b.Bids)]
	out.Asks = levels[len(b.Bids):]
	if len(out.Bids) == 0 {
		out.Bids = nil
	}
	if len(out.Asks) == 0 {
		out.Asks = nil
	}
	return out
}
