package sim

import (
	"sort"
	"time"

	"tvbridge"
	"tvbridge/sim/market"
)

// candleStream is the forming candle of one (FIGI, interval).
//
// It is built incrementally from the model's trades, the same trades the
// model's Candle and Candles aggregate, so the final state the stream sends
// for an interval is exactly what REST returns for it.
type candleStream struct {
	interval   tvbridge.CandleInterval
	subs       subscribers
	start, end time.Time
	startText  string // start, formatted once for the payload
	candle     tvbridge.Candle
	has        bool // the interval has trades so far
	dirty      bool // changed since the last frame
	lastSent   time.Time
	prev       []byte // the last candle frame sent, which Reorder re-sends
	updates    int    // update frames sent in this interval
	// carried: the subscribers have the current state (a frame carried it
	// and no trade came since); lastUpdate is the interval's last update
	// frame, which StaleAfterFinal re-sends after the final.
	carried    bool
	lastUpdate []byte
	// pending is the previous interval's final state while LateFinals holds
	// it back; the interval's updates wait for it.
	pending *pendingFinal
}

func (st *candleStream) add(tr market.Trade) {
	c := &st.candle
	if !st.has {
		c.Open, c.High, c.Low = tr.Price, tr.Price, tr.Price
		st.has = true
	}
	c.High = max(c.High, tr.Price)
	c.Low = min(c.Low, tr.Price)
	c.Close = tr.Price
	c.Volume += float64(tr.Lots)
	st.dirty, st.carried = true, false
}

func (e *emitter) subscribeCandle(in *instStream, c *streamConn, iv tvbridge.CandleInterval, now time.Time, ts []byte) {
	st := in.candle(iv)
	fresh := st == nil
	if fresh {
		if len(in.candles) == 0 {
			// The first candle stream of the instrument starts the cursor.
			in.processed, in.minute, in.trades, in.next = now, time.Time{}, nil, 0
		}
		st = &candleStream{interval: iv}
		e.roll(in, st, in.processed)
		if cd, ok := e.m.Candle(in.inst.FIGI, iv, st.start, in.processed); ok {
			st.candle, st.has = cd, true
		}
		in.candles = append(in.candles, st)
	}
	st.subs = append(st.subs, c)
	switch {
	case !st.has:
	case st.pending != nil:
		// No snapshot of an interval held back behind a late final: the new
		// subscriber gets the final, then the forming candle, as the others.
	case e.sil.of(in.inst.FIGI):
		// Silenced: the forming candle goes out when the silence ends.
		st.dirty = true
		e.srv.stats.silenced.Add(1)
	default:
		c.send(candleFrame(ts, &st.candle, st.startText, in.prices))
		if fresh {
			st.carried = !e.srv.faults.stall.Load()
		}
	}
}

// roll starts st on the (empty) interval containing t.
func (e *emitter) roll(in *instStream, st *candleStream, t time.Time) {
	figi := in.inst.FIGI
	st.start = e.m.IntervalStart(figi, st.interval, t)
	st.end = intervalEnd(e.m, figi, st.interval, st.start)
	st.startText = string(appendTime(nil, st.start))
	st.candle = tvbridge.Candle{FIGI: figi, Interval: st.interval, Time: st.start}
	st.has, st.dirty, st.updates = false, false, 0
	st.carried, st.lastUpdate = false, nil
}

// intervalEnd returns the end of the interval starting at start. Calendar
// intervals vary in length (DST, month lengths), so it asks the model for
// the start of an instant surely inside the next interval.
func intervalEnd(m *market.Market, figi string, iv tvbridge.CandleInterval, start time.Time) time.Time {
	if d := iv.Duration(); d > 0 {
		return start.Add(d)
	}
	var probe time.Duration
	switch iv {
	case tvbridge.IntervalDay:
		probe = 26 * time.Hour // a local day lasts 23 to 25 hours
	case tvbridge.IntervalWeek:
		probe = 7*24*time.Hour + 2*time.Hour
	default: // month: 28 to 31 days
		probe = 32 * 24 * time.Hour
	}
	return m.IntervalStart(figi, iv, start.Add(probe))
}

// advanceCandles applies the trades up to now to the instrument's candle
// streams, closes the intervals that ended and sends what changed.
func (e *emitter) advanceCandles(in *instStream, now time.Time, ts []byte) {
	if len(in.candles) == 0 {
		return
	}
	e.applyTrades(in, now, ts)
	for _, st := range in.candles {
		if !now.Before(st.end) {
			e.closeCandle(in, st, now, ts)
			e.roll(in, st, now)
		}
		e.flushCandle(in, st, now, ts)
	}
}

// applyTrades feeds every trade in [processed, now) to the candle streams,
// minute by minute, closing intervals as trades cross their end.
func (e *emitter) applyTrades(in *instStream, now time.Time, ts []byte) {
	for in.processed.Before(now) {
		minute := in.processed.Truncate(time.Minute)
		if !minute.Equal(in.minute) || in.trades == nil {
			e.loadMinute(in, minute)
		}
		limit := minute.Add(time.Minute)
		if now.Before(limit) {
			limit = now
		}
		for ; in.next < len(in.trades) && in.trades[in.next].Time.Before(limit); in.next++ {
			e.applyTrade(in, in.trades[in.next], now, ts)
		}
		in.processed = limit
	}
}

// loadMinute caches the model's trades of a minute and skips those the
// cursor has already passed.
func (e *emitter) loadMinute(in *instStream, minute time.Time) {
	in.minute = minute
	in.trades = e.m.MinuteTrades(in.inst.FIGI, minute)
	if in.trades == nil {
		in.trades = noTrades
	}
	in.next = sort.Search(len(in.trades), func(i int) bool {
		return !in.trades[i].Time.Before(in.processed)
	})
}

// noTrades marks a loaded minute without trades (nil means not loaded).
var noTrades = make([]market.Trade, 0)

func (e *emitter) applyTrade(in *instStream, tr market.Trade, now time.Time, ts []byte) {
	for _, st := range in.candles {
		if !tr.Time.Before(st.end) {
			e.closeCandle(in, st, now, ts)
			e.roll(in, st, tr.Time)
		}
		st.add(tr)
	}
}

// flushCandle sends the pending final once it is due, then the forming
// candle if it changed, the throttle allows and it is not silenced.
func (e *emitter) flushCandle(in *instStream, st *candleStream, now time.Time, ts []byte) {
	if st.pending != nil {
		if now.Before(st.pending.due) {
			return
		}
		e.releaseFinal(in, st, now, ts)
	}
	if !st.dirty || !st.has || now.Sub(st.lastSent) < e.srv.cfg.CandleThrottle || e.sil.of(in.inst.FIGI) {
		return
	}
	frame := candleFrame(ts, &st.candle, st.startText, in.prices)
	e.sendCandle(st, frame)
	if e.srv.faults.reorder.Load() && st.prev != nil && (st.updates == 0 || st.updates%3 == 2) {
		// An older state right after a newer one; on the first update of an
		// interval, that is the previous interval's final candle.
		st.subs.send(st.prev)
		e.srv.stats.reordered.Add(uint64(len(st.subs)))
	}
	st.prev, st.lastUpdate = frame, frame
	st.updates++
	st.lastSent = now
	st.dirty = false
	st.carried = !e.srv.faults.stall.Load()
}

// sendCandle queues a candle frame to the stream's subscribers, twice under
// the Duplicate fault.
func (e *emitter) sendCandle(st *candleStream, frame []byte) {
	st.subs.send(frame)
	if e.srv.faults.duplicate.Load() {
		st.subs.send(frame)
		e.srv.stats.duplicated.Add(uint64(len(st.subs)))
	}
}
