package paper

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// FuzzMatching drives the venue with a byte-coded sequence of books (some
// malformed), statuses, orders, trades, cancels and sweeps, the outside
// input it matches on, and checks after every step that no order fills
// beyond its quantity or its limit, off the lot, or after it ended, and
// that the resting books agree with the events.
func FuzzMatching(f *testing.F) {
	f.Add([]byte{0, 1, 2, 2, 10, 3, 5, 0, 4, 1, 1, 1, 4})                  // book, market buy
	f.Add([]byte{2, 0, 0, 3, 0, 3, 0, 0xf0, 2, 3, 0, 0xf0, 3})             // limit buy, trades through
	f.Add([]byte{0, 0, 3, 3, 0, 2, 5, 1, 2, 4, 2, 0, 1, 5, 10, 6, 1})      // book, resting sell, sweep
	f.Add([]byte{2, 1, 0, 2, 5, 4, 0, 3, 1, 0, 0, 3})                      // limit, cancel, trade
	f.Add([]byte{0, 1, 3, 3, 0xff, 7, 0x80, 1, 0xfe, 9, 1, 1, 0, 3, 7, 2}) // malformed levels
	f.Add([]byte{6, 1, 3, 1, 1, 1, 2, 6, 1, 1, 2, 1, 1, 5, 200, 1})        // closed market, stale book
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newScript(t, data)
		for s.step() {
			s.check()
		}
	})
}

// script interprets fuzz input and keeps the model of every order.
type script struct {
	t      *testing.T
	f      *fixture
	data   []byte
	orders []*model
	byID   map[string]*model
}

type model struct {
	order  tvbridge.VenueOrder
	lot    float64
	filled float64
	final  bool
}

func newScript(t *testing.T, data []byte) *script {
	// No tape: the script calls the matching functions itself.
	f := &fixture{market: newFakeMarket(), clk: clock.NewFake(t0), acct: AccountID("alice")}
	f.v = New(Config{Market: f.market, Instrument: instruments, Clock: f.clk, Logger: discard})
	return &script{t: t, f: f, data: data, byID: map[string]*model{}}
}

func (s *script) next() byte {
	if len(s.data) == 0 {
		return 0
	}
	b := s.data[0]
	s.data = s.data[1:]
	return b
}

func (s *script) figi() (string, float64, float64) {
	if s.next()%2 == 0 {
		return lot10, 10, 0.01
	}
	return one, 1, 0.5
}

func (s *script) side() tvbridge.Side {
	if s.next()%2 == 0 {
		return tvbridge.Buy
	}
	return tvbridge.Sell
}

// price is 100 plus a signed number of steps, or, for the top byte values,
// something an upstream should never send.
func (s *script) price(grid float64) float64 {
	b := s.next()
	switch b {
	case 0xff:
		return math.NaN()
	case 0xfe:
		return math.Inf(1)
	case 0xfd:
		return -1
	}
	return 100 + float64(int8(b))*grid
}

func (s *script) levels(grid float64) []tvbridge.PriceLevel {
	n := int(s.next() % 5)
	out := make([]tvbridge.PriceLevel, n)
	for i := range out {
		out[i] = tvbridge.PriceLevel{Price: s.price(grid), Quantity: float64(s.next()%7) - 1}
	}
	return out
}

func (s *script) step() bool {
	if len(s.data) == 0 {
		return false
	}
	f, ctx := s.f, context.Background()
	switch s.next() % 7 {
	case 0:
		figi, _, grid := s.figi()
		f.market.setBook(figi, f.clk.Now(), s.levels(grid), s.levels(grid))
	case 1, 2:
		s.submit()
	case 3:
		figi, _, grid := s.figi()
		f.v.onTrade(figi, s.price(grid), float64(s.next()%4), 0)
	case 4:
		if len(s.orders) > 0 {
			m := s.orders[int(s.next())%len(s.orders)]
			if err := f.v.Cancel(ctx, f.acct, m.order); err != nil {
				s.t.Fatalf("cancel %s: %v", m.order.ID, err)
			}
		}
	case 5:
		f.clk.Advance(time.Duration(s.next()) * 100 * time.Millisecond)
		f.v.sweep()
	case 6:
		figi, _, _ := s.figi()
		statuses := []tvbridge.TradeStatus{tvbridge.StatusUnknown, tvbridge.StatusNormalTrading, tvbridge.StatusBreakInTrading}
		f.market.setStatus(figi, statuses[int(s.next())%len(statuses)])
	}
	return true
}

func (s *script) submit() {
	figi, lot, grid := s.figi()
	o := tvbridge.VenueOrder{ID: fmt.Sprintf("o%d", len(s.orders)), FIGI: figi, Side: s.side(), Type: tvbridge.MarketOrder}
	o.Qty = float64(s.next()%6) * lot
	if s.next()%2 == 0 {
		o.Type, o.Limit = tvbridge.LimitOrder, s.price(grid)
	}
	if _, err := s.f.v.Submit(context.Background(), s.f.acct, o); err != nil {
		if errCode(err) == "" || errCode(err) == tvbridge.ErrVenue {
			s.t.Fatalf("submit %+v: unexpected error %v", o, err)
		}
		return
	}
	m := &model{order: o, lot: lot}
	s.orders = append(s.orders, m)
	s.byID[o.ID] = m
}

func (s *script) check() {
	for _, e := range queued(s.f.v) {
		m := s.byID[e.OrderID]
		if m == nil || m.final {
			s.t.Fatalf("event %+v for an unknown or finished order", e)
		}
		switch e.Kind {
		case tvbridge.VenueFill:
			s.checkFill(m, e)
		case tvbridge.VenueCancelled:
			m.final = true
		default:
			s.t.Fatalf("unexpected event %+v", e)
		}
	}
	s.checkResting()
}

func (s *script) checkFill(m *model, e tvbridge.VenueEvent) {
	o := m.order
	lots := e.Qty / m.lot
	if lots < 1 || lots != math.Trunc(lots) || !(e.Price > 0) || math.IsInf(e.Price, 0) || e.Commission < 0 {
		s.t.Fatalf("malformed fill %+v of %+v", e, o)
	}
	if o.Type == tvbridge.LimitOrder && (e.Price-o.Limit)*o.Side.Sign() > 1e-9 {
		s.t.Fatalf("fill %+v worse than the limit of %+v", e, o)
	}
	m.filled += e.Qty
	if m.filled > o.Qty+1e-9 {
		s.t.Fatalf("%s filled %v of %v", o.ID, m.filled, o.Qty)
	}
	if near(m.filled, o.Qty) {
		m.final = true
	}
}

func (s *script) checkResting() {
	v := s.f.v
	for _, m := range s.orders {
		rest, ok := remaining(v, m.order.ID)
		switch {
		case m.final && ok:
			s.t.Fatalf("%s ended but still rests", m.order.ID)
		case !m.final && m.order.Type == tvbridge.LimitOrder && (!ok || !near(rest, m.order.Qty-m.filled)):
			s.t.Fatalf("%s: rests %v (%v), model says %v", m.order.ID, rest, ok, m.order.Qty-m.filled)
		case !m.final && m.order.Type == tvbridge.MarketOrder:
			s.t.Fatalf("market order %s neither filled nor cancelled", m.order.ID)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for figi, b := range v.books {
		if b.empty() {
			s.t.Fatalf("empty book for %s kept", figi)
		}
		for _, side := range [][]*resting{b.buys, b.sells} {
			for i := 1; i < len(side); i++ {
				if !ahead(side[i-1], side[i]) {
					s.t.Fatalf("%s book out of priority order at %d", figi, i)
				}
			}
		}
	}
}
