package market

import (
	"testing"
	"time"

	"tvbridge"
)

// checkBook asserts the shape every book must have.
func checkBook(t *testing.T, in *Instrument, at time.Time, b tvbridge.OrderBook, depth int) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s at %s: "+format+"\nbook %+v", append([]any{in.Ticker, at}, append(args, b)...)...)
	}
	if b.FIGI != in.FIGI || b.Depth != depth || b.MinPriceIncrement != in.MinPriceIncrement {
		fail("header")
	}
	if len(b.Asks) != min(max(depth, 0), maxBookDepth) || len(b.Bids) > len(b.Asks) {
		fail("%d bids and %d asks for depth %d", len(b.Bids), len(b.Asks), depth)
	}
	// Bids run out only near the one-tick floor.
	if len(b.Bids) < len(b.Asks) && b.Asks[0].Price > 1000*in.MinPriceIncrement {
		fail("bids cut short far above zero")
	}
	check := func(side string, levels []tvbridge.PriceLevel, better func(a, b float64) bool) {
		for i, l := range levels {
			if !(l.Price > 0) || !(l.Quantity > 0) || l.Quantity != float64(int64(l.Quantity)) {
				fail("%s level %d: %+v", side, i, l)
			}
			if (i == 0 || i == len(levels)-1) && !isMultiple(l.Price, in.MinPriceIncrement) {
				fail("%s level %d: price not a multiple of the increment", side, i)
			}
			if i > 0 && !better(levels[i-1].Price, l.Price) {
				fail("%s levels %d and %d out of order", side, i-1, i)
			}
		}
	}
	check("bid", b.Bids, func(a, b float64) bool { return a > b })
	check("ask", b.Asks, func(a, b float64) bool { return a < b })
	if len(b.Bids) > 0 && !(b.Bids[0].Price < b.Asks[0].Price) {
		fail("crossed or locked")
	}
}

func TestOrderBookShape(t *testing.T) {
	m := testMarket
	from := time.Date(2026, 3, 13, 6, 0, 0, 0, time.UTC) // Friday morning into the weekend
	for _, in := range m.Instruments() {
		for i := range 25 {
			at := from.Add(time.Duration(i) * 149 * time.Minute)
			depth := []int{1, 5, 20, 0, 60}[i%5]
			checkBook(t, in, at, m.OrderBook(in.FIGI, at, depth), depth)
		}
	}
}

func TestOrderBookHeader(t *testing.T) {
	m := testMarket
	f := figi(t, m, "SBER")
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	b := m.OrderBook(f, at, 10)
	last, _ := m.LastTrade(f, at)
	if b.TradeStatus != tvbridge.StatusNormalTrading || b.LastPrice != last.Price || !(b.ClosePrice > 0) {
		t.Errorf("header %+v, last trade %+v", b, last)
	}
	monday := time.Date(2026, 3, 9, 23, 59, 0, 0, msk)
	if prev, _ := m.LastTrade(f, monday); b.ClosePrice != prev.Price {
		t.Errorf("close price %v, want Monday's last %v", b.ClosePrice, prev.Price)
	}
	if u := m.OrderBook("BBG000000000", at, 10); u.FIGI != "BBG000000000" || len(u.Bids)+len(u.Asks) != 0 {
		t.Errorf("unknown FIGI: %+v", u)
	}
}

// TestOrderBookWrapsTrades: right after a trade, the trade's price lies
// within the best bid and ask: trades hit the book's own quotes. (At a
// minute boundary the book moves on to the next minute's mid, so the check
// stays inside the trade's minute.)
func TestOrderBookWrapsTrades(t *testing.T) {
	m := testMarket
	for _, ticker := range sampleTickers {
		f := figi(t, m, ticker)
		trades := tradesBetween(m, f, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 12, 5, 0, 0, time.UTC))
		for i, tr := range trades {
			next := tr.Time.Truncate(250 * time.Millisecond).Add(250 * time.Millisecond)
			if i+1 < len(trades) && !trades[i+1].Time.After(next) || next.Truncate(time.Minute) != tr.Time.Truncate(time.Minute) {
				continue // another trade or the next minute moves the book first
			}
			b := m.OrderBook(f, next, 1)
			if len(b.Bids) == 0 || tr.Price < b.Bids[0].Price || tr.Price > b.Asks[0].Price {
				t.Fatalf("%s: trade %+v outside the book %+v after it", ticker, tr, b)
			}
		}
	}
}

func TestOrderBookDynamics(t *testing.T) {
	m := testMarket
	f := figi(t, m, "SBER")
	// Static while closed: Saturday's book is Friday's last, all day long.
	sat := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	a, b := m.OrderBook(f, sat, 10), m.OrderBook(f, sat.Add(9*time.Hour+123*time.Millisecond), 10)
	if !sameLevels(a, b) {
		t.Error("the book changes while the market is closed")
	}
	friday := time.Date(2026, 3, 13, 18, 49, 59, 999_000_000, msk)
	if !sameLevels(a, m.OrderBook(f, friday, 10)) {
		t.Error("the weekend book is not Friday's last")
	}
	// Constant within a 250 ms bucket, changing between buckets.
	open := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	if !sameLevels(m.OrderBook(f, open, 10), m.OrderBook(f, open.Add(249*time.Millisecond), 10)) {
		t.Error("the book changes within a 250 ms bucket")
	}
	changes := 0
	prev := m.OrderBook(f, open, 10)
	for i := 1; i <= 40; i++ {
		cur := m.OrderBook(f, open.Add(time.Duration(i)*250*time.Millisecond), 10)
		if !sameLevels(prev, cur) {
			changes++
		}
		prev = cur
	}
	if changes < 30 {
		t.Errorf("the book changed %d times in 40 buckets of normal trading", changes)
	}
}

func sameLevels(a, b tvbridge.OrderBook) bool {
	if len(a.Bids) != len(b.Bids) || len(a.Asks) != len(b.Asks) {
		return false
	}
	for i := range a.Bids {
		if a.Bids[i] != b.Bids[i] {
			return false
		}
	}
	for i := range a.Asks {
		if a.Asks[i] != b.Asks[i] {
			return false
		}
	}
	return true
}
