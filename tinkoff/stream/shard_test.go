package stream

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// capRig is a pool of 6 connections of at most 5 instruments each, with 30
// candle subscriptions, against a server that accepts only limit sockets.
type capRig struct {
	t    *testing.T
	srv  *fakeServer
	fake *clock.Fake
	p    *Pool
	logs *syncBuffer
	all  []tvbridge.Subscription
}

func newCapRig(t *testing.T, limit, instruments int) *capRig {
	srv := newFakeServer(t)
	srv.limit = limit
	fake := clock.NewFake(t0)
	srv.clock = fake
	cfg, logs := testConfig(t, srv, fake)
	cfg.MaxConnections, cfg.MaxPerConnection = 6, 5
	r := &capRig{t: t, srv: srv, fake: fake, p: New(cfg), logs: logs}
	r.p.bo.rand = func(n int64) int64 { return n - 1 } // the top of each backoff range
	for i := range instruments {
		r.all = append(r.all, candleSub(figiN(i)))
	}
	return r
}

// loads returns the number of instruments on each open server connection.
func (r *capRig) loadsLocked() []int {
	var out []int
	for _, sc := range r.srv.openConnsLocked() {
		n := 0
		for key, c := range sc.active {
			if c > 0 && strings.HasPrefix(key, "candle:") {
				n++
			}
		}
		out = append(out, n)
	}
	return out
}

// Configured for 6 connections, the service accepts 2: at the first
// refusals the pool learns the cap and moves the refused slots' instruments
// onto the 2 connections, evenly, without waiting for any backoff (the
// fake clock does not move), and says so in one log line.
func TestCapLearnedAtFirstRefusal(t *testing.T) {
	r := newCapRig(t, 2, 30)
	startPool(t, r.p)
	r.p.Subscribe(r.all...)
	r.srv.waitFor("all 30 instruments on the 2 accepted connections", func() bool {
		return r.srv.exactlyLocked(r.all) && len(r.srv.openConnsLocked()) == 2
	})
	r.srv.with(func() {
		if loads := r.loadsLocked(); fmt.Sprint(loads) != "[15 15]" {
			t.Errorf("loads %v, want 15 and 15", loads)
		}
		if r.srv.refusals[http.StatusLocked] != 4 {
			t.Errorf("%d refusals, want the 4 slots beyond the cap", r.srv.refusals[http.StatusLocked])
		}
	})
	eventually(t, "the parked slots idle", func() bool {
		n := 0
		for _, c := range r.p.Stats().Connections {
			if c.State == stateParked {
				n++
			}
		}
		return n == 4
	})
	st := r.p.Stats()
	if st.ConnectionCap != 2 || st.Moved != 20 || st.Pending != 0 || st.PerConnectionLimit != 15 {
		t.Errorf("stats: cap %d, moved %d, pending %d, per connection %d; want 2, 20, 0, 15",
			st.ConnectionCap, st.Moved, st.Pending, st.PerConnectionLimit)
	}
	// The first retry after a 423's backoff (here its longest, BackoffMax).
	if want := t0.Add(DefaultBackoffMax); !st.CapRetryAt.Equal(want) {
		t.Errorf("cap retry at %v, want %v", st.CapRetryAt, want)
	}
	for _, sub := range r.all {
		if epoch, live := r.p.StreamState(sub.FIGI); !live || epoch != 1 {
			t.Errorf("%s: epoch %d, live %v; want live from its first subscription", sub.FIGI, epoch, live)
		}
	}
	if n := countLines(r.logs, "stream connection cap learned", "cap=2", "configured=6", "instruments_moved=20",
		"retry_at=2024-03-04T10:00:30Z", "then_every=10m0s"); n != 1 {
		t.Errorf("%d cap lines naming the cap, the moved instruments and the retry, want 1:\n%s", n, r.logs)
	}
	for line := range strings.SplitSeq(r.logs.String(), "\n") {
		if strings.Contains(line, "cap learned") && strings.Count(line, "BBG") != 20 {
			t.Errorf("the cap line does not name the 20 instruments moved: %s", line)
		}
	}

	// The parked slots stay quiet: no more handshakes until the retry,
	// then one, and none until CapRetry later.
	r.fake.Advance(DefaultBackoffMax - time.Second)
	r.p.Unsubscribe(r.all[0]) // a frame through the pool; a redial would show first
	r.srv.waitFor("unsubscribed", func() bool { return r.srv.exactlyLocked(r.all[1:]) })
	r.srv.with(func() {
		if r.srv.handshakes != 6 {
			t.Errorf("%d handshakes before the cap retry, want 6", r.srv.handshakes)
		}
	})
	r.fake.Advance(time.Second)
	r.srv.waitFor("the retry", func() bool { return r.srv.handshakes == 7 })
	eventually(t, "the next retry scheduled", func() bool {
		return r.p.Stats().CapRetryAt.Equal(t0.Add(DefaultBackoffMax + DefaultCapRetry))
	})
	r.fake.Advance(DefaultCapRetry - time.Second)
	r.p.Unsubscribe(r.all[1])
	r.srv.waitFor("unsubscribed", func() bool { return r.srv.exactlyLocked(r.all[2:]) })
	r.srv.with(func() {
		if r.srv.handshakes != 7 {
			t.Errorf("%d handshakes before the second cap retry, want 7", r.srv.handshakes)
		}
	})
	if n := countLines(r.logs, "stream connection cap"); n != 1 {
		t.Errorf("%d cap lines, want 1", n)
	}
	if n := countLines(r.logs, "one more stream connection refused again; keeping the connection cap", "cap=2"); n != 1 {
		t.Errorf("%d refused-retry lines, want 1", n)
	}
}

// The cap retry tries one more connection every CapRetry: refused, the cap
// stays; accepted, the cap rises and instruments move onto the new
// connection until the loads are even, and the next one is tried at once.
func TestCapRetryRaisesTheCap(t *testing.T) {
	r := newCapRig(t, 2, 30)
	startPool(t, r.p)
	r.p.Subscribe(r.all...)
	r.srv.waitFor("the cap learned", func() bool { return r.srv.exactlyLocked(r.all) && len(r.srv.openConnsLocked()) == 2 })
	eventually(t, "cap 2", func() bool { return r.p.Stats().ConnectionCap == 2 })

	// Still 2 at the first retry: one handshake, refused, nothing moves.
	r.srv.advanceUntil(r.fake, time.Second, "the first retry", func() bool { return r.srv.handshakes == 7 })
	eventually(t, "the retry rescheduled", func() bool {
		return !r.p.Stats().CapRetryAt.Before(t0.Add(DefaultBackoffMax + DefaultCapRetry))
	})
	if st := r.p.Stats(); st.ConnectionCap != 2 || st.Moved != 20 {
		t.Fatalf("after a refused retry: cap %d, moved %d; want 2 and 20", st.ConnectionCap, st.Moved)
	}
	r.srv.with(func() {
		if at := r.srv.handshakeAt[6]; at.Before(t0.Add(DefaultBackoffMax)) {
			t.Errorf("retried at %v, before the backoff elapsed", at)
		}
	})

	// The other client lets go of one connection.
	epochs := map[string]uint64{}
	for _, sub := range r.all {
		epochs[sub.FIGI], _ = r.p.StreamState(sub.FIGI)
	}
	r.srv.with(func() { r.srv.limit = 3 })
	r.srv.advanceUntil(r.fake, time.Minute, "a third connection carrying a third of the instruments", func() bool {
		return r.srv.exactlyLocked(r.all) && fmt.Sprint(r.loadsLocked()) == "[10 10 10]"
	})
	r.srv.waitFor("the fourth connection tried at once", func() bool { return r.srv.refusals[http.StatusLocked] == 6 })
	st := r.p.Stats()
	if st.ConnectionCap != 3 || st.Moved != 30 || st.PerConnectionLimit != 10 {
		t.Errorf("stats: cap %d, moved %d, per connection %d; want 3, 30, 10", st.ConnectionCap, st.Moved, st.PerConnectionLimit)
	}
	changed := 0
	for _, sub := range r.all {
		e, live := r.p.StreamState(sub.FIGI)
		if !live {
			t.Errorf("%s not live after the rebalance", sub.FIGI)
		}
		if e != epochs[sub.FIGI] {
			changed++
		}
	}
	if changed != 10 {
		t.Errorf("%d epochs changed, want the 10 instruments moved", changed)
	}
	if n := countLines(r.logs, "stream connection cap raised to 3", "instruments_moved=10"); n != 1 {
		t.Errorf("%d cap-raised lines, want 1:\n%s", n, r.logs)
	}

	// Everything free: the retries climb back to 6, one connection after the other.
	r.srv.with(func() { r.srv.limit = 0 })
	r.srv.advanceUntil(r.fake, time.Minute, "six connections of five", func() bool {
		return r.srv.exactlyLocked(r.all) && fmt.Sprint(r.loadsLocked()) == "[5 5 5 5 5 5]"
	})
	eventually(t, "cap 6", func() bool { return r.p.Stats().ConnectionCap == 6 })
	if st := r.p.Stats(); !st.CapRetryAt.IsZero() {
		t.Errorf("a retry is still scheduled at the configured cap: %v", st.CapRetryAt)
	}
	r.srv.with(func() {
		if r.srv.maxOpen > 6 {
			t.Errorf("server saw %d sockets at once", r.srv.maxOpen)
		}
	})
}

// A 423 with no connection up says nothing about the cap: every slot backs
// off and nothing moves.
func TestLockedWithNothingUpLearnsNothing(t *testing.T) {
	r := newCapRig(t, 0, 10)
	r.srv.script = []int{http.StatusLocked, http.StatusLocked}
	startPool(t, r.p)
	r.p.Subscribe(r.all...)
	r.srv.waitFor("both refused", func() bool { return r.srv.refusals[http.StatusLocked] == 2 })
	eventually(t, "both in backoff", func() bool {
		c := r.p.Stats().Connections
		return c[0].State == stateBackoff && c[1].State == stateBackoff
	})
	if st := r.p.Stats(); st.ConnectionCap != 6 || st.Moved != 0 || !st.CapRetryAt.IsZero() {
		t.Fatalf("cap %d, moved %d, retry at %v after refusals with nothing up", st.ConnectionCap, st.Moved, st.CapRetryAt)
	}
	r.srv.advanceUntil(r.fake, time.Second, "connected", func() bool { return r.srv.exactlyLocked(r.all) })
	r.srv.with(func() {
		if fmt.Sprint(r.loadsLocked()) != "[5 5]" {
			t.Errorf("loads %v, want the original sharding", r.loadsLocked())
		}
	})
}

// In steady state another client takes one of the quota's connections while
// one of ours is down: its reconnect is refused while the others are up, so
// the cap drops to them and its instruments move.
func TestCapLoweredWhenAReconnectIsRefused(t *testing.T) {
	r := newCapRig(t, 3, 15)
	startPool(t, r.p)
	r.p.Subscribe(r.all...)
	r.srv.waitFor("three connections", func() bool { return r.srv.exactlyLocked(r.all) && len(r.srv.openConnsLocked()) == 3 })
	r.srv.with(func() { r.srv.limit = 2 })
	r.srv.drop(figiN(14)) // the third connection
	r.srv.advanceUntil(r.fake, 100*time.Millisecond, "its instruments on the other two", func() bool {
		return r.srv.exactlyLocked(r.all) && len(r.srv.openConnsLocked()) == 2
	})
	st := r.p.Stats()
	if st.ConnectionCap != 2 || st.Moved != 5 {
		t.Fatalf("cap %d, moved %d; want 2 and 5", st.ConnectionCap, st.Moved)
	}
	if n := countLines(r.logs, "stream connection cap learned", "cap=2", "instruments_moved=5"); n != 1 {
		t.Errorf("%d cap lines, want 1:\n%s", n, r.logs)
	}
}

// While the cap is lower, a connection takes more than MaxPerConnection
// instruments, up to the configured total: new subscriptions are placed
// beyond MaxPerConnection, and waiting ones are placed as room frees up.
func TestPlacementAboveMaxPerConnectionWhileCapped(t *testing.T) {
	srv := newFakeServer(t)
	srv.limit = 1
	fake := clock.NewFake(t0)
	cfg, _ := testConfig(t, srv, fake)
	cfg.MaxConnections, cfg.MaxPerConnection = 3, 2
	p := New(cfg)
	startPool(t, p)
	var all []tvbridge.Subscription
	for i := range 7 {
		all = append(all, infoSub(figiN(i)))
	}
	p.Subscribe(all...) // 6 placed on 3 slots, 1 waits
	srv.waitFor("six on the one accepted connection", func() bool {
		return srv.exactlyLocked(all[:6]) && len(srv.openConnsLocked()) == 1
	})
	eventually(t, "cap 1", func() bool { return p.Stats().ConnectionCap == 1 })
	if st := p.Stats(); st.Pending != 1 || st.PerConnectionLimit != 6 {
		t.Fatalf("pending %d, per connection %d; want 1 and 6 (the configured total of 6)", st.Pending, st.PerConnectionLimit)
	}
	p.Unsubscribe(all[0])
	srv.waitFor("the waiting one placed", func() bool { return srv.exactlyLocked(all[1:]) })
	st := p.Stats()
	for _, c := range st.Connections {
		if c.State == stateUp && c.Instruments != 6 {
			t.Fatalf("%d instruments on the connection, want 6", c.Instruments)
		}
	}
	if st.Pending != 0 {
		t.Fatalf("pending %d", st.Pending)
	}
}

func TestFIGIListTruncated(t *testing.T) {
	var figis []string
	for i := range 25 {
		figis = append(figis, fmt.Sprint(i))
	}
	if got := figiList(figis[:2]); got != "0,1" {
		t.Errorf("figiList = %q", got)
	}
	if got := figiList(figis); !strings.HasSuffix(got, ",19 and 5 more") || strings.Contains(got, ",20") {
		t.Errorf("figiList = %q", got)
	}
}

// A cap learned from sockets the service had not released yet (right after
// it dropped connections) is undone at the first retry, a 423 backoff
// later, not CapRetry later.
func TestGhostCapUndoneAtFirstRetry(t *testing.T) {
	r := newCapRig(t, 2, 30)
	startPool(t, r.p)
	r.p.Subscribe(r.all...)
	r.srv.waitFor("the cap learned", func() bool { return r.srv.exactlyLocked(r.all) && len(r.srv.openConnsLocked()) == 2 })
	r.srv.with(func() { r.srv.limit = 0 }) // the ghosts are gone
	r.srv.advanceUntil(r.fake, time.Second, "six connections of five", func() bool {
		return r.srv.exactlyLocked(r.all) && fmt.Sprint(r.loadsLocked()) == "[5 5 5 5 5 5]"
	})
	if elapsed := r.fake.Now().Sub(t0); elapsed > 2*DefaultBackoffMax {
		t.Errorf("back to six connections after %v, want one 423 backoff", elapsed)
	}
	eventually(t, "cap 6", func() bool { return r.p.Stats().ConnectionCap == 6 })
	if n := countLines(r.logs, "stream connection cap raised to"); n != 4 {
		t.Errorf("%d cap-raised lines, want 4 (3, 4, 5, 6)", n)
	}
}
