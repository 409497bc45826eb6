package market

import (
	"testing"
	"time"

	"tvbridge"
)

func TestStatusTimeline(t *testing.T) {
	m := testMarket
	tue := func(loc *time.Location, hh, mm, ss int) time.Time {
		return time.Date(2026, 3, 10, hh, mm, ss, 0, loc)
	}
	const (
		closed  = tvbridge.StatusNotAvailableForTrading
		opening = tvbridge.StatusOpeningAuction
		normal  = tvbridge.StatusNormalTrading
		closing = tvbridge.StatusClosingAuction
		pause   = tvbridge.StatusBreakInTrading
	)
	cases := []struct {
		ticker string
		at     time.Time
		want   tvbridge.TradeStatus
	}{
		{"SBER", tue(msk, 9, 49, 59), closed},
		{"SBER", tue(msk, 9, 50, 0), opening},
		{"SBER", tue(msk, 9, 59, 59), opening},
		{"SBER", tue(msk, 10, 0, 0), normal},
		{"SBER", tue(msk, 18, 39, 59), normal},
		{"SBER", tue(msk, 18, 40, 0), closing},
		{"SBER", tue(msk, 18, 49, 59), closing},
		{"SBER", tue(msk, 18, 50, 0), closed},
		{"SBER", time.Date(2026, 3, 14, 12, 0, 0, 0, msk), closed}, // Saturday
		{"SBER", time.Date(2026, 3, 15, 12, 0, 0, 0, msk), closed}, // Sunday
		{"LSRG", tue(msk, 13, 59, 59), normal},
		{"LSRG", tue(msk, 14, 0, 0), pause},
		{"LSRG", tue(msk, 14, 59, 59), pause},
		{"LSRG", tue(msk, 15, 0, 0), normal},
		{"LSRG", tue(msk, 18, 40, 0), closed},
		{"USD000UTSTOM", tue(msk, 6, 59, 0), closed},
		{"USD000UTSTOM", tue(msk, 7, 0, 0), normal},
		{"USD000UTSTOM", tue(msk, 23, 49, 0), normal},
		{"USD000UTSTOM", tue(msk, 23, 50, 0), closed},
		{"AAPL", tue(nyc, 9, 29, 59), closed},
		{"AAPL", tue(nyc, 9, 30, 0), normal},
		{"AAPL", tue(nyc, 15, 59, 59), normal},
		{"AAPL", tue(nyc, 16, 0, 0), closed},
		{"BTC_RUB", time.Date(2026, 3, 15, 3, 0, 0, 0, msk), normal},
		{"BTC_RUB", time.Date(2026, 3, 15, 0, 0, 0, 0, msk), normal},
		{"BTC_USD", time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC), normal},
		{"OZON", time.Date(2020, 11, 23, 12, 0, 0, 0, msk), closed}, // the day before listing
		{"OZON", time.Date(2020, 11, 24, 12, 0, 0, 0, msk), normal},
		{"SBER", time.Date(1900, 1, 1, 12, 0, 0, 0, msk), closed},
		{"SBER", time.Date(9999, 1, 1, 12, 0, 0, 0, msk), closed},
	}
	for _, c := range cases {
		if got := m.Status(figi(t, m, c.ticker), c.at); got != c.want {
			t.Errorf("%s at %s: %q, want %q", c.ticker, c.at, got, c.want)
		}
	}
	if got := m.Status("BBG000000000", tue(msk, 12, 0, 0)); got != tvbridge.StatusUnknown {
		t.Errorf("unknown FIGI: %q, want StatusUnknown", got)
	}
}

// Every trading status lies inside the session string, and the session
// string's every minute has a trading status: the bar engine builds daily
// bars from the session.
func TestStatusAgreesWithSession(t *testing.T) {
	m := testMarket
	from := time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC) // Friday, through a DST change in New York
	for _, ticker := range sampleTickers {
		in := m.ByTicker(ticker)[0]
		for at := from; at.Before(from.AddDate(0, 0, 4)); at = at.Add(time.Minute) {
			trading := m.Status(in.FIGI, at).Trading()
			if trading != in.Schedule.InSession(at) {
				t.Fatalf("%s at %s: status %s, in session %v", ticker, at, m.Status(in.FIGI, at), in.Schedule.InSession(at))
			}
		}
	}
}
