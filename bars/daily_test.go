package bars

import (
	"testing"
	"time"

	"tvbridge"
)

// sessionMinute is one streamed minute of a daily-bar scenario.
type sessionMinute struct {
	at        time.Time // minute start, UTC
	o, h, l   float64
	c, v      float64
	inSession bool
}

// runDay streams the minutes (one update each, 1 s into the minute) and
// checks the day's bar against the in-session minutes: open of the first,
// close of the last, extremes, volume sum, stamped 00:00 UTC of day.
func runDay(t *testing.T, h *harness, day time.Time, minutes []sessionMinute) {
	t.Helper()
	var want ohlcv
	for _, m := range minutes {
		h.candle(m.at.Add(time.Second), m.at, m.o, m.h, m.l, m.c, m.v)
		if m.inSession {
			want = want.merge(ohlcv{m.o, m.h, m.l, m.c, m.v})
		}
	}
	got, ok := h.eng.Daily("F1", day)
	if !ok || !sameBar(got, toBar(day.Unix(), want)) {
		t.Fatalf("daily bar of %v = %+v (%v), want %v", day.Format(time.DateOnly), got, ok, want)
	}
	h.sweepAt(h.clk.Now().Add(2 * time.Minute)) // closes the last minute, flushes the daily tick
	ds := h.sink.kind("F1", tvbridge.TickDaily)
	if len(ds) == 0 {
		t.Fatal("no daily ticks")
	}
	last := ds[len(ds)-1]
	if !last.Time.Equal(day) || !sameBar(last.Bar, toBar(day.Unix(), want)) {
		t.Fatalf("last daily tick %+v, want %v at %v", last, want, day)
	}
}

func utc(y int, mo time.Month, d, hh, mm int) time.Time {
	return time.Date(y, mo, d, hh, mm, 0, 0, time.UTC)
}

func TestDailyMoscow(t *testing.T) {
	sched := tvbridge.MustSchedule("1000-1840:23456", "Europe/Moscow")
	mon := utc(2026, 3, 2, 0, 0)
	h := newHarnessAt(t, mon, Config{DailyBars: true}, mkSpec("F1", sched))
	runDay(t, h, mon, []sessionMinute{
		{utc(2026, 3, 2, 6, 59), 1, 1, 1, 1, 1, false}, // 09:59 MSK: before the open
		{utc(2026, 3, 2, 7, 0), 100, 103, 99, 102, 10, true},
		{utc(2026, 3, 2, 12, 0), 102, 110, 90, 95, 20, true},
		{utc(2026, 3, 2, 15, 39), 95, 96, 94, 96, 5, true}, // 18:39 MSK: last minute
		{utc(2026, 3, 2, 15, 40), 7, 7, 7, 7, 1, false},    // 18:40 MSK: closed
	})
	tue := utc(2026, 3, 3, 0, 0)
	runDay(t, h, tue, []sessionMinute{{utc(2026, 3, 3, 7, 0), 50, 51, 49, 50, 3, true}})
	if _, ok := h.eng.Daily("F1", mon); ok {
		t.Fatal("Daily still answers for the previous trading day")
	}
	if st := h.eng.Stats(); st.OutOfSession != 2 {
		t.Fatalf("out of session = %d, want 2", st.OutOfSession)
	}
}

// TestDailyNewYorkDST streams the first and last minutes of New York
// sessions around both 2026 DST transitions (Mar 8, Nov 1): the session moves
// by an hour in UTC and the daily bar follows it.
func TestDailyNewYorkDST(t *testing.T) {
	sched := tvbridge.MustSchedule("0930-1600:23456", "America/New_York")
	days := []struct {
		day        time.Time
		open, last time.Time // UTC starts of the first and last session minutes
	}{
		{utc(2026, 3, 6, 0, 0), utc(2026, 3, 6, 14, 30), utc(2026, 3, 6, 20, 59)},       // Fri, EST
		{utc(2026, 3, 9, 0, 0), utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 19, 59)},       // Mon, EDT
		{utc(2026, 10, 30, 0, 0), utc(2026, 10, 30, 13, 30), utc(2026, 10, 30, 19, 59)}, // Fri, EDT
		{utc(2026, 11, 2, 0, 0), utc(2026, 11, 2, 14, 30), utc(2026, 11, 2, 20, 59)},    // Mon, EST
	}
	h := newHarness(t, Config{DailyBars: true}, mkSpec("F1", sched))
	outside := 0
	for _, d := range days {
		h.sink.reset()
		runDay(t, h, d.day, []sessionMinute{
			{d.open.Add(-time.Minute), 1, 1, 1, 1, 1, false},
			{d.open, 10, 12, 9, 11, 4, true},
			{d.open.Add(3 * time.Hour), 11, 15, 8, 14, 6, true},
			{d.last, 14, 14, 13, 13, 2, true},
			{d.last.Add(time.Minute), 2, 2, 2, 2, 1, false},
		})
		outside += 2
		if st := h.eng.Stats(); st.OutOfSession != uint64(outside) {
			t.Fatalf("%v: out of session = %d, want %d", d.day, st.OutOfSession, outside)
		}
	}
}

func TestDaily24x7ChangesAtLocalMidnight(t *testing.T) {
	sched := tvbridge.MustSchedule("24x7", "America/New_York") // EST: midnight is 05:00 UTC
	h := newHarnessAt(t, utc(2026, 3, 2, 4, 0), Config{DailyBars: true}, mkSpec("F1", sched))
	runDay(t, h, utc(2026, 3, 1, 0, 0), []sessionMinute{{utc(2026, 3, 2, 4, 59), 5, 6, 4, 6, 1, true}})
	runDay(t, h, utc(2026, 3, 2, 0, 0), []sessionMinute{{utc(2026, 3, 2, 5, 0), 7, 8, 7, 8, 2, true}})
	if st := h.eng.Stats(); st.OutOfSession != 0 {
		t.Fatalf("out of session = %d", st.OutOfSession)
	}
}

func TestDailyTicksThrottledButFinalStateSent(t *testing.T) {
	sched := tvbridge.MustSchedule("24x7", "UTC")
	h := newHarness(t, Config{DailyBars: true}, mkSpec("F1", sched))
	day := utc(2026, 3, 2, 0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	h.candle(at(1100), t0, 10, 10, 10, 10, 1)
	h.candle(at(1500), t0, 10, 11, 10, 11, 2) // same second: held back
	if n := len(h.sink.kind("F1", tvbridge.TickDaily)); n != 1 {
		t.Fatalf("%d daily ticks in one second, want 1", n)
	}
	h.sweepAt(at(1900))
	if n := len(h.sink.kind("F1", tvbridge.TickDaily)); n != 1 {
		t.Fatalf("sweep in the same second sent %d daily ticks", n)
	}
	h.sweepAt(at(2000))
	ds := h.sink.kind("F1", tvbridge.TickDaily)
	if len(ds) != 2 || !sameBar(ds[1].Bar, bar(day, 10, 11, 10, 11, 2)) || !ds[1].Received.Equal(at(1500)) {
		t.Fatalf("daily ticks %+v", ds)
	}
	// A change held back at the minute's end goes out before the next
	// minute's trades: by the next event in a later second...
	h.candle(at(2100), t0, 10, 12, 10, 12, 3)
	h.candle(at(2200), t0, 10, 12, 9, 9, 4)
	h.candle(at(60500), t0.Add(time.Minute), 9, 9, 9, 9, 1)
	ds = h.sink.kind("F1", tvbridge.TickDaily)
	if len(ds) != 3 || !sameBar(ds[2].Bar, bar(day, 10, 12, 9, 9, 4)) {
		t.Fatalf("daily ticks %+v", ds)
	}
	h.sweepAt(at(61000))
	ds = h.sink.kind("F1", tvbridge.TickDaily)
	if len(ds) != 4 || !sameBar(ds[3].Bar, bar(day, 10, 12, 9, 9, 5)) {
		t.Fatalf("daily ticks %+v", ds)
	}
	// ...or, within the same second, by the minute's close (here forced by
	// an early update for the next minute).
	m1, m2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	h.candle(m1.Add(58100*time.Millisecond), m1, 9, 10, 9, 10, 2)
	h.candle(m1.Add(58500*time.Millisecond), m1, 9, 10, 8, 8, 3)
	h.candle(m1.Add(58900*time.Millisecond), m2, 8, 8, 8, 8, 1)
	ds = h.sink.kind("F1", tvbridge.TickDaily)
	if len(ds) != 6 || !sameBar(ds[5].Bar, bar(day, 10, 12, 8, 8, 7)) {
		t.Fatalf("daily ticks %+v", ds[4:])
	}
}

func TestDailyOffStillAggregates(t *testing.T) {
	h := newHarness(t, Config{}, mkSpec("F1", tvbridge.MustSchedule("24x7", "UTC")))
	h.candle(t0.Add(time.Second), t0, 10, 10, 10, 10, 1)
	if n := len(h.sink.kind("F1", tvbridge.TickDaily)); n != 0 {
		t.Fatalf("%d daily ticks with DailyBars off", n)
	}
	if d, ok := h.eng.Daily("F1", t0); !ok || d.Volume != 1 {
		t.Fatalf("Daily %+v %v", d, ok)
	}
	h2 := newHarness(t, Config{DailyBars: true}, mkSpec("F1", nil))
	h2.candle(t0.Add(time.Second), t0, 10, 10, 10, 10, 1)
	if _, ok := h2.eng.Daily("F1", t0); ok || len(h2.sink.kind("F1", tvbridge.TickDaily)) != 0 {
		t.Fatal("daily bar without a schedule")
	}
}
