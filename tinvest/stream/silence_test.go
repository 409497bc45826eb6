package stream

import (
	"fmt"
	"testing"
	"time"

	"tvbridge/clock"
)

// tradeFrame is a trade of figi at the fake clock's time.
func tradeFrame(figi string, at time.Time) string {
	return fmt.Sprintf(`{"trade":{"figi":%q,"price":{"units":"10"},"quantity":"1","time":%q,"instrumentUid":"U-%s"}}`,
		figi, at.UTC().Format(time.RFC3339Nano), figi)
}

// An instrument that goes quiet while its stream carries others and it
// should trade is resubscribed (unsubscribe, subscribe) after about 10
// times its usual gap; it is not live meanwhile, and its next update ends
// the episode.
func TestInstrumentSilenceResubscribes(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	cfg := testConfig(t, srv)
	cfg.Active = func(string, time.Time) bool { return true }
	cfg.InstrumentSilenceMin = 30 * time.Second
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(tradeSub("A"), tradeSub("B"))
	srv.waitFor("subscribed", func() bool { return len(srv.activeLocked()) == 2 })
	p.Subscribe(candleSub("B"))
	srv.waitFor("candles too", func() bool { return len(srv.activeLocked()) == 3 })
	eventually(t, "B live", func() bool { _, live := p.StreamState("B"); return live })
	sc := srv.conns[0]
	feed := func(figis ...string) {
		now := fake.Now()
		for _, f := range figis {
			sc.send(tradeFrame(f, now))
		}
		eventually(t, "updates read", func() bool {
			for _, st := range p.inst.states(figis) {
				if st.lastUpdate.Before(now) {
					return false
				}
			}
			return true
		})
	}
	for range 6 {
		fake.Advance(5 * time.Second)
		feed("A", "B")
	}
	epoch, _ := p.StreamState("B")
	// B goes quiet; A goes on.
	for range 12 {
		fake.Advance(5 * time.Second)
		feed("A")
	}
	srv.waitFor("B resubscribed", func() bool {
		n := 0
		for _, r := range sc.requests {
			if r.SubscribeTradesRequest != nil && len(r.SubscribeTradesRequest.Instruments) == 1 &&
				r.SubscribeTradesRequest.Instruments[0].InstrumentID == "U-B" {
				n++
			}
		}
		return n >= 2 // the unsubscribe and the subscribe
	})
	if e, live := p.StreamState("B"); live || e == epoch {
		t.Fatalf("B during its silence: epoch %d (was %d), live %v", e, epoch, live)
	}
	if st := p.Stats(); st.InstrumentStalls == 0 || st.SilentInstruments != 1 {
		t.Fatalf("stats %+v", st)
	}
	if p.inst.silentNow("A") {
		t.Fatal("A, which kept trading, is in a silence episode")
	}
	fake.Advance(5 * time.Second)
	feed("A", "B")
	srv.advanceUntil(5*time.Second, "B's episode over", func() bool { return p.Stats().SilentInstruments == 0 })
	eventually(t, "B live again", func() bool { _, live := p.StreamState("B"); return live })
}
