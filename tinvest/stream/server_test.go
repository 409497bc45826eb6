package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// fakeServer is a small stand-in for the v2 MarketDataStream on a loopback
// socket: it checks the token (header or subprotocol), reads requests,
// keeps each socket's subscriptions, answers every request with a status
// per instrument (statusFor decides; SUCCESS by default), refuses a
// subscription beyond perStream with LIMIT_IS_EXCEEDED as the service
// does, and records request times on the fake clock.
type fakeServer struct {
	t     *testing.T
	srv   *httptest.Server
	token string
	clock *clock.Fake

	mu        sync.Mutex
	changed   chan struct{}
	conns     []*serverConn
	open      int
	maxOpen   int
	reqTimes  []time.Time
	perStream int
	statusFor func(kind, id string) wire.SubscriptionStatus
	handshake []int // scripted handshake statuses
	// maxStreams, when > 0, is the token's stream limit: a stream beyond it
	// is upgraded and then closed with 4008 (80001), as the service does.
	maxStreams    int
	heldElsewhere int // streams of the limit another client holds
	refused       int // streams closed with 80001
}

type serverConn struct {
	srv    *fakeServer
	ws     *websocket.Conn
	wmu    sync.Mutex
	closed bool
	// active: "kind:id[:interval|depth]" -> count
	active   map[string]int
	requests []wire.MarketDataRequest
	closeMsg *websocket.CloseError // what the client sent when it closed
}

func newFakeServer(t *testing.T, fake *clock.Fake) *fakeServer {
	s := &fakeServer{t: t, token: "secret-token", clock: fake, changed: make(chan struct{}), perStream: 300}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/"+wire.MethodMarketDataStream, s.handle)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeServer) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws/" }

func (s *fakeServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	status := 0
	if len(s.handshake) > 0 {
		status, s.handshake = s.handshake[0], s.handshake[1:]
	}
	protos := websocket.Subprotocols(r)
	auth := r.Header.Get("Authorization")
	if status == 0 && auth != "Bearer "+s.token && !(len(protos) == 2 && protos[0] == "json" && protos[1] == s.token) {
		status = http.StatusUnauthorized
	}
	if status != 0 {
		s.notifyLocked()
		s.mu.Unlock()
		w.Header().Set(wire.HeaderTrackingID, "trk-hs")
		http.Error(w, http.StatusText(status), status)
		return
	}
	s.mu.Unlock()
	ws, err := (&websocket.Upgrader{Subprotocols: []string{"json"}}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	sc := &serverConn{srv: s, ws: ws, active: map[string]int{}}
	s.mu.Lock()
	if s.maxStreams > 0 && s.open+s.heldElsewhere >= s.maxStreams {
		s.refused++
		s.notifyLocked()
		s.mu.Unlock()
		// As the service does: the close frame, then read until the client
		// closes (so its writes meanwhile do not meet a reset).
		sc.wmu.Lock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(wire.CloseResourceExhausted,
			wire.ErrTooManyStreams+": too many market data streams for this token"), time.Now().Add(time.Second))
		sc.wmu.Unlock()
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				break
			}
		}
		ws.Close()
		return
	}
	s.conns = append(s.conns, sc)
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	s.notifyLocked()
	s.mu.Unlock()
	sc.readLoop()
}

func (sc *serverConn) readLoop() {
	s := sc.srv
	defer func() {
		s.mu.Lock()
		if !sc.closed {
			sc.closed = true
			s.open--
		}
		s.notifyLocked()
		s.mu.Unlock()
		sc.ws.Close()
	}()
	for {
		_, data, err := sc.ws.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				s.mu.Lock()
				sc.closeMsg = ce
				s.mu.Unlock()
			}
			return
		}
		var req wire.MarketDataRequest
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.t.Errorf("server got a frame that is not a MarketDataRequest: %s: %v", data, err)
			return
		}
		s.mu.Lock()
		sc.requests = append(sc.requests, req)
		if req.PingSettings == nil && req.Ping == nil {
			s.reqTimes = append(s.reqTimes, s.clock.Now())
		}
		resp := sc.applyLocked(req)
		s.notifyLocked()
		s.mu.Unlock()
		if resp != nil {
			sc.sendJSON(resp)
		}
	}
}

// countedLocked is the socket's candle, book and trade subscriptions.
func (sc *serverConn) countedLocked() int {
	n := 0
	for k, v := range sc.active {
		if !strings.HasPrefix(k, "info:") && v > 0 {
			n += v
		}
	}
	return n
}

func (sc *serverConn) statusLocked(kind, id string, subscribe bool) wire.SubscriptionStatus {
	s := sc.srv
	if !subscribe {
		return wire.SubscriptionStatusSuccess
	}
	if s.statusFor != nil {
		if st := s.statusFor(kind, id); st != "" {
			return st
		}
	}
	if kind != "info" && sc.countedLocked() >= s.perStream {
		return wire.SubscriptionStatusLimitExceeded
	}
	return wire.SubscriptionStatusSuccess
}

func (sc *serverConn) applyLocked(req wire.MarketDataRequest) *wire.MarketDataResponse {
	if req.Ping != nil {
		return &wire.MarketDataResponse{Ping: &wire.Ping{Time: wire.At(sc.srv.clock.Now()), PingRequestTime: req.Ping.Time}}
	}
	apply := func(key string, subscribe bool, st wire.SubscriptionStatus) {
		if st != wire.SubscriptionStatusSuccess {
			return
		}
		if subscribe {
			sc.active[key]++
		} else if sc.active[key] > 0 {
			sc.active[key]--
		}
	}
	switch {
	case req.SubscribeCandlesRequest != nil:
		r := req.SubscribeCandlesRequest
		sub := r.SubscriptionAction == wire.SubscriptionActionSubscribe
		out := &wire.SubscribeCandlesResponse{TrackingID: "trk"}
		for _, in := range r.Instruments {
			st := sc.statusLocked("candle", in.InstrumentID, sub)
			apply("candle:"+in.InstrumentID+":"+string(in.Interval), sub, st)
			out.CandlesSubscriptions = append(out.CandlesSubscriptions, wire.CandleSubscription{
				FIGI: "F-" + in.InstrumentID, InstrumentUID: in.InstrumentID, Interval: in.Interval, SubscriptionStatus: st,
				SubscriptionAction: r.SubscriptionAction})
		}
		return &wire.MarketDataResponse{SubscribeCandlesResponse: out}
	case req.SubscribeOrderBookRequest != nil:
		r := req.SubscribeOrderBookRequest
		sub := r.SubscriptionAction == wire.SubscriptionActionSubscribe
		out := &wire.SubscribeOrderBookResponse{TrackingID: "trk"}
		for _, in := range r.Instruments {
			st := sc.statusLocked("orderbook", in.InstrumentID, sub)
			if in.Depth != 1 && in.Depth%10 != 0 {
				st = wire.SubscriptionStatusDepthInvalid
			}
			apply(fmt.Sprintf("orderbook:%s:%d", in.InstrumentID, in.Depth), sub, st)
			out.OrderBookSubscriptions = append(out.OrderBookSubscriptions, wire.OrderBookSubscription{
				InstrumentUID: in.InstrumentID, Depth: in.Depth, SubscriptionStatus: st})
		}
		return &wire.MarketDataResponse{SubscribeOrderBookResponse: out}
	case req.SubscribeTradesRequest != nil:
		r := req.SubscribeTradesRequest
		sub := r.SubscriptionAction == wire.SubscriptionActionSubscribe
		out := &wire.SubscribeTradesResponse{TrackingID: "trk"}
		for _, in := range r.Instruments {
			st := sc.statusLocked("trade", in.InstrumentID, sub)
			apply("trade:"+in.InstrumentID, sub, st)
			out.TradeSubscriptions = append(out.TradeSubscriptions, wire.TradeSubscription{
				InstrumentUID: in.InstrumentID, SubscriptionStatus: st})
		}
		return &wire.MarketDataResponse{SubscribeTradesResponse: out}
	case req.SubscribeInfoRequest != nil:
		r := req.SubscribeInfoRequest
		sub := r.SubscriptionAction == wire.SubscriptionActionSubscribe
		out := &wire.SubscribeInfoResponse{TrackingID: "trk"}
		for _, in := range r.Instruments {
			st := sc.statusLocked("info", in.InstrumentID, sub)
			apply("info:"+in.InstrumentID, sub, st)
			out.InfoSubscriptions = append(out.InfoSubscriptions, wire.InfoSubscription{
				InstrumentUID: in.InstrumentID, SubscriptionStatus: st})
		}
		return &wire.MarketDataResponse{SubscribeInfoResponse: out}
	}
	return nil
}

func (sc *serverConn) sendJSON(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		sc.srv.t.Error(err)
		return
	}
	sc.send(string(data))
}

func (sc *serverConn) send(frame string) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_ = sc.ws.WriteMessage(websocket.TextMessage, []byte(frame))
}

// closeWith closes the socket with a close frame.
func (sc *serverConn) closeWith(code int, text string) {
	sc.wmu.Lock()
	_ = sc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	sc.wmu.Unlock()
	sc.ws.Close()
}

// dropAll closes every open socket abruptly (no close frame).
func (s *fakeServer) dropAll() {
	s.mu.Lock()
	var victims []*serverConn
	for _, sc := range s.conns {
		if !sc.closed {
			sc.closed = true
			s.open--
			victims = append(victims, sc)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, sc := range victims {
		sc.ws.NetConn().Close()
	}
}

func (s *fakeServer) openConnsLocked() []*serverConn {
	var out []*serverConn
	for _, sc := range s.conns {
		if !sc.closed {
			out = append(out, sc)
		}
	}
	return out
}

// activeLocked sums the active subscriptions of the open sockets.
func (s *fakeServer) activeLocked() map[string]int {
	out := map[string]int{}
	for _, sc := range s.openConnsLocked() {
		for k, n := range sc.active {
			if n != 0 {
				out[k] += n
			}
		}
	}
	return out
}

func (s *fakeServer) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			s.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// advanceUntil moves the fake clock in steps until cond holds; between
// steps the pool runs until the server sees a change or a moment passes.
// The result depends on the number of steps, never on timing.
func (s *fakeServer) advanceUntil(step time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s (fake time %v)", what, s.clock.Now())
		}
		s.clock.Advance(step)
		select {
		case <-ch:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *fakeServer) with(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig is a pool config for the fake server; the log fails the test
// if the token ever shows up.
func testConfig(t *testing.T, s *fakeServer) Config {
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), s.token) {
			t.Errorf("the token leaked into the log:\n%s", logs.String())
		}
		if t.Failed() {
			t.Logf("pool log:\n%s", logs.String())
		}
	})
	return Config{
		URL:          s.url(),
		Token:        s.token,
		Clock:        s.clock,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		StallTimeout: 24 * time.Hour,
		DataSilence:  24 * time.Hour,
		// uids: "U-"+FIGI
		InstrumentID: func(figi string) string { return "U-" + figi },
	}
}

func startPool(t *testing.T, p *Pool) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// runUntilFatal runs p and returns Run's result channel, for tests where
// Run must stop by itself.
func runUntilFatal(t *testing.T, p *Pool) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(cancel)
	go func() { // drain events so Run's output stage never matters
		for range p.Events() {
		}
	}()
	return done
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func nextEvent(t *testing.T, p *Pool) tvbridge.Event {
	t.Helper()
	select {
	case ev := <-p.Events():
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

// eventually polls pool state the server cannot see; a last resort.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func candleSub(figi string) tvbridge.Subscription {
	return tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: figi, Interval: tvbridge.Interval1Min}
}
func tradeSub(figi string) tvbridge.Subscription {
	return tvbridge.Subscription{Kind: tvbridge.SubTrade, FIGI: figi}
}
func bookSub(figi string, d int) tvbridge.Subscription {
	return tvbridge.Subscription{Kind: tvbridge.SubOrderBook, FIGI: figi, Depth: d}
}
func infoSub(figi string) tvbridge.Subscription {
	return tvbridge.Subscription{Kind: tvbridge.SubInstrumentInfo, FIGI: figi}
}
func figiN(i int) string { return fmt.Sprintf("BBG%09d", i) }
