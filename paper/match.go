package paper

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"tvbridge"
)

// taken counts the lots paper orders took from one book snapshot, so that
// no two orders fill against the same visible lots. A new snapshot (a new
// receive time) starts from zero.
type taken struct {
	at   time.Time
	lots map[levelKey]int64
}

type levelKey struct {
	ask   bool
	price float64
}

// takenFrom returns the liquidity record of figi's book received at. Callers
// hold v.mu.
func (v *Venue) takenFrom(figi string, at time.Time) *taken {
	t := v.liquidity[figi]
	if t == nil || !t.at.Equal(at) {
		t = &taken{at: at, lots: map[levelKey]int64{}}
		v.liquidity[figi] = t
	}
	return t
}

// free returns the whole lots of a level not taken yet.
func (t *taken) free(ask bool, lvl tvbridge.PriceLevel) int64 {
	if !(lvl.Price > 0) || !(lvl.Quantity >= 1) || math.IsInf(lvl.Price, 0) || lvl.Quantity > maxLots {
		return 0 // an empty or malformed level offers nothing
	}
	return int64(lvl.Quantity) - t.lots[levelKey{ask, lvl.Price}]
}

func (t *taken) take(ask bool, price float64, lots int64) {
	t.lots[levelKey{ask, price}] += lots
}

// liveBook returns figi's book when it may be filled against: the
// instrument is trading (or its status is unknown) and the book is fresh.
func (v *Venue) liveBook(figi string) (tvbridge.OrderBook, time.Time, error) {
	if st := v.cfg.Market.Status(figi); st != tvbridge.StatusUnknown && !st.Trading() {
		return tvbridge.OrderBook{}, time.Time{}, tvbridge.Refusef(tvbridge.ErrMarketClosed, tvbridge.ReasonMarketClosed, "",
			tvbridge.ErrorParams{FIGI: figi}, "%s is not trading (%s)", figi, st)
	}
	b, at, ok := v.cfg.Market.Book(figi)
	if !ok {
		return tvbridge.OrderBook{}, time.Time{}, tvbridge.Refusef(tvbridge.ErrNoMarketData, tvbridge.ReasonNoPrice, "",
			tvbridge.ErrorParams{FIGI: figi}, "no order book for %s", figi)
	}
	if age := v.clk.Since(at); age > v.cfg.MaxBookAge {
		return tvbridge.OrderBook{}, time.Time{}, tvbridge.Refusef(tvbridge.ErrNoMarketData, tvbridge.ReasonStaleBook, "",
			tvbridge.ErrorParams{FIGI: figi}, "the order book of %s is %s old", figi, age.Round(time.Second))
	}
	return b, at, nil
}

// opposite returns the levels an order of side s trades against, best first.
func opposite(b tvbridge.OrderBook, s tvbridge.Side) (levels []tvbridge.PriceLevel, ask bool) {
	if s == tvbridge.Buy {
		return b.Asks, true
	}
	return b.Bids, false
}

// takeBook fills r as the taker against the untaken lots of the book, best
// level first, one fill per level at the level's price. With limited set it
// stops at the first level beyond r's limit. It returns the fill events and
// leaves the remainder in r.lots. Callers hold v.mu.
func (v *Venue) takeBook(r *resting, b tvbridge.OrderBook, at time.Time, limited bool) []tvbridge.VenueEvent {
	levels, ask := opposite(b, r.Side)
	t := v.takenFrom(r.FIGI, at)
	var evs []tvbridge.VenueEvent
	for _, lvl := range levels {
		if r.lots == 0 || (limited && !r.atOrBetter(lvl.Price)) {
			break
		}
		n := min(t.free(ask, lvl), r.lots)
		if n <= 0 {
			continue
		}
		t.take(ask, lvl.Price, n)
		r.lots -= n
		evs = append(evs, v.fill(r.ID, float64(n)*r.lot, lvl.Price))
	}
	return evs
}

// executeMarket fills a market order against the book and cancels what the
// book could not absorb. An order nothing at all can fill is refused.
// Callers hold v.mu.
func (v *Venue) executeMarket(r *resting) ([]tvbridge.VenueEvent, error) {
	b, at, err := v.liveBook(r.FIGI)
	if err != nil {
		return nil, err
	}
	want := r.units()
	evs := v.takeBook(r, b, at, false)
	if len(evs) == 0 {
		side := "bids"
		if r.Side == tvbridge.Buy {
			side = "asks"
		}
		return nil, tvbridge.Refusef(tvbridge.ErrNoMarketData, tvbridge.ReasonNoLiquidity, "",
			tvbridge.ErrorParams{FIGI: r.FIGI, Side: r.Side}, "no %s left in the order book of %s", side, r.FIGI)
	}
	if r.lots > 0 {
		reason := fmt.Sprintf("the order book absorbed only %v of %v", want-r.units(), want)
		evs = append(evs, v.cancelled(r.ID, r.units(), reason))
	}
	return evs, nil
}

// executeLimit fills the marketable part of a limit order, when the market
// is open and its book fresh, and rests the rest. Callers hold v.mu.
func (v *Venue) executeLimit(r *resting) []tvbridge.VenueEvent {
	var evs []tvbridge.VenueEvent
	if b, at, err := v.liveBook(r.FIGI); err == nil {
		evs = v.takeBook(r, b, at, true)
	}
	if r.lots > 0 {
		v.rest(r)
	}
	return evs
}

// onTrade fills the resting orders a trade went strictly through, at their
// limits, best first, until the trade's size is used up. Each side of the
// book gets the whole trade: buyers fill against its sellers and sellers
// against its buyers. pos is the trade's market-data log position (0:
// unknown); an order that has seen it (a replayed trade) is passed over.
func (v *Venue) onTrade(figi string, price, sizeLots float64, pos uint64) {
	if !(price > 0) || !(sizeLots >= 1) || math.IsInf(price, 0) {
		return
	}
	size := int64(min(sizeLots, maxLots))
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.books[figi]
	if b == nil {
		return
	}
	for _, s := range []tvbridge.Side{tvbridge.Buy, tvbridge.Sell} {
		left := size
		v.matchSide(b, s, pos, func(r *resting) int64 {
			if left == 0 || !r.strictlyBetter(price) {
				return 0
			}
			if pos > 0 && pos <= r.TapeSeen {
				return skipOrder
			}
			n := min(left, r.lots)
			left -= n
			return n
		})
	}
	v.dropIfEmpty(figi, b)
}

// onBook fills the resting orders of figi that its latest book crosses, at
// their limits, against the untaken lots of the crossing levels. Resting
// orders are makers: the counterparty that crossed them would have traded
// at their price.
func (v *Venue) onBook(figi string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.books[figi]
	if b == nil {
		return
	}
	snap, at, err := v.liveBook(figi)
	if err != nil {
		return
	}
	t := v.takenFrom(figi, at)
	for _, s := range []tvbridge.Side{tvbridge.Buy, tvbridge.Sell} {
		levels, ask := opposite(snap, s)
		v.matchSide(b, s, 0, func(r *resting) int64 {
			var n int64
			for _, lvl := range levels {
				if n == r.lots || !r.atOrBetter(lvl.Price) {
					break
				}
				k := min(t.free(ask, lvl), r.lots-n)
				if k > 0 {
					t.take(ask, lvl.Price, k)
					n += k
				}
			}
			return n
		})
	}
	v.dropIfEmpty(figi, b)
}

// skipOrder, from a matchSide lotsFor, passes an order over and goes on
// with the next.
const skipOrder = -1

// matchSide offers one side's resting orders, best first, to lotsFor, which
// says how many lots each fills (0 ends matching: worse orders cannot fill
// where a better one did not; skipOrder passes one over). It emits a fill
// at the limit per order, stamped with the trade's log position pos, and
// removes the orders that filled completely. Callers hold v.mu.
func (v *Venue) matchSide(b *book, s tvbridge.Side, pos uint64, lotsFor func(*resting) int64) {
	orders := *b.side(s)
	filled := false
	for _, r := range orders {
		n := lotsFor(r)
		if n == skipOrder {
			continue
		}
		if n <= 0 {
			break
		}
		r.lots -= n
		r.TapeSeen = max(r.TapeSeen, pos)
		ev := v.fill(r.ID, float64(n)*r.lot, r.Limit)
		ev.TapePos = pos
		v.events.push(ev)
		if r.lots > 0 {
			break
		}
		filled = true
	}
	if filled {
		b.dropFilled(s, func(r *resting) { delete(v.byID, r.ID) })
	}
}

func (v *Venue) dropIfEmpty(figi string, b *book) {
	if b.empty() {
		delete(v.books, figi)
	}
}

// fill returns a fill event with a new ExecID and its commission. Callers
// hold v.mu.
func (v *Venue) fill(orderID string, units, price float64) tvbridge.VenueEvent {
	v.execSeq++
	return tvbridge.VenueEvent{
		Kind:       tvbridge.VenueFill,
		OrderID:    orderID,
		ExecID:     v.execPrefix + "-" + strconv.FormatUint(v.execSeq, 10),
		Qty:        units,
		Price:      price,
		Commission: v.commission(units, price),
		Time:       v.clk.Now(),
	}
}

// commission is max(MinCommission, rate × value), rounded to 1e-8 so that
// float noise never shows in a trader's statement.
func (v *Venue) commission(units, price float64) float64 {
	c := max(v.cfg.MinCommission, v.cfg.CommissionRate*units*price)
	return math.Round(c*1e8) / 1e8
}

func (v *Venue) cancelled(orderID string, units float64, reason string) tvbridge.VenueEvent {
	return tvbridge.VenueEvent{
		Kind:    tvbridge.VenueCancelled,
		OrderID: orderID,
		Qty:     units,
		Time:    v.clk.Now(),
		Reason:  reason,
	}
}
