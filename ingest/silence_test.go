package ingest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
)

// A live stream that stops carrying data while its instruments are in
// session is noticed long before the silent minutes would be committed as
// covered: they are taken from REST as they close, and once data is back
// the gap is backfilled. An instrument that never sent anything is not
// flagged (nothing says it should trade).
func TestSilentStreamIsNotCoverage(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC)
	up := &perInstrumentUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)},
		states: map[string]streamState{}, asked: map[string]int{}}
	up.set("F", 1, true)
	up.set("Q", 1, true)
	s, store, clk := testService(t, up, start, "F", "Q")
	if err := s.restore(ctx); err != nil {
		t.Fatal(err)
	}
	minute := func(mm int) time.Time { return time.Date(2026, 3, 2, 9, mm, 0, 0, time.UTC) }
	book := func() {
		s.handle(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: clk.Now()}, Book: tvbridge.OrderBook{FIGI: "F"}})
	}
	// F sends a frame every second until 09:05, then nothing until 09:09.
	for clk.Now().Before(minute(5)) {
		clk.Advance(time.Second)
		book()
		if clk.Now().Second() == 0 {
			s.markCoverage()
			s.flush(ctx)
		}
	}
	var silencedAt time.Time
	for clk.Now().Before(minute(9)) {
		clk.Advance(time.Second)
		s.markCoverage()
		s.flush(ctx)
		if silencedAt.IsZero() && s.Progress().Silences.Load() > 0 {
			silencedAt = clk.Now()
		}
	}
	if silencedAt.IsZero() || silencedAt.After(minute(5).Add(s.cfg.SilenceMin+time.Second)) {
		t.Fatalf("silence noticed at %v, want within %v of 09:05", silencedAt, s.cfg.SilenceMin)
	}
	if s.Progress().Silences.Load() != 1 {
		t.Fatalf("%d silences, want 1 (Q never sent data: nothing says it should)", s.Progress().Silences.Load())
	}
	// While silent, F's closed minutes come from REST.
	if end := s.recentEnd("F", clk.Now()); !end.Equal(minute(8)) {
		t.Fatalf("silent F: early fetch up to %v, want 09:08", end)
	}
	s.recentPass(ctx)
	if bs, err := s.Minutes(ctx, "F", minute(6), minute(8)); err != nil || len(bs) != 2 {
		t.Fatalf("silent minutes not served from REST: %v %v", bs, err)
	}
	// Data is back at 09:09; everything until then is left to REST.
	for clk.Now().Before(minute(15)) {
		clk.Advance(time.Second)
		book()
		s.markCoverage()
		s.flush(ctx)
	}
	cov, err := store.Covered(ctx, "F", minute(0), minute(15))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cov {
		if r.To.After(minute(4)) && r.From.Before(minute(10)) {
			t.Fatalf("F covered %v by a stream that was silent from 09:05 to 09:09", cov)
		}
	}
	if len(cov) == 0 || !cov[len(cov)-1].From.Equal(minute(10)) {
		t.Fatalf("F coverage %v: want the stream's again from 09:10", cov)
	}
}

// failingUpstream fails every REST candle request while down is set.
type failingUpstream struct {
	restUpstream
	down atomic.Bool
}

func (u *failingUpstream) Candles(ctx context.Context, figi string, from, to time.Time, iv tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	if u.down.Load() {
		return nil, errors.New("upstream down")
	}
	return u.restUpstream.Candles(ctx, figi, from, to, iv)
}

// /history never serves a minute after a recent hole: a request reaching
// past minutes not fetched yet fetches them at once; if REST cannot answer,
// the response stops before the first of them.
func TestHistoryNeverServesPastAHole(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC)
	up := &failingUpstream{restUpstream: restUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)}, revised: map[int64]float64{}}}
	s, store, clk := testService(t, up, start, "F")
	if err := s.restore(ctx); err != nil {
		t.Fatal(err)
	}
	minute := func(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, time.UTC) }
	// The store has 08:50 from an earlier run (streamed, uncovered).
	if _, err := store.PutMinutes(ctx, "F", []tvbridge.Bar{{Time: minute(8, 50), Open: 1, High: 1, Low: 1, Close: 1, Volume: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	// Nothing fetched yet: a request for the last hour fetches at once.
	bs, err := s.Minutes(ctx, "F", minute(8, 0), minute(9, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 59 || !bs[len(bs)-1].Time.Equal(minute(8, 58)) {
		t.Fatalf("%d bars, the last %v; want 08:00 to 08:58 (08:59 is not closed for the grace yet)", len(bs), bs[len(bs)-1].Time)
	}
	// REST is down; 08:59 closes: the answer stops before it, at once.
	up.down.Store(true)
	clk.Advance(5 * time.Second)
	bs, err = s.Minutes(ctx, "F", minute(8, 0), minute(9, 1))
	if err != nil {
		t.Fatal(err)
	}
	if last := bs[len(bs)-1].Time; !last.Equal(minute(8, 58)) {
		t.Fatalf("last bar %v with 08:59 a hole", last)
	}
	if s.Progress().HolesCut.Load() == 0 {
		t.Fatal("a cut answer was not counted")
	}
	// REST is back (after failRetry): the hole is filled.
	up.down.Store(false)
	clk.Advance(failRetry)
	bs, err = s.Minutes(ctx, "F", minute(8, 0), minute(9, 1))
	if err != nil || !bs[len(bs)-1].Time.Equal(minute(8, 59)) {
		t.Fatalf("after REST came back: %d bars, err %v", len(bs), err)
	}
}

// bookUpstream answers REST order books.
type bookUpstream struct{ perInstrumentUpstream }

func (u *bookUpstream) OrderBook(_ context.Context, figi string, depth int) (tvbridge.OrderBook, error) {
	u.mu.Lock()
	u.asked["book:"+figi]++
	u.mu.Unlock()
	return tvbridge.OrderBook{FIGI: figi, Depth: depth,
		Bids: []tvbridge.PriceLevel{{Price: 99, Quantity: 3}}, Asks: []tvbridge.PriceLevel{{Price: 101, Quantity: 4}}}, nil
}

// An instrument in session without a live stream still gets quotes: its
// book is polled from REST, in turn with the others, and becomes a quote;
// a streamed instrument's is never polled.
func TestBooksPolledForInstrumentsWithoutStream(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC)
	up := &bookUpstream{perInstrumentUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)},
		states: map[string]streamState{}, asked: map[string]int{}}}
	up.set("LIVE", 1, true)
	up.set("DOWN", 1, false)
	s, _, clk := testService(t, up, start, "LIVE", "DOWN")
	s.start = start
	s.initStreams()
	reader := s.cfg.Tape.Subscribe()
	defer reader.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.pollLoop(ctx)
	for i := 0; i < 3; i++ {
		clk.BlockUntil(1) // the poll loop waits on its ticker
		clk.Advance(2 * time.Second)
		ev := <-s.polled
		s.handlePolled(ev)
	}
	if n := up.requests("book:DOWN"); n != 3 {
		t.Fatalf("DOWN's book polled %d times, want 3", n)
	}
	if n := up.requests("book:LIVE"); n != 0 {
		t.Fatalf("LIVE's book polled %d times", n)
	}
	entries, _, err := reader.Poll(make([]tvbridge.TapeEntry, 0, 16))
	if err != nil || len(entries) != 1 || entries[0].Tick.Kind != tvbridge.TickQuote || entries[0].Tick.FIGI != "DOWN" {
		t.Fatalf("tape %+v, %v: want one quote of DOWN", entries, err)
	}
}
