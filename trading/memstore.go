package trading

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemoryStore is a Store in memory: fast, and gone with the process. It is
// for tests, and for running without durability on purpose. Records are
// copied in and out, so callers never share memory with it.
type MemoryStore struct {
	mu         sync.Mutex
	seq        uint64
	accounts   map[string]AccountRecord
	orders     map[[2]string]OrderRecord
	positions  map[[2]string]PositionRecord
	executions map[execKey]ExecutionRecord
	fail       error
	mark       uint64
	hasMark    bool
}

type execKey struct {
	account string
	seq     uint64
}

var (
	_ Store     = (*MemoryStore)(nil)
	_ TapeMarks = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		accounts:   map[string]AccountRecord{},
		orders:     map[[2]string]OrderRecord{},
		positions:  map[[2]string]PositionRecord{},
		executions: map[execKey]ExecutionRecord{},
	}
}

// FailCommits makes every later Commit fail with err (nil restores normal
// operation), to test how callers handle a failing disk.
func (s *MemoryStore) FailCommits(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Load returns a copy of everything, orders and executions sorted by Seq.
func (s *MemoryStore) Load(ctx context.Context) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Seq: s.seq}
	for _, a := range s.accounts {
		snap.Accounts = append(snap.Accounts, a)
	}
	for _, o := range s.orders {
		snap.Orders = append(snap.Orders, o.Clone())
	}
	for _, p := range s.positions {
		snap.Positions = append(snap.Positions, p)
	}
	for _, e := range s.executions {
		snap.Executions = append(snap.Executions, e)
	}
	slices.SortFunc(snap.Accounts, func(a, b AccountRecord) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Orders, func(a, b OrderRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	slices.SortFunc(snap.Positions, func(a, b PositionRecord) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Executions, func(a, b ExecutionRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	return snap, nil
}

// Commit applies c atomically.
func (s *MemoryStore) Commit(ctx context.Context, c Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return fmt.Errorf("memory store: %w", s.fail)
	}
	s.seq = max(s.seq, c.Seq)
	for _, a := range c.Accounts {
		s.accounts[a.ID] = a
	}
	for _, o := range c.Orders {
		s.orders[[2]string{o.AccountID, o.ID}] = o.Clone()
	}
	for _, p := range c.Positions {
		s.positions[[2]string{p.AccountID, p.FIGI}] = p
	}
	for _, e := range c.Executions {
		s.executions[execKey{e.AccountID, e.Seq}] = e
	}
	return nil
}

// TapeMark returns the saved tape mark.
func (s *MemoryStore) TapeMark(ctx context.Context) (uint64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mark, s.hasMark, nil
}

// SaveTapeMark saves the tape mark; it fails like Commit after FailCommits.
func (s *MemoryStore) SaveTapeMark(ctx context.Context, pos uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.mark, s.hasMark = pos, true
	return nil
}
