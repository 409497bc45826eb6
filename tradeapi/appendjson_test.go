package tradeapi

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"tvbridge"
)

// appendOK encodes v as ok() does.
func appendOK(v jsonAppender) ([]byte, error) {
	e := &encoder{b: []byte(`{"s":"ok","d":`)}
	v.appendJSON(e)
	return append(e.b, '}'), e.err
}

// sameAsEncodingJSON fails unless v encodes exactly as json.Marshal does
// (with the payload it stands for: its reference, else itself), or fails
// as it does.
func sameAsEncodingJSON(t *testing.T, v jsonAppender) {
	t.Helper()
	got, gotErr := appendOK(v)
	var ref any = v
	if p, ok := v.(*statePayload); ok {
		ref = stateJSONOf(p.l, p.s)
	}
	want, wantErr := json.Marshal(okResponse{S: "ok", D: ref})
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("error %v, encoding/json: %v (%s)", gotErr, wantErr, want)
	case gotErr != nil:
		if gotErr.Error() != wantErr.Error() {
			t.Fatalf("error %q, encoding/json: %q", gotErr, wantErr)
		}
	case !bytes.Equal(got, want):
		t.Fatalf("encoded\n%s\nencoding/json\n%s", got, want)
	}
}

var (
	oddStrings = []string{"", "A1", "SPB_YNDX", `q"uo\te`, "<b>&amp;</b>", "tab\there\nnew\rline\b\f\x00\x1f\x7f",
		"Сбербанк ₽", "bad \xff\xfe utf8", "sep\u2028\u2029", "\U0001F600", "x\xe2\x80", "Заявка отклонена: нет денег"}
	oddFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 250.5, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21,
		123456789.123, -0.30000000000000004, math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324, 100000}
)

func randString(r *rand.Rand) string { return oddStrings[r.IntN(len(oddStrings))] }

func randFloat(r *rand.Rand) float64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return oddFloats[r.IntN(len(oddFloats))]
	case 2:
		return clean(r.NormFloat64() * 1000)
	}
	return math.Float64frombits(r.Uint64()) // NaN and infinities too, now and then
}

func finite(r *rand.Rand) float64 {
	for {
		if f := randFloat(r); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

func randOrder(r *rand.Rand, f func(*rand.Rand) float64) orderJSON {
	o := orderJSON{ID: randString(r), Instrument: randString(r), Qty: f(r), Side: randString(r), Type: randString(r),
		Status: randString(r), FilledQty: f(r), AvgPrice: f(r), LimitPrice: f(r), StopPrice: f(r),
		TrailingStopPips: f(r), IsTrailingStop: r.IntN(2) == 0, ParentID: randString(r), ParentType: randString(r),
		LastModified: r.Int64N(3) * r.Int64()}
	if r.IntN(2) == 0 {
		o.Duration = &durationRef{Type: randString(r), Datetime: r.Int64N(2) * r.Int64()}
	}
	if r.IntN(2) == 0 {
		o.Message = &messageJSON{Text: randString(r), Type: randString(r)}
	}
	return o
}

func randCurrency(r *rand.Rand, f func(*rand.Rand) float64) tvbridge.CurrencyState {
	return tvbridge.CurrencyState{Currency: randString(r), Balance: f(r), UnrealizedPL: f(r), Equity: f(r),
		RealizedPL: f(r), Commissions: f(r), MarginUsed: f(r), MarginAvailable: f(r), Rate: f(r)}
}

func randState(r *rand.Rand, f func(*rand.Rand) float64) *statePayload {
	c := randCurrency(r, f)
	s := tvbridge.AccountState{Balance: c.Balance, UnrealizedPL: c.UnrealizedPL, Equity: c.Equity,
		RealizedPL: c.RealizedPL, Commissions: c.Commissions, MarginUsed: c.MarginUsed, MarginAvailable: c.MarginAvailable}
	for range r.IntN(4) {
		s.Currencies = append(s.Currencies, randCurrency(r, f))
	}
	return &statePayload{lang(r.IntN(2)), s}
}

func randPayloads(r *rand.Rand, f func(*rand.Rand) float64) []jsonAppender {
	var orders orderList
	var positions positionList
	var quotes quoteList
	if r.IntN(6) > 0 {
		orders = orderList{}
		for range r.IntN(4) {
			orders = append(orders, randOrder(r, f))
		}
		positions = positionList{}
		for range r.IntN(3) {
			positions = append(positions, positionJSON{ID: randString(r), Instrument: randString(r), Qty: f(r),
				Side: randString(r), AvgPrice: f(r), UnrealizedPL: f(r)})
		}
		quotes = quoteList{}
		for range r.IntN(4) {
			quotes = append(quotes, quoteJSON{S: randString(r), N: randString(r), V: quoteData{Ask: f(r), Bid: f(r),
				BuyPipValue: f(r), SellPipValue: f(r), Halted: r.IntN(2) == 0}})
		}
	}
	return []jsonAppender{orders, positions, quotes, randState(r, f)}
}

// TestAppendJSONIsEncodingJSON: the hand-written encoders of the polled
// payloads produce exactly encoding/json's bytes, and fail where it fails.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 14))
	for range 5000 {
		for _, v := range randPayloads(r, finite) {
			sameAsEncodingJSON(t, v)
		}
	}
	for range 2000 {
		for _, v := range randPayloads(r, randFloat) {
			sameAsEncodingJSON(t, v)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		sameAsEncodingJSON(t, positionList{{ID: "p", Qty: f}})
		sameAsEncodingJSON(t, &statePayload{english, tvbridge.AccountState{Equity: f}})
		sameAsEncodingJSON(t, &statePayload{russian, tvbridge.AccountState{Currencies: []tvbridge.CurrencyState{{Rate: f}, {Commissions: f}}}})
		if _, err := appendOK(quoteList{{V: quoteData{Bid: f}}}); err == nil {
			t.Fatalf("%v encoded", f)
		}
	}
}

// FuzzAppendJSON compares any string and number with encoding/json.
func FuzzAppendJSON(f *testing.F) {
	for i, s := range oddStrings {
		f.Add(s, oddFloats[i%len(oddFloats)], int64(i))
	}
	f.Fuzz(func(t *testing.T, s string, v float64, n int64) {
		o := orderJSON{ID: s, Instrument: s, Qty: v, Side: s, Type: s, Status: s, FilledQty: v, AvgPrice: v,
			LimitPrice: v, StopPrice: v, TrailingStopPips: v, IsTrailingStop: n%2 == 0, ParentID: s, ParentType: s,
			Duration: &durationRef{Type: s, Datetime: n}, LastModified: n, Message: &messageJSON{Text: s, Type: s}}
		sameAsEncodingJSON(t, orderList{o, {ID: s}})
		sameAsEncodingJSON(t, positionList{{ID: s, Instrument: s, Qty: v, Side: s, AvgPrice: v, UnrealizedPL: v}})
		sameAsEncodingJSON(t, quoteList{{S: s, N: s, V: quoteData{Ask: v, Bid: v, BuyPipValue: v, SellPipValue: v, Halted: n < 0}}})
		cs := tvbridge.CurrencyState{Currency: s, Balance: v, UnrealizedPL: v, Equity: v, RealizedPL: v,
			Commissions: v, MarginUsed: v, MarginAvailable: v, Rate: v}
		for n := range 3 {
			sameAsEncodingJSON(t, &statePayload{lang(n % 2), tvbridge.AccountState{Balance: v, UnrealizedPL: v,
				Equity: v, MarginAvailable: v, Currencies: slices.Repeat([]tvbridge.CurrencyState{cs}, n)}})
		}
	})
}

// clean's table of powers of ten gives what math.Pow does.
func TestCleanPow10(t *testing.T) {
	for e := -400.0; e <= 400; e++ {
		if got, want := pow10(e), math.Pow(10, e); got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("pow10(%v) = %v, want %v", e, got, want)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	ref := func(v float64) float64 {
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= 1e15 {
			return v
		}
		scale := math.Pow(10, 11-math.Floor(math.Log10(math.Abs(v))))
		if math.IsInf(scale, 0) {
			return v
		}
		return math.Round(v*scale) / scale
	}
	for range 200000 {
		v := math.Float64frombits(r.Uint64())
		if r.IntN(2) == 0 {
			v = r.NormFloat64() * math.Pow(10, float64(r.IntN(30)-15))
		}
		if got, want := clean(v), ref(v); got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("clean(%v) = %v, want %v", v, got, want)
		}
	}
}
