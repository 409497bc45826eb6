package market

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// priceStep is a price increment held as an exact decimal, units × 10^-decimals.
//
// Rounding a price to the increment as math.Round(p/inc)*inc leaves binary
// noise (12345 × 0.01 = 123.45000000000002). priceStep instead converts a
// tick count to a price as (ticks×units) / 10^decimals: both operands are
// exact integers in float64 and IEEE division rounds correctly, so the result
// is the float64 nearest to the exact decimal, the same number strconv would
// parse from "123.45".
type priceStep struct {
	inc      float64 // the increment as given
	units    int64   // the increment in units of 10^-decimals
	decimals int
	scale    float64 // 10^decimals, exact in float64
}

// maxStepDecimals keeps 10^decimals exact in float64 (exact up to 10^22) and
// leaves room for tick counts before ticks×units passes 2^53.
const maxStepDecimals = 12

// maxExactUnits is the largest integer up to which float64 is exact.
const maxExactUnits = 1 << 53

func newPriceStep(inc float64) (priceStep, error) {
	if !(inc > 0) || math.IsInf(inc, 0) {
		return priceStep{}, fmt.Errorf("price increment %v is not a positive finite number", inc)
	}
	// The shortest decimal that round-trips is the decimal the increment
	// was written as: 0.0025 formats as "0.0025", not 0.00250000000000000005.
	s := strconv.FormatFloat(inc, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > maxStepDecimals {
		return priceStep{}, fmt.Errorf("price increment %s has more than %d decimals", s, maxStepDecimals)
	}
	units, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || units > maxExactUnits {
		return priceStep{}, fmt.Errorf("price increment %s is too large", s)
	}
	return priceStep{inc: inc, units: units, decimals: len(frac), scale: math.Pow10(len(frac))}, nil
}

// mustPriceStep is newPriceStep for the catalogue's own, known-good increments.
func mustPriceStep(inc float64) priceStep {
	p, err := newPriceStep(inc)
	if err != nil {
		panic(err)
	}
	return p
}

// ticks returns the whole number of increments nearest to price.
func (p priceStep) ticks(price float64) int64 {
	return int64(math.Round(price * p.scale / float64(p.units)))
}

// price returns ticks increments as the float64 nearest the exact decimal.
// ticks×units must stay below 2^53; the model's prices are far below that.
func (p priceStep) price(ticks int64) float64 {
	return float64(ticks*p.units) / p.scale
}

// round rounds price to the nearest multiple of the increment.
func (p priceStep) round(price float64) float64 { return p.price(p.ticks(price)) }
