package sim

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

func TestHandshakeStatuses(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Tokens = []string{testToken} })
	if _, status := h.dialStatus(nil); status != http.StatusUnauthorized {
		t.Errorf("no token: got %d, want 401", status)
	}
	if _, status := h.dialStatus(authHeader("t.wrong")); status != http.StatusForbidden {
		t.Errorf("bad token: got %d, want 403", status)
	}
	var open []*websocket.Conn
	for i := range DefaultMaxConnections {
		ws, status := h.dialStatus(authHeader(testToken))
		if ws == nil {
			t.Fatalf("connection %d refused with %d", i+1, status)
		}
		open = append(open, ws)
	}
	if _, status := h.dialStatus(authHeader(testToken)); status != http.StatusLocked {
		t.Errorf("7th connection: got %d, want 423", status)
	}
	h.srv.Faults().Refuse429(1)
	open[0].Close()
	// The slot frees once the server notices the close; the fault answers
	// first, whatever the slots.
	if _, status := h.dialStatus(authHeader(testToken)); status != http.StatusTooManyRequests {
		t.Errorf("with Refuse429: got %d, want 429", status)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		ws, status := h.dialStatus(authHeader(testToken))
		if ws != nil {
			ws.Close()
			break
		}
		if status != http.StatusLocked || time.Now().After(deadline) {
			t.Fatalf("after closing one connection: got %d", status)
		}
	}
	st := h.srv.Stats()
	if st.MaxConcurrent != DefaultMaxConnections {
		t.Errorf("MaxConcurrent = %d, want %d", st.MaxConcurrent, DefaultMaxConnections)
	}
	if st.HandshakesRefused[401] != 1 || st.HandshakesRefused[403] != 1 || st.HandshakesRefused[429] != 1 || st.HandshakesRefused[423] < 1 {
		t.Errorf("HandshakesRefused = %v", st.HandshakesRefused)
	}
	if st.Faults.Refused429 != 1 {
		t.Errorf("Faults.Refused429 = %d", st.Faults.Refused429)
	}
	for _, ws := range open[1:] {
		ws.Close()
	}
}

func TestRequestErrors(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	cases := []struct {
		name, frame, want, requestID string
	}{
		{"quoted depth on unsubscribe",
			`{"event":"orderbook:unsubscribe","figi":"` + in.FIGI + `","depth":"20","request_id":"r1"}`,
			`Subscription orderbook:unsubscribe. Invalid format: {"event":"orderbook:unsubscribe","figi":"` + in.FIGI + `","depth":"20","request_id":"r1"}`, "r1"},
		{"quoted depth on subscribe",
			`{"event":"orderbook:subscribe","figi":"` + in.FIGI + `","depth":"5","request_id":"r2"}`,
			`Subscription orderbook:subscribe. Invalid format: {"event":"orderbook:subscribe","figi":"` + in.FIGI + `","depth":"5","request_id":"r2"}`, "r2"},
		{"missing depth",
			`{"event":"orderbook:unsubscribe","figi":"` + in.FIGI + `","request_id":"r3"}`,
			"Subscription orderbook:unsubscribe. Invalid depth 0. Should be 0 < x < 20", "r3"},
		{"zero depth",
			`{"event":"orderbook:subscribe","figi":"` + in.FIGI + `","depth":0}`,
			"Subscription orderbook:subscribe. Invalid depth 0. Should be 0 < x < 20", ""},
		{"depth 21",
			`{"event":"orderbook:subscribe","figi":"` + in.FIGI + `","depth":21,"request_id":"r4"}`,
			"Subscription orderbook:subscribe. Invalid depth 21. Should be 0 < x < 20", "r4"},
		{"unknown FIGI",
			`{"event":"instrument_info:subscribe","figi":"BBG-NOPE","request_id":"r5"}`,
			"Subscription instrument_info:subscribe. FIGI BBG-NOPE not found", "r5"},
		{"bad interval",
			`{"event":"candle:subscribe","figi":"` + in.FIGI + `","interval":"7min","request_id":"r6"}`,
			"Subscription candle:subscribe. Invalid interval 7min", "r6"},
		{"unknown event",
			`{"event":"trades:subscribe","figi":"` + in.FIGI + `","request_id":"r7"}`,
			"Subscription trades:subscribe. Unknown event type", "r7"},
		{"not JSON", `candle:subscribe please`, "Invalid format: candle:subscribe please", ""},
	}
	for _, tc := range cases {
		c.send(tc.frame)
		f := c.next()
		if f.env.Event != wire.EventError {
			t.Fatalf("%s: got %s event, want error", tc.name, f.env.Event)
		}
		if p := errorOf(f); p.Error != tc.want || p.RequestID != tc.requestID {
			t.Errorf("%s: got %+v, want error %q request_id %q", tc.name, p, tc.want, tc.requestID)
		}
	}
	if got := c.sync(); len(got) != 0 {
		t.Errorf("unexpected frames after the errors: %d", len(got))
	}
}

func TestIntegerDepthAndCamelCaseRequestID(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	// The Java SDK's camelCase requestId is ignored, not rejected.
	c.send(`{"event":"orderbook:subscribe","figi":"` + in.FIGI + `","depth":20,"requestId":"java-1"}`)
	got := c.sync()
	if len(got) != 1 || got[0].env.Event != wire.EventOrderBook {
		t.Fatalf("want one orderbook snapshot, got %d frames", len(got))
	}
	if b := bookOf(got[0]); b.Depth != 20 || b.FIGI != in.FIGI || len(b.Bids) == 0 || len(b.Asks) == 0 {
		t.Fatalf("bad book %+v", b)
	}
	c.send(`{"event":"orderbook:unsubscribe","figi":"` + in.FIGI + `","depth":20}`)
	c.sync()
	if n := h.srv.Stats().Subscriptions; len(n) != 1 || n[0] != 0 {
		t.Fatalf("subscriptions after unsubscribe: %v", n)
	}
}

func TestSnapshotsOnSubscribe(t *testing.T) {
	h := newHarness(t, nil)
	bond := h.liveInstrument(tvbridge.Bond)
	h.advance(30 * time.Second) // let the minute have trades
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: bond.FIGI, Interval: "1min"})
	c.send(wire.StreamRequest{Event: "orderbook:subscribe", FIGI: bond.FIGI, Depth: 5})
	c.send(wire.StreamRequest{Event: "instrument_info:subscribe", FIGI: bond.FIGI})
	got := c.sync()
	if len(got) != 3 {
		t.Fatalf("want 3 snapshots, got %d", len(got))
	}
	now := h.now()
	minute := now.Truncate(time.Minute)
	want, ok := h.m.Candle(bond.FIGI, tvbridge.Interval1Min, minute, now)
	if !ok {
		t.Fatal("the model has no trades this minute")
	}
	cd := candleOf(got[0])
	if cd.Time != minute.Format(time.RFC3339) || cd.O != want.Open || cd.C != want.Close || cd.H != want.High || cd.L != want.Low || cd.V != want.Volume {
		t.Errorf("candle snapshot %+v, model %+v", cd, want)
	}
	book := bookOf(got[1])
	mb := h.m.OrderBook(bond.FIGI, now, 5)
	if book.Depth != 5 || len(book.Bids) != len(mb.Bids) || book.Bids[0][0] != mb.Bids[0].Price || book.Asks[0][0] != mb.Asks[0].Price {
		t.Errorf("book snapshot %+v, model %+v", book, mb)
	}
	info := infoOf(got[2])
	if info.TradeStatus != string(h.m.Status(bond.FIGI, now)) || info.AccruedInterest == nil || info.Lot != float64(bond.Lot) {
		t.Errorf("info snapshot %+v", info)
	}
}

func TestDuplicateSubscriptionsMultiplyEvents(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CandleThrottle = Unthrottled })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	for range 3 {
		c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"})
	}
	c.sync()
	if subs := h.srv.Stats().Subscriptions; len(subs) != 1 || subs[0] != 3 {
		t.Fatalf("Subscriptions = %v, want [3]", subs)
	}
	var candles []frame
	for i := 0; i < 120 && len(candles) == 0; i++ {
		h.advance(time.Second)
		candles = ofEvent(c.sync(), wire.EventCandle)
	}
	if len(candles) == 0 || len(candles)%3 != 0 {
		t.Fatalf("want candle events in threes, got %d", len(candles))
	}
	for i := 0; i < len(candles); i += 3 {
		if string(candles[i].raw) != string(candles[i+1].raw) || string(candles[i].raw) != string(candles[i+2].raw) {
			t.Fatalf("copies differ: %s / %s / %s", candles[i].raw, candles[i+1].raw, candles[i+2].raw)
		}
	}
	// One unsubscribe removes all three copies.
	c.send(wire.StreamRequest{Event: "candle:unsubscribe", FIGI: in.FIGI, Interval: "1min"})
	c.sync()
	h.advance(2 * time.Minute)
	if got := ofEvent(c.sync(), wire.EventCandle); len(got) != 0 {
		t.Fatalf("%d candle events after unsubscribe", len(got))
	}
}

// TestStreamMatchesREST is the invariant the bridge relies on: the last
// streamed state of every closed candle equals what REST returns for it.
func TestStreamMatchesREST(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	intervals := []tvbridge.CandleInterval{tvbridge.Interval1Min, tvbridge.Interval5Min, tvbridge.IntervalHour}
	for _, iv := range intervals {
		c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: string(iv)})
	}
	c.sync()
	start := h.now()
	last := map[tvbridge.CandleInterval]map[string]wire.CandlePayload{}
	for _, iv := range intervals {
		last[iv] = map[string]wire.CandlePayload{}
	}
	record := func(frames []frame) {
		for _, f := range ofEvent(frames, wire.EventCandle) {
			p := candleOf(f)
			last[tvbridge.CandleInterval(p.Interval)][p.Time] = p
		}
	}
	for h.now().Before(start.Add(time.Hour)) {
		h.advance(time.Second)
		if h.now().Second() == 0 {
			record(c.sync())
		}
	}
	record(c.sync())
	end := h.now()
	for _, iv := range intervals {
		q := url.Values{"figi": {in.FIGI}, "interval": {string(iv)},
			"from": {start.Format(time.RFC3339)}, "to": {end.Format(time.RFC3339)}}
		var got wire.Candles
		h.rest("GET", "/openapi/market/candles", q, nil).ok(t, &got)
		if len(got.Candles) == 0 {
			t.Fatalf("%s: REST returned no candles", iv)
		}
		for _, rc := range got.Candles {
			sc, ok := last[iv][rc.Time]
			if !ok {
				t.Errorf("%s %s: in REST, never streamed", iv, rc.Time)
				continue
			}
			if sc.O != rc.O || sc.C != rc.C || sc.H != rc.H || sc.L != rc.L || sc.V != float64(rc.V) {
				t.Errorf("%s %s: last streamed %+v, REST %+v", iv, rc.Time, sc, rc)
			}
		}
		// Every streamed interval that has closed is in REST.
		for ts := range last[iv] {
			st, _ := time.Parse(time.RFC3339, ts)
			if intervalEnd(h.m, in.FIGI, iv, st).After(end) {
				continue
			}
			found := false
			for _, rc := range got.Candles {
				found = found || rc.Time == ts
			}
			if !found && !st.Before(start) {
				t.Errorf("%s %s: streamed, closed, but not in REST", iv, ts)
			}
		}
	}
	if n := len(last[tvbridge.Interval1Min]); n < 30 {
		t.Errorf("only %d one-minute candles streamed in an hour", n)
	}
}

func TestCandleUpdatesAreThrottled(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CandleThrottle = 10 * time.Second })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "hour"})
	c.sync()
	for range 60 {
		h.advance(time.Second)
	}
	var prev time.Time
	for _, f := range ofEvent(c.sync(), wire.EventCandle) {
		if !prev.IsZero() && f.sent.Sub(prev) < 10*time.Second {
			t.Fatalf("updates %v apart, throttle is 10s", f.sent.Sub(prev))
		}
		prev = f.sent
	}
	if prev.IsZero() {
		t.Fatal("no updates in a minute")
	}
}

func TestStatusEventsAtSessionBoundaries(t *testing.T) {
	h := newHarness(t, nil)
	in := h.liveInstrument(tvbridge.Stock)
	if in.Session == "24x7" {
		t.Skip("no session boundaries")
	}
	c := h.connect()
	c.send(wire.StreamRequest{Event: "instrument_info:subscribe", FIGI: in.FIGI})
	frames := c.sync()
	// Walk to the end of today's session and into the next one.
	close, ok := in.Schedule.NextChange(h.now())
	if !ok {
		t.Fatal("no session change ahead")
	}
	for _, target := range []time.Time{close, close.Add(time.Hour)} {
		for h.now().Before(target.Add(-time.Minute)) {
			h.advance(target.Add(-time.Minute).Sub(h.now()).Truncate(time.Second) + time.Second)
		}
		for h.now().Before(target.Add(time.Minute)) {
			h.advance(time.Second)
		}
		frames = append(frames, c.sync()...)
	}
	infos := ofEvent(frames, wire.EventInstrumentInfo)
	if len(infos) < 2 {
		t.Fatalf("want status changes, got %d info events", len(infos))
	}
	for i, f := range infos {
		p := infoOf(f)
		if want := h.m.Status(in.FIGI, f.sent); p.TradeStatus != string(want) {
			t.Errorf("event %d at %v: status %s, model says %s", i, f.sent, p.TradeStatus, want)
		}
		if i > 0 && p.TradeStatus == infoOf(infos[i-1]).TradeStatus {
			t.Errorf("event %d repeats status %s", i, p.TradeStatus)
		}
	}
	if tvbridge.TradeStatus(infoOf(infos[len(infos)-1]).TradeStatus).Trading() {
		t.Errorf("still trading after the session closed")
	}
}

func TestPings(t *testing.T) {
	h := newHarness(t, nil)
	c := h.connect()
	for range 10 {
		h.advance(time.Second)
	}
	c.sync()
	if got := c.pings.Load(); got != 2 {
		t.Fatalf("pings in 10s: %d, want 2", got)
	}
	// The server answers the client's pings too.
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.sync()
	select {
	case got := <-c.pongs:
		if got != "p1" {
			t.Fatalf("pong %q", got)
		}
	default:
		t.Fatal("no pong")
	}
}

func TestSlowReaderIsDropped(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.SendQueue = 256
		c.BookThrottle = Unthrottled
	})
	in := h.liveInstrument(tvbridge.Stock)
	// A client that subscribes and never reads: many copies of a deep book
	// fill the socket buffers, then the send queue.
	ws, status := h.dialStatus(authHeader(testToken))
	if ws == nil {
		t.Fatalf("handshake refused with %d", status)
	}
	defer ws.Close()
	for range 100 {
		if err := ws.WriteJSON(wire.StreamRequest{Event: "orderbook:subscribe", FIGI: in.FIGI, Depth: 20}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; h.srv.Stats().SlowReaderDrops == 0; i++ {
		if i == 5000 {
			t.Fatal("slow reader never dropped")
		}
		h.advance(time.Second)
	}
	// What was already in the socket arrives, then the abrupt end.
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if !abrupt(err) {
				t.Fatalf("want an abrupt close, got %v", err)
			}
			break
		}
	}
}

// abrupt reports whether a read error is a connection that ended without a
// close frame: 1006, or a reset when the client wrote to the closed socket.
func abrupt(err error) bool {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code == websocket.CloseAbnormalClosure
	}
	return err != nil
}

func TestFrameEncodingEscapes(t *testing.T) {
	ts := appendTime(nil, testStart)
	f := errorFrame(ts, "Subscription x. FIGI \"q\\\n\x01ü\xff not found", "id\"1")
	var fr frame
	if err := decodeFrame(f, &fr); err != nil {
		t.Fatal(err)
	}
	if p := errorOf(fr); p.RequestID != "id\"1" || !strings.Contains(p.Error, "\"q\\\n\x01ü") {
		t.Fatalf("round trip lost data: %+v", p)
	}
}

func TestClientCloseIsEchoed(t *testing.T) {
	h := newHarness(t, nil)
	c := h.connect()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	err := c.closedErr()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("want the close echoed with 1000, got %v", err)
	}
}

// TestPricesRoundTrip checks the fast price formatting on every price the
// model quotes: each must parse back to exactly the same float64.
func TestPricesRoundTrip(t *testing.T) {
	ts := appendTime(nil, testStart)
	for _, in := range sharedMarket.Instruments() {
		ob := sharedMarket.OrderBook(in.FIGI, testStart, maxDepth)
		var fr frame
		if err := decodeFrame(bookFrame(ts, &ob, maxDepth, newPriceFormat(in.MinPriceIncrement)), &fr); err != nil {
			t.Fatal(err)
		}
		got := bookOf(fr)
		for i, l := range ob.Bids {
			if got.Bids[i][0] != l.Price || got.Bids[i][1] != l.Quantity {
				t.Fatalf("%s bid %d: %v came back as %v", in.Ticker, i, l, got.Bids[i])
			}
		}
		for i, l := range ob.Asks {
			if got.Asks[i][0] != l.Price || got.Asks[i][1] != l.Quantity {
				t.Fatalf("%s ask %d: %v came back as %v", in.Ticker, i, l, got.Asks[i])
			}
		}
	}
}

func TestAppendDecimal(t *testing.T) {
	for _, tc := range []struct {
		n        int64
		decimals int
		want     string
	}{
		{33465, 2, "334.65"}, {33460, 2, "334.6"}, {33400, 2, "334"}, {25, 4, "0.0025"},
		{-5, 1, "-0.5"}, {0, 3, "0"}, {7, 0, "7"}, {1000000, 2, "10000"},
	} {
		if got := string(appendDecimal(nil, tc.n, tc.decimals)); got != tc.want {
			t.Errorf("appendDecimal(%d, %d) = %q, want %q", tc.n, tc.decimals, got, tc.want)
		}
	}
}

// Stats tell a test driving a fake clock when the simulator has produced
// what was due: LastTick reaches the clock's time after a tick, and every
// data frame queued is counted before it is written.
func TestStatsTellWhatIsDue(t *testing.T) {
	h := newHarness(t, nil)
	bond := h.liveInstrument(tvbridge.Bond)
	if st := h.srv.Stats(); !st.LastTick.IsZero() || st.FramesQueued != 0 {
		t.Fatalf("before any tick: %+v", st)
	}
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: bond.FIGI, Interval: "1min"})
	c.sync()
	h.advance(30 * time.Second)
	st := h.srv.Stats()
	if !st.LastTick.Equal(h.now()) {
		t.Errorf("LastTick %v after a tick at %v", st.LastTick, h.now())
	}
	if st.FramesQueued < st.FramesSent || st.FramesQueued == 0 {
		t.Errorf("FramesQueued %d, FramesSent %d: every frame sent was queued first", st.FramesQueued, st.FramesSent)
	}
}
