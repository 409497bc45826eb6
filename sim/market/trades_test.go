package market

import (
	"testing"
	"time"

	"tvbridge"
)

// checkMinute asserts the invariants of one minute's trades. The status is
// constant within a minute, so the costlier checks (status, session, exact
// decimal) run on the first and last trade.
func checkMinute(t *testing.T, m *Market, in *Instrument, minute time.Time, trades []Trade) {
	t.Helper()
	prev := minute.Add(-1)
	for i, tr := range trades {
		switch {
		case !tr.Time.After(prev) || !tr.Time.Before(minute.Add(time.Minute)):
			t.Fatalf("%s minute %s: trade at %s out of order or outside the minute", in.Ticker, minute, tr.Time)
		case tr.Time.Location() != time.UTC:
			t.Fatalf("%s: trade time %s not in UTC", in.Ticker, tr.Time)
		case !(tr.Price > 0) || tr.Lots <= 0:
			t.Fatalf("%s: price %v, %d lots", in.Ticker, tr.Price, tr.Lots)
		}
		prev = tr.Time
		if i != 0 && i != len(trades)-1 {
			continue
		}
		status := m.Status(in.FIGI, tr.Time)
		switch {
		case !isMultiple(tr.Price, in.MinPriceIncrement):
			t.Fatalf("%s: price %v not a multiple of %v", in.Ticker, tr.Price, in.MinPriceIncrement)
		case !status.Trading() || !in.Schedule.InSession(tr.Time):
			t.Fatalf("%s: trade at %s in status %s, in session %v", in.Ticker, tr.Time, status, in.Schedule.InSession(tr.Time))
		case status == tvbridge.StatusOpeningAuction:
			t.Fatalf("%s: trade at %s during the opening auction", in.Ticker, tr.Time)
		}
	}
}

// TestTradesInvariants walks a Friday and a Saturday minute by minute.
func TestTradesInvariants(t *testing.T) {
	m := testMarket
	from := time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)
	for _, ticker := range sampleTickers {
		in := m.ByTicker(ticker)[0]
		minutes, busy, total := 0, 0, 0
		for at := from; at.Before(from.AddDate(0, 0, 2)); at = at.Add(time.Minute) {
			trades := m.MinuteTrades(in.FIGI, at)
			checkMinute(t, m, in, at, trades)
			if m.Status(in.FIGI, at) == tvbridge.StatusNormalTrading {
				minutes++
				total += len(trades)
				if len(trades) > 0 {
					busy++
				}
			}
		}
		if minutes == 0 || total == 0 {
			t.Fatalf("%s: no trading in two days", ticker)
		}
		t.Logf("%-14s %5d trading minutes, %4.1f%% with trades, %5.1f trades per minute", ticker, minutes, 100*float64(busy)/float64(minutes), float64(total)/float64(minutes))
	}
}

func TestLiquidity(t *testing.T) {
	m := testMarket
	day := time.Date(2026, 3, 10, 7, 0, 0, 0, time.UTC) // 10:00 Moscow
	perMinute := func(ticker string) (mean float64, empty int) {
		f := figi(t, m, ticker)
		n := 0
		for i := range 300 {
			k := len(m.MinuteTrades(f, day.Add(time.Duration(i)*time.Minute)))
			n += k
			if k == 0 {
				empty++
			}
		}
		return float64(n) / 300, empty
	}
	if mean, _ := perMinute("SBER"); mean < 10 || mean > 120 {
		t.Errorf("SBER: %.1f trades a minute, want a liquid name's 10-60ish", mean)
	}
	if mean, empty := perMinute("RU000A1013N6"); mean > 2 || empty < 100 {
		t.Errorf("an illiquid bond: %.1f trades a minute and %d empty minutes of 300", mean, empty)
	}
}

func TestWeekends(t *testing.T) {
	m := testMarket
	sunday := time.Date(2026, 3, 15, 0, 0, 0, 0, msk)
	count := func(ticker string) int {
		f := figi(t, m, ticker)
		n := 0
		for at := sunday; at.Before(sunday.Add(24 * time.Hour)); at = at.Add(time.Minute) {
			n += len(m.MinuteTrades(f, at))
		}
		return n
	}
	for _, ticker := range []string{"SBER", "USD000UTSTOM", "SU26238RMFS4", "TMOS", "LSRG"} {
		if n := count(ticker); n != 0 {
			t.Errorf("%s: %d trades on a Sunday", ticker, n)
		}
	}
	for _, ticker := range []string{"BTC_RUB", "ETH_RUB", "BTC_USD", "ETH_USD", "SIMCO", "SIMETF"} {
		if n := count(ticker); n < 1000 {
			t.Errorf("%s: %d trades on a Sunday, want round-the-clock trading", ticker, n)
		}
	}
}

// TestClosingAuction: one auction trade just before 18:50, nothing in the
// opening auction, nothing in the rest of the closing auction.
func TestClosingAuction(t *testing.T) {
	m := testMarket
	for _, ticker := range []string{"SBER", "TMOS", "SU26238RMFS4"} {
		f := figi(t, m, ticker)
		day := time.Date(2026, 3, 10, 0, 0, 0, 0, msk)
		if n := len(tradesBetween(m, f, day.Add(9*time.Hour+50*time.Minute), day.Add(10*time.Hour))); n != 0 {
			t.Errorf("%s: %d trades in the opening auction", ticker, n)
		}
		auction := tradesBetween(m, f, day.Add(18*time.Hour+40*time.Minute), day.Add(18*time.Hour+50*time.Minute))
		if len(auction) != 1 {
			t.Fatalf("%s: %d closing-auction trades, want 1", ticker, len(auction))
		}
		if at := auction[0].Time; at.Before(day.Add(18*time.Hour + 49*time.Minute + 59*time.Second)) {
			t.Errorf("%s: the auction trade is at %s, want just before 18:50", ticker, at.In(msk))
		}
	}
}

// TestUSSessionThroughDST: on each side of both 2026 New York DST changes
// the first trade is in the 09:30 minute and the last in the 15:59 minute,
// local time, so the UTC hours shift with the clocks.
func TestUSSessionThroughDST(t *testing.T) {
	m := testMarket
	f := figi(t, m, "AAPL")
	days := map[string]int{ // date: UTC offset in hours
		"2026-03-06": -5, "2026-03-09": -4, // DST starts Sunday 2026-03-08
		"2026-10-30": -4, "2026-11-02": -5, // DST ends Sunday 2026-11-01
	}
	for date, offset := range days {
		d := mustDate(date)
		trades := tradesBetween(m, f, d, d.Add(24*time.Hour))
		if len(trades) == 0 {
			t.Fatalf("%s: no trades", date)
		}
		first, last := trades[0].Time.In(nyc), trades[len(trades)-1].Time.In(nyc)
		if first.Hour() != 9 || first.Minute() != 30 || last.Hour() != 15 || last.Minute() != 59 {
			t.Errorf("%s: trades from %s to %s local, want 09:30 to 15:59", date, first, last)
		}
		if _, off := first.Zone(); off != offset*3600 {
			t.Errorf("%s: offset %d s, want %d h", date, off, offset)
		}
		if utcOpen := trades[0].Time.Hour(); utcOpen != 9-offset {
			t.Errorf("%s: first trade at %02d UTC, want %02d", date, utcOpen, 9-offset)
		}
	}
	for _, sunday := range []string{"2026-03-08", "2026-11-01"} {
		d := mustDate(sunday)
		if n := len(tradesBetween(m, f, d, d.Add(24*time.Hour))); n != 0 {
			t.Errorf("%s (Sunday): %d trades", sunday, n)
		}
	}
}

func TestNoTradesBeforeListing(t *testing.T) {
	m := testMarket
	in := m.ByTicker("OZON")[0]
	day := in.Listed.Add(-24 * time.Hour)
	if n := len(tradesBetween(m, in.FIGI, day, in.Listed)); n != 0 {
		t.Errorf("%d trades the day before listing", n)
	}
	if _, ok := m.LastTrade(in.FIGI, in.Listed.Add(8*time.Hour)); ok {
		t.Error("a last trade exists before the first session")
	}
	if n := len(tradesBetween(m, in.FIGI, in.Listed, in.Listed.Add(24*time.Hour))); n == 0 {
		t.Error("no trades on the listing day")
	}
}

func TestMinuteTradesTruncatesAndCopies(t *testing.T) {
	m := New(Config{Seed: 42})
	f := figi(t, m, "SBER")
	minute := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	a := m.MinuteTrades(f, minute.Add(37*time.Second))
	b := m.MinuteTrades(f, minute)
	if len(a) == 0 || len(a) != len(b) || a[0] != b[0] {
		t.Fatalf("a time inside the minute gave %d trades, the minute itself %d", len(a), len(b))
	}
	a[0].Price = -1 // the caller owns the slice: the market must not see this
	if c := m.MinuteTrades(f, minute); c[0] != b[0] {
		t.Error("modifying a returned slice changed the market")
	}
	if m.MinuteTrades("BBG000000000", minute) != nil {
		t.Error("an unknown FIGI has trades")
	}
}

// TestPriceContinuity: minute closes move like a liquid market's, not
// like noise around a level, and the price stays plausible for years.
func TestPriceContinuity(t *testing.T) {
	m := testMarket
	f := figi(t, m, "BTC_USD")
	start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	cs := m.Candles(f, tvbridge.Interval1Min, start, start.Add(24*time.Hour), start.Add(24*time.Hour))
	for i := 1; i < len(cs); i++ {
		if r := cs[i].Open/cs[i-1].Close - 1; r > 0.01 || r < -0.01 {
			t.Fatalf("jump of %.2f%% between minutes at %s", 100*r, cs[i].Time)
		}
	}
	in, _ := m.Instrument(f)
	for year := 2019; year <= 2040; year++ {
		tr, ok := m.LastTrade(f, time.Date(year, 6, 1, 12, 0, 0, 0, time.UTC))
		if !ok || tr.Price < in.BasePrice/10 || tr.Price > in.BasePrice*10 {
			t.Errorf("%d: price %v (ok %v) strays far from the base %v", year, tr.Price, ok, in.BasePrice)
		}
	}
}
