package trading

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// Manager implements tvbridge.Broker on a tvbridge.Venue.
type Manager struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock
	seq atomic.Uint64 // the last id sequence number handed out
	// versions numbers the accounts' committed changes, see OrdersVersion.
	versions atomic.Uint64

	// mu guards the account maps. Lock order: an account's mu first, then
	// mu, idxMu or heldMu, never the other way round.
	mu        sync.RWMutex
	accounts  map[string]*account
	users     map[string][]*account
	userLocks map[string]*sync.Mutex

	idxMu      sync.RWMutex
	orderIndex map[string]*account // order id -> account, for venue events

	// heldMu guards held: the stops and brackets the Manager holds and
	// triggers on trades, by FIGI.
	heldMu sync.RWMutex
	held   map[string]map[string]*account

	schedMu   sync.Mutex
	schedules map[string]*tvbridge.Schedule

	expiry expiryClock

	// restore lists, per account, the venue orders that were live when
	// the state was loaded; Run hands them to Venue.Restore once.
	restore map[*account][]tvbridge.VenueOrder

	readerMu sync.Mutex
	reader   tvbridge.TapeReader
	shared   sharedState // cluster mode (shared.go)
	// loadedHeld are the orders held when the state was loaded, which Run
	// checks at the last prices (unless it replays the trades it missed).
	loadedHeld map[string]bool

	closed atomic.Bool
	bgMu   sync.Mutex // guards bgWG.Add against Close's Wait
	bgWG   sync.WaitGroup

	stats stats // for metrics (stats.go)
}

var _ tvbridge.Broker = (*Manager)(nil)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("trading: manager closed")

// New loads the state from cfg.Store and returns a Manager. Call Run to
// start processing venue events, trades and expiries.
func New(cfg Config) (*Manager, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:        cfg,
		log:        cfg.Logger,
		clk:        cfg.Clock,
		accounts:   map[string]*account{},
		users:      map[string][]*account{},
		userLocks:  map[string]*sync.Mutex{},
		orderIndex: map[string]*account{},
		held:       map[string]map[string]*account{},
		schedules:  map[string]*tvbridge.Schedule{},
		restore:    map[*account][]tvbridge.VenueOrder{},
		expiry:     newExpiryClock(),
	}
	snap, err := cfg.Store.Load(context.Background())
	if err != nil {
		return nil, fmt.Errorf("trading: load state: %w", err)
	}
	m.load(snap)
	if err := m.recoverInterrupted(); err != nil {
		return nil, err
	}
	m.loadedHeld = m.heldIDs()
	// Subscribe now, so trades that arrive before Run are not missed.
	m.reader = cfg.Tape.Subscribe()
	if err := m.setupShared(context.Background()); err != nil {
		m.reader.Close()
		return nil, fmt.Errorf("trading: shared tape: %w", err)
	}
	return m, nil
}

// load builds the in-memory state from a snapshot.
func (m *Manager) load(snap Snapshot) {
	now := m.clk.Now()
	m.seq.Store(snap.Seq)
	for _, rec := range snap.Accounts {
		a := newAccount(rec)
		a.version = m.versions.Add(1)
		m.accounts[a.id] = a
		m.users[a.owner] = append(m.users[a.owner], a)
	}
	orders := slices.Clone(snap.Orders)
	slices.SortFunc(orders, func(x, y OrderRecord) int { return cmp.Compare(x.Seq, y.Seq) })
	for _, o := range orders {
		a := m.accounts[o.AccountID]
		if a == nil {
			m.log.Warn("stored order of an unknown account skipped", "order", o.ID, "account", o.AccountID)
			continue
		}
		m.bumpSeq(max(o.Seq, o.FinalSeq))
		if p := a.installOrder(o.Clone()); p != nil {
			a.finals = append(a.finals, p)
		}
	}
	positions := slices.Clone(snap.Positions)
	slices.SortFunc(positions, func(x, y PositionRecord) int { return compareIDs(x.ID, y.ID) })
	for _, p := range positions {
		if a := m.accounts[p.AccountID]; a != nil {
			if p.Currency == "" { // stored before positions kept their currency
				p.Currency = m.currencyOf(a, p.FIGI)
			}
			a.installPosition(p)
		}
	}
	for _, e := range snap.Executions {
		m.bumpSeq(e.Seq)
		if a := m.accounts[e.AccountID]; a != nil {
			a.execs = append(a.execs, e)
		}
	}
	for _, a := range m.accounts {
		m.loadAccount(a, now)
	}
}

// loadAccount finishes loading one account: list order, history bounds,
// indexes and the venue orders to restore.
func (m *Manager) loadAccount(a *account, now time.Time) {
	slices.SortFunc(a.execs, func(x, y ExecutionRecord) int { return cmp.Compare(x.Seq, y.Seq) })
	a.appendExecutions(nil, m.cfg.MaxExecutions)
	slices.SortFunc(a.finals, byFinalSeq)
	a.pruneRecent(now)
	a.trimFinals(m.cfg.MaxHistory)
	var live []OrderRecord
	for _, o := range a.orders {
		live = append(live, *o)
		if o.VenueLive && !o.Status.Final() {
			m.restore[a] = append(m.restore[a], venueOrder(o))
		}
	}
	m.indexOrders(a, live, nil)
	slices.SortFunc(m.restore[a], func(x, y tvbridge.VenueOrder) int { return compareIDs(x.ID, y.ID) })
}

// recoverInterrupted settles modifications a crash interrupted: the user
// never got an answer, so the order is left as the venue has it.
func (m *Manager) recoverInterrupted() error {
	for _, a := range m.accounts {
		a.mu.Lock()
		t := m.begin(a)
		for _, o := range a.orders {
			if !o.Replacing || o.Status.Final() {
				continue
			}
			s := t.order(o.ID)
			s.Replacing = false
			if !s.VenueLive {
				// The old generation is gone and the new one was never sent.
				t.setStatus(s, tvbridge.OrderCancelled, "warning", "cancelled: a restart interrupted its modification")
			}
		}
		err := t.commit(context.Background())
		a.mu.Unlock()
		t.finish()
		if err != nil {
			return fmt.Errorf("trading: recover interrupted modifications: %w", err)
		}
	}
	return nil
}

// Run processes venue events, trades and DAY expiries, and runs the venue,
// until ctx ends or the venue fails. First it hands the venue the orders
// that were live when the state was loaded.
func (m *Manager) Run(ctx context.Context) error {
	if m.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	venueErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); venueErr <- m.cfg.Venue.Run(ctx) }()
	go func() { defer wg.Done(); m.eventLoop(ctx) }()
	restored := make(chan struct{})
	go func() { defer wg.Done(); m.tapeLoop(ctx, restored) }()
	go func() { defer wg.Done(); m.expiryLoop(ctx) }()
	go func() { defer wg.Done(); m.markLoop(ctx) }()
	m.restoreVenue(ctx)
	close(restored)

	var err error
	select {
	case <-ctx.Done():
	case err = <-venueErr:
		switch {
		case ctx.Err() != nil:
			err = nil
		case err == nil:
			err = errors.New("trading: venue stopped by itself")
		default:
			err = fmt.Errorf("trading: venue stopped: %w", err)
		}
	}
	cancel()
	wg.Wait()
	return err
}

// Close stops new work, waits for background venue calls (bounded by
// VenueTimeout) and releases the tape reader. It does not close the Store.
// Stop the HTTP server and Run first.
func (m *Manager) Close() error {
	m.bgMu.Lock()
	already := m.closed.Swap(true)
	m.bgMu.Unlock()
	if already {
		return nil
	}
	m.bgWG.Wait()
	m.readerMu.Lock()
	defer m.readerMu.Unlock()
	if m.reader != nil {
		m.reader.Close()
		m.reader = nil
	}
	return nil
}

// goBG runs f in a goroutine that Close waits for; after Close it does
// nothing, and the work is left for the next start (Restore, re-arming).
func (m *Manager) goBG(f func()) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.closed.Load() {
		return
	}
	m.bgWG.Add(1)
	go func() {
		defer m.bgWG.Done()
		defer m.recoverPanic("background venue call")
		f()
	}()
}

// recoverPanic logs a panic instead of letting outside input (a venue
// event, a trade) take the process down.
func (m *Manager) recoverPanic(what string) {
	if p := recover(); p != nil {
		m.log.Error("trading: panic recovered", "in", what, "panic", p, "stack", string(debug.Stack()))
	}
}

func (m *Manager) nextSeq() uint64 { return m.seq.Add(1) }

// bumpSeq makes sure ids never repeat one seen in the store.
func (m *Manager) bumpSeq(n uint64) {
	for {
		cur := m.seq.Load()
		if n <= cur || m.seq.CompareAndSwap(cur, n) {
			return
		}
	}
}

// indexOrders records which account holds each order, forgets dropped
// ones and keeps the held-order index in step with the orders' states.
func (m *Manager) indexOrders(a *account, orders []OrderRecord, dropped []string) {
	m.idxMu.Lock()
	for _, o := range orders {
		m.orderIndex[o.ID] = a
	}
	for _, id := range dropped {
		delete(m.orderIndex, id)
	}
	m.idxMu.Unlock()

	m.heldMu.Lock()
	for _, o := range orders {
		byID := m.held[o.FIGI]
		if !armed(&o) {
			if byID != nil {
				delete(byID, o.ID)
				if len(byID) == 0 {
					delete(m.held, o.FIGI)
				}
			}
			continue
		}
		if byID == nil {
			byID = map[string]*account{}
			m.held[o.FIGI] = byID
		}
		byID[o.ID] = a
	}
	m.heldMu.Unlock()

	for _, o := range orders {
		if !o.ExpiresAt.IsZero() && !o.Status.Final() {
			m.expiry.note(o.ExpiresAt)
		}
	}
}

// accountOfOrder finds the account holding an order.
func (m *Manager) accountOfOrder(id string) *account {
	m.idxMu.RLock()
	defer m.idxMu.RUnlock()
	return m.orderIndex[id]
}

// compareIDs orders the Manager's ids ("12", "P7") by their number.
func compareIDs(x, y string) int {
	return cmp.Or(cmp.Compare(len(x), len(y)), cmp.Compare(x, y))
}

// venueID is the id a generation of an order has at the venue: the order's
// own id for the first submission, "id.gen" for later ones.
func venueID(orderID string, gen int) string {
	if gen <= 1 {
		return orderID
	}
	return orderID + "." + strconv.Itoa(gen)
}

// parseVenueID splits a venue order id into the order id and generation.
func parseVenueID(id string) (string, int) {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '.' {
			gen, err := strconv.Atoi(id[i+1:])
			if err != nil || gen < 2 {
				return id, 1
			}
			return id[:i], gen
		}
	}
	return id, 1
}

// venueOrder describes the current generation of o for the venue.
func venueOrder(o *OrderRecord) tvbridge.VenueOrder {
	vo := tvbridge.VenueOrder{
		ID:        venueID(o.ID, o.Gen),
		AccountID: o.AccountID,
		FIGI:      o.FIGI,
		Side:      o.Side,
		Type:      o.VenueType,
		Qty:       o.VenueQty,
		VenueRef:  o.VenueRef,
		TapeSeen:  o.TapeSeen,
	}
	if o.VenueType == tvbridge.LimitOrder {
		vo.Limit = o.VenueLimit
	}
	return vo
}
