package market

import (
	"math"
	"slices"
	"time"

	"tvbridge"
)

// minuteData is one minute of trades, cached as a unit.
type minuteData struct {
	trades []Trade
	// centres[i] is the mid, in ticks, when trades[i] happened; the order
	// book is quoted around it until the next trade.
	centres []int64
}

const (
	maxTradesPerMinute = 600
	bridgeVol          = 0.5   // within-minute wiggle, in units of sigma
	maxLotsFactor      = 20000 // caps the largest trade at lotScale×this
	usPerMinute        = 60_000_000
)

// MinuteTrades returns all trades of the minute starting at minute
// (truncated to the minute), in time order. The slice is the caller's.
func (m *Market) MinuteTrades(figi string, minute time.Time) []Trade {
	md, ok := m.model(figi)
	if !ok {
		return nil
	}
	idx := floorDiv(toNanos(minute), nsPerMinute)
	seg, ok := md.segmentAt(idx * nsPerMinute)
	if !ok || !seg.producesTrades() {
		return nil
	}
	return slices.Clone(m.minuteData(md, idx, seg).trades)
}

// minuteData returns the trades of minute idx inside segment seg, from the
// cache or freshly generated.
func (m *Market) minuteData(md *model, idx int64, seg segment) minuteData {
	k := cacheKey{md.id, idx}
	if d, ok := m.minutes.get(k); ok {
		return d
	}
	d := md.genMinute(idx, seg, minuteData{})
	m.minutes.put(k, d)
	return d
}

// genMinute appends the trades of minute idx, which lies in seg, to buf.
// The result depends only on the model and idx: seg is passed in because
// the caller already knows it.
func (md *model) genMinute(idx int64, seg segment, buf minuteData) minuteData {
	switch seg.status {
	case tvbridge.StatusNormalTrading:
		return md.continuousTrades(idx, seg, buf)
	case tvbridge.StatusClosingAuction:
		// The auction matches once, in the last minute of the segment.
		if floorDiv(seg.to-1, nsPerMinute) == idx {
			return md.auctionTrade(idx, seg, buf)
		}
	}
	return buf
}

// continuousTrades generates a minute of normal trading.
//
// The count is Poisson around the instrument's rate, modulated by activity
// spells and a U-shaped intraday profile. Times are stratified: trade i of n
// falls at a random instant of the i-th n-th of the minute, which keeps them
// sorted without sorting. The mid moves from logMid(idx) to logMid(idx+1)
// along a Brownian bridge, and each trade hits the bid or the ask around it.
func (md *model) continuousTrades(idx int64, seg segment, buf minuteData) minuteData {
	h := hash2(md.key, uint64(idx))
	n := tradeCount(md.rate*md.activity(idx)*intradayShape(idx*nsPerMinute, seg), h)
	if n == 0 {
		return buf
	}
	start := len(buf.trades)
	buf.trades = slices.Grow(buf.trades, n)[:start+n]
	buf.centres = slices.Grow(buf.centres, n)
	ts := buf.trades[start:]
	rng := stream(h)

	// Pass 1: strictly increasing microsecond offsets (kept in Lots for
	// now) and the free Brownian path at each of them (kept in Price).
	sb := md.sigma * bridgeVol
	slot := float64(usPerMinute) / float64(n)
	var w, prevF float64
	prevOff := int64(-1)
	for i := range ts {
		off := max(int64((float64(i)+unit(rng.next()))*slot), prevOff+1)
		f := float64(off) / usPerMinute
		w += sb * math.Sqrt(f-prevF) * gauss(rng.next())
		ts[i].Lots, ts[i].Price = off, w
		prevOff, prevF = off, f
	}
	wEnd := w + sb*math.Sqrt(max(0, 1-prevF))*gauss(rng.next())

	// Pass 2: pin the path to the minute's end points and price the trades.
	l0, l1 := md.logMidPair(idx)
	drift := l1 - l0
	mid0 := math.Exp(l0)
	minuteStart := idx * nsPerMinute
	out := start
	for i := range ts {
		off, wi := ts[i].Lots, ts[i].Price
		r := rng.next() // drawn for every trade to keep the sequence fixed
		ns := minuteStart + off*1000
		if off >= usPerMinute || ns < seg.from || ns >= seg.to {
			continue
		}
		f := float64(off) / usPerMinute
		centre := max(1, md.step.ticks(mid0*expSmall(drift*f+wi-f*wEnd)))
		bid, ask := md.quote(centre, md.spreadTicks)
		price := bid
		if r&1 == 1 {
			price = ask
		}
		buf.trades[out] = Trade{Time: fromNanos(ns), Price: md.step.price(price), Lots: md.lots(r>>1, 1)}
		buf.centres = append(buf.centres, centre)
		out++
	}
	buf.trades = buf.trades[:out]
	return buf
}

// auctionTrade is the closing auction's single match, a fraction of a
// second before the auction ends, at the mid, for a large size.
func (md *model) auctionTrade(idx int64, seg segment, buf minuteData) minuteData {
	h := hash3(md.key, auctionSalt, uint64(idx))
	ns := seg.to - int64(200*time.Millisecond) - int64(unit(h)*float64(300*time.Millisecond))
	ns = ns / 1000 * 1000 // microseconds, like every other trade
	ns = max(ns, idx*nsPerMinute, seg.from)
	centre := md.centreTicks(md.logMid(idx + 1))
	buf.trades = append(buf.trades, Trade{Time: fromNanos(ns), Price: md.step.price(centre), Lots: md.lots(mix64(h), 20)})
	buf.centres = append(buf.centres, centre)
	return buf
}

// centreTicks converts a log mid price to whole ticks, at least 1.
func (md *model) centreTicks(logMid float64) int64 {
	return max(1, md.step.ticks(math.Exp(logMid)))
}

// quote returns the best bid and ask, in ticks, around a centre: a spread of
// spread ticks, the bid never below one tick.
func (md *model) quote(centre, spread int64) (bid, ask int64) {
	bid = max(1, centre-spread/2)
	return bid, bid + spread
}

// lots draws a heavy-tailed trade size of at least 1 lot: Pareto with
// index 2 (finite mean, infinite variance), which needs only a square root.
func (md *model) lots(h uint64, scale float64) int64 {
	typical := md.lotScale * scale
	l := typical / math.Sqrt(1-unit(h))
	return max(1, int64(min(l, typical*maxLotsFactor)))
}

// expSmall is exp(x), by a Taylor polynomial for the small moves within a
// minute (relative error below 1e-9 for |x| < 0.02) and math.Exp otherwise.
func expSmall(x float64) float64 {
	if x > 0.02 || x < -0.02 {
		return math.Exp(x)
	}
	return 1 + x*(1+x*(1.0/2+x*(1.0/6+x*(1.0/24))))
}

// intradayShape is the usual U: busier near the open and close of a
// session, calmer at midday. Round-the-clock days keep a flat rate.
func intradayShape(ns int64, seg segment) float64 {
	length := seg.to - seg.from
	if length <= 0 || length >= 20*nsPerHour {
		return 1
	}
	x := 2*float64(ns-seg.from)/float64(length) - 1 // -1 at the open, +1 at the close
	return 0.7 + 0.9*x*x
}

// tradeCount draws a Poisson(lambda) count from hash h: by inverting the
// CDF for small rates, by the normal approximation for large ones.
func tradeCount(lambda float64, h uint64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 20 {
		n := math.Round(lambda + math.Sqrt(lambda)*gauss(h))
		return int(min(max(n, 0), maxTradesPerMinute))
	}
	u := unit(h)
	p := math.Exp(-lambda)
	cdf := p
	k := 0
	for u > cdf && k < maxTradesPerMinute {
		if float64(k) > lambda && p < 1e-16 {
			break // float rounding kept the CDF just below u
		}
		k++
		p *= lambda / float64(k)
		cdf += p
	}
	return k
}
