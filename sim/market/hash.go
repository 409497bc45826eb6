package market

import "math"

// The model draws all its randomness from a counter-based hash: every value
// is hash(instrument key, what, when), so any minute of any instrument can be
// computed on its own, in any order, and always comes out the same.

const (
	golden  = 0x9e3779b97f4a7c15
	golden2 = 0x3c6ef372fe94f82a // 2×golden mod 2^64
)

// mix64 is the splitmix64 finaliser: a cheap bijection with good avalanche.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash2 combines two words into one well-mixed word.
func hash2(a, b uint64) uint64 { return mix64(a ^ mix64(b+golden)) }

// hash3 combines three words into one well-mixed word.
func hash3(a, b, c uint64) uint64 { return mix64(hash2(a, b) ^ mix64(c+golden2)) }

// hashString is FNV-1a followed by a finaliser, for FIGIs and tickers.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// signed maps a hash to [-1, 1).
func signed(h uint64) float64 { return 2*unit(h) - 1 }

// gauss maps a hash to an approximately standard normal value: the
// Irwin-Hall sum of four 16-bit uniforms, centred and scaled to variance 1.
// Its tails are cut at ±3.46, which keeps prices from jumping absurdly.
func gauss(h uint64) float64 {
	const scale = 1.0 / 65536
	s := float64(h&0xffff) + float64(h>>16&0xffff) + float64(h>>32&0xffff) + float64(h>>48)
	return (s*scale - 2) * math.Sqrt(3)
}

// stream is a small deterministic generator seeded from a hash, for drawing
// a sequence of values (the trades of one minute) from one starting point.
type stream uint64

func (s *stream) next() uint64 {
	*s += golden
	return mix64(uint64(*s))
}

// floorDiv is integer division rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
