package replica

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bars"
	"tvbridge/clock"
	"tvbridge/jetstream"
	"tvbridge/live"
	"tvbridge/tape"
)

type fakeStore struct {
	minutes []tvbridge.Bar
	marks   map[string]time.Time
}

func (s *fakeStore) Minutes(_ context.Context, _ string, from, to time.Time) ([]tvbridge.Bar, error) {
	var out []tvbridge.Bar
	for _, b := range s.minutes {
		if !b.Time.Before(from) && b.Time.Before(to) {
			out = append(out, b)
		}
	}
	return out, nil
}
func (s *fakeStore) Daily(context.Context, string, time.Time, time.Time) ([]tvbridge.Bar, error) {
	return nil, nil
}
func (s *fakeStore) FirstBar(context.Context, string) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (s *fakeStore) ClosedWatermarks(context.Context) (map[string]time.Time, error) {
	return s.marks, nil
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func bar(min int, v float64) tvbridge.Bar {
	return tvbridge.Bar{Time: t0.Add(time.Duration(min) * time.Minute), Open: 1, High: 2, Low: 1, Close: 2, Volume: v}
}

// The store wins over the hot state on equal minutes; hot closed minutes
// and the open minute fill in after it.
func TestMinutesMergeStoreFirst(t *testing.T) {
	st := &fakeStore{minutes: []tvbridge.Bar{bar(0, 1), bar(1, 1)}}
	hot := &jetstream.HotMinutes{}
	_ = hot.Apply(jetstream.Batch{Minutes: []jetstream.MinuteUpdate{
		{FIGI: "F", Bar: bar(1, 99), Final: true}, {FIGI: "F", Bar: bar(2, 3), Final: true}, {FIGI: "F", Bar: bar(3, 4)},
	}})
	h, err := New(Config{Store: st, Hot: hot, Instruments: []bars.InstrumentSpec{{Instrument: tvbridge.Instrument{FIGI: "F"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Minutes(context.Background(), "F", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 1, 3, 4}
	if len(got) != len(want) {
		t.Fatalf("got %d bars, want %d: %v", len(got), len(want), got)
	}
	for i, b := range got {
		if b.Volume != want[i] || !b.Time.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("bar %d: %+v, want volume %v", i, b, want[i])
		}
	}
}

// The watermark never moves back, never passes now, and ignores unknown
// instruments.
func TestWatermarks(t *testing.T) {
	st := &fakeStore{marks: map[string]time.Time{"F": t0.Add(5 * time.Minute), "X": t0}}
	h, _ := New(Config{Store: st, Hot: &jetstream.HotMinutes{}, Clock: nil,
		Instruments: []bars.InstrumentSpec{{Instrument: tvbridge.Instrument{FIGI: "F"}}}})
	h.cfg.Clock = clockAt(t0.Add(10 * time.Minute))
	ctx := context.Background()
	if err := h.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.ClosedBefore("F"); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("ClosedBefore = %v", got)
	}
	st.marks["F"] = t0.Add(time.Minute) // an earlier range appeared first
	_ = h.Refresh(ctx)
	if got := h.ClosedBefore("F"); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("moved back: %v", got)
	}
	st.marks["F"] = t0.Add(time.Hour)
	_ = h.Refresh(ctx)
	if got := h.ClosedBefore("F"); !got.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("passed now: %v", got)
	}
	if got := h.ClosedBefore("X"); !got.IsZero() {
		t.Errorf("unknown instrument: %v", got)
	}
}

// A market message rebuilds the ingester's live.Market on another node.
func TestMarketRoundTrip(t *testing.T) {
	rec := &MarketRecorder{}
	src := live.New()
	at := t0.Add(time.Second)
	evs := []tvbridge.Event{
		&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: at}, Book: tvbridge.OrderBook{FIGI: "F", Depth: 1,
			Bids: []tvbridge.PriceLevel{{Price: 9, Quantity: 1}}, Asks: []tvbridge.PriceLevel{{Price: 11, Quantity: 2}}}},
		&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: at}, Candle: tvbridge.Candle{FIGI: "F", Time: t0, Close: 10}},
		&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: at}, Candle: tvbridge.Candle{FIGI: "F", Time: t0.Add(-time.Minute), Close: 5}},
		&tvbridge.InstrumentInfoEvent{Info: tvbridge.InstrumentInfo{FIGI: "F", TradeStatus: tvbridge.TradeStatus("normal_trading")}},
	}
	for _, ev := range evs {
		src.Observe(ev)
		rec.Observe(ev)
	}
	data, err := rec.Take()
	if err != nil || data == nil {
		t.Fatal(data, err)
	}
	if again, _ := rec.Take(); again != nil {
		t.Error("Take twice gave the changes twice")
	}
	dst := live.New()
	if err := ApplyMarket(data, dst.Observe); err != nil {
		t.Fatal(err)
	}
	if a, b := src.Prices("F"), dst.Prices("F"); a != b {
		t.Errorf("prices: %+v, want %+v", b, a)
	}
	if a, b := src.Status("F"), dst.Status("F"); a != b {
		t.Errorf("status %q, want %q", b, a)
	}
	p, _, _ := dst.LastPrice("F")
	if p != 10 {
		t.Errorf("last price %v, want 10", p)
	}
}

type blockedPublisher struct{ calls atomic.Int64 }

func (p *blockedPublisher) Publish(ctx context.Context, _ []tvbridge.Tick, _ []jetstream.MinuteUpdate) error {
	p.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}
func (p *blockedPublisher) PublishControl(ctx context.Context, _ jetstream.Control) error {
	<-ctx.Done()
	return ctx.Err()
}

// A full queue never blocks Append: it fails the reign once, loudly.
func TestOutboxFullFails(t *testing.T) {
	var failed []error
	ob := NewOutbox(OutboxConfig{Publisher: &blockedPublisher{}, Local: tape.New(tape.Config{}), Capacity: 2,
		OnFail: func(err error) { failed = append(failed, err) }})
	tick := tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: "F", Symbol: "F", Time: t0, Price: 1, Size: 1}
	for range 5 {
		ob.Append(tick)
	}
	if len(failed) != 1 || !errors.Is(failed[0], ErrOutboxFull) {
		t.Fatalf("OnFail calls: %v", failed)
	}
	if ob.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", ob.Dropped())
	}
}

func clockAt(t time.Time) clockwork { return clockwork{t} }

type clockwork struct{ t time.Time }

func (c clockwork) Now() time.Time                       { return c.t }
func (c clockwork) Since(t time.Time) time.Duration      { return c.t.Sub(t) }
func (c clockwork) NewTimer(d time.Duration) clock.Timer { return clock.Real{}.NewTimer(d) }
func (c clockwork) NewTicker(d time.Duration) clock.Ticker {
	return clock.Real{}.NewTicker(d)
}
