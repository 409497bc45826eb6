package trading

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
)

// account is one trading account in memory. Everything after mu is guarded
// by it: readers (Orders, Positions, State) take the read lock and copy,
// writers stage a txn under the write lock. The fields before mu never
// change, so they are read without it.
type account struct {
	id           string
	owner        string
	venueAccount string
	info         tvbridge.Account // Currencies: those of rec.Balances at load or opening

	mu     sync.RWMutex
	rec    AccountRecord
	orders map[string]*OrderRecord // every order kept in memory, by id
	// recent lists, in creation order, the orders Orders may show: every
	// non-final order and final ones until their ListUntil. pruneAt is the
	// earliest ListUntil in it, when it next needs pruning.
	recent  []*OrderRecord
	pruneAt time.Time
	// open lists the non-final orders in creation order: what reserves
	// funds. It is short even when recent is long on a busy day.
	open []*OrderRecord
	// finals lists final orders in the order they became final, newest
	// last, at most Config.MaxHistory (plus slack, see trimFinals).
	finals    []*OrderRecord
	requests  map[string]*OrderRecord // RequestID -> order, for idempotency
	positions map[string]*PositionRecord
	posList   []*PositionRecord          // creation order
	posByID   map[string]*PositionRecord // position id -> position
	execs     []ExecutionRecord          // oldest first, bounded
	// changed is closed and replaced on every committed change, so waiters
	// can block until an order moves.
	changed chan struct{}
	// version is set anew (from Manager.versions) by every committed
	// change, see OrdersVersion.
	version uint64
	// valued is what ValuationVersion last listed (written under the read
	// lock, hence atomic).
	valued atomic.Pointer[valuedFIGIs]
}

func newAccount(rec AccountRecord) *account {
	migrateMoney(&rec)
	info := rec.Account
	for _, c := range rec.Balances {
		info.Currencies = append(info.Currencies, c.Currency)
	}
	return &account{
		id:           rec.ID,
		owner:        rec.Owner,
		venueAccount: rec.VenueAccount,
		info:         info,
		rec:          rec,
		orders:       map[string]*OrderRecord{},
		requests:     map[string]*OrderRecord{},
		positions:    map[string]*PositionRecord{},
		posByID:      map[string]*PositionRecord{},
		changed:      make(chan struct{}),
	}
}

// installOrder stores rec, keeping the pointer of an existing order so that
// the lists referring to it stay valid. It returns the order if it became
// final, for the caller to append to finals in FinalSeq order. Callers
// hold mu.
func (a *account) installOrder(rec OrderRecord) *OrderRecord {
	cur := a.orders[rec.ID]
	if cur == nil {
		cur = &rec
		a.orders[rec.ID] = cur
		a.recent = append(a.recent, cur)
		if rec.RequestID != "" {
			a.requests[rec.RequestID] = cur
		}
		if !rec.Status.Final() {
			a.open = append(a.open, cur)
		}
	} else {
		wasFinal := cur.Status.Final()
		*cur = rec
		if wasFinal || !rec.Status.Final() {
			return nil
		}
		a.open = slices.DeleteFunc(a.open, func(o *OrderRecord) bool { return o == cur })
	}
	if !rec.Status.Final() {
		return nil
	}
	if a.pruneAt.IsZero() || rec.ListUntil.Before(a.pruneAt) {
		a.pruneAt = rec.ListUntil
	}
	return cur
}

// addFinals appends orders that became final to finals, in the order they
// did. Callers hold mu.
func (a *account) addFinals(orders []*OrderRecord) {
	slices.SortFunc(orders, byFinalSeq)
	a.finals = append(a.finals, orders...)
}

func byFinalSeq(x, y *OrderRecord) int { return cmp.Compare(x.FinalSeq, y.FinalSeq) }

// installPosition stores rec like installOrder. Callers hold mu.
func (a *account) installPosition(rec PositionRecord) {
	if cur := a.positions[rec.FIGI]; cur != nil {
		*cur = rec
		return
	}
	p := &rec
	a.positions[rec.FIGI] = p
	a.posByID[rec.ID] = p
	a.posList = append(a.posList, p)
}

// appendExecutions adds executions, dropping the oldest beyond max. It
// trims only once the slack of a quarter is used up, so adding is amortised
// O(1). Callers hold mu.
func (a *account) appendExecutions(execs []ExecutionRecord, maxKeep int) {
	a.execs = append(a.execs, execs...)
	if len(a.execs) > maxKeep+maxKeep/4 {
		a.execs = slices.Clone(a.execs[len(a.execs)-maxKeep:])
	}
}

// pruneRecent drops final orders whose listing time is over, when one is
// due. Callers hold mu.
func (a *account) pruneRecent(now time.Time) {
	if a.pruneAt.IsZero() || now.Before(a.pruneAt) {
		return
	}
	a.pruneAt = time.Time{}
	a.recent = slices.DeleteFunc(a.recent, func(o *OrderRecord) bool {
		if !o.Status.Final() {
			return false
		}
		if !now.Before(o.ListUntil) {
			return true
		}
		if a.pruneAt.IsZero() || o.ListUntil.Before(a.pruneAt) {
			a.pruneAt = o.ListUntil
		}
		return false
	})
}

// trimFinals forgets the oldest final orders beyond maxKeep (with a
// quarter of slack, so it runs rarely) and returns their ids. Callers hold mu.
func (a *account) trimFinals(maxKeep int) []string {
	if len(a.finals) <= maxKeep+maxKeep/4 {
		return nil
	}
	n := len(a.finals) - maxKeep
	ids := make([]string, 0, n)
	for _, o := range a.finals[:n] {
		ids = append(ids, o.ID)
		delete(a.orders, o.ID)
		if a.requests[o.RequestID] == o {
			delete(a.requests, o.RequestID)
		}
	}
	a.finals = slices.Clone(a.finals[n:])
	return ids
}

// signal wakes waiters on changed. Callers hold mu.
func (a *account) signal() {
	close(a.changed)
	a.changed = make(chan struct{})
}
