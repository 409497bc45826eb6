package sim

import (
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

func TestDropConnectionsIsAbrupt(t *testing.T) {
	h := newHarness(t, nil)
	c1, c2, c3 := h.connect(), h.connect(), h.connect() // registered in this order
	if n := h.srv.Faults().DropConnections(2); n != 2 {
		t.Fatalf("DropConnections(2) dropped %d", n)
	}
	for i, c := range []*client{c1, c2} {
		if err := c.closedErr(); !abrupt(err) {
			t.Errorf("client %d: want an abrupt close, got %v", i+1, err)
		}
	}
	c3.sync() // the youngest survived
	if n := h.srv.Faults().DropAll(); n != 1 {
		t.Fatalf("DropAll dropped %d, want 1", n)
	}
	if err := c3.closedErr(); !abrupt(err) {
		t.Errorf("client 3: want an abrupt close, got %v", err)
	}
	if got := h.srv.Stats().Faults.Dropped; got != 3 {
		t.Errorf("Faults.Dropped = %d, want 3", got)
	}
}

// candleFrames advances the clock second by second for d and returns the
// candle frames received meanwhile.
func candleFrames(h *harness, c *client, d time.Duration) []frame {
	var out []frame
	for end := h.now().Add(d); h.now().Before(end); {
		h.advance(time.Second)
		if h.now().Second() == 0 {
			out = append(out, ofEvent(c.sync(), wire.EventCandle)...)
		}
	}
	return append(out, ofEvent(c.sync(), wire.EventCandle)...)
}

func TestDuplicateFault(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CandleThrottle = Unthrottled })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"})
	c.sync()
	h.srv.Faults().Duplicate(true)
	got := candleFrames(h, c, 2*time.Minute)
	if len(got) == 0 || len(got)%2 != 0 {
		t.Fatalf("want candle frames in pairs, got %d", len(got))
	}
	for i := 0; i < len(got); i += 2 {
		if string(got[i].raw) != string(got[i+1].raw) {
			t.Fatalf("pair %d differs: %s / %s", i/2, got[i].raw, got[i+1].raw)
		}
	}
	if st := h.srv.Stats().Faults.Duplicated; st != uint64(len(got)/2) {
		t.Errorf("Faults.Duplicated = %d, want %d", st, len(got)/2)
	}
}

func TestReorderFault(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CandleThrottle = Unthrottled })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"})
	c.sync()
	h.srv.Faults().Reorder(true)
	var olderMinute, olderState int
	newest := ""
	volume := map[string]float64{}
	for _, f := range candleFrames(h, c, 4*time.Minute) {
		p := candleOf(f)
		switch {
		case p.Time < newest:
			olderMinute++
		case p.V < volume[p.Time]:
			olderState++
		}
		newest = max(newest, p.Time)
		volume[p.Time] = max(volume[p.Time], p.V)
	}
	if olderMinute == 0 || olderState == 0 {
		t.Fatalf("want stale states and stale minutes, got %d and %d", olderState, olderMinute)
	}
	if h.srv.Stats().Faults.Reordered == 0 {
		t.Error("Faults.Reordered not counted")
	}
}

func TestStallFault(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.CandleThrottle = Unthrottled
		c.BookThrottle = Unthrottled
	})
	stocks := []*tvbridge.Instrument{}
	for _, in := range h.m.Instruments() {
		if in.Type == tvbridge.Stock && h.m.Status(in.FIGI, testStart).Trading() && len(stocks) < 2 {
			stocks = append(stocks, &in.Instrument)
		}
	}
	c := h.connect()
	c.send(wire.StreamRequest{Event: "orderbook:subscribe", FIGI: stocks[0].FIGI, Depth: 1})
	c.sync()
	pings := c.pings.Load()
	h.srv.Faults().Stall(true)
	// While stalled the server still reads: this subscription takes effect.
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: stocks[1].FIGI, Interval: "1min"})
	for range 20 {
		h.advance(time.Second)
	}
	h.srv.Faults().Stall(false)
	if got := c.sync(); len(got) != 0 {
		t.Fatalf("%d frames arrived from the stall", len(got))
	}
	if c.pings.Load() != pings {
		t.Fatal("pinged while stalled")
	}
	var sawCandle bool
	for i := 0; i < 120 && !sawCandle; i++ {
		h.advance(time.Second)
		for _, f := range ofEvent(c.sync(), wire.EventCandle) {
			sawCandle = sawCandle || candleOf(f).FIGI == stocks[1].FIGI
		}
	}
	if !sawCandle {
		t.Fatal("the subscription made during the stall delivers nothing")
	}
	st := h.srv.Stats()
	if st.FramesWithheld == 0 || st.Faults.StallChanges != 2 {
		t.Errorf("stats: withheld %d, stall changes %d", st.FramesWithheld, st.Faults.StallChanges)
	}
}

func TestSkipCloseFault(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CandleThrottle = time.Hour })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"})
	c.sync()
	h.srv.Faults().SkipClose(true)
	finals := func(frames []frame) int {
		n := 0
		for _, f := range frames {
			start, _ := time.Parse(time.RFC3339, candleOf(f).Time)
			if !f.sent.Before(start.Add(time.Minute)) {
				n++
			}
		}
		return n
	}
	if n := finals(candleFrames(h, c, 5*time.Minute)); n != 0 {
		t.Fatalf("%d final candles sent under SkipClose", n)
	}
	if h.srv.Stats().Faults.SkippedCloses < 4 {
		t.Fatalf("SkippedCloses = %d", h.srv.Stats().Faults.SkippedCloses)
	}
	h.srv.Faults().SkipClose(false)
	if n := finals(candleFrames(h, c, 3*time.Minute)); n < 2 {
		t.Fatalf("%d final candles without the fault", n)
	}
}
