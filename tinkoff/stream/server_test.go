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
	"tvbridge/tinkoff/wire"
)

// fakeServer is a small stand-in for the v1 streaming service on a loopback
// socket: it checks the bearer token, can refuse handshakes from a script,
// records every client frame per connection, keeps the server-side view of
// active subscriptions (which, like the real service, does not dedupe), and
// counts how many sockets are open or being handshaken at once.
type fakeServer struct {
	t     *testing.T
	srv   *httptest.Server
	token string // the accepted token

	clock *clock.Fake // when set, handshake times are recorded on it

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on every change
	handshakeAt []time.Time
	script      []int // HTTP statuses for the next handshakes; 0 accepts
	handshakes  int
	refusals    map[int]int
	open        int // handshakes in progress plus accepted sockets not yet closed
	maxOpen     int
	conns       []*serverConn
	silent      bool // ignore client pings, as a dead peer would
	limit       int  // when > 0, handshakes beyond this many open sockets get 423, like the service's per-user cap
	noEcho      bool // leave request_id out of error events
	refuse      map[string]bool
	onRequest   func(sc *serverConn, req wire.StreamRequest)
}

type serverConn struct {
	srv    *fakeServer
	ws     *websocket.Conn
	wmu    sync.Mutex
	closed bool                    // guarded by srv.mu
	frames []wire.StreamRequest    // guarded by srv.mu
	active map[string]int          // subscription key -> subscribes minus unsubscribes; guarded by srv.mu
	pings  []string                // payloads of client pings; guarded by srv.mu
	pongs  []string                // payloads of client pongs; guarded by srv.mu
	figis  map[string]struct{}     // FIGIs ever subscribed here; guarded by srv.mu
	subs   []tvbridge.Subscription // subscribe frames, in order; guarded by srv.mu
}

func newFakeServer(t *testing.T) *fakeServer { return startFakeServer(t, httptest.NewServer) }

// newFakeTLSServer serves wss:// with a certificate from httptest's own CA.
func newFakeTLSServer(t *testing.T) *fakeServer { return startFakeServer(t, httptest.NewTLSServer) }

func startFakeServer(t *testing.T, start func(http.Handler) *httptest.Server) *fakeServer {
	s := &fakeServer{t: t, token: "secret-token", changed: make(chan struct{}), refusals: map[int]int{}, refuse: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc(wire.StreamPath, s.handle)
	s.srv = start(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// url is ws:// or wss:// to the stream path.
func (s *fakeServer) url() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + wire.StreamPath
}

// notifyLocked wakes everyone waiting for a change.
func (s *fakeServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.handshakes++
	if s.clock != nil {
		s.handshakeAt = append(s.handshakeAt, s.clock.Now())
	}
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	status := 0
	if len(s.script) > 0 {
		status, s.script = s.script[0], s.script[1:]
	}
	switch auth := r.Header.Get("Authorization"); {
	case status != 0:
	case s.limit > 0 && s.open-1 >= s.limit:
		status = http.StatusLocked
	case auth == "":
		status = http.StatusUnauthorized
	case auth != "Bearer "+s.token:
		status = http.StatusForbidden
	}
	if status != 0 {
		// Stop counting before answering: the client may redial as soon
		// as it has read the answer.
		s.open--
		s.refusals[status]++
		s.notifyLocked()
		s.mu.Unlock()
		http.Error(w, http.StatusText(status), status)
		return
	}
	s.mu.Unlock()
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
		return
	}
	sc := &serverConn{srv: s, ws: ws, active: map[string]int{}, figis: map[string]struct{}{}}
	ws.SetPingHandler(func(data string) error {
		s.mu.Lock()
		sc.pings = append(sc.pings, data)
		silent := s.silent
		s.notifyLocked()
		s.mu.Unlock()
		if silent {
			return nil
		}
		sc.wmu.Lock()
		defer sc.wmu.Unlock()
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	ws.SetPongHandler(func(data string) error {
		s.mu.Lock()
		sc.pongs = append(sc.pongs, data)
		s.notifyLocked()
		s.mu.Unlock()
		return nil
	})
	s.mu.Lock()
	s.conns = append(s.conns, sc)
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
			return
		}
		var req wire.StreamRequest
		if err := json.Unmarshal(data, &req); err != nil {
			s.t.Errorf("server got a frame that is not a request: %q", data)
			return
		}
		s.mu.Lock()
		sc.record(req)
		refuse := s.refuse[req.FIGI] && strings.HasSuffix(req.Event, ":subscribe")
		echo := !s.noEcho
		hook := s.onRequest
		s.notifyLocked()
		s.mu.Unlock()
		if refuse {
			kind, _, _ := strings.Cut(req.Event, ":")
			payload := wire.ErrorPayload{Error: fmt.Sprintf("Subscription %s:subscribe. FIGI %s not found", kind, req.FIGI)}
			if echo {
				payload.RequestID = req.RequestID
			}
			sc.sendJSON(wire.EventError, payload)
		} else if hook != nil {
			hook(sc, req)
		}
	}
}

// record applies a request to the server-side view. Called with srv.mu held.
func (sc *serverConn) record(req wire.StreamRequest) {
	sc.frames = append(sc.frames, req)
	kind, action, _ := strings.Cut(req.Event, ":")
	sub := tvbridge.Subscription{Kind: tvbridge.SubscriptionKind(kind), FIGI: req.FIGI,
		Interval: tvbridge.CandleInterval(req.Interval), Depth: req.Depth}
	switch action {
	case "subscribe":
		sc.active[sub.String()]++
		sc.figis[req.FIGI] = struct{}{}
		sc.subs = append(sc.subs, sub)
	case "unsubscribe":
		sc.active[sub.String()]--
	}
}

// send writes a raw text frame.
func (sc *serverConn) send(frame string) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_ = sc.ws.WriteMessage(websocket.TextMessage, []byte(frame)) // the client may be gone; tests check what arrived
}

// sendJSON writes an event envelope with the given payload.
func (sc *serverConn) sendJSON(event string, payload any) {
	p, err := json.Marshal(payload)
	if err != nil {
		sc.srv.t.Fatal(err)
	}
	env, _ := json.Marshal(wire.StreamEnvelope{Event: event, Time: time.Now().UTC().Format(wire.TimeLayout), Payload: p})
	sc.send(string(env))
}

func (sc *serverConn) ping(data string) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_ = sc.ws.WriteControl(websocket.PingMessage, []byte(data), time.Now().Add(time.Second))
}

// dropAll closes every open connection abruptly, as the service does in
// bursts. The count goes down before the socket closes, so the client
// cannot be seen redialing before the server has let go.
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
		sc.ws.NetConn().Close() // no close frame: a 1006
	}
}

// drop closes the first open connection that carries figi.
func (s *fakeServer) drop(figi string) {
	s.mu.Lock()
	var victim *serverConn
	for _, sc := range s.openConnsLocked() {
		if _, ok := sc.figis[figi]; ok {
			victim = sc
			break
		}
	}
	if victim != nil {
		victim.closed = true
		s.open--
		s.notifyLocked()
	}
	s.mu.Unlock()
	if victim != nil {
		victim.ws.NetConn().Close()
	}
}

// countLines counts the log lines that contain every one of parts.
func countLines(logs *syncBuffer, parts ...string) int {
	n := 0
	for line := range strings.SplitSeq(logs.String(), "\n") {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(line, part)
		}
		if all && line != "" {
			n++
		}
	}
	return n
}

// openConns returns the connections not closed yet. Called with s.mu held.
func (s *fakeServer) openConnsLocked() []*serverConn {
	var out []*serverConn
	for _, sc := range s.conns {
		if !sc.closed {
			out = append(out, sc)
		}
	}
	return out
}

// activeLocked sums the active subscriptions of the open connections by key.
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

// exactlyLocked reports whether the open connections carry exactly subs,
// each once.
func (s *fakeServer) exactlyLocked(subs []tvbridge.Subscription) bool {
	active := s.activeLocked()
	if len(active) != len(subs) {
		return false
	}
	for _, sub := range subs {
		if active[sub.String()] != 1 {
			return false
		}
	}
	return true
}

// waitFor blocks until cond, evaluated with s.mu held after every change,
// holds. The deadline is a generous safety net, not a timing assertion.
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

// advanceUntil moves the fake clock forward in steps until cond holds, for
// progress that needs time to pass (backoff). Between steps it lets the
// pool run until the server sees a change or a moment passes; the result
// never depends on how long that is, only the number of steps does.
func (s *fakeServer) advanceUntil(fake *clock.Fake, step time.Duration, what string, cond func() bool) {
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
			s.t.Fatalf("timed out waiting for %s (fake time %v)", what, fake.Now())
		}
		fake.Advance(step)
		select {
		case <-ch:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pass moves the fake clock forward by d in steps, letting the pool run
// between them as advanceUntil does.
func (s *fakeServer) pass(fake *clock.Fake, d, step time.Duration) {
	s.t.Helper()
	end := fake.Now().Add(d)
	s.advanceUntil(fake, step, fmt.Sprintf("%v to pass", d), func() bool { return !fake.Now().Before(end) })
}

// with runs f with s.mu held, for reading server state in assertions.
func (s *fakeServer) with(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// syncBuffer is a goroutine-safe log sink.
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

// testConfig returns a pool config for the fake server on a fake clock. Its
// logger fails the test if the token ever shows up in a log line.
func testConfig(t *testing.T, s *fakeServer, fake *clock.Fake) (Config, *syncBuffer) {
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
		Clock:        fake,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PingInterval: time.Hour, // tests that need pings set it
		StallTimeout: 24 * time.Hour,
		DataSilence:  24 * time.Hour, // tests of the data-silence watchdog set it
	}, logs
}

// startPool runs p until the test ends; stop cancels and returns Run's error.
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

// nextEvent returns the next event, failing the test after a generous wait.
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

// eventually polls cond, for pool state the server cannot observe (Stats).
// A last resort; the deadline is generous and not a timing assertion.
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

func bookSub(figi string) tvbridge.Subscription {
	return tvbridge.Subscription{Kind: tvbridge.SubOrderBook, FIGI: figi, Depth: 10}
}

func infoSub(figi string) tvbridge.Subscription {
	return tvbridge.Subscription{Kind: tvbridge.SubInstrumentInfo, FIGI: figi}
}

func figiN(i int) string { return fmt.Sprintf("BBG%09d", i) }
