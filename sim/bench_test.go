package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge/clock"
	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

// offsetClock is the real clock shifted to another instant: it runs at
// wall-clock speed, but in a week and hour when the venues trade.
type offsetClock struct {
	clock.Real
	offset time.Duration
}

func (c offsetClock) Now() time.Time                  { return time.Now().Add(c.offset) }
func (c offsetClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// benchMarket is built once: the 10,000-instrument universe.
var benchMarket *market.Market

// BenchmarkStream10k measures the events per second the stream delivers
// over loopback to one client subscribed to every instrument of the
// 10,000-instrument universe, on the real clock with unthrottled updates
// (the throttles would cap the rate below the server's capacity). One op is
// one event received; the target is >= 50,000 events/s.
//
// The model caps what the first case can reach: its books change every
// 250 ms (4/s x 10,000) and its 1-minute candles about 1,400 times a second
// in all, about 41,000 events/s. The second case adds a depth-20 book per
// instrument, doubling the demand, to measure the server's capacity.
//
//	go test -run '^$' -bench Stream10k -benchtime 5s -count 5 ./sim/
func BenchmarkStream10k(b *testing.B) {
	b.Run("candles+book10", func(b *testing.B) { benchStream(b, 10) })
	b.Run("candles+book10+book20", func(b *testing.B) { benchStream(b, 10, 20) })
}

func benchStream(b *testing.B, depths ...int) {
	if benchMarket == nil {
		benchMarket = market.New(market.Config{Seed: 1, Instruments: 10_000})
	}
	// Wednesday 15:00 UTC: MOEX and the US venues are both open.
	at := time.Date(2024, 3, 13, 15, 0, 0, 0, time.UTC)
	srv := New(Config{
		Market:         benchMarket,
		Clock:          offsetClock{offset: time.Until(at)},
		CandleThrottle: Unthrottled,
		BookThrottle:   Unthrottled,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+wire.StreamPath, authHeader("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()

	subscribeAll(b, ws, benchMarket, depths)
	b.ResetTimer()
	start := time.Now()
	events := 0
	for events < b.N {
		_, data, err := ws.ReadMessage()
		if err != nil {
			b.Fatalf("after %d events: %v", events, err)
		}
		if bytes.HasPrefix(data, []byte(`{"event":"candle"`)) || bytes.HasPrefix(data, []byte(`{"event":"orderbook"`)) {
			events++
		}
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}

// subscribeAll subscribes every instrument and waits until the server has
// answered a marker request sent after them, so snapshots are not counted.
func subscribeAll(b *testing.B, ws *websocket.Conn, m *market.Market, depths []int) {
	done := make(chan error, 1)
	go func() {
		var err error
		for _, in := range m.Instruments() {
			if err = ws.WriteJSON(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"}); err != nil {
				break
			}
			for _, depth := range depths {
				if err = ws.WriteJSON(wire.StreamRequest{Event: "orderbook:subscribe", FIGI: in.FIGI, Depth: depth}); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if err == nil {
			err = ws.WriteJSON(wire.StreamRequest{Event: "instrument_info:subscribe", FIGI: "MARKER", RequestID: "marker"})
		}
		done <- err
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte(`{"event":"error"`)) {
			continue
		}
		var env struct{ Payload wire.ErrorPayload }
		if err := json.Unmarshal(data, &env); err != nil {
			b.Fatal(err)
		}
		if env.Payload.RequestID == "marker" {
			break
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
