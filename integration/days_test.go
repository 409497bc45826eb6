package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestStreamEqualsHistoryOvernight streams from before Moscow's close to
// after the next morning's open: the evening session, the night (24x7
// instruments keep trading) and a new trading day, then checks the stream
// against /history and each daily bar against its session's 1-minute bars.
func TestStreamEqualsHistoryOvernight(t *testing.T) { streamEqualsHistoryOvernight(t, newExchange) }

// TestStreamEqualsHistoryOvernightV2 is the same night over T-Invest API
// v2, its bars built from the exchange's trades.
func TestStreamEqualsHistoryOvernightV2(t *testing.T) { streamEqualsHistoryOvernight(t, newExchangeV2) }

func streamEqualsHistoryOvernight(t *testing.T, newEx func(testing.TB, time.Time, int) *exchange) {
	if testing.Short() {
		t.Skip("simulates a night of trading")
	}
	// The v1 and v2 nights each wait on their simulator's steps more than
	// they compute: side by side they take little longer than one.
	t.Parallel()
	start := time.Date(2026, 11, 18, 15, 20, 0, 0, time.UTC) // Wednesday 18:20 Moscow
	ex := newEx(t, start, smallUniverse)
	b := startBridge(t, ex, t.TempDir(), 2*24*time.Hour)
	defer b.stop(t)
	c := connect(t, b.api.URL)
	book := newBarBook()
	run(t, ex, b, c, book, 3*time.Second, time.Date(2026, 11, 19, 7, 30, 0, 0, time.UTC)) // Thursday 10:30

	if b.v1 != nil {
		st := b.v1.Pool().Stats()
		t.Logf("pool: dials %d, stalls %d, instrument stalls %d", st.Dials, st.Stalls, st.InstrumentStalls)
	}
	compared, mismatched := book.compare(t, b.api.URL)
	t.Logf("%d minutes compared, %d mismatched", compared, mismatched)
	if compared < 2000 || mismatched != 0 { // 12 instruments: about 2,300
		t.Fatalf("%d compared, %d mismatched", compared, mismatched)
	}
	// Wednesday's session was half backfilled, half streamed; Thursday's has
	// just begun. Its first trades follow the 09:50-10:00 opening auction.
	for _, day := range []time.Time{time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)} {
		checkDaily(t, b.api.URL, "SBER", day, day.Add(7*time.Hour), day.Add(15*time.Hour+50*time.Minute))
	}
	// A 24x7 Moscow instrument's trading day starts at Moscow midnight.
	day := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	checkDaily(t, b.api.URL, "BTC_RUB", day, day.Add(-3*time.Hour), day.Add(21*time.Hour))
}

// TestDailyBarsThroughDST checks, through the whole bridge, that a New York
// instrument's daily bars follow its session across both 2026 daylight
// saving transitions: stamped 00:00 UTC of the trading day, open and close
// equal to the first and last 1-minute bars of a session that moves by an
// hour in UTC.
func TestDailyBarsThroughDST(t *testing.T) {
	if testing.Short() {
		t.Skip("backfills days of history")
	}
	for _, c := range []struct {
		name   string
		now    time.Time
		before time.Time // a trading day before the change
		after  time.Time // one after it
		shift  time.Duration
	}{
		{"spring forward", time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC), date(2026, 3, 6), date(2026, 3, 9), -time.Hour},
		{"fall back", time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC), date(2026, 10, 30), date(2026, 11, 2), time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			ex := newExchange(t, c.now, smallUniverse)
			b := startBridge(t, ex, t.TempDir(), 7*24*time.Hour)
			defer b.stop(t)
			waitBackfill(t, b)
			// 09:30 New York is 14:30 UTC in winter and 13:30 UTC in summer.
			openBefore := openUTC(c.before)
			openAfter := openBefore.Add(c.after.Sub(c.before)).Add(c.shift)
			checkDaily(t, b.api.URL, "AAPL", c.before, openBefore, openBefore.Add(390*time.Minute))
			checkDaily(t, b.api.URL, "AAPL", c.after, openAfter, openAfter.Add(390*time.Minute))
		})
	}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// openUTC is 09:30 New York on day, in UTC.
func openUTC(day time.Time) time.Time {
	ny, _ := time.LoadLocation("America/New_York")
	return time.Date(day.Year(), day.Month(), day.Day(), 9, 30, 0, 0, ny).UTC()
}

func waitBackfill(t *testing.T, b *bridge) {
	t.Helper()
	p := b.svc.Progress()
	deadline := time.Now().Add(2 * time.Minute)
	for p.InitialDone.Load() < p.Instruments.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("initial backfill: %d of %d instruments", p.InitialDone.Load(), p.Instruments.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling progress; the deadline is only a guard
	}
}

// checkDaily compares the daily bar of day with the 1-minute bars of its
// session [open, close): the first minute must be at open, and the daily bar
// must aggregate them exactly.
func checkDaily(t *testing.T, base, symbol string, day, open, close time.Time) {
	t.Helper()
	d := getHistory(t, base, symbol, "D", day.Unix(), day.Unix())
	if len(d.T) != 1 || d.T[0] != day.Unix() {
		t.Fatalf("%s daily bar of %s: times %v, want one at 00:00 UTC", symbol, day.Format("2006-01-02"), d.T)
	}
	m := getHistory(t, base, symbol, "1", open.Add(-time.Hour).Unix(), close.Add(time.Hour).Unix()-1)
	var first, last = -1, -1
	high, low, vol := 0.0, 0.0, 0.0
	for i, ts := range m.T {
		if ts < open.Unix() || ts >= close.Unix() {
			if symbol != "BTC_RUB" { // a 24x7 window is the whole day
				t.Errorf("%s 1-minute bar at %s outside its session", symbol, time.Unix(ts, 0).UTC())
			}
			continue
		}
		if first < 0 {
			first, high, low = i, m.H[i], m.L[i]
		}
		last = i
		high, low, vol = max(high, m.H[i]), min(low, m.L[i]), vol+m.V[i]
	}
	if first < 0 {
		t.Fatalf("%s has no 1-minute bars on %s", symbol, day.Format("2006-01-02"))
	}
	if got := time.Unix(m.T[first], 0).UTC(); got.Sub(open) > 5*time.Minute {
		t.Errorf("%s first minute %s, session opens %s", symbol, got, open)
	}
	want := fmt.Sprintf("o=%v h=%v l=%v c=%v v=%v", m.O[first], high, low, m.C[last], vol)
	got := fmt.Sprintf("o=%v h=%v l=%v c=%v v=%v", d.O[0], d.H[0], d.L[0], d.C[0], d.V[0])
	if got != want {
		t.Errorf("%s daily bar of %s: %s, from its minutes %s", symbol, day.Format("2006-01-02"), got, want)
	}
}
