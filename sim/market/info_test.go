package market

import (
	"math"
	"testing"
	"time"

	"tvbridge"
)

func TestInfo(t *testing.T) {
	m := testMarket
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, in := range m.Instruments() {
		info := m.Info(in.FIGI, at)
		if info.FIGI != in.FIGI || info.TradeStatus != m.Status(in.FIGI, at) ||
			info.MinPriceIncrement != in.MinPriceIncrement || info.Lot != float64(in.Lot) {
			t.Fatalf("%s: %+v", in.Ticker, info)
		}
		if (info.AccruedInterest != 0) && in.Type != tvbridge.Bond {
			t.Errorf("%s: accrued interest on a %s", in.Ticker, in.Type)
		}
		if info.LimitUp == 0 {
			continue
		}
		prev, ok := m.LastTrade(in.FIGI, m.IntervalStart(in.FIGI, tvbridge.IntervalDay, at).Add(-time.Nanosecond))
		if !ok || !isMultiple(info.LimitUp, in.MinPriceIncrement) || !isMultiple(info.LimitDown, in.MinPriceIncrement) ||
			math.Abs(info.LimitUp-1.2*prev.Price) > in.MinPriceIncrement || math.Abs(info.LimitDown-0.8*prev.Price) > in.MinPriceIncrement {
			t.Errorf("%s: limits %v..%v around the previous close %v", in.Ticker, info.LimitDown, info.LimitUp, prev.Price)
		}
	}
	for _, ticker := range []string{"SBER", "TMOS", "USD000UTSTOM"} {
		if m.Info(figi(t, m, ticker), at).LimitUp == 0 {
			t.Errorf("%s has no limits", ticker)
		}
	}
	for _, ticker := range []string{"AAPL", "BTC_RUB", "SU26238RMFS4"} {
		if info := m.Info(figi(t, m, ticker), at); info.LimitUp != 0 || info.LimitDown != 0 {
			t.Errorf("%s has limits %+v", ticker, info)
		}
	}
	if u := m.Info("BBG000000000", at); u != (tvbridge.InstrumentInfo{FIGI: "BBG000000000"}) {
		t.Errorf("unknown FIGI: %+v", u)
	}
}

// TestAccruedInterest grows by a day's coupon each day and resets on
// coupon dates, twice a year.
func TestAccruedInterest(t *testing.T) {
	m := testMarket
	in := m.ByTicker("SU26238RMFS4")[0]
	md, _ := m.model(in.FIGI)
	daily := in.FaceValue * md.coupon / 365
	resets := 0
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, msk)
	prev := m.Info(in.FIGI, start).AccruedInterest
	for d := 1; d <= 365; d++ {
		ai := m.Info(in.FIGI, start.AddDate(0, 0, d)).AccruedInterest
		switch {
		case ai < prev:
			resets++
			if ai > daily+0.01 {
				t.Fatalf("day %d: reset to %v, want about 0", d, ai)
			}
		case math.Abs(ai-prev-daily) > 0.011:
			t.Fatalf("day %d: grew from %v to %v, want +%.4f", d, prev, ai, daily)
		}
		if !isMultiple(ai, 0.01) || ai < 0 || ai > in.FaceValue*md.coupon/2 {
			t.Fatalf("day %d: accrued interest %v", d, ai)
		}
		prev = ai
	}
	if resets != 2 {
		t.Errorf("%d coupon dates in a year, want 2", resets)
	}
}
