package market

import (
	"testing"
	"time"

	"tvbridge"
)

// FuzzQueries throws arbitrary FIGIs, instants, depths, intervals and
// ranges at the market, as a misbehaving simulator client would, and checks
// that nothing panics and every answer keeps its invariants.
func FuzzQueries(f *testing.F) {
	m := New(Config{Seed: 3})
	insts := m.Instruments()
	f.Add("", uint16(0), int64(1773144000), int64(0), 5, uint8(0), int64(3600))               // SBER, a weekday noon
	f.Add("", uint16(5), int64(1773576000), int64(123456789), 20, uint8(10), int64(86400*40)) // BTC_RUB on a Sunday, days
	f.Add("", uint16(2), int64(1772953200), int64(999999999), 1, uint8(12), int64(86400*400)) // AAPL at the DST change, months
	f.Add("BBG000000000", uint16(0), int64(0), int64(0), 0, uint8(3), int64(60))              // unknown FIGI
	f.Add("", uint16(3), int64(-62135596800), int64(0), -1, uint8(200), int64(-5))            // year 1, bad depth, bad interval
	f.Add("", uint16(6), int64(253402300799), int64(0), 1000, uint8(7), int64(9223372036))    // year 9999
	f.Add("", uint16(1), int64(1773180600), int64(0), 3, uint8(1), int64(120))                // USD at the close
	f.Fuzz(func(t *testing.T, figiArg string, idx uint16, sec, nsec int64, depth int, iv uint8, span int64) {
		figi := figiArg
		var in *Instrument
		if figi == "" {
			in = insts[int(idx)%len(insts)]
			figi = in.FIGI
		}
		at := time.Unix(sec, nsec%1e9).UTC()
		interval := tvbridge.CandleInterval("junk")
		if int(iv) < len(allIntervals) {
			interval = allIntervals[iv]
		}

		status := m.Status(figi, at)
		info := m.Info(figi, at)
		book := m.OrderBook(figi, at, depth)
		trades := m.MinuteTrades(figi, at)
		last, lastOK := m.LastTrade(figi, at)
		candle, candleOK := m.Candle(figi, interval, at, at.Add(time.Duration(span%3600)*time.Second))
		start := m.IntervalStart(figi, interval, at)
		if in == nil {
			if status != tvbridge.StatusUnknown || trades != nil || lastOK || candleOK || len(book.Bids)+len(book.Asks) != 0 {
				t.Fatalf("unknown FIGI %q answered", figi)
			}
			return
		}
		if info.TradeStatus != status || book.TradeStatus != status {
			t.Fatalf("statuses disagree: %s, %s, %s", status, info.TradeStatus, book.TradeStatus)
		}
		checkBook(t, in, at, book, depth)
		checkMinute(t, m, in, at.Truncate(time.Minute), trades)
		if lastOK && (last.Time.After(at) || !isMultiple(last.Price, in.MinPriceIncrement)) {
			t.Fatalf("last trade %+v at %s", last, at)
		}
		if candleOK && (!candle.Time.Equal(start) || candle.Low > candle.High || candle.Open < candle.Low ||
			candle.Close > candle.High || !(candle.Volume > 0)) {
			t.Fatalf("candle %+v, interval start %s", candle, start)
		}
		if start.After(at) && at.After(minTime) && at.Before(maxTime) {
			t.Fatalf("interval start %s after %s", start, at)
		}

		// A bounded range keeps one fuzz run cheap.
		limit := 2 * 24 * time.Hour
		if interval.Duration() == 0 {
			limit = 60 * 24 * time.Hour
		}
		to := at.Add(min(time.Duration(span%1e9)*time.Second, limit))
		prev := time.Time{}
		for _, c := range m.Candles(figi, interval, at, to, to) {
			if c.Time.Before(at) || !c.Time.Before(to) || !c.Time.After(prev) || c.Interval != interval {
				t.Fatalf("candle at %s outside [%s, %s) or out of order", c.Time, at, to)
			}
			prev = c.Time
		}
	})
}
