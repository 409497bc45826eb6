package v2sim

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge/clock"
	"tvbridge/sim/market"
	"tvbridge/tinvest"
	"tvbridge/tinvest/wire"
)

// testStart is a Wednesday, 11:00 in Moscow: the default universe trades.
var testStart = time.Date(2024, 3, 13, 8, 0, 0, 0, time.UTC)

// waitLimit only guards against a hung test; nothing waits for it normally.
const waitLimit = 10 * time.Second

const testToken = "t.test"

var sharedMarket = market.New(market.Config{Seed: 7, Instruments: 12})

// SBER trades about once a second on MOEX; BTC_RUB round the clock.
const (
	sber = "BBG004730N88"
	aapl = "BBG000B9XRY4"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness is a simulator on a fake clock behind a loopback HTTP server.
type harness struct {
	t     *testing.T
	m     *market.Market
	clk   *clock.Fake
	srv   *Server
	hs    *httptest.Server
	ticks chan time.Time
}

func newHarness(t *testing.T, start time.Time, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, m: sharedMarket, clk: clock.NewFake(start), ticks: make(chan time.Time)}
	cfg := Config{Market: h.m, Clock: h.clk, Tick: time.Second, Tokens: []string{testToken}, Logger: quiet}
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

// advance moves the fake clock by d (a whole number of Ticks, at least
// one) and waits until the emission loop has processed the tick.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	select {
	case <-h.ticks:
	case <-time.After(waitLimit):
		h.t.Fatalf("no tick after advancing %v", d)
	}
}

// step advances by d in steps of at most one minute... of size each.
func (h *harness) steps(total, each time.Duration) {
	h.t.Helper()
	for d := time.Duration(0); d < total; d += each {
		h.advance(each)
	}
}

func (h *harness) restURL() string { return h.hs.URL + wire.RESTPath }

func (h *harness) wsURL(method string) string {
	return "ws" + strings.TrimPrefix(h.hs.URL, "http") + wire.StreamPath + method
}

// client is a tinvest REST client of the simulator on its fake clock.
func (h *harness) client(mod func(*tinvest.Config)) *tinvest.Client {
	cfg := tinvest.Config{BaseURL: h.restURL(), Token: testToken, Clock: h.clk, Logger: quiet, MaxRetries: 3}
	if mod != nil {
		mod(&cfg)
	}
	return tinvest.NewClient(cfg)
}

// post calls a REST method with a raw body and returns status, header and body.
func (h *harness) post(token, method, body string) (int, http.Header, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.restURL()+method, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// call calls a method with the typed client and fails the test on error.
func call[Resp any](t *testing.T, c *tinvest.Client, method string, req any) Resp {
	t.Helper()
	var r Resp
	if err := c.Call(context.Background(), method, req, &r); err != nil {
		t.Fatalf("%s: %v", wire.MethodName(method), err)
	}
	return r
}

// wsClient is a raw WebSocket client that collects every frame.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn

	mu     sync.Mutex
	frames [][]byte
	closed *websocket.CloseError
	err    error
	more   chan struct{}
}

func (h *harness) dial(method string, header http.Header, protos ...string) (*wsClient, *http.Response, error) {
	if header == nil {
		header = http.Header{"Authorization": {"Bearer " + testToken}}
	}
	d := websocket.Dialer{Subprotocols: protos}
	if len(protos) == 0 {
		d.Subprotocols = []string{"json"}
	}
	ws, resp, err := d.Dial(h.wsURL(method), header)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: h.t, ws: ws, more: make(chan struct{}, 1)}
	go c.read()
	h.t.Cleanup(func() { ws.Close() })
	return c, resp, nil
}

func (h *harness) dialMD() *wsClient {
	h.t.Helper()
	c, _, err := h.dial(wire.MethodMarketDataStream, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (c *wsClient) read() {
	for {
		_, data, err := c.ws.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.err = err
			if ce, ok := err.(*websocket.CloseError); ok {
				c.closed = ce
			}
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
			return
		}
		c.frames = append(c.frames, data)
		c.mu.Unlock()
		select {
		case c.more <- struct{}{}:
		default:
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor waits until ok holds for the frames received so far.
func (c *wsClient) waitFor(what string, ok func(frames [][]byte, closed *websocket.CloseError) bool) [][]byte {
	c.t.Helper()
	deadline := time.After(waitLimit)
	for {
		c.mu.Lock()
		frames, closed := append([][]byte(nil), c.frames...), c.closed
		c.mu.Unlock()
		if ok(frames, closed) {
			return frames
		}
		select {
		case <-c.more:
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s; %d frames, closed %v", what, len(frames), closed)
		}
	}
}

// waitCount waits for at least n frames.
func (c *wsClient) waitCount(n int) [][]byte {
	c.t.Helper()
	return c.waitFor("frames", func(f [][]byte, _ *websocket.CloseError) bool { return len(f) >= n })
}

// waitClose waits for the server's close frame.
func (c *wsClient) waitClose() *websocket.CloseError {
	c.t.Helper()
	c.waitFor("close", func(_ [][]byte, ce *websocket.CloseError) bool { return ce != nil })
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// md decodes market-data frames.
func md(t *testing.T, frames [][]byte) []wire.MarketDataResponse {
	t.Helper()
	out := make([]wire.MarketDataResponse, len(frames))
	for i, f := range frames {
		if err := json.Unmarshal(f, &out[i]); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
	}
	return out
}

func uidOf(h *harness, figi string) string { return h.srv.cat.byFIGI[figi].uid }

// synced waits until the client has read every text frame the server
// queued on its streams so far (one stream per test that uses it).
func (c *wsClient) synced(h *harness) [][]byte {
	c.t.Helper()
	return c.waitFor("every queued frame", func(f [][]byte, _ *websocket.CloseError) bool {
		return uint64(len(f)) >= h.srv.Stats().FramesQueued
	})
}
