package tinkoff_test

// Integration tests: the real upstream client (REST client + stream pool)
// against the real simulated exchange, over loopback sockets, on one fake
// clock. The simulator emits as the clock advances; the test pumps the clock
// while it waits for events.

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/sim"
	"tvbridge/sim/market"
	"tvbridge/tinkoff"
	"tvbridge/tinkoff/stream"
	"tvbridge/tinkoff/wire"
)

// A Wednesday at 12:00 Moscow time: MOEX and 24x7 instruments trade.
var simStart = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)

type rig struct {
	t     *testing.T
	clk   *clock.Fake
	sim   *sim.Server
	up    *tinkoff.Upstream
	figis []string
	// streamURL is the simulator's WebSocket URL.
	streamURL string
	cancel    context.CancelFunc
	done      chan error
}

func newRig(t *testing.T, instruments, perConn int) *rig {
	return newRigWithCap(t, instruments, perConn, 0)
}

// newRigWithCap is newRig with a simulator that accepts simConns stream
// connections per token (0: its default of 6).
func newRigWithCap(t *testing.T, instruments, perConn, simConns int) *rig {
	t.Helper()
	clk := clock.NewFake(simStart)
	m := market.New(market.Config{Seed: 7, Instruments: instruments})
	srv := sim.New(sim.Config{Market: m, Clock: clk, Tokens: []string{"secret"}, MaxConnections: simConns})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })

	up := tinkoff.NewUpstream(tinkoff.UpstreamConfig{
		REST: tinkoff.ClientConfig{BaseURL: hs.URL + wire.RESTPrefix, Token: "secret", Clock: clk, MarketPerMinute: 100000},
		Stream: stream.Config{
			URL: "ws" + hs.URL[len("http"):] + wire.StreamPath, Token: "secret", Clock: clk,
			MaxConnections: 6, MaxPerConnection: perConn,
			BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second,
			// A cap learned from a 423 storm (the simulator still counts
			// the dropped sockets for a moment) is retried soon, whatever
			// the machine's load made of the storm's timing.
			CapRetry: 30 * time.Second,
		},
	})
	r := &rig{t: t, clk: clk, sim: srv, up: up, done: make(chan error, 1),
		streamURL: "ws" + hs.URL[len("http"):] + wire.StreamPath}
	for _, inst := range m.Instruments() {
		if inst.Schedule.InSession(simStart) {
			r.figis = append(r.figis, inst.FIGI)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- up.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func (r *rig) subscribeAll() {
	var subs []tvbridge.Subscription
	for _, f := range r.figis {
		subs = append(subs,
			tvbridge.Subscription{Kind: tvbridge.SubCandle, FIGI: f, Interval: tvbridge.Interval1Min},
			tvbridge.Subscription{Kind: tvbridge.SubOrderBook, FIGI: f, Depth: 5},
			tvbridge.Subscription{Kind: tvbridge.SubInstrumentInfo, FIGI: f},
		)
	}
	r.up.Subscribe(subs...)
}

// candleKey identifies one candle state as delivered.
type candleKey struct {
	figi string
	at   int64
}

// collector records what the consumer sees and checks that no event is
// delivered twice in a row with identical content.
type collector struct {
	t          *testing.T
	candles    map[string]int
	books      map[string]int
	infos      map[string]int
	lastCandle map[string]tvbridge.Candle
	final      map[candleKey]tvbridge.Candle
	errors     int
	wasReset   bool
}

func newCollector(t *testing.T) *collector {
	return &collector{t: t, candles: map[string]int{}, books: map[string]int{}, infos: map[string]int{},
		lastCandle: map[string]tvbridge.Candle{}, final: map[candleKey]tvbridge.Candle{}}
}

func (c *collector) add(ev tvbridge.Event) {
	switch e := ev.(type) {
	case *tvbridge.CandleEvent:
		if prev, ok := c.lastCandle[e.Candle.FIGI]; ok && prev == e.Candle {
			c.t.Errorf("duplicate candle delivered: %+v", e.Candle)
		}
		c.lastCandle[e.Candle.FIGI] = e.Candle
		c.candles[e.Candle.FIGI]++
		// The newest state of each candle; only minutes that closed with
		// no fault active are compared with REST.
		c.final[candleKey{e.Candle.FIGI, e.Candle.Time.Unix()}] = e.Candle
	case *tvbridge.OrderBookEvent:
		c.books[e.Book.FIGI]++
	case *tvbridge.InstrumentInfoEvent:
		c.infos[e.Info.FIGI]++
	case *tvbridge.ErrorEvent:
		c.errors++
		c.t.Errorf("error event: %s", e.Message)
	}
	if ev.Meta().Received.IsZero() {
		c.t.Errorf("event without receipt time: %T", ev)
	}
}

// pump reads events and advances the fake clock by step whenever the stream
// is quiet, until done reports true or the real-time guard expires.
func (r *rig) pump(t *testing.T, c *collector, step time.Duration, done func() bool) {
	t.Helper()
	guard := time.NewTimer(60 * time.Second)
	defer guard.Stop()
	quiet := time.NewTicker(2 * time.Millisecond)
	defer quiet.Stop()
	for !done() {
		select {
		case ev := <-r.up.Events():
			c.add(ev)
		case <-quiet.C:
			r.clk.Advance(step)
		case <-guard.C:
			t.Fatalf("timed out; pool stats %+v; sim stats %+v", r.up.Pool().Stats(), r.sim.Stats())
		}
	}
}

// everyone reports whether each instrument has sent a book and an info, and
// nearly all a candle (an illiquid bond may go minutes without a trade),
// since the counts were reset.
func (c *collector) everyone(figis []string) bool {
	withCandle := 0
	for _, f := range figis {
		// Info rarely changes, and a re-sent identical snapshot is
		// suppressed, so it is only required before the first reset.
		if c.books[f] == 0 || (c.infos[f] == 0 && !c.wasReset) {
			return false
		}
		if c.candles[f] > 0 {
			withCandle++
		}
	}
	return withCandle >= len(figis)*9/10
}

func (c *collector) reset() {
	c.wasReset = true
	c.candles, c.books, c.infos = map[string]int{}, map[string]int{}, map[string]int{}
}

func (r *rig) serverSubscriptions() int {
	n := 0
	for _, s := range r.sim.Stats().Subscriptions {
		n += s
	}
	return n
}

func TestUpstreamAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 300+ instruments through faults")
	}
	r := newRig(t, 420, 60)
	if len(r.figis) < 300 {
		t.Fatalf("only %d instruments trade at the start; want 300+", len(r.figis))
	}
	r.subscribeAll()
	r.subscribeAll() // a second time: deduped locally, never sent twice
	c := newCollector(t)
	r.pump(t, c, 100*time.Millisecond, func() bool { return c.everyone(r.figis) })

	want := 3 * len(r.figis)
	if got := r.serverSubscriptions(); got != want {
		t.Fatalf("server holds %d subscriptions, want %d (duplicates leaked)", got, want)
	}
	if st := r.up.Pool().Stats(); st.Pending != 0 || st.DuplicateSubscribes == 0 {
		t.Fatalf("pool: pending %d, duplicate subscribes %d", st.Pending, st.DuplicateSubscribes)
	}

	t.Run("drop all connections", func(t *testing.T) {
		dials := r.up.Pool().Stats().Dials
		if n := r.sim.Faults().DropAll(); n == 0 {
			t.Fatal("no connection dropped")
		}
		c.reset()
		r.pump(t, c, 100*time.Millisecond, func() bool {
			return r.up.Pool().Stats().Dials > dials && c.everyone(r.figis) && r.serverSubscriptions() == want
		})
	})

	t.Run("duplicated and reordered candles", func(t *testing.T) {
		r.sim.Faults().Duplicate(true)
		r.sim.Faults().Reorder(true)
		before := r.up.Pool().Stats().Duplicates
		c.reset()
		r.pump(t, c, 200*time.Millisecond, func() bool {
			return c.everyone(r.figis) && r.sim.Stats().Faults.Duplicated > 0 && r.up.Pool().Stats().Duplicates > before
		})
		r.sim.Faults().Duplicate(false)
		r.sim.Faults().Reorder(false)
	})

	t.Run("silent stall", func(t *testing.T) {
		stalls := r.up.Pool().Stats().Stalls
		r.sim.Faults().Stall(true)
		r.pump(t, c, time.Second, func() bool { return r.up.Pool().Stats().Stalls > stalls })
		r.sim.Faults().Stall(false)
		c.reset()
		r.pump(t, c, 100*time.Millisecond, func() bool { return c.everyone(r.figis) && r.serverSubscriptions() == want })
	})

	t.Run("reconnect storm with 429 and 423", func(t *testing.T) {
		r.sim.Faults().Refuse429(20)
		for i := 0; i < 3; i++ {
			r.sim.Faults().DropAll()
			r.clk.Advance(50 * time.Millisecond)
		}
		c.reset()
		r.pump(t, c, 100*time.Millisecond, func() bool { return c.everyone(r.figis) && r.serverSubscriptions() == want })
		if refused := r.sim.Stats().HandshakesRefused[429]; refused == 0 {
			t.Error("no handshake was refused with 429")
		}
	})

	t.Run("a seventh connection is refused with 423", func(t *testing.T) {
		// The storm's 423s came while the simulator still counted dropped
		// sockets, which taught the pool a lower cap; its first retry
		// finds the quota free again and takes all six connections back.
		r.pump(t, c, 10*time.Millisecond, func() bool {
			return r.up.Pool().Stats().ConnectionCap == 6 && r.sim.Stats().Connections == 6
		})
		other := stream.New(stream.Config{URL: r.streamURL, Token: "secret", Clock: r.clk,
			BackoffMin: time.Minute, BackoffMax: time.Minute})
		other.Subscribe(tvbridge.Subscription{Kind: tvbridge.SubInstrumentInfo, FIGI: r.figis[0]})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- other.Run(ctx) }()
		r.pump(t, c, 10*time.Millisecond, func() bool { return other.Stats().HandshakeFailures[423] > 0 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("second pool: %v", err)
		}
		if r.sim.Stats().HandshakesRefused[423] == 0 {
			t.Fatal("simulator did not count the 423")
		}
	})

	if st, ss := r.up.Pool().Stats(), r.sim.Stats(); st.MaxOpen > 6 || ss.MaxConcurrent > 6 {
		t.Fatalf("connection cap exceeded: client max %d, server max %d", st.MaxOpen, ss.MaxConcurrent)
	}

	t.Run("REST candles equal the streamed final states", func(t *testing.T) {
		// Five minutes with no fault: the stream sends every candle's
		// final state (or its last update already was it).
		clean := r.clk.Now().Truncate(time.Minute).Add(time.Minute)
		r.pump(t, c, 100*time.Millisecond, func() bool { return !r.clk.Now().Before(clean.Add(5 * time.Minute)) })
		checked := 0
		for _, f := range r.figis[:40] {
			candles, err := r.up.Candles(context.Background(), f, clean, clean.Add(4*time.Minute), tvbridge.Interval1Min)
			if err != nil {
				t.Fatal(err)
			}
			for _, rc := range candles {
				sc, ok := c.final[candleKey{f, rc.Time.Unix()}]
				if !ok {
					t.Errorf("%s %s: REST has a candle the stream never sent", f, rc.Time)
					continue
				}
				sc.Interval, rc.Interval = "", ""
				if sc != rc {
					t.Errorf("%s %s: stream %+v, REST %+v", f, rc.Time, sc, rc)
				}
				checked++
			}
		}
		if checked < 40 {
			t.Fatalf("only %d minutes compared", checked)
		}
	})
}

// The refused connections: the service accepts 2 stream connections
// where the pool is configured for 6. Every instrument still gets its
// candles, books and statuses, over the 2 connections, and the pool reports
// the cap it learned.
func TestUpstreamWithFewerConnectionsThanConfigured(t *testing.T) {
	r := newRigWithCap(t, 60, 8, 2)
	r.figis = r.figis[:min(len(r.figis), 40)]
	if len(r.figis) < 30 {
		t.Fatalf("only %d instruments trade at the start", len(r.figis))
	}
	r.subscribeAll()
	c := newCollector(t)
	r.pump(t, c, 100*time.Millisecond, func() bool { return c.everyone(r.figis) })
	st := r.up.Pool().Stats()
	if st.ConnectionCap != 2 || st.Pending != 0 || st.Moved == 0 {
		t.Fatalf("pool: cap %d, pending %d, moved %d; want 2, 0 and some", st.ConnectionCap, st.Pending, st.Moved)
	}
	if ss := r.sim.Stats(); ss.MaxConcurrent > 2 || ss.Connections != 2 {
		t.Fatalf("simulator: %d connections, at most %d at once", ss.Connections, ss.MaxConcurrent)
	}
	if got, want := r.serverSubscriptions(), 3*len(r.figis); got != want {
		t.Fatalf("server holds %d subscriptions, want %d", got, want)
	}
}
