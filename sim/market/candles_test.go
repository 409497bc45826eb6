package market

import (
	"testing"
	"time"

	"tvbridge"
)

var allIntervals = []tvbridge.CandleInterval{
	tvbridge.Interval1Min, tvbridge.Interval2Min, tvbridge.Interval3Min, tvbridge.Interval5Min,
	tvbridge.Interval10Min, tvbridge.Interval15Min, tvbridge.Interval30Min, tvbridge.IntervalHour,
	tvbridge.Interval2Hour, tvbridge.Interval4Hour, tvbridge.IntervalDay, tvbridge.IntervalWeek,
	tvbridge.IntervalMonth,
}

// TestMinuteCandlesEqualTrades: a past day's 1-minute candles are exactly
// the bars TradingView would build from MinuteTrades (stream equals history).
func TestMinuteCandlesEqualTrades(t *testing.T) {
	m := New(Config{Seed: 42}) // cold caches: history is computed, not remembered
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	for _, ticker := range sampleTickers {
		f := figi(t, m, ticker)
		got := m.Candles(f, tvbridge.Interval1Min, day, day.Add(24*time.Hour), day.AddDate(0, 0, 5))
		var want []tvbridge.Candle
		for at := day; at.Before(day.Add(24 * time.Hour)); at = at.Add(time.Minute) {
			if c, ok := candleOf(f, tvbridge.Interval1Min, at, m.MinuteTrades(f, at)); ok {
				want = append(want, c)
			}
		}
		if len(want) == 0 {
			t.Fatalf("%s: no trades that day", ticker)
		}
		assertCandles(t, ticker, got, want)
	}
}

func assertCandles(t *testing.T, what string, got, want []tvbridge.Candle) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d candles, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: candle %d\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// TestFormingCandle: with upTo inside a minute, the candle covers exactly
// the trades before upTo, and it grows into the closed candle.
func TestFormingCandle(t *testing.T) {
	m := testMarket
	for _, ticker := range []string{"SBER", "BTC_RUB", "USD000UTSTOM"} {
		f := figi(t, m, ticker)
		minute := time.Date(2026, 3, 10, 12, 34, 0, 0, time.UTC)
		trades := m.MinuteTrades(f, minute)
		for _, cut := range []time.Duration{0, 1, 15 * time.Second, 29*time.Second + 123456789, 59 * time.Second, time.Minute, time.Hour} {
			upTo := minute.Add(cut)
			var before []Trade
			for _, tr := range trades {
				if tr.Time.Before(upTo) {
					before = append(before, tr)
				}
			}
			want, wantOK := candleOf(f, tvbridge.Interval1Min, minute, before)
			got, ok := m.Candle(f, tvbridge.Interval1Min, minute, upTo)
			if ok != wantOK || got != want {
				t.Errorf("%s up to +%v: got %+v %v, want %+v %v", ticker, cut, got, ok, want, wantOK)
			}
		}
		// The forming hour candle up to a mid-minute instant.
		hour := minute.Truncate(time.Hour)
		upTo := minute.Add(20 * time.Second)
		want, _ := candleOf(f, tvbridge.IntervalHour, hour, tradesBetween(m, f, hour, upTo))
		if got, ok := m.Candle(f, tvbridge.IntervalHour, hour, upTo); !ok || got != want {
			t.Errorf("%s forming hour: got %+v, want %+v", ticker, got, want)
		}
	}
}

// TestIntervalsAggregateMinutes: every intraday and daily candle is the
// aggregation of the 1-minute candles in its interval, over nine days that
// span a DST change in New York; weekly and monthly candles aggregate the
// daily ones over two months.
func TestIntervalsAggregateMinutes(t *testing.T) {
	m := New(Config{Seed: 42})
	from := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 9)
	now := to.AddDate(0, 3, 0)
	for _, ticker := range []string{"SBER", "AAPL", "BTC_USD", "LSRG"} {
		f := figi(t, m, ticker)
		// From a day before from (timezones) to a day after to (the last
		// candles start before to and end after it).
		minutes := m.Candles(f, tvbridge.Interval1Min, from.AddDate(0, 0, -1), to.AddDate(0, 0, 1), now)
		for _, interval := range allIntervals[1:11] {
			got := m.Candles(f, interval, from, to, now)
			want := aggregateByInterval(m, f, interval, minutes, from, to)
			assertCandles(t, ticker+" "+string(interval), got, want)
		}
		// Weeks and months starting in [Jan 25, Mar 25): February and March.
		lo, hi := time.Date(2026, 1, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC)
		days := m.Candles(f, tvbridge.IntervalDay, lo.AddDate(0, 0, -1), time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), now)
		for _, interval := range []tvbridge.CandleInterval{tvbridge.IntervalWeek, tvbridge.IntervalMonth} {
			got := m.Candles(f, interval, lo, hi, now)
			want := aggregateByInterval(m, f, interval, days, lo, hi)
			if len(want) < 2 {
				t.Fatalf("%s %s: only %d candles to compare", ticker, interval, len(want))
			}
			assertCandles(t, ticker+" "+string(interval), got, want)
		}
	}
}

// aggregateByInterval groups shorter candles by IntervalStart and keeps
// the groups that start in [from, to).
func aggregateByInterval(m *Market, f string, interval tvbridge.CandleInterval, parts []tvbridge.Candle, from, to time.Time) []tvbridge.Candle {
	var out []tvbridge.Candle
	var group []tvbridge.Candle
	var start time.Time
	flush := func() {
		if len(group) > 0 && !start.Before(from) && start.Before(to) {
			out = append(out, mergeCandles(interval, start, group))
		}
		group = nil
	}
	for _, c := range parts {
		s := m.IntervalStart(f, interval, c.Time)
		if !s.Equal(start) {
			flush()
			start = s
		}
		group = append(group, c)
	}
	flush()
	return out
}

// TestCandlesNow: candles are built only from trades before now, the last
// one is the forming candle, and nothing starts at or after now.
func TestCandlesNow(t *testing.T) {
	m := testMarket
	f := figi(t, m, "SBER")
	now := time.Date(2026, 3, 10, 12, 34, 56, 789, time.UTC)
	day := m.IntervalStart(f, tvbridge.IntervalDay, now)
	for _, interval := range allIntervals {
		from := day.AddDate(0, 0, -3)
		if interval.Duration() == 0 {
			from = day.AddDate(0, -3, 0)
		}
		cs := m.Candles(f, interval, from, now.AddDate(0, 1, 0), now)
		if len(cs) == 0 {
			t.Fatalf("%s: no candles", interval)
		}
		last := cs[len(cs)-1]
		forming, ok := m.Candle(f, interval, last.Time, now)
		if !ok || forming != last {
			t.Errorf("%s: last candle %+v, forming candle %+v", interval, last, forming)
		}
		if !last.Time.Equal(m.IntervalStart(f, interval, now)) {
			t.Errorf("%s: last candle starts %s, want the interval containing now", interval, last.Time)
		}
	}
}

func TestCandlesRangeIsStartBased(t *testing.T) {
	m := testMarket
	f := figi(t, m, "BTC_USD")
	from := time.Date(2026, 3, 10, 12, 7, 0, 0, time.UTC)
	to := time.Date(2026, 3, 10, 14, 0, 0, 1, time.UTC)
	cs := m.Candles(f, tvbridge.IntervalHour, from, to, to.AddDate(0, 0, 1))
	// 12:00 starts before from; 13:00 and 14:00 start inside [from, to).
	if len(cs) != 2 || cs[0].Time.Hour() != 13 || cs[1].Time.Hour() != 14 {
		t.Fatalf("got %v", cs)
	}
	if full, _ := m.Candle(f, tvbridge.IntervalHour, cs[1].Time, to.AddDate(0, 0, 1)); cs[1] != full {
		t.Errorf("a candle reaching past to is cut: %+v vs %+v", cs[1], full)
	}
	if cs := m.Candles(f, tvbridge.IntervalHour, to, from, to); cs != nil {
		t.Errorf("from after to gave %v", cs)
	}
	if cs := m.Candles(f, "7min", from, to, to); cs != nil {
		t.Errorf("an unknown interval gave %v", cs)
	}
	if cs := m.Candles("BBG000000000", tvbridge.IntervalHour, from, to, to); cs != nil {
		t.Errorf("an unknown FIGI gave %v", cs)
	}
}

func TestIntervalStart(t *testing.T) {
	m := testMarket
	sber, aapl, btc := figi(t, m, "SBER"), figi(t, m, "AAPL"), figi(t, m, "BTC_USD")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		figi     string
		interval tvbridge.CandleInterval
		at, want string
	}{
		{sber, tvbridge.Interval1Min, "2026-03-10T12:34:56Z", "2026-03-10T12:34:00Z"},
		{sber, tvbridge.Interval3Min, "2026-03-10T12:34:56Z", "2026-03-10T12:33:00Z"},
		{sber, tvbridge.Interval15Min, "2026-03-10T12:34:56Z", "2026-03-10T12:30:00Z"},
		{sber, tvbridge.Interval4Hour, "2026-03-10T12:34:56Z", "2026-03-10T12:00:00Z"},
		{sber, tvbridge.IntervalDay, "2026-03-10T12:34:56Z", "2026-03-09T21:00:00Z"},
		{sber, tvbridge.IntervalDay, "2026-03-10T21:00:00Z", "2026-03-10T21:00:00Z"},
		{sber, tvbridge.IntervalWeek, "2026-03-15T20:59:59Z", "2026-03-08T21:00:00Z"}, // Sunday 23:59 MSK
		{sber, tvbridge.IntervalWeek, "2026-03-15T21:00:00Z", "2026-03-15T21:00:00Z"}, // Monday 00:00 MSK
		{sber, tvbridge.IntervalMonth, "2026-03-01T00:00:00Z", "2026-02-28T21:00:00Z"},
		{aapl, tvbridge.IntervalDay, "2026-03-06T15:00:00Z", "2026-03-06T05:00:00Z"}, // EST
		{aapl, tvbridge.IntervalDay, "2026-03-09T15:00:00Z", "2026-03-09T04:00:00Z"}, // EDT
		{aapl, tvbridge.IntervalWeek, "2026-03-12T15:00:00Z", "2026-03-09T04:00:00Z"},
		{aapl, tvbridge.IntervalMonth, "2026-11-20T15:00:00Z", "2026-11-01T04:00:00Z"}, // EDT until 06:00Z that day
		{btc, tvbridge.IntervalDay, "2026-03-10T23:59:59Z", "2026-03-10T00:00:00Z"},
		{"BBG000000000", tvbridge.IntervalDay, "2026-03-10T12:00:00Z", "2026-03-10T00:00:00Z"},
	}
	for _, c := range cases {
		got := m.IntervalStart(c.figi, c.interval, utc(c.at))
		if !got.Equal(utc(c.want)) || got.Location() != time.UTC {
			t.Errorf("%s %s at %s = %s, want %s", c.figi, c.interval, c.at, got, c.want)
		}
	}
}

func TestLastTrade(t *testing.T) {
	m := testMarket
	f := figi(t, m, "SBER")
	minute := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	trades := m.MinuteTrades(f, minute)
	for i, tr := range trades {
		if got, ok := m.LastTrade(f, tr.Time); !ok || got != tr {
			t.Fatalf("at trade %d's own time: %+v, want %+v", i, got, tr)
		}
		if i > 0 {
			if got, _ := m.LastTrade(f, tr.Time.Add(-time.Nanosecond)); got != trades[i-1] {
				t.Fatalf("just before trade %d: %+v, want %+v", i, got, trades[i-1])
			}
		}
	}
	// On Sunday night the last trade is Friday's closing auction.
	friday := time.Date(2026, 3, 13, 0, 0, 0, 0, msk)
	auction := tradesBetween(m, f, friday.Add(18*time.Hour+40*time.Minute), friday.Add(19*time.Hour))
	got, ok := m.LastTrade(f, time.Date(2026, 3, 15, 23, 0, 0, 0, msk))
	if !ok || len(auction) != 1 || got != auction[0] {
		t.Errorf("Sunday night: %+v, want Friday's auction %+v", got, auction)
	}
	if _, ok := m.LastTrade(f, time.Date(2026, 3, 15, 23, 0, 0, 0, msk).AddDate(0, 0, -11)); !ok {
		t.Error("no last trade on an ordinary Wednesday night")
	}
	if _, ok := m.LastTrade("BBG000000000", minute); ok {
		t.Error("an unknown FIGI has a last trade")
	}
}

func TestCandleEdgeCases(t *testing.T) {
	m := testMarket
	f := figi(t, m, "SBER")
	saturday := time.Date(2026, 3, 14, 0, 0, 0, 0, msk)
	if c, ok := m.Candle(f, tvbridge.IntervalDay, saturday, saturday.AddDate(0, 0, 1)); ok {
		t.Errorf("a Saturday candle: %+v", c)
	}
	if _, ok := m.Candle(f, "7min", saturday, saturday); ok {
		t.Error("an unknown interval gave a candle")
	}
	// An unaligned start is aligned first.
	at := time.Date(2026, 3, 10, 12, 34, 56, 0, time.UTC)
	a, okA := m.Candle(f, tvbridge.Interval5Min, at, at.Add(time.Hour))
	b, okB := m.Candle(f, tvbridge.Interval5Min, at.Truncate(5*time.Minute), at.Add(time.Hour))
	if !okA || !okB || a != b {
		t.Errorf("unaligned start: %+v, aligned: %+v", a, b)
	}
	// Absurd ranges stay bounded.
	cs := m.Candles(f, tvbridge.Interval1Min, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC))
	if len(cs) == 0 || len(cs) > maxCandles || cs[0].Time.Before(m.ByTicker("SBER")[0].Listed) {
		t.Errorf("a range from year 1: %d candles", len(cs))
	}
}
