package live

import (
	"math"
	"slices"

	"tvbridge"
)

// Rates converts between currencies at the live prices of currency pairs
// (tvbridge.Rates). The rate of a pair is the middle of its order book when
// the book has both sides, else its last trade: the book is fresher, and
// the middle favours neither side. A pair quoted the other way round is
// inverted, and two currencies without a pair of their own are converted
// through a third that has one with each (EUR to USD through RUB). When
// none of these has a price yet, no rate is known.
type Rates struct {
	market tvbridge.LiveMarket
	pairs  map[[2]string]string // {base, quote} -> FIGI
	via    []string             // every currency of a pair, in first-seen order
	figis  []string             // every pair's FIGI, sorted, once
}

var _ tvbridge.Rates = (*Rates)(nil)

// NewRates returns the rates of pairs on market; the first of two pairs of
// the same currencies is used.
func NewRates(market tvbridge.LiveMarket, pairs []tvbridge.CurrencyPair) *Rates {
	r := &Rates{market: market, pairs: map[[2]string]string{}}
	seen := map[string]bool{}
	for _, p := range pairs {
		k := [2]string{p.Base, p.Quote}
		if p.Base == "" || p.Quote == "" || p.Base == p.Quote {
			continue
		}
		if _, dup := r.pairs[k]; !dup {
			r.pairs[k] = p.FIGI
		}
		for _, c := range k {
			if !seen[c] {
				seen[c] = true
				r.via = append(r.via, c)
			}
		}
	}
	for _, figi := range r.pairs {
		r.figis = append(r.figis, figi)
	}
	slices.Sort(r.figis)
	r.figis = slices.Compact(r.figis)
	return r
}

// FIGIs are the instruments whose prices Rate reads: every pair's, sorted.
// The slice is shared: callers must not modify it.
func (r *Rates) FIGIs() []string { return r.figis }

// Rate returns the price of one unit of from in to.
func (r *Rates) Rate(from, to string) (float64, bool) {
	if from == to {
		return 1, true
	}
	if rate, ok := r.direct(from, to); ok {
		return rate, true
	}
	for _, mid := range r.via {
		if mid == from || mid == to {
			continue
		}
		a, ok := r.direct(from, mid)
		if !ok {
			continue
		}
		if b, ok := r.direct(mid, to); ok {
			return a * b, true
		}
	}
	return 0, false
}

// direct converts with one pair, either way round.
func (r *Rates) direct(from, to string) (float64, bool) {
	if figi, ok := r.pairs[[2]string{from, to}]; ok {
		if p, ok := r.price(figi); ok {
			return p, true
		}
	}
	if figi, ok := r.pairs[[2]string{to, from}]; ok {
		if p, ok := r.price(figi); ok {
			return 1 / p, true
		}
	}
	return 0, false
}

// price is the middle of the book, else the last trade.
func (r *Rates) price(figi string) (float64, bool) {
	if top, ok := TopOf(r.market, figi); ok && top.HasBid && top.HasAsk {
		if mid := (top.Bid + top.Ask) / 2; valid(mid) {
			return mid, true
		}
	}
	if p, _, ok := r.market.LastPrice(figi); ok && valid(p) {
		return p, true
	}
	return 0, false
}

func valid(p float64) bool { return p > 0 && !math.IsInf(p, 0) }
