// Package cluster decides which node of a tvbridge cluster is the ingester
// (the one node that holds the upstream) and makes the hand-over safe.
//
// An Elector campaigns for a PostgreSQL lease (postgres.Leases, judged by
// the database's clock, with an epoch as fencing token). While it holds the
// lease it runs OnElected with a context that is cancelled the moment the
// leadership is lost or doubtful, renews the lease every RenewEvery, and
// stops acting as leader on its own, strictly before the database could
// consider the lease expired, when no renewal succeeded in time. See
// README.md for the design, the failover bound and the intended wiring.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"tvbridge/clock"
	"tvbridge/postgres"
)

// Defaults of Config.
const (
	DefaultName = "ingester"
	DefaultTTL  = 9 * time.Second
)

// Config configures NewElector.
type Config struct {
	// Leases is the lease table (postgres.DB.Leases()). Required.
	Leases *postgres.Leases
	// Name is the lease's name; default "ingester".
	Name string
	// NodeID names this node in logs and in the lease row (default: the
	// host name). The lease holder is NodeID + "#" + a random nonce drawn
	// by NewElector, so two processes started with the same NodeID (a
	// restart before the lease expired, a duplicate deployment) are never
	// taken for the same holder, which would let them share an epoch.
	NodeID string
	// TTL is the lease's time to live, judged by the database's clock;
	// default 9 s. A dead leader is replaced within TTL + RenewEvery (plus
	// the latency of one Acquire): see README.md for the failover bound.
	TTL time.Duration
	// RenewEvery is how often the leader renews and standby nodes poll the
	// lease; default TTL/3. It must be below TTL - Margin.
	RenewEvery time.Duration
	// Margin is how much earlier than TTL after sending its last successful
	// renewal the leader stops acting as leader on its own; default TTL/10.
	// It absorbs a difference in clock rate (not offset) between this node
	// and the database server of up to Margin/TTL (10%; quartz clocks
	// differ by ~0.01%) and the scheduling delay of the local timer.
	Margin time.Duration
	// Clock is the local clock of timers and deadlines; default clock.Real.
	Clock clock.Clock
	// Logger receives election messages; default slog.Default().
	Logger *slog.Logger
	// OnElected runs while this node leads: it starts the upstream and the
	// ingest with fence and returns when ctx is cancelled (leadership lost
	// or doubtful, or Run's ctx ended) or when it gives up by itself (an
	// error or nil: the node then releases the lease, stands by and
	// campaigns again after a backoff). It must stop every write and
	// publish before returning; writes fenced with fence are refused after
	// a takeover anyway. Required.
	OnElected func(ctx context.Context, fence postgres.Fence) error
}

// leaseAPI is the part of *postgres.Leases the Elector uses; tests wrap it
// to pause or cut an elector's access to the database.
type leaseAPI interface {
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (int64, bool, error)
	Renew(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) error
	Release(ctx context.Context, name, holder string, epoch int64) error
	Holder(ctx context.Context, name string) (string, int64, time.Time, error)
}

// Status is the elector's view of the lease, for the console and metrics.
type Status struct {
	Name string // lease name
	Self string // this elector's holder id (NodeID#nonce)
	// Leader is true while this node leads (as Leader reports it).
	Leader bool
	// Holder, Epoch and Expires are the lease row as last read by a
	// standby poll (Expires is the database's clock, UTC). While this node
	// leads they are this node and its epoch, and Expires is zero: see
	// Deadline. Holder is "" when the lease was never taken.
	Holder  string
	Epoch   int64
	Expires time.Time
	// IsSelf is true when Holder is this elector.
	IsSelf bool
	// Observed is the local time of the read, acquisition or renewal that
	// Holder and Epoch come from.
	Observed time.Time
	// Deadline is, while this node leads, the local time at which it stops
	// acting as leader unless a renewal succeeds first.
	Deadline time.Time
	// Unreachable is true while the database does not answer this node.
	Unreachable bool
	// LastError is the last error of a lease operation (nil if none yet),
	// at LastErrorAt (local time). It is kept after recovery.
	LastError   error
	LastErrorAt time.Time
	// Terms counts the times this node was elected.
	Terms int64
}

// Elector campaigns for the lease and runs OnElected while it holds it.
// Run it once; Leader and Status may be called from any goroutine.
type Elector struct {
	leases   leaseAPI
	name     string
	id       string
	ttl      time.Duration
	every    time.Duration
	localTTL time.Duration // ttl - margin: how long after a send a lease is trusted
	clk      clock.Clock
	log      *slog.Logger
	onElect  func(context.Context, postgres.Fence) error

	mu          sync.Mutex
	running     bool
	status      Status
	fence       postgres.Fence
	outageSince time.Time

	// Owned by Run's goroutine.
	lastEpoch  int64 // epoch of this node's last reign
	unreleased int64 // epoch whose Release has not succeeded yet (0: none)
}

// NewElector checks cfg and returns an Elector; call Run.
func NewElector(cfg Config) (*Elector, error) {
	if cfg.Leases == nil {
		return nil, errors.New("cluster: Config.Leases is required")
	}
	if cfg.OnElected == nil {
		return nil, errors.New("cluster: Config.OnElected is required")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.NodeID == "" {
		cfg.NodeID = hostname()
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.RenewEvery == 0 {
		cfg.RenewEvery = cfg.TTL / 3
	}
	if cfg.Margin == 0 {
		cfg.Margin = cfg.TTL / 10
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TTL < time.Millisecond || cfg.RenewEvery <= 0 || cfg.Margin < 0 || cfg.RenewEvery >= cfg.TTL-cfg.Margin {
		return nil, fmt.Errorf("cluster: want 0 < RenewEvery (%v) < TTL (%v) - Margin (%v)", cfg.RenewEvery, cfg.TTL, cfg.Margin)
	}
	var nonce [4]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("cluster: nonce: %w", err)
	}
	id := cfg.NodeID + "#" + hex.EncodeToString(nonce[:])
	e := &Elector{
		leases:   cfg.Leases,
		name:     cfg.Name,
		id:       id,
		ttl:      cfg.TTL,
		every:    cfg.RenewEvery,
		localTTL: cfg.TTL - cfg.Margin,
		clk:      cfg.Clock,
		log:      cfg.Logger.With("lease", cfg.Name, "node", id),
		onElect:  cfg.OnElected,
	}
	e.status = Status{Name: cfg.Name, Self: id}
	return e, nil
}

// ID is this elector's holder id in the lease row: NodeID#nonce.
func (e *Elector) ID() string { return e.id }

// Leader returns this node's fence while it leads: elected, OnElected
// running, and the local deadline of its last renewal not passed. ok is
// false otherwise (standby, stepping down, or leadership doubtful).
func (e *Elector) Leader() (fence postgres.Fence, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.status.Leader || !e.clk.Now().Before(e.status.Deadline) {
		return postgres.Fence{}, false
	}
	return e.fence, true
}

// Status returns the elector's current view of the lease.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.status
	if s.Leader && !e.clk.Now().Before(s.Deadline) {
		s.Leader = false // the loop has not noticed yet; Leader() agrees
	}
	return s
}

// Run campaigns until ctx ends and returns ctx.Err(). When it leads, it
// runs OnElected, renews, and steps down as described on Config; when ctx
// ends while it leads, it cancels OnElected, waits for it, and releases
// the lease. PostgreSQL errors never end Run: it retries, logging once per
// outage. Run may be called once.
func (e *Elector) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("cluster: Elector.Run called twice")
	}
	e.running = true
	e.mu.Unlock()

	e.log.Info("standing by for the "+e.name+" lease", "ttl", e.ttl, "renew_every", e.every)
	backoff := e.every
	for {
		fence, sent, err := e.campaign(ctx)
		if err != nil {
			return err
		}
		start := e.clk.Now()
		e.lead(ctx, fence, sent)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A reign shorter than TTL (OnElected failing at once, say) doubles
		// the pause, so a node that cannot ingest lets the others try.
		if e.clk.Since(start) < e.ttl {
			backoff = min(2*backoff, maxBackoff(e.ttl, e.every))
		} else {
			backoff = e.every
		}
		e.log.Info("standing by for the "+e.name+" lease", "retry_in", backoff)
		if err := e.sleep(ctx, backoff); err != nil {
			return err
		}
	}
}

func maxBackoff(ttl, every time.Duration) time.Duration { return max(2*ttl, every) }

// campaign tries to acquire the lease until it succeeds (returning the
// fence and the local time before the winning Acquire was sent) or ctx
// ends. Between attempts it reads the lease's holder for Status.
func (e *Elector) campaign(ctx context.Context) (postgres.Fence, time.Time, error) {
	retry := e.every / 4
	for {
		wait := e.every
		ok, fence, sent, err := e.try(ctx)
		switch {
		case ctx.Err() != nil:
			return postgres.Fence{}, time.Time{}, ctx.Err()
		case err != nil:
			e.dbFailed(err)
			wait, retry = retry, min(2*retry, e.every)
		case ok:
			return fence, sent, nil
		default:
			retry = e.every / 4
		}
		if err := e.sleep(ctx, wait); err != nil {
			return postgres.Fence{}, time.Time{}, err
		}
	}
}

// try makes one attempt: release a lease of ours whose release failed (so
// that every reign gets a new epoch), Acquire, and read the holder when
// another node has it.
func (e *Elector) try(ctx context.Context) (ok bool, fence postgres.Fence, sent time.Time, err error) {
	if e.unreleased != 0 {
		if err := e.release(ctx, e.unreleased); err != nil {
			return false, fence, sent, err
		}
	}
	sent = e.clk.Now()
	actx, cancel := context.WithTimeout(ctx, e.every)
	epoch, ok, err := e.leases.Acquire(actx, e.name, e.id, e.ttl)
	cancel()
	if err != nil {
		return false, fence, sent, err
	}
	e.dbOK()
	if ok && epoch <= e.lastEpoch {
		// Our previous reign's lease, still unexpired (its Release was
		// lost): never reuse an epoch. Give it up and campaign again.
		e.log.Warn("acquired our previous epoch again; releasing it to get a new one", "epoch", epoch)
		e.unreleased = epoch
		return false, fence, sent, nil
	}
	if ok {
		return true, postgres.Fence{Name: e.name, Epoch: epoch}, sent, nil
	}
	hctx, cancel := context.WithTimeout(ctx, e.every)
	holder, hepoch, expires, err := e.leases.Holder(hctx, e.name)
	cancel()
	if err != nil {
		return false, fence, sent, err
	}
	now := e.clk.Now()
	e.mu.Lock()
	if holder != e.status.Holder || hepoch != e.status.Epoch {
		e.log.Info(e.name+" lease held by another node", "holder", holder, "epoch", hepoch, "expires", expires)
	}
	e.status.Holder, e.status.Epoch, e.status.Expires = holder, hepoch, expires
	e.status.IsSelf, e.status.Observed = holder == e.id, now
	e.mu.Unlock()
	return false, fence, sent, nil
}

func (e *Elector) release(ctx context.Context, epoch int64) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.every)
	defer cancel()
	if err := e.leases.Release(rctx, e.name, e.id, epoch); err != nil {
		e.unreleased = epoch
		return err
	}
	e.unreleased = 0
	return nil
}

type renewal struct {
	sent time.Time
	err  error
}

// lead runs one reign: OnElected in a goroutine, renewals, the local
// deadline; it returns after OnElected returned and the lease was released
// (or left to expire).
func (e *Elector) lead(ctx context.Context, fence postgres.Fence, sent time.Time) {
	deadline := sent.Add(e.localTTL)
	e.lastEpoch = fence.Epoch
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	e.mu.Lock()
	e.fence = fence
	e.status.Leader, e.status.Deadline = true, deadline
	e.status.Holder, e.status.Epoch, e.status.Expires = e.id, fence.Epoch, time.Time{}
	e.status.IsSelf, e.status.Observed = true, sent
	e.status.Terms++
	e.mu.Unlock()
	e.log.Info("elected "+e.role(), "epoch", fence.Epoch, "ttl", e.ttl, "deadline_in", deadline.Sub(e.clk.Now()))

	done := make(chan error, 1)
	go func() { done <- e.onElect(lctx, fence) }()

	watchdog := e.clk.NewTimer(deadline.Sub(e.clk.Now()))
	defer watchdog.Stop()
	renewAt := e.clk.NewTimer(max(0, sent.Add(e.every).Sub(e.clk.Now())))
	defer renewAt.Stop()
	renewed := make(chan renewal, 1) // buffered: a renewal left in flight never blocks
	inflight := false

	var (
		reason   error
		returned bool
		result   error
		lost     bool // the lease is gone: no release needed
	)
loop:
	for {
		select {
		case <-renewAt.C():
			if inflight {
				continue
			}
			inflight = true
			s := e.clk.Now()
			go func() {
				rctx, c := context.WithTimeout(lctx, e.every)
				err := e.leases.Renew(rctx, e.name, e.id, fence.Epoch, e.ttl)
				c()
				renewed <- renewal{sent: s, err: err}
			}()
		case r := <-renewed:
			inflight = false
			now := e.clk.Now()
			switch {
			case r.err == nil:
				e.dbOK()
				if d := r.sent.Add(e.localTTL); d.After(deadline) {
					deadline = d
					watchdog.Reset(deadline.Sub(now))
				}
				e.mu.Lock()
				e.status.Deadline, e.status.Observed = deadline, r.sent
				e.mu.Unlock()
				renewAt.Reset(max(0, r.sent.Add(e.every).Sub(now)))
			case errors.Is(r.err, postgres.ErrLeaseLost):
				reason, lost = r.err, true
				break loop
			case lctx.Err() != nil:
				// ctx ended; its case below handles it.
			default:
				e.dbFailed(r.err)
				renewAt.Reset(e.every / 4)
			}
		case <-watchdog.C():
			if now := e.clk.Now(); now.Before(deadline) { // a stale fire from before a Reset
				watchdog.Reset(deadline.Sub(now))
				continue
			}
			reason = fmt.Errorf("no successful renewal for %v (TTL %v less margin %v): the lease may expire at the database", e.localTTL, e.ttl, e.ttl-e.localTTL)
			break loop
		case result = <-done:
			returned = true
			break loop
		case <-ctx.Done():
			break loop
		}
	}

	// Step down: Leader() turns false before OnElected's ctx is cancelled.
	e.mu.Lock()
	e.status.Leader, e.status.Deadline = false, time.Time{}
	e.mu.Unlock()
	switch {
	case reason != nil:
		cancel(reason)
		e.log.Warn("lost the "+e.name+" lease; stopping "+e.work(), "reason", reason, "epoch", fence.Epoch)
	case returned:
		cancel(errors.New("OnElected returned"))
		e.log.Warn(e.role()+" stopped by itself; releasing the "+e.name+" lease", "err", result, "epoch", fence.Epoch)
	default:
		cancel(ctx.Err())
		e.log.Info("shutting down; stopping "+e.work()+" and releasing the "+e.name+" lease", "epoch", fence.Epoch)
	}
	if !returned {
		result = e.await(done, fence.Epoch)
		e.log.Info(e.role()+" stopped", "epoch", fence.Epoch, "err", result)
	}
	if lost {
		return
	}
	if err := e.release(ctx, fence.Epoch); err != nil {
		e.dbFailed(err)
		e.log.Warn("could not release the "+e.name+" lease; it expires by itself", "epoch", fence.Epoch, "err", err)
		return
	}
	e.dbOK()
}

// await waits for OnElected to return, logging every TTL while it does not.
func (e *Elector) await(done <-chan error, epoch int64) error {
	t := e.clk.NewTimer(e.ttl)
	defer t.Stop()
	start := e.clk.Now()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C():
			e.log.Error("still waiting for OnElected to stop after losing the lease; its writes are fenced", "epoch", epoch, "waited", e.clk.Since(start))
			t.Reset(e.ttl)
		}
	}
}

// dbFailed records a failed lease operation and logs the first of an outage.
func (e *Elector) dbFailed(err error) {
	now := e.clk.Now()
	e.mu.Lock()
	first := !e.status.Unreachable
	e.status.Unreachable, e.status.LastError, e.status.LastErrorAt = true, err, now
	if first {
		e.outageSince = now
	}
	e.mu.Unlock()
	if first {
		e.log.Warn("postgres unreachable for the "+e.name+" lease; retrying (logged once per outage)", "err", err)
	}
}

// dbOK records a successful lease operation and logs the end of an outage.
func (e *Elector) dbOK() {
	e.mu.Lock()
	was := e.status.Unreachable
	e.status.Unreachable = false
	since := e.outageSince
	e.mu.Unlock()
	if was {
		e.log.Info("postgres reconnected for the "+e.name+" lease", "down_for", e.clk.Since(since))
	}
}

func (e *Elector) sleep(ctx context.Context, d time.Duration) error {
	t := e.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// role names what the lease's holder is in the logs: "ingester" for
// DefaultName, else "<name> owner".
func (e *Elector) role() string {
	if e.name == DefaultName {
		return "ingester"
	}
	return e.name + " owner"
}

// work names what the holder stops on losing the lease, in the logs.
func (e *Elector) work() string {
	if e.name == DefaultName {
		return "the upstream"
	}
	return "its work"
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "node"
	}
	return h
}
