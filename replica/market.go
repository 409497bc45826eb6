package replica

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"tvbridge"
)

// ControlMarket is the kind of the tape's control messages that carry the
// live market (MarketRecorder.Take, ApplyMarket).
const ControlMarket = "market"

// MarketRecorder sits on the ingester's ingest.Config.Observe: it keeps,
// per instrument, the latest of what live.Market keeps (order book, last
// candle close, trading status) and hands the instruments that changed
// since the last Take to the tape as one control message. Coalescing is
// exact for live.Market, which keeps only the latest state itself. It is
// safe for concurrent use.
type MarketRecorder struct {
	mu    sync.Mutex
	dirty map[string]*MarketUpdate
	order []string
}

// MarketUpdate is one instrument's live state in a market message.
type MarketUpdate struct {
	FIGI     string              `json:"f"`
	Book     *tvbridge.OrderBook `json:"b,omitempty"`
	BookAt   time.Time           `json:"ba,omitzero"`
	Candle   *tvbridge.Candle    `json:"c,omitempty"`
	CandleAt time.Time           `json:"ca,omitzero"`
	// Status is the latest known status, from a book or instrument info,
	// applied after the book so that the later of the two wins, as it did
	// on the ingester.
	Status tvbridge.TradeStatus `json:"s,omitempty"`
}

// Observe records an upstream event; it copies what it keeps.
func (r *MarketRecorder) Observe(ev tvbridge.Event) {
	switch e := ev.(type) {
	case *tvbridge.OrderBookEvent:
		b := e.Book
		b.Bids, b.Asks = slices.Clone(b.Bids), slices.Clone(b.Asks)
		r.update(b.FIGI, func(u *MarketUpdate) {
			u.Book, u.BookAt = &b, e.Received
			if b.TradeStatus != tvbridge.StatusUnknown {
				u.Status = b.TradeStatus
			}
		})
	case *tvbridge.CandleEvent:
		c := e.Candle
		r.update(c.FIGI, func(u *MarketUpdate) {
			if c.Close <= 0 || (u.Candle != nil && c.Time.Before(u.Candle.Time)) {
				return
			}
			u.Candle, u.CandleAt = &c, e.Received
		})
	case *tvbridge.InstrumentInfoEvent:
		r.update(e.Info.FIGI, func(u *MarketUpdate) {
			if e.Info.TradeStatus != tvbridge.StatusUnknown {
				u.Status = e.Info.TradeStatus
			}
		})
	}
}

func (r *MarketRecorder) update(figi string, f func(*MarketUpdate)) {
	if figi == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty == nil {
		r.dirty = map[string]*MarketUpdate{}
	}
	u := r.dirty[figi]
	if u == nil {
		u = &MarketUpdate{FIGI: figi}
		r.dirty[figi] = u
		r.order = append(r.order, figi)
	}
	f(u)
}

// Take returns the changes since the last Take as a control message body,
// or nil when nothing changed.
func (r *MarketRecorder) Take() ([]byte, error) {
	r.mu.Lock()
	if len(r.order) == 0 {
		r.mu.Unlock()
		return nil, nil
	}
	ups := make([]*MarketUpdate, 0, len(r.order))
	for _, figi := range r.order {
		ups = append(ups, r.dirty[figi])
	}
	r.dirty, r.order = nil, nil
	r.mu.Unlock()
	b, err := json.Marshal(ups)
	if err != nil {
		return nil, fmt.Errorf("replica: encode market: %w", err)
	}
	return b, nil
}

// Observer is what ApplyMarket feeds: live.Market.Observe.
type Observer func(tvbridge.Event)

// ApplyMarket replays a market message into observe as the events the
// ingester's live.Market saw last.
func ApplyMarket(data []byte, observe Observer) error {
	var ups []MarketUpdate
	if err := json.Unmarshal(data, &ups); err != nil {
		return fmt.Errorf("replica: decode market: %w", err)
	}
	for i := range ups {
		u := &ups[i]
		if u.Book != nil {
			observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: u.BookAt}, Book: *u.Book})
		}
		if u.Candle != nil {
			observe(&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: u.CandleAt}, Candle: *u.Candle})
		}
		if u.Status != tvbridge.StatusUnknown {
			observe(&tvbridge.InstrumentInfoEvent{Info: tvbridge.InstrumentInfo{FIGI: u.FIGI, TradeStatus: u.Status}})
		}
	}
	return nil
}
