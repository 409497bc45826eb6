package bars

import (
	"fmt"
	"math"
)

// maxPrices is the most price steps one update produces: open, two
// extremes, close. The close may be split in two trades (see planTrades).
const maxPrices = 4

// plan is the trades one update produces: prices[i] with sizes[i], i < n.
type plan struct {
	n      int
	prices [maxPrices + 1]float64
	sizes  [maxPrices + 1]float64
}

// planTrades plans the trades that take streamed bar s to candle u. It
// reports false when the volume increase cannot be split exactly.
func planTrades(s, u ohlcv) (p plan, ok bool) {
	p.n = tradePrices(s, u, &p.prices)
	if splitVolume(s.v, u.v, p.sizes[:p.n]) {
		return p, true
	}
	// A single trade of a fractional size may be unable to land exactly on
	// the candle's volume (the sum rounds to a tie on the wrong side). Two
	// trades at the close can: the first, half the increase, brings the
	// running volume to at least half the total, where the remainder is exact.
	p.prices[p.n] = p.prices[p.n-1]
	p.n++
	return p, splitVolume(s.v, u.v, p.sizes[:p.n])
}

// maxExactInt is the largest integer below which float64 integer sums are exact.
const maxExactInt = 1 << 53

// trade returns the bar after a trade at price p of the given size.
func (b ohlcv) trade(p, size float64) ohlcv {
	if b.v == 0 {
		return ohlcv{o: p, h: p, l: p, c: p, v: size}
	}
	return ohlcv{o: b.o, h: max(b.h, p), l: min(b.l, p), c: p, v: b.v + size}
}

func (b ohlcv) String() string {
	return fmt.Sprintf("o=%v h=%v l=%v c=%v v=%v", b.o, b.h, b.l, b.c, b.v)
}

// tradePrices writes to out the prices of the trades that take streamed bar
// s (volume 0: nothing streamed in the minute yet) towards candle u, and
// returns how many there are (1..maxPrices). See the package documentation.
func tradePrices(s, u ohlcv, out *[maxPrices + 1]float64) int {
	n := 0
	add := func(p float64) {
		out[n] = p
		n++
	}
	hi, lo, prev := s.h, s.l, s.c
	if s.v == 0 {
		add(u.o)
		hi, lo, prev = u.o, u.o, u.o
	}
	up, down := u.h > hi, u.l < lo
	switch {
	case up && down:
		// The extreme equal to the close goes last; otherwise the one
		// nearer the previous price goes first.
		highFirst := u.c == u.l || (u.c != u.h && u.h-prev <= prev-u.l)
		if highFirst {
			add(u.h)
			add(u.l)
		} else {
			add(u.l)
			add(u.h)
		}
	case up:
		add(u.h)
	case down:
		add(u.l)
	}
	if n == 0 || out[n-1] != u.c {
		add(u.c)
	}
	return n
}

// splitVolume fills sizes (one per trade) so that every size is > 0 and the
// running volume, starting at from and adding the sizes in order in float64
// (as TradingView adds trade sizes to its bar), ends exactly at to. From 0,
// that is the sizes summing exactly to dv in float64. It reports false when
// no such split was found, which only happens for increases that underflow
// when halved.
//
// Integer volumes below 2^53 with an increase of at least len(sizes) get
// 1, 1, ..., rest: every integer sum is exact. Otherwise the sizes are dv/2,
// dv/4, ... (exact: halving only changes the exponent) and the remainder
// to - running last. The running volume before the remainder is at least
// about (from+to)/2 >= to/2, so by Sterbenz's lemma the remainder is computed
// exactly and adding it gives exactly to. The result is verified anyway.
func splitVolume(from, to float64, sizes []float64) bool {
	n := len(sizes)
	dv := to - from
	if !(dv > 0) || n == 0 {
		return false
	}
	if isExactInt(from) && isExactInt(to) && dv >= float64(n) {
		for i := range n - 1 {
			sizes[i] = 1
		}
		sizes[n-1] = dv - float64(n-1)
		return true
	}
	run, part := from, dv
	for i := range n - 1 {
		part /= 2
		if !(part > 0) {
			return false
		}
		sizes[i] = part
		run += part
	}
	rest := to - run
	sizes[n-1] = rest
	return rest > 0 && run+rest == to
}

func isExactInt(f float64) bool { return f >= 0 && f <= maxExactInt && f == math.Trunc(f) }
