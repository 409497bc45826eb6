package live

import (
	"math"
	"testing"

	"tvbridge"
)

func book(figi string, bid, ask float64) *tvbridge.OrderBookEvent {
	return &tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: t0}, Book: tvbridge.OrderBook{FIGI: figi, Depth: 1,
		Bids: []tvbridge.PriceLevel{{Price: bid, Quantity: 1}}, Asks: []tvbridge.PriceLevel{{Price: ask, Quantity: 1}}}}
}

func last(figi string, price float64) *tvbridge.CandleEvent {
	return &tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: t0},
		Candle: tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: t0, Close: price}}
}

// TestRates: a pair's rate is its book's middle, else its last trade; the
// pair converts either way, and two currencies without a pair go through a
// third; nothing priced yet means no rate.
func TestRates(t *testing.T) {
	m := New()
	r := NewRates(m, []tvbridge.CurrencyPair{
		{Base: "USD", Quote: "RUB", FIGI: "USDRUB"},
		{Base: "USD", Quote: "RUB", FIGI: "USDRUB2"}, // the first pair wins
		{Base: "EUR", Quote: "RUB", FIGI: "EURRUB"},
		{Base: "RUB", Quote: "RUB", FIGI: "NONSENSE"},
	})
	check := func(from, to string, want float64, wantOK bool) {
		t.Helper()
		got, ok := r.Rate(from, to)
		if ok != wantOK || math.Abs(got-want) > 1e-12 {
			t.Errorf("Rate(%s, %s) = %v, %v; want %v, %v", from, to, got, ok, want, wantOK)
		}
	}
	check("RUB", "RUB", 1, true)
	check("USD", "RUB", 0, false) // nothing priced yet
	m.Observe(last("USDRUB", 91))
	m.Observe(book("USDRUB2", 1, 2))
	check("USD", "RUB", 91, true) // the last trade, without a book
	m.Observe(book("USDRUB", 90, 90.01))
	check("USD", "RUB", 90.005, true) // the book's middle
	check("RUB", "USD", 1/90.005, true)
	check("EUR", "USD", 0, false)
	m.Observe(book("EURRUB", 98, 98))
	check("EUR", "USD", 98/90.005, true)
	check("USD", "EUR", 90.005/98, true)
	check("CNY", "RUB", 0, false)
}
