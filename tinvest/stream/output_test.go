package stream

import (
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
)

// A candle state with less volume than one passed on is dropped when it is
// an older snapshot (an earlier last trade), and passed on when it is the
// service correcting a state it sent (the same last trade): the bar engine
// must see that the state it has was taken back.
func TestCandleCorrectionsPassStaleSnapshotsDropped(t *testing.T) {
	var dups, coalesced atomic.Int64
	o := newOutput(16, 16, &dups, &coalesced)
	minute := time.Date(2026, 11, 18, 8, 31, 0, 0, time.UTC)
	candle := func(v int64, high float64, lastTrade time.Time) {
		o.candle(tvbridge.EventMeta{ServerTime: lastTrade}, tvbridge.Candle{FIGI: "F", Interval: tvbridge.Interval1Min,
			Time: minute, Open: 10, High: high, Low: 10, Close: 10, Volume: float64(v)})
	}
	at := func(s int) time.Time { return minute.Add(time.Duration(s) * time.Second) }
	candle(5, 10.5, at(20))
	candle(6, 10.6, at(30)) // wrong: a lot too many, the high a tick higher
	candle(5, 10.5, at(30)) // corrected: same last trade, less volume
	candle(4, 10.5, at(10)) // an older snapshot arriving late
	candle(5, 10.5, at(30)) // the same state again
	var got []float64
	for len(o.ch) > 0 {
		got = append(got, (<-o.ch).(*tvbridge.CandleEvent).Candle.Volume)
	}
	if want := []float64{5, 6, 5}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("volumes passed on %v, want %v", got, want)
	}
	if dups.Load() != 2 {
		t.Errorf("%d dropped, want 2 (the late snapshot and the repeat)", dups.Load())
	}
	// Without last-trade times less volume is taken as stale.
	minute = minute.Add(time.Minute)
	candle(5, 10.5, time.Time{})
	candle(4, 10.5, time.Time{})
	if n := len(o.ch); n != 1 {
		t.Errorf("%d events without last-trade times, want 1", n)
	}
}
