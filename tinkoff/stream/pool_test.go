package stream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/wire"
)

// 320 instruments, two subscriptions each, over at most 6 connections of at
// most 60 instruments: every FIGI's subscriptions share one connection,
// every subscription reaches the server once, and connections open lazily.
func TestShardingRespectsBothCaps(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.MaxConnections, cfg.MaxPerConnection = 6, 60
	p := New(cfg)
	startPool(t, p)

	var want []tvbridge.Subscription
	subscribe := func(from, to int) {
		for i := from; i < to; i++ {
			subs := []tvbridge.Subscription{candleSub(figiN(i)), bookSub(figiN(i))}
			p.Subscribe(subs...)
			want = append(want, subs...)
		}
	}
	subscribe(0, 5)
	srv.waitFor("the first 5 instruments", func() bool { return srv.exactlyLocked(want) })
	srv.with(func() {
		if len(srv.conns) != 1 {
			t.Fatalf("%d connections for 5 instruments, want 1 (lazy opening)", len(srv.conns))
		}
	})

	subscribe(5, 320)
	srv.waitFor("all 640 subscriptions", func() bool { return srv.exactlyLocked(want) })
	srv.with(func() {
		if len(srv.conns) != 6 {
			t.Errorf("%d connections, want 6", len(srv.conns))
		}
		owner := map[string]int{}
		for i, sc := range srv.conns {
			if len(sc.figis) > 60 {
				t.Errorf("connection %d carries %d instruments, cap is 60", i, len(sc.figis))
			}
			for figi := range sc.figis {
				if prev, ok := owner[figi]; ok {
					t.Errorf("%s subscribed on connections %d and %d", figi, prev, i)
				}
				owner[figi] = i
			}
		}
		if srv.maxOpen > 6 {
			t.Errorf("server saw %d sockets at once, cap is 6", srv.maxOpen)
		}
	})
	st := p.Stats()
	if st.MaxOpen > 6 || st.Subscriptions != 640 || st.Pending != 0 {
		t.Errorf("stats: max open %d, subscriptions %d, pending %d", st.MaxOpen, st.Subscriptions, st.Pending)
	}
}

// Past MaxConnections*MaxPerConnection instruments, subscriptions wait and
// are placed as soon as room frees up.
func TestSubscriptionsWaitForRoom(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.MaxConnections, cfg.MaxPerConnection = 2, 3
	p := New(cfg)
	startPool(t, p)

	var all []tvbridge.Subscription
	for i := range 8 {
		all = append(all, infoSub(figiN(i)))
	}
	p.Subscribe(all...)
	srv.waitFor("six placed", func() bool { return srv.exactlyLocked(all[:6]) })
	if st := p.Stats(); st.Pending != 2 || st.Subscriptions != 6 {
		t.Fatalf("pending %d, placed %d; want 2 and 6", st.Pending, st.Subscriptions)
	}

	p.Unsubscribe(all[0], all[7]) // frees one place; drops one waiting
	want := []tvbridge.Subscription{all[1], all[2], all[3], all[4], all[5], all[6]}
	srv.waitFor("the waiting one placed", func() bool { return srv.exactlyLocked(want) })
	if st := p.Stats(); st.Pending != 0 {
		t.Fatalf("pending %d, want 0", st.Pending)
	}
}

// After the server drops every connection, the pool reconnects and replays
// the desired set, including changes made while it was down, each once.
func TestReplayAfterServerDrops(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.MaxPerConnection = 30
	p := New(cfg)
	startPool(t, p)

	var want []tvbridge.Subscription
	for i := range 40 {
		want = append(want, candleSub(figiN(i)), infoSub(figiN(i)))
	}
	p.Subscribe(want...)
	srv.waitFor("initial set", func() bool { return srv.exactlyLocked(want) })

	for round := range 3 {
		srv.dropAll()
		// Change the set while the connections are going down.
		p.Unsubscribe(want[0])
		added := bookSub(figiN(100 + round))
		p.Subscribe(added)
		want = append(want[1:], added)
		srv.advanceUntil(fake, 100*time.Millisecond, fmt.Sprintf("replay %d", round),
			func() bool { return srv.exactlyLocked(want) })
	}
	srv.with(func() {
		for i, sc := range srv.conns {
			seen := map[string]bool{}
			for _, sub := range sc.subs {
				if seen[sub.String()] {
					t.Errorf("connection %d got %s twice", i, sub)
				}
				seen[sub.String()] = true
			}
		}
	})
	if st := p.Stats(); st.Reconnects < 6 {
		t.Errorf("reconnects = %d, want at least 6 (2 connections x 3 drops)", st.Reconnects)
	}
}

// While a connection is down, Unsubscribe sends nothing and the next replay
// simply leaves the subscription out.
func TestUnsubscribeWhileDownSendsNothing(t *testing.T) {
	srv := newFakeServer(t)
	srv.script = []int{http.StatusTooManyRequests}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)

	gone, kept, added := candleSub("A"), candleSub("B"), infoSub("C")
	p.Subscribe(gone, kept)
	eventually(t, "backoff after the 429", func() bool {
		st := p.Stats()
		return st.HandshakeFailures[429] == 1 && st.Connections[0].State == stateBackoff
	})
	p.Unsubscribe(gone)
	p.Subscribe(added)
	want := []tvbridge.Subscription{kept, added}
	srv.advanceUntil(fake, time.Second, "replay", func() bool { return srv.exactlyLocked(want) })
	srv.with(func() {
		if n := len(srv.conns[0].frames); n != 2 {
			t.Fatalf("server got %d frames, want 2 subscribes: %+v", n, srv.conns[0].frames)
		}
	})
}

// A storm: the server refuses handshakes with 423 and 429, then repeatedly
// drops everything. The pool must never have more than MaxConnections
// sockets open or handshaking, at the server or by its own count.
func TestReconnectStormNeverExceedsCap(t *testing.T) {
	srv := newFakeServer(t)
	for i := range 12 {
		srv.script = append(srv.script, []int{http.StatusLocked, http.StatusTooManyRequests}[i%2])
	}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.MaxConnections, cfg.MaxPerConnection = 6, 10
	p := New(cfg)
	startPool(t, p)

	var want []tvbridge.Subscription
	for i := range 60 {
		want = append(want, candleSub(figiN(i)))
	}
	p.Subscribe(want...)
	srv.advanceUntil(fake, 2*time.Second, "the set after refusals", func() bool { return srv.exactlyLocked(want) })

	for round := range 5 {
		srv.with(func() {
			srv.script = append(srv.script, http.StatusTooManyRequests, http.StatusLocked, http.StatusTooManyRequests)
		})
		srv.dropAll()
		srv.advanceUntil(fake, 2*time.Second, fmt.Sprintf("the set after drop %d", round),
			func() bool { return srv.exactlyLocked(want) })
	}
	srv.with(func() {
		if srv.maxOpen > 6 {
			t.Errorf("server saw %d sockets open or handshaking at once, cap is 6", srv.maxOpen)
		}
		if srv.refusals[423] == 0 || srv.refusals[429] == 0 {
			t.Errorf("refusals %v: the storm did not happen", srv.refusals)
		}
	})
	st := p.Stats()
	if st.MaxOpen > 6 {
		t.Errorf("pool counted %d sockets at once, cap is 6", st.MaxOpen)
	}
	if st.HandshakeFailures[423] != int64(srv.refusals[423]) || st.HandshakeFailures[429] != int64(srv.refusals[429]) {
		t.Errorf("pool counted handshake failures %v, server refused %v", st.HandshakeFailures, srv.refusals)
	}
}

// The backoff grows exponentially from BackoffMin to BackoffMax with full
// jitter; 423 waits between half and all of BackoffMax.
func TestBackoffDelays(t *testing.T) {
	b := newBackoff(500*time.Millisecond, 30*time.Second)
	b.rand = func(n int64) int64 { return n - 1 } // the top of each range
	wantTop := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for attempt, want := range wantTop {
		if got := b.delay(attempt); got != want {
			t.Errorf("delay(%d) = %v, want %v", attempt, got, want)
		}
	}
	if got := b.locked(); got != 30*time.Second {
		t.Errorf("locked() top = %v, want 30s", got)
	}
	b.rand = func(int64) int64 { return 0 } // the bottom
	if got := b.delay(5); got != 0 {
		t.Errorf("delay(5) bottom = %v, want 0 (full jitter)", got)
	}
	if got := b.locked(); got != 15*time.Second {
		t.Errorf("locked() bottom = %v, want 15s", got)
	}
}

// On the pool's clock, each retry after a refused handshake waits exactly
// the drawn delay (here the top of each range): 0.5s, 1s, 2s, 4s, 8s.
func TestBackoffGrowsOnFakeClock(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	srv.clock = fake
	srv.script = []int{503, 503, 503, 503, 503}
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	p.bo.rand = func(n int64) int64 { return n - 1 }
	startPool(t, p)
	p.Subscribe(infoSub("A"))

	for k, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		var retryAt time.Time
		eventually(t, fmt.Sprintf("backoff %d", k), func() bool {
			c := p.Stats().Connections[0]
			retryAt = c.RetryAt
			return c.State == stateBackoff && c.Dials == int64(k+1)
		})
		var last time.Time
		srv.with(func() { last = srv.handshakeAt[k] })
		if got := retryAt.Sub(last); got != want {
			t.Fatalf("retry %d scheduled %v after the refusal, want %v", k, got, want)
		}
		fake.Advance(want - time.Millisecond)
		if st := p.Stats(); st.Dials != int64(k+1) {
			t.Fatal("dialed before the backoff elapsed")
		}
		fake.Advance(time.Millisecond)
		srv.waitFor(fmt.Sprintf("handshake %d", k+2), func() bool { return srv.handshakes == k+2 })
	}
	srv.waitFor("connected", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{infoSub("A")}) })
	if st := p.Stats(); st.HandshakeFailures[503] != 5 {
		t.Fatalf("handshake failures %v, want 5 x 503", st.HandshakeFailures)
	}
}

// After a 423 the pool waits at least BackoffMax/2 and opens no other
// connection meanwhile, not even one for a new slot.
func TestLockedBacksOffLongerAndHoldsNewConnections(t *testing.T) {
	srv := newFakeServer(t)
	srv.script = []int{http.StatusLocked}
	fake := clock.NewFake(t0)
	cfg, logs := testConfig(t, srv, fake)
	cfg.MaxPerConnection = 1
	p := New(cfg)
	startPool(t, p)

	p.Subscribe(infoSub("A"))
	eventually(t, "backoff after the 423", func() bool {
		return p.Stats().HandshakeFailures[423] == 1 && p.Stats().Connections[0].State == stateBackoff
	})
	st := p.Stats()
	if wait := st.Connections[0].RetryAt.Sub(fake.Now()); wait < cfg.withDefaults().BackoffMax/2 {
		t.Fatalf("retry in %v after a 423, want at least BackoffMax/2", wait)
	}
	p.Subscribe(infoSub("B")) // needs a second connection
	eventually(t, "second slot held back", func() bool { return p.Stats().Connections[1].State == stateBackoff })
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d dials while the 423 hold lasts, want 1", st.Dials)
	}
	want := []tvbridge.Subscription{infoSub("A"), infoSub("B")}
	srv.advanceUntil(fake, 5*time.Second, "both connected", func() bool { return srv.exactlyLocked(want) })
	if !strings.Contains(logs.String(), "too many connections") {
		t.Errorf("the log does not explain the 423:\n%s", logs.String())
	}
}

func TestFatalAuthErrors(t *testing.T) {
	for _, tc := range []struct {
		token string
		want  error
		text  string
	}{
		{"", ErrUnauthorized, "401"},
		{"wrong-token", ErrForbidden, "403"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			srv := newFakeServer(t)
			fake := clock.NewFake(t0)
			cfg, _ := testConfig(t, srv, fake)
			cfg.Token = tc.token
			p := New(cfg)
			stop := startPool(t, p)
			p.Subscribe(infoSub("A"))
			select {
			case ev, open := <-p.Events():
				if open {
					t.Fatalf("got event %+v", ev)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not stop on a fatal handshake error")
			}
			err := stop()
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Run returned %v, want %v", err, tc.want)
			}
			srv.with(func() {
				if srv.handshakes != 1 {
					t.Fatalf("%d handshakes, want 1: no retry after %s", srv.handshakes, tc.text)
				}
			})
		})
	}
}

func TestHandshakeErrorMessages(t *testing.T) {
	for status, want := range map[int]string{
		423: "HTTP 423 Locked (too many connections",
		429: "HTTP 429 Too Many Requests (connecting too often)",
		502: "HTTP 502 Bad Gateway: upstream down",
	} {
		body := ""
		if status == 502 {
			body = "upstream down"
		}
		if got := (&HandshakeError{StatusCode: status, Body: body}).Error(); !strings.Contains(got, want) {
			t.Errorf("HandshakeError(%d) = %q, want it to contain %q", status, got, want)
		}
	}
	if got := redactURL("wss://user:pass@host/openapi/md/v1/md-openapi/ws?token=abc#x"); got != "wss://host/openapi/md/v1/md-openapi/ws" {
		t.Errorf("redactURL = %q", got)
	}
}

// Subscribing to something already subscribed sends nothing: the service
// would send every event twice.
func TestDuplicateSubscribeSendsOneFrame(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)

	sub := candleSub("A")
	p.Subscribe(sub)
	p.Subscribe(sub, sub)
	withDepth := sub
	withDepth.Depth = 5 // meaningless for candles; normalised away
	p.Subscribe(withDepth)
	sentinel := infoSub("Z")
	p.Subscribe(sentinel)
	srv.waitFor("the sentinel", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{sub, sentinel}) })
	srv.with(func() {
		if n := len(srv.conns[0].frames); n != 2 {
			t.Fatalf("server got %d frames, want 2: %+v", n, srv.conns[0].frames)
		}
		for _, f := range srv.conns[0].frames {
			if f.RequestID == "" {
				t.Errorf("frame without request_id: %+v", f)
			}
		}
	})
	if st := p.Stats(); st.DuplicateSubscribes != 3 {
		t.Fatalf("duplicate subscribes = %d, want 3", st.DuplicateSubscribes)
	}
}

// Orderbook unsubscribe carries an integer depth (the service rejects it
// quoted or missing) and every request has a request_id.
func TestUnsubscribeFrameShape(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)

	book, keep := bookSub("A"), infoSub("B")
	p.Subscribe(book, keep)
	srv.waitFor("subscribed", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{book, keep}) })
	p.Unsubscribe(book)
	srv.waitFor("unsubscribed", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{keep}) })
	srv.with(func() {
		last := srv.conns[0].frames[len(srv.conns[0].frames)-1]
		want := wire.StreamRequest{Event: "orderbook:unsubscribe", FIGI: "A", Depth: 10, RequestID: last.RequestID}
		if last != want || last.RequestID == "" {
			t.Fatalf("unsubscribe frame %+v, want %+v with a request_id", last, want)
		}
	})
}

// A refused subscription is reported once, matched to its subscription by
// request_id (or, without one, by the text), and not replayed again.
func TestErrorEventMatchedAndRemoved(t *testing.T) {
	for _, echo := range []bool{true, false} {
		t.Run(fmt.Sprintf("request_id=%v", echo), func(t *testing.T) {
			srv := newFakeServer(t)
			srv.refuse["BAD"] = true
			srv.noEcho = !echo
			fake := clock.NewFake(t0)
			cfg, _ := testConfig(t, srv, fake)
			p := New(cfg)
			startPool(t, p)

			bad, good := infoSub("BAD"), infoSub("GOOD")
			p.Subscribe(bad, good)
			ev, ok := nextEvent(t, p).(*tvbridge.ErrorEvent)
			if !ok {
				t.Fatalf("got %T, want an error event", ev)
			}
			if ev.Subscription == nil || *ev.Subscription != bad || !strings.Contains(ev.Message, "BAD not found") {
				t.Fatalf("error event %+v (subscription %v), want it matched to %v", ev, ev.Subscription, bad)
			}
			if echo && ev.RequestID == "" {
				t.Errorf("request_id not passed on")
			}
			st := p.Stats()
			if st.Refused != 1 || st.Subscriptions != 1 || st.ServerErrors != 1 {
				t.Fatalf("stats: refused %d, subscriptions %d, server errors %d", st.Refused, st.Subscriptions, st.ServerErrors)
			}

			srv.dropAll()
			srv.advanceUntil(fake, 100*time.Millisecond, "reconnect", func() bool {
				return len(srv.conns) == 2 && srv.exactlyLocked([]tvbridge.Subscription{good})
			})
			srv.with(func() {
				for _, f := range srv.conns[1].frames {
					if f.FIGI == "BAD" {
						t.Fatalf("the refused subscription was replayed: %+v", f)
					}
				}
			})
		})
	}
}

// An error that matches no request is still delivered, unmatched.
func TestUnmatchedErrorDelivered(t *testing.T) {
	srv := newFakeServer(t)
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		sc.sendJSON(wire.EventError, wire.ErrorPayload{Error: "internal error", RequestID: "nope"})
	}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(infoSub("A"))
	ev, ok := nextEvent(t, p).(*tvbridge.ErrorEvent)
	if !ok || ev.Subscription != nil || ev.Message != "internal error" || ev.RequestID != "nope" {
		t.Fatalf("got %+v", ev)
	}
	if st := p.Stats(); st.Subscriptions != 1 || st.Refused != 0 {
		t.Fatalf("an unmatched error changed the desired set: %+v", st)
	}
}

func TestInvalidSubscriptionReported(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	bad := []tvbridge.Subscription{
		{Kind: tvbridge.SubOrderBook, FIGI: "A", Depth: 21},
		{Kind: tvbridge.SubCandle, FIGI: "A", Interval: "7min"},
		{Kind: "trades", FIGI: "A"},
		{Kind: tvbridge.SubInstrumentInfo},
	}
	p.Subscribe(bad...)
	for range bad {
		ev, ok := (<-p.Events()).(*tvbridge.ErrorEvent)
		if !ok || ev.Subscription == nil || !strings.Contains(ev.Message, "invalid subscription") {
			t.Fatalf("got %+v", ev)
		}
	}
	if st := p.Stats(); st.Subscriptions != 0 || st.Pending != 0 {
		t.Fatalf("invalid subscriptions were kept: %+v", st)
	}
}

// A connection on which nothing arrives for StallTimeout (not even pongs)
// is closed and reopened.
func TestStallWatchdogReconnects(t *testing.T) {
	srv := newFakeServer(t)
	srv.silent = true
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.PingInterval, cfg.StallTimeout = 10*time.Second, 45*time.Second
	p := New(cfg)
	startPool(t, p)

	sub := candleSub("A")
	p.Subscribe(sub)
	srv.waitFor("subscribed", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{sub}) })
	fake.Advance(46 * time.Second)
	srv.advanceUntil(fake, 100*time.Millisecond, "reconnect", func() bool {
		return len(srv.conns) == 2 && srv.exactlyLocked([]tvbridge.Subscription{sub})
	})
	if st := p.Stats(); st.Stalls != 1 {
		t.Fatalf("stalls = %d, want 1", st.Stalls)
	}
}

// Pongs alone keep a quiet connection alive; the client answers server
// pings with the same payload.
func TestPingsAndPongsKeepConnectionAlive(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.PingInterval, cfg.StallTimeout = 10*time.Second, 45*time.Second
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("A"))
	srv.waitFor("connected", func() bool { return len(srv.conns) == 1 && len(srv.conns[0].frames) == 1 })

	for i := 1; i <= 10; i++ { // 100 s of fake time, more than twice the stall timeout
		fake.Advance(10 * time.Second)
		srv.waitFor(fmt.Sprintf("ping %d", i), func() bool { return len(srv.conns[0].pings) == i })
		eventually(t, fmt.Sprintf("pong %d read", i), func() bool { return p.Stats().PongsReceived == int64(i) })
	}
	var sc *serverConn
	srv.with(func() { sc = srv.conns[0] })
	sc.ping("hello")
	srv.waitFor("pong", func() bool { return len(sc.pongs) == 1 && sc.pongs[0] == "hello" })
	st := p.Stats()
	srv.with(func() {
		if st.Stalls != 0 || len(srv.conns) != 1 {
			t.Fatalf("stalls %d, connections %d: pongs did not keep the connection alive", st.Stalls, len(srv.conns))
		}
	})
}

// The instrument watchdog flags only quiet instruments whose status says
// trading; breaks, closed markets and unknown statuses are not outages.
func TestInstrumentWatchdogUsesTradeStatus(t *testing.T) {
	statuses := map[string]string{
		"BREAK": "break_in_trading", "CLOSED": "not_available_for_trading", "LIVE": "normal_trading",
	}
	srv := newFakeServer(t)
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		if st, ok := statuses[req.FIGI]; ok && req.Event == "instrument_info:subscribe" {
			sc.sendJSON(wire.EventInstrumentInfo, wire.InstrumentInfoPayload{FIGI: req.FIGI, TradeStatus: st, MinPriceIncrement: 0.01, Lot: 1})
		}
	}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.InstrumentStall = 5 * time.Minute
	p := New(cfg)
	startPool(t, p)

	p.Subscribe(infoSub("BREAK"), infoSub("CLOSED"), infoSub("LIVE"), candleSub("NOSTATUS"))
	for range 3 {
		if _, ok := nextEvent(t, p).(*tvbridge.InstrumentInfoEvent); !ok {
			t.Fatal("want the three instrument_info snapshots first")
		}
	}
	fake.Advance(6 * time.Minute)
	srv.waitFor("LIVE resubscribed", func() bool {
		return srv.conns[0].active["instrument_info:LIVE"] == 1 && len(srv.conns[0].frames) == 6
	})
	p.Subscribe(infoSub("SENTINEL")) // frames arrive in order: anything else would come before it
	srv.waitFor("sentinel", func() bool { return srv.conns[0].active["instrument_info:SENTINEL"] == 1 })
	srv.with(func() {
		frames := srv.conns[0].frames
		resub := frames[4:6]
		if resub[0].Event != "instrument_info:unsubscribe" || resub[0].FIGI != "LIVE" ||
			resub[1].Event != "instrument_info:subscribe" || resub[1].FIGI != "LIVE" {
			t.Fatalf("resubscription frames %+v", resub)
		}
		if len(frames) != 7 {
			t.Fatalf("frames %+v: only LIVE should have been resubscribed", frames)
		}
	})
	if st := p.Stats(); st.InstrumentStalls != 1 {
		t.Fatalf("instrument stalls = %d, want 1", st.InstrumentStalls)
	}
}

// Identical events (a repeated update, a snapshot replayed after a
// reconnect) are delivered once.
func TestDuplicateEventsSuppressed(t *testing.T) {
	candle := `{"event":"candle","time":"2024-03-04T10:00:01Z","payload":{"o":10,"c":11,"h":12,"l":9,"v":100,"time":"2024-03-04T10:00:00Z","interval":"1min","figi":"A"}}`
	book := `{"event":"orderbook","payload":{"figi":"A","depth":10,"bids":[[10,1]],"asks":[[11,2]]}}`
	srv := newFakeServer(t)
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		switch req.Event {
		case "candle:subscribe":
			sc.send(candle)
			sc.send(candle) // a duplicated server-side subscription
		case "orderbook:subscribe":
			sc.send(book)
			sc.send(book)
		}
	}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("A"), bookSub("A"))

	got := []tvbridge.Event{nextEvent(t, p), nextEvent(t, p)}
	eventually(t, "the copies read", func() bool { return p.Stats().Duplicates == 2 })
	srv.dropAll()
	srv.advanceUntil(fake, 100*time.Millisecond, "replayed", func() bool { return len(srv.conns) == 2 && len(srv.conns[1].frames) == 2 })
	eventually(t, "replayed snapshots read", func() bool { return p.Stats().Duplicates == 6 })
	var sc *serverConn
	srv.with(func() { sc = srv.conns[1] })
	sc.send(strings.Replace(candle, `"v":100`, `"v":101`, 1))
	got = append(got, nextEvent(t, p))
	select {
	case ev := <-p.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
	ce, ok := got[2].(*tvbridge.CandleEvent)
	if !ok || ce.Candle.Volume != 101 {
		t.Fatalf("third event %+v, want the grown candle", got[2])
	}
	if want := time.Date(2024, 3, 4, 10, 0, 1, 0, time.UTC); !ce.ServerTime.Equal(want) || !ce.Received.Equal(fake.Now()) {
		t.Fatalf("meta %+v, want server time %v and received on the pool clock", ce.EventMeta, want)
	}
}

// With the consumer not reading, book snapshots coalesce (latest wins)
// while errors are all kept.
func TestCoalescingWhenConsumerLags(t *testing.T) {
	srv := newFakeServer(t)
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		for i := range 50 {
			sc.send(fmt.Sprintf(`{"event":"orderbook","payload":{"figi":"A","depth":10,"bids":[[%d,1]],"asks":[]}}`, 100+i))
			if i%20 == 0 {
				sc.send(`{"event":"error","payload":{"error":"something"}}`)
			}
		}
	}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.EventBuffer = 2
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(bookSub("A"))
	eventually(t, "all frames read", func() bool { return p.Stats().FramesRead == 53 })

	var books, errs int
	var last float64
	for books+errs < 53-int(p.Stats().Coalesced) {
		switch ev := nextEvent(t, p).(type) {
		case *tvbridge.OrderBookEvent:
			books++
			last = ev.Book.Bids[0].Price
		case *tvbridge.ErrorEvent:
			errs++
		}
	}
	st := p.Stats()
	if errs != 3 || last != 149 || st.Coalesced == 0 || int64(books)+st.Coalesced != 50 {
		t.Fatalf("books %d (last %v), errors %d, coalesced %d", books, last, errs, st.Coalesced)
	}
}

// Garbage frames are counted and skipped; the connection carries on.
func TestBadFramesCountedAndSkipped(t *testing.T) {
	srv := newFakeServer(t)
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		sc.send("")
		sc.send("<html>502</html>")
		sc.send(`{"event":"candle","payload":{"o":1`)
		sc.send(`{"event":"trade","payload":{}}`)
		sc.send(frameCandle)
	}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("BBG0013HGFT4"))
	if _, ok := nextEvent(t, p).(*tvbridge.CandleEvent); !ok {
		t.Fatal("the good frame after the garbage was not delivered")
	}
	st := p.Stats()
	if st.BadFrames != 3 || st.UnknownEvents != 1 || st.FramesRead != 5 || st.Reconnects != 0 {
		t.Fatalf("bad %d, unknown %d, read %d, reconnects %d", st.BadFrames, st.UnknownEvents, st.FramesRead, st.Reconnects)
	}
}

// Run closes Events when it returns, and only then.
func TestEventsClosedAfterRun(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	stop := startPool(t, p)
	p.Subscribe(infoSub("A"))
	srv.waitFor("connected", func() bool { return len(srv.conns) == 1 && len(srv.conns[0].frames) == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	if _, open := <-p.Events(); open {
		t.Fatal("Events still open after Run returned")
	}
	srv.waitFor("socket closed", func() bool { return srv.open == 0 })
	if st := p.Stats(); st.Open != 0 {
		t.Fatalf("pool counts %d open sockets after Run", st.Open)
	}
	if err := p.Run(t.Context()); err == nil {
		t.Fatal("a second Run succeeded")
	}
}

// Unsubscribing the last subscription of a connection closes it.
func TestEmptyConnectionClosed(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(infoSub("A"))
	srv.waitFor("connected", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{infoSub("A")}) })
	p.Unsubscribe(infoSub("A"))
	srv.waitFor("closed", func() bool { return srv.open == 0 })
	eventually(t, "slot idle", func() bool { return p.Stats().Connections[0].State == stateIdle })
	p.Subscribe(infoSub("B"))
	srv.waitFor("reopened", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{infoSub("B")}) })
}

// wss:// with a test CA given through Config.TLSConfig.
func TestConnectsOverTLS(t *testing.T) {
	srv := newFakeTLSServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	roots := x509.NewCertPool()
	roots.AddCert(srv.srv.Certificate())
	cfg.TLSConfig = &tls.Config{RootCAs: roots}
	if !strings.HasPrefix(cfg.URL, "wss://") {
		t.Fatalf("test server URL %s is not wss", cfg.URL)
	}
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(infoSub("A"))
	srv.waitFor("subscribed over TLS", func() bool { return srv.exactlyLocked([]tvbridge.Subscription{infoSub("A")}) })
}

// StreamState follows each instrument's own connection: a drop makes the
// instruments on it not live, their reconnect changes their epoch, and the
// instruments on the other connection are untouched.
func TestStreamStatePerInstrument(t *testing.T) {
	srv := newFakeServer(t)
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.MaxPerConnection = 2
	p := New(cfg)
	startPool(t, p)
	figis := []string{"A", "B", "C", "D"}
	var subs []tvbridge.Subscription
	for _, f := range figis {
		subs = append(subs, candleSub(f))
		if _, live := p.StreamState(f); live {
			t.Fatalf("%s live before it was subscribed", f)
		}
	}
	p.Subscribe(append(subs, bookSub("E"))...)
	srv.waitFor("every subscription placed", func() bool { return srv.exactlyLocked(append(subs, bookSub("E"))) })
	before := map[string]uint64{}
	for _, f := range figis {
		e, live := p.StreamState(f)
		if !live || e == 0 {
			t.Fatalf("%s after connecting: epoch %d, live %v", f, e, live)
		}
		before[f] = e
	}
	if _, live := p.StreamState("E"); live {
		t.Error("E has no candle subscription, yet its candle stream is live")
	}

	srv.drop("A") // A and B share a connection: at most 2 instruments each, in order
	eventually(t, "A's connection noticed down", func() bool {
		_, liveA := p.StreamState("A")
		_, liveB := p.StreamState("B")
		return !liveA && !liveB
	})
	srv.advanceUntil(fake, 100*time.Millisecond, "A and B resubscribed", func() bool {
		return srv.exactlyLocked(append(subs, bookSub("E")))
	})
	for _, f := range figis {
		e, live := p.StreamState(f)
		moved := f == "A" || f == "B"
		if !live || (e != before[f]) != moved {
			t.Errorf("%s after A's connection came back: epoch %d (was %d), live %v; want it changed: %v",
				f, e, before[f], live, moved)
		}
	}
}
