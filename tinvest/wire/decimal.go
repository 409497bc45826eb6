package wire

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Quotation is an exact decimal: Units + Nano/1e9, where Nano lies in
// (-1e9, 1e9) and has the sign of Units when both are non-zero.
// {"units":"-1","nano":-500000000} is -1.5; {"units":"0","nano":-5} is
// -0.000000005.
type Quotation struct {
	Units int64
	Nano  int32
}

// MoneyValue is a Quotation in a currency (an ISO code, lower case on the
// wire: "rub").
type MoneyValue struct {
	Currency string
	Units    int64
	Nano     int32
}

// Quotation returns the amount without the currency.
func (m MoneyValue) Quotation() Quotation { return Quotation{Units: m.Units, Nano: m.Nano} }

// Float64 is the amount as the float64 nearest to the exact decimal.
func (m MoneyValue) Float64() float64 { return m.Quotation().Float64() }

// String is the exact decimal, e.g. "195.2".
func (m MoneyValue) String() string { return m.Quotation().String() }

// Money builds a MoneyValue.
func Money(currency string, q Quotation) MoneyValue {
	return MoneyValue{Currency: currency, Units: q.Units, Nano: q.Nano}
}

// NanoPerUnit is 1e9, the nano scale.
const NanoPerUnit = 1_000_000_000

var (
	errNanoRange = errors.New("nano outside -999999999..999999999")
	errNanoSign  = errors.New("nano and units have opposite signs")
)

// Validate checks the nano range and the sign rule.
func (q Quotation) Validate() error {
	if q.Nano <= -NanoPerUnit || q.Nano >= NanoPerUnit {
		return fmt.Errorf("%w: %d", errNanoRange, q.Nano)
	}
	if (q.Units > 0 && q.Nano < 0) || (q.Units < 0 && q.Nano > 0) {
		return fmt.Errorf("%w: units %d, nano %d", errNanoSign, q.Units, q.Nano)
	}
	return nil
}

// IsZero reports whether q is 0.
func (q Quotation) IsZero() bool { return q.Units == 0 && q.Nano == 0 }

// Sign returns -1, 0 or +1.
func (q Quotation) Sign() int {
	switch {
	case q.Units > 0 || (q.Units == 0 && q.Nano > 0):
		return 1
	case q.Units < 0 || q.Nano < 0:
		return -1
	}
	return 0
}

// Cmp compares two valid quotations: -1, 0 or +1.
func (q Quotation) Cmp(r Quotation) int {
	switch {
	case q.Units < r.Units:
		return -1
	case q.Units > r.Units:
		return 1
	case q.Nano < r.Nano:
		return -1
	case q.Nano > r.Nano:
		return 1
	}
	return 0
}

// maxExact is 2^53: every integer below it is a float64.
const maxExact = 1 << 53

// Float64 returns the float64 nearest to the exact decimal value of q (ties
// to even), exactly what strconv.ParseFloat(q.String(), 64) returns.
//
// It never computes float64(Units) + float64(Nano)/1e9: that rounds twice
// (the fraction, then the sum) and can land one ulp away from the nearest
// float64. Instead, when the value in nanos (Units*1e9 + Nano) is below
// 2^53 in magnitude, both it and the divisor are exact float64s and one
// IEEE division rounds the exact quotient once, correctly (Clinger's fast
// path; it covers every |price| below 9,007,199). Larger values go through
// the decimal string and strconv.ParseFloat.
func (q Quotation) Float64() float64 {
	if q.Nano == 0 {
		return float64(q.Units) // one correctly rounded conversion
	}
	if q.Units > -maxExact/NanoPerUnit && q.Units < maxExact/NanoPerUnit {
		n := q.Units*NanoPerUnit + int64(q.Nano)
		if n > -maxExact && n < maxExact {
			return float64(n) / NanoPerUnit
		}
	}
	f, err := strconv.ParseFloat(q.String(), 64)
	if err != nil {
		return math.NaN() // cannot happen for a valid quotation
	}
	return f
}

// String returns the exact decimal without trailing zeros: "195.2", "-0.5",
// "0", "7".
func (q Quotation) String() string {
	return string(q.AppendDecimal(nil))
}

// AppendDecimal appends the exact decimal (see String) to b.
func (q Quotation) AppendDecimal(b []byte) []byte {
	neg := q.Units < 0 || q.Nano < 0
	units, nano := q.Units, int64(q.Nano)
	if neg {
		b = append(b, '-')
		nano = -nano
	}
	if units < 0 {
		// -MinInt64 overflows; format the magnitude as unsigned.
		b = strconv.AppendUint(b, uint64(-(units+1))+1, 10)
	} else {
		b = strconv.AppendUint(b, uint64(units), 10)
	}
	if nano == 0 {
		return b
	}
	var frac [9]byte
	for i := 8; i >= 0; i-- {
		frac[i] = byte('0' + nano%10)
		nano /= 10
	}
	n := 9
	for n > 0 && frac[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, frac[:n]...)
}

// ParseQuotation parses an exact decimal: an optional minus, digits, and
// optionally a point with 1..9 digits (more digits are accepted only when
// the extra ones are zeros). No exponent, no plus sign, no spaces.
func ParseQuotation(s string) (Quotation, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || (hasFrac && (frac == "" || !allDigits(frac))) {
		return Quotation{}, fmt.Errorf("wire: %q is not a decimal number", orig)
	}
	if len(frac) > 9 {
		if strings.Trim(frac[9:], "0") != "" {
			return Quotation{}, fmt.Errorf("wire: %q has more than 9 fractional digits", orig)
		}
		frac = frac[:9]
	}
	units, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil || units > math.MaxInt64 {
		return Quotation{}, fmt.Errorf("wire: %q: units out of range", orig)
	}
	var nano int64
	for i := range 9 {
		nano *= 10
		if i < len(frac) {
			nano += int64(frac[i] - '0')
		}
	}
	q := Quotation{Units: int64(units), Nano: int32(nano)}
	if neg {
		q.Units, q.Nano = -q.Units, -q.Nano
	}
	return q, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// QuotationFromFloat converts a float64 price to a Quotation by way of its
// shortest decimal representation (strconv's 'f' format with precision -1:
// the shortest decimal that parses back to exactly f), rounded half to even
// to nine fractional digits when it has more.
//
// No rounding error for prices on a tick: a tick and the prices on it are
// decimals with at most nine fractional digits, and as long as such a
// decimal has at most 15 significant digits (every price below 1,000,000
// with nine fractional digits; below 10^12 with three), the float64 nearest
// to it has that decimal as its shortest representation (float64 keeps 15
// significant decimal digits through a round trip). So for every such
// Quotation q, QuotationFromFloat(q.Float64()) == q exactly; the property
// test checks it over random units and nanos.
func QuotationFromFloat(f float64) (Quotation, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Quotation{}, fmt.Errorf("wire: price %v is not a number", f)
	}
	if math.Abs(f) >= 9.2e18 {
		return Quotation{}, fmt.Errorf("wire: price %v out of range", f)
	}
	var buf [64]byte
	s := strconv.AppendFloat(buf[:0], f, 'f', -1, 64)
	intPart, frac, _ := strings.Cut(string(s), ".")
	if len(frac) > 9 {
		return roundDecimal(intPart, frac)
	}
	return ParseQuotation(string(s))
}

// roundDecimal rounds intPart.frac half to even at the ninth fractional
// digit, exactly, with big integers.
func roundDecimal(intPart, frac string) (Quotation, error) {
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	n, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return Quotation{}, fmt.Errorf("wire: cannot round %s.%s", intPart, frac)
	}
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac)-9)), nil)
	nanos := roundDiv(n, scale)
	if neg {
		nanos.Neg(nanos)
	}
	return quotationFromNanos(nanos)
}

// roundDiv returns n/d rounded half to even, for n >= 0, d > 0.
func roundDiv(n, d *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	twice := new(big.Int).Lsh(r, 1)
	switch twice.Cmp(d) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

var bigNano = big.NewInt(NanoPerUnit)

// Nanos returns q as an integer count of billionths.
func (q Quotation) Nanos() *big.Int {
	n := new(big.Int).Mul(big.NewInt(q.Units), bigNano)
	return n.Add(n, big.NewInt(int64(q.Nano)))
}

// quotationFromNanos splits a count of billionths into units and nano.
func quotationFromNanos(n *big.Int) (Quotation, error) {
	units, nano := new(big.Int).QuoRem(n, bigNano, new(big.Int)) // truncated: nano has the sign of n
	if !units.IsInt64() {
		return Quotation{}, fmt.Errorf("wire: %s nanos out of range", n)
	}
	return Quotation{Units: units.Int64(), Nano: int32(nano.Int64())}, nil
}

// SnapToTick returns the multiple of tick nearest to price, exactly: price
// is read as its shortest decimal representation (see QuotationFromFloat),
// both are scaled to billionths as integers, and the quotient is rounded
// half away from zero. A tick that is not positive is an error.
func SnapToTick(price float64, tick Quotation) (Quotation, error) {
	p, err := QuotationFromFloat(price)
	if err != nil {
		return Quotation{}, err
	}
	return SnapQuotation(p, tick)
}

// SnapQuotation returns the multiple of tick nearest to p (ties away from
// zero), exactly.
func SnapQuotation(p, tick Quotation) (Quotation, error) {
	if err := tick.Validate(); err != nil || tick.Sign() <= 0 {
		return Quotation{}, fmt.Errorf("wire: tick %s is not a positive price step", tick)
	}
	if q, ok := snapSmall(p, tick); ok {
		return q, nil
	}
	pn, tn := p.Nanos(), tick.Nanos()
	neg := pn.Sign() < 0
	pn.Abs(pn)
	q, r := new(big.Int).QuoRem(pn, tn, new(big.Int))
	if new(big.Int).Lsh(r, 1).Cmp(tn) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	q.Mul(q, tn)
	if neg {
		q.Neg(q)
	}
	return quotationFromNanos(q)
}

// nanos64 is q in billionths when that fits an int64 (|units| below about
// 9.2e9: every price there is), the common case that needs no big.Int.
func (q Quotation) nanos64() (int64, bool) {
	const limit = math.MaxInt64/1_000_000_000 - 1
	if q.Units > limit || q.Units < -limit {
		return 0, false
	}
	return q.Units*1e9 + int64(q.Nano), true
}

// snapSmall is SnapQuotation in int64 arithmetic, for a valid positive tick
// and values small enough; ok is false when it cannot answer exactly.
func snapSmall(p, tick Quotation) (Quotation, bool) {
	pn, ok1 := p.nanos64()
	tn, ok2 := tick.nanos64()
	if !ok1 || !ok2 || tn <= 0 {
		return Quotation{}, false
	}
	neg := pn < 0
	if neg {
		pn = -pn
	}
	q, r := pn/tn, pn%tn
	if r >= tn-r { // 2r >= tn, without overflow: ties away from zero
		q++
	}
	if q > math.MaxInt64/tn {
		return Quotation{}, false
	}
	n := q * tn
	if neg {
		n = -n
	}
	return Quotation{Units: n / 1e9, Nano: int32(n % 1e9)}, true
}

// OnTick reports whether p is an exact multiple of tick.
func OnTick(p, tick Quotation) bool {
	if tick.Sign() <= 0 {
		return false
	}
	if pn, ok := p.nanos64(); ok {
		if tn, ok := tick.nanos64(); ok {
			return pn%tn == 0
		}
	}
	r := new(big.Int).Rem(p.Nanos(), tick.Nanos())
	return r.Sign() == 0
}

// SnapFloat snaps a float64 price to a float64 tick (as the domain keeps
// ticks) and returns the float64 nearest to the snapped decimal: both go
// through QuotationFromFloat, so a tick like 0.01 is the decimal 0.01, not
// the binary fraction nearest to it.
func SnapFloat(price, tick float64) (float64, error) {
	t, err := QuotationFromFloat(tick)
	if err != nil {
		return 0, err
	}
	q, err := SnapToTick(price, t)
	if err != nil {
		return 0, err
	}
	return q.Float64(), nil
}
