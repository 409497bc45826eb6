package stream

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/wire"
)

// Frames are counted by kind, lost connections by cause, subscriptions by
// kind and state, and every instrument that sent a frame has a last-frame
// time: what package metrics exports.
func TestCountsForMetrics(t *testing.T) {
	candle := `{"event":"candle","time":"2024-03-04T10:00:01Z","payload":{"o":10,"c":11,"h":12,"l":9,"v":100,"time":"2024-03-04T10:00:00Z","interval":"1min","figi":"A"}}`
	book := `{"event":"orderbook","payload":{"figi":"A","depth":10,"bids":[[10,1]],"asks":[[11,2]]}}`
	srv := newFakeServer(t)
	srv.onRequest = func(sc *serverConn, req wire.StreamRequest) {
		switch req.Event {
		case "candle:subscribe":
			sc.send(candle)
			sc.send(`{"event":"candle","payload":`) // truncated
			sc.send(`{"event":"news","payload":{}}`)
		case "orderbook:subscribe":
			sc.send(book)
		}
	}
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.MaxConnections, cfg.MaxPerConnection = 1, 1
	p := New(cfg)
	startPool(t, p)
	p.Subscribe(candleSub("A"), bookSub("A"), infoSub("B")) // B waits: one connection, one instrument

	eventually(t, "frames read", func() bool { return p.Stats().FramesRead == 4 })
	st := p.Stats()
	if want := (FrameCounts{Candle: 1, OrderBook: 1, Unknown: 1, Undecodable: 1}); st.Frames != want {
		t.Errorf("frames %+v, want %+v", st.Frames, want)
	}
	subs := map[string]int{}
	for _, c := range p.Subscriptions() {
		if c.N != 0 {
			subs[string(c.Kind)+"/"+c.State] += c.N
		}
	}
	want := map[string]int{string(tvbridge.SubCandle) + "/live": 1, string(tvbridge.SubOrderBook) + "/live": 1,
		string(tvbridge.SubInstrumentInfo) + "/waiting": 1}
	if len(subs) != len(want) {
		t.Errorf("subscriptions %v, want %v", subs, want)
	}
	for k, n := range want {
		if subs[k] != n {
			t.Errorf("subscriptions %v, want %v", subs, want)
		}
	}
	var lastA time.Time
	p.LastFrames(func(figi string, last time.Time) {
		if figi != "A" {
			t.Errorf("last frame of %s, which sent none", figi)
		}
		lastA = last
	})
	if !lastA.Equal(fake.Now()) {
		t.Errorf("last frame of A at %v, want %v", lastA, fake.Now())
	}

	// An abrupt drop is a read error; the replay reopens the connection.
	srv.dropAll()
	srv.advanceUntil(fake, 100*time.Millisecond, "reconnected", func() bool { return len(srv.conns) == 2 })
	eventually(t, "loss counted", func() bool { return p.Stats().Lost.ReadError == 1 })
	if l := p.Stats().Lost; l != (LostCounts{ReadError: 1}) {
		t.Errorf("lost %+v, want one read error", l)
	}
}

func TestLostCause(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{errStalled, lostStall},
		{errDataSilent, lostDataSilence},
		{readFailure{errStalled}, lostStall},
		{readFailure{nil}, lostReadError},
		{readFailure{&websocket.CloseError{Code: websocket.CloseGoingAway}}, lostServerClose},
		{readFailure{&websocket.CloseError{Code: websocket.CloseAbnormalClosure}}, lostReadError},
		{errRetired, lostWriteError}, // never counted: runSlot does not count a retired connection
	} {
		if got := lostCause(c.err); got != c.want {
			t.Errorf("lostCause(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
