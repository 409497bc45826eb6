package market

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// exactDecimal formats ticks×units×10^-decimals with integer arithmetic.
func exactDecimal(ticks, units int64, decimals int) string {
	digits := strconv.FormatInt(ticks*units, 10)
	if decimals == 0 {
		return digits
	}
	if len(digits) <= decimals {
		digits = strings.Repeat("0", decimals-len(digits)+1) + digits
	}
	s := digits[:len(digits)-decimals] + "." + digits[len(digits)-decimals:]
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

func TestPriceStepIsNearestFloatOfExactDecimal(t *testing.T) {
	incs := []float64{0.01, 0.0025, 0.005, 0.05, 0.5, 1, 50, 0.0001, 0.000005, 0.000002, 0.001, 0.2, 5}
	for _, inc := range incs {
		step, err := newPriceStep(inc)
		if err != nil {
			t.Fatalf("newPriceStep(%v): %v", inc, err)
		}
		for _, ticks := range []int64{1, 2, 3, 7, 10, 99, 12345, 123456789, 987654321} {
			got := step.price(ticks)
			want, err := strconv.ParseFloat(exactDecimal(ticks, step.units, step.decimals), 64)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("inc %v: %d ticks = %v, want %v (nearest float64 of the decimal)", inc, ticks, got, want)
			}
			if step.ticks(got) != ticks {
				t.Errorf("inc %v: ticks(price(%d)) = %d", inc, ticks, step.ticks(got))
			}
		}
	}
}

func TestPriceStepAvoidsNaiveMultiplication(t *testing.T) {
	for _, inc := range []float64{0.1, 0.01, 0.0025} {
		step := mustPriceStep(inc)
		naiveWrong := 0
		for ticks := int64(1); ticks <= 100_000; ticks++ {
			want, _ := strconv.ParseFloat(exactDecimal(ticks, step.units, step.decimals), 64)
			if float64(ticks)*inc != want {
				naiveWrong++
			}
			if got := step.price(ticks); got != want {
				t.Fatalf("inc %v: price(%d) = %v, want %v", inc, ticks, got, want)
			}
		}
		// ticks×inc is off for a good share of prices: why the helper exists.
		if naiveWrong == 0 {
			t.Errorf("inc %v: the naive product was never wrong; the test lost its point", inc)
		}
	}
	if got := mustPriceStep(0.01).round(123.4549); got != 123.45 {
		t.Errorf("round(123.4549) = %v, want 123.45", got)
	}
}

func TestNewPriceStepRejectsBadIncrements(t *testing.T) {
	for _, inc := range []float64{0, -0.01, math.NaN(), math.Inf(1), 1e-13, 1e300} {
		if _, err := newPriceStep(inc); err == nil {
			t.Errorf("newPriceStep(%v) succeeded, want an error", inc)
		}
	}
}

func FuzzPriceStep(f *testing.F) {
	f.Add(0.01, 123.456)
	f.Add(0.0025, 90.1234)
	f.Add(0.5, 7000.3)
	f.Add(50.0, 140010.0)
	f.Add(0.000005, 0.0251234)
	f.Add(1e-12, 1.0)
	f.Add(-1.0, 5.0)
	f.Fuzz(func(t *testing.T, inc, price float64) {
		step, err := newPriceStep(inc)
		if err != nil {
			return
		}
		if !(price > 0) || math.IsInf(price, 0) || price/inc*float64(step.units) > 1<<52 {
			return // outside the range where the helper is exact (and the model's prices lie)
		}
		got := step.round(price)
		if !isMultiple(got, inc) {
			t.Fatalf("round(%v) to %v = %v, not a multiple", price, inc, got)
		}
		if math.Abs(got-price) > inc/2*(1+1e-9)+1e-9*math.Abs(price) {
			t.Fatalf("round(%v) to %v = %v, too far", price, inc, got)
		}
	})
}
