package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"tvbridge/clock"
	"tvbridge/postgres"
)

// fakeLeases is an in-memory lease table on a fake clock (the "database
// clock"), with the semantics of postgres.Leases, for deterministic tests
// of the elector's timing.
type fakeLeases struct {
	clk *clock.Fake

	mu      sync.Mutex
	holder  string
	epoch   int64
	expires time.Time
	fail    error         // every call fails with it while set
	block   chan struct{} // Renew blocks until closed (or its ctx ends) while set
	renews  chan time.Time
}

func newFakeLeases(clk *clock.Fake) *fakeLeases {
	return &fakeLeases{clk: clk, renews: make(chan time.Time, 100)}
}

func (f *fakeLeases) set(fn func(f *fakeLeases)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeLeases) Acquire(_ context.Context, _, holder string, ttl time.Duration) (int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, false, f.fail
	}
	now := f.clk.Now()
	live := f.expires.After(now)
	if live && f.holder != holder {
		return 0, false, nil
	}
	if !live || f.holder != holder {
		f.epoch++
	}
	f.holder, f.expires = holder, now.Add(ttl)
	return f.epoch, true, nil
}

func (f *fakeLeases) Renew(ctx context.Context, _, holder string, epoch int64, ttl time.Duration) error {
	f.mu.Lock()
	block, fail := f.block, f.fail
	f.mu.Unlock()
	f.renews <- f.clk.Now()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clk.Now()
	if f.holder != holder || f.epoch != epoch || !f.expires.After(now) {
		return postgres.ErrLeaseLost
	}
	f.expires = now.Add(ttl)
	return nil
}

func (f *fakeLeases) Release(_ context.Context, _, holder string, epoch int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if now := f.clk.Now(); f.holder == holder && f.epoch == epoch && f.expires.After(now) {
		f.expires = now
	}
	return nil
}

func (f *fakeLeases) Holder(context.Context, string) (string, int64, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", 0, time.Time{}, f.fail
	}
	return f.holder, f.epoch, f.expires, nil
}

// startFake runs an elector on fake leases and a fake clock: TTL 9 s,
// RenewEvery 3 s, Margin 1 s (it trusts a renewal for 8 s after sending it).
func startFake(t *testing.T) (*Elector, *fakeLeases, *clock.Fake, *recorder, *logSink) {
	t.Helper()
	clk := clock.NewFake(time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC))
	fl := newFakeLeases(clk)
	r := newRecorder()
	sink := newLogSink(t)
	e, err := NewElector(Config{Leases: &postgres.Leases{}, NodeID: "n", TTL: 9 * time.Second, RenewEvery: 3 * time.Second,
		Margin: time.Second, Clock: clk, Logger: slog.New(sink), OnElected: r.OnElected})
	if err != nil {
		t.Fatal(err)
	}
	e.leases = fl
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		fl.set(func(f *fakeLeases) {
			if f.block != nil {
				close(f.block)
				f.block = nil
			}
		})
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run = %v", err)
		}
	})
	return e, fl, clk, r, sink
}

func renewed(t *testing.T, fl *fakeLeases) time.Time {
	t.Helper()
	select {
	case at := <-fl.renews:
		return at
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal sent")
		return time.Time{}
	}
}

func notCanceled(t *testing.T, e *Elector, rg *reign, when string) {
	t.Helper()
	if rg.ctx.Err() != nil {
		t.Fatalf("%s: OnElected's ctx cancelled early", when)
	}
	if _, ok := e.Leader(); !ok {
		t.Fatalf("%s: Leader() false", when)
	}
}

// The local deadline is the send time of the last successful renewal plus
// TTL - Margin, to the nanosecond of the local clock.
func TestFakeDeadline(t *testing.T) {
	e, fl, clk, r, _ := startFake(t)
	rg := r.next(t, "n", 5*time.Second)
	t0 := clk.Now()
	clk.BlockUntil(2) // watchdog and renewal timer armed
	clk.Advance(3 * time.Second)
	if at := renewed(t, fl); !at.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("renewal sent at %v, want t0+3s", at.Sub(t0))
	}
	// The renewal succeeded: deadline t0+3s+8s. Block the next ones.
	clk.BlockUntil(2)
	fl.set(func(f *fakeLeases) { f.block = make(chan struct{}) })
	clk.Advance(3 * time.Second)
	renewed(t, fl)
	clk.Advance(5*time.Second - time.Millisecond) // t0+10.999s
	notCanceled(t, e, rg, "1 ms before the deadline")
	if s := e.Status(); !s.Deadline.Equal(t0.Add(11 * time.Second)) {
		t.Fatalf("Status().Deadline = t0+%v, want t0+11s", s.Deadline.Sub(t0))
	}
	// The database would consider the lease expired only at t0+3s+9s.
	fl.mu.Lock()
	exp := fl.expires
	fl.mu.Unlock()
	if !exp.Equal(t0.Add(12 * time.Second)) {
		t.Fatalf("lease expires at t0+%v, want t0+12s", exp.Sub(t0))
	}
	clk.Advance(time.Millisecond) // t0+11s: stop acting, 1 s before the expiry
	if _, ok := e.Leader(); ok {
		t.Fatal("Leader() true at the deadline")
	}
	canceledWithin(t, rg, "n", 5*time.Second)
	if cause := context.Cause(rg.ctx); cause == nil || cause == context.Canceled {
		t.Fatalf("cause %v", cause)
	}
}

// ErrLeaseLost cancels at once, long before the local deadline.
func TestFakeLeaseLost(t *testing.T) {
	e, fl, clk, r, sink := startFake(t)
	rg := r.next(t, "n", 5*time.Second)
	clk.BlockUntil(2)
	fl.set(func(f *fakeLeases) { f.holder, f.epoch = "thief", f.epoch+1 })
	clk.Advance(3 * time.Second)
	canceledWithin(t, rg, "n", 5*time.Second)
	if cause := context.Cause(rg.ctx); !errors.Is(cause, postgres.ErrLeaseLost) {
		t.Fatalf("cause %v, want ErrLeaseLost", cause)
	}
	if _, ok := e.Leader(); ok {
		t.Fatal("still leader")
	}
	waitFor(t, "the loss to be logged", 5*time.Second, func() bool {
		return sink.Count("lost the ingester lease; stopping the upstream") == 1
	})
}

// An outage is logged once however many attempts fail, and its end once;
// the elector then campaigns and wins.
func TestFakeOutageLoggedOnce(t *testing.T) {
	clk := clock.NewFake(time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC))
	fl := newFakeLeases(clk)
	fl.fail = errors.New("connection refused")
	r := newRecorder()
	sink := newLogSink(t)
	e, err := NewElector(Config{Leases: &postgres.Leases{}, NodeID: "n", TTL: 9 * time.Second,
		Clock: clk, Logger: slog.New(sink), OnElected: r.OnElected})
	if err != nil {
		t.Fatal(err)
	}
	e.leases = fl
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range 10 {
		clk.BlockUntil(1) // the retry timer
		clk.Advance(3 * time.Second)
	}
	if s := e.Status(); !s.Unreachable || s.LastError == nil || s.Leader {
		t.Fatalf("status during the outage: %+v", s)
	}
	if n := sink.Count("postgres unreachable"); n != 1 {
		t.Fatalf("outage logged %d times", n)
	}
	fl.set(func(f *fakeLeases) { f.fail = nil })
	clk.BlockUntil(1)
	clk.Advance(3 * time.Second)
	rg := r.next(t, "n", 5*time.Second)
	if rg.fence.Epoch != 1 || sink.Count("postgres reconnected") != 1 || sink.Count("elected ingester") != 1 {
		t.Fatalf("after the outage: epoch %d, logs %v", rg.fence.Epoch, *sink.lines)
	}
}

func TestNewElectorChecks(t *testing.T) {
	on := func(context.Context, postgres.Fence) error { return nil }
	for _, c := range []Config{
		{OnElected: on},
		{Leases: &postgres.Leases{}},
		{Leases: &postgres.Leases{}, OnElected: on, TTL: 3 * time.Second, RenewEvery: 3 * time.Second},
		{Leases: &postgres.Leases{}, OnElected: on, TTL: 10 * time.Second, Margin: 7 * time.Second},
	} {
		if _, err := NewElector(c); err == nil {
			t.Errorf("NewElector(%+v) accepted", c)
		}
	}
	e, err := NewElector(Config{Leases: &postgres.Leases{}, OnElected: on, NodeID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if e.ttl != DefaultTTL || e.every != 3*time.Second || e.localTTL != 8100*time.Millisecond || e.name != "ingester" || e.ID()[:2] != "x#" {
		t.Fatalf("defaults: %v %v %v %q %q", e.ttl, e.every, e.localTTL, e.name, e.ID())
	}
	if f, ok := e.Leader(); ok {
		t.Fatalf("Leader() before Run = %+v", f)
	}
}
