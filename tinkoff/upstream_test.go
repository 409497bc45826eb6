package tinkoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/stream"
	"tvbridge/tinkoff/wire"
)

func TestStreamURL(t *testing.T) {
	cases := map[string]string{
		"https://api-invest.tinkoff.ru/openapi":          "wss://api-invest.tinkoff.ru/openapi/md/v1/md-openapi/ws",
		"https://api-invest.tinkoff.ru/openapi/sandbox/": "wss://api-invest.tinkoff.ru/openapi/md/v1/md-openapi/ws",
		"http://127.0.0.1:8081/openapi":                  "ws://127.0.0.1:8081/openapi/md/v1/md-openapi/ws",
	}
	for in, want := range cases {
		if got, err := StreamURL(in); err != nil || got != want {
			t.Errorf("StreamURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://x/openapi", "http:///openapi", "://x"} {
		if got, err := StreamURL(bad); err == nil {
			t.Errorf("StreamURL(%q) = %q, want an error", bad, got)
		}
	}
}

func newTestUpstream(f *fakeService, clk clock.Clock) *Upstream {
	return NewUpstream(UpstreamConfig{REST: ClientConfig{
		BaseURL: f.srv.URL + "/openapi", Token: "secret-token", Clock: clk, Logger: slog.New(slog.DiscardHandler),
	}})
}

func TestUpstreamCandlesOnlyClosed(t *testing.T) {
	f := newFakeService(t)
	from := time.Date(2021, 6, 1, 11, 0, 0, 0, time.UTC)
	candleServer(t, f, from, time.Minute)
	now := time.Date(2021, 6, 1, 12, 0, 30, 0, time.UTC) // the 12:00 candle is forming
	u := newTestUpstream(f, clock.NewFake(now))

	got, err := u.Candles(context.Background(), "BBG000B9XRY4", from, from.Add(2*time.Hour), tvbridge.Interval1Min)
	if err != nil {
		t.Fatal(err)
	}
	checkCandles(t, got, from, now.Truncate(time.Minute), time.Minute, tvbridge.Interval1Min)
	reqs := requestWindows(t, f)
	if len(reqs) != 1 || !reqs[0][1].Equal(now) {
		t.Fatalf("requests %v: want one, ending now (%s)", reqs, now)
	}

	// A range wholly in the future asks nothing and returns nothing.
	got, err = u.Candles(context.Background(), "BBG000B9XRY4", now.Add(time.Hour), now.Add(2*time.Hour), tvbridge.Interval1Min)
	if err != nil || len(got) != 0 || len(f.recorded()) != 1 {
		t.Fatalf("future range: %v, %v, %d requests", got, err, len(f.recorded()))
	}
	// Invalid requests still fail, future or not.
	if _, err := u.Candles(context.Background(), "F", now.Add(time.Hour), now.Add(2*time.Hour), tvbridge.Interval2Hour); err == nil {
		t.Fatal("2hour accepted")
	}
}

func TestCandleEnd(t *testing.T) {
	t0 := time.Date(2021, 1, 31, 0, 0, 0, 0, time.UTC)
	cases := map[tvbridge.CandleInterval]time.Time{
		tvbridge.Interval5Min:  t0.Add(5 * time.Minute),
		tvbridge.IntervalHour:  t0.Add(time.Hour),
		tvbridge.IntervalDay:   t0.Add(day),
		tvbridge.IntervalWeek:  t0.Add(7 * day),
		tvbridge.IntervalMonth: time.Date(2021, 3, 3, 0, 0, 0, 0, time.UTC), // AddDate normalises Feb 31
	}
	for iv, want := range cases {
		if got := candleEnd(tvbridge.Candle{Time: t0, Interval: iv}); !got.Equal(want) {
			t.Errorf("%s: end %s, want %s", iv, got, want)
		}
	}
}

// TestUpstreamEndToEnd runs the adapter against one loopback server that
// serves both REST and the stream: the stream URL is derived from the REST
// BaseURL and the REST token is used for the stream handshake.
func TestUpstreamEndToEnd(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/market/orderbook", map[string]any{"figi": "F1", "depth": 1, "tradeStatus": "NormalTrading",
		"bids": []map[string]any{{"price": 10, "quantity": 1}}, "asks": []map[string]any{}, "minPriceIncrement": 0.1})
	subscribed := make(chan wire.StreamRequest, 16)
	auth := make(chan string, 1)
	f.handle("GET", wire.StreamPath, func(w http.ResponseWriter, r *http.Request) {
		// Sends never block, so a reconnect cannot wedge the server's Close.
		select {
		case auth <- r.Header.Get("Authorization"):
		default:
		}
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			var req wire.StreamRequest
			if err := ws.ReadJSON(&req); err != nil {
				return
			}
			select {
			case subscribed <- req:
			default:
			}
			if req.Event == "candle:subscribe" {
				frame := fmt.Sprintf(`{"event":"candle","time":"2021-06-01T12:00:01.5Z","payload":{"o":1,"c":2,"h":3,"l":0.5,"v":7,"time":"2021-06-01T12:00:00Z","interval":"1min","figi":%q}}`, req.FIGI)
				if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
					return
				}
			}
		}
	})
	u := newTestUpstream(f, clock.Real{})
	if u.Client() == nil || u.Pool() == nil {
		t.Fatal("accessors return nil")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- u.Run(ctx) }()

	f.ok("GET", "/openapi/market/stocks", map[string]any{"instruments": []map[string]any{
		{"figi": "F1", "ticker": "T", "lot": 1, "currency": "RUB", "name": "n", "type": "Stock"}}})
	for _, p := range []string{"bonds", "etfs", "currencies"} {
		f.ok("GET", "/openapi/market/"+p, map[string]any{"instruments": []any{}})
	}
	insts, err := u.Instruments(ctx)
	if err != nil || len(insts) != 1 || insts[0].Exchange != "MOEX" {
		t.Fatalf("instruments: %+v, %v", insts, err)
	}
	book, err := u.OrderBook(ctx, "F1", 1)
	if err != nil || book.TradeStatus != tvbridge.StatusNormalTrading {
		t.Fatalf("order book: %+v, %v", book, err)
	}
	epoch, live := u.StreamState("F1")
	if live {
		t.Error("F1's stream is live before it was subscribed")
	}
	u.Subscribe(tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: "F1", Interval: tvbridge.Interval1Min})

	deadline := time.After(10 * time.Second) // an overall guard only; the test does not wait on it
	select {
	case a := <-auth:
		if a != "Bearer secret-token" {
			t.Fatalf("stream Authorization %q", a)
		}
	case <-deadline:
		t.Fatal("the stream never connected")
	}
	select {
	case req := <-subscribed:
		if req.Event != "candle:subscribe" || req.FIGI != "F1" || req.Interval != "1min" {
			t.Fatalf("subscribe frame %+v", req)
		}
	case <-deadline:
		t.Fatal("no subscribe frame")
	}
	select {
	case ev := <-u.Events():
		ce, ok := ev.(*tvbridge.CandleEvent)
		if !ok || ce.Candle.FIGI != "F1" || ce.Candle.Volume != 7 || ce.Candle.High != 3 {
			b, _ := json.Marshal(ev)
			t.Fatalf("event %T %s", ev, b)
		}
	case <-deadline:
		t.Fatal("no candle event")
	}
	if e, live := u.StreamState("F1"); e == epoch || !live {
		t.Errorf("StreamState after the stream connected: epoch %d (was %d), live %v", e, epoch, live)
	}
	u.Unsubscribe(tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: "F1", Interval: tvbridge.Interval1Min})
	select {
	case req := <-subscribed:
		if req.Event != "candle:unsubscribe" || req.FIGI != "F1" || req.Interval != "1min" {
			t.Fatalf("unsubscribe frame %+v", req)
		}
	case <-deadline:
		t.Fatal("no unsubscribe frame")
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, open := <-u.Events(); open {
		// Drain whatever was queued; the channel must end closed.
		for range u.Events() {
		}
	}
}

func TestUpstreamStreamRejectsToken(t *testing.T) {
	f := newFakeService(t)
	f.raw("GET", wire.StreamPath, http.StatusForbidden, "text/plain", "invalid token")
	u := newTestUpstream(f, clock.Real{})
	u.Subscribe(tvbridge.Subscription{Kind: tvbridge.SubInstrumentInfo, FIGI: "F1"})
	// The timeout only guards against a hang; a 403 must end Run at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.Run(ctx); !errors.Is(err, stream.ErrForbidden) {
		t.Fatalf("Run = %v, want stream.ErrForbidden", err)
	}
}
