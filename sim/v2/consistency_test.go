package v2sim

import (
	"context"
	"testing"
	"time"

	"tvbridge/tinvest/wire"
)

// ohlcv is a candle as exact decimals.
type ohlcv struct {
	open, high, low, close wire.Quotation
	volume                 int64
	n                      int
}

func (a *ohlcv) add(p wire.Quotation, lots int64) {
	if a.n == 0 {
		a.open, a.high, a.low = p, p, p
	}
	if p.Cmp(a.high) > 0 {
		a.high = p
	}
	if p.Cmp(a.low) < 0 {
		a.low = p
	}
	a.close = p
	a.volume += lots
	a.n++
}

func (a ohlcv) same(o, h, l, c wire.Quotation, v int64) bool {
	return a.open == o && a.high == h && a.low == l && a.close == c && a.volume == v
}

type candleKey struct {
	uid      string
	interval wire.SubscriptionInterval
	start    time.Time
}

// streamed sorts a stream's frames: the trades aggregated per instrument
// and minute, and the last candle frame of every instrument, interval and
// start.
func streamed(t *testing.T, frames [][]byte) (map[candleKey]*ohlcv, map[candleKey]wire.Candle) {
	trades := map[candleKey]*ohlcv{}
	last := map[candleKey]wire.Candle{}
	for _, m := range md(t, frames) {
		switch {
		case m.Trade != nil:
			k := candleKey{m.Trade.InstrumentUID, wire.SubscriptionIntervalOneMinute, m.Trade.Time.Truncate(time.Minute)}
			if trades[k] == nil {
				trades[k] = &ohlcv{}
			}
			trades[k].add(m.Trade.Price, int64(m.Trade.Quantity))
		case m.Candle != nil:
			last[candleKey{m.Candle.InstrumentUID, m.Candle.Interval, m.Candle.Time.Time}] = *m.Candle
		}
	}
	return trades, last
}

// checkConsistency checks, for every whole interval in [from, to), that the
// trades streamed aggregate to the last candle streamed, and both to
// GetCandles.
func checkConsistency(t *testing.T, h *harness, frames [][]byte, uids []string, from, to time.Time) {
	t.Helper()
	trades, last := streamed(t, frames)
	c := h.client(nil)
	minutes := 0
	for _, uid := range uids {
		for _, iv := range []struct {
			sub  wire.SubscriptionInterval
			rest wire.CandleInterval
			d    time.Duration
		}{
			{wire.SubscriptionIntervalOneMinute, wire.CandleInterval1Min, time.Minute},
			{wire.SubscriptionIntervalFiveMinutes, wire.CandleInterval5Min, 5 * time.Minute},
		} {
			rest := call[wire.GetCandlesResponse](t, c, wire.MethodGetCandles, wire.GetCandlesRequest{InstrumentID: uid,
				From: wire.At(from), To: wire.At(to), Interval: iv.rest})
			byStart := map[time.Time]wire.HistoricCandle{}
			for _, hc := range rest.Candles {
				byStart[hc.Time.Time] = hc
			}
			for start := from.Truncate(iv.d); start.Add(iv.d).Compare(to) <= 0; start = start.Add(iv.d) {
				if start.Before(from) {
					continue
				}
				k := candleKey{uid, iv.sub, start}
				hc, inREST := byStart[start]
				sc, inStream := last[k]
				var agg ohlcv
				for m := start; m.Before(start.Add(iv.d)); m = m.Add(time.Minute) {
					if a := trades[candleKey{uid, wire.SubscriptionIntervalOneMinute, m}]; a != nil {
						if agg.n == 0 {
							agg = *a
							continue
						}
						agg.add(a.open, 0)
						agg.add(a.high, 0)
						agg.add(a.low, 0)
						agg.add(a.close, a.volume)
					}
				}
				if inREST != inStream || inREST != (agg.n > 0) {
					t.Fatalf("%s %s %s: in REST %v, streamed candle %v, %d trades", uid, iv.sub, start, inREST, inStream, agg.n)
				}
				if !inREST {
					continue
				}
				if !hc.IsComplete || !agg.same(hc.Open, hc.High, hc.Low, hc.Close, int64(hc.Volume)) ||
					!agg.same(sc.Open, sc.High, sc.Low, sc.Close, int64(sc.Volume)) {
					t.Fatalf("%s %s %s:\n trades %+v\n candle %+v\n REST   %+v", uid, iv.sub, start, agg, sc, hc)
				}
				minutes++
			}
		}
	}
	if minutes == 0 {
		t.Fatal("nothing compared")
	}
}

func subscribeAll(ws *wsClient, uids ...string) {
	r := &wire.SubscribeCandlesRequest{SubscriptionAction: subscribe}
	for _, uid := range uids {
		r.Instruments = append(r.Instruments,
			wire.CandleInstrument{InstrumentID: uid, Interval: wire.SubscriptionIntervalOneMinute},
			wire.CandleInstrument{InstrumentID: uid, Interval: wire.SubscriptionIntervalFiveMinutes})
	}
	ws.send(tradesReq(uids...))
	ws.send(wire.MarketDataRequest{SubscribeCandlesRequest: r})
	ws.waitCount(2)
}

// TestConsistencyOverAnHour: over a simulated hour, the trades streamed in
// each minute aggregate (OHLCV, volume in lots) exactly to the last candle
// streamed for it and to GetCandles; likewise per 5 minutes.
func TestConsistencyOverAnHour(t *testing.T) {
	h := newHarness(t, testStart, nil)
	ws := h.dialMD()
	btc := h.m.ByTicker("BTC_RUB")[0].FIGI
	uids := []string{uidOf(h, sber), uidOf(h, btc)}
	subscribeAll(ws, uids...)
	h.steps(time.Hour+5*time.Second, 5*time.Second)
	frames := ws.synced(h)
	// The first minute's trades began at the subscription: compare from the
	// second interval of each length on.
	checkConsistency(t, h, frames, uids, testStart.Add(5*time.Minute), testStart.Add(time.Hour))
	_ = context.Background()
}

// TestLateTradesAreCorrected: with the last trade of each minute late, the
// minute's candle closes without it, the trade comes after the next minute
// began, and a corrective candle restores consistency.
func TestLateTradesAreCorrected(t *testing.T) {
	h := newHarness(t, testStart, nil)
	h.srv.Faults().LateTrades(2 * time.Second)
	ws := h.dialMD()
	uid := uidOf(h, sber)
	subscribeAll(ws, uid)
	h.steps(11*time.Minute, 5*time.Second)
	frames := ws.synced(h)
	checkConsistency(t, h, frames, []string{uid}, testStart.Add(5*time.Minute), testStart.Add(10*time.Minute))
	// Observable: a trade of minute M after a trade of M+1, and a candle of
	// M after that, which differs from an earlier candle of M.
	late, corrected := 0, 0
	var newest time.Time
	seen := map[time.Time]wire.Candle{}
	for _, m := range md(t, frames) {
		switch {
		case m.Trade != nil:
			if m.Trade.Time.Truncate(time.Minute).Before(newest.Truncate(time.Minute)) {
				late++
			}
			newest = later(newest, m.Trade.Time.Time)
		case m.Candle != nil && m.Candle.Interval == wire.SubscriptionIntervalOneMinute:
			start := m.Candle.Time.Time
			if prev, ok := seen[start]; ok && start.Before(newest.Truncate(time.Minute)) && prev.Volume < m.Candle.Volume {
				corrected++
			}
			seen[start] = *m.Candle
		}
	}
	if late < 9 || corrected < 9 || h.srv.Stats().Faults.Corrections < 9 {
		t.Fatalf("%d late trades, %d corrected candles, stats %+v", late, corrected, h.srv.Stats().Faults)
	}
}

// TestCorrectiveCandles: candle updates change back before the final
// state, which is right.
func TestCorrectiveCandles(t *testing.T) {
	h := newHarness(t, testStart, nil)
	h.srv.Faults().CorrectiveCandles(true)
	ws := h.dialMD()
	uid := uidOf(h, sber)
	subscribeAll(ws, uid)
	h.steps(7*time.Minute, time.Second)
	frames := ws.synced(h)
	checkConsistency(t, h, frames, []string{uid}, testStart.Add(time.Minute), testStart.Add(6*time.Minute))
	backwards := 0
	seen := map[time.Time]wire.Candle{}
	for _, m := range md(t, frames) {
		if c := m.Candle; c != nil && c.Interval == wire.SubscriptionIntervalOneMinute {
			if prev, ok := seen[c.Time.Time]; ok && c.Volume < prev.Volume {
				backwards++
			}
			seen[c.Time.Time] = *c
		}
	}
	if backwards < 10 {
		t.Fatalf("%d candle updates went back", backwards)
	}
}

// TestWaitingClose: a waiting-close subscription gets each candle once,
// when its interval closed, equal to GetCandles.
func TestWaitingClose(t *testing.T) {
	h := newHarness(t, testStart, nil)
	ws := h.dialMD()
	uid := uidOf(h, sber)
	ws.send(wire.MarketDataRequest{SubscribeCandlesRequest: &wire.SubscribeCandlesRequest{SubscriptionAction: subscribe,
		WaitingClose: true, Instruments: []wire.CandleInstrument{{InstrumentID: uid, Interval: wire.SubscriptionIntervalOneMinute}}}})
	ws.waitCount(1)
	h.steps(4*time.Minute, 5*time.Second)
	var candles []wire.Candle
	for _, m := range md(t, ws.synced(h)) {
		if m.Candle != nil {
			candles = append(candles, *m.Candle)
		}
	}
	if len(candles) != 4 {
		t.Fatalf("%d candles in 4 minutes: %+v", len(candles), candles)
	}
	rest := call[wire.GetCandlesResponse](t, h.client(nil), wire.MethodGetCandles, wire.GetCandlesRequest{InstrumentID: uid,
		From: wire.At(testStart), To: wire.At(testStart.Add(4 * time.Minute)), Interval: wire.CandleInterval1Min})
	for i, c := range candles {
		r := rest.Candles[i]
		if !c.Time.Equal(r.Time.Time) || c.Open != r.Open || c.High != r.High || c.Low != r.Low || c.Close != r.Close || c.Volume != r.Volume {
			t.Fatalf("candle %d: %+v, REST %+v", i, c, r)
		}
	}
}
