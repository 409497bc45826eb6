package trading

import (
	"math"

	"tvbridge"
	"tvbridge/live"
)

// Numbers. Quantities and prices are floats; they are compared and stored
// rounded to 1e-9, and prices snapped to the instrument's grid, so repeated
// arithmetic does not drift (0.1+0.2 style noise) into != comparisons.
const (
	eps = 1e-9
	// gridTolerance is how far, in price steps or lots, a value may be
	// from the grid and still count as on it: float division noise.
	gridTolerance = 1e-6
	// maxQty bounds quantities so that unit arithmetic stays exact.
	maxQty = 1e12
)

func round9(x float64) float64 { return math.Round(x*1e9) / 1e9 }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// snap returns x on the grid of step and whether it was on it already.
func snap(x, step float64) (float64, bool) {
	if step <= 0 {
		return round9(x), true
	}
	n := x / step
	r := math.Round(n)
	if math.Abs(n-r) > gridTolerance {
		return x, false
	}
	return round9(r * step), true
}

// sideOf is the side of a signed position quantity.
func sideOf(qty float64) tvbridge.Side {
	if qty < 0 {
		return tvbridge.Sell
	}
	return tvbridge.Buy
}

// quote is what the Manager needs to know about an instrument's market at
// one moment; zero prices mean unknown.
type quote struct {
	bid, ask, last float64
	status         tvbridge.TradeStatus
	book           tvbridge.OrderBook
}

// quote reads the live market for figi.
func (m *Manager) quote(figi string) quote {
	var q quote
	if book, _, ok := m.cfg.Market.Book(figi); ok {
		q.book = book
		if len(book.Bids) > 0 {
			q.bid = book.Bids[0].Price
		}
		if len(book.Asks) > 0 {
			q.ask = book.Asks[0].Price
		}
	}
	if last, _, ok := m.cfg.Market.LastPrice(figi); ok && last > 0 {
		q.last = last
	}
	q.status = m.cfg.Market.Status(figi)
	return q
}

// prices is quote without the book's levels, which only walk needs: what
// valuing positions and reserved funds reads on every /positions and
// /state, without copying the book.
func (m *Manager) prices(figi string) quote {
	p := live.PricesOf(m.cfg.Market, figi)
	q := quote{status: p.Status}
	if p.HasBook {
		q.bid, q.ask = p.Top.Bid, p.Top.Ask
	}
	if p.HasLast && p.Last > 0 {
		q.last = p.Last
	}
	return q
}

// ref is the market price stops are compared with: the last trade, since
// stops trigger on trades; else the middle of the book.
func (q quote) ref() float64 {
	switch {
	case q.last > 0:
		return q.last
	case q.bid > 0 && q.ask > 0:
		return (q.bid + q.ask) / 2
	}
	return max(q.bid, q.ask)
}

// mark values a position: a long closes at the bid, a short at the ask.
func (q quote) mark(long bool) float64 {
	if long && q.bid > 0 {
		return q.bid
	}
	if !long && q.ask > 0 {
		return q.ask
	}
	return q.ref()
}

// entry estimates the price a market order on side gets: the ask for a
// buy, the bid for a sell.
func (q quote) entry(side tvbridge.Side) float64 {
	return q.mark(side == tvbridge.Sell)
}

// walk estimates the average price of a market order for units units
// against the book (quantities in lots of lot units), and how many units
// the book can fill.
func (q quote) walk(side tvbridge.Side, units float64, lot int) (avg, filled float64) {
	levels := q.book.Asks
	if side == tvbridge.Sell {
		levels = q.book.Bids
	}
	lotUnits := float64(max(lot, 1))
	var cost float64
	for _, l := range levels {
		if filled >= units-eps {
			break
		}
		take := min(units-filled, l.Quantity*lotUnits)
		if take <= 0 || l.Price <= 0 {
			continue
		}
		cost += take * l.Price
		filled += take
	}
	if filled <= 0 {
		return 0, 0
	}
	return round9(cost / filled), round9(filled)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
