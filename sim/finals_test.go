package sim

import (
	"net/url"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// run advances the clock second by second for d and returns the candle
// frames the client received meanwhile, in order.
func (h *harness) run(c *client, d time.Duration) []frame {
	h.t.Helper()
	for end := h.now().Add(d); h.now().Before(end); {
		h.advance(time.Second)
	}
	return ofEvent(c.sync(), wire.EventCandle)
}

func minuteOf(t *testing.T, p wire.CandlePayload) time.Time {
	t.Helper()
	m, err := time.Parse(time.RFC3339, p.Time)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameCandle(p wire.CandlePayload, c tvbridge.Candle) bool {
	return p.O == c.Open && p.C == c.Close && p.H == c.High && p.L == c.Low && p.V == c.Volume
}

// restCandles returns the simulator's closed 1-minute REST candles of figi
// starting in [from, now), by start.
func (h *harness) restCandles(figi string, from time.Time) map[time.Time]wire.Candle {
	h.t.Helper()
	q := url.Values{"figi": {figi}, "interval": {"1min"},
		"from": {from.Format(time.RFC3339)}, "to": {h.now().Format(time.RFC3339)}}
	var got wire.Candles
	h.rest("GET", "/openapi/market/candles", q, nil).ok(h.t, &got)
	out := map[time.Time]wire.Candle{}
	for _, rc := range got.Candles {
		m, err := time.Parse(time.RFC3339, rc.Time)
		if err != nil {
			h.t.Fatal(err)
		}
		out[m] = rc
	}
	return out
}

func sameAsREST(p wire.CandlePayload, rc wire.Candle) bool {
	return p.O == rc.O && p.C == rc.C && p.H == rc.H && p.L == rc.L && p.V == float64(rc.V)
}

// minuteStream is what one 1-minute candle stream carried, minute by minute.
type minuteStream struct {
	updates map[time.Time][]frame // frames sent before the minute's end
	finals  map[time.Time][]frame // frames sent at or after it
}

// checkMinuteStream checks the frames of one 1-minute stream subscribed at
// start (a minute boundary) with CandleThrottle throttle and LateFinals
// delay: every update carries the model's candle at its send time, updates
// respect the throttle and wait for the previous minute's final (due at the
// minute's start plus delay) whether or not it is sent, minutes never go
// backwards, and a final is the model's closed candle sent exactly when due.
func checkMinuteStream(t *testing.T, h *harness, figi string, start time.Time, throttle, delay time.Duration, frames []frame) minuteStream {
	t.Helper()
	ms := minuteStream{updates: map[time.Time][]frame{}, finals: map[time.Time][]frame{}}
	var newest, lastUpdate time.Time
	for i, f := range frames {
		p := candleOf(f)
		m := minuteOf(t, p)
		end := m.Add(time.Minute)
		if p.FIGI != figi || p.Interval != "1min" {
			t.Fatalf("frame %d: %s", i, f.raw)
		}
		if m.Before(newest) {
			t.Fatalf("frame %d: a frame of %v after one of %v: %s", i, m, newest, f.raw)
		}
		newest = m
		if f.sent.Before(end) {
			if len(ms.finals[m]) > 0 {
				t.Fatalf("frame %d: an update of %v after its final", i, m)
			}
			want, _ := h.m.Candle(figi, tvbridge.Interval1Min, m, f.sent)
			if !sameCandle(p, want) {
				t.Fatalf("frame %d at %v: %+v, the model says %+v", i, f.sent, p, want)
			}
			if m.After(start) && f.sent.Before(m.Add(delay)) {
				t.Fatalf("frame %d: an update of %v at %v, before the previous final was due", i, m, f.sent)
			}
			if !lastUpdate.IsZero() && f.sent.Sub(lastUpdate) < throttle {
				t.Fatalf("frame %d: updates %v apart, throttle %v", i, f.sent.Sub(lastUpdate), throttle)
			}
			lastUpdate = f.sent
			ms.updates[m] = append(ms.updates[m], f)
			continue
		}
		want, _ := h.m.Candle(figi, tvbridge.Interval1Min, m, end)
		if !f.sent.Equal(end.Add(delay)) || !sameCandle(p, want) {
			t.Fatalf("frame %d: final %+v at %v, want %+v at %v", i, p, f.sent, want, end.Add(delay))
		}
		ms.finals[m] = append(ms.finals[m], f)
	}
	return ms
}

// lastState returns the payload of the last update of minute m, if any.
func (ms minuteStream) lastState(m time.Time) (wire.CandlePayload, bool) {
	u := ms.updates[m]
	if len(u) == 0 {
		return wire.CandlePayload{}, false
	}
	return candleOf(u[len(u)-1]), true
}

func subscribeMinutes(h *harness, c *client, figi string) {
	h.t.Helper()
	c.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: figi, Interval: "1min"})
	if got := c.sync(); len(got) != 0 {
		h.t.Fatalf("a snapshot at %v, before any trade", h.now())
	}
}

// TestLateFinals: under LateFinals and a 5 s throttle (the real service's
// rate), each minute's final state goes out exactly delay after the minute,
// before the next minute's first update, and is the REST candle; the last
// trades of a minute often reach the stream only in that final.
func TestLateFinals(t *testing.T) {
	const throttle, delay = 5 * time.Second, 2 * time.Second
	h := newHarness(t, func(c *Config) { c.CandleThrottle = throttle; c.RecordFinals = true })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	start := h.now()
	subscribeMinutes(h, c, in.FIGI)
	h.srv.Faults().LateFinals(delay)
	ms := checkMinuteStream(t, h, in.FIGI, start, throttle, delay, h.run(c, 6*time.Minute+delay))

	rest := h.restCandles(in.FIGI, start)
	if len(rest) != 6 {
		t.Fatalf("REST has %d closed minutes, want 6", len(rest))
	}
	onlyInFinal := 0
	for m, rc := range rest {
		finals := ms.finals[m]
		if len(finals) != 1 || !sameAsREST(candleOf(finals[0]), rc) {
			t.Fatalf("%v: finals %d, REST %+v", m, len(finals), rc)
		}
		if last, ok := ms.lastState(m); !ok || !sameAsREST(last, rc) {
			onlyInFinal++
		}
		rec, ok := h.srv.Final(in.FIGI, tvbridge.Interval1Min, m)
		due := m.Add(time.Minute + delay)
		if !ok || rec.Fate != FinalLate || !rec.At.Equal(due) || !rec.Due.Equal(due) || !rec.Carried ||
			rec.Candle.Volume != float64(rc.V) || rec.Candle.Close != rc.C {
			t.Errorf("%v: record %+v (found %v)", m, rec, ok)
		}
	}
	if len(ms.finals) != len(rest) {
		t.Errorf("%d finals for %d closed minutes", len(ms.finals), len(rest))
	}
	if onlyInFinal == 0 {
		t.Error("no minute's last trades came in its final only; the test shows nothing")
	}
	if got := h.srv.Stats().Faults.LateFinals; got != uint64(len(rest)) {
		t.Errorf("Faults.LateFinals = %d, want %d", got, len(rest))
	}
	if got := len(h.srv.Finals()); got != len(rest) {
		t.Errorf("Finals() holds %d records, want %d", got, len(rest))
	}

	// Back to finals at the rollover.
	h.srv.Faults().LateFinals(0)
	from := h.now().Truncate(time.Minute).Add(time.Minute)
	checkMinuteStream(t, h, in.FIGI, from, throttle, 0, h.run(c, 3*time.Minute))
	for m := from; m.Add(time.Minute).Before(h.now()); m = m.Add(time.Minute) {
		if rec, ok := h.srv.Final(in.FIGI, tvbridge.Interval1Min, m); !ok || rec.Fate != FinalOnTime || !rec.At.Equal(m.Add(time.Minute)) {
			t.Errorf("%v after LateFinals(0): record %+v", m, rec)
		}
	}
}

// TestLoseFinals: the minutes LosesFinal names get no final at all, yet the
// next minute's updates still wait for when it was due; the others get it
// late. The records tell which minutes the stream carried completely.
func TestLoseFinals(t *testing.T) {
	const throttle, delay, oneIn = 5 * time.Second, 2 * time.Second, 3
	h := newHarness(t, func(c *Config) { c.CandleThrottle = throttle; c.RecordFinals = true })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	start := h.now()
	subscribeMinutes(h, c, in.FIGI)
	f := h.srv.Faults()
	f.LateFinals(delay)
	f.LoseFinals(oneIn)
	ms := checkMinuteStream(t, h, in.FIGI, start, throttle, delay, h.run(c, 12*time.Minute+delay))

	rest := h.restCandles(in.FIGI, start)
	lost, carriedAnyway := 0, 0
	for m, rc := range rest {
		rec, ok := h.srv.Final(in.FIGI, tvbridge.Interval1Min, m)
		if !ok || !rec.Due.Equal(m.Add(time.Minute+delay)) || !rec.At.Equal(rec.Due) {
			t.Fatalf("%v: record %+v (found %v)", m, rec, ok)
		}
		last, _ := ms.lastState(m)
		if !f.LosesFinal(in.FIGI, tvbridge.Interval1Min, m) {
			if len(ms.finals[m]) != 1 || rec.Fate != FinalLate || !rec.Carried {
				t.Errorf("%v: %d finals, record %+v", m, len(ms.finals[m]), rec)
			}
			continue
		}
		lost++
		if len(ms.finals[m]) != 0 || rec.Fate != FinalLost {
			t.Errorf("%v: lost, yet %d finals, record %+v", m, len(ms.finals[m]), rec)
		}
		if carried := sameAsREST(last, rc); rec.Carried != carried {
			t.Errorf("%v: Carried %v, but the last update equals REST: %v", m, rec.Carried, carried)
		} else if carried {
			carriedAnyway++
		}
	}
	if lost == 0 || lost == len(rest) {
		t.Fatalf("%d of %d finals lost; want some, not all", lost, len(rest))
	}
	if lost == carriedAnyway {
		t.Error("every lost final was carried by the last update anyway; the test shows nothing")
	}
	if got := h.srv.Stats().Faults.LostFinals; got != uint64(lost) {
		t.Errorf("Faults.LostFinals = %d, want %d", got, lost)
	}

	// The choice is a fixed function of (FIGI, interval, start): about one
	// in oneIn, the same on another server.
	other := newHarness(t, nil).srv.Faults()
	other.LoseFinals(oneIn)
	n := 0
	for m := start; m.Before(start.Add(300 * time.Minute)); m = m.Add(time.Minute) {
		lose := f.LosesFinal(in.FIGI, tvbridge.Interval1Min, m)
		if lose {
			n++
		}
		if other.LosesFinal(in.FIGI, tvbridge.Interval1Min, m) != lose {
			t.Fatal("LosesFinal differs between servers")
		}
	}
	if n < 300/oneIn/2 || n > 300/oneIn*2 {
		t.Errorf("%d of 300 minutes lost with one in %d", n, oneIn)
	}
	f.LoseFinals(1)
	if !f.LosesFinal(in.FIGI, tvbridge.Interval1Min, start) {
		t.Error("LoseFinals(1) does not lose every final")
	}
	f.LoseFinals(0)
	if f.LosesFinal(in.FIGI, tvbridge.Interval1Min, start) {
		t.Error("LoseFinals(0) still loses finals")
	}
}

// TestLoseFinalsWithoutDelay: without LateFinals a lost final does not hold
// the next minute back.
func TestLoseFinalsWithoutDelay(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CandleThrottle = Unthrottled; c.RecordFinals = true })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	start := h.now()
	subscribeMinutes(h, c, in.FIGI)
	h.srv.Faults().LoseFinals(2)
	ms := checkMinuteStream(t, h, in.FIGI, start, 0, 0, h.run(c, 8*time.Minute))
	lost := 0
	for m := range h.restCandles(in.FIGI, start) {
		rec, _ := h.srv.Final(in.FIGI, tvbridge.Interval1Min, m)
		want := FinalOnTime
		if h.srv.Faults().LosesFinal(in.FIGI, tvbridge.Interval1Min, m) {
			want = FinalLost
			lost++
		}
		if rec.Fate != want || !rec.At.Equal(m.Add(time.Minute)) || len(ms.finals[m]) != map[FinalFate]int{FinalOnTime: 1}[want] {
			t.Errorf("%v: record %+v, %d finals", m, rec, len(ms.finals[m]))
		}
		// Unthrottled, the next minute's first second of trades goes out at
		// once, lost final or not.
		if next := m.Add(time.Minute); len(ms.updates[next]) > 0 && !ms.updates[next][0].sent.Equal(next.Add(time.Second)) {
			if _, ok := h.m.Candle(in.FIGI, tvbridge.Interval1Min, next, next.Add(time.Second)); ok {
				t.Errorf("%v: first update at %v", next, ms.updates[next][0].sent)
			}
		}
	}
	if lost == 0 {
		t.Fatal("no final lost")
	}
}

// TestRepeatsAroundLateFinals: Duplicate repeats the final, StaleAfterFinal
// follows it with the minute's last update, and Reorder sends it once more
// after the next minute's first update, in exactly that order.
func TestRepeatsAroundLateFinals(t *testing.T) {
	const delay = 2 * time.Second
	h := newHarness(t, func(c *Config) { c.CandleThrottle = 5 * time.Second; c.RecordFinals = true })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	subscribeMinutes(h, c, in.FIGI)
	f := h.srv.Faults()
	f.LateFinals(delay)
	f.Duplicate(true)
	f.StaleAfterFinal(true)
	f.Reorder(true)
	frames := h.run(c, 4*time.Minute+delay)
	checked := 0
	seen := map[string]bool{}
	for i, fr := range frames {
		p := candleOf(fr)
		m := minuteOf(t, p)
		end := m.Add(time.Minute)
		if fr.sent.Before(end) || seen[p.Time] || i+5 >= len(frames) {
			continue
		}
		seen[p.Time] = true
		// The first copy of the final of m: then its duplicate, then the
		// minute's last update (the newest one, not Reorder's re-sends).
		if !fr.sent.Equal(end.Add(delay)) {
			t.Fatalf("final of %v at %v", m, fr.sent)
		}
		var last frame
		for _, q := range frames[:i] {
			if candleOf(q).Time == p.Time && q.sent.After(last.sent) {
				last = q
			}
		}
		if last.raw == nil {
			t.Fatalf("final of %v: no update before it", m)
		}
		if string(frames[i+1].raw) != string(fr.raw) || string(frames[i+2].raw) != string(last.raw) {
			t.Fatalf("final of %v: followed by %s, %s; want itself, then %s", m, frames[i+1].raw, frames[i+2].raw, last.raw)
		}
		// Then the next minute's first update, its duplicate, and the final
		// once more (Reorder).
		u := frames[i+3]
		if !minuteOf(t, candleOf(u)).Equal(end) || !u.sent.Before(end.Add(time.Minute)) ||
			string(frames[i+4].raw) != string(u.raw) || string(frames[i+5].raw) != string(fr.raw) {
			t.Fatalf("after the final of %v: %s, %s, %s", m, u.raw, frames[i+4].raw, frames[i+5].raw)
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("checked %d finals, want 3+", checked)
	}
	st := h.srv.Stats().Faults
	if st.StaleAfterFinal != uint64(checked) || st.Reordered == 0 || st.Duplicated == 0 {
		t.Errorf("fault stats %+v", st)
	}
}

// TestLateFinalsAcrossAJump: when the clock jumps over several minutes, every
// minute's final goes out in one tick, in order, before the forming candle.
func TestLateFinalsAcrossAJump(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RecordFinals = true })
	in := h.liveInstrument(tvbridge.Stock)
	c := h.connect()
	start := h.now()
	subscribeMinutes(h, c, in.FIGI)
	h.srv.Faults().LateFinals(2 * time.Second)
	h.advance(5*time.Minute + 30*time.Second)
	frames := ofEvent(c.sync(), wire.EventCandle)
	rest := h.restCandles(in.FIGI, start)
	if len(frames) != len(rest)+1 || len(rest) != 5 {
		t.Fatalf("%d frames for %d closed minutes", len(frames), len(rest))
	}
	for i, fr := range frames {
		p := candleOf(fr)
		m := start.Add(time.Duration(i) * time.Minute)
		if !minuteOf(t, p).Equal(m) || !fr.sent.Equal(h.now()) {
			t.Fatalf("frame %d: %s", i, fr.raw)
		}
		if i == len(rest) {
			want, _ := h.m.Candle(in.FIGI, tvbridge.Interval1Min, m, h.now())
			if !sameCandle(p, want) {
				t.Errorf("forming candle %+v, model %+v", p, want)
			}
			break
		}
		if !sameAsREST(p, rest[m]) {
			t.Errorf("%v: final %+v, REST %+v", m, p, rest[m])
		}
		if rec, _ := h.srv.Final(in.FIGI, tvbridge.Interval1Min, m); rec.Fate != FinalLate || !rec.At.Equal(h.now()) {
			t.Errorf("%v: record %+v", m, rec)
		}
	}
}

// TestLateFinalsAndSubscribers: a subscriber joining while a final is
// pending gets no snapshot, then the final and the forming candle; a stream
// whose last subscriber leaves while its final is pending records it as
// orphaned.
func TestLateFinalsAndSubscribers(t *testing.T) {
	const delay = 3 * time.Second
	h := newHarness(t, func(c *Config) { c.CandleThrottle = Unthrottled; c.RecordFinals = true })
	in := h.liveInstrument(tvbridge.Stock)
	c1 := h.connect()
	subscribeMinutes(h, c1, in.FIGI)
	h.srv.Faults().LateFinals(delay)
	for range 61 {
		h.advance(time.Second)
	}
	c2 := h.connect()
	c2.send(wire.StreamRequest{Event: "candle:subscribe", FIGI: in.FIGI, Interval: "1min"})
	if got := c2.sync(); len(got) != 0 {
		t.Fatalf("a snapshot while the final is pending: %s", got[0].raw)
	}
	h.advance(time.Second) // :02, still pending
	if got := ofEvent(c2.sync(), wire.EventCandle); len(got) != 0 {
		t.Fatalf("%d frames before the final was due", len(got))
	}
	h.advance(time.Second) // :03, due
	got := ofEvent(c2.sync(), wire.EventCandle)
	if len(got) != 2 {
		t.Fatalf("want the final and the forming candle, got %d frames", len(got))
	}
	want, _ := h.m.Candle(in.FIGI, tvbridge.Interval1Min, testStart, testStart.Add(time.Minute))
	if p := candleOf(got[0]); !minuteOf(t, p).Equal(testStart) || !sameCandle(p, want) {
		t.Errorf("final %+v, want %+v", p, want)
	}
	want, _ = h.m.Candle(in.FIGI, tvbridge.Interval1Min, testStart.Add(time.Minute), h.now())
	if p := candleOf(got[1]); !sameCandle(p, want) {
		t.Errorf("forming %+v, want %+v", p, want)
	}
	tail := ofEvent(c1.sync(), wire.EventCandle)
	if len(tail) < 2 || string(tail[len(tail)-2].raw) != string(got[0].raw) || string(tail[len(tail)-1].raw) != string(got[1].raw) {
		t.Errorf("the first subscriber did not get the same frames")
	}

	// Both leave during the next pending final.
	for h.now().Before(testStart.Add(2*time.Minute + time.Second)) {
		h.advance(time.Second)
	}
	for _, c := range []*client{c1, c2} {
		c.send(wire.StreamRequest{Event: "candle:unsubscribe", FIGI: in.FIGI, Interval: "1min"})
		c.sync()
	}
	m := testStart.Add(time.Minute)
	rec, ok := h.srv.Final(in.FIGI, tvbridge.Interval1Min, m)
	if !ok || rec.Fate != FinalOrphaned || !rec.At.Equal(h.now()) || !rec.Due.Equal(m.Add(time.Minute+delay)) {
		t.Fatalf("orphaned final: %+v (found %v)", rec, ok)
	}
	for range 5 {
		h.advance(time.Second)
	}
	if got := ofEvent(c1.sync(), wire.EventCandle); len(got) != 0 {
		t.Fatalf("%d frames after unsubscribing", len(got))
	}
}
