package stream

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"tvbridge/clock"
)

// capConfig is a pool of 3 usable streams (and a spare) of 10
// subscriptions each, for the stream-cap tests.
func capConfig(t *testing.T, srv *fakeServer) Config {
	cfg := testConfig(t, srv)
	cfg.MaxStreams, cfg.SpareStreams = 4, 1
	cfg.MaxSubscriptionsPerStream = 10
	cfg.BackoffMax = 40 * time.Second
	cfg.CapRetry = time.Minute
	return cfg
}

// The service accepts 2 streams where the pool has 3 slots: the refusal
// (4008, 80001) with 2 streams up teaches the pool a cap of 2; the refused
// slot is parked and its instruments move onto the 2 streams up (trading
// statuses weigh nothing). More instruments than 2 x 10 fit wait in the
// pending list and open no stream. A probe the service refuses keeps the
// cap; once it accepts one more, the cap rises and the waiting
// subscriptions are placed on it. The spare is never used.
func TestStreamCapLearnedMovedPendingRaised(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	srv.maxStreams = 2
	p := New(capConfig(t, srv))
	// Before Run: instruments fill slots 0 and 1 (10 each) and 4 go to slot
	// 2; then 4 leave each of the first two: 6, 6 and 4 instruments, 16 in
	// all, which fit on 2 streams whichever slot the service refuses.
	for i := range 24 {
		p.Subscribe(candleSub(figiN(i)), infoSub(figiN(i)))
	}
	for _, i := range []int{0, 1, 2, 3, 10, 11, 12, 13} {
		p.Unsubscribe(candleSub(figiN(i)), infoSub(figiN(i)))
	}
	if st := p.Stats(); st.StreamCap != 3 || st.Streams[0].Instruments != 6 || st.Streams[1].Instruments != 6 || st.Streams[2].Instruments != 4 {
		t.Fatalf("before Run: cap %d, streams %+v", st.StreamCap, st.Streams)
	}
	startPool(t, p)
	srv.waitFor("one stream refused, 16 instruments on the 2 streams up", func() bool {
		a := srv.activeLocked()
		return srv.refused == 1 && len(srv.openConnsLocked()) == 2 && len(a) == 32
	})
	eventually(t, "the cap learned", func() bool { return p.Stats().StreamCap == 2 })
	st := p.Stats()
	if st.Pending != 0 || st.Moved < 4 || st.Moved > 6 {
		t.Fatalf("pending %d, moved %d; want 0 pending, the refused slot's 4 or 6 instruments moved", st.Pending, st.Moved)
	}
	parked := 0
	for _, ss := range st.Streams {
		if ss.State == stateParked {
			parked++
			if ss.Instruments != 0 {
				t.Errorf("parked stream %d holds %d instruments", ss.Index, ss.Instruments)
			}
		}
	}
	if parked != 1 || st.CapRetryAt.IsZero() {
		t.Fatalf("%d parked streams, cap retry at %v; want 1 and a retry", parked, st.CapRetryAt)
	}
	srv.with(func() {
		for i, sc := range srv.openConnsLocked() {
			if n := sc.countedLocked(); n > 10 {
				t.Errorf("stream %d carries %d counted subscriptions, limit 10", i, n)
			}
		}
	})
	for i := 4; i < 24; i++ {
		if i >= 10 && i < 14 {
			continue
		}
		if f := figiN(i); !waitLive(p, f) {
			t.Fatalf("%s not live after the move", f)
		}
	}

	// 10 more instruments: 4 fit on the 2 streams, 6 wait; no stream opens.
	for i := 24; i < 34; i++ {
		p.Subscribe(candleSub(figiN(i)))
	}
	srv.waitFor("the 2 streams full", func() bool { return len(srv.activeLocked()) == 36 })
	if st := p.Stats(); st.Pending != 6 || st.StreamCap != 2 {
		t.Fatalf("pending %d, cap %d; want 6 waiting under a cap of 2", st.Pending, st.StreamCap)
	}
	eventually(t, "4 of the new instruments live", func() bool {
		live := 0
		for i := 24; i < 34; i++ {
			if _, ok := p.StreamState(figiN(i)); ok {
				live++
			}
		}
		return live == 4
	})

	// The first probe comes after a refusal's backoff and is refused: the
	// cap stays, the next one is CapRetry later.
	srv.advanceUntil(time.Second, "a probe refused", func() bool { return srv.refused == 2 })
	eventually(t, "the probe ended", func() bool { st := p.Stats(); return !st.CapRetryAt.IsZero() && st.Open == 2 })
	if st := p.Stats(); st.StreamCap != 2 || st.Pending != 6 {
		t.Fatalf("after a refused probe: cap %d, pending %d", st.StreamCap, st.Pending)
	}
	// The other client lets go of a stream: the next probe is accepted, the
	// cap rises to 3 and the waiting subscriptions are placed on it.
	srv.with(func() { srv.maxStreams = 3 })
	srv.advanceUntil(5*time.Second, "the cap raised", func() bool {
		return len(srv.openConnsLocked()) == 3 && len(srv.activeLocked()) == 42
	})
	eventually(t, "nothing waits", func() bool { st := p.Stats(); return st.Pending == 0 && st.StreamCap == 3 })
	for i := 24; i < 34; i++ {
		if f := figiN(i); !waitLive(p, f) {
			t.Fatalf("%s not live after the cap rose", f)
		}
	}
	srv.with(func() {
		if srv.maxOpen > 3 {
			t.Fatalf("the spare stream was used: %d open at once", srv.maxOpen)
		}
		for i, sc := range srv.openConnsLocked() {
			if n := sc.countedLocked(); n > 10 {
				t.Errorf("stream %d carries %d counted subscriptions, limit 10", i, n)
			}
		}
	})
	if st := p.Stats(); !st.CapRetryAt.IsZero() {
		t.Fatalf("a retry is still due at %v with the cap at the slots", st.CapRetryAt)
	}
}

// A refusal with no stream of the pool up says nothing about the cap
// (another client holds the whole quota): no slot is parked, every dial
// waits a long backoff, and the stream opens once the quota frees.
func TestStreamCapRefusalWithNoneUpBacksOff(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	srv.maxStreams, srv.heldElsewhere = 2, 2
	cfg := capConfig(t, srv)
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("A"), tradeSub("A"))
	srv.waitFor("refused", func() bool { return srv.refused == 1 })
	start := fake.Now()
	srv.advanceUntil(time.Second, "a second try", func() bool { return srv.refused == 2 })
	if waited := fake.Now().Sub(start); waited < 20*time.Second {
		t.Fatalf("dialed again %v after the refusal, want at least BackoffMax/2", waited)
	}
	if st := p.Stats(); st.StreamCap != 3 || st.Moved != 0 || !st.CapRetryAt.IsZero() {
		t.Fatalf("cap %d, moved %d, cap retry %v: a refusal with none up taught a cap", st.StreamCap, st.Moved, st.CapRetryAt)
	}
	srv.with(func() { srv.heldElsewhere = 0 })
	srv.advanceUntil(time.Second, "subscribed", func() bool { return len(srv.activeLocked()) == 2 })
	if st := p.Stats(); st.StreamCap != 3 || st.Moved != 0 {
		t.Fatalf("cap %d, moved %d after the quota freed", st.StreamCap, st.Moved)
	}
	if strings.Contains(logs.String(), "stream cap learned") || strings.Contains(logs.String(), "stream cap lowered") {
		t.Fatalf("a cap was learned:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "with none of ours up") {
		t.Fatalf("the refusal with none up was not logged:\n%s", logs.String())
	}
}

// waitLive waits until figi's candle subscription is live.
func waitLive(p *Pool, figi string) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, live := p.StreamState(figi); live {
			return true
		}
		time.Sleep(time.Millisecond) // polling pool state the server cannot see
	}
	return false
}
