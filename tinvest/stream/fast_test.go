package stream

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"tvbridge/tinvest/wire"
)

// The fast paths (fast.go, compactKey, skipPlain8) must not change what the
// decoder accepts or what it makes of a frame: a decoder with
// scanner.generic set, which reads every frame byte by byte, is the
// reference.

// sameAsGeneric decodes data with the fast paths and without them and fails
// on any difference: accepted or not, the error text, the frame.
func sameAsGeneric(t *testing.T, fast, generic *decoder, data []byte) {
	t.Helper()
	var ff, gf frame
	ferr, gerr := fast.decode(data, &ff), generic.decode(data, &gf)
	if (ferr == nil) != (gerr == nil) || (ferr != nil && ferr.Error() != gerr.Error()) {
		t.Fatalf("fast path: %v, generic path: %v\n%s", ferr, gerr, data)
	}
	if ferr == nil && !reflect.DeepEqual(ff, gf) {
		t.Fatalf("fast path decoded\n%+v\ngeneric path\n%+v\n%s", ff, gf, data)
	}
}

func newGenericDecoder() *decoder {
	d := newDecoder()
	d.s.generic = true
	return d
}

// diffSeeds are the fuzz seeds plus one frame of each benchmark kind: the
// latter are exactly the layout the fast paths match.
func diffSeeds() [][]byte {
	var out [][]byte
	for _, s := range frameSeeds {
		out = append(out, []byte(s))
	}
	for _, frames := range [][][]byte{tradeFrames(), candleFrames(), bookFrames(1), bookFrames(10)} {
		out = append(out, frames[77])
	}
	// fieldWalk's guesses missed: members in another order, one left out,
	// one unknown; and the edges of the fast paths' numbers: 2^53 nanos,
	// 18 and 19 digits, signs, zeros.
	return append(out,
		[]byte(`{"trade":{"tradeSource":"TRADE_SOURCE_EXCHANGE","instrumentUid":"u","time":"2026-03-02T10:00:00Z","quantity":"3","price":{"units":"1","nano":5},"direction":"TRADE_DIRECTION_SELL","figi":"F"}}`),
		[]byte(`{"candle":{"figi":"F","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE","open":{"units":"179","nano":50000000},"low":{"units":"178"},"close":{"units":"178","nano":950000000},"extra":[1,{"a":null}],"time":"2023-05-16T08:44:00Z","instrumentUid":"u"}}`),
		[]byte(`{"orderbook":{"figi":"F","isConsistent":false,"bids":[],"asks":[{"price":{"units":"1","nano":0},"quantity":"1"}],"depth":20,"instrumentUid":"u"}}`),
		[]byte(`{"trade":{"figi":"F","price":{"units":"9007199","nano":254740993},"quantity":"1","time":"2026-03-02T10:00:00Z"}}`),
		[]byte(`{"orderbook":{"figi":"F","bids":[{"price":{"units":"999999999999999999","nano":0},"quantity":"0"},{"price":{"units":"1000000000000000000","nano":1},"quantity":"9223372036854775807"}],"asks":[{"price":{"units":"-5","nano":-1},"quantity":"-0"},{"price":{"units":"0","nano":999999999},"quantity":"12345678"}]}}`))
}

// FuzzDecodeFastVsGeneric compares the two paths on arbitrary frames.
func FuzzDecodeFastVsGeneric(f *testing.F) {
	for _, s := range diffSeeds() {
		f.Add(s)
	}
	fast, generic := newDecoder(), newGenericDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsGeneric(t, fast, generic, data)
	})
}

// mutationBytes are the bytes that test the fast paths' edges: whitespace,
// string and number syntax, structure, a control byte and non-ASCII.
var mutationBytes = []byte(" \"\\-09.e}],:\x1f\x80")

// TestFastVsGenericMutations runs the comparison in the normal test run on
// every one-byte mutation of the seeds: each byte deleted, replaced by each
// of mutationBytes, or preceded by a space. Every fast path thereby fails
// at every position it checks, and must hand over cleanly. Under the race
// detector each position gets one of the replacements, in turn.
func TestFastVsGenericMutations(t *testing.T) {
	fast, generic := newDecoder(), newGenericDecoder()
	n := 0
	for _, seed := range diffSeeds() {
		sameAsGeneric(t, fast, generic, seed)
		buf := make([]byte, 0, len(seed)+1)
		for i := range seed {
			buf = append(append(buf[:0], seed[:i]...), seed[i+1:]...)
			sameAsGeneric(t, fast, generic, buf)
			buf = append(append(append(buf[:0], seed[:i]...), ' '), seed[i:]...)
			sameAsGeneric(t, fast, generic, buf)
			for k, c := range mutationBytes {
				if raceEnabled && (i+k)%len(mutationBytes) != 0 {
					continue // one replacement per position, in turn
				}
				buf = append(buf[:0], seed...)
				buf[i] = c
				sameAsGeneric(t, fast, generic, buf)
				n++
			}
		}
	}
	t.Logf("%d mutated frames", n)
}

// FuzzUintAt checks the fast paths' digit parsers against parseInt64, the
// generic path's: what uintAt accepts, parseInt64 accepts as the same
// number, and uintAt refuses only what it leaves to the generic path
// (signs, 19 digits) or what parseInt64 refuses too.
func FuzzUintAt(f *testing.F) {
	for _, s := range []string{"0", "7", "00", "01", "178", "970000000", "12345678", "123456789\"", "999999999999999999",
		"1000000000000000000", "9223372036854775807", "-5", "12a4", "", "\"1\"", "0,", "98765432}", "1.5", "1e3",
		"0123456789", "1234567890}", "05000000}"} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s+`","nano":`), uint8(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, at uint8) {
		i := int(at) % (len(b) + 1)
		v, end, ok := uintAt(b, i)
		digitsEnd := i
		for digitsEnd < len(b) && b[digitsEnd] >= '0' && b[digitsEnd] <= '9' {
			digitsEnd++
		}
		if end != digitsEnd {
			t.Fatalf("uintAt(%q, %d) ends at %d, the digits at %d", b, i, end, digitsEnd)
		}
		want, wantOK := parseInt64(b[i:end])
		if ok && (!wantOK || want != v) {
			t.Fatalf("uintAt(%q, %d) = %d, parseInt64 says %d, %v", b, i, v, want, wantOK)
		}
		if !ok && wantOK && end-i <= 18 {
			t.Fatalf("uintAt(%q, %d) refuses what parseInt64 reads as %d", b, i, want)
		}
		// nanoAt: the same, except that it may stop after nine digits.
		nv, nend, nok := nanoAt(b, i)
		if !nok {
			if ok {
				t.Fatalf("nanoAt(%q, %d) refuses what uintAt reads as %d", b, i, v)
			}
			return
		}
		if want, wantOK := parseInt64(b[i:nend]); nend > digitsEnd || (nend != digitsEnd && nend-i != 9) || !wantOK || want != nv {
			t.Fatalf("nanoAt(%q, %d) = %d, %d; parseInt64 of those digits: %d, %v", b, i, nv, nend, want, wantOK)
		}
	})
}

// TestFloat64Of checks the inlined division against wire.Quotation.Float64
// bit for bit, around the 2^53-nano edge and at random.
func TestFloat64Of(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2026))
	var qs []wire.Quotation
	for _, u := range []int64{0, 1, 178, 9_007_198, 9_007_199, 9_007_200, 1e12, 999_999_999_999_999_999} {
		for _, n := range []int32{0, 1, 5, 254_740_991, 254_740_992, 500_000_000, 999_999_999} {
			qs = append(qs, wire.Quotation{Units: u, Nano: n})
		}
	}
	for range 100_000 {
		qs = append(qs, wire.Quotation{Units: rng.Int64N(20_000_000), Nano: rng.Int32N(wire.NanoPerUnit)})
	}
	for _, q := range qs {
		if got, want := float64Of(q), q.Float64(); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("float64Of(%v) = %v, Float64 %v", q, got, want)
		}
	}
}

// TestFastPathsTakeServiceLayout guards against fast paths that silently
// never match (the differential tests would still pass): they must take
// the layout the service writes, as the benchmark frames have it.
func TestFastPathsTakeServiceLayout(t *testing.T) {
	var s scanner
	s.reset([]byte(`{"units":"178","nano":970000000}`))
	if q, ok := s.quotationFast(); !ok || q != (wire.Quotation{Units: 178, Nano: 970000000}) || s.pos != len(s.buf) {
		t.Fatalf("quotationFast = %v, %v at %d", q, ok, s.pos)
	}
	s.reset([]byte(`{"price":{"units":"178","nano":5},"quantity":"20"}`))
	if l, ok := s.levelFast(); !ok || l.Price != 178.000000005 || l.Quantity != 20 || s.pos != len(s.buf) {
		t.Fatalf("levelFast = %v, %v at %d", l, ok, s.pos)
	}
	// fieldWalk's guesses: the members of each kind in the service's order.
	for _, c := range []struct {
		frame []byte
		order keyOrder
	}{{tradeFrames()[0], tradeOrder}, {candleFrames()[0], candleOrder}, {bookFrames(10)[0], bookOrder}} {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(c.frame, &top); err != nil || len(top) != 1 {
			t.Fatal(err)
		}
		for _, inner := range top {
			var keys []string
			s.reset(inner)
			s.pos = 1 // after the brace
			for first := true; ; first = false {
				key, more, ok := s.nextField(first)
				if !ok || !more {
					break
				}
				keys = append(keys, `,"`+string(key)+`":`)
				s.skipValue()
			}
			if !slices.Equal(keys, c.order) {
				t.Fatalf("members %q, guesses %q", keys, c.order)
			}
		}
	}
}
