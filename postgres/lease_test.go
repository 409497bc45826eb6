package postgres

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
)

func TestLeaseTwoHolders(t *testing.T) {
	db, url := openTestDB(t)
	a, b := db.Leases(), openURL(t, url).Leases() // two nodes
	const ttl = time.Minute

	if h, e, _, err := a.Holder(ctx, "ingester"); err != nil || h != "" || e != 0 {
		t.Fatalf("Holder of a lease never taken = %q, %d, %v", h, e, err)
	}
	ea, ok, err := a.Acquire(ctx, "ingester", "node-a", ttl)
	if err != nil || !ok || ea != 1 {
		t.Fatalf("first Acquire = %d, %v, %v; want epoch 1", ea, ok, err)
	}
	if e, ok, err := b.Acquire(ctx, "ingester", "node-b", ttl); err != nil || ok {
		t.Fatalf("Acquire of a held lease = %d, %v, %v; want not ok", e, ok, err)
	}
	// The holder acquiring again, or renewing, keeps its epoch.
	if e, ok, err := a.Acquire(ctx, "ingester", "node-a", ttl); err != nil || !ok || e != ea {
		t.Fatalf("re-Acquire by the holder = %d, %v, %v; want epoch %d", e, ok, err, ea)
	}
	if err := a.Renew(ctx, "ingester", "node-a", ea, ttl); err != nil {
		t.Fatal(err)
	}
	if err := b.Renew(ctx, "ingester", "node-b", ea, ttl); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Renew by a non-holder = %v, want ErrLeaseLost", err)
	}
	h, e, exp, err := b.Holder(ctx, "ingester")
	if err != nil || h != "node-a" || e != ea || time.Until(exp) < ttl/2 || exp.Location() != time.UTC {
		t.Fatalf("Holder = %q, %d, %v, %v", h, e, exp, err)
	}
	// Leases are independent by name.
	if e, ok, err := b.Acquire(ctx, "account:A1", "node-b", ttl); err != nil || !ok || e != 1 {
		t.Fatalf("another lease = %d, %v, %v", e, ok, err)
	}
	// Release hands over at once, with a higher epoch.
	if err := a.Release(ctx, "ingester", "node-a", ea); err != nil {
		t.Fatal(err)
	}
	eb, ok, err := b.Acquire(ctx, "ingester", "node-b", ttl)
	if err != nil || !ok || eb != ea+1 {
		t.Fatalf("Acquire after Release = %d, %v, %v; want epoch %d", eb, ok, err, ea+1)
	}
	if err := a.Renew(ctx, "ingester", "node-a", ea, ttl); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Renew by the old holder = %v, want ErrLeaseLost", err)
	}
	// A stale Release does nothing.
	if err := a.Release(ctx, "ingester", "node-a", ea); err != nil {
		t.Fatal(err)
	}
	if h, _, _, _ := a.Holder(ctx, "ingester"); h != "node-b" {
		t.Fatalf("holder %q after a stale release, want node-b", h)
	}
	if _, _, err := a.Acquire(ctx, "", "x", ttl); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
}

func TestLeaseExpiryTakeover(t *testing.T) {
	db, _ := openTestDB(t)
	l := db.Leases()
	const ttl = 150 * time.Millisecond
	ea, ok, err := l.Acquire(ctx, "ingester", "node-a", ttl)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, ok, _ := l.Acquire(ctx, "ingester", "node-b", ttl); ok {
		t.Fatal("took an unexpired lease")
	}
	time.Sleep(ttl + 50*time.Millisecond)
	// Expired: the holder cannot renew it, and another node takes it.
	if err := l.Renew(ctx, "ingester", "node-a", ea, ttl); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Renew after expiry = %v, want ErrLeaseLost", err)
	}
	eb, ok, err := l.Acquire(ctx, "ingester", "node-b", time.Minute)
	if err != nil || !ok || eb != ea+1 {
		t.Fatalf("takeover = %d, %v, %v; want epoch %d", eb, ok, err, ea+1)
	}
	// The old holder coming back gets nothing.
	if _, ok, _ := l.Acquire(ctx, "ingester", "node-a", ttl); ok {
		t.Fatal("the old holder took the lease back")
	}
	// An expired lease re-acquired by its own holder gets a new epoch too:
	// its writes at the old one must fail, they ran past expiry.
	if err := l.Release(ctx, "ingester", "node-b", eb); err != nil {
		t.Fatal(err)
	}
	if e, ok, err := l.Acquire(ctx, "ingester", "node-b", time.Minute); err != nil || !ok || e != eb+1 {
		t.Fatalf("re-acquire after release = %d, %v, %v; want %d", e, ok, err, eb+1)
	}
}

// TestFencedWriteRefusedAfterTakeover: a paused old leader that wakes up
// after another node took the lease cannot write bars, and writes nothing.
func TestFencedWriteRefusedAfterTakeover(t *testing.T) {
	db, url := openTestDB(t)
	other := openURL(t, url)
	const ttl = 200 * time.Millisecond
	ea, ok, err := db.Leases().Acquire(ctx, "ingester", "node-a", ttl)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	oldLeader := db.Bars(&Fence{Name: "ingester", Epoch: ea})
	if _, err := oldLeader.PutMinutes(ctx, "F", minutes(t10, 1, 0), nil); err != nil {
		t.Fatalf("write while holding the lease: %v", err)
	}
	if err := db.Leases().Check(ctx, Fence{"ingester", ea}); err != nil {
		t.Fatal(err)
	}

	time.Sleep(ttl + 50*time.Millisecond) // the old leader "pauses" past its lease
	// Expired, not yet taken: already refused.
	if _, err := oldLeader.PutMinutes(ctx, "F", minutes(t10.Add(time.Minute), 1, 1), nil); !errors.Is(err, ErrFenced) {
		t.Fatalf("write after expiry = %v, want ErrFenced", err)
	}
	eb, ok, err := other.Leases().Acquire(ctx, "ingester", "node-b", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	newLeader := other.Bars(&Fence{Name: "ingester", Epoch: eb})
	writes := map[string]func(s *BarStore) error{
		"PutMinutes": func(s *BarStore) error {
			_, err := s.PutMinutes(ctx, "F", minutes(t10.Add(2*time.Minute), 1, 2), []tvbridge.Range{{From: t10, To: t10.Add(3 * time.Minute)}})
			return err
		},
		"PutDaily":       func(s *BarStore) error { _, err := s.PutDaily(ctx, "F", []tvbridge.Bar{bar(day0, 1)}); return err },
		"SetFirstBar":    func(s *BarStore) error { return s.SetFirstBar(ctx, "F", day0) },
		"PutCatalogue":   func(s *BarStore) error { return s.PutCatalogue(ctx, nil, t10) },
		"PutSymbolNames": func(s *BarStore) error { return s.PutSymbolNames(ctx, map[string]string{"F": "X"}) },
		"ReplaceMinutes": func(s *BarStore) error {
			_, _, err := s.ReplaceMinutes(ctx, "G", nil, []tvbridge.Range{{From: t10, To: t10.Add(time.Minute)}})
			return err
		},
		"PutFetched": func(s *BarStore) error {
			_, err := s.PutFetched(ctx, "G", nil, tvbridge.Range{From: t10, To: t10.Add(time.Minute)})
			return err
		},
	}
	for name, w := range writes {
		if err := w(oldLeader); !errors.Is(err, ErrFenced) {
			t.Errorf("%s by the old leader = %v, want ErrFenced", name, err)
		}
	}
	if got := mustMinutes(t, newLeader, "F", day0, day0.AddDate(0, 0, 1)); len(got) != 1 {
		t.Fatalf("the old leader's refused writes stored bars: %v", got)
	}
	if cov, _ := newLeader.Covered(ctx, "F", day0, day0.AddDate(0, 0, 1)); len(cov) != 0 {
		t.Fatalf("the old leader's refused writes stored coverage: %v", cov)
	}
	for name, w := range writes {
		if err := w(newLeader); err != nil {
			t.Errorf("%s by the new leader: %v", name, err)
		}
	}
	if err := other.Leases().Check(ctx, Fence{"ingester", ea}); !errors.Is(err, ErrFenced) {
		t.Fatalf("Check of the old epoch = %v", err)
	}
	// A fence on a lease that was never taken refuses too.
	if _, err := db.Bars(&Fence{Name: "nobody", Epoch: 1}).PutMinutes(ctx, "H", minutes(t10, 1, 0), nil); !errors.Is(err, ErrFenced) {
		t.Fatalf("write fenced by a lease never taken = %v", err)
	}
}

// TestFencedWriteOrdersWithTakeover: a takeover waits for a fenced write in
// progress (its share lock on the lease row), so the write commits before
// the next epoch begins, never after.
func TestFencedWriteOrdersWithTakeover(t *testing.T) {
	db, url := openTestDB(t)
	ea, _, err := db.Leases().Acquire(ctx, "ingester", "node-a", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, `SELECT tvbridge_check_fence($1, $2)`, "ingester", ea); err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond) // expired while the write is in progress
	got := make(chan error, 1)
	go func() {
		_, ok, err := openURL(t, url).Leases().Acquire(ctx, "ingester", "node-b", time.Minute)
		if err == nil && !ok {
			err = errors.New("not acquired")
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("takeover did not wait for the fenced transaction: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tvbridge_symbol_names VALUES ('F', 'X')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("takeover after the write: %v", err)
	}
}

// TestLeaseConcurrentAcquire: of 10 nodes racing for a free lease exactly
// one wins, round after round.
func TestLeaseConcurrentAcquire(t *testing.T) {
	db, _ := openTestDB(t)
	l := db.Leases()
	for round := range 3 {
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 10 {
			wg.Go(func() {
				<-start
				holder := "node-" + string(rune('a'+i))
				_, ok, err := l.Acquire(ctx, "ingester", holder, 10*time.Second)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
					winner.Store(holder)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, wins.Load())
		}
		h, e, _, err := l.Holder(ctx, "ingester")
		if err != nil || h != winner.Load() || e != int64(round+1) {
			t.Fatalf("round %d: holder %q epoch %d (%v); want %v at %d", round, h, e, err, winner.Load(), round+1)
		}
		if err := l.Release(ctx, "ingester", h, e); err != nil { // free it for the next round
			t.Fatal(err)
		}
	}
}
