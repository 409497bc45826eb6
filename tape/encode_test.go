package tape

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"tvbridge"
)

var at = time.Unix(1700000000, 0).UTC() // 2023-11-14 22:13:20 UTC

func TestAppendLineGolden(t *testing.T) {
	day := time.Date(2023, 11, 14, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		tick tvbridge.Tick
		want string
	}{
		{"trade", tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: "SBER", Time: at, Price: 250.35, Size: 10},
			`{"f":"t","id":"SBER","p":250.35,"s":10,"t":1700000000}`},
		{"quote", tvbridge.Tick{Kind: tvbridge.TickQuote, Symbol: "SBER", Time: at, Ask: 250.4, AskSize: 12, Bid: 250.35, BidSize: 3},
			`{"f":"q","id":"SBER","t":1700000000,"ap":250.4,"as":12,"bp":250.35,"bs":3}`},
		{"daily", tvbridge.Tick{Kind: tvbridge.TickDaily, Symbol: "SBER", Time: at,
			Bar: tvbridge.Bar{Time: day, Open: 249, High: 251.5, Low: 248.1, Close: 250.35, Volume: 123456}},
			`{"f":"d","id":"SBER","o":249,"h":251.5,"l":248.1,"c":250.35,"v":123456,"t":1699920000}`},
		{"daily without bar time uses the UTC day of the tick", tvbridge.Tick{Kind: tvbridge.TickDaily, Symbol: "SBER", Time: at,
			Bar: tvbridge.Bar{Open: 1, High: 1, Low: 1, Close: 1, Volume: 1}},
			`{"f":"d","id":"SBER","o":1,"h":1,"l":1,"c":1,"v":1,"t":1699920000}`},
		{"ticker with slash", tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: "BTC/USDT", Time: at, Price: 0.30000000000000004, Size: 0.001},
			`{"f":"t","id":"BTC/USDT","p":0.30000000000000004,"s":0.001,"t":1700000000}`},
		{"escaped id", tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: "A\"B\\C\n\t\x01\xffé", Time: at, Price: 1, Size: 1},
			`{"f":"t","id":"A\"B\\C\n\t\u0001\ufffdé","p":1,"s":1,"t":1700000000}`},
		{"tiny and huge numbers", tvbridge.Tick{Kind: tvbridge.TickQuote, Symbol: "X", Time: at, Ask: 1e-7, AskSize: 1e21, Bid: 0.000001, BidSize: 123456789012345678},
			`{"f":"q","id":"X","t":1700000000,"ap":1e-7,"as":1e+21,"bp":0.000001,"bs":123456789012345680}`},
		{"negative zero and negative price", tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: "CL", Time: at, Price: -37.63, Size: math.Copysign(0, -1)},
			`{"f":"t","id":"CL","p":-37.63,"s":-0,"t":1700000000}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendLine([]byte("prefix"), tc.tick))
			if want := "prefix" + tc.want + "\n"; got != want {
				t.Errorf("AppendLine:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestAppendLineRejectsUnencodable(t *testing.T) {
	tests := map[string]tvbridge.Tick{
		"unknown kind":  {Kind: 0, Symbol: "X", Time: at},
		"NaN price":     {Kind: tvbridge.TickTrade, Symbol: "X", Time: at, Price: math.NaN(), Size: 1},
		"infinite size": {Kind: tvbridge.TickTrade, Symbol: "X", Time: at, Price: 1, Size: math.Inf(1)},
		"NaN bid size":  {Kind: tvbridge.TickQuote, Symbol: "X", Time: at, BidSize: math.NaN()},
		"NaN volume":    {Kind: tvbridge.TickDaily, Symbol: "X", Time: at, Bar: tvbridge.Bar{Volume: math.Inf(-1)}},
	}
	for name, tick := range tests {
		if got := AppendLine([]byte("keep"), tick); string(got) != "keep" {
			t.Errorf("%s: AppendLine appended %q, want nothing", name, got[4:])
		}
	}
}

func TestAppendHeartbeat(t *testing.T) {
	got := string(AppendHeartbeat(nil, time.Unix(1609255644, 999999999)))
	if want := "{\"heartbeat\":1609255644}\n"; got != want {
		t.Errorf("AppendHeartbeat = %q, want %q", got, want)
	}
}

func TestUTCDay(t *testing.T) {
	tests := map[int64]int64{0: 0, 86399: 0, 86400: 86400, -1: -86400, -86400: -86400, 1700000000: 1699920000}
	for in, want := range tests {
		if got := utcDay(in); got != want {
			t.Errorf("utcDay(%d) = %d, want %d", in, got, want)
		}
	}
}

// streamMsg holds every field a /streaming message can carry; pointers tell
// a missing field from a zero one.
type streamMsg struct {
	F  string   `json:"f"`
	ID string   `json:"id"`
	T  *int64   `json:"t"`
	P  *float64 `json:"p"`
	S  *float64 `json:"s"`
	AP *float64 `json:"ap"`
	AS *float64 `json:"as"`
	BP *float64 `json:"bp"`
	BS *float64 `json:"bs"`
	O  *float64 `json:"o"`
	H  *float64 `json:"h"`
	L  *float64 `json:"l"`
	C  *float64 `json:"c"`
	V  *float64 `json:"v"`
}

// FuzzAppendLine checks that every tick with finite numbers encodes to one
// line of valid JSON that decodes to exactly the tick's values, with numbers
// spelled as encoding/json spells them; and that a tick with a non-finite
// number or an unknown kind encodes to nothing.
func FuzzAppendLine(f *testing.F) {
	f.Add(uint8(tvbridge.TickTrade), "SBER", 250.35, 10.0, 0.0, 0.0, 0.0, int64(1700000000))
	f.Add(uint8(tvbridge.TickQuote), "BTC/USDT", 250.4, 12.0, 250.35, 3.0, 0.0, int64(1700000000))
	f.Add(uint8(tvbridge.TickDaily), "SBER", 249.0, 251.5, 248.1, 250.35, 123456.0, int64(1699920000))
	f.Add(uint8(tvbridge.TickTrade), "A\"B\\\n\x00\xff\u2028é", 1e-7, 1e21, 0.0, 0.0, 0.0, int64(-1))
	f.Add(uint8(tvbridge.TickQuote), "", math.MaxFloat64, math.SmallestNonzeroFloat64, math.Copysign(0, -1), -1e-300, 5e-324, int64(0))
	f.Add(uint8(tvbridge.TickTrade), "NAN", math.NaN(), 1.0, 0.0, 0.0, 0.0, int64(1))
	f.Add(uint8(9), "X", 1.0, 1.0, 1.0, 1.0, 1.0, int64(1))
	f.Fuzz(func(t *testing.T, kind uint8, symbol string, a, b, c, d, e float64, unix int64) {
		unix %= 1 << 40 // keep within the years time.Time represents exactly
		tick := fuzzTick(tvbridge.TickKind(kind), symbol, a, b, c, d, e, time.Unix(unix, 0))
		line := AppendLine(nil, tick)
		if !encodable(tick) {
			if len(line) != 0 {
				t.Fatalf("unencodable tick %+v encoded to %q", tick, line)
			}
			return
		}
		checkLine(t, tick, line)
	})
}

func fuzzTick(kind tvbridge.TickKind, symbol string, a, b, c, d, e float64, ts time.Time) tvbridge.Tick {
	tick := tvbridge.Tick{Kind: kind, Symbol: symbol, Time: ts}
	switch kind {
	case tvbridge.TickTrade:
		tick.Price, tick.Size = a, b
	case tvbridge.TickQuote:
		tick.Ask, tick.AskSize, tick.Bid, tick.BidSize = a, b, c, d
	case tvbridge.TickDaily:
		tick.Bar = tvbridge.Bar{Time: ts, Open: a, High: b, Low: c, Close: d, Volume: e}
	}
	return tick
}

func encodable(tick tvbridge.Tick) bool {
	switch tick.Kind {
	case tvbridge.TickTrade:
		return finite(tick.Price, tick.Size)
	case tvbridge.TickQuote:
		return finite(tick.Ask, tick.AskSize, tick.Bid, tick.BidSize)
	case tvbridge.TickDaily:
		b := tick.Bar
		return finite(b.Open, b.High, b.Low, b.Close, b.Volume)
	}
	return false
}

// checkLine verifies that line is tick's /streaming message.
func checkLine(t *testing.T, tick tvbridge.Tick, line []byte) {
	t.Helper()
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("line %q is not exactly one line", line)
	}
	if !json.Valid(line) {
		t.Fatalf("line %q is not valid JSON", line)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var m streamMsg
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %q: %v", line, err)
	}
	if want := kindLetter[tick.Kind]; m.F != want {
		t.Fatalf("f = %q, want %q (line %q)", m.F, want, line)
	}
	if want := wantID(t, tick.Symbol); m.ID != want {
		t.Errorf("id = %q, want %q (line %q)", m.ID, want, line)
	}
	if m.T == nil || *m.T != tick.Time.Unix() {
		t.Errorf("t = %v, want %d (line %q)", m.T, tick.Time.Unix(), line)
	}
	for _, f := range numberFields(tick, m) {
		if f.got == nil {
			t.Errorf("field %s missing in %q", f.key, line)
			continue
		}
		if math.Float64bits(*f.got) != math.Float64bits(f.want) {
			t.Errorf("field %s = %v, want %v (line %q)", f.key, *f.got, f.want, line)
		}
		jsonSpelling, _ := json.Marshal(f.want)
		if !bytes.Contains(line, append([]byte(`"`+f.key+`":`), jsonSpelling...)) {
			t.Errorf("field %s is not spelled %s in %q", f.key, jsonSpelling, line)
		}
	}
}

// wantID is what a JSON decoder must read back for symbol: encoding/json's
// own round trip, which turns invalid UTF-8 into U+FFFD.
func wantID(t *testing.T, symbol string) string {
	t.Helper()
	b, err := json.Marshal(symbol)
	if err != nil {
		t.Fatalf("marshal %q: %v", symbol, err)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return s
}

type field struct {
	key  string
	got  *float64
	want float64
}

var kindLetter = map[tvbridge.TickKind]string{tvbridge.TickTrade: "t", tvbridge.TickQuote: "q", tvbridge.TickDaily: "d"}

// numberFields pairs the numeric fields decoded into m with tick's values.
func numberFields(tick tvbridge.Tick, m streamMsg) []field {
	switch tick.Kind {
	case tvbridge.TickTrade:
		return []field{{"p", m.P, tick.Price}, {"s", m.S, tick.Size}}
	case tvbridge.TickQuote:
		return []field{{"ap", m.AP, tick.Ask}, {"as", m.AS, tick.AskSize}, {"bp", m.BP, tick.Bid}, {"bs", m.BS, tick.BidSize}}
	default:
		b := tick.Bar
		return []field{{"o", m.O, b.Open}, {"h", m.H, b.High}, {"l", m.L, b.Low}, {"c", m.C, b.Close}, {"v", m.V, b.Volume}}
	}
}

func TestAppendLineMatchesEncodingJSON(t *testing.T) {
	// A sweep of magnitudes around the plain/exponent boundaries.
	for _, x := range []float64{0, 1, -1, 1e-6, 9.99999e-7, 1e-5, 1e20, 9.99e20, 1e21, 1.5e300, 5e-324, 123.456} {
		tick := tvbridge.Tick{Kind: tvbridge.TickTrade, Symbol: strings.Repeat("Z", 3), Time: at, Price: x, Size: -x}
		checkLine(t, tick, AppendLine(nil, tick))
	}
}

func BenchmarkAppendLine(b *testing.B) {
	ticks := []tvbridge.Tick{
		{Kind: tvbridge.TickTrade, Symbol: "SBER", Time: at, Price: 250.35, Size: 10},
		{Kind: tvbridge.TickQuote, Symbol: "SBER", Time: at, Ask: 250.4, AskSize: 12, Bid: 250.35, BidSize: 3},
	}
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = AppendLine(buf[:0], ticks[i&1])
	}
}
