package v2sim

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinvest/stream"
	"tvbridge/tinvest/wire"
)

// poolHarness runs a tinvest/stream Pool against the simulator on the
// same fake clock.
func poolHarness(t *testing.T, mod func(*Config)) (*harness, *stream.Pool) {
	h := newHarness(t, testStart, mod)
	p := stream.New(stream.Config{
		URL: h.wsURL(""), Token: testToken, Clock: h.clk, Logger: quiet,
		InstrumentID: func(figi string) string {
			if in, ok := h.srv.cat.byFIGI[figi]; ok {
				return in.uid
			}
			return figi
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return h, p
}

// stallFrom, when set, is when a Stall began: no trade of that time or
// later may arrive while it lasts (earlier ones may still be on their way).
var stallFrom atomic.Pointer[time.Time]

// collect advances the clock a second at a time until want holds for the
// events received.
func collect(t *testing.T, h *harness, p *stream.Pool, what string, want func(map[string]int) bool) map[string]int {
	t.Helper()
	got := map[string]int{}
	deadline := time.After(waitLimit)
	for !want(got) {
		select {
		case ev := <-p.Events():
			switch e := ev.(type) {
			case *tvbridge.CandleEvent:
				got["candle"]++
			case *tvbridge.TradeEvent:
				got["trade"]++
				if s := stallFrom.Load(); s != nil && !e.Trade.Time.Before(*s) {
					got["traded in the stall"]++
				}
			case *tvbridge.OrderBookEvent:
				got["book"]++
				if len(e.Book.Bids) != 10 {
					t.Errorf("book of depth %d", len(e.Book.Bids))
				}
			case *tvbridge.InstrumentInfoEvent:
				got["status"]++
			case *tvbridge.ErrorEvent:
				got["error"]++
			}
		case <-time.After(2 * time.Millisecond):
			h.advance(time.Second)
		case <-deadline:
			t.Fatalf("timed out waiting for %s: %v, pool %+v", what, got, p.Stats())
		}
	}
	return got
}

var poolSubs = []tvbridge.Subscription{
	{Kind: tvbridge.SubCandle, FIGI: sber, Interval: tvbridge.Interval1Min},
	{Kind: tvbridge.SubTrade, FIGI: sber},
	{Kind: tvbridge.SubOrderBook, FIGI: sber, Depth: 5},
	{Kind: tvbridge.SubInstrumentInfo, FIGI: sber},
}

func TestPoolEndToEnd(t *testing.T) {
	h, p := poolHarness(t, nil)
	p.Subscribe(poolSubs...)
	collect(t, h, p, "every kind", func(g map[string]int) bool {
		return g["candle"] > 0 && g["trade"] > 0 && g["book"] > 0 && g["status"] > 0
	})
	if _, live := p.StreamState(sber); !live {
		t.Fatal("the candle subscription is not live")
	}
	// Pings at the pool's 15 s.
	before := p.Stats().PingsReceived
	collect(t, h, p, "pings", func(map[string]int) bool { return p.Stats().PingsReceived >= before+2 })
	// An unknown instrument is refused and reported.
	p.Subscribe(tvbridge.Subscription{Kind: tvbridge.SubTrade, FIGI: "BBG000NOTHERE"})
	collect(t, h, p, "the refusal", func(g map[string]int) bool { return g["error"] > 0 })
}

func TestPoolSurvivesFaults(t *testing.T) {
	h, p := poolHarness(t, nil)
	p.Subscribe(poolSubs...)
	collect(t, h, p, "trades", func(g map[string]int) bool { return g["trade"] > 0 })

	// A dropped stream is reopened and resubscribed.
	if h.srv.Faults().DropStreams(1) != 1 {
		t.Fatal("nothing dropped")
	}
	collect(t, h, p, "trades after a drop", func(g map[string]int) bool { return p.Stats().Reconnects >= 1 && g["trade"] > 0 })

	// Duplicated frames reach the pool, which drops the copies.
	dups := p.Stats().Duplicates
	h.srv.Faults().Duplicate(true)
	collect(t, h, p, "duplicates", func(map[string]int) bool {
		return p.Stats().Duplicates > dups && h.srv.Stats().Faults.Duplicated > 0
	})
	h.srv.Faults().Duplicate(false)

	// A stall: pings go on, data stops; the pool's watchdog reopens the
	// stream after its data silence, and data resumes once the stall ends.
	now := h.clk.Now()
	stallFrom.Store(&now)
	defer stallFrom.Store(nil)
	h.srv.Faults().Stall(true)
	pings, reconnects := p.Stats().PingsReceived, p.Stats().Reconnects
	got := collect(t, h, p, "pings during the stall", func(map[string]int) bool {
		return p.Stats().PingsReceived >= pings+3
	})
	got2 := collect(t, h, p, "a reconnect for the silence", func(map[string]int) bool { return p.Stats().Reconnects > reconnects })
	if n := got["traded in the stall"] + got2["traded in the stall"]; n > 0 {
		t.Fatalf("%d trades of the stall arrived", n)
	}
	stallFrom.Store(nil)
	h.srv.Faults().Stall(false)
	collect(t, h, p, "trades after the stall", func(g map[string]int) bool { return g["trade"] > 0 })

	// A close with 80004 is reconnected at once.
	closes := p.Stats().CloseCodes[wire.CloseDeadlineExceeded]
	h.srv.Faults().CloseStreams(wire.CloseDeadlineExceeded, wire.ErrNoActiveSubscriptions+": no active subscriptions")
	collect(t, h, p, "the 80004 close", func(g map[string]int) bool {
		return p.Stats().CloseCodes[wire.CloseDeadlineExceeded] > closes && g["trade"] > 0
	})
	if st := h.srv.Stats(); st.Faults.Dropped != 1 || st.Faults.Duplicated == 0 || st.Faults.Withheld == 0 || st.Faults.Closed == 0 {
		t.Fatalf("fault stats %+v", st.Faults)
	}
}

func TestPoolTokenRefused(t *testing.T) {
	h := newHarness(t, testStart, nil)
	p := stream.New(stream.Config{URL: h.wsURL(""), Token: "t.wrong", Clock: h.clk, Logger: quiet})
	p.Subscribe(poolSubs[1])
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil for a refused token")
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not stop for a refused token")
	}
}
