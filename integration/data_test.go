package integration

import (
	"testing"
	"time"
)

// TestStreamEqualsHistory runs the whole bridge against the simulator for
// simulated trading time, with an upstream outage and a bridge restart in
// the middle, and checks TradingView's central acceptance rule: 1-minute
// bars built from /streaming trades equal /history, with 0 mismatches.
func TestStreamEqualsHistory(t *testing.T) {
	streamEqualsHistory(t, newExchange, 0, 500, 250*time.Millisecond)
}

// TestStreamEqualsHistoryV2 is the same over T-Invest API v2, whose stream
// carries the exchange's trades: TradingView's bars are built from real
// trades here, and must equal /history all the same.
//
// Its stream carries every trade as a frame, several times the v1 stream's
// frames for the same market: 12 instruments (MOEX, US and 24x7 ones,
// SBER among them) keep it about as long as the v1 test.
func TestStreamEqualsHistoryV2(t *testing.T) {
	streamEqualsHistory(t, newExchangeV2, 12, 200, time.Second)
}

// streamEqualsHistory runs the scenario on the exchange newEx makes with
// instruments instruments (0: the default universe), advancing its clock
// by step at a time, and wants at least minCompared minutes compared
// before the restart and after it.
func streamEqualsHistory(t *testing.T, newEx func(testing.TB, time.Time, int) *exchange, instruments, minCompared int, step time.Duration) {
	if testing.Short() {
		t.Skip("simulates an hour of trading")
	}
	// Wednesday 11:30 Moscow time: MOEX, US pre-open and 24x7 instruments.
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
	ex := newEx(t, start, instruments)
	dir := t.TempDir()

	b := startBridge(t, ex, dir, 3*time.Hour)
	c := connect(t, b.api.URL)
	book := newBarBook()
	run(t, ex, b, c, book, step, start.Add(12*time.Minute))

	// An upstream outage: every stream connection drops abruptly.
	ex.dropAll()
	run(t, ex, b, c, book, step, start.Add(25*time.Minute))

	compared, mismatched := book.compare(t, b.api.URL)
	t.Logf("before restart: %d minutes compared, %d mismatched", compared, mismatched)
	if compared < minCompared || mismatched != 0 {
		t.Fatalf("before restart: %d compared, %d mismatched", compared, mismatched)
	}
	// Bars served before the restart, to check they never change.
	before := getHistory(t, b.api.URL, "SBER", "1", start.Unix(), start.Add(20*time.Minute).Unix())

	// A restart: the bridge stops, time passes, a new process starts on the
	// same data directory; TradingView reconnects.
	b.stop(t)
	ex.clk.Advance(3 * time.Minute)
	b = startBridge(t, ex, dir, 3*time.Hour)
	defer b.stop(t)
	waitBackfill(t, b)
	// What TradingView reads as soon as the bridge is back: the minutes just
	// before the restart must already be there, or a bar would later appear
	// in a minute it saw closed and empty.
	restarted := ex.clk.Now()
	early := getHistory(t, b.api.URL, "SBER", "1", start.Unix(), restarted.Unix())
	c = connect(t, b.api.URL)
	book2 := newBarBook()
	run(t, ex, b, c, book2, step, start.Add(50*time.Minute))

	compared, mismatched = book2.compare(t, b.api.URL)
	t.Logf("after restart: %d minutes compared, %d mismatched", compared, mismatched)
	if compared < minCompared || mismatched != 0 {
		t.Fatalf("after restart: %d compared, %d mismatched", compared, mismatched)
	}
	after := getHistory(t, b.api.URL, "SBER", "1", start.Unix(), start.Add(20*time.Minute).Unix())
	if len(after.T) < len(before.T) {
		t.Fatalf("bars lost across the restart: %d before, %d after", len(before.T), len(after.T))
	}
	for i, ts := range before.T {
		j := indexOf(after.T, ts)
		if j < 0 || after.O[j] != before.O[i] || after.H[j] != before.H[i] || after.L[j] != before.L[i] ||
			after.C[j] != before.C[i] || after.V[j] != before.V[i] {
			t.Fatalf("closed bar %d changed across the restart", ts)
		}
	}
	// The minutes the bridge was down were backfilled: no hole in SBER.
	full := getHistory(t, b.api.URL, "SBER", "1", start.Unix(), start.Add(45*time.Minute).Unix())
	// Every minute closed (for the engine's 3 s grace) at the restart was
	// served then, unchanged, and none appeared since.
	cutoff := restarted.Add(-time.Minute - 3*time.Second).Unix()
	for i, ts := range full.T {
		if ts > cutoff {
			break
		}
		j := indexOf(early.T, ts)
		if j < 0 {
			t.Fatalf("bar %s appeared after the restart in a minute already closed then", time.Unix(ts, 0).UTC())
		}
		if early.O[j] != full.O[i] || early.H[j] != full.H[i] || early.L[j] != full.L[i] ||
			early.C[j] != full.C[i] || early.V[j] != full.V[i] {
			t.Fatalf("bar %s changed after the restart", time.Unix(ts, 0).UTC())
		}
	}
	if n := len(early.T); n == 0 || early.T[n-1] < cutoff-60 {
		t.Fatalf("right after the restart SBER has %d bars, the last before %v", n, time.Unix(cutoff-60, 0).UTC())
	}
	for i := 1; i < len(full.T); i++ {
		if full.T[i]-full.T[i-1] > 120 {
			t.Errorf("hole in SBER history between %d and %d", full.T[i-1], full.T[i])
		}
	}
}

func indexOf(ts []int64, v int64) int {
	for i, x := range ts {
		if x == v {
			return i
		}
	}
	return -1
}
