package bars

import (
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
)

// ohlcv is a bar's or a candle's values. A zero volume means "no bar".
type ohlcv struct {
	o, h, l, c, v float64
}

func (a ohlcv) pricesEqual(b ohlcv) bool {
	return a.o == b.o && a.h == b.h && a.l == b.l && a.c == b.c
}

// merge appends bar b (later in time) to aggregate a, as /history builds a
// longer bar from shorter ones.
func (a ohlcv) merge(b ohlcv) ohlcv {
	if a.v == 0 {
		return b
	}
	return ohlcv{o: a.o, h: max(a.h, b.h), l: min(a.l, b.l), c: b.c, v: a.v + b.v}
}

// minuteBar is a 1-minute bar; start is its Unix second.
type minuteBar struct {
	start int64
	ohlcv
}

func (m minuteBar) bar() tvbridge.Bar { return toBar(m.start, m.ohlcv) }

func toBar(sec int64, b ohlcv) tvbridge.Bar {
	return tvbridge.Bar{Time: unix(sec), Open: b.o, High: b.h, Low: b.l, Close: b.c, Volume: b.v}
}

// instrument is the engine's state for one instrument. The feeding goroutine
// is its only writer and reads it without locking; it takes mu to write the
// fields the concurrent readers (OpenMinute, LastClosed, Daily) read: open,
// hasOpen, closedUntil and the daily fields.
type instrument struct {
	mu   sync.Mutex
	spec atomic.Pointer[spec] // replaced by Add on any goroutine

	// The open minute. open.v == 0 means nothing streamed in it yet.
	hasOpen bool
	open    minuteBar
	// last is the newest update accepted for the open minute (streamed,
	// pending without volume, or deferred), for duplicate detection.
	hasLast bool
	last    ohlcv
	// deferred: last waits for our clock to reach the minute (upstream
	// clock ahead of ours); deferredRecv is its receipt time.
	deferred     bool
	deferredRecv time.Time
	// openFinal: the open minute's final state was received (see Closed).
	openFinal bool

	// Real trades (realtrades.go). realTrades: the instrument streams the
	// exchange's trades. openSynthetic: the open minute fell back to its
	// candle updates. openConfirmed: the newest candle update equals the
	// bar streamed from trades. pending: a candle update ahead of the
	// trades, since pendingRecv. future: trades ahead of our clock.
	realTrades    bool
	openSynthetic bool
	openConfirmed bool
	hasPending    bool
	pending       ohlcv
	pendingRecv   time.Time
	// confirmed: the newest pending state a later update contained (see
	// checkPending); pendingSeen: pending holds an update.
	confirmed                 ohlcv
	hasConfirmed, pendingSeen bool
	future                    []realTrade
	// lastRaw is the newest trade received, to tell a repeated one;
	// suspects are repeats waiting for the candle updates to settle them;
	// candleTrade is the last trade time of the candle update being handled.
	lastRaw     tvbridge.Trade
	hasLastRaw  bool
	suspects    []realTrade
	candleTrade time.Time

	hasPrev     bool
	prev        minuteBar // the most recently closed bar, to tell re-sends from corrections
	closedUntil int64     // every minute starting before this Unix second is closed
	lastTrade   int64     // Unix second of the newest trade tick

	// Daily bar. day is the Unix second of the current trading day's 00:00
	// UTC; closedDay aggregates its closed minutes. openDay is the trading
	// day of the open minute (valid when openInDay).
	hasDay     bool
	day        int64
	closedDay  ohlcv
	openInDay  bool
	openDay    int64
	dailyDirty bool      // the day's bar changed since the last TickDaily
	dailySent  int64     // clock second of the last TickDaily
	dailyRecv  time.Time // receipt of the update behind the pending change

	// Quote. status is the latest trading status from the upstream.
	status    tvbridge.TradeStatus
	hasQuote  bool
	quote     quote
	quoteTime int64 // Unix second of the last quote tick
	quoteRecv time.Time
}

// idle reports whether Sweep has nothing to do for the instrument.
func (in *instrument) idle() bool { return !in.hasOpen && !in.dailyDirty && len(in.future) == 0 }

// resetOpen forgets the open minute without closing it.
func (in *instrument) resetOpen() {
	in.hasOpen, in.open = false, minuteBar{}
	in.hasLast, in.last = false, ohlcv{}
	in.deferred, in.deferredRecv = false, time.Time{}
	in.openInDay, in.openFinal = false, false
	in.openSynthetic, in.openConfirmed = false, false
	in.hasPending, in.pending, in.pendingRecv = false, ohlcv{}, time.Time{}
	in.confirmed, in.hasConfirmed, in.pendingSeen = ohlcv{}, false, false
}

// dayBar returns the current trading day's bar so far: its closed minutes
// plus the open minute when it belongs to the day.
func (in *instrument) dayBar() (tvbridge.Bar, bool) {
	b := in.closedDay
	if in.hasOpen && in.openInDay && in.openDay == in.day && in.open.v > 0 {
		b = b.merge(in.open.ohlcv)
	}
	if b.v <= 0 {
		return tvbridge.Bar{}, false
	}
	return toBar(in.day, b), true
}

// seedDay sets the daily state from stored minutes (ascending): the trading
// day of the newest one, aggregated from its minutes before closedUntil.
func (in *instrument) seedDay(sched *tvbridge.Schedule, bars []tvbridge.Bar, closedUntil int64) {
	if sched == nil || len(bars) == 0 {
		return
	}
	newest, ok := sched.TradingDay(bars[len(bars)-1].Time)
	if !ok {
		return
	}
	var agg ohlcv
	for _, b := range bars {
		if b.Volume <= 0 || (closedUntil != 0 && b.Time.Unix() >= closedUntil) {
			continue
		}
		if d, ok := sched.TradingDay(b.Time); ok && d.Equal(newest) {
			agg = agg.merge(ohlcv{o: b.Open, h: b.High, l: b.Low, c: b.Close, v: b.Volume})
		}
	}
	in.hasDay, in.day, in.closedDay = true, newest.Unix(), agg
}
