package v2sim

import (
	"time"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinvest/wire"
)

// streamIntervals maps the stream's candle intervals to the model's.
var streamIntervals = map[wire.SubscriptionInterval]tvbridge.CandleInterval{
	wire.SubscriptionIntervalOneMinute:      tvbridge.Interval1Min,
	wire.SubscriptionInterval2Min:           tvbridge.Interval2Min,
	wire.SubscriptionInterval3Min:           tvbridge.Interval3Min,
	wire.SubscriptionIntervalFiveMinutes:    tvbridge.Interval5Min,
	wire.SubscriptionInterval10Min:          tvbridge.Interval10Min,
	wire.SubscriptionIntervalFifteenMinutes: tvbridge.Interval15Min,
	wire.SubscriptionInterval30Min:          tvbridge.Interval30Min,
	wire.SubscriptionIntervalOneHour:        tvbridge.IntervalHour,
	wire.SubscriptionInterval2Hour:          tvbridge.Interval2Hour,
	wire.SubscriptionInterval4Hour:          tvbridge.Interval4Hour,
	wire.SubscriptionIntervalOneDay:         tvbridge.IntervalDay,
	wire.SubscriptionIntervalWeek:           tvbridge.IntervalWeek,
	wire.SubscriptionIntervalMonth:          tvbridge.IntervalMonth,
}

// candleStream is the forming candle of one instrument and interval, built
// from the trades the instrument's cursor applies: the same trades the
// model's candles aggregate, so the state a stream sends when an interval
// closes is what GetCandles returns for it.
type candleStream struct {
	interval   tvbridge.CandleInterval
	wiv        wire.SubscriptionInterval
	live       []*mdConn // every update
	closing    []*mdConn // waitingClose: the final state only
	start, end time.Time
	candle     tvbridge.Candle
	has        bool // the interval has trades so far
	dirty      bool // changed since the last frame to live subscribers
	lastTrade  time.Time
	distorted  bool // the last update sent was the CorrectiveCandles fault's

	// The interval that closed last, for the corrective update a late
	// trade makes; prevKnown is false until one closed on this stream.
	prevKnown, prevHas bool
	prevStart          time.Time
	prev               tvbridge.Candle
	prevTS             time.Time
}

func (is *instStream) candle(iv tvbridge.CandleInterval) *candleStream {
	for _, st := range is.candles {
		if st.interval == iv {
			return st
		}
	}
	return nil
}

// newCandleStream starts a stream on the interval the cursor is in, with
// the trades the model has for it so far (less a trade held back late).
func (e *emitter) newCandleStream(is *instStream, iv tvbridge.CandleInterval, wiv wire.SubscriptionInterval) *candleStream {
	if wiv == "" {
		wiv = wire.SubscriptionIntervalOneMinute
	}
	st := &candleStream{interval: iv, wiv: wiv}
	e.roll(is, st, is.processed)
	upTo := is.processed
	if is.late != nil {
		upTo = is.late.Time
	}
	if cd, ok := e.m.Candle(is.in.FIGI, iv, st.start, upTo); ok {
		st.candle, st.has = cd, true
		if tr, ok := e.m.LastTrade(is.in.FIGI, upTo.Add(-time.Nanosecond)); ok {
			st.lastTrade = tr.Time
		}
	}
	return st
}

// roll starts st on the (empty) interval containing t.
func (e *emitter) roll(is *instStream, st *candleStream, t time.Time) {
	figi := is.in.FIGI
	st.start = e.m.IntervalStart(figi, st.interval, t)
	st.end = intervalEnd(e.m, figi, st.interval, st.start)
	st.candle = tvbridge.Candle{FIGI: figi, Interval: st.interval, Time: st.start}
	st.has, st.dirty, st.distorted = false, false, false
	st.lastTrade = time.Time{}
}

func (st *candleStream) add(tr market.Trade) {
	if !st.has {
		st.candle.Open, st.candle.High, st.candle.Low = tr.Price, tr.Price, tr.Price
		st.has = true
	}
	addTrade(&st.candle, tr)
	st.lastTrade = tr.Time
	st.dirty = true
}

func (st *candleStream) all() []*mdConn {
	if len(st.closing) == 0 {
		return st.live
	}
	return append(append([]*mdConn(nil), st.live...), st.closing...)
}

// closeCandle ends st's interval: its final state goes to the live
// subscribers that lack it and to every waiting-close subscriber; then the
// stream moves to the interval containing t.
func (e *emitter) closeCandle(is *instStream, st *candleStream, t time.Time) {
	if is.late != nil && is.late.Time.Before(st.start) {
		// The held trade belongs to the interval about to be forgotten as
		// "previous": it must go out first (a tick spanning minutes).
		e.deliverLate(is, t, true)
	}
	if st.has {
		frame := st.frame(is.in, st.candle)
		if st.dirty {
			e.data(st.live, frame, true)
		}
		e.data(st.closing, frame, true)
	}
	st.prevKnown, st.prevHas, st.prevStart, st.prev, st.prevTS = true, st.has, st.start, st.candle, st.lastTrade
	e.roll(is, st, t)
}

// flushCandle sends the forming candle to the live subscribers when it
// changed. Under CorrectiveCandles every other update is a wrong state
// (one lot more, the high a tick higher), corrected by the next.
func (e *emitter) flushCandle(is *instStream, st *candleStream) {
	if !st.dirty || !st.has {
		return
	}
	if e.srv.faults.corrective.Load() && !st.distorted {
		wrong := st.candle
		wrong.Volume++
		wrong.High += is.in.MinPriceIncrement
		e.data(st.live, st.frame(is.in, wrong), true)
		st.distorted = true
		e.srv.stats.distorted.Add(1)
		return // still dirty: the true state follows
	}
	e.data(st.live, st.frame(is.in, st.candle), true)
	st.dirty, st.distorted = false, false
}

func (st *candleStream) frame(in *instrument, c tvbridge.Candle) []byte {
	return st.frameAt(in, c, st.lastTrade)
}

func (st *candleStream) frameAt(in *instrument, c tvbridge.Candle, lastTrade time.Time) []byte {
	return encode(wire.MarketDataResponse{Candle: &wire.Candle{
		FIGI: in.FIGI, Interval: st.wiv, Open: in.price(c.Open), High: in.price(c.High), Low: in.price(c.Low),
		Close: in.price(c.Close), Volume: wire.Int64(c.Volume), Time: wire.At(c.Time), LastTradeTS: wire.At(lastTrade),
		InstrumentUID: in.uid, CandleSourceType: wire.CandleSourceExchange,
	}})
}
