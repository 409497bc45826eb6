package market

import (
	"sync"
	"time"

	"tvbridge"
)

// agg is an OHLCV aggregate of trades; n == 0 means no trades.
type agg struct {
	open, high, low, close float64
	volume                 int64
	n                      int64
}

func (a *agg) add(t Trade) {
	if a.n == 0 {
		a.open, a.high, a.low = t.Price, t.Price, t.Price
	}
	a.high = max(a.high, t.Price)
	a.low = min(a.low, t.Price)
	a.close = t.Price
	a.volume += t.Lots
	a.n++
}

// merge appends b, which must come after a in time.
func (a *agg) merge(b agg) {
	if b.n == 0 {
		return
	}
	if a.n == 0 {
		*a = b
		return
	}
	a.high = max(a.high, b.high)
	a.low = min(a.low, b.low)
	a.close = b.close
	a.volume += b.volume
	a.n += b.n
}

func (a agg) candle(figi string, interval tvbridge.CandleInterval, start int64) tvbridge.Candle {
	return tvbridge.Candle{
		FIGI: figi, Interval: interval, Time: fromNanos(start),
		Open: a.open, High: a.high, Low: a.low, Close: a.close, Volume: float64(a.volume),
	}
}

// maxCandles bounds one Candles call: a year of 5-minute candles round the
// clock fits, an accidental century of minutes does not.
const maxCandles = 200_000

// Candle aggregates the trades in [start, start+interval) with Time < upTo.
// start is first aligned with IntervalStart. ok is false when there are no
// such trades (or the FIGI or interval is unknown).
func (m *Market) Candle(figi string, interval tvbridge.CandleInterval, start, upTo time.Time) (tvbridge.Candle, bool) {
	md, ok := m.model(figi)
	if !ok || !interval.Valid() {
		return tvbridge.Candle{}, false
	}
	s := toNanos(m.IntervalStart(figi, interval, start))
	e := min(md.nextIntervalStart(interval, s), toNanos(upTo))
	a := m.aggregate(md, s, e)
	if a.n == 0 {
		return tvbridge.Candle{}, false
	}
	return a.candle(figi, interval, s), true
}

// Candles returns the candles whose start lies in [from, to), built only
// from trades with Time < now; intervals without trades are absent. The
// result holds at most maxCandles candles, the earliest ones.
func (m *Market) Candles(figi string, interval tvbridge.CandleInterval, from, to, now time.Time) []tvbridge.Candle {
	md, ok := m.model(figi)
	if !ok || !interval.Valid() || !from.Before(to) {
		return nil
	}
	a, b, cut := toNanos(from), toNanos(to), toNanos(now)
	if d := int64(interval.Duration()); d > 0 {
		return m.intradayCandles(md, interval, d, a, b, cut)
	}
	var out []tvbridge.Candle
	s := md.intervalStart(interval, max(a, md.listed))
	if s < a {
		s = md.nextIntervalStart(interval, s)
	}
	for ; s < b && s < cut && len(out) < maxCandles; s = md.nextIntervalStart(interval, s) {
		if agg := m.aggregate(md, s, min(md.nextIntervalStart(interval, s), cut)); agg.n > 0 {
			out = append(out, agg.candle(figi, interval, s))
		}
	}
	return out
}

// intradayCandles walks the trading segments once and buckets their
// aggregates into fixed-length intervals of d nanoseconds.
func (m *Market) intradayCandles(md *model, interval tvbridge.CandleInterval, d, a, b, cut int64) []tvbridge.Candle {
	first := ceilTo(a, d)
	end := min(floorTo(b-1, d)+d, cut) // the last candle starting before b ends here
	var out []tvbridge.Candle
	var cur agg
	curStart := int64(0)
	flush := func() {
		if cur.n > 0 {
			out = append(out, cur.candle(md.inst.FIGI, interval, curStart))
		}
		cur = agg{}
	}
	md.eachSegment(first, end, func(seg segment) bool {
		if !seg.producesTrades() {
			return true
		}
		for c := max(seg.from, first); c < min(seg.to, end); {
			ks := floorTo(c, d)
			ke := min(ks+d, seg.to, end)
			if ks != curStart {
				flush()
				curStart = ks
			}
			cur.merge(m.segmentAgg(md, seg, c, ke))
			c = ke
		}
		return len(out) < maxCandles
	})
	flush()
	if len(out) > maxCandles {
		out = out[:maxCandles]
	}
	return out
}

// aggregate returns the aggregate of all trades in [a, b).
func (m *Market) aggregate(md *model, a, b int64) agg {
	var acc agg
	md.eachSegment(a, b, func(seg segment) bool {
		if seg.producesTrades() {
			acc.merge(m.segmentAgg(md, seg, max(a, seg.from), min(b, seg.to)))
		}
		return true
	})
	return acc
}

// segmentAgg aggregates the trades in [a, b), a span inside segment seg,
// from cached whole hours and whole minutes where it can.
func (m *Market) segmentAgg(md *model, seg segment, a, b int64) agg {
	var acc agg
	for c := a; c < b; {
		switch {
		case c%nsPerHour == 0 && c+nsPerHour <= b:
			acc.merge(m.hourAgg(md, seg, c/nsPerHour))
			c += nsPerHour
		case c%nsPerMinute == 0 && c+nsPerMinute <= b:
			acc.merge(m.minuteAgg(md, seg, c/nsPerMinute))
			c += nsPerMinute
		default: // a partial minute, e.g. the one still forming
			end := min(floorTo(c, nsPerMinute)+nsPerMinute, b)
			for _, t := range m.minuteData(md, floorDiv(c, nsPerMinute), seg).trades {
				if ns := t.Time.UnixNano(); ns >= c && ns < end {
					acc.add(t)
				}
			}
			c = end
		}
	}
	return acc
}

// hourAgg is the aggregate of a whole hour lying inside segment seg.
func (m *Market) hourAgg(md *model, seg segment, hour int64) agg {
	k := cacheKey{md.id, hour}
	if a, ok := m.hourAggs.get(k); ok {
		return a
	}
	var acc agg
	for i := range int64(60) {
		acc.merge(m.minuteAggUncached(md, seg, hour*60+i))
	}
	m.hourAggs.put(k, acc)
	return acc
}

// scratch recycles trade buffers for aggregating minutes that are not
// worth caching trade by trade.
var scratch = sync.Pool{New: func() any { return new(minuteData) }}

// minuteAgg is the aggregate of a whole minute lying inside segment seg.
func (m *Market) minuteAgg(md *model, seg segment, idx int64) agg {
	k := cacheKey{md.id, idx}
	if a, ok := m.minuteAggs.get(k); ok {
		return a
	}
	acc := m.minuteAggUncached(md, seg, idx)
	m.minuteAggs.put(k, acc)
	return acc
}

// minuteAggUncached is minuteAgg without storing the result: an hour
// aggregate stores only itself, so a year of hours does not flush the
// minute cache.
func (m *Market) minuteAggUncached(md *model, seg segment, idx int64) agg {
	k := cacheKey{md.id, idx}
	if a, ok := m.minuteAggs.get(k); ok {
		return a
	}
	var acc agg
	buf := scratch.Get().(*minuteData)
	d := md.genMinute(idx, seg, minuteData{trades: buf.trades[:0], centres: buf.centres[:0]})
	for _, t := range d.trades {
		acc.add(t)
	}
	*buf = d
	scratch.Put(buf)
	return acc
}

// IntervalStart returns the start of the interval containing t. Intraday
// intervals are aligned in UTC; day, week and month start at local
// midnight, on Monday and on the 1st in the instrument's timezone (UTC for
// an unknown FIGI). The result is in UTC.
func (m *Market) IntervalStart(figi string, interval tvbridge.CandleInterval, t time.Time) time.Time {
	if md, ok := m.model(figi); ok {
		return fromNanos(md.intervalStart(interval, toNanos(t)))
	}
	return fromNanos(calendarStart(time.UTC, interval, toNanos(t)))
}

func (md *model) intervalStart(interval tvbridge.CandleInterval, ns int64) int64 {
	return calendarStart(md.loc, interval, ns)
}

func calendarStart(loc *time.Location, interval tvbridge.CandleInterval, ns int64) int64 {
	if d := int64(interval.Duration()); d > 0 {
		return floorTo(ns, d)
	}
	y, mo, d := time.Unix(0, ns).In(loc).Date()
	switch interval {
	case tvbridge.IntervalWeek:
		wd := time.Date(y, mo, d, 12, 0, 0, 0, time.UTC).Weekday()
		d -= (int(wd) + 6) % 7 // days since Monday
	case tvbridge.IntervalMonth:
		d = 1
	case tvbridge.IntervalDay:
	default:
		return floorTo(ns, nsPerMinute) // unknown interval: the minute
	}
	return time.Date(y, mo, d, 0, 0, 0, 0, loc).UnixNano()
}

// nextIntervalStart returns the start of the interval after the one that
// starts at s.
func (md *model) nextIntervalStart(interval tvbridge.CandleInterval, s int64) int64 {
	if d := int64(interval.Duration()); d > 0 {
		return s + d
	}
	y, mo, d := time.Unix(0, s).In(md.loc).Date()
	switch interval {
	case tvbridge.IntervalDay:
		d++
	case tvbridge.IntervalWeek:
		d += 7
	case tvbridge.IntervalMonth:
		mo++
	default:
		return s + nsPerMinute
	}
	return time.Date(y, mo, d, 0, 0, 0, 0, md.loc).UnixNano()
}

// LastTrade returns the last trade at or before t, searching back at most
// ten days; ok is false if there is none.
func (m *Market) LastTrade(figi string, t time.Time) (Trade, bool) {
	md, ok := m.model(figi)
	if !ok {
		return Trade{}, false
	}
	return m.lastTrade(md, toNanos(t))
}

const lastTradeHorizon = 10 * nsPerDay

func (m *Market) lastTrade(md *model, ns int64) (Trade, bool) {
	var found Trade
	ok := false
	md.eachSegmentBack(ns-lastTradeHorizon, ns+1, func(seg segment) bool {
		if !seg.producesTrades() {
			return true
		}
		lo := max(seg.from, ns-lastTradeHorizon)
		for idx := floorDiv(min(ns, seg.to-1), nsPerMinute); idx*nsPerMinute+nsPerMinute > lo; idx-- {
			ts := m.minuteData(md, idx, seg).trades
			for i := len(ts) - 1; i >= 0; i-- {
				if ts[i].Time.UnixNano() <= ns {
					found, ok = ts[i], true
					return false
				}
			}
		}
		return true
	})
	return found, ok
}

func floorTo(ns, d int64) int64 { return floorDiv(ns, d) * d }

func ceilTo(ns, d int64) int64 { return -floorDiv(-ns, d) * d }
