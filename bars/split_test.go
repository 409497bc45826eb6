package bars

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSplitVolumeExamples(t *testing.T) {
	tests := []struct {
		from, to float64
		n        int
		want     []float64
	}{
		{0, 10, 4, []float64{1, 1, 1, 7}},
		{0, 4, 4, []float64{1, 1, 1, 1}},
		{7, 8, 1, []float64{1}},
		{7, 9, 3, []float64{1, 0.5, 0.5}}, // dv=2 < n: binary fractions
		{0, 1, 2, []float64{0.5, 0.5}},
		{0, 0.3, 3, []float64{0.15, 0.075, 0.07500000000000001}}, // the remainder absorbs the rounding
		{10.5, 20.5, 2, []float64{5, 5}},                         // not integer volumes
	}
	for _, tc := range tests {
		got := make([]float64, tc.n)
		if !splitVolume(tc.from, tc.to, got) {
			t.Fatalf("split(%v, %v, %d) failed", tc.from, tc.to, tc.n)
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("split(%v, %v, %d) = %v, want %v", tc.from, tc.to, tc.n, got, tc.want)
		}
		checkSplit(t, tc.from, tc.to, got)
	}
}

func TestSplitVolumeRejectsUnsplittable(t *testing.T) {
	for _, tc := range []struct{ from, to float64 }{
		{5, 5}, {5, 4}, {5, nan()}, // no increase
		{0, math.SmallestNonzeroFloat64}, // halving underflows
	} {
		if splitVolume(tc.from, tc.to, make([]float64, 3)) {
			t.Errorf("split(%v, %v, 3) succeeded", tc.from, tc.to)
		}
	}
}

// checkSplit asserts the exactness property: every size is > 0 and the
// running volume from `from`, summed in order in float64, is exactly `to`.
func checkSplit(t testing.TB, from, to float64, sizes []float64) {
	t.Helper()
	run := from
	for _, s := range sizes {
		if !(s > 0) {
			t.Fatalf("split(%v, %v): size %v in %v", from, to, s, sizes)
		}
		run += s
	}
	if run != to {
		t.Fatalf("split(%v, %v) = %v: running sum %v", from, to, sizes, run)
	}
}

// TestSplitVolumeExactRandom proves exactness over many random volumes:
// integer lots, fractional amounts of very different magnitudes, and
// increases from zero. A lone fractional trade is planTrades' business (see
// TestPlanTradesExactRandom), so n >= 2 here unless the volumes are integers
// or start at 0.
func TestSplitVolumeExactRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gens := []func() (float64, float64){
		func() (float64, float64) { a := float64(r.IntN(1e6)); return a, a + float64(1+r.IntN(1000)) },
		func() (float64, float64) { a := r.Float64() * 1000; return a, a + r.Float64()*10 },
		func() (float64, float64) { return 0, r.Float64() * math.Pow(10, float64(r.IntN(30)-15)) },
		func() (float64, float64) { a := r.ExpFloat64() * 1e6; return a, a + r.ExpFloat64()*1e-3 },
		func() (float64, float64) {
			a := math.Round(r.Float64()*1e8) / 1e3
			return a, a + math.Round(r.Float64()*1e5)/1e3
		},
	}
	failed := 0
	for i := range 200000 {
		from, to := gens[i%len(gens)]()
		n := 1 + r.IntN(maxPrices)
		if n == 1 && from != 0 && !isExactInt(from) {
			n = 2
		}
		got := make([]float64, n)
		if !splitVolume(from, to, got) {
			failed++
			continue
		}
		checkSplit(t, from, to, got)
		if from == 0 {
			var sum float64
			for _, s := range got {
				sum += s
			}
			if sum != to-from {
				t.Fatalf("sizes %v sum to %v, not dv %v", got, sum, to-from)
			}
		}
	}
	// Only increases within a few ulps of the total may be refused.
	if failed > 0 {
		t.Fatalf("%d random splits refused", failed)
	}
}

// randVolume returns full-precision random volumes or decimal ones (as
// upstreams report them, e.g. 7.263), of very different magnitudes.
func randVolume(r *rand.Rand) float64 {
	scale := math.Pow(10, float64(r.IntN(8)-4))
	if r.IntN(2) == 0 {
		return r.Float64() * scale
	}
	return float64(1+r.IntN(99999)) / 1000 * scale
}

// TestLoneFractionalTradeSplitsClose: one trade cannot take 7.263 to
// 25.628000000000004 exactly (the sum rounds to a tie on the wrong side), so
// the close goes out as two trades.
func TestLoneFractionalTradeSplitsClose(t *testing.T) {
	from, to := 7.263, 25.628000000000004
	if splitVolume(from, to, make([]float64, 1)) {
		t.Fatal("a single trade landed exactly; pick another example")
	}
	s := ohlcv{o: 100, h: 101, l: 99, c: 100, v: from}
	u := ohlcv{o: 100, h: 101, l: 99, c: 100.5, v: to}
	p, ok := planTrades(s, u)
	if !ok || p.n != 2 || p.prices[0] != 100.5 || p.prices[1] != 100.5 {
		t.Fatalf("plan %+v, %v", p, ok)
	}
	checkSplit(t, from, to, p.sizes[:p.n])
}

// TestPlanTradesExactRandom: for random streamed bars and candles with
// fractional volumes of any relative size, the planned trades rebuild the
// candle exactly (prices and volume), with every size > 0.
func TestPlanTradesExactRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var s ohlcv
		if r.IntN(4) != 0 {
			s = ohlcv{o: 100, h: 101, l: 99, c: 100, v: randVolume(r)}
		}
		u := ohlcv{o: 100, h: 101 + float64(r.IntN(2)), l: 99 - float64(r.IntN(2)), c: 99 + float64(r.IntN(3))}
		u.v = s.v + randVolume(r)
		if u.v == s.v {
			continue
		}
		p, ok := planTrades(s, u)
		if !ok {
			t.Fatalf("plan(%v -> %v) refused", s, u)
		}
		b := s
		for i := range p.n {
			if !(p.sizes[i] > 0) {
				t.Fatalf("plan(%v -> %v): size %v", s, u, p.sizes[i])
			}
			b = b.trade(p.prices[i], p.sizes[i])
		}
		if b != u {
			t.Fatalf("plan(%v -> %v) rebuilds %v", s, u, b)
		}
	}
}
