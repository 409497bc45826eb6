package trading_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/live"
	"tvbridge/tape"
	"tvbridge/trading"
)

// Read benchmarks: the target is TradingView polling /orders, /positions
// and /state every 500 ms for 1,000 users with 20 orders each, p99 <= 5 ms.
// Each account holds 2 positions and 20 orders (14 working, 6 filled).

const (
	benchUsers  = 1000
	benchOrders = 20
)

// liveMarket is the real LiveMarket, fed the two instruments' books and
// last prices, so reads pay for its locking and book copies.
func liveMarket() *live.Market {
	m := live.New()
	now := start
	for figi, px := range map[string][2]float64{figiA: {100, 100.02}, figiB: {50, 51}} {
		book := tvbridge.OrderBook{FIGI: figi, Depth: 20}
		for i := range 20 {
			step := instruments[figi].MinPriceIncrement
			book.Bids = append(book.Bids, tvbridge.PriceLevel{Price: px[0] - float64(i)*step, Quantity: 10})
			book.Asks = append(book.Asks, tvbridge.PriceLevel{Price: px[1] + float64(i)*step, Quantity: 10})
		}
		meta := tvbridge.EventMeta{Received: now}
		m.Observe(&tvbridge.OrderBookEvent{EventMeta: meta, Book: book})
		m.Observe(&tvbridge.CandleEvent{EventMeta: meta, Candle: tvbridge.Candle{FIGI: figi,
			Interval: tvbridge.Interval1Min, Time: now, Open: px[0], High: px[1], Low: px[0], Close: px[1]}})
		m.Observe(&tvbridge.InstrumentInfoEvent{EventMeta: meta, Info: tvbridge.InstrumentInfo{FIGI: figi, TradeStatus: tvbridge.StatusNormalTrading}})
	}
	return m
}

// benchManager returns a Manager with benchUsers accounts of benchOrders
// orders each, driven synchronously, and the users' account ids.
func benchManager(b *testing.B, store trading.Store) (*trading.Manager, *fakeVenue, map[string]string) {
	b.Helper()
	venue := newFakeVenue()
	m, err := trading.New(trading.Config{Venue: venue, Market: liveMarket(), Tape: tape.New(tape.Config{Capacity: 16}),
		Store: store, Instrument: lookup, Clock: clock.NewFake(start), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	venue.deliver = m.ApplyEventForTest
	ctx := context.Background()
	accts := map[string]string{}
	for u := range benchUsers {
		user := fmt.Sprintf("user%04d", u)
		as, err := m.Accounts(ctx, user)
		if err != nil {
			b.Fatal(err)
		}
		accts[user] = as[0].ID
		for i := range benchOrders {
			req := limitReq(tvbridge.Buy, 10, 99+float64(i%5)*0.01)
			if i%2 == 1 {
				req = tvbridge.OrderRequest{FIGI: figiB, Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: 1, LimitPrice: 49}
			}
			o, err := m.PlaceOrder(ctx, user, as[0].ID, req)
			if err != nil {
				b.Fatal(err)
			}
			if i < 6 {
				venue.fill(b, o.ID, o.Qty, o.LimitPrice)
			}
		}
	}
	return m, venue, accts
}

// pollStats runs the poll function from many goroutines and reports
// latency percentiles of single calls.
func pollStats(b *testing.B, poll func(user, acct string) error, accts map[string]string) {
	users := make([]string, 0, len(accts))
	for u := range accts {
		users = append(users, u)
	}
	slices.Sort(users)
	var mu sync.Mutex
	var all []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var lat []time.Duration
		i := 0
		for pb.Next() {
			u := users[i%len(users)]
			i += 7
			t0 := time.Now()
			if err := poll(u, accts[u]); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*50/100].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkReads measures each read on 1,000 accounts x 20 orders, called
// from as many goroutines as GOMAXPROCS (2 on the reference machine).
func BenchmarkReads(b *testing.B) {
	m, _, accts := benchManager(b, trading.NewMemoryStore())
	ctx := context.Background()
	reads := map[string]func(user, acct string) error{
		"orders":    func(u, a string) error { _, err := m.Orders(ctx, u, a); return err },
		"positions": func(u, a string) error { _, err := m.Positions(ctx, u, a); return err },
		"state":     func(u, a string) error { _, err := m.State(ctx, u, a); return err },
	}
	for _, name := range []string{"orders", "positions", "state"} {
		b.Run(name, func(b *testing.B) { pollStats(b, reads[name], accts) })
	}
}

// swapStore delegates to one store and can be switched to another: the
// benchmark below sets up 20,000 orders in memory, then measures with
// fsynced commits to bbolt.
type swapStore struct {
	mu sync.Mutex
	s  trading.Store
}

func (w *swapStore) Load(ctx context.Context) (trading.Snapshot, error) { return w.get().Load(ctx) }
func (w *swapStore) Commit(ctx context.Context, c trading.Change) error {
	return w.get().Commit(ctx, c)
}
func (w *swapStore) get() trading.Store {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.s
}
func (w *swapStore) set(s trading.Store) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.s = s
}

// BenchmarkReadsDuringFills is one poll cycle (orders, positions, state)
// of random users while another goroutine keeps placing market orders
// and applying their fills, committed to bbolt with fsync: a user's reads
// wait for that user's commits only.
func BenchmarkReadsDuringFills(b *testing.B) {
	store := &swapStore{s: trading.NewMemoryStore()}
	m, venue, accts := benchManager(b, store)
	disk, err := bolt.OpenTrading(filepath.Join(b.TempDir(), "trading.db"), bolt.Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer disk.Close()
	store.set(disk)
	ctx := context.Background()
	users := make([]string, 0, len(accts))
	for u := range accts {
		users = append(users, u)
	}
	slices.Sort(users)
	stop, done := make(chan struct{}), make(chan struct{})
	var writes int
	go func() {
		defer close(done)
		for ; ; writes++ {
			select {
			case <-stop:
				return
			default:
			}
			u := users[(writes*13)%len(users)]
			if o, err := m.PlaceOrder(ctx, u, accts[u], marketReq(figiB, tvbridge.Buy, 1)); err == nil {
				venue.fill(b, o.ID, 1, 51)
			}
		}
	}()
	poll := func(u, a string) error {
		if _, err := m.Orders(ctx, u, a); err != nil {
			return err
		}
		if _, err := m.Positions(ctx, u, a); err != nil {
			return err
		}
		_, err := m.State(ctx, u, a)
		return err
	}
	pollStats(b, poll, accts)
	close(stop)
	<-done
	b.ReportMetric(float64(writes)/b.Elapsed().Seconds(), "fills/s")
}

// BenchmarkPlaceToFill measures a marketable order from PlaceOrder to its
// fill booked (order, position, execution, balance), with a venue that
// fills at once: the core's share of place-to-fill latency.
func BenchmarkPlaceToFill(b *testing.B) {
	for _, name := range []string{"memory", "bolt-fsync"} {
		b.Run(name, func(b *testing.B) {
			var store trading.Store = trading.NewMemoryStore()
			if name != "memory" {
				s, err := bolt.OpenTrading(filepath.Join(b.TempDir(), "trading.db"), bolt.Options{Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				store = s
			}
			venue := newFakeVenue()
			venue.cash = 1e12
			venue.autoFill = 51
			m, err := trading.New(trading.Config{Venue: venue, Market: liveMarket(), Tape: tape.New(tape.Config{Capacity: 16}),
				Store: store, Instrument: lookup, Clock: clock.NewFake(start), Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			venue.deliver = m.ApplyEventForTest
			ctx := context.Background()
			as, err := m.Accounts(ctx, user1)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				o, err := m.PlaceOrder(ctx, user1, as[0].ID, marketReq(figiB, tvbridge.Buy, 1))
				if err != nil || o.Status != tvbridge.OrderFilled {
					b.Fatalf("PlaceOrder = %+v, %v", o, err)
				}
			}
		})
	}
}
