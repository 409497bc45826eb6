package bars

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"tvbridge"
)

// delivery is one candle update as the upstream delivers it.
type delivery struct {
	figi   string
	recv   time.Time
	minute time.Time
	u      ohlcv
}

// market simulates one instrument's true trades and the noisy candle stream
// an upstream like Tinkoff v1 makes of them.
type market struct {
	r       *rand.Rand
	figi    string
	price   float64
	frac    bool // fractional volumes
	chaos   bool // also contradictory updates, cross-minute reordering, corrections
	finals  map[int64]ohlcv
	updates []delivery
}

// snapshots returns the cumulative candle after each group of trades of one
// minute (an upstream update coalesces the trades since the previous one).
func (m *market) snapshots() []ohlcv {
	var out []ohlcv
	var b ohlcv
	for range 1 + m.r.IntN(8) {
		for range 1 + m.r.IntN(3) {
			m.price = math.Max(1, m.price+float64(m.r.IntN(21)-10)/100)
			p := math.Round(m.price*100) / 100
			size := float64(1 + m.r.IntN(40))
			if m.frac {
				size = float64(1+m.r.IntN(9999)) / 1000
			}
			b = b.trade(p, size)
		}
		out = append(out, b)
	}
	return out
}

// minute generates the deliveries of the minute starting at start. lateOK
// allows the last update to arrive after the minute's end (within the
// grace), which keeps the stream consistent only if the next minute is quiet.
func (m *market) minute(start time.Time, lateOK bool) {
	snaps := m.snapshots()
	m.finals[start.Unix()] = snaps[len(snaps)-1]
	var seq []ohlcv
	for i, s := range snaps {
		if i+1 < len(snaps) && m.r.IntN(6) == 0 && !snaps[i+1].pricesEqual(s) {
			// Pending: the next update's prices before its volume.
			p := snaps[i+1]
			p.v = s.v
			seq = append(seq, s, p)
			continue
		}
		seq = append(seq, s)
		if m.r.IntN(5) == 0 {
			seq = append(seq, s) // duplicate
		}
		if i > 0 && m.r.IntN(6) == 0 {
			seq = append(seq, snaps[m.r.IntN(i)]) // stale re-send
		}
	}
	if len(seq) > 1 && m.r.IntN(4) == 0 {
		i := m.r.IntN(len(seq) - 1) // swap neighbours: the older one becomes stale
		seq[i], seq[i+1] = seq[i+1], seq[i]
	}
	if m.chaos {
		seq = m.corrupt(seq)
	}
	offs := make([]int, len(seq))
	for i := range offs {
		offs[i] = m.r.IntN(59_000)
	}
	sort.Ints(offs)
	for i, u := range seq {
		recv := start.Add(time.Duration(offs[i])*time.Millisecond + time.Duration(m.r.IntN(1e6)))
		if lateOK && i == len(seq)-1 && m.r.IntN(3) == 0 {
			recv = start.Add(time.Minute + time.Duration(m.r.IntN(2500))*time.Millisecond)
		}
		m.updates = append(m.updates, delivery{m.figi, recv, start, u})
	}
}

// corrupt injects updates no consistent upstream would send.
func (m *market) corrupt(seq []ohlcv) []ohlcv {
	if m.r.IntN(3) != 0 {
		return seq
	}
	i := m.r.IntN(len(seq))
	bad := seq[i]
	switch m.r.IntN(4) {
	case 0:
		bad.o -= 0.5
	case 1:
		bad.h -= 0.3
	case 2:
		bad.l += 0.3
	case 3:
		bad.c = bad.h + 1 // not even self-consistent
	}
	bad.v += float64(m.r.IntN(3))
	return append(seq[:i+1], append([]ohlcv{bad}, seq[i+1:]...)...)
}

// run generates a session of n minutes from start.
func (m *market) run(start time.Time, n int) {
	active := make([]bool, n+1)
	for i := range n {
		active[i] = m.r.IntN(7) != 0 // quiet minutes have no candle at all
	}
	for i := range n {
		if active[i] {
			m.minute(start.Add(time.Duration(i)*time.Minute), !active[i+1])
		}
	}
	if !m.chaos {
		return
	}
	// Cross-minute reordering and corrections: re-deliver some updates of
	// older minutes later.
	for range len(m.updates) / 10 {
		d := m.updates[m.r.IntN(len(m.updates))]
		d.recv = d.recv.Add(time.Duration(m.r.IntN(150_000)) * time.Millisecond)
		if m.r.IntN(2) == 0 {
			d.u.v += 1
		}
		m.updates = append(m.updates, d)
	}
}

// feed merges the markets' deliveries by receipt time into the engine,
// sweeping every 250 ms of simulated time, then closes every minute.
func feed(h *harness, markets []*market) {
	var all []delivery
	for _, m := range markets {
		all = append(all, m.updates...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].recv.Before(all[j].recv) })
	nextSweep := h.clk.Now()
	for _, d := range all {
		for !d.recv.Before(nextSweep) {
			h.sweepAt(nextSweep)
			nextSweep = nextSweep.Add(250 * time.Millisecond)
		}
		h.candleFor(d.figi, d.recv, d.minute, d.u.o, d.u.h, d.u.l, d.u.c, d.u.v)
	}
	h.closeAll()
}

// checkStream asserts the invariants that hold whatever the upstream sent.
func checkStream(t testing.TB, h *harness, figi string) {
	t.Helper()
	var trades []tvbridge.Tick
	last := map[tvbridge.TickKind]time.Time{}
	for i, tk := range h.sink.ticks {
		if tk.FIGI != figi {
			continue
		}
		if tk.Time.Before(last[tk.Kind]) {
			t.Fatalf("kind %d tick time went back: %v after %v", tk.Kind, tk.Time, last[tk.Kind])
		}
		last[tk.Kind] = tk.Time
		// Daily ticks carry the trading day's 00:00 UTC, which for a session
		// opening the previous UTC day lies ahead (see the package doc).
		if tk.Kind != tvbridge.TickDaily && tk.Time.After(h.sink.emitted[i]) {
			t.Fatalf("tick at %v emitted at %v: in the future", tk.Time, h.sink.emitted[i])
		}
		if tk.Time.Nanosecond() != 0 {
			t.Fatalf("tick time %v is not whole seconds", tk.Time)
		}
		if tk.Kind == tvbridge.TickTrade {
			if !(tk.Size > 0) {
				t.Fatalf("trade size %v", tk.Size)
			}
			// Only an update that waited for our clock (upstream clock
			// ahead) is stamped after its receipt: at its minute's start.
			deferred := tk.Time.Truncate(time.Minute).Equal(tk.Time) && tk.Time.Sub(tk.Received) <= maxEarly
			if tk.Time.After(tk.Received) && !deferred {
				t.Fatalf("trade at %v after its receipt %v", tk.Time, tk.Received)
			}
			trades = append(trades, tk)
		}
	}
	closed := h.sink.closed[figi]
	if got := rebuild(trades); !sameBars(got, closed) {
		t.Fatalf("bars rebuilt from the stream differ from the closed bars:\nstream %v\nclosed %v", got, closed)
	}
	for i := 1; i < len(closed); i++ {
		if !closed[i].Time.After(closed[i-1].Time) {
			t.Fatalf("closed bars out of order at %d", i)
		}
	}
}

// TestRandomisedConsistentStreams: with duplicates, stale re-sends,
// neighbour swaps, pending-without-volume updates, late final updates and
// quiet minutes, but no contradictions, every closed bar equals the final
// candle of its minute exactly, and the stream rebuilds to the closed bars.
func TestRandomisedConsistentStreams(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			figis := []string{"A", "B", "C"}
			var specs []InstrumentSpec
			var markets []*market
			for i, f := range figis {
				specs = append(specs, mkSpec(f, nil))
				markets = append(markets, &market{r: r, figi: f, price: 100, frac: i == 2, finals: map[int64]ohlcv{}})
			}
			h := newHarness(t, Config{CloseGrace: 3 * time.Second}, specs...)
			for _, m := range markets {
				m.run(t0, 20)
			}
			feed(h, markets)
			st := h.eng.Stats()
			if st.Inconsistent != 0 || st.Corrections != 0 || st.Invalid != 0 || st.Panics != 0 {
				t.Fatalf("consistent stream flagged: %+v", st)
			}
			for _, m := range markets {
				checkStream(t, h, m.figi)
				closed := h.sink.closed[m.figi]
				if len(closed) != len(m.finals) {
					t.Fatalf("%s: %d closed bars, %d minutes traded", m.figi, len(closed), len(m.finals))
				}
				for _, b := range closed {
					f := m.finals[b.Time.Unix()]
					if !sameBar(b, toBar(b.Time.Unix(), f)) {
						t.Fatalf("%s %v: closed %+v, final candle %v", m.figi, b.Time, b, f)
					}
				}
			}
		})
	}
}

// TestRandomisedChaoticStreams adds contradictory updates, cross-minute
// reordering and corrections: stream equals stored bars regardless, and
// nothing closed ever changes.
func TestRandomisedChaoticStreams(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 11))
			var markets []*market
			for i, f := range []string{"A", "B"} {
				markets = append(markets, &market{r: r, figi: f, price: 50, frac: i == 1, chaos: true, finals: map[int64]ohlcv{}})
			}
			h := newHarness(t, Config{}, mkSpec("A", nil), mkSpec("B", nil))
			for _, m := range markets {
				m.run(t0, 15)
			}
			feed(h, markets)
			for _, m := range markets {
				checkStream(t, h, m.figi)
			}
			if st := h.eng.Stats(); st.Panics != 0 || st.Trades == 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestRandomisedDailyTicks: with a 24x7 schedule across a day boundary, the
// last TickDaily of each trading day equals the aggregate of that day's
// closed minutes, and daily ticks never go back in time.
func TestRandomisedDailyTicks(t *testing.T) {
	sched := tvbridge.MustSchedule("24x7", "Europe/Moscow") // days change at 21:00 UTC
	start := time.Date(2026, 3, 2, 20, 50, 0, 0, time.UTC)
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 3))
			m := &market{r: r, figi: "A", price: 10, finals: map[int64]ohlcv{}}
			h := newHarness(t, Config{DailyBars: true}, mkSpec("A", sched))
			h.clk.Set(start)
			m.run(start, 20)
			feed(h, []*market{m})
			checkStream(t, h, "A")
			want := map[int64]ohlcv{}
			for _, b := range h.sink.closed["A"] {
				d, _ := sched.TradingDay(b.Time)
				want[d.Unix()] = want[d.Unix()].merge(ohlcv{b.Open, b.High, b.Low, b.Close, b.Volume})
			}
			got := map[int64]tvbridge.Bar{}
			for _, tk := range h.sink.kind("A", tvbridge.TickDaily) {
				if !tk.Bar.Time.Equal(tk.Time) {
					t.Fatalf("daily tick time %v, bar time %v", tk.Time, tk.Bar.Time)
				}
				got[tk.Time.Unix()] = tk.Bar
			}
			if len(got) != len(want) {
				t.Fatalf("daily ticks for %d days, bars on %d", len(got), len(want))
			}
			for d, w := range want {
				if !sameBar(got[d], toBar(d, w)) {
					t.Fatalf("day %v: last daily tick %+v, minutes aggregate %v", unix(d), got[d], w)
				}
			}
		})
	}
}
