// Package live keeps the latest market state per instrument (order book,
// trading status, last price) for the trading side: the paper venue fills
// against it, positions are valued at it and /quotes and /depth serve it.
//
// It is fed the upstream's market-data events (ingest.Config.Observe) on one
// goroutine and read by many; readers get copies, never shared slices.
package live

import (
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
)

// Market implements tvbridge.LiveMarket.
type Market struct {
	mu    sync.RWMutex
	state map[string]*instrument
}

type instrument struct {
	book       tvbridge.OrderBook
	bookAt     time.Time
	status     tvbridge.TradeStatus
	last       float64
	lastAt     time.Time
	lastCandle time.Time     // start of the candle last was taken from
	seq        atomic.Uint64 // updates applied, see Version; written under Market.mu
}

var _ tvbridge.LiveMarket = (*Market)(nil)

// New returns an empty market.
func New() *Market { return &Market{state: map[string]*instrument{}} }

// Observe records an upstream event. Candles give the last price (the close
// of the newest candle so far), books the book, instrument_info the status.
func (m *Market) Observe(ev tvbridge.Event) {
	switch e := ev.(type) {
	case *tvbridge.OrderBookEvent:
		m.update(e.Book.FIGI, func(in *instrument) {
			// This runs on ingest's event loop for every book: reuse the
			// stored levels' memory instead of allocating new slices.
			bids, asks := in.book.Bids, in.book.Asks
			in.book = e.Book
			in.book.Bids = append(bids[:0], e.Book.Bids...)
			in.book.Asks = append(asks[:0], e.Book.Asks...)
			in.bookAt = e.Received
			if e.Book.TradeStatus != tvbridge.StatusUnknown {
				in.status = e.Book.TradeStatus
			}
		})
	case *tvbridge.CandleEvent:
		c := e.Candle
		m.update(c.FIGI, func(in *instrument) {
			// A late update of an older candle must not replace a newer price.
			if c.Time.Before(in.lastCandle) || c.Close <= 0 {
				return
			}
			in.last, in.lastAt, in.lastCandle = c.Close, e.Received, c.Time
		})
	case *tvbridge.InstrumentInfoEvent:
		m.update(e.Info.FIGI, func(in *instrument) {
			if e.Info.TradeStatus != tvbridge.StatusUnknown {
				in.status = e.Info.TradeStatus
			}
		})
	}
}

func (m *Market) update(figi string, f func(*instrument)) {
	if figi == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in := m.state[figi]
	if in == nil {
		in = &instrument{}
		m.state[figi] = in
	}
	f(in)
	in.seq.Add(1)
}

// VersionOf returns a function that identifies the state of the given
// instruments: the same number means nothing Book, Status, LastPrice or
// Prices returns for any of them has changed since (it is a sum of
// per-instrument update counters, which only grow). Callers that keep what
// they computed from prices, such as an account's valuation or a /quotes
// answer, check it before reusing their result; it takes no lock and looks
// nothing up, for callers that ask about the same instruments many times.
// An instrument not seen yet is added empty, so that its first update
// counts.
func (m *Market) VersionOf(figis []string) func() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	ins := make([]*instrument, 0, len(figis))
	for _, f := range figis {
		if f == "" {
			continue
		}
		in := m.state[f]
		if in == nil {
			in = &instrument{}
			m.state[f] = in
		}
		ins = append(ins, in)
	}
	return func() uint64 {
		var v uint64
		for _, in := range ins {
			v += in.seq.Load()
		}
		return v
	}
}

// Book returns a copy of the latest book and when it was received.
func (m *Market) Book(figi string) (tvbridge.OrderBook, time.Time, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	in := m.state[figi]
	if in == nil || in.bookAt.IsZero() {
		return tvbridge.OrderBook{}, time.Time{}, false
	}
	return copyBook(in.book), in.bookAt, true
}

// Status returns the latest trading status.
func (m *Market) Status(figi string) tvbridge.TradeStatus {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if in := m.state[figi]; in != nil {
		return in.status
	}
	return tvbridge.StatusUnknown
}

// LastPrice returns the latest traded price.
func (m *Market) LastPrice(figi string) (float64, time.Time, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	in := m.state[figi]
	if in == nil || in.lastAt.IsZero() {
		return 0, time.Time{}, false
	}
	return in.last, in.lastAt, true
}

// Best is the top of a book: its best bid and ask.
type Best struct {
	Bid, Ask       float64 // the best prices, 0 for an empty side
	HasBid, HasAsk bool    // whether the side has a level
	At             time.Time
}

// Top returns the top of the latest book, as Book would show it, without
// copying the book: what valuing positions and /quotes need, many times a
// second. ok is false when no book has arrived.
func (m *Market) Top(figi string) (Best, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	in := m.state[figi]
	if in == nil || in.bookAt.IsZero() {
		return Best{}, false
	}
	return bestOf(in.book, in.bookAt), true
}

func bestOf(book tvbridge.OrderBook, at time.Time) Best {
	b := Best{At: at, HasBid: len(book.Bids) > 0, HasAsk: len(book.Asks) > 0}
	if b.HasBid {
		b.Bid = book.Bids[0].Price
	}
	if b.HasAsk {
		b.Ask = book.Asks[0].Price
	}
	return b
}

// TopOfBook is a LiveMarket that gives the top of a book without a copy of
// the book (Market).
type TopOfBook interface {
	Top(figi string) (Best, bool)
}

// TopOf is the top of figi's book on market, without copying the book when
// market is a TopOfBook; ok is false when there is no book.
func TopOf(market tvbridge.LiveMarket, figi string) (Best, bool) {
	if t, is := market.(TopOfBook); is {
		return t.Top(figi)
	}
	book, at, ok := market.Book(figi)
	if !ok {
		return Best{}, false
	}
	return bestOf(book, at), true
}

// Prices is what the market knows of an instrument's prices at one moment.
type Prices struct {
	Top     Best // the top of the book, when HasBook
	HasBook bool
	Last    float64 // the last trade, when HasLast
	HasLast bool
	Status  tvbridge.TradeStatus
}

// Prices returns the top of figi's book, its last trade and its status
// under one lock: what Top, LastPrice and Status return.
func (m *Market) Prices(figi string) Prices {
	m.mu.RLock()
	defer m.mu.RUnlock()
	in := m.state[figi]
	if in == nil {
		return Prices{Status: tvbridge.StatusUnknown}
	}
	p := Prices{Status: in.status}
	if !in.bookAt.IsZero() {
		p.Top, p.HasBook = bestOf(in.book, in.bookAt), true
	}
	if !in.lastAt.IsZero() {
		p.Last, p.HasLast = in.last, true
	}
	return p
}

// PricesOf is market's Prices of figi, read in one call when market is a
// Market.
func PricesOf(market tvbridge.LiveMarket, figi string) Prices {
	if m, ok := market.(interface{ Prices(string) Prices }); ok {
		return m.Prices(figi)
	}
	p := Prices{Status: market.Status(figi)}
	p.Top, p.HasBook = TopOf(market, figi)
	p.Last, _, p.HasLast = market.LastPrice(figi)
	return p
}

func copyBook(b tvbridge.OrderBook) tvbridge.OrderBook {
	b.Bids = append([]tvbridge.PriceLevel(nil), b.Bids...)
	b.Asks = append([]tvbridge.PriceLevel(nil), b.Asks...)
	return b
}
