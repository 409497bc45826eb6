package market

import (
	"time"

	"tvbridge"
)

const (
	bookBucket   = int64(250 * time.Millisecond) // the book changes at most this often
	maxBookDepth = 50
)

// OrderBook returns the book at t: up to depth levels a side, best first,
// bids below asks, prices on the increment, quantities in lots > 0.
//
// While the instrument is in a trading status the book is quoted around
// the mid of the latest trade (or the mid path when the minute has none yet)
// and changes every 250 ms. Outside trading it is the last book of the
// previous trading period, unchanging. A depth above 50 is treated as 50;
// a depth below 1 gives empty sides. Sides can be shorter than depth for
// very cheap instruments, whose bids stop at one increment.
func (m *Market) OrderBook(figi string, t time.Time, depth int) tvbridge.OrderBook {
	book := tvbridge.OrderBook{FIGI: figi, Depth: depth}
	md, ok := m.model(figi)
	if !ok {
		return book
	}
	ns := toNanos(t)
	book.TradeStatus = md.statusAt(ns)
	book.MinPriceIncrement = md.inst.MinPriceIncrement
	if last, ok := m.lastTrade(md, ns); ok {
		book.LastPrice = last.Price
	}
	if ref, ok := m.previousClose(md, ns); ok {
		book.ClosePrice = ref
	}
	anchor := ns
	if !book.TradeStatus.Trading() {
		// Freeze on the last live instant; before the first one, on the day.
		if live, ok := md.lastLive(ns); ok {
			anchor = live
		} else {
			anchor = md.day(ns).lo
		}
	}
	bucket := floorDiv(anchor, bookBucket)
	book.Bids, book.Asks = md.levels(m.centreAt(md, bucket*bookBucket), bucket, min(depth, maxBookDepth))
	return book
}

// centreAt returns the book's centre, in ticks, at ns: the mid at the
// latest trade of ns's minute, or the mid path interpolated within the
// minute when there has been no trade in it yet.
func (m *Market) centreAt(md *model, ns int64) int64 {
	idx := floorDiv(ns, nsPerMinute)
	if seg, ok := md.segmentAt(ns); ok && seg.producesTrades() {
		d := m.minuteData(md, idx, seg)
		for i := len(d.trades) - 1; i >= 0; i-- {
			if d.trades[i].Time.UnixNano() <= ns {
				return d.centres[i]
			}
		}
	}
	f := float64(ns-idx*nsPerMinute) / float64(nsPerMinute)
	l0, l1 := md.logMidPair(idx)
	return md.centreTicks(l0 + (l1-l0)*f)
}

// levels builds depth levels a side around centre. The spread sometimes
// widens; sizes are heavy-tailed and grow with depth.
func (md *model) levels(centre, bucket int64, depth int) (bids, asks []tvbridge.PriceLevel) {
	if depth < 1 {
		return nil, nil
	}
	h := hash3(md.key, bookSalt, uint64(bucket))
	spread := md.spreadTicks
	switch u := unit(h); {
	case u > 0.95:
		spread *= 3
	case u > 0.8:
		spread *= 2
	}
	bid, ask := md.quote(centre, spread)
	bids = make([]tvbridge.PriceLevel, 0, depth)
	asks = make([]tvbridge.PriceLevel, 0, depth)
	rng := stream(h)
	for i := 0; i < depth; i++ {
		scale := 3 * (1 + 0.25*float64(i))
		if bid >= 1 {
			bids = append(bids, tvbridge.PriceLevel{Price: md.step.price(bid), Quantity: float64(md.lots(rng.next(), scale))})
		}
		asks = append(asks, tvbridge.PriceLevel{Price: md.step.price(ask), Quantity: float64(md.lots(rng.next(), scale))})
		// Deeper levels sit a third of a spread apart, give or take.
		gap := rng.next()
		bid -= md.levelGap(gap)
		ask += md.levelGap(mix64(gap))
	}
	return bids, asks
}

// levelGap is the distance in ticks to the next level: on average about a
// third of the spread, at least one tick.
func (md *model) levelGap(h uint64) int64 {
	third := max(1, md.spreadTicks/3)
	return 1 + int64(unit(h)*float64(2*third-1)+0.5)
}

// refPrice is a cached previous close; ok is false when there was none.
type refPrice struct {
	price float64
	ok    bool
}

// previousClose is the last trade before the local midnight that starts
// ns's calendar day: the reference for limits and the book's ClosePrice.
func (m *Market) previousClose(md *model, ns int64) (float64, bool) {
	midnight := md.day(ns).lo
	k := cacheKey{md.id, floorDiv(midnight, nsPerHour)}
	if r, ok := m.closes.get(k); ok {
		return r.price, r.ok
	}
	t, ok := m.lastTrade(md, midnight-1)
	r := refPrice{price: t.Price, ok: ok}
	m.closes.put(k, r)
	return r.price, r.ok
}

// priceLimits returns limit_down and limit_up: the previous close ±20%,
// rounded inwards to the increment. Integer tick arithmetic keeps
// 213.5 × 1.2 at exactly 256.2 rather than one tick below.
func (md *model) priceLimits(ref float64) (down, up float64) {
	ticks := md.step.ticks(ref)
	downTicks := (ticks*4 + 4) / 5 // ceil(0.8 × ticks)
	upTicks := ticks * 6 / 5       // floor(1.2 × ticks)
	return md.step.price(max(1, downTicks)), md.step.price(max(1, upTicks))
}
