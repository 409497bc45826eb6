package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

// testStart is a Wednesday, 11:00 in Moscow: exchanges of the default
// universe are open.
var testStart = time.Date(2024, 3, 13, 8, 0, 0, 0, time.UTC)

// waitLimit only guards against a hung test; nothing waits for it normally.
const waitLimit = 20 * time.Second

const testToken = "t.test"

// harness is a simulator on a fake clock behind a loopback HTTP server.
type harness struct {
	t     *testing.T
	m     *market.Market
	clk   *clock.Fake
	srv   *Server
	hs    *httptest.Server
	ticks chan time.Time
}

var sharedMarket = market.New(market.Config{Seed: 7})

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, m: sharedMarket, clk: clock.NewFake(testStart), ticks: make(chan time.Time)}
	cfg := Config{
		Market: h.m,
		Clock:  h.clk,
		Tick:   time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	h.srv = newServer(cfg, h.ticks)
	h.hs = httptest.NewServer(h.srv.Handler())
	h.clk.BlockUntil(1) // the emission loop's ticker is armed
	t.Cleanup(func() {
		h.srv.Close()
		h.hs.Close()
	})
	return h
}

// advance moves the fake clock by d (at least one Tick) and waits until the
// emission loop has processed the tick.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	select {
	case <-h.ticks:
	case <-time.After(waitLimit):
		h.t.Fatalf("no tick after advancing %v", d)
	}
}

func (h *harness) now() time.Time { return h.clk.Now() }

func (h *harness) wsURL() string {
	return "ws" + strings.TrimPrefix(h.hs.URL, "http") + wire.StreamPath
}

// dialStatus dials the stream and returns the HTTP status of a refusal.
func (h *harness) dialStatus(header http.Header) (*websocket.Conn, int) {
	ws, resp, err := websocket.DefaultDialer.Dial(h.wsURL(), header)
	if err != nil {
		if resp == nil {
			h.t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	return ws, http.StatusSwitchingProtocols
}

func authHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// client is a test stream client; a goroutine reads every frame into frames.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan frame
	pings  atomic.Int64
	pongs  chan string
	syncs  int
}

// frame is one received frame, already checked to decode into wire types.
type frame struct {
	env  wire.StreamEnvelope
	raw  []byte
	err  error // set on the last frame when the connection failed
	sent time.Time
}

func (h *harness) connect() *client {
	h.t.Helper()
	ws, status := h.dialStatus(authHeader(testToken))
	if ws == nil {
		h.t.Fatalf("handshake refused with %d", status)
	}
	c := &client{t: h.t, ws: ws, frames: make(chan frame, 1<<17), pongs: make(chan string, 8)}
	ws.SetPingHandler(func(data string) error {
		c.pings.Add(1)
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	ws.SetPongHandler(func(data string) error {
		select {
		case c.pongs <- data:
		default:
		}
		return nil
	})
	go c.readLoop()
	h.t.Cleanup(func() { ws.Close() })
	c.sync() // the server has registered the connection
	return c
}

func (c *client) readLoop() {
	defer close(c.frames)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.frames <- frame{err: err}
			return
		}
		f := frame{raw: data}
		f.err = decodeFrame(data, &f)
		c.frames <- f
	}
}

// decodeFrame checks a frame against the wire types, strictly.
func decodeFrame(data []byte, f *frame) error {
	if err := strictUnmarshal(data, &f.env); err != nil {
		return fmt.Errorf("envelope %s: %w", data, err)
	}
	t, err := time.Parse(time.RFC3339Nano, f.env.Time)
	if err != nil {
		return fmt.Errorf("envelope time %q: %w", f.env.Time, err)
	}
	f.sent = t
	var payload any
	switch f.env.Event {
	case wire.EventCandle:
		payload = &wire.CandlePayload{}
	case wire.EventOrderBook:
		payload = &wire.OrderBookPayload{}
	case wire.EventInstrumentInfo:
		payload = &wire.InstrumentInfoPayload{}
	case wire.EventError:
		payload = &wire.ErrorPayload{}
	default:
		return fmt.Errorf("unknown event %q", f.env.Event)
	}
	if err := strictUnmarshal(f.env.Payload, payload); err != nil {
		return fmt.Errorf("%s payload %s: %w", f.env.Event, f.env.Payload, err)
	}
	return nil
}

func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (c *client) send(v any) {
	c.t.Helper()
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next frame, failing the test on a decode error.
func (c *client) next() frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed")
		}
		if f.err != nil {
			c.t.Fatalf("frame: %v", f.err)
		}
		return f
	case <-time.After(waitLimit):
		c.t.Fatal("no frame")
	}
	return frame{}
}

// sync returns every frame received before a marker: an error answer to a
// deliberately bad request. The server queues everything in order, so when
// the marker arrives, all that was queued before it has arrived too.
func (c *client) sync() []frame {
	c.t.Helper()
	c.syncs++
	id := fmt.Sprintf("sync-%d", c.syncs)
	c.send(wire.StreamRequest{Event: "instrument_info:subscribe", FIGI: "NO-SUCH-FIGI", RequestID: id})
	var out []frame
	for {
		f := c.next()
		if f.env.Event == wire.EventError && errorOf(f).RequestID == id {
			return out
		}
		out = append(out, f)
	}
}

// syncPing is sync for a silenced connection, which answers no request:
// the marker is the pong to a ping of the client. Pongs go through the same
// send queue as everything else, and the client reads every frame before it
// into frames before it handles the pong.
func (c *client) syncPing() []frame {
	c.t.Helper()
	c.syncs++
	id := fmt.Sprintf("ping-%d", c.syncs)
	if err := c.ws.WriteControl(websocket.PingMessage, []byte(id), time.Now().Add(time.Second)); err != nil {
		c.t.Fatalf("ping: %v", err)
	}
	deadline := time.After(waitLimit)
	for got := ""; got != id; {
		select {
		case got = <-c.pongs:
		case <-deadline:
			c.t.Fatalf("no pong to %s", id)
		}
	}
	var out []frame
	for {
		select {
		case f, ok := <-c.frames:
			if !ok || f.err != nil {
				c.t.Fatalf("frame: %v", f.err)
			}
			out = append(out, f)
		default:
			return out
		}
	}
}

// closedErr waits for the connection to fail and returns the read error.
func (c *client) closedErr() error {
	c.t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatal("frames closed without an error")
			}
			if f.raw == nil && f.err != nil {
				return f.err
			}
		case <-deadline:
			c.t.Fatal("connection still open")
		}
	}
}

func candleOf(f frame) wire.CandlePayload {
	var p wire.CandlePayload
	json.Unmarshal(f.env.Payload, &p)
	return p
}

func bookOf(f frame) wire.OrderBookPayload {
	var p wire.OrderBookPayload
	json.Unmarshal(f.env.Payload, &p)
	return p
}

func infoOf(f frame) wire.InstrumentInfoPayload {
	var p wire.InstrumentInfoPayload
	json.Unmarshal(f.env.Payload, &p)
	return p
}

func errorOf(f frame) wire.ErrorPayload {
	var p wire.ErrorPayload
	json.Unmarshal(f.env.Payload, &p)
	return p
}

func ofEvent(frames []frame, event string) []frame {
	var out []frame
	for _, f := range frames {
		if f.env.Event == event {
			out = append(out, f)
		}
	}
	return out
}

// liveInstrument returns the instrument of the given type with the most
// trades in the first minute of the harness's clock.
func (h *harness) liveInstrument(typ tvbridge.InstrumentType) *market.Instrument {
	h.t.Helper()
	var best *market.Instrument
	most := 0
	for _, in := range h.m.Instruments() {
		if in.Type != typ || !h.m.Status(in.FIGI, testStart).Trading() {
			continue
		}
		if n := len(h.m.MinuteTrades(in.FIGI, testStart)); n > most {
			best, most = in, n
		}
	}
	if best == nil {
		h.t.Fatalf("no live %s at %v", typ, testStart)
	}
	return best
}

// restResult is a decoded REST answer.
type restResult struct {
	status int
	raw    []byte
	env    wire.Envelope
	err    wire.ErrorBody // for error envelopes
}

// rest calls the REST API with the test token; body may be nil.
func (h *harness) rest(method, path string, query url.Values, body any) restResult {
	h.t.Helper()
	return h.restAs(testToken, method, path, query, body)
}

func (h *harness) restAs(token, method, path string, query url.Values, body any) restResult {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	u := h.hs.URL + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	res := restResult{status: resp.StatusCode}
	if res.raw, err = io.ReadAll(resp.Body); err != nil {
		h.t.Fatal(err)
	}
	if len(res.raw) > 0 {
		if err := strictUnmarshal(res.raw, &res.env); err != nil {
			h.t.Fatalf("%s %s: envelope %s: %v", method, path, res.raw, err)
		}
		if res.env.Status == "Error" {
			if err := strictUnmarshal(res.env.Payload, &res.err); err != nil {
				h.t.Fatalf("%s %s: error payload %s: %v", method, path, res.env.Payload, err)
			}
		}
	}
	return res
}

// ok asserts a successful envelope and decodes its payload strictly.
func (r restResult) ok(t *testing.T, payload any) {
	t.Helper()
	if r.status != http.StatusOK || r.env.Status != "Ok" {
		t.Fatalf("want 200 Ok, got %d %s", r.status, r.raw)
	}
	if r.env.TrackingID == "" {
		t.Fatalf("no trackingId in %s", r.raw)
	}
	if payload != nil {
		if err := strictUnmarshal(r.env.Payload, payload); err != nil {
			t.Fatalf("payload %s: %v", r.env.Payload, err)
		}
	}
}

// fails asserts an error envelope with the given HTTP status and code.
func (r restResult) fails(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.env.Status != "Error" || r.err.Code != code {
		t.Fatalf("want %d %s, got %d %s", status, code, r.status, r.raw)
	}
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(data)
}
