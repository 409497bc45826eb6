package wire

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// randomQuotation draws a valid quotation with at most sig significant
// digits, the shape of a price on a tick.
func randomQuotation(r *rand.Rand, sig int) Quotation {
	for {
		unitsDigits := r.IntN(sig + 1)
		fracDigits := min(9, sig-unitsDigits)
		units := int64(0)
		if unitsDigits > 0 {
			units = r.Int64N(int64(math.Pow10(unitsDigits)))
		}
		nano := int32(0)
		if fracDigits > 0 {
			nano = int32(r.Int64N(int64(math.Pow10(fracDigits))) * int64(math.Pow10(9-fracDigits)))
		}
		q := Quotation{Units: units, Nano: nano}
		if r.IntN(2) == 0 {
			q.Units, q.Nano = -q.Units, -q.Nano
		}
		if q.Validate() == nil {
			return q
		}
	}
}

// Float64 is exactly the float64 nearest to the decimal (strconv's answer),
// for every valid quotation, large ones included.
func TestQuotationFloat64IsNearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50000 {
		q := Quotation{Units: r.Int64() >> uint(r.IntN(64)), Nano: int32(r.Int64N(NanoPerUnit))}
		if q.Units < 0 || (q.Units == 0 && r.IntN(2) == 0) {
			q.Nano = -q.Nano
		}
		if i%7 == 0 {
			q.Nano = 0
		}
		want, err := strconv.ParseFloat(q.String(), 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Float64(); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: Float64 %v, nearest is %v", q, got, want)
		}
	}
}

// The naive formula is off by an ulp for some values; Float64 is not.
func TestQuotationFloat64BeatsNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	naiveWrong := 0
	for range 50000 {
		q := randomQuotation(r, 15)
		want, _ := strconv.ParseFloat(q.String(), 64)
		if float64(q.Units)+float64(q.Nano)/1e9 != want {
			naiveWrong++
		}
		if q.Float64() != want {
			t.Fatalf("%s: %v, want %v", q, q.Float64(), want)
		}
	}
	if naiveWrong == 0 {
		t.Log("the naive formula happened to be right on this sample")
	}
}

// Property: a price on a tick (at most 15 significant digits, nine
// fractional) survives Quotation -> float64 -> Quotation exactly, and so
// does its JSON form.
func TestQuotationRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		q := randomQuotation(r, 15)
		back, err := QuotationFromFloat(q.Float64())
		if err != nil || back != q {
			t.Fatalf("%s -> %v -> %s (%v)", q, q.Float64(), back, err)
		}
		data, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		var dec Quotation
		if err := json.Unmarshal(data, &dec); err != nil || dec != q {
			t.Fatalf("JSON %s -> %s (%v)", data, dec, err)
		}
		parsed, err := ParseQuotation(q.String())
		if err != nil || parsed != q {
			t.Fatalf("ParseQuotation(%q) = %s, %v", q.String(), parsed, err)
		}
		m := Money("rub", q)
		data, _ = json.Marshal(m)
		var dm MoneyValue
		if err := json.Unmarshal(data, &dm); err != nil || dm != m {
			t.Fatalf("money JSON %s -> %+v (%v)", data, dm, err)
		}
	}
}

func TestQuotationFromFloatRounds(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{195.2, "195.2"}, {0.1 + 0.2, "0.3"}, {1e-10, "0"}, {1.5e-9, "0.000000002"}, {2.5e-9, "0.000000002"},
		{-0.0000000015, "-0.000000002"}, {123456.123456789, "123456.123456789"}, {0, "0"}, {-7, "-7"},
	} {
		q, err := QuotationFromFloat(c.f)
		if err != nil || q.String() != c.want {
			t.Errorf("QuotationFromFloat(%v) = %s, %v; want %s", c.f, q, err, c.want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), 1e19} {
		if _, err := QuotationFromFloat(f); err == nil {
			t.Errorf("QuotationFromFloat(%v) accepted", f)
		}
	}
}

func TestSnapToTick(t *testing.T) {
	tick := Quotation{Nano: 10_000_000} // 0.01
	for _, c := range []struct {
		price float64
		tick  Quotation
		want  string
	}{
		{195.204, tick, "195.2"}, {195.205, tick, "195.21"}, {195.2049999, tick, "195.2"},
		{-1.005, tick, "-1.01"}, {0.3, Quotation{Nano: 100_000_000}, "0.3"},
		{0.1 + 0.2, Quotation{Nano: 100_000_000}, "0.3"}, {101, Quotation{Units: 5}, "100"},
		{102.5, Quotation{Units: 5}, "105"}, {0.0000004, Quotation{Nano: 5}, "0.0000004"},
	} {
		q, err := SnapToTick(c.price, c.tick)
		if err != nil || q.String() != c.want {
			t.Errorf("SnapToTick(%v, %s) = %s, %v; want %s", c.price, c.tick, q, err, c.want)
		}
		if err == nil && !OnTick(q, c.tick) {
			t.Errorf("%s is not on tick %s", q, c.tick)
		}
	}
	if _, err := SnapToTick(1, Quotation{}); err == nil {
		t.Error("zero tick accepted")
	}
	if f, err := SnapFloat(0.30000000000000004, 0.1); err != nil || f != 0.3 {
		t.Errorf("SnapFloat = %v, %v", f, err)
	}
}

func TestQuotationStrictJSON(t *testing.T) {
	good := map[string]Quotation{
		`{"units":"195","nano":200000000}`:    {195, 200000000},
		`{"units":195,"nano":200000000}`:      {195, 200000000}, // proto3 JSON parsers take numbers too
		`{"nano":500000000}`:                  {0, 500000000},
		`{}`:                                  {},
		`null`:                                {},
		`{"units":"-1","nano":-500000000}`:    {-1, -500000000},
		`{"units":"0","nano":-5,"x":[1,2,3]}`: {0, -5},
		`{"units":"9223372036854775807"}`:     {math.MaxInt64, 0},
	}
	for in, want := range good {
		var q Quotation
		if err := json.Unmarshal([]byte(in), &q); err != nil || q != want {
			t.Errorf("%s: %+v, %v; want %+v", in, q, err, want)
		}
	}
	bad := []string{
		`{"units":"1.5"}`, `{"units":"1e3"}`, `{"units":" 1"}`, `{"units":"+1"}`, `{"units":"01"}`,
		`{"units":"9223372036854775808"}`, `{"units":true}`, `{"nano":"5"}`, `{"nano":1000000000}`,
		`{"nano":-1000000000}`, `{"units":"1","nano":-1}`, `{"units":"-1","nano":1}`, `{"nano":1.5}`,
		`{"nano":NaN}`, `"1.5"`, `[1]`, `{"units":"NaN"}`, `{"nano":2147483648}`,
	}
	for _, in := range bad {
		var q Quotation
		if err := json.Unmarshal([]byte(in), &q); err == nil {
			t.Errorf("%s accepted as %+v", in, q)
		}
	}
}

func TestInt64AndTimestampJSON(t *testing.T) {
	var v struct {
		Q Int64     `json:"q"`
		T Timestamp `json:"t"`
	}
	if err := json.Unmarshal([]byte(`{"q":"200","t":"2023-05-16T08:44:27.432487Z"}`), &v); err != nil || v.Q != 200 ||
		v.T.Nanosecond() != 432487000 {
		t.Fatalf("%+v %v", v, err)
	}
	out, _ := json.Marshal(v)
	if string(out) != `{"q":"200","t":"2023-05-16T08:44:27.432487Z"}` {
		t.Fatalf("encoded %s", out)
	}
	for _, bad := range []string{`{"t":"2023-05-16"}`, `{"t":123}`, `{"t":"2023-05-16T08:44:27.1234567891Z"}`,
		`{"q":1.0}`, `{"q":"x"}`, `{"q":[1]}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	var e struct {
		S SubscriptionStatus `json:"s"`
	}
	if err := json.Unmarshal([]byte(`{"s":5}`), &e); err == nil {
		t.Error("numeric enum accepted")
	}
	if err := json.Unmarshal([]byte(`{"s":"SUBSCRIPTION_STATUS_NEW_THING"}`), &e); err != nil || e.S != "SUBSCRIPTION_STATUS_NEW_THING" {
		t.Errorf("unknown enum name: %v %v", e.S, err)
	}
}

// Requests encode as the gateway expects: camelCase, int64 as strings,
// enum names, optional members left out.
func TestRequestEncoding(t *testing.T) {
	price := Quotation{Units: 195, Nano: 200000000}
	data, err := json.Marshal(PostOrderRequest{InstrumentID: "uid", Quantity: 200, Price: &price,
		Direction: OrderDirectionBuy, AccountID: "A", OrderType: OrderTypeLimit, OrderID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"instrumentId":"uid","quantity":"200","price":{"units":"195","nano":200000000},"direction":"ORDER_DIRECTION_BUY","accountId":"A","orderType":"ORDER_TYPE_LIMIT","orderId":"k"}`
	if string(data) != want {
		t.Fatalf("got  %s\nwant %s", data, want)
	}
	data, _ = json.Marshal(MarketDataRequest{PingSettings: &PingDelaySettings{PingDelayMs: 15000}})
	if string(data) != `{"pingSettings":{"pingDelayMs":15000}}` {
		t.Fatalf("ping settings %s", data)
	}
	data, _ = json.Marshal(TradingSchedulesRequest{})
	if string(data) != `{}` {
		t.Fatalf("empty schedules request %s", data)
	}
	if !strings.HasPrefix(MethodGetCandles, ServicePrefix) || MethodName(MethodGetCandles) != "GetCandles" ||
		ServiceOf(MethodGetCandles) != MarketDataService {
		t.Fatal("method names")
	}
}

// The int64 fast path of SnapQuotation and OnTick answers exactly what the
// big.Int path does, over random prices and ticks, negative prices, ties
// and values near the fast path's limit.
func TestSnapFastPathMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	bigSnap := func(p, tick Quotation) Quotation {
		pn, tn := p.Nanos(), tick.Nanos()
		neg := pn.Sign() < 0
		pn.Abs(pn)
		q, rem := new(big.Int).QuoRem(pn, tn, new(big.Int))
		if new(big.Int).Lsh(rem, 1).Cmp(tn) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		q.Mul(q, tn)
		if neg {
			q.Neg(q)
		}
		out, err := quotationFromNanos(q)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ticks := []Quotation{{Nano: 1}, {Nano: 10_000_000}, {Nano: 500_000_000}, {Units: 1}, {Units: 5, Nano: 250_000_000}, {Units: 1000}}
	for i := range 200_000 {
		tick := ticks[i%len(ticks)]
		units := r.Int64N(1_000_000)
		if i%50 == 0 {
			units = math.MaxInt64/1_000_000_000 - 1 - r.Int64N(3)
		}
		p := Quotation{Units: units, Nano: int32(r.Int64N(1_000_000_000))}
		if i%7 == 0 { // a tie: exactly half a tick above a multiple
			n := (p.Units%1000)*1_000_000_000 + int64(p.Nano)
			tn, _ := tick.nanos64()
			n = n/tn*tn + tn/2
			if tn%2 == 0 {
				p = Quotation{Units: n / 1e9, Nano: int32(n % 1e9)}
			}
		}
		if i%3 == 0 {
			p = Quotation{Units: -p.Units, Nano: -p.Nano}
		}
		got, err := SnapQuotation(p, tick)
		if err != nil {
			t.Fatal(err)
		}
		if want := bigSnap(p, tick); got != want {
			t.Fatalf("SnapQuotation(%+v, %+v) = %+v, want %+v", p, tick, got, want)
		}
		onBig := new(big.Int).Rem(p.Nanos(), tick.Nanos()).Sign() == 0
		if OnTick(p, tick) != onBig || !OnTick(got, tick) {
			t.Fatalf("OnTick(%+v, %+v) = %v, want %v (snapped %+v)", p, tick, OnTick(p, tick), onBig, got)
		}
	}
}

// Quotation's hand-written encoding is exactly encoding/json's of its
// wire shape.
func TestQuotationMarshalMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 10_000 {
		q := Quotation{Units: r.Int64N(1e12) - 5e11, Nano: int32(r.Int64N(1e9))}
		if q.Units < 0 || (q.Units == 0 && i%2 == 0) {
			q.Nano = -q.Nano
		}
		got, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(quotationJSON{Units: Int64(q.Units), Nano: q.Nano})
		if string(got) != string(want) {
			t.Fatalf("%+v: %s, want %s", q, got, want)
		}
	}
}
