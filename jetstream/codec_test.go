package jetstream

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"tvbridge"
)

// genTicks returns n deterministic ticks of a few instruments, all kinds.
func genTicks(r *rand.Rand, n int, at time.Time) []tvbridge.Tick {
	figis := []string{"BBG004730N88", "BBG004731032", "BBG000B9XRY4", "BBG006L8G4H1"}
	syms := []string{"SBER", "LKOH", "AAPL", "YNDX"}
	out := make([]tvbridge.Tick, n)
	for i := range out {
		k := r.IntN(len(figis))
		t := tvbridge.Tick{
			FIGI:     figis[k],
			Symbol:   syms[k],
			Time:     at.Truncate(time.Second),
			Received: at.Add(time.Duration(i) * time.Microsecond),
		}
		switch i % 5 {
		case 0, 1, 2:
			t.Kind = tvbridge.TickTrade
			t.Price = math.Round((100+r.Float64()*50)*100) / 100
			t.Size = float64(1 + r.IntN(100))
		case 3:
			t.Kind = tvbridge.TickQuote
			t.Bid = math.Round((100+r.Float64()*50)*100) / 100
			t.Ask = t.Bid + 0.01
			t.BidSize, t.AskSize = float64(r.IntN(1000)), float64(r.IntN(1000))
		case 4:
			t.Kind = tvbridge.TickDaily
			day := at.UTC().Truncate(24 * time.Hour)
			t.Bar = tvbridge.Bar{Time: day, Open: 100, High: 151.5, Low: 99.25, Close: 120.125, Volume: float64(r.IntN(1e6))}
		}
		out[i] = t
	}
	return out
}

func sameTime(a, b time.Time) bool { return a.Equal(b) && a.IsZero() == b.IsZero() }

func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// sameTick compares every field, floats bit for bit.
func sameTick(a, b tvbridge.Tick) bool {
	return a.Kind == b.Kind && a.FIGI == b.FIGI && a.Symbol == b.Symbol &&
		sameTime(a.Time, b.Time) && sameTime(a.Received, b.Received) &&
		sameFloat(a.Price, b.Price) && sameFloat(a.Size, b.Size) &&
		sameFloat(a.Bid, b.Bid) && sameFloat(a.BidSize, b.BidSize) &&
		sameFloat(a.Ask, b.Ask) && sameFloat(a.AskSize, b.AskSize) &&
		sameBarBits(a.Bar, b.Bar)
}

func sameBarBits(a, b tvbridge.Bar) bool {
	return sameTime(a.Time, b.Time) && sameFloat(a.Open, b.Open) && sameFloat(a.High, b.High) &&
		sameFloat(a.Low, b.Low) && sameFloat(a.Close, b.Close) && sameFloat(a.Volume, b.Volume)
}

func checkTicks(t *testing.T, got, want []tvbridge.Tick) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d ticks, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameTick(got[i], want[i]) {
			t.Fatalf("tick %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 3, 2, 10, 15, 7, 0, time.UTC)
	ticks := genTicks(r, 40, at)
	// Edge cases: zero times, NaN and infinities (carried bit for bit; the
	// tape drops them), an unknown kind, an empty symbol, odd strings.
	ticks = append(ticks,
		tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: "X", Symbol: "", Price: math.NaN(), Size: math.Inf(-1)},
		tvbridge.Tick{Kind: 99, FIGI: "Y\x00\"é", Symbol: "Y", Time: time.Unix(-5, 999_999_999)},
		tvbridge.Tick{Kind: tvbridge.TickDaily, FIGI: "Z", Symbol: "Z", Time: at, Bar: tvbridge.Bar{Open: math.Copysign(0, -1), Volume: 1e300}},
	)
	minutes := []MinuteUpdate{
		{FIGI: "BBG004730N88", Bar: tvbridge.Bar{Time: at.Truncate(time.Minute), Open: 1, High: 2, Low: 0.5, Close: 1.5, Volume: 10}},
		{FIGI: "NEW", Bar: tvbridge.Bar{Time: at.Truncate(time.Minute).Add(-time.Minute), Open: 3, High: 3, Low: 3, Close: 3, Volume: 1}, Final: true},
	}
	var enc encoder
	var dec decoder
	for _, c := range []*Control{nil, {Kind: "status", Data: []byte(`{"up":true}`)}, {Kind: "x"}} {
		payload := enc.encode(ticks, minutes, c)
		var b Batch
		if err := dec.decode(payload, &b); err != nil {
			t.Fatal(err)
		}
		checkTicks(t, b.Ticks, ticks)
		if len(b.Minutes) != len(minutes) {
			t.Fatalf("%d minutes, want %d", len(b.Minutes), len(minutes))
		}
		for i := range minutes {
			if b.Minutes[i].FIGI != minutes[i].FIGI || b.Minutes[i].Final != minutes[i].Final ||
				!sameBarBits(b.Minutes[i].Bar, minutes[i].Bar) {
				t.Fatalf("minute %d: %+v, want %+v", i, b.Minutes[i], minutes[i])
			}
		}
		switch {
		case c == nil && b.Control != nil, c != nil && b.Control == nil:
			t.Fatalf("control %+v, want %+v", b.Control, c)
		case c != nil && (b.Control.Kind != c.Kind || string(b.Control.Data) != string(c.Data)):
			t.Fatalf("control %+v, want %+v", b.Control, c)
		}
	}
	// Empty batch.
	var b Batch
	if err := dec.decode(enc.encode(nil, nil, nil), &b); err != nil || b.Ticks != nil || b.Minutes != nil || b.Control != nil {
		t.Fatalf("empty batch: %+v %v", b, err)
	}
}

// TestCodecCorrupt: every truncation and a wrong version fail with
// ErrFormat, never panic.
func TestCodecCorrupt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var enc encoder
	payload := append([]byte(nil), enc.encode(genTicks(r, 10, time.Unix(1.7e9, 0)),
		[]MinuteUpdate{{FIGI: "F", Bar: tvbridge.Bar{Volume: 1}}}, &Control{Kind: "k", Data: []byte("d")})...)
	var dec decoder
	for n := 0; n < len(payload); n++ {
		var b Batch
		if err := dec.decode(payload[:n], &b); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(payload), err)
		}
	}
	var b Batch
	if err := dec.decode(append(payload, 0), &b); !errors.Is(err, ErrFormat) {
		t.Fatalf("trailing byte: %v", err)
	}
	bad := append([]byte{2}, payload[1:]...)
	if err := dec.decode(bad, &b); !errors.Is(err, ErrFormat) {
		t.Fatalf("version 2: %v", err)
	}
	for i := 0; i < 2000; i++ { // random corruption
		c := append([]byte(nil), payload...)
		c[r.IntN(len(c))] ^= byte(1 + r.IntN(255))
		_ = dec.decode(c, &b)
	}
}

func FuzzDecode(f *testing.F) {
	var enc encoder
	r := rand.New(rand.NewPCG(5, 6))
	f.Add(append([]byte(nil), enc.encode(genTicks(r, 5, time.Unix(1.7e9, 0)), nil, nil)...))
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var dec decoder
		var b Batch
		if err := dec.decode(data, &b); err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		var c *Control = b.Control
		again := enc.encode(b.Ticks, b.Minutes, c)
		var b2 Batch
		if err := dec.decode(again, &b2); err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		checkTicks(t, b2.Ticks, b.Ticks)
	})
}

// TestCodecSize measures the payload of a typical batch (20 ticks) against
// encoding/json of the same ticks.
func TestCodecSize(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ticks := genTicks(r, 20, time.Date(2026, 3, 2, 10, 15, 7, 0, time.UTC))
	minutes := []MinuteUpdate{{FIGI: ticks[0].FIGI, Bar: tvbridge.Bar{Time: time.Unix(1.7e9, 0), Open: 1, High: 2, Low: 1, Close: 2, Volume: 5}}}
	var enc encoder
	bin := len(enc.encode(ticks, minutes, nil))
	js, err := json.Marshal(struct {
		Ticks   []tvbridge.Tick
		Minutes []MinuteUpdate
	}{ticks, minutes})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 ticks + 1 minute: binary %d bytes (%.1f per tick), encoding/json %d bytes (%.1f per tick), %.1fx smaller",
		bin, float64(bin)/20, len(js), float64(len(js))/20, float64(len(js))/float64(bin))
	if bin*3 > len(js) {
		t.Errorf("binary payload %d bytes is not much smaller than JSON %d", bin, len(js))
	}
}

func BenchmarkEncode(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	ticks := genTicks(r, 20, time.Unix(1.7e9, 0))
	var enc encoder
	b.ReportAllocs()
	for b.Loop() {
		enc.encode(ticks, nil, nil)
	}
}

func BenchmarkDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	var enc encoder
	payload := append([]byte(nil), enc.encode(genTicks(r, 20, time.Unix(1.7e9, 0)), nil, nil)...)
	var dec decoder
	var batch Batch
	b.ReportAllocs()
	for b.Loop() {
		if err := dec.decode(payload, &batch); err != nil {
			b.Fatal(err)
		}
	}
}
