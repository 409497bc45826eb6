package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
)

// reign is what a test's OnElected saw of one term.
type reign struct {
	fence    postgres.Fence
	started  time.Time
	ctx      context.Context
	stop     chan error // a value makes OnElected return it
	canceled chan time.Time
}

// recorder is an OnElected that reports each reign on a channel and runs
// until its ctx is cancelled or the test sends on reign.stop.
type recorder struct{ reigns chan *reign }

func newRecorder() *recorder { return &recorder{reigns: make(chan *reign, 100)} }

func (r *recorder) OnElected(ctx context.Context, f postgres.Fence) error {
	rg := &reign{fence: f, started: time.Now(), ctx: ctx, stop: make(chan error, 1), canceled: make(chan time.Time, 1)}
	r.reigns <- rg
	select {
	case err := <-rg.stop:
		return err
	case <-ctx.Done():
		rg.canceled <- time.Now()
		return nil
	}
}

func (r *recorder) next(t testing.TB, who string, d time.Duration) *reign {
	t.Helper()
	select {
	case rg := <-r.reigns:
		return rg
	case <-time.After(d):
		t.Fatalf("%s not elected within %v", who, d)
		return nil
	}
}

func canceledWithin(t testing.TB, rg *reign, who string, d time.Duration) time.Time {
	t.Helper()
	select {
	case at := <-rg.canceled:
		return at
	case <-time.After(d):
		t.Fatalf("%s: OnElected's ctx not cancelled within %v", who, d)
		return time.Time{}
	}
}

// Three electors on one lease, many hand-overs: never two OnElected at once,
// epochs strictly increasing, each fence valid while its OnElected runs.
func TestOneLeaderAtATime(t *testing.T) {
	db := openDB(t, pgtest.Schema(t))
	const ttl = 300 * time.Millisecond
	const want = 12
	var (
		active, most atomic.Int32
		mu           sync.Mutex
		epochs       []int64
		leaders      = map[string]int{}
		reigns       = make(chan struct{}, 100)
	)
	for i := range 3 {
		id := fmt.Sprintf("node-%d", i)
		start(t, db, Config{NodeID: id, TTL: ttl, OnElected: func(ctx context.Context, f postgres.Fence) error {
			n := active.Add(1)
			defer active.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			if err := db.Leases().Check(ctx, f); err != nil && ctx.Err() == nil {
				t.Errorf("%s: fence %+v invalid while elected: %v", id, f, err)
			}
			mu.Lock()
			epochs = append(epochs, f.Epoch)
			leaders[id]++
			mu.Unlock()
			// Work a while (the workload, not synchronisation), then give up.
			select {
			case <-time.After(time.Duration(rand.IntN(150)) * time.Millisecond):
			case <-ctx.Done():
			}
			reigns <- struct{}{}
			return nil
		}})
	}
	for i := range want {
		select {
		case <-reigns:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d reigns", i, want)
		}
	}
	if m := most.Load(); m != 1 {
		t.Fatalf("at most %d OnElected ran at once, want 1", m)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(epochs); i++ {
		if epochs[i] <= epochs[i-1] {
			t.Fatalf("epochs not increasing: %v", epochs)
		}
	}
	if len(leaders) < 2 {
		t.Fatalf("only %v led", leaders)
	}
	t.Logf("%d reigns, epochs %v, by node %v", len(epochs), epochs, leaders)
}

// The leader's OnElected returning hands the lease over at once (Release),
// with a higher epoch; the old leader stands by and reports the new one.
func TestReturnHandsOver(t *testing.T) {
	db := openDB(t, pgtest.Schema(t))
	const ttl = time.Second
	ra, rb := newRecorder(), newRecorder()
	a, _, alog := start(t, db, Config{NodeID: "a", TTL: ttl, OnElected: ra.OnElected})
	first := ra.next(t, "a", 5*time.Second)
	if f, ok := a.Leader(); !ok || f != first.fence {
		t.Fatalf("a.Leader() = %+v, %v; want %+v", f, ok, first.fence)
	}
	b, _, _ := start(t, db, Config{NodeID: "b", TTL: ttl, OnElected: rb.OnElected})
	waitFor(t, "b to see a as holder", 5*time.Second, func() bool { return b.Status().Holder == a.ID() })
	if s := b.Status(); s.Leader || s.IsSelf || s.Epoch != first.fence.Epoch {
		t.Fatalf("b's status %+v", s)
	}

	returned := time.Now()
	first.stop <- errors.New("upstream gave up")
	second := rb.next(t, "b", 5*time.Second)
	if d := second.started.Sub(returned); d > ttl/3+500*time.Millisecond {
		t.Errorf("hand-over took %v; a release should take at most one standby poll (%v)", d, ttl/3)
	}
	if second.fence.Epoch <= first.fence.Epoch {
		t.Fatalf("new epoch %d after %d", second.fence.Epoch, first.fence.Epoch)
	}
	if _, ok := a.Leader(); ok {
		t.Fatal("a still reports leadership")
	}
	if alog.Count("ingester stopped by itself") != 1 {
		t.Fatal("a did not log that its ingester stopped")
	}
	waitFor(t, "a to see b as holder", 5*time.Second, func() bool {
		s := a.Status()
		return s.Holder == b.ID() && s.Epoch == second.fence.Epoch && !s.Leader && !s.IsSelf
	})
}

// A leader whose renewals stop (its database calls hang: a paused process,
// as far as the database can tell) cancels its OnElected before its lease
// can expire at the database; another node is then elected with a higher
// epoch, and the old fence is refused while the new one writes.
func TestPausedLeader(t *testing.T) {
	db := openDB(t, pgtest.Schema(t))
	const ttl = time.Second
	ra, rb := newRecorder(), newRecorder()
	a, ga, alog := start(t, db, Config{NodeID: "a", TTL: ttl, OnElected: ra.OnElected})
	old := ra.next(t, "a", 5*time.Second)
	b, _, _ := start(t, db, Config{NodeID: "b", TTL: ttl, OnElected: rb.OnElected})
	waitFor(t, "a to renew", 5*time.Second, func() bool { return ga.LastOK().After(old.started) })

	ga.Pause()
	paused := time.Now()
	lastOK := ga.LastOK()
	canceled := canceledWithin(t, old, "a", 2*ttl)
	// (4) The local deadline: strictly before the database could consider
	// the lease expired (TTL after the last successful renewal was sent).
	if d := canceled.Sub(lastOK); d >= ttl {
		t.Errorf("a's OnElected cancelled %v after its last renewal was sent; want < TTL %v", d, ttl)
	} else {
		t.Logf("a's OnElected cancelled %v after its last renewal was sent (TTL %v)", d, ttl)
	}
	if _, ok := a.Leader(); ok {
		t.Fatal("a reports leadership after its deadline")
	}
	if cause := context.Cause(old.ctx); cause == nil || cause == context.Canceled {
		t.Errorf("cancel cause %v, want the reason", cause)
	}

	// (3) Another node takes over after the TTL, with a higher epoch.
	nw := rb.next(t, "b", ttl+ttl/3+2*time.Second)
	t.Logf("b elected %v after a's renewals stopped (TTL %v, RenewEvery %v)", nw.started.Sub(paused), ttl, ttl/3)
	if nw.started.Sub(lastOK) < ttl {
		t.Errorf("b elected %v after a's last renewal, before the TTL %v", nw.started.Sub(lastOK), ttl)
	}
	if nw.fence.Epoch <= old.fence.Epoch {
		t.Fatalf("new epoch %d after %d", nw.fence.Epoch, old.fence.Epoch)
	}
	if f, ok := b.Leader(); !ok || f != nw.fence {
		t.Fatalf("b.Leader() = %+v, %v", f, ok)
	}

	// The paused leader's writes are fenced, the new leader's are not.
	ctx := context.Background()
	minute := time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)
	bar := []tvbridge.Bar{{Time: minute, Open: 100, High: 101, Low: 99, Close: 100.5, Volume: 3}}
	cov := []tvbridge.Range{{From: minute, To: minute.Add(time.Minute)}}
	if _, err := db.Bars(&old.fence).PutMinutes(ctx, "FIGI1", bar, cov); !errors.Is(err, postgres.ErrFenced) {
		t.Fatalf("write with the old fence: %v, want ErrFenced", err)
	}
	if err := db.Leases().Check(ctx, old.fence); !errors.Is(err, postgres.ErrFenced) {
		t.Fatalf("Check of the old fence: %v, want ErrFenced", err)
	}
	if _, err := db.Bars(&nw.fence).PutMinutes(ctx, "FIGI1", bar, cov); err != nil {
		t.Fatalf("write with the new fence: %v", err)
	}

	// The old leader wakes up and stands by.
	ga.Resume()
	waitFor(t, "a to see b as holder", 5*time.Second, func() bool {
		s := a.Status()
		return s.Holder == b.ID() && s.Epoch == nw.fence.Epoch && !s.Leader
	})
	if n := alog.Count("lost the ingester lease; stopping the upstream"); n != 1 {
		t.Fatalf("a logged the loss %d times", n)
	}
}

// A leader cut off from PostgreSQL (a partition: connections broken, new
// ones never answered) steps down before its lease expires; a standby on a
// working connection takes over; the cut-off node logs the outage once, and
// "reconnected" when the network returns, then stands by.
func TestPostgresPartition(t *testing.T) {
	url := pgtest.Schema(t)
	db := openDB(t, url)
	p, purl := proxied(t, url)
	dba := openDB(t, purl)
	const ttl = time.Second
	ra, rb := newRecorder(), newRecorder()
	a, ga, alog := start(t, dba, Config{NodeID: "a", TTL: ttl, OnElected: ra.OnElected})
	old := ra.next(t, "a", 5*time.Second)
	b, _, _ := start(t, db, Config{NodeID: "b", TTL: ttl, OnElected: rb.OnElected})
	waitFor(t, "b to see a as holder", 5*time.Second, func() bool { return b.Status().Holder == a.ID() })
	waitFor(t, "a to renew", 5*time.Second, func() bool { return ga.LastOK().After(old.started) })

	p.Cut()
	cut := time.Now()
	canceled := canceledWithin(t, old, "a", 2*ttl)
	if d := canceled.Sub(ga.LastOK()); d >= ttl {
		t.Errorf("a's OnElected cancelled %v after its last renewal was sent; want < TTL %v", d, ttl)
	}
	nw := rb.next(t, "b", ttl+ttl/3+2*time.Second)
	t.Logf("a cancelled %v and b elected %v after the cut", canceled.Sub(cut), nw.started.Sub(cut))
	if nw.fence.Epoch <= old.fence.Epoch {
		t.Fatalf("new epoch %d after %d", nw.fence.Epoch, old.fence.Epoch)
	}
	// a keeps failing; it says so once.
	waitFor(t, "a to fail a few more times", 5*time.Second, func() bool { return a.Status().LastErrorAt.After(nw.started) })
	if s := a.Status(); !s.Unreachable || s.Leader || s.LastError == nil {
		t.Fatalf("a's status during the partition: %+v", s)
	}
	if n := alog.Count("postgres unreachable"); n != 1 {
		t.Fatalf("a logged the outage %d times, want once", n)
	}

	p.Restore()
	waitFor(t, "a to reconnect and see b", 10*time.Second, func() bool {
		s := a.Status()
		return !s.Unreachable && s.Holder == b.ID() && s.Epoch == nw.fence.Epoch
	})
	if n := alog.Count("postgres reconnected"); n != 1 {
		t.Fatalf("a logged %d reconnections, want 1", n)
	}
	if _, ok := b.Leader(); !ok {
		t.Fatal("b lost the lease when a came back")
	}
}
