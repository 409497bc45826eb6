package stream

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

// Subscriptions go out batched per kind, by uid, after pingSettings; each
// confirmed one is live; data frames become domain events named by FIGI,
// with exact prices and the exchange's times.
func TestSubscribeBatchesAndDeliversEvents(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	p := New(testConfig(t, srv))
	figis := []string{"F1", "F2"}
	for _, f := range figis { // before Run: the first socket carries all of it
		p.Subscribe(candleSub(f), tradeSub(f), bookSub(f, 5), infoSub(f))
	}
	startPool(t, p)
	srv.waitFor("8 subscriptions", func() bool { return len(srv.activeLocked()) == 8 })
	srv.with(func() {
		sc := srv.conns[0]
		if len(srv.conns) != 1 || len(sc.requests) != 6 {
			t.Fatalf("%d sockets, %d requests; want 1 socket, pingSettings + ping + 4 requests", len(srv.conns), len(sc.requests))
		}
		if ps := sc.requests[0].PingSettings; ps == nil || ps.PingDelayMs != 15000 {
			t.Fatalf("first frame %+v, want pingSettings 15000 ms", sc.requests[0])
		}
		if sc.requests[1].Ping == nil {
			t.Fatalf("second frame %+v, want a ping request (its answer says the stream was accepted)", sc.requests[1])
		}
		if _, ok := srv.activeLocked()["orderbook:U-F1:10"]; !ok {
			t.Errorf("depth 5 not subscribed as 10: %v", srv.activeLocked())
		}
		for _, r := range sc.requests[2:] {
			if r.SubscribeCandlesRequest != nil && (len(r.SubscribeCandlesRequest.Instruments) != 2 ||
				r.SubscribeCandlesRequest.CandleSourceType != wire.CandleSourceExchange) {
				t.Errorf("candle request %+v", r.SubscribeCandlesRequest)
			}
			if r.SubscribeTradesRequest != nil && r.SubscribeTradesRequest.TradeSource != wire.TradeSourceExchange {
				t.Errorf("trade request %+v", r.SubscribeTradesRequest)
			}
		}
	})
	eventually(t, "F1 live", func() bool { _, live := p.StreamState("F1"); return live })
	if epoch, _ := p.StreamState("F1"); epoch != 1 {
		t.Fatalf("epoch %d, want 1", epoch)
	}
	sc := srv.conns[0]
	sc.send(`{"candle":{"figi":"BBG-OTHER","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE","open":{"units":"179","nano":50000000},` +
		`"high":{"units":"179","nano":70000000},"low":{"units":"178","nano":950000000},"close":{"units":"178","nano":950000000},` +
		`"volume":"4279","time":"2026-03-02T10:00:00Z","lastTradeTs":"2026-03-02T10:00:27.432487Z","instrumentUid":"U-F1"}}`)
	sc.send(`{"trade":{"figi":"F2","direction":"TRADE_DIRECTION_SELL","price":{"units":"178","nano":860000000},"quantity":"200",` +
		`"time":"2026-03-02T10:00:22.807741Z","instrumentUid":"U-F2"}}`)
	sc.send(`{"orderbook":{"figi":"F1","depth":10,"isConsistent":true,"bids":[{"price":{"units":"178","nano":970000000},"quantity":"20"}],` +
		`"time":"2026-03-02T10:00:00.549662Z","instrumentUid":"U-F1"}}`)
	sc.send(`{"tradingStatus":{"figi":"F2","tradingStatus":"SECURITY_TRADING_STATUS_NORMAL_TRADING","time":"2026-03-02T07:00:00.750460Z",` +
		`"limitOrderAvailableFlag":true,"instrumentUid":"U-F2"}}`)
	sc.send(`{"ping":{"time":"2026-03-02T10:00:30Z","streamId":"s"}}`)
	ce := nextEvent(t, p).(*tvbridge.CandleEvent)
	if c := ce.Candle; c.FIGI != "F1" || c.Open != 179.05 || c.Low != 178.95 || c.Volume != 4279 ||
		c.Interval != tvbridge.Interval1Min || !c.Time.Equal(t0) {
		t.Fatalf("candle %+v", c)
	}
	if !ce.ServerTime.Equal(time.Date(2026, 3, 2, 10, 0, 27, 432487000, time.UTC)) {
		t.Fatalf("candle server time %v", ce.ServerTime)
	}
	te := nextEvent(t, p).(*tvbridge.TradeEvent)
	if tr := te.Trade; tr.FIGI != "F2" || tr.Price != 178.86 || tr.Quantity != 200 || tr.Time.Nanosecond() != 807741000 {
		t.Fatalf("trade %+v", tr)
	}
	be := nextEvent(t, p).(*tvbridge.OrderBookEvent)
	if b := be.Book; b.FIGI != "F1" || b.Depth != 10 || len(b.Bids) != 1 || b.Bids[0].Price != 178.97 || b.Asks != nil {
		t.Fatalf("book %+v", b)
	}
	ie := nextEvent(t, p).(*tvbridge.InstrumentInfoEvent)
	if ie.Info.FIGI != "F2" || ie.Info.TradeStatus != tvbridge.StatusNormalTrading {
		t.Fatalf("info %+v", ie.Info)
	}
	// The answer to the pool's ping request, and the server's own ping.
	eventually(t, "the ping counted", func() bool { return p.Stats().PingsReceived == 2 })
}

// 400 instruments with a candle and a trade subscription each (800
// subscriptions) spread over three streams of at most 300, and the spare
// stream is never used; beyond the usable streams, subscriptions wait.
func TestCapSpreadsOverStreams(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	cfg := testConfig(t, srv)
	cfg.MaxStreams = 4 // 3 usable + 1 spare
	p := New(cfg)
	startPool(t, p)
	for i := range 400 {
		p.Subscribe(candleSub(figiN(i)), tradeSub(figiN(i)), infoSub(figiN(i)))
	}
	srv.waitFor("1200 subscriptions", func() bool { return len(srv.activeLocked()) == 1200 })
	srv.with(func() {
		if len(srv.conns) != 3 || srv.maxOpen != 3 {
			t.Fatalf("%d sockets (max open %d), want 3", len(srv.conns), srv.maxOpen)
		}
		for i, sc := range srv.conns {
			if n := sc.countedLocked(); n > 300 {
				t.Errorf("stream %d carries %d counted subscriptions, cap 300", i, n)
			}
		}
	})
	// 60 more instruments: 100 room left on the third stream, the rest wait.
	for i := 400; i < 460; i++ {
		p.Subscribe(candleSub(figiN(i)), tradeSub(figiN(i)))
	}
	srv.waitFor("the stream filled", func() bool { return len(srv.activeLocked()) == 1300 })
	if st := p.Stats(); st.Pending != 20 {
		t.Fatalf("pending %d, want 20", st.Pending)
	}
	srv.with(func() {
		if srv.maxOpen != 3 {
			t.Fatalf("the spare stream was used: max open %d", srv.maxOpen)
		}
	})
	// Room frees: waiting subscriptions take it.
	p.Unsubscribe(candleSub(figiN(0)), tradeSub(figiN(0)), infoSub(figiN(0)))
	srv.waitFor("two placed", func() bool { return p.Stats().Pending == 18 })
}

// At most RequestsPerMinute subscription requests go out in any minute;
// the rest wait for the budget and go out as it frees.
func TestRequestBudget(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	cfg := testConfig(t, srv)
	cfg.RequestsPerMinute, cfg.MaxInstrumentsPerRequest = 3, 2
	p := New(cfg)
	for i := range 10 { // before Run: the first socket carries all of it
		p.Subscribe(candleSub(figiN(i)))
	}
	startPool(t, p)
	srv.waitFor("3 requests", func() bool { return len(srv.reqTimes) == 3 })
	srv.with(func() {
		if n := len(srv.activeLocked()); n != 6 {
			t.Fatalf("%d subscribed after the first burst, want 6", n)
		}
	})
	srv.advanceUntil(5*time.Second, "all 10", func() bool { return len(srv.activeLocked()) == 10 })
	srv.with(func() {
		for i := range srv.reqTimes {
			n := 0
			for _, u := range srv.reqTimes[i:] {
				if u.Sub(srv.reqTimes[i]) < time.Minute {
					n++
				}
			}
			if n > 3 {
				t.Fatalf("%d requests within a minute of %v", n, srv.reqTimes[i])
			}
		}
	})
	if st := p.Stats(); st.RequestsDeferred == 0 || st.Requests != 5 {
		t.Fatalf("requests %d, deferred %d", st.Requests, st.RequestsDeferred)
	}
}

// The service's per-instrument refusals: NOT_FOUND is reported and removed
// for good, TOO_MANY_REQUESTS is reported and sent again later,
// LIMIT_IS_EXCEEDED is reported and the instrument moves to another
// stream. None is live while refused.
func TestRefusalStatuses(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	tooMany := true
	srv.statusFor = func(kind, id string) wire.SubscriptionStatus {
		switch {
		case id == "U-NOPE":
			return wire.SubscriptionStatusInstrumentNotFound
		case id == "U-BUSY" && tooMany:
			return wire.SubscriptionStatusTooManyRequests
		}
		return ""
	}
	cfg := testConfig(t, srv)
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("NOPE"), candleSub("BUSY"), candleSub("OK"))
	got := map[string]string{}
	for range 2 {
		ev := nextEvent(t, p).(*tvbridge.ErrorEvent)
		if ev.Subscription == nil {
			t.Fatalf("error event without a subscription: %+v", ev)
		}
		got[ev.Subscription.FIGI] = ev.Message
	}
	if !strings.Contains(got["NOPE"], "INSTRUMENT_NOT_FOUND") || !strings.Contains(got["NOPE"], "removed") ||
		!strings.Contains(got["BUSY"], "TOO_MANY_REQUESTS") {
		t.Fatalf("error events %v", got)
	}
	eventually(t, "OK live", func() bool { _, live := p.StreamState("OK"); return live })
	for _, f := range []string{"NOPE", "BUSY"} {
		if _, live := p.StreamState(f); live {
			t.Fatalf("%s live while refused", f)
		}
	}
	srv.with(func() { tooMany = false })
	srv.advanceUntil(10*time.Second, "BUSY subscribed again", func() bool { return srv.activeLocked()["candle:U-BUSY:SUBSCRIPTION_INTERVAL_ONE_MINUTE"] == 1 })
	eventually(t, "BUSY live", func() bool { _, live := p.StreamState("BUSY"); return live })
	if epoch, _ := p.StreamState("BUSY"); epoch != 2 {
		t.Fatalf("BUSY epoch %d, want 2 (sent twice)", epoch)
	}
	st := p.Stats()
	if st.Removed != 1 || st.Retried != 1 || st.Subscriptions != 2 {
		t.Fatalf("removed %d, retried %d, subscriptions %d", st.Removed, st.Retried, st.Subscriptions)
	}
	srv.with(func() {
		for _, r := range srv.conns[0].requests {
			if c := r.SubscribeCandlesRequest; c != nil && len(c.Instruments) == 1 && c.Instruments[0].InstrumentID == "U-NOPE" {
				t.Fatal("a removed subscription was sent again")
			}
		}
	})

	// LIMIT_IS_EXCEEDED: the service's stream is fuller than the pool
	// thought; the instrument moves to another stream.
	srv.with(func() { srv.perStream = 2 })
	p.Subscribe(candleSub("MORE"))
	ev := nextEvent(t, p).(*tvbridge.ErrorEvent)
	if ev.Subscription == nil || ev.Subscription.FIGI != "MORE" || !strings.Contains(ev.Message, "LIMIT_IS_EXCEEDED") ||
		!strings.Contains(ev.Message, "moved") {
		t.Fatalf("limit event %+v", ev)
	}
	srv.waitFor("MORE on a second stream", func() bool {
		return len(srv.openConnsLocked()) == 2 && srv.activeLocked()["candle:U-MORE:SUBSCRIPTION_INTERVAL_ONE_MINUTE"] == 1
	})
}

// After the server drops every socket, the pool reconnects with backoff
// and replays the desired set, changes made meanwhile included; epochs
// change and the instruments are live again once confirmed.
func TestReconnectResubscribes(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	p := New(testConfig(t, srv))
	startPool(t, p)
	p.Subscribe(candleSub("A"), tradeSub("A"), candleSub("B"))
	srv.waitFor("3 subscriptions", func() bool { return len(srv.activeLocked()) == 3 })
	eventually(t, "A live", func() bool { _, live := p.StreamState("A"); return live })
	srv.dropAll()
	eventually(t, "A down", func() bool { _, live := p.StreamState("A"); return !live })
	p.Unsubscribe(candleSub("B"))
	p.Subscribe(bookSub("A", 20))
	srv.advanceUntil(100*time.Millisecond, "replay", func() bool {
		a := srv.activeLocked()
		return len(srv.openConnsLocked()) == 1 && len(a) == 3 && a["orderbook:U-A:20"] == 1 && a["candle:U-B:SUBSCRIPTION_INTERVAL_ONE_MINUTE"] == 0
	})
	eventually(t, "A live again", func() bool { _, live := p.StreamState("A"); return live })
	if epoch, _ := p.StreamState("A"); epoch != 2 {
		t.Fatalf("epoch %d, want 2", epoch)
	}
	if st := p.Stats(); st.Reconnects != 1 {
		t.Fatalf("reconnects %d", st.Reconnects)
	}
}

// With no frame at all (the server's pings included) for StallTimeout the
// stream is reopened; pings keep it open.
func TestPingsAndStallWatchdog(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	cfg := testConfig(t, srv)
	cfg.StallTimeout = 45 * time.Second
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("A"))
	srv.waitFor("subscribed", func() bool { return len(srv.activeLocked()) == 1 })
	eventually(t, "live", func() bool { _, live := p.StreamState("A"); return live })
	sc := srv.conns[0]
	// The answer to the pool's own ping request is the first ping.
	eventually(t, "the first ping read", func() bool { return p.Stats().PingsReceived == 1 })
	for i := range 4 { // 4 x 15 s of pings: longer than the stall timeout, no reconnect
		fake.Advance(15 * time.Second)
		sc.send(`{"ping":{"time":"2026-03-02T10:00:00Z"}}`)
		eventually(t, "ping read", func() bool { return p.Stats().PingsReceived == int64(i+2) })
	}
	eventually(t, "pings read", func() bool { return p.Stats().PingsReceived == 5 })
	if st := p.Stats(); st.Stalls != 0 {
		t.Fatalf("stalled while pinged: %+v", st)
	}
	// Silence: the server stops pinging.
	srv.advanceUntil(5*time.Second, "reconnect after the stall", func() bool { return len(srv.conns) == 2 && len(srv.activeLocked()) == 1 })
	if st := p.Stats(); st.Stalls != 1 {
		t.Fatalf("stalls %d", st.Stalls)
	}
}

// Close codes: 4008 holds every dial for a long backoff, an 80004 close of
// a stream that has subscriptions reconnects at once, 4016 stops the pool
// with ErrUnauthenticated.
func TestCloseCodes(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	cfg := testConfig(t, srv)
	cfg.BackoffMax = 40 * time.Second
	p := New(cfg)
	done := runUntilFatal(t, p)
	p.Subscribe(candleSub("A"))
	srv.waitFor("subscribed", func() bool { return len(srv.activeLocked()) == 1 })

	srv.conns[0].closeWith(wire.CloseInvalidArgument, "80004 no active subscriptions")
	srv.waitFor("immediate reconnect after 80004", func() bool { return len(srv.conns) == 2 && len(srv.activeLocked()) == 1 })

	srv.conns[1].closeWith(wire.CloseResourceExhausted, "RESOURCE_EXHAUSTED 80002")
	start := fake.Now()
	srv.advanceUntil(time.Second, "reconnect after 4008", func() bool { return len(srv.conns) == 3 })
	if waited := fake.Now().Sub(start); waited < 20*time.Second {
		t.Fatalf("reconnected %v after a 4008, want at least BackoffMax/2", waited)
	}
	srv.waitFor("subscribed again", func() bool { return len(srv.activeLocked()) == 1 })

	srv.conns[2].closeWith(wire.CloseUnauthenticated, "Authentication token is missing or invalid")
	if err := waitRun(t, done); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("Run returned %v, want ErrUnauthenticated", err)
	}
	if cc := p.Stats().CloseCodes; cc[4008] != 1 || cc[4016] != 1 {
		t.Fatalf("close codes %v", cc)
	}
}

// A 401 handshake is fatal; the subprotocol form of the token works.
func TestHandshakeAuth(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	cfg := testConfig(t, srv)
	cfg.Token = "wrong"
	p := New(cfg)
	done := runUntilFatal(t, p)
	p.Subscribe(candleSub("A"))
	if err := waitRun(t, done); !errors.Is(err, ErrUnauthenticated) || p.Stats().HandshakeFailures[http.StatusUnauthorized] != 1 {
		t.Fatalf("Run returned %v", err)
	}

	cfg = testConfig(t, srv)
	cfg.AuthSubprotocol = true
	p = New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("A"))
	srv.waitFor("subscribed with the subprotocol token", func() bool { return len(srv.activeLocked()) == 1 })
}

// A stream left with nothing is closed by the pool (before the service's
// 80004), with a normal close.
func TestEmptyStreamClosedFirst(t *testing.T) {
	fake := clock.NewFake(t0)
	srv := newFakeServer(t, fake)
	p := New(testConfig(t, srv))
	startPool(t, p)
	p.Subscribe(candleSub("A"), infoSub("A"))
	srv.waitFor("subscribed", func() bool { return len(srv.activeLocked()) == 2 })
	p.Unsubscribe(candleSub("A"), infoSub("A"))
	srv.waitFor("closed by the client", func() bool { return len(srv.openConnsLocked()) == 0 })
	srv.with(func() {
		if ce := srv.conns[0].closeMsg; ce == nil || ce.Code != websocket.CloseNormalClosure {
			t.Fatalf("close %v, want a normal close from the client", ce)
		}
	})
	// Subscribing again opens a stream again.
	p.Subscribe(tradeSub("A"))
	srv.waitFor("reopened", func() bool { return len(srv.openConnsLocked()) == 1 && len(srv.activeLocked()) == 1 })
}

func TestNormalize(t *testing.T) {
	for depth, want := range map[int]int{1: 1, 2: 10, 5: 10, 10: 10, 11: 20, 45: 50, 50: 50} {
		got, err := Normalize(bookSub("F", depth))
		if err != nil || got.Depth != want {
			t.Errorf("depth %d -> %d, %v; want %d", depth, got.Depth, err, want)
		}
	}
	for _, bad := range []tvbridge.Subscription{bookSub("F", 0), bookSub("F", 51), {Kind: "x", FIGI: "F"}, candleSub(""),
		{Kind: tvbridge.SubCandle, FIGI: "F", Interval: "7min"}} {
		if _, err := Normalize(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	for _, name := range []wire.SecurityTradingStatus{wire.TradingStatusNormalTrading, wire.TradingStatusDarkPoolAuction,
		wire.TradingStatusOpeningAuctionPeriod, wire.TradingStatusDealerNormalTrading} {
		if st := TradeStatus(name); !st.Trading() {
			t.Errorf("%s -> %q, not trading", name, st)
		}
	}
	for _, name := range []wire.SecurityTradingStatus{wire.TradingStatusUnspecified, "SECURITY_TRADING_STATUS_NEW", wire.TradingStatusBreakInTrading} {
		if st := TradeStatus(name); st.Trading() {
			t.Errorf("%s -> %q, trading", name, st)
		}
	}
	_ = fmt.Sprint()
}

// Subscribing a whole catalogue makes every uid known to the decoder with
// one copy of the uid map per call, not one per instrument (which made
// 10,000 instruments cost gigabytes of garbage at start).
func TestSubscribeCatalogueUIDsAtOnce(t *testing.T) {
	const n = 4000 // within 15 streams of 300
	var subs []tvbridge.Subscription
	for i := range n {
		subs = append(subs, tvbridge.Subscription{Kind: tvbridge.SubTrade, FIGI: fmt.Sprintf("F%05d", i)})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p := New(Config{URL: "ws://127.0.0.1:1/", Token: "t", InstrumentID: func(figi string) string { return "uid-" + figi }})
	p.Subscribe(subs...)
	runtime.ReadMemStats(&after)
	m := p.uids.Load()
	if m == nil || len(*m) != n || (*m)["uid-F03999"] != "F03999" {
		t.Fatalf("the decoder does not know every uid")
	}
	// A map copy per instrument would be 4000 maps of up to 4000 entries:
	// hundreds of megabytes.
	mb := float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
	if mb > 64 {
		t.Errorf("%.0f MB allocated to subscribe %d instruments", mb, n)
	}
	t.Logf("%.1f MB allocated to subscribe %d instruments", mb, n)
}
