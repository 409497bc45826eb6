package api

import (
	"math"
	"strconv"
	"strings"
)

// Defaults for an instrument whose price increment is unknown (0): two
// decimals, one cent per tick, the most common case on the exchanges the
// bridge serves.
const (
	DefaultPriceScale  = 100
	DefaultMinMovement = 1
)

// maxPriceDecimals bounds pricescale at 10^12; an increment with more
// decimals (a float artefact such as 0.30000000000000004) is rounded to it.
const maxPriceDecimals = 12

// PriceScale derives TradingView's pricescale (a power of ten) and minmovement
// (an integer) from a price increment so that minmovement/pricescale equals
// the increment exactly: 0.01 => 100/1, 0.0025 => 10000/25, 0.5 => 10/5,
// 5 => 1/5. It works on the shortest decimal representation of the float,
// never on float division. exact is false when inc is unusable (zero,
// negative, NaN, infinite or absurdly large) and the defaults are returned.
func PriceScale(inc float64) (pricescale, minmovement int, exact bool) {
	if !(inc > 0) || math.IsInf(inc, 0) || inc >= 1e15 {
		return DefaultPriceScale, DefaultMinMovement, false
	}
	digits := strconv.FormatFloat(inc, 'f', -1, 64)
	if _, frac, _ := strings.Cut(digits, "."); len(frac) > maxPriceDecimals {
		digits = strings.TrimRight(strconv.FormatFloat(inc, 'f', maxPriceDecimals, 64), "0")
	}
	whole, frac, _ := strings.Cut(digits, ".")
	move, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || move <= 0 {
		return DefaultPriceScale, DefaultMinMovement, false
	}
	scale := 1
	for range len(frac) {
		scale *= 10
	}
	return scale, int(move), true
}
