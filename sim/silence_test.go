package sim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

// liveStocks returns n stocks trading at testStart, the busiest first.
func (h *harness) liveStocks(n int) []*market.Instrument {
	h.t.Helper()
	first := h.liveInstrument(tvbridge.Stock)
	out := []*market.Instrument{first}
	for _, in := range h.m.Instruments() {
		if len(out) == n {
			break
		}
		if in != first && in.Type == tvbridge.Stock && h.m.Status(in.FIGI, testStart).Trading() &&
			len(h.m.MinuteTrades(in.FIGI, testStart)) > 0 {
			out = append(out, in)
		}
	}
	if len(out) < n {
		h.t.Fatalf("only %d live stocks", len(out))
	}
	return out
}

// TestSilence: a silent connection stays open, is pinged and answers pings
// (syncPing's marker is the server's pong), applies requests, and sends no
// text frame; afterwards every stream resumes
// with its current state, the subscriptions made meanwhile included, and
// the finals of the silent minutes are recorded as withheld.
func TestSilence(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RecordFinals = true })
	stocks := h.liveStocks(2)
	a, b := stocks[0], stocks[1]
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: a.FIGI, Interval: "1min"})
	c.send(wire.StreamRequest{Event: "orderbook:subscribe", FIGI: a.FIGI, Depth: 5})
	c.send(wire.StreamRequest{Event: "instrument_info:subscribe", FIGI: a.FIGI})
	for range 30 {
		h.advance(time.Second)
	}
	c.sync()
	pings := c.pings.Load()
	h.srv.Faults().Silence(true)
	silencedAt := h.now()
	// Requests are applied, valid or not, and answered by nothing.
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: b.FIGI, Interval: "1min"})
	c.send(wire.StreamRequest{Event: "orderbook:subscribe", FIGI: b.FIGI, Depth: 1})
	c.send(wire.StreamRequest{Event: "instrument_info:subscribe", FIGI: b.FIGI})
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: "NO-SUCH-FIGI", Interval: "1min", RequestID: "nope"})
	if got := c.syncPing(); len(got) != 0 {
		t.Fatalf("silent, yet sent %s", got[0].raw)
	}
	if subs := h.srv.Stats().Subscriptions; len(subs) != 1 || subs[0] != 6 {
		t.Fatalf("Subscriptions = %v, want [6]", subs)
	}
	for range 180 {
		h.advance(time.Second)
	}
	if got := c.syncPing(); len(got) != 0 {
		t.Fatalf("silent, yet sent %d frames, the first %s", len(got), got[0].raw)
	}
	if got := c.pings.Load() - pings; got != 180/5 {
		t.Errorf("%d server pings in 3 silent minutes, want 36", got)
	}
	// REST is unaffected.
	rest := h.restCandles(a.FIGI, silencedAt.Truncate(time.Minute))
	if len(rest) != 3 {
		t.Errorf("REST has %d closed minutes of the silence, want 3", len(rest))
	}

	h.srv.Faults().Silence(false)
	h.advance(time.Second)
	now := h.now()
	got := c.sync()
	candles := map[string]wire.CandlePayload{}
	books, infos := map[string]bool{}, map[string]bool{}
	for _, f := range got {
		if !f.sent.Equal(now) {
			t.Errorf("a frame from %v after the silence: %s", f.sent, f.raw)
		}
		switch f.env.Event {
		case wire.EventCandle:
			p := candleOf(f)
			if _, dup := candles[p.FIGI]; dup {
				t.Errorf("two candle frames of %s", p.FIGI)
			}
			candles[p.FIGI] = p
		case wire.EventOrderBook:
			books[bookOf(f).FIGI] = true
		case wire.EventInstrumentInfo:
			infos[infoOf(f).FIGI] = true
		}
	}
	minute := now.Truncate(time.Minute)
	for _, in := range stocks {
		// The forming candle as it stands: every trade of the minute so far.
		want, _ := h.m.Candle(in.FIGI, tvbridge.Interval1Min, minute, now)
		if p, ok := candles[in.FIGI]; !ok || minuteOf(t, p) != minute || !sameCandle(p, want) {
			t.Errorf("%s: resumed with %+v, want %+v", in.Ticker, p, want)
		}
		if !books[in.FIGI] {
			t.Errorf("%s: no book after the silence", in.Ticker)
		}
	}
	if !infos[b.FIGI] {
		t.Error("the status subscribed during the silence never came")
	}
	if infos[a.FIGI] {
		t.Error("an unchanged status was re-sent")
	}
	for m := silencedAt.Truncate(time.Minute); m.Before(minute); m = m.Add(time.Minute) {
		for _, in := range stocks {
			rec, ok := h.srv.Final(in.FIGI, tvbridge.Interval1Min, m)
			if !ok || rec.Fate != FinalWithheld || rec.Carried || !rec.At.Equal(m.Add(time.Minute)) {
				t.Errorf("%s %v: record %+v (found %v)", in.Ticker, m, rec, ok)
			}
		}
	}
	if st := h.srv.Stats().Faults; st.Silenced != 3*2+3+1 { // finals, snapshots, the error
		t.Errorf("Faults.Silenced = %d, want %d", st.Silenced, 3*2+3+1)
	}
	// The connection answers requests again.
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: "NO-SUCH-FIGI", Interval: "1min", RequestID: "yes"})
	if f := c.next(); f.env.Event != wire.EventError || errorOf(f).RequestID != "yes" {
		t.Fatalf("want the error event, got %s", f.raw)
	}
}

// TestSilenceInstruments: only the named instruments go quiet; errors and
// the other instruments flow; the silenced one resumes with its current
// candle.
func TestSilenceInstruments(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CandleThrottle = Unthrottled; c.RecordFinals = true })
	stocks := h.liveStocks(2)
	quiet, loud := stocks[0], stocks[1]
	c := h.connect()
	start := h.now()
	for _, in := range stocks {
		c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"})
	}
	c.sync()
	h.srv.Faults().SilenceInstruments(quiet.FIGI)
	if s := h.srv.Faults().Settings().SilencedInstruments; len(s) != 1 || s[0] != quiet.FIGI {
		t.Fatalf("Settings().SilencedInstruments = %v", s)
	}
	frames := h.run(c, 2*time.Minute+30*time.Second) // sync: errors still flow
	loudFrames := 0
	for _, f := range frames {
		switch candleOf(f).FIGI {
		case quiet.FIGI:
			t.Fatalf("silenced instrument sent %s", f.raw)
		case loud.FIGI:
			loudFrames++
		}
	}
	if loudFrames < 60 {
		t.Errorf("the other instrument sent %d frames in 150 s", loudFrames)
	}
	for m := start; m.Before(start.Add(2 * time.Minute)); m = m.Add(time.Minute) {
		if rec, _ := h.srv.Final(quiet.FIGI, tvbridge.Interval1Min, m); rec.Fate != FinalWithheld {
			t.Errorf("%s %v: %+v", quiet.Ticker, m, rec)
		}
		if rec, _ := h.srv.Final(loud.FIGI, tvbridge.Interval1Min, m); rec.Fate != FinalOnTime || !rec.Carried {
			t.Errorf("%s %v: %+v", loud.Ticker, m, rec)
		}
	}
	h.srv.Faults().SilenceInstruments()
	h.advance(time.Second)
	var resumed []wire.CandlePayload
	for _, f := range c.sync() {
		if p := candleOf(f); p.FIGI == quiet.FIGI {
			resumed = append(resumed, p)
		}
	}
	want, _ := h.m.Candle(quiet.FIGI, tvbridge.Interval1Min, h.now().Truncate(time.Minute), h.now())
	if len(resumed) != 1 || !sameCandle(resumed[0], want) {
		t.Fatalf("resumed with %+v, want one frame %+v", resumed, want)
	}
}

// TestSilenceSchedule: silent during the first length of every period,
// periods aligned on the epoch; pings go on throughout.
func TestSilenceSchedule(t *testing.T) {
	const every, length = 2 * time.Minute, 50 * time.Second
	h := newHarness(t, func(c *Config) { c.CandleThrottle = Unthrottled; c.BookThrottle = Unthrottled })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"})
	c.send(wire.StreamRequest{Event: "orderbook:subscribe", FIGI: in.FIGI, Depth: 1})
	c.sync()
	pings := c.pings.Load()
	h.srv.Faults().SilenceSchedule(every, length)
	if s := h.srv.Faults().Settings(); s.SilenceEvery != every || s.SilenceFor != length || s.SilenceScheduleInstruments != nil {
		t.Fatalf("Settings() = %+v", s)
	}
	heard := map[time.Time]bool{}
	for range 6 * 60 {
		h.advance(time.Second)
		if h.now().Second()%10 == 0 {
			for _, f := range c.syncPing() {
				heard[f.sent] = true
			}
		}
	}
	resumed := 0
	for s := testStart.Add(time.Second); !s.After(h.now()); s = s.Add(time.Second) {
		phase := s.Sub(testStart) % every // testStart is on the epoch's grid
		if phase < length && heard[s] {
			t.Errorf("a frame sent at %v, in a silence", s)
		}
		// The first tick after a silence sends the book at least: it is
		// due for a repeat.
		if phase == length {
			if !heard[s] {
				t.Errorf("nothing sent at %v, as the silence ended", s)
			}
			resumed++
		}
	}
	if resumed != 3 {
		t.Errorf("%d silences ended, want 3", resumed)
	}
	if got := c.pings.Load() - pings; got != 6*60/5 {
		t.Errorf("%d pings in 6 minutes, want 72", got)
	}
	h.srv.Faults().SilenceSchedule(0, 0)
	if s := h.srv.Faults().Settings(); s.SilenceEvery != 0 {
		t.Fatalf("schedule not cleared: %+v", s)
	}
}

// TestConnectionCap: a cap below Config.MaxConnections refuses handshakes
// with 423; raising it lets the client in; lowering it keeps what is open;
// ConnectionCap(0) restores the configured cap.
func TestConnectionCap(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxConnections = 6 })
	f := h.srv.Faults()
	f.ConnectionCap(2)
	dial := func(want int) *websocket.Conn {
		t.Helper()
		ws, status := h.dialStatus(authHeader(testToken))
		if status != want {
			t.Fatalf("handshake: %d, want %d", status, want)
		}
		if ws != nil {
			t.Cleanup(func() { ws.Close() })
		}
		return ws
	}
	var open []*websocket.Conn
	for range 2 {
		open = append(open, dial(http.StatusSwitchingProtocols))
	}
	dial(http.StatusLocked)
	// Other tokens have their own slots.
	if ws, status := h.dialStatus(authHeader("t.other")); ws == nil {
		t.Fatalf("another token refused with %d", status)
	} else {
		ws.Close()
	}
	if st := h.srv.Stats(); st.ConnectionCap != 2 || st.HandshakesRefused[http.StatusLocked] != 1 {
		t.Fatalf("stats: cap %d, refused %v", st.ConnectionCap, st.HandshakesRefused)
	}
	f.ConnectionCap(4)
	for range 2 {
		open = append(open, dial(http.StatusSwitchingProtocols))
	}
	dial(http.StatusLocked)
	// Lowered below what is open: the four stay, new ones are refused.
	f.ConnectionCap(1)
	dial(http.StatusLocked)
	for i, ws := range open {
		// Still served: a bad request is answered.
		if err := ws.WriteJSON(wire.StreamRequest{Event: "candle:subscribe", FIGI: "NOPE", Interval: "1min"}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if _, data, err := ws.ReadMessage(); err != nil || !strings.Contains(string(data), `"error"`) {
			t.Fatalf("connection %d: %s, %v", i, data, err)
		}
	}
	f.ConnectionCap(0)
	if st := h.srv.Stats(); st.ConnectionCap != 6 || f.Settings().ConnectionCap != 0 {
		t.Fatalf("cap after ConnectionCap(0): %d", st.ConnectionCap)
	}
	for range 2 {
		dial(http.StatusSwitchingProtocols)
	}
	dial(http.StatusLocked)
	if got := h.srv.Stats().HandshakesRefused[http.StatusLocked]; got != 4 {
		t.Errorf("423s: %d, want 4", got)
	}
}
