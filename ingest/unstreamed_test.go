package ingest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/tape"
)

// quietUpstream is a MarketData whose stream is driven by the test.
type quietUpstream struct{ events chan tvbridge.Event }

func (quietUpstream) Instruments(context.Context) ([]tvbridge.Instrument, error) { return nil, nil }
func (quietUpstream) Candles(context.Context, string, time.Time, time.Time, tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	return nil, nil
}
func (quietUpstream) OrderBook(context.Context, string, int) (tvbridge.OrderBook, error) {
	return tvbridge.OrderBook{}, nil
}
func (quietUpstream) Subscribe(...tvbridge.Subscription)   {}
func (quietUpstream) Unsubscribe(...tvbridge.Subscription) {}
func (u quietUpstream) Events() <-chan tvbridge.Event      { return u.events }

// testService builds a Service for tests that drive its loops by hand: on
// a fake clock at start, a real store in a temporary directory, and one
// instrument per FIGI (its ticker the FIGI), with an hour of backfill.
func testService(t *testing.T, up tvbridge.MarketData, start time.Time, figis ...string) (*Service, *bolt.Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	store, err := bolt.Open(filepath.Join(t.TempDir(), "bars.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var specs []bars.InstrumentSpec
	for _, figi := range figis {
		specs = append(specs, bars.InstrumentSpec{Instrument: tvbridge.Instrument{FIGI: figi, Ticker: figi}})
	}
	s, err := New(Config{Upstream: up, Store: store, Tape: tape.New(tape.Config{}), Instruments: specs, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BackfillDepth: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s, store, clk
}

// An instrument whose candle subscription the upstream refuses is never
// marked covered by the stream, so its minutes stay gaps for the backfill,
// which may fill them right up to the REST lag; other instruments are
// covered as usual.
func TestRefusedCandleStreamIsLeftToBackfill(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s, store, clk := testService(t, quietUpstream{events: make(chan tvbridge.Event)}, now, "OK", "REFUSED")
	s.setCoverFrom(now)
	s.handle(&tvbridge.ErrorEvent{Message: "FIGI not found",
		Subscription: &tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: "REFUSED", Interval: tvbridge.Interval1Min}})
	s.handle(&tvbridge.ErrorEvent{Message: "unknown", Subscription: &tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: "NOT_OURS"}})
	if got := s.Progress().Unstreamed.Load(); got != 1 {
		t.Fatalf("unstreamed = %d, want 1", got)
	}

	clk.Advance(10 * time.Minute)
	s.markCoverage()
	s.flush(ctx)

	end := clk.Now()
	if cov, err := store.Covered(ctx, "OK", now, end); err != nil || len(cov) == 0 {
		t.Fatalf("streamed instrument not covered: %v %v", cov, err)
	}
	if cov, err := store.Covered(ctx, "REFUSED", now, end); err != nil || len(cov) != 0 {
		t.Fatalf("refused instrument marked covered by the stream: %v %v", cov, err)
	}
	restLimit := clk.Now().Add(-s.cfg.RESTLag).Truncate(time.Minute)
	if got := s.backfillLimit("REFUSED"); !got.Equal(restLimit) {
		t.Errorf("backfill limit of the refused instrument %v, want the REST lag %v", got, restLimit)
	}
	if got := s.backfillLimit("OK"); got.After(s.streamFrom) {
		t.Errorf("backfill limit of the streamed instrument %v passes the stream's %v", got, s.streamFrom)
	}
}
