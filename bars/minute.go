package bars

import (
	"math"
	"time"

	"tvbridge"
)

// handleCandle validates a candle update and applies it to its instrument.
func (e *Engine) handleCandle(ev *tvbridge.CandleEvent, now time.Time) {
	c := &ev.Candle
	if c.Interval != tvbridge.Interval1Min {
		e.stats.ignored.Add(1)
		return
	}
	in := e.lookup(c.FIGI)
	if in == nil {
		e.stats.unknown.Add(1)
		return
	}
	e.stats.updates.Add(1)
	u := ohlcv{o: c.Open, h: c.High, l: c.Low, c: c.Close, v: c.Volume}
	if !validCandle(c.Time, u) || c.Time.After(now.Add(maxEarly)) {
		e.stats.invalid.Add(1)
		if e.debugOn() {
			e.log.Debug("invalid candle ignored", "figi", c.FIGI, "time", c.Time, "candle", u.String(), "now", now)
		}
		return
	}
	recv := ev.Received
	if recv.IsZero() {
		recv = now
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.candleTrade = ev.ServerTime // the update's last trade, for settleSuspects
	// Whether the update is late is a matter of when it was received, not
	// of when the loop got round to it: a final received within the grace
	// and handled after it is still on time.
	e.advanceAt(in, now, earliest(recv, now))
	e.applyCandle(in, c.Time.Unix(), u, recv, now)
}

func validCandle(t time.Time, u ohlcv) bool {
	for _, f := range [...]float64{u.o, u.h, u.l, u.c, u.v} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return u.v >= 0 && !t.IsZero() && t.Nanosecond() == 0 && t.Unix()%60 == 0
}

// advance does the instrument's clock-driven work; the caller holds in.mu.
func (e *Engine) advance(in *instrument, now time.Time) { e.advanceAt(in, now, now) }

// advanceAt is advance where the open minute closes only if its deadline
// had passed at closeRef (the receipt of the event being handled).
func (e *Engine) advanceAt(in *instrument, now, closeRef time.Time) {
	if in.deferred && now.Unix() >= in.open.start {
		e.stream(in, in.last, in.deferredRecv, now)
	}
	if len(in.future) > 0 {
		e.releaseFuture(in, now)
	}
	e.checkPending(in, now)
	if in.hasOpen && !closeRef.Before(e.deadline(in.open.start)) {
		e.closeOpen(in, now)
	}
	if in.dailyDirty && now.Unix() > in.dailySent {
		e.emitDaily(in, now)
	}
}

// deadline is when the minute starting at start closes without a newer update.
func (e *Engine) deadline(start int64) time.Time { return unix(start + 60).Add(e.grace) }

// applyCandle routes an update by its minute: closed, open, or newer.
func (e *Engine) applyCandle(in *instrument, start int64, u ohlcv, recv, now time.Time) {
	if start < in.closedUntil || !earliest(recv, now).Before(e.deadline(start)) {
		e.closedUpdate(in, start, u)
		return
	}
	if !in.hasOpen || start > in.open.start {
		e.openMinute(in, start, now)
	}
	e.updateOpen(in, u, recv, now)
	if recv.Unix() >= start+60 && in.open.v == u.v && in.open.pricesEqual(u) {
		// Received after the minute ended, and the streamed bar is exactly
		// it: the upstream's final state of the minute reached the stream.
		in.openFinal = true
	}
}

// closedUpdate handles an update for a closed minute: it never changes
// anything but the counters (and marks a late-arriving minute as closed).
func (e *Engine) closedUpdate(in *instrument, start int64, u ohlcv) {
	if in.hasPrev && in.prev.start == start && contains(in.prev.ohlcv, u) {
		e.stats.outOfOrder.Add(1)
	} else {
		e.stats.corrections.Add(1)
		if e.debugOn() {
			e.log.Debug("update for a closed minute ignored (correction)",
				"figi", in.spec.Load().figi, "minute", unix(start), "candle", u.String())
		}
	}
	if start >= in.closedUntil {
		// Its grace passed before we ever saw it: it is closed, and so is
		// everything before it.
		in.closedUntil = start + 60
	}
}

// contains reports whether u is an earlier snapshot of the closed bar b.
func contains(b, u ohlcv) bool {
	return u.v <= b.v && u.o == b.o && u.h <= b.h && u.l >= b.l
}

// openMinute closes the open minute, if any, and opens the one at start.
func (e *Engine) openMinute(in *instrument, start int64, now time.Time) {
	if in.hasOpen {
		e.closeOpen(in, now)
	}
	in.resetOpen()
	in.closedUntil = max(in.closedUntil, start)
	in.hasOpen = true
	in.open.start = start
	sched := in.spec.Load().sched
	if sched == nil {
		return
	}
	d, ok := sched.TradingDay(unix(start))
	if !ok {
		return // out of session: counted when the minute closes with a bar
	}
	in.openInDay, in.openDay = true, d.Unix()
	if !in.hasDay || in.day != in.openDay {
		if in.dailyDirty {
			e.emitDaily(in, now) // the old day's final state
		}
		in.hasDay, in.day, in.closedDay = true, in.openDay, ohlcv{}
	}
}

// closeOpen closes the open minute: its bar, if it has volume, goes to the
// sink and into the day's bar.
func (e *Engine) closeOpen(in *instrument, now time.Time) {
	if len(in.suspects) > 0 {
		e.dropSuspects(in, in.open.start)
	}
	if in.hasPending {
		// The trades never caught up with the candle: the minute's last
		// chance to carry what the candle knows. Its newest update is its
		// final state as far as this process will ever know.
		e.fallBack(in, in.pending, now)
	}
	m, final := in.open, in.openFinal || (in.realTrades && in.openConfirmed && !in.openSynthetic)
	inDay := in.openInDay && in.hasDay && in.openDay == in.day
	in.closedUntil = max(in.closedUntil, m.start+60)
	in.resetOpen()
	if m.v <= 0 {
		return // bars with zero volume never exist
	}
	in.hasPrev, in.prev = true, m
	e.stats.minutesClosed.Add(1)
	sp := in.spec.Load()
	e.closed[0] = Closed{Bar: m.bar(), Final: final}
	e.sink.MinutesClosed(sp.figi, e.closed[:1])
	switch {
	case inDay:
		in.closedDay = in.closedDay.merge(m.ohlcv)
		if in.dailyDirty {
			e.emitDaily(in, now)
		}
	case sp.sched != nil:
		e.stats.outOfSession.Add(1)
	}
}

// updateOpen classifies an update for the open minute against the streamed
// bar and streams it when its volume grew.
func (e *Engine) updateOpen(in *instrument, u ohlcv, recv, now time.Time) {
	if in.realTrades && !in.openSynthetic && !in.deferred {
		e.candleWithTrades(in, u, recv, now)
		return
	}
	in.hasPending = false // see fallBack
	s := in.open.ohlcv
	switch {
	case in.hasLast && u == in.last, s.v > 0 && u.v == s.v && u.pricesEqual(s):
		e.stats.duplicates.Add(1)
	case in.deferred:
		// A newer update replaces the waiting one; an older one is stale.
		if u.v < in.last.v {
			e.stats.stale.Add(1)
			return
		}
		in.last, in.deferredRecv = u, recv
	case u.v < s.v:
		if u.o != s.o || u.h > s.h || u.l < s.l {
			e.inconsistent(in, "volume fell but prices moved beyond the streamed bar", u)
			return
		}
		e.stats.stale.Add(1)
	case u.v == s.v:
		e.stats.pending.Add(1)
		in.hasLast, in.last = true, u
	default:
		e.stream(in, u, recv, now)
	}
}

// stream emits the trades that take the streamed bar from what it is to u.
func (e *Engine) stream(in *instrument, u ohlcv, recv, now time.Time) {
	start := in.open.start
	t := min(max(recv.Unix(), in.lastTrade, start), start+59)
	if t > now.Unix() {
		// The minute has not begun on our clock (the upstream's runs ahead):
		// wait for it, rather than stamp a tick in the future.
		if !in.deferred {
			e.stats.deferred.Add(1)
		}
		in.hasLast, in.last = true, u
		in.deferred, in.deferredRecv = true, recv
		return
	}
	in.deferred = false
	if t < in.lastTrade {
		// Guard: a trade may never go back in time. Not reachable for the
		// open minute, whose start is after every earlier trade's minute.
		e.stats.corrections.Add(1)
		return
	}
	s := in.open.ohlcv
	p, ok := planTrades(s, u)
	if !ok {
		e.stats.pending.Add(1) // too small an increase to carry the trades exactly
		in.hasLast, in.last = true, u
		return
	}
	sp := in.spec.Load()
	stamp := unix(t)
	for i := range p.n {
		s = s.trade(p.prices[i], p.sizes[i])
		e.ticks = append(e.ticks, tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: sp.figi, Symbol: sp.symbol,
			Time: stamp, Price: p.prices[i], Size: p.sizes[i], Received: recv})
	}
	in.open.ohlcv = s
	in.lastTrade = t
	in.hasLast, in.last = true, u
	e.stats.trades.Add(uint64(p.n))
	if !s.pricesEqual(u) {
		e.inconsistent(in, "candle contradicts the streamed bar; streamed what was consistent", u)
	}
	e.dayChanged(in, recv, now)
}

func (e *Engine) inconsistent(in *instrument, why string, u ohlcv) {
	e.stats.inconsistent.Add(1)
	if e.debugOn() {
		e.log.Debug("inconsistent candle update", "why", why, "figi", in.spec.Load().figi,
			"minute", unix(in.open.start), "candle", u.String(), "streamed", in.open.ohlcv.String())
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
