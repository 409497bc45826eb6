package stream

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
)

var t0 = time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC)

func testBook(figi string, price float64) *tvbridge.OrderBook {
	return &tvbridge.OrderBook{FIGI: figi, Depth: 10,
		Bids: []tvbridge.PriceLevel{{Price: price, Quantity: 1}},
		Asks: []tvbridge.PriceLevel{{Price: price + 1, Quantity: 2}}}
}

func testCandle(figi string, minute int, volume float64) tvbridge.Candle {
	return tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: t0.Add(time.Duration(minute) * time.Minute),
		Open: 10, High: 11, Low: 9, Close: 10.5, Volume: volume}
}

func newTestOutput(buffer int) (*output, *atomic.Int64, *atomic.Int64) {
	var dups, coalesced atomic.Int64
	return newOutput(buffer, &dups, &coalesced), &dups, &coalesced
}

func drain(ch <-chan tvbridge.Event) []tvbridge.Event {
	var out []tvbridge.Event
	for {
		select {
		case ev := <-ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// With the consumer stalled, waiting events of one key collapse into the
// latest, errors are all kept in order, and nothing is lost that matters.
func TestOutputCoalescesWhileConsumerLags(t *testing.T) {
	o, _, coalesced := newTestOutput(4)
	meta := tvbridge.EventMeta{Received: t0}
	for i := range 100 {
		o.book(meta, testBook("A", float64(100+i)))
		if i%25 == 0 {
			o.error(&tvbridge.ErrorEvent{EventMeta: meta, Message: "e"})
		}
	}
	for v := range 10 {
		o.candle(meta, testCandle("A", 0, float64(v+1)))
	}
	// Nothing drains yet: 4 events went straight into the channel, the
	// rest queued; queued books and candles collapsed per key.
	first := drain(o.ch)
	if len(first) != 4 {
		t.Fatalf("channel held %d events, want 4", len(first))
	}
	if got := o.waiting(); got != 5 { // 1 book + 3 errors + 1 candle
		t.Fatalf("%d events waiting, want 5 (one book, three errors, one candle)", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.run(ctx)
	var rest []tvbridge.Event
	for len(rest) < 5 {
		select {
		case ev := <-o.ch:
			rest = append(rest, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 5 queued events delivered", len(rest))
		}
	}
	all := append(first, rest...)
	var books, errs, candles int
	var lastBook *tvbridge.OrderBookEvent
	var lastCandle *tvbridge.CandleEvent
	for _, ev := range all {
		switch ev := ev.(type) {
		case *tvbridge.OrderBookEvent:
			books++
			lastBook = ev
		case *tvbridge.ErrorEvent:
			errs++
		case *tvbridge.CandleEvent:
			candles++
			lastCandle = ev
		}
	}
	if errs != 4 {
		t.Errorf("%d error events delivered, want all 4", errs)
	}
	if lastBook.Book.Bids[0].Price != 199 {
		t.Errorf("last book has price %v, want the latest, 199", lastBook.Book.Bids[0].Price)
	}
	if lastCandle.Candle.Volume != 10 {
		t.Errorf("last candle has volume %v, want the latest, 10", lastCandle.Candle.Volume)
	}
	if want := int64(100 - books + 10 - candles); coalesced.Load() != want {
		t.Errorf("coalesced = %d, want %d", coalesced.Load(), want)
	}
}

func TestOutputSuppressesDuplicates(t *testing.T) {
	o, dups, _ := newTestOutput(100)
	meta := tvbridge.EventMeta{Received: t0}
	o.candle(meta, testCandle("A", 0, 5))
	o.candle(meta, testCandle("A", 0, 5)) // same update again
	o.candle(meta, testCandle("A", 1, 5)) // next minute: a different candle
	o.candle(meta, testCandle("A", 0, 5)) // the older one replayed out of order: still a duplicate
	o.candle(meta, testCandle("A", 0, 6)) // grown
	o.book(meta, testBook("A", 100))
	o.book(meta, testBook("A", 100))
	o.book(meta, testBook("A", 101))
	o.book(meta, testBook("A", 100)) // back to an earlier value: a real change
	info := tvbridge.InstrumentInfo{FIGI: "A", TradeStatus: tvbridge.StatusNormalTrading, Lot: 1}
	o.info(meta, info)
	o.info(meta, info)
	info.TradeStatus = tvbridge.StatusBreakInTrading
	o.info(meta, info)

	got := drain(o.ch)
	if len(got) != 8 { // 3 candles, 3 books, 2 infos
		t.Fatalf("delivered %d events, want 8: %v", len(got), got)
	}
	if dups.Load() != 4 {
		t.Fatalf("duplicates = %d, want 4", dups.Load())
	}

	// After an unsubscribe the state is forgotten: a new subscription gets
	// its first snapshot even if it equals the last one.
	o.forget(tvbridge.Subscription{Kind: tvbridge.SubOrderBook, FIGI: "A", Depth: 10})
	o.book(meta, testBook("A", 100))
	if got := drain(o.ch); len(got) != 1 {
		t.Fatalf("after forget: delivered %d, want 1", len(got))
	}
}

// Delivered books own their levels: the decoder's scratch space is reused.
func TestOutputCopiesBooks(t *testing.T) {
	o, _, _ := newTestOutput(10)
	b := testBook("A", 100)
	o.book(tvbridge.EventMeta{}, b)
	b.Bids[0].Price = 1
	ev := (<-o.ch).(*tvbridge.OrderBookEvent)
	if ev.Book.Bids[0].Price != 100 || ev.Book.Asks[0].Price != 101 {
		t.Fatalf("event shares memory with the decoder: %+v", ev.Book)
	}
}

func TestOutputDropsAfterClose(t *testing.T) {
	o, _, _ := newTestOutput(10)
	o.close()
	o.error(&tvbridge.ErrorEvent{Message: "late"}) // must not panic on the closed channel
	if _, ok := <-o.ch; ok {
		t.Fatal("event delivered after close")
	}
}

func TestRecentCandlesDropsStaleStates(t *testing.T) {
	var r recentCandles
	at := time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)
	newer := tvbridge.Candle{FIGI: "F", Interval: tvbridge.Interval1Min, Time: at, Open: 1, High: 2, Low: 1, Close: 2, Volume: 10}
	older := newer
	older.High, older.Close, older.Volume = 1.5, 1.5, 6
	if !r.record(newer) {
		t.Fatal("first state rejected")
	}
	if r.record(older) {
		t.Fatal("a state with less volume than the accepted one was accepted")
	}
	if r.record(newer) {
		t.Fatal("the same state was accepted twice")
	}
	grown := newer
	grown.Volume = 11
	if !r.record(grown) {
		t.Fatal("a newer state was rejected")
	}
}
