package paper

import (
	"math"
	"sort"

	"tvbridge"
)

// resting is a validated order with what is left of it. Limit orders that
// are not filled at once rest in a book until they fill or are cancelled.
type resting struct {
	tvbridge.VenueOrder
	account string
	lot     float64 // units per lot
	grid    float64 // price increment, or 1e-9 when the instrument has none
	lots    int64   // remaining quantity, in lots
	seq     uint64  // arrival order, for time priority among equal limits
}

// units is the remaining quantity in units.
func (r *resting) units() float64 { return float64(r.lots) * r.lot }

// atOrBetter reports whether trading at price p respects r's limit: for a
// buy p is at or below it, for a sell at or above it. Prices are compared on
// the price grid.
func (r *resting) atOrBetter(p float64) bool {
	if r.Side == tvbridge.Buy {
		return p <= r.Limit+r.grid/2
	}
	return p >= r.Limit-r.grid/2
}

// strictlyBetter reports whether p is better than r's limit by at least one
// price step: a trade there went through the limit.
func (r *resting) strictlyBetter(p float64) bool {
	if r.Side == tvbridge.Buy {
		return p < r.Limit-r.grid/2
	}
	return p > r.Limit+r.grid/2
}

// validate checks an order as a venue must (the core validated it already,
// but a venue trusts no caller) and converts its quantity to lots.
func (v *Venue) validate(account string, o tvbridge.VenueOrder) (*resting, error) {
	if !validAccountID(account) {
		return nil, tvbridge.Errorf(tvbridge.ErrUnknownAccount, "", "%q is not a paper account", account)
	}
	if o.ID == "" {
		return nil, tvbridge.Errorf(tvbridge.ErrInvalidRequest, "id", "order id missing")
	}
	if !o.Side.Valid() {
		return nil, tvbridge.Errorf(tvbridge.ErrInvalidRequest, "side", "side %q", o.Side)
	}
	if o.Type != tvbridge.MarketOrder && o.Type != tvbridge.LimitOrder {
		return nil, tvbridge.Errorf(tvbridge.ErrUnsupported, "type", "paper venue executes market and limit orders, not %q", o.Type)
	}
	in, ok := v.cfg.Instrument(o.FIGI)
	if !ok {
		return nil, tvbridge.Errorf(tvbridge.ErrUnknownInstrument, "figi", "unknown instrument %q", o.FIGI)
	}
	lot := float64(max(in.Lot, 1))
	lots, ok := wholeLots(o.Qty, lot)
	if !ok {
		return nil, tvbridge.Errorf(tvbridge.ErrInvalidQty, "qty", "%v is not a positive multiple of the lot (%v)", o.Qty, lot)
	}
	grid := in.MinPriceIncrement
	if !(grid > 0) || math.IsInf(grid, 0) {
		grid = 1e-9
	}
	if o.Type == tvbridge.LimitOrder && !validPrice(o.Limit, grid) {
		return nil, tvbridge.Errorf(tvbridge.ErrInvalidPrice, "limitPrice", "%v is not a positive multiple of the price increment (%v)", o.Limit, grid)
	}
	return &resting{VenueOrder: o, account: account, lot: lot, grid: grid, lots: lots}, nil
}

// maxLots bounds a quantity so lot arithmetic stays exact in float64.
const maxLots = 1 << 40

// wholeLots converts a quantity in units to whole lots.
func wholeLots(qty, lot float64) (int64, bool) {
	n := qty / lot
	if !(n >= 0.5) || n > maxLots {
		return 0, false
	}
	r := math.Round(n)
	if math.Abs(n-r) > 1e-9*r {
		return 0, false
	}
	return int64(r), true
}

// validPrice reports whether p is positive, finite and on the price grid.
func validPrice(p, grid float64) bool {
	if !(p > 0) || math.IsInf(p, 0) {
		return false
	}
	steps := p / grid
	return math.Abs(steps-math.Round(steps)) <= 1e-6*max(1, steps*1e-9)
}

// book holds one instrument's resting orders, best first: buys by highest
// limit, sells by lowest limit, then oldest first. Sorted slices keep the
// hot path, looking at the best order when a trade arrives, O(1); inserts
// and removals move pointers, which is cheap at the tens to thousands of
// orders one instrument holds.
type book struct {
	buys  []*resting
	sells []*resting
}

func (b *book) side(s tvbridge.Side) *[]*resting {
	if s == tvbridge.Buy {
		return &b.buys
	}
	return &b.sells
}

func (b *book) empty() bool { return len(b.buys) == 0 && len(b.sells) == 0 }

// ahead reports whether a has priority over b; both are on the same side.
func ahead(a, b *resting) bool {
	if a.Limit != b.Limit {
		return (a.Limit > b.Limit) == (a.Side == tvbridge.Buy)
	}
	return a.seq < b.seq
}

func (b *book) insert(r *resting) {
	s := b.side(r.Side)
	i := sort.Search(len(*s), func(i int) bool { return ahead(r, (*s)[i]) })
	*s = append(*s, nil)
	copy((*s)[i+1:], (*s)[i:])
	(*s)[i] = r
}

func (b *book) remove(r *resting) bool {
	s := b.side(r.Side)
	i := sort.Search(len(*s), func(i int) bool { return !ahead((*s)[i], r) })
	if i == len(*s) || (*s)[i] != r {
		return false
	}
	copy((*s)[i:], (*s)[i+1:])
	(*s)[len(*s)-1] = nil
	*s = (*s)[:len(*s)-1]
	return true
}

// dropFilled removes the orders of a side that matching has filled
// completely, keeping the others in priority order, and calls gone with
// each removed one.
func (b *book) dropFilled(s tvbridge.Side, gone func(*resting)) {
	side := b.side(s)
	keep := (*side)[:0]
	for _, r := range *side {
		if r.lots > 0 {
			keep = append(keep, r)
		} else {
			gone(r)
		}
	}
	clear((*side)[len(keep):])
	*side = keep
}

// rest puts r in its instrument's book. Callers hold v.mu.
func (v *Venue) rest(r *resting) {
	v.nextSeq++
	r.seq = v.nextSeq
	b := v.books[r.FIGI]
	if b == nil {
		b = &book{}
		v.books[r.FIGI] = b
	}
	b.insert(r)
	v.byID[r.ID] = r
}

// unrest takes r out of its book. Callers hold v.mu.
func (v *Venue) unrest(r *resting) {
	delete(v.byID, r.ID)
	b := v.books[r.FIGI]
	if b == nil {
		return
	}
	b.remove(r)
	if b.empty() {
		delete(v.books, r.FIGI)
	}
}
