package bars

import (
	"testing"
	"time"

	"tvbridge"
)

func TestQuotesLatestWinsAndOnlyChanges(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	h.clk.Set(at(100))
	h.book("F1", at(100), 99, 5, 101, 7)
	h.book("F1", at(100), 99, 5, 101, 7) // re-sent snapshot: nothing new
	h.clk.Set(at(1500))
	h.book("F1", at(1400), 99, 6, 101, 7) // bid size changed
	h.book("F1", at(1450), 99, 6, 100, 2)
	qs := h.sink.kind("F1", tvbridge.TickQuote)
	if len(qs) != 3 {
		t.Fatalf("%d quotes, want 3", len(qs))
	}
	want := tvbridge.Tick{Kind: tvbridge.TickQuote, FIGI: "F1", Symbol: "SF1", Time: t0.Add(time.Second),
		Bid: 99, BidSize: 6, Ask: 100, AskSize: 2, Received: at(1450)}
	if got := qs[2]; got != want {
		t.Fatalf("quote %+v\nwant  %+v", got, want)
	}
	if !qs[0].Time.Equal(t0) {
		t.Fatalf("first quote at %v", qs[0].Time)
	}
	if st := h.eng.Stats(); st.Quotes != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQuotesSkipStaleCrossedAndEmptyBooks(t *testing.T) {
	h := newHarness(t, Config{QuoteMaxAge: time.Second}, mkSpec("F1", nil))
	h.clk.Set(t0.Add(10 * time.Second))
	now := h.clk.Now()
	h.book("F1", now.Add(-1001*time.Millisecond), 99, 1, 101, 1) // too old at handling
	h.book("F1", now.Add(-500*time.Millisecond), 99, 1, 101, 1)  // ok
	h.book("F1", now.Add(-600*time.Millisecond), 98, 1, 101, 1)  // older than the current quote's book
	h.book("F1", now, 102, 1, 101, 1)                            // crossed
	h.book("F1", now, nan(), 1, 101, 1)                          // invalid price
	h.book("F1", now, 99, 0, 101, 1)                             // no size
	h.book("F1", now, 100, 1, 100, 1)                            // locked: allowed
	h.eng.Handle(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: now},
		Book: tvbridge.OrderBook{FIGI: "F1", Bids: []tvbridge.PriceLevel{{Price: 1, Quantity: 1}}}}) // no asks
	h.book("nope", now, 1, 1, 2, 1)
	st := h.eng.Stats()
	if st.Quotes != 2 || st.BooksStale != 2 || st.BooksRejected != 4 || st.Unknown != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQuoteTimesMonotonicAndNotInFuture(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", nil))
	h.clk.Set(t0.Add(5 * time.Second))
	// A receipt stamped ahead of the engine's clock (another clock source)
	// is not allowed to put a quote in the future.
	h.book("F1", t0.Add(7*time.Second), 1, 1, 2, 1)
	h.book("F1", t0.Add(7500*time.Millisecond), 1, 1, 3, 1)
	h.clk.Set(t0.Add(9 * time.Second))
	h.book("F1", t0.Add(8*time.Second), 1, 1, 4, 1)
	var times []time.Time
	for _, q := range h.sink.kind("F1", tvbridge.TickQuote) {
		times = append(times, q.Time)
	}
	want := []time.Time{t0.Add(5 * time.Second), t0.Add(5 * time.Second), t0.Add(8 * time.Second)}
	if len(times) != 3 || !times[0].Equal(want[0]) || !times[1].Equal(want[1]) || !times[2].Equal(want[2]) {
		t.Fatalf("quote times %v, want %v", times, want)
	}
}

// TestNoQuotesOutOfSession: books received outside the session, or while
// the status says trading stopped, are stale snapshots, not quotes.
func TestNoQuotesOutOfSession(t *testing.T) {
	// t0 is Monday 10:00 UTC; the session is 12:00-14:00 UTC.
	sched := tvbridge.MustSchedule("1200-1400:23456", "UTC")
	h := newHarness(t, Config{}, mkSpec("F1", sched))
	h.book("F1", h.clk.Now(), 99, 1, 101, 1) // the snapshot sent on subscribe, at 10:00
	if got := h.sink.kind("F1", tvbridge.TickQuote); len(got) != 0 {
		t.Fatalf("quote out of session: %+v", got)
	}
	open := t0.Add(2 * time.Hour)
	h.clk.Set(open)
	h.book("F1", open, 99, 1, 101, 1)
	if got := h.sink.kind("F1", tvbridge.TickQuote); len(got) != 1 {
		t.Fatalf("%d quotes in session, want 1", len(got))
	}
	h.eng.Handle(&tvbridge.InstrumentInfoEvent{EventMeta: tvbridge.EventMeta{Received: open},
		Info: tvbridge.InstrumentInfo{FIGI: "F1", TradeStatus: tvbridge.StatusBreakInTrading}})
	h.clk.Set(open.Add(time.Second))
	h.book("F1", open.Add(time.Second), 98, 1, 102, 1)
	if got := h.sink.kind("F1", tvbridge.TickQuote); len(got) != 1 {
		t.Fatalf("quote during a break in trading: %+v", got)
	}
	if st := h.eng.Stats(); st.BooksClosed != 2 {
		t.Fatalf("BooksClosed %d, want 2", st.BooksClosed)
	}
}
