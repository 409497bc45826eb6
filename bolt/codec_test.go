package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"tvbridge"
)

func TestBarEncodingRoundTrip(t *testing.T) {
	for _, u := range []unit{minuteUnit, dayUnit} {
		for _, b := range []tvbridge.Bar{
			bar(day0, 0.1),
			{Time: day0, Open: -37.63, High: -1, Low: -40.32, Close: -10, Volume: 1e-9}, // negative oil, 2020
			{Time: time.Unix(0, 0), Open: math.SmallestNonzeroFloat64, High: math.MaxFloat64, Low: 0, Close: 1, Volume: math.MaxFloat64},
		} {
			e, err := encodeBars([]tvbridge.Bar{b}, u)
			if err != nil {
				t.Fatalf("%s %v: %v", u, b, err)
			}
			k, v := e.at(0)
			got, err := decodeBar(u, k, v)
			if err != nil {
				t.Fatalf("%s decode %v: %v", u, b, err)
			}
			equalBars(t, []tvbridge.Bar{got}, []tvbridge.Bar{b})
		}
	}
}

func TestUnitCeil(t *testing.T) {
	tests := []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(-1, 0), 0},
		{time.Unix(60, 0), 1},
		{time.Unix(60, 1), 2},
		{time.Unix(61, 0), 2},
		{time.Unix(119, 999999999), 2},
	}
	for _, tt := range tests {
		if got := minuteUnit.ceil(tt.t); got != tt.want {
			t.Errorf("ceil(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

// FuzzDecode feeds arbitrary stored bytes to every decoder: none may panic,
// and whatever decodes must be valid and re-encode to the same bytes (so
// stored bytes and served bars correspond one to one).
func FuzzDecode(f *testing.F) {
	valid := make([]byte, barSize)
	encodeBar(valid, bar(day0, 0.5))
	nanOpen := bytes.Clone(valid)
	copy(nanOpen, []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1})
	f.Add(encodeKey(minuteUnit.index(t10)), valid)
	f.Add(encodeKey(minuteUnit.index(t10)), nanOpen)
	f.Add(encodeKey(math.MaxUint64), valid)
	f.Add(encodeKey(5), encodeKey(9))  // a coverage entry
	f.Add(encodeKey(9), encodeKey(5))  // an inverted one
	f.Add([]byte{1, 2, 3}, valid[:39]) // short key and value
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		for _, u := range []unit{minuteUnit, dayUnit} {
			b, err := decodeBar(u, k, v)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("decodeBar error %v is not ErrCorrupt", err)
				}
				continue
			}
			if err := validateBar(b, u); err != nil {
				t.Fatalf("decoded an invalid bar: %v", err)
			}
			e, err := encodeBars([]tvbridge.Bar{b}, u)
			if err != nil {
				t.Fatal(err)
			}
			ek, ev := e.at(0)
			// -0 is normalised to +0 on encode, the one allowed difference.
			if !bytes.Equal(ek, k) || !sameFloats(ev, v) {
				t.Fatalf("round trip changed bytes: %x %x -> %x %x", k, v, ek, ev)
			}
		}
		if sp, err := decodeSpan(k, v); err == nil {
			if sp.to <= sp.from {
				t.Fatalf("decoded empty span %v", sp)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeSpan error %v is not ErrCorrupt", err)
		}
	})
}

func sameFloats(a, b []byte) bool {
	for i := 0; i < barSize; i += 8 {
		x := math.Float64frombits(binary.BigEndian.Uint64(a[i:]))
		y := math.Float64frombits(binary.BigEndian.Uint64(b[i:]))
		if x != y {
			return false
		}
	}
	return true
}
