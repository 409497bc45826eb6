package live

import (
	"sync"
	"testing"
	"time"

	"tvbridge"
)

var t0 = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

func TestMarketKeepsLatestState(t *testing.T) {
	m := New()
	if _, _, ok := m.Book("F"); ok {
		t.Fatal("book before any event")
	}
	if _, _, ok := m.LastPrice("F"); ok {
		t.Fatal("last price before any event")
	}
	bids := []tvbridge.PriceLevel{{Price: 99, Quantity: 3}}
	m.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: t0},
		Book: tvbridge.OrderBook{FIGI: "F", Depth: 1, Bids: bids, Asks: []tvbridge.PriceLevel{{Price: 101, Quantity: 2}}}})
	bids[0].Price = 1 // the caller may reuse its slices
	book, at, ok := m.Book("F")
	if !ok || !at.Equal(t0) || book.Bids[0].Price != 99 || book.Asks[0].Price != 101 {
		t.Fatalf("book %+v at %v ok %v", book, at, ok)
	}
	book.Asks[0].Price = 5 // readers get copies
	if b, _, _ := m.Book("F"); b.Asks[0].Price != 101 {
		t.Fatal("reader changed the stored book")
	}

	candle := func(start time.Time, close float64, recv time.Time) *tvbridge.CandleEvent {
		return &tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: recv},
			Candle: tvbridge.Candle{FIGI: "F", Interval: tvbridge.Interval1Min, Time: start, Close: close}}
	}
	m.Observe(candle(t0.Add(time.Minute), 100.5, t0.Add(61*time.Second)))
	m.Observe(candle(t0, 99.5, t0.Add(62*time.Second))) // late update of the previous minute
	if p, at, ok := m.LastPrice("F"); !ok || p != 100.5 || !at.Equal(t0.Add(61*time.Second)) {
		t.Fatalf("last %v at %v ok %v", p, at, ok)
	}

	if s := m.Status("F"); s != tvbridge.StatusUnknown {
		t.Fatalf("status %q before any info", s)
	}
	m.Observe(&tvbridge.InstrumentInfoEvent{Info: tvbridge.InstrumentInfo{FIGI: "F", TradeStatus: tvbridge.StatusNormalTrading}})
	m.Observe(&tvbridge.InstrumentInfoEvent{Info: tvbridge.InstrumentInfo{FIGI: "F"}}) // no status: keep
	if s := m.Status("F"); s != tvbridge.StatusNormalTrading {
		t.Fatalf("status %q", s)
	}
	m.Observe(&tvbridge.ErrorEvent{Message: "ignored"})
}

func TestMarketConcurrentReadersAndWriter(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if b, _, ok := m.Book("F"); ok && len(b.Bids) != 1 {
					t.Error("torn book")
					return
				}
				m.LastPrice("F")
				m.Status("F")
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		m.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: t0},
			Book: tvbridge.OrderBook{FIGI: "F", Bids: []tvbridge.PriceLevel{{Price: float64(i), Quantity: 1}}}})
	}
	close(done)
	wg.Wait()
}

func BenchmarkObserveBook(b *testing.B) {
	m := New()
	ev := &tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: t0}, Book: tvbridge.OrderBook{FIGI: "F", Depth: 5,
		Bids: make([]tvbridge.PriceLevel, 5), Asks: make([]tvbridge.PriceLevel, 5)}}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(ev)
	}
}

// bookOnly hides Market's Top, so TopOf reads the book.
type bookOnly struct{ *Market }

func (b bookOnly) Top() {}

// Top is the top of what Book returns, with or without TopOfBook.
func TestTopIsTheBooksTop(t *testing.T) {
	m := New()
	books := map[string]tvbridge.OrderBook{
		"BOTH":  {FIGI: "BOTH", Bids: []tvbridge.PriceLevel{{Price: 10, Quantity: 1}, {Price: 9, Quantity: 2}}, Asks: []tvbridge.PriceLevel{{Price: 11, Quantity: 3}}},
		"BIDS":  {FIGI: "BIDS", Bids: []tvbridge.PriceLevel{{Price: 10, Quantity: 1}}},
		"ASKS":  {FIGI: "ASKS", Asks: []tvbridge.PriceLevel{{Price: 0, Quantity: 1}}},
		"EMPTY": {FIGI: "EMPTY"},
	}
	for _, b := range books {
		m.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: t0}, Book: b})
	}
	for _, figi := range []string{"BOTH", "BIDS", "ASKS", "EMPTY", "NONE"} {
		book, at, ok := m.Book(figi)
		want := Best{At: at, HasBid: len(book.Bids) > 0, HasAsk: len(book.Asks) > 0}
		if want.HasBid {
			want.Bid = book.Bids[0].Price
		}
		if want.HasAsk {
			want.Ask = book.Asks[0].Price
		}
		if !ok {
			want = Best{}
		}
		for _, market := range []tvbridge.LiveMarket{m, bookOnly{m}} {
			got, gotOK := TopOf(market, figi)
			if got != want || gotOK != ok {
				t.Errorf("%s via %T: %+v %v, want %+v %v", figi, market, got, gotOK, want, ok)
			}
		}
	}
	if _, is := tvbridge.LiveMarket(bookOnly{m}).(TopOfBook); is {
		t.Fatal("bookOnly still has Top")
	}
}

// onlyLive has nothing but the tvbridge.LiveMarket methods of a Market.
type onlyLive struct{ m *Market }

func (o onlyLive) Book(figi string) (tvbridge.OrderBook, time.Time, bool) { return o.m.Book(figi) }
func (o onlyLive) Status(figi string) tvbridge.TradeStatus                { return o.m.Status(figi) }
func (o onlyLive) LastPrice(figi string) (float64, time.Time, bool)       { return o.m.LastPrice(figi) }

// Prices is what Top, LastPrice and Status say, with or without Market.
func TestPricesAreTheSeparateReads(t *testing.T) {
	m := New()
	m.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: t0}, Book: tvbridge.OrderBook{FIGI: "BOOK",
		Bids: []tvbridge.PriceLevel{{Price: 10, Quantity: 1}}, TradeStatus: tvbridge.StatusNormalTrading}})
	m.Observe(&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: t0}, Candle: tvbridge.Candle{FIGI: "BOTH", Time: t0, Close: 7}})
	m.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: t0}, Book: tvbridge.OrderBook{FIGI: "BOTH",
		Asks: []tvbridge.PriceLevel{{Price: 11, Quantity: 1}}}})
	m.Observe(&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: t0}, Candle: tvbridge.Candle{FIGI: "LAST", Time: t0, Close: 5}})
	for _, figi := range []string{"BOOK", "BOTH", "LAST", "NONE"} {
		want := Prices{Status: m.Status(figi)}
		want.Top, want.HasBook = m.Top(figi)
		want.Last, _, want.HasLast = m.LastPrice(figi)
		for _, market := range []tvbridge.LiveMarket{m, onlyLive{m}} {
			if got := PricesOf(market, figi); got != want {
				t.Errorf("%s via %T: %+v, want %+v", figi, market, got, want)
			}
		}
	}
}

// VersionOf's version moves with every update of the instruments asked for
// and with nothing else, including an instrument not seen yet when asked.
func TestVersionOf(t *testing.T) {
	m := New()
	ab, a := m.VersionOf([]string{"A", "B"}), m.VersionOf([]string{"A"})
	if v := ab(); v != 0 {
		t.Fatalf("empty market: version %d", v)
	}
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	m.Observe(&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: at},
		Candle: tvbridge.Candle{FIGI: "A", Interval: tvbridge.Interval1Min, Time: at, Close: 10}})
	va := a()
	if va == 0 {
		t.Fatal("a last price left A's version at 0")
	}
	m.Observe(&tvbridge.InstrumentInfoEvent{Info: tvbridge.InstrumentInfo{FIGI: "C", TradeStatus: tvbridge.StatusNormalTrading}})
	if v := ab(); v != va {
		t.Errorf("C's update moved A and B's version: %d -> %d", va, v)
	}
	m.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: at},
		Book: tvbridge.OrderBook{FIGI: "B", Bids: []tvbridge.PriceLevel{{Price: 9, Quantity: 1}}}})
	if v := ab(); v <= va {
		t.Errorf("B's book left A and B's version at %d", v)
	}
	if _, _, ok := m.Book("B"); !ok {
		t.Error("B's book lost")
	}
	if _, _, ok := m.Book("D"); ok {
		t.Error("an instrument never updated has a book")
	}
}
