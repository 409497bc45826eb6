package trading

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"tvbridge"
)

// txn stages changes to one account. It is used under the account's write
// lock: records are copied on first touch and changed in the copies; commit
// writes the copies to the store and only then installs them in memory. A
// failed commit therefore leaves memory exactly as the store has it.
//
// Work that must follow a successful commit outside the lock (venue calls)
// is queued with later and run by finish.
type txn struct {
	m   *Manager
	a   *account
	now time.Time

	acct      *AccountRecord
	orders    map[string]*OrderRecord
	orderIDs  []string // staging order, so commits are deterministic
	created   map[string]bool
	positions map[string]*PositionRecord // by FIGI
	posFIGIs  []string
	execs     []ExecutionRecord
	after     []func()
	// tradePos is the log position of the trade this transaction
	// evaluates (cluster mode), for the TapeSeen of what it writes.
	tradePos uint64
}

// begin starts a transaction on a; the caller holds a.mu for writing.
func (m *Manager) begin(a *account) *txn {
	return &txn{
		m:         m,
		a:         a,
		now:       m.clk.Now(),
		orders:    map[string]*OrderRecord{},
		created:   map[string]bool{},
		positions: map[string]*PositionRecord{},
	}
}

// peek returns the current version of an order, staged or installed, for
// reading only; nil when unknown.
func (t *txn) peek(id string) *OrderRecord {
	if o := t.orders[id]; o != nil {
		return o
	}
	return t.a.orders[id]
}

// order returns a staged copy of an order to change; nil when unknown.
func (t *txn) order(id string) *OrderRecord {
	if o := t.orders[id]; o != nil {
		return o
	}
	cur := t.a.orders[id]
	if cur == nil {
		return nil
	}
	o := cur.Clone()
	t.orders[id] = &o
	t.orderIDs = append(t.orderIDs, id)
	return &o
}

// create stages a new order, giving it an id and a creation sequence.
func (t *txn) create(o OrderRecord) *OrderRecord {
	o.Seq = t.m.nextSeq()
	o.ID = strconv.FormatUint(o.Seq, 10)
	o.AccountID = t.a.id
	o.Created = t.now
	t.orders[o.ID] = &o
	t.orderIDs = append(t.orderIDs, o.ID)
	t.created[o.ID] = true
	return &o
}

// peekPosition returns the current position in figi for reading; nil when
// the account never held it.
func (t *txn) peekPosition(figi string) *PositionRecord {
	if p := t.positions[figi]; p != nil {
		return p
	}
	return t.a.positions[figi]
}

// position returns a staged copy of the position in figi, creating a flat
// one (with its permanent id) on first use.
func (t *txn) position(figi string) *PositionRecord {
	if p := t.positions[figi]; p != nil {
		return p
	}
	var p PositionRecord
	if cur := t.a.positions[figi]; cur != nil {
		p = *cur
	} else {
		p = PositionRecord{ID: "P" + strconv.FormatUint(t.m.nextSeq(), 10), AccountID: t.a.id, FIGI: figi,
			Currency: t.m.currencyOf(t.a, figi)}
	}
	t.positions[figi] = &p
	t.posFIGIs = append(t.posFIGIs, figi)
	return &p
}

// account returns a staged copy of the account record.
func (t *txn) account() *AccountRecord {
	if t.acct == nil {
		rec := t.a.rec
		rec.Balances = slices.Clone(rec.Balances)
		t.acct = &rec
	}
	return t.acct
}

// addExecution stages a new execution.
func (t *txn) addExecution(e tvbridge.Execution) {
	t.execs = append(t.execs, ExecutionRecord{Execution: e, Seq: t.m.nextSeq()})
}

// later queues f to run after a successful commit, outside the lock.
func (t *txn) later(f func()) { t.after = append(t.after, f) }

// setStatus moves o to status s with an optional message. It never moves
// an order out of a final status and reports whether it changed anything.
func (t *txn) setStatus(o *OrderRecord, s tvbridge.OrderStatus, kind, msg string) bool {
	if o.Status.Final() {
		if o.Status != s {
			t.m.log.Warn("refusing to move a final order", "order", o.ID, "from", o.Status, "to", s)
		}
		return false
	}
	o.Status = s
	if msg != "" {
		o.Message, o.MessageKind = msg, kind
	}
	if s.Final() {
		o.FinalSeq = t.m.nextSeq()
		o.Replacing = false
		o.ListUntil = t.m.listUntil(o.FIGI, t.now)
	}
	return true
}

// change builds the store change of everything staged.
func (t *txn) change() Change {
	c := Change{Seq: t.m.seq.Load(), Executions: t.execs}
	if t.acct != nil {
		c.Accounts = []AccountRecord{*t.acct}
	}
	var seen uint64
	if t.m.shared.tape != nil {
		seen = t.m.seenPos(t.tradePos)
	}
	for _, id := range t.orderIDs {
		o := t.orders[id]
		o.Updated = t.now
		o.TapeSeen = max(o.TapeSeen, seen)
		c.Orders = append(c.Orders, *o)
	}
	for _, figi := range t.posFIGIs {
		c.Positions = append(c.Positions, *t.positions[figi])
	}
	return c
}

// commit makes the staged changes durable, then visible. The caller still
// holds the lock; it calls finish after releasing it.
func (t *txn) commit(ctx context.Context) error {
	c := t.change()
	if c.Empty() {
		return nil
	}
	if err := t.m.cfg.Store.Commit(ctx, c); err != nil {
		t.after = nil // nothing happened, so nothing may follow
		return fmt.Errorf("trading: commit to account %s: %w", t.a.id, err)
	}
	t.install(c)
	return nil
}

// install puts committed records in memory and updates the indexes.
func (t *txn) install(c Change) {
	a, m := t.a, t.m
	if t.acct != nil {
		a.rec = *t.acct
	}
	var finals []*OrderRecord
	for _, o := range c.Orders {
		m.stats.installed(a.orders[o.ID], &o)
		if p := a.installOrder(o); p != nil {
			finals = append(finals, p)
		}
	}
	a.addFinals(finals)
	for _, p := range c.Positions {
		a.installPosition(p)
	}
	a.appendExecutions(c.Executions, m.cfg.MaxExecutions)
	a.pruneRecent(t.now)
	dropped := a.trimFinals(m.cfg.MaxHistory)
	m.indexOrders(a, c.Orders, dropped)
	a.version = m.versions.Add(1)
	a.signal()
	if f := m.cfg.OnChange; f != nil {
		id := a.id
		t.later(func() { f(id) })
	}
}

// finish runs the queued work; call it after releasing the lock.
func (t *txn) finish() {
	for _, f := range t.after {
		f()
	}
	t.after = nil
}
