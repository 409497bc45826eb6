package bars

import (
	"math"
	"time"

	"tvbridge"
)

// quote is a best bid and ask with their sizes.
type quote struct {
	bid, bidSize, ask, askSize float64
}

// handleBook turns an order book into a quote tick when the top of the book
// changed. See the package documentation for what is skipped.
func (e *Engine) handleBook(ev *tvbridge.OrderBookEvent, now time.Time) {
	in := e.lookup(ev.Book.FIGI)
	if in == nil {
		e.stats.unknown.Add(1)
		return
	}
	recv := ev.Received
	if recv.IsZero() {
		recv = now
	}
	// Older than allowed, or older than the book behind the current quote.
	if now.Sub(recv) > e.maxAge || (in.hasQuote && recv.Before(in.quoteRecv)) {
		e.stats.booksStale.Add(1)
		return
	}
	if !in.quotable(recv) {
		e.stats.booksClosed.Add(1)
		return
	}
	q, ok := topOfBook(&ev.Book)
	if !ok {
		e.stats.booksRejected.Add(1)
		return
	}
	in.quoteRecv = recv
	if in.hasQuote && q == in.quote {
		return // latest wins, but an unchanged top is not news
	}
	// Quote state is read by no concurrent reader: no lock needed.
	t := min(max(recv.Unix(), in.quoteTime), max(now.Unix(), in.quoteTime))
	in.hasQuote, in.quote, in.quoteTime = true, q, t
	sp := in.spec.Load()
	e.ticks = append(e.ticks, tvbridge.Tick{Kind: tvbridge.TickQuote, FIGI: sp.figi, Symbol: sp.symbol,
		Time: unix(t), Bid: q.bid, BidSize: q.bidSize, Ask: q.ask, AskSize: q.askSize, Received: recv})
	e.stats.quotes.Add(1)
}

// topOfBook returns the best levels (the first of each side, best first by
// contract) when both exist, are valid and do not cross.
func topOfBook(b *tvbridge.OrderBook) (quote, bool) {
	if len(b.Bids) == 0 || len(b.Asks) == 0 {
		return quote{}, false
	}
	bid, ask := b.Bids[0], b.Asks[0]
	if !validLevel(bid) || !validLevel(ask) || bid.Price > ask.Price {
		return quote{}, false
	}
	return quote{bid: bid.Price, bidSize: bid.Quantity, ask: ask.Price, askSize: ask.Quantity}, true
}

func validLevel(l tvbridge.PriceLevel) bool {
	return !math.IsNaN(l.Price) && !math.IsInf(l.Price, 0) &&
		l.Quantity > 0 && !math.IsInf(l.Quantity, 0)
}

// quotable reports whether the instrument's book is live at t: inside a
// session period of its schedule (if it has one), and not in a trading
// status that says otherwise. Outside, the upstream still sends the last
// book (on every subscribe, and as re-sends), but it is a stale snapshot,
// and TradingView wants real-time quotes only.
func (in *instrument) quotable(t time.Time) bool {
	if sched := in.spec.Load().sched; sched != nil && !sched.InSession(t) {
		return false
	}
	return in.status == tvbridge.StatusUnknown || in.status.Trading()
}

// handleInfo records the instrument's trading status (see quotable).
func (e *Engine) handleInfo(ev *tvbridge.InstrumentInfoEvent) {
	if in := e.lookup(ev.Info.FIGI); in != nil {
		in.status = ev.Info.TradeStatus
	}
}
