package bars

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"tvbridge"
)

// FuzzEngine feeds the engine arbitrary sequences of candle updates, order
// books and clock moves decoded from the fuzzer's bytes — including garbage
// values (NaN, infinities, negative volumes, self-contradictory candles) —
// and checks the invariants that must hold whatever the upstream sends: no
// panic, the stream rebuilds exactly to the closed bars, sizes > 0, tick
// times monotonic and never in the future.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{})
	f.Add(fuzzOps(
		[8]byte{0, 0, 0, 1, 0, 0x21, 8, 5},
		[8]byte{0, 0, 0, 20, 2, 0x33, 9, 9},
		[8]byte{0, 0, 0, 20, 2, 0x33, 9, 9}, // duplicate
		[8]byte{0, 0, 1, 40, 1, 0x10, 1, 3}, // next minute
		[8]byte{0, 0, 0, 2, 2, 0x33, 9, 12}, // correction
		[8]byte{7, 0, 0, 200, 0, 0, 0, 0},   // sweep after 10 s
	))
	f.Add(fuzzOps(
		[8]byte{6, 1, 0, 3, 10, 5, 4, 4},     // book
		[8]byte{6, 1, 0, 3, 10, 5, 4, 4},     // same book
		[8]byte{6, 1, 0, 30, 200, 5, 4, 4},   // crossed
		[8]byte{1, 1, 0, 5, 255, 0xff, 0, 1}, // inconsistent candle
		[8]byte{2, 1, 0, 5, 1, 0x11, 3, 7},   // fractional volume
		[8]byte{3, 1, 2, 5, 1, 0x11, 3, 7},   // raw float volume
	))
	f.Add(fuzzOps(
		[8]byte{0, 0, 1, 250, 0, 0x11, 1, 5}, // upstream clock ahead: deferred
		[8]byte{0, 0, 0, 255, 0, 0x11, 1, 6},
		[8]byte{7, 0, 0, 255, 0, 0, 0, 0},
		[8]byte{0, 0, 255, 1, 0, 0x11, 1, 9}, // minute in the past
	))
	sched := tvbridge.MustSchedule("1000-1840:23456", "Europe/Moscow")
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarnessAt(t, t0, Config{DailyBars: true}, mkSpec("A", nil), mkSpec("B", sched))
		for len(data) >= 8 {
			applyFuzzOp(h, [8]byte(data[:8]))
			data = data[8:]
		}
		h.closeAll()
		for _, figi := range []string{"A", "B"} {
			checkStream(t, h, figi)
		}
		if st := h.eng.Stats(); st.Panics != 0 {
			t.Fatalf("panics: %+v", st)
		}
	})
}

func fuzzOps(ops ...[8]byte) []byte {
	var out []byte
	for _, op := range ops {
		out = append(out, op[:]...)
	}
	return out
}

// applyFuzzOp decodes one 8-byte operation:
// [kind, instrument, minute offset, clock step (x50 ms), price, spread bits, close, volume].
func applyFuzzOp(h *harness, op [8]byte) {
	figi := [2]string{"A", "B"}[op[1]&1]
	h.clk.Advance(time.Duration(op[3]) * 50 * time.Millisecond)
	now := h.clk.Now()
	o := 100 + float64(int8(op[4]))/16
	hi, lo := o+float64(op[5]&15)/16, o-float64(op[5]>>4)/16
	c := lo + float64(op[6])/16
	if c > hi {
		c = hi
	}
	v := float64(op[7])
	switch op[0] & 7 {
	case 1: // contradictory prices
		hi, lo = lo, hi
	case 2: // fractional volume
		v /= 7
	case 3: // raw bits: NaN, infinities, negatives, subnormals
		v = math.Float64frombits(binary.LittleEndian.Uint64(op[:]))
	case 6:
		h.book(figi, now.Add(-time.Duration(op[2])*10*time.Millisecond), o, float64(op[6]), o+float64(int8(op[5]))/16, float64(op[7]))
		return
	case 7:
		h.eng.Sweep()
		return
	}
	minute := now.Truncate(time.Minute).Add(time.Duration(int8(op[2])) * time.Minute)
	h.eng.Handle(&tvbridge.CandleEvent{
		EventMeta: tvbridge.EventMeta{Received: now},
		Candle: tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: minute,
			Open: o, High: hi, Low: lo, Close: c, Volume: v},
	})
}
