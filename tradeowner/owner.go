// Package tradeowner runs trading in a tvbridge cluster: exactly one node,
// the trading owner, runs the trading core (a trading.Manager on its venue)
// at a time, elected by a fenced PostgreSQL lease named "trading", and
// every node answers the trading endpoints by serving them itself when it
// is the owner, or by forwarding them to the owner otherwise.
//
// The trading Manager keeps its state in memory and commits every change
// to its Store before making it visible. Two Managers on the same
// PostgreSQL data would diverge: neither would see the other's orders
// (no read-your-writes across nodes), both would evaluate the same held
// stops (duplicate orders), and both would hand out order ids. One owner
// keeps the Manager's single-process guarantees, and the lease's epoch
// fences a paused former owner's writes. See README.md for the design,
// the failover behaviour and what a broker should expect in latency.
package tradeowner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge/clock"
	"tvbridge/cluster"
	"tvbridge/postgres"
	"tvbridge/trading"
)

// LeaseName is the name of the trading owner's lease.
const LeaseName = "trading"

// Internal headers between nodes.
const (
	// HeaderForwarded marks a request one node forwarded to the node it
	// believes is the owner; its value is the forwarding node's id. A node
	// never forwards a request that carries it (no forwarding loops): it
	// serves it, or answers 421 with HeaderNotOwner.
	HeaderForwarded = "X-Tvbridge-Forwarded"
	// HeaderNotOwner is set on the 421 (Misdirected Request) answer of a
	// node that received a forwarded request and is not the owner. The
	// request was not processed at all, so the forwarding node may send it
	// again, to the owner it looks up next, whatever its method.
	HeaderNotOwner = "X-Tvbridge-Not-Owner"
)

// Defaults of Config.
const (
	DefaultPoll           = 200 * time.Millisecond
	DefaultOwnerCache     = time.Second
	DefaultHeartbeatEvery = 5 * time.Second
	DefaultDrain          = 5 * time.Second
	// DefaultMaxWaitExtra is added to TTL + RenewEvery for the default
	// MaxWait: the time a new owner needs to load the trading state.
	DefaultMaxWaitExtra = 3 * time.Second
)

// Reign is the trading core of one term of ownership, built by
// Config.Start on the fenced store of that term.
type Reign struct {
	// Handler serves the trading endpoints on this reign's broker, with
	// authentication (the Authorization header of a forwarded request is
	// the client's, passed through unchanged). Required.
	Handler http.Handler
	// Console, if set, is the same API without authentication, for the
	// operator console (which sets the principal itself).
	Console http.Handler
	// Run runs the core (trading.Manager.Run: venue events, held stops and
	// brackets on the tape's trades, DAY expiry) until ctx ends. Required.
	Run func(ctx context.Context) error
	// Close releases the core after Run returned (trading.Manager.Close);
	// may be nil.
	Close func() error
}

// StartFunc builds a reign's trading core on store: a trading.Store whose
// every commit is fenced by the trading lease at this term's epoch (it
// fails with postgres.ErrFenced once another node took the lease). It
// loads the state (trading.New does) and returns without running it; ctx
// ends when the term does.
type StartFunc func(ctx context.Context, store trading.Store) (*Reign, error)

// Config configures New.
type Config struct {
	// DB is the cluster's database: leases, node directory, trading state.
	// Required.
	DB *postgres.DB
	// NodeID names this node (lease holder ids are NodeID#nonce). Required.
	NodeID string
	// AdvertiseURL is the base URL at which the other nodes reach this
	// node's API (the listener serving Handler), e.g. http://10.0.0.5:8080.
	// Required.
	AdvertiseURL string
	// Start builds the trading core when this node becomes the owner.
	// Required.
	Start StartFunc

	// TTL and RenewEvery are the trading lease's (cluster.Config); zero
	// means cluster.DefaultTTL and TTL/3.
	TTL, RenewEvery time.Duration
	// MaxWait bounds how long a request waits for an owner (during a
	// failover, or while the owner loads) before HTTP 503; default
	// TTL + RenewEvery + DefaultMaxWaitExtra.
	MaxWait time.Duration
	// Poll is how often a waiting request looks the owner up again;
	// default DefaultPoll.
	Poll time.Duration
	// OwnerCache is how long a looked-up owner is trusted without looking
	// again while forwarding to it succeeds; default DefaultOwnerCache. A
	// failed forward, or a 421 from a node that is no longer the owner,
	// drops it at once.
	OwnerCache time.Duration
	// HeartbeatEvery is how often the node refreshes its registration in
	// the node directory; default DefaultHeartbeatEvery.
	HeartbeatEvery time.Duration
	// Drain bounds how long a stepping-down owner waits for its requests in
	// progress before it stops its core; default DefaultDrain. (Their
	// writes are fenced anyway once another node owns trading.)
	Drain time.Duration
	// Transport carries forwarded requests; nil means a pooled keep-alive
	// transport (NewTransport). For an https AdvertiseURL with a private
	// CA, pass a transport that trusts it.
	Transport http.RoundTripper

	Clock  clock.Clock  // default clock.Real{}; the elector runs on it too
	Logger *slog.Logger // default slog.Default()
}

// Node is one node's side of cluster trading: it campaigns for the trading
// lease, runs the trading core while it holds it, and serves or forwards
// every trading request (ServeHTTP). Call Run once.
type Node struct {
	cfg      Config
	clk      clock.Clock
	log      *slog.Logger
	elector  *cluster.Elector
	nodes    *postgres.Nodes
	instance string // the elector's holder id
	proxy    *proxy

	mu      sync.Mutex
	cur     *local        // the reign serving locally, nil when none
	changed chan struct{} // closed and replaced whenever cur changes

	owner   atomic.Pointer[ownerView] // last look-up of the lease's owner
	ownerMu sync.Mutex                // one look-up at a time

	stats counters
}

// local is a reign serving this node's requests.
type local struct {
	handler, console http.Handler
	epoch            int64
	// mu is held for reading by each request served; step-down takes it
	// for writing to wait for them (Drain) and sets closed.
	mu     sync.RWMutex
	closed bool
}

// serve serves r with h if the reign still serves; false if it stopped.
func (l *local) serve(h http.Handler, w http.ResponseWriter, r *http.Request) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	h.ServeHTTP(w, r)
	return true
}

// New checks cfg and returns a Node; call Run.
func New(cfg Config) (*Node, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("tradeowner: Config.DB is required")
	case cfg.NodeID == "":
		return nil, errors.New("tradeowner: Config.NodeID is required")
	case cfg.AdvertiseURL == "":
		return nil, errors.New("tradeowner: Config.AdvertiseURL is required")
	case cfg.Start == nil:
		return nil, errors.New("tradeowner: Config.Start is required")
	}
	target, err := parseBase(cfg.AdvertiseURL)
	if err != nil {
		return nil, fmt.Errorf("tradeowner: Config.AdvertiseURL: %w", err)
	}
	cfg.AdvertiseURL = target.String()
	if cfg.TTL == 0 {
		cfg.TTL = cluster.DefaultTTL
	}
	if cfg.RenewEvery == 0 {
		cfg.RenewEvery = cfg.TTL / 3
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = cfg.TTL + cfg.RenewEvery + DefaultMaxWaitExtra
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.OwnerCache <= 0 {
		cfg.OwnerCache = DefaultOwnerCache
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxWait < 0 {
		return nil, fmt.Errorf("tradeowner: MaxWait %v is negative", cfg.MaxWait)
	}
	n := &Node{
		cfg:     cfg,
		clk:     cfg.Clock,
		nodes:   cfg.DB.Nodes(),
		changed: make(chan struct{}),
	}
	el, err := cluster.NewElector(cluster.Config{
		Leases:     cfg.DB.Leases(),
		Name:       LeaseName,
		NodeID:     cfg.NodeID,
		TTL:        cfg.TTL,
		RenewEvery: cfg.RenewEvery,
		Clock:      cfg.Clock,
		Logger:     cfg.Logger,
		OnElected:  n.onElected,
	})
	if err != nil {
		return nil, fmt.Errorf("tradeowner: %w", err)
	}
	n.elector, n.instance = el, el.ID()
	n.log = cfg.Logger.With("component", "trading-owner", "node", n.instance)
	n.proxy = newProxy(n, cfg.Transport)
	return n, nil
}

// ID is this node's holder id in the trading lease: NodeID#nonce.
func (n *Node) ID() string { return n.instance }

// Elector is the trading lease's elector, for the console and metrics.
func (n *Node) Elector() *cluster.Elector { return n.elector }

// Run registers the node in the node directory (refreshing it every
// HeartbeatEvery) and campaigns for the trading lease until ctx ends; then
// it steps down (stopping the core if this node owned trading), removes
// the registration and returns ctx.Err(). PostgreSQL errors never end it.
func (n *Node) Run(ctx context.Context) error {
	n.register(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.heartbeat(ctx)
	}()
	err := n.elector.Run(ctx)
	wg.Wait()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if rerr := n.nodes.Remove(rctx, n.cfg.NodeID, n.instance); rerr != nil {
		n.log.Warn("could not remove this node from the node directory", "err", rerr)
	}
	return err
}

func (n *Node) register(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, max(n.cfg.HeartbeatEvery, time.Second))
	defer cancel()
	if err := n.nodes.Register(rctx, n.cfg.NodeID, n.cfg.AdvertiseURL, n.instance); err != nil {
		if ctx.Err() == nil {
			n.log.Warn("could not register this node in the node directory; retrying", "err", err)
		}
		return false
	}
	return true
}

func (n *Node) heartbeat(ctx context.Context) {
	t := n.clk.NewTicker(n.cfg.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			n.register(ctx)
		}
	}
}

// onElected runs one term of ownership: build the core on the fenced
// store, run it, serve locally until the term ends, then stop serving at
// once, let requests in progress finish (bounded by Drain) and stop the
// core.
func (n *Node) onElected(ctx context.Context, fence postgres.Fence) error {
	start := n.clk.Now()
	log := n.log.With("epoch", fence.Epoch)
	// The others find this node by its registration: make sure it is there
	// and current before they look the new owner up.
	n.register(ctx)
	reign, err := n.cfg.Start(ctx, n.cfg.DB.Trading(&fence))
	if err != nil {
		return fmt.Errorf("tradeowner: start the trading core (epoch %d): %w", fence.Epoch, err)
	}
	if reign == nil || reign.Handler == nil || reign.Run == nil {
		return errors.New("tradeowner: Start returned a Reign without Handler or Run")
	}
	// The core runs until the last request it serves is done, not merely
	// until ctx ends: a request in progress may wait for a venue answer.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- reign.Run(runCtx) }()

	l := &local{handler: reign.Handler, console: reign.Console, epoch: fence.Epoch}
	n.setLocal(l)
	n.stats.terms.Add(1)
	log.Info("trading owner: serving trading on this node", "loaded_in", n.clk.Since(start))

	var runErr error
	returned := false
	select {
	case <-ctx.Done():
	case runErr = <-ran:
		returned = true
		if runErr == nil {
			runErr = errors.New("trading core stopped by itself")
		}
		log.Error("trading owner: the trading core stopped; handing trading over", "err", runErr)
	}
	n.setLocal(nil)
	n.drain(l, log)
	stop()
	if !returned {
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			runErr = err
		}
	}
	if reign.Close != nil {
		if err := reign.Close(); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	log.Info("trading owner: stopped serving trading on this node", "cause", context.Cause(ctx), "err", runErr)
	if runErr != nil {
		return fmt.Errorf("tradeowner: epoch %d: %w", fence.Epoch, runErr)
	}
	return nil
}

// drain marks l closed once its requests in progress are done, waiting
// at most Drain for them.
func (n *Node) drain(l *local, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(done)
	}()
	t := n.clk.NewTimer(n.cfg.Drain)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C():
		log.Warn("trading owner: requests still in progress after the drain time; stopping the core anyway (their writes are fenced)", "drain", n.cfg.Drain)
	}
}

func (n *Node) setLocal(l *local) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cur = l
	close(n.changed)
	n.changed = make(chan struct{})
}

// current returns the local reign if this node serves trading now: the
// reign is published and the elector still leads at its epoch (Leader
// turns false at the local deadline, before the loop notices), and a
// channel closed at the next change.
func (n *Node) current() (*local, <-chan struct{}) {
	n.mu.Lock()
	l, ch := n.cur, n.changed
	n.mu.Unlock()
	if l == nil {
		return nil, ch
	}
	if f, ok := n.elector.Leader(); !ok || f.Epoch != l.epoch {
		return nil, ch
	}
	return l, ch
}

// Owner reports whether this node serves trading now, and at which epoch.
func (n *Node) Owner() (epoch int64, ok bool) {
	if l, _ := n.current(); l != nil {
		return l.epoch, true
	}
	return 0, false
}

// Status is a node's view of trading ownership, for the console and
// metrics.
type Status struct {
	Self   string         // this node's holder id
	Serves bool           // this node serves trading now
	Epoch  int64          // the epoch it serves at (when Serves)
	Lease  cluster.Status // the trading lease as the elector sees it
	// Owner is the last look-up of the owner by this node's forwarding
	// (zero before the first forwarded request), at Observed.
	Owner    postgres.LeaseOwner
	Observed time.Time
	Stats    Stats
}

// Status returns this node's view.
func (n *Node) Status() Status {
	s := Status{Self: n.instance, Lease: n.elector.Status(), Stats: n.stats.snapshot()}
	s.Epoch, s.Serves = n.Owner()
	if v := n.owner.Load(); v != nil {
		s.Owner, s.Observed = v.LeaseOwner, v.at
	}
	return s
}

// Stats counts this node's trading requests by outcome.
type Stats struct {
	Local     uint64 // served by this node as the owner
	Forwarded uint64 // forwarded and answered by the owner
	Retried   uint64 // forward attempts repeated (not sent, or refused by a former owner; or safe retries)
	Misrouted uint64 // forwarded requests this node refused with 421 (not the owner)
	Unknown   uint64 // answered 502: the owner failed mid-request and the request is not safe to repeat
	NoOwner   uint64 // answered 503: no owner within MaxWait
	Terms     uint64 // times this node became the owner
}

type counters struct {
	local, forwarded, retried, misrouted, unknown, noOwner, terms atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{Local: c.local.Load(), Forwarded: c.forwarded.Load(), Retried: c.retried.Load(),
		Misrouted: c.misrouted.Load(), Unknown: c.unknown.Load(), NoOwner: c.noOwner.Load(), Terms: c.terms.Load()}
}
