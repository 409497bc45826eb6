package stream

import (
	"fmt"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/wire"
)

// candleFrame is a candle update of figi with volume v, in the current
// minute of the fake clock.
func candleFrame(figi string, v int, at time.Time) string {
	return fmt.Sprintf(`{"event":"candle","payload":{"o":10,"c":11,"h":12,"l":9,"v":%d,"time":%q,"interval":"1min","figi":%q}}`,
		v, at.Truncate(time.Minute).UTC().Format(time.RFC3339), figi)
}

// snapshotServer answers every subscribe with the subscription's snapshot,
// as the service does: the instrument status (normal_trading unless status
// says otherwise) and the current candle.
func snapshotServer(t *testing.T, fake *clock.Fake, status map[string]string) *fakeServer {
	srv := newFakeServer(t)
	srv.clock = fake
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		switch req.Event {
		case "instrument_info:subscribe":
			st := "normal_trading"
			if s, ok := status[req.FIGI]; ok {
				st = s
			}
			sc.sendJSON(wire.EventInstrumentInfo, wire.InstrumentInfoPayload{FIGI: req.FIGI, TradeStatus: st, MinPriceIncrement: 0.01, Lot: 1})
		case "candle:subscribe":
			sc.send(candleFrame(req.FIGI, 1, fake.Now()))
		}
	}
	return srv
}

// feeder sends candle updates the way a live market does and waits until
// the pool has read them before the test moves the clock on.
type feeder struct {
	t    *testing.T
	srv  *fakeServer
	p    *Pool
	fake *clock.Fake
	v    int
}

// newFeeder waits until the pool has read the snapshots frames of the
// subscriptions so far (the server sends them as it reads each subscribe),
// so that what the feeder sends afterwards is an update.
func newFeeder(t *testing.T, srv *fakeServer, p *Pool, fake *clock.Fake, snapshots int) *feeder {
	t.Helper()
	eventually(t, "the snapshots read", func() bool { return p.Stats().FramesRead >= int64(snapshots) })
	return &feeder{t: t, srv: srv, p: p, fake: fake}
}

// send sends one update of each of figis on the open connection carrying
// it and waits until the pool has read them: an update of each, read at
// this instant of the fake clock, which only the test moves.
func (f *feeder) send(figis ...string) {
	f.t.Helper()
	f.v++
	sent := 0
	f.srv.mu.Lock()
	var todo []func()
	for _, sc := range f.srv.openConnsLocked() {
		for _, figi := range figis {
			if sc.active[candleSub(figi).String()] > 0 {
				frame := candleFrame(figi, f.v, f.fake.Now())
				todo = append(todo, func() { sc.send(frame) })
				sent++
			}
		}
	}
	f.srv.mu.Unlock()
	if sent == 0 {
		f.t.Fatalf("no open connection carries %v", figis)
	}
	for _, send := range todo {
		send()
	}
	now := f.fake.Now()
	eventually(f.t, "updates read", func() bool {
		for _, st := range f.p.inst.states(figis) {
			if st.lastUpdate.Before(now) {
				return false
			}
		}
		return true
	})
}

// resubscribeTimes records, on the fake clock, when the server saw each
// candle subscribe of figi after the first.
func resubscribeTimes(srv *fakeServer, fake *clock.Fake, figi string) func() []time.Time {
	var times []time.Time
	hook := srv.onRequest
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		if req.Event == "candle:subscribe" && req.FIGI == figi {
			srv.mu.Lock()
			times = append(times, fake.Now())
			srv.mu.Unlock()
		}
		hook(sc, req)
	}
	return func() []time.Time {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return append([]time.Time(nil), times...)
	}
}

// The silent upstream: every connection stays open and answers
// pings, but no data comes for 3 minutes while the instruments trade. Each
// connection is reopened after DataSilence (not before), the episode is
// logged once per connection however often it is reopened, the instruments
// are not live meanwhile and get new epochs, no instrument is resubscribed
// on its own, and data flowing again ends the episode.
func TestSilentUpstreamWithPingsAnswered(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := snapshotServer(t, fake, nil)
	cfg, logs := testConfig(t, srv, fake)
	cfg.MaxPerConnection = 3
	cfg.PingInterval, cfg.StallTimeout, cfg.DataSilence = 5*time.Second, 45*time.Second, 30*time.Second
	p := New(cfg)
	p.bo.rand = func(int64) int64 { return 0 } // reconnect at once
	startPool(t, p)
	var figis []string
	var subs []tvbridge.Subscription
	for i := range 6 {
		figis = append(figis, figiN(i))
		subs = append(subs, candleSub(figiN(i)), infoSub(figiN(i)))
	}
	p.Subscribe(subs...)
	srv.waitFor("two connections", func() bool { return srv.exactlyLocked(subs) && len(srv.conns) == 2 })
	f := newFeeder(t, srv, p, fake, len(subs))
	for range 60 { // a minute of trading, an update a second
		f.send(figis...)
		fake.Advance(time.Second)
	}
	epochs := map[string]uint64{}
	for _, figi := range figis {
		epochs[figi], _ = p.StreamState(figi)
	}

	silentFrom := fake.Now()
	srv.advanceUntil(fake, time.Second, "both connections reopened", func() bool { return len(srv.conns) == 4 })
	// Replayed on the new connections: the old ones may still look open to
	// the server for a moment, carrying the subscriptions the new ones have
	// not been sent yet.
	srv.waitFor("replayed", func() bool {
		for _, sc := range srv.openConnsLocked() {
			if sc == srv.conns[0] || sc == srv.conns[1] {
				return false
			}
		}
		return srv.exactlyLocked(subs)
	})
	srv.with(func() {
		for _, at := range srv.handshakeAt[2:] {
			if at.Sub(silentFrom) < cfg.DataSilence {
				t.Errorf("reopened %v into the silence, before DataSilence", at.Sub(silentFrom))
			}
		}
	})
	for _, figi := range figis {
		if e, live := p.StreamState(figi); live || e == epochs[figi] {
			t.Errorf("%s during the silence: epoch %d (was %d), live %v", figi, e, epochs[figi], live)
		}
	}
	// The rest of the 3 minutes: reopened again, at growing intervals, logged once.
	srv.pass(fake, 3*time.Minute-fake.Now().Sub(silentFrom), time.Second)
	st := p.Stats()
	if st.DataSilences < 4 || st.DataSilences > 8 || st.Stalls != 0 || st.InstrumentStalls != 0 || st.SilentConnections != 2 {
		t.Errorf("stats: data silences %d (want 2 connections x 2-4), stalls %d, instrument stalls %d, silent connections %d",
			st.DataSilences, st.Stalls, st.InstrumentStalls, st.SilentConnections)
	}
	if n := countLines(logs, "delivers no data while its instruments should be active", "instruments=3", "expected_active=3"); n != 2 {
		t.Errorf("%d silence lines, want one per connection:\n%s", n, logs)
	}

	srv.waitFor("the last reopening replayed", func() bool { return srv.exactlyLocked(subs) })
	f.send(figis...) // the snapshot was sent on subscribe: this is an update
	for _, figi := range figis {
		if _, live := p.StreamState(figi); !live {
			t.Errorf("%s not live once data flows again", figi)
		}
	}
	if st := p.Stats(); st.SilentConnections != 0 {
		t.Errorf("%d silent connections once data flows", st.SilentConnections)
	}
	fake.Advance(cfg.DataSilence / 4) // a watchdog tick
	eventually(t, "the episodes' ends logged", func() bool { return countLines(logs, "stream data resumed on the connection") == 2 })
}

// Markets that are closed, or that stopped trading long ago, are not
// expected to send anything: their connection is never reopened for it. A
// trading status with no updates counts for ActiveWindow after the
// subscription only, so the reopening stops.
func TestQuietMarketsNotReconnectedForever(t *testing.T) {
	for _, tc := range []struct {
		status   string
		maxDials int
	}{
		{"not_available_for_trading", 1},
		{"break_in_trading", 1},
		{"normal_trading", 3}, // no rhythm known: reopened after InstrumentStall, then not recently active
	} {
		t.Run(tc.status, func(t *testing.T) {
			fake := clock.NewFake(t0)
			srv := snapshotServer(t, fake, map[string]string{"A": tc.status})
			cfg, _ := testConfig(t, srv, fake)
			cfg.DataSilence = 30 * time.Second
			p := New(cfg)
			p.bo.rand = func(int64) int64 { return 0 }
			startPool(t, p)
			subs := []tvbridge.Subscription{candleSub("A"), infoSub("A")}
			p.Subscribe(subs...)
			srv.waitFor("subscribed", func() bool { return srv.exactlyLocked(subs) })
			srv.pass(fake, time.Hour, 5*time.Second)
			srv.waitFor("settled", func() bool { return srv.exactlyLocked(subs) })
			srv.with(func() {
				if srv.handshakes > tc.maxDials {
					t.Errorf("%d handshakes in an hour, want at most %d", srv.handshakes, tc.maxDials)
				}
				for _, at := range srv.handshakeAt {
					if at.Sub(t0) > cfg.withDefaults().ActiveWindow {
						t.Errorf("reopened at %v, after ActiveWindow", at.Sub(t0))
					}
				}
			})
			if st := p.Stats(); st.SilentConnections != 0 {
				t.Errorf("%d silent connections after an hour", st.SilentConnections)
			}
		})
	}
}

// Config.Active decides what is in session: a candle-only instrument (no
// status) that the hook says trades is watched; one it says is closed is not.
func TestActiveHookDecides(t *testing.T) {
	for _, open := range []bool{true, false} {
		t.Run(fmt.Sprintf("in session %v", open), func(t *testing.T) {
			fake := clock.NewFake(t0)
			srv := snapshotServer(t, fake, nil)
			cfg, _ := testConfig(t, srv, fake)
			cfg.DataSilence = 30 * time.Second
			cfg.Active = func(figi string, now time.Time) bool { return open }
			p := New(cfg)
			startPool(t, p)
			p.Subscribe(candleSub("A"))
			srv.waitFor("subscribed", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{candleSub("A")}) })
			f := newFeeder(t, srv, p, fake, 1)
			for range 10 { // its rhythm: an update a second
				f.send("A")
				fake.Advance(time.Second)
			}
			srv.pass(fake, 2*time.Minute, 5*time.Second)
			if got := p.Stats().DataSilences > 0; got != open {
				t.Errorf("reopened for silence: %v, want %v", got, open)
			}
		})
	}
}

// The per-instrument watchdog learns each instrument's rhythm: one that
// updated every second and stops is resubscribed after 30s
// (InstrumentSilenceMin), not after InstrumentStall, while the others on its
// connection flow. A resubscription that brings nothing but the snapshot
// doubles its threshold (60s, 120s, 240s); the episode is logged once;
// after ActiveWindow without updates it is no longer watched; when it
// trades again the threshold is back to 30s.
func TestInstrumentSilenceAdaptive(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := snapshotServer(t, fake, nil)
	resubs := resubscribeTimes(srv, fake, "QUIET")
	cfg, logs := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)
	subs := []tvbridge.Subscription{candleSub("LIQUID"), infoSub("LIQUID"), candleSub("QUIET"), infoSub("QUIET")}
	p.Subscribe(subs...)
	srv.waitFor("subscribed", func() bool { return srv.exactlyLocked(subs) })
	f := newFeeder(t, srv, p, fake, len(subs))
	second := func(figis ...string) {
		f.send(figis...)
		fake.Advance(time.Second)
	}
	for range 60 {
		second("LIQUID", "QUIET")
	}

	stopped := fake.Now().Add(-time.Second) // its last update
	for fake.Now().Sub(stopped) < 15*time.Minute {
		second("LIQUID")
		if len(resubs()) >= 3 && fake.Now().Sub(stopped) < 5*time.Minute {
			if _, live := p.StreamState("QUIET"); live {
				t.Fatal("QUIET live during its silence")
			}
		}
	}
	times := resubs()[1:] // the first is the original subscription
	var gaps []time.Duration
	prev := stopped
	for _, at := range times {
		gaps = append(gaps, at.Sub(prev))
		prev = at
	}
	if len(gaps) != 4 {
		t.Fatalf("QUIET resubscribed after %v, want 4 times before ActiveWindow ends the watch", gaps)
	}
	// Lower bounds are exact; the upper ones leave room for the watchdog's
	// period and the steps the test took while the frames were in flight.
	for i, limit := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute} {
		if gaps[i] < limit || gaps[i] >= limit+limit/2 {
			t.Errorf("resubscription %d after %v of quiet, want %v", i+1, gaps[i], limit)
		}
	}
	if _, live := p.StreamState("LIQUID"); !live {
		t.Error("LIQUID not live")
	}
	st := p.Stats()
	if st.InstrumentStalls != 4 || st.DataSilences != 0 || st.SilentInstruments != 0 {
		t.Errorf("stats: instrument stalls %d, data silences %d, silent instruments %d; want 4, 0, 0",
			st.InstrumentStalls, st.DataSilences, st.SilentInstruments)
	}
	if n := countLines(logs, "instruments silent while they should be active", "figis=QUIET", "limit 30s"); n != 1 {
		t.Errorf("%d silence lines, want one for the episode:\n%s", n, logs)
	}

	// It trades again, and stops again: back to 30s.
	for range 30 {
		second("LIQUID", "QUIET")
	}
	stopped = fake.Now().Add(-time.Second)
	for len(resubs()) == len(times)+1 {
		second("LIQUID")
	}
	if gap := resubs()[len(times)+1].Sub(stopped); gap < 30*time.Second || gap >= 45*time.Second {
		t.Errorf("after trading again, resubscribed after %v of quiet, want 30s", gap)
	}
}

// A rarely trading instrument (an update every 40s) gets a threshold of 10
// gaps, beyond InstrumentSilenceMin, and is not resubscribed between its
// updates.
func TestRarelyTradingInstrumentLeftAlone(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := snapshotServer(t, fake, nil)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)
	subs := []tvbridge.Subscription{candleSub("BOND"), infoSub("BOND")}
	p.Subscribe(subs...)
	srv.waitFor("subscribed", func() bool { return srv.exactlyLocked(subs) })
	f := newFeeder(t, srv, p, fake, len(subs))
	for range 30 { // 20 minutes
		f.send("BOND")
		for range 40 {
			fake.Advance(time.Second)
		}
	}
	if st := p.Stats(); st.InstrumentStalls != 0 {
		t.Fatalf("a bond trading every 40s was resubscribed %d times", st.InstrumentStalls)
	}
}

func TestInstrumentStateSnapshotsAndGaps(t *testing.T) {
	w := newInstruments(5 * time.Minute)
	w.track("A", t0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	if w.seen("A", kindCandle, at(1)) || w.seen("A", kindOrderBook, at(1)) || w.seenStatus("A", tvbridge.StatusNormalTrading, at(1)) {
		t.Fatal("the first frame of each kind is the subscription's snapshot, not an update")
	}
	if !w.seen("A", kindCandle, at(3)) || !w.seen("A", kindCandle, at(5)) {
		t.Fatal("later frames are updates")
	}
	st := w.states([]string{"A"})[0]
	if st.gap != 2*time.Second || !st.lastUpdate.Equal(at(5)) || st.status != tvbridge.StatusNormalTrading {
		t.Fatalf("gap %v, last update %v, status %v", st.gap, st.lastUpdate, st.status)
	}
	w.seen("A", kindOrderBook, at(5)) // the same burst: no sample
	w.seen("A", kindCandle, at(5).Add(999*time.Millisecond))
	if st := w.states([]string{"A"})[0]; st.gap != 2*time.Second {
		t.Fatalf("updates within a second counted as gaps: %v", st.gap)
	}
	w.seen("A", kindCandle, at(5+3600)) // an hour's gap counts as InstrumentStall
	if st := w.states([]string{"A"})[0]; st.gap != 2*time.Second+(5*time.Minute-2*time.Second)/8 {
		t.Fatalf("gap after a long pause %v", st.gap)
	}
	w.track("A", at(4000)) // resubscribed: snapshots again, no gap across it
	if w.seen("A", kindCandle, at(4001)) {
		t.Fatal("the snapshot after a resubscription counted as an update")
	}
	before := w.states([]string{"A"})[0]
	w.seen("A", kindCandle, at(4100))
	if after := w.states([]string{"A"})[0]; after.gap != before.gap || !after.added.Equal(t0) {
		t.Fatalf("a gap was measured across the resubscription (%v -> %v) or added moved (%v)", before.gap, after.gap, after.added)
	}
	if w.seen("B", kindCandle, at(1)) {
		t.Fatal("an untracked FIGI counted")
	}
	if got := fmt.Sprint(backedOff(30*time.Second, 0, 5*time.Minute), backedOff(30*time.Second, 3, 5*time.Minute),
		backedOff(30*time.Second, 16, 5*time.Minute)); got != "30s 4m0s 5m0s" {
		t.Fatalf("backedOff: %s", got)
	}
}
