package postgres

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/bolt"
	"tvbridge/trading"
)

// tradingImpl is one trading.Store implementation under test.
type tradingImpl struct {
	name    string
	invalid error
	// open returns an empty store and a function that reopens it.
	open func(t *testing.T) (trading.Store, func() trading.Store)
}

var tradingImpls = []tradingImpl{
	{
		name:    "bolt",
		invalid: bolt.ErrInvalid,
		open: func(t *testing.T) (trading.Store, func() trading.Store) {
			path := filepath.Join(t.TempDir(), "trading.db")
			s, err := bolt.OpenTrading(path, bolt.Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			cur := s
			t.Cleanup(func() { _ = cur.Close() })
			return s, func() trading.Store {
				if err := cur.Close(); err != nil {
					t.Fatal(err)
				}
				if cur, err = bolt.OpenTrading(path, bolt.Options{Logger: quietLogger()}); err != nil {
					t.Fatal(err)
				}
				return cur
			}
		},
	},
	{
		name:    "postgres",
		invalid: ErrInvalid,
		open: func(t *testing.T) (trading.Store, func() trading.Store) {
			db, url := openTestDB(t)
			return db.Trading(nil), func() trading.Store { return openURL(t, url).Trading(nil) }
		},
	},
}

func bothTrading(t *testing.T, fn func(t *testing.T, im tradingImpl)) {
	for _, im := range tradingImpls {
		t.Run(im.name, func(t *testing.T) { fn(t, im) })
	}
}

var tradeTime = time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC)

// sampleChange is bolt's, with a second account and values JSON must keep
// exactly: a negative zero, a NUL in a string, 0.1+0.2, nanoseconds.
func sampleChange() trading.Change {
	acct := trading.AccountRecord{
		Account:      tvbridge.Account{ID: "A1", Owner: "alice", Name: "Paper", Type: tvbridge.DemoAccount, Currency: "RUB"},
		VenueAccount: "V-alice",
		Balances: []trading.CashRecord{{Currency: "RUB", Deposit: 1e6, RealizedPL: 12.5, Commissions: 0.75},
			{Currency: "USD", Deposit: 1e4, RealizedPL: -3.25, Commissions: 0.1 + 0.2}},
	}
	order := trading.OrderRecord{
		Order: tvbridge.Order{ID: "2", AccountID: "A1", RequestID: "r1\x00", FIGI: "F", Side: tvbridge.Buy,
			Type: tvbridge.LimitOrder, Status: tvbridge.OrderWorking, Qty: 30, FilledQty: 10, AvgPrice: 99.5,
			LimitPrice: 99.5, Duration: tvbridge.OrderDuration{Type: tvbridge.DurationDay},
			Brackets: tvbridge.Brackets{StopLoss: 98}, Created: tradeTime, Updated: tradeTime.Add(time.Second + 7)},
		Seq: 2, StopLossID: "3", Gen: 1, VenueRef: "R-2", VenueLive: true, VenueType: tvbridge.LimitOrder,
		VenueQty: 30, VenueLimit: 99.5, ExpiresAt: tradeTime.Add(6*time.Hour + 123), ExecIDs: []string{"E1"},
		Request: &tvbridge.OrderRequest{RequestID: "r1\x00", FIGI: "F", Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: 30,
			LimitPrice: 99.5, Duration: tvbridge.OrderDuration{Type: tvbridge.DurationDay}, Brackets: tvbridge.Brackets{StopLoss: 98}},
	}
	pos := trading.PositionRecord{ID: "P4", AccountID: "A1", FIGI: "F", Currency: "RUB", Qty: 10, AvgPrice: 99.5, StopLossID: "3"}
	flat := trading.PositionRecord{ID: "P5", AccountID: "A1", FIGI: "G", Currency: "RUB", Qty: math.Copysign(0, -1), AvgPrice: 0}
	exec := trading.ExecutionRecord{Execution: tvbridge.Execution{ID: "E1", AccountID: "A1", OrderID: "2",
		PositionID: "P4", FIGI: "F", Side: tvbridge.Buy, Qty: 10, Price: 99.5, Commission: 0.75, Time: tradeTime}, Seq: 5}
	return trading.Change{Seq: 5, Accounts: []trading.AccountRecord{acct}, Orders: []trading.OrderRecord{order},
		Positions: []trading.PositionRecord{pos, flat}, Executions: []trading.ExecutionRecord{exec}}
}

// TestTradingStoreRoundTrip: what was committed loads back identically
// (bit for bit, compared through encoding/json), after a reopen, and later
// versions of a record replace earlier ones.
func TestTradingStoreRoundTrip(t *testing.T) {
	bothTrading(t, func(t *testing.T, im tradingImpl) {
		s, reopen := im.open(t)
		c := sampleChange()
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
		filled := c.Orders[0].Clone()
		filled.Status, filled.FilledQty, filled.VenueLive = tvbridge.OrderFilled, 30, false
		filled.ExecIDs = append(filled.ExecIDs, "E2")
		if err := s.Commit(ctx, trading.Change{Seq: 6, Orders: []trading.OrderRecord{filled}}); err != nil {
			t.Fatal(err)
		}
		s = reopen()
		snap, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := trading.Snapshot{Seq: 6, Accounts: c.Accounts, Orders: []trading.OrderRecord{filled},
			Positions: c.Positions, Executions: c.Executions}
		if !reflect.DeepEqual(snap, want) {
			t.Errorf("loaded\n%+v\nwant\n%+v", snap, want)
		}
		if got := snap.Positions[1].Qty; !math.Signbit(got) {
			t.Errorf("negative zero came back as %v", got)
		}
	})
}

// TestTradingStoreOrder: Load lists records in bolt's order: accounts by
// id, then orders by Seq, positions by FIGI and executions by Seq.
func TestTradingStoreOrder(t *testing.T) {
	bothTrading(t, func(t *testing.T, im tradingImpl) {
		s, _ := im.open(t)
		var c trading.Change
		for _, acct := range []string{"b", "a", "B"} {
			c.Accounts = append(c.Accounts, trading.AccountRecord{Account: tvbridge.Account{ID: acct}})
			for _, seq := range []uint64{10, 2, 33} {
				c.Orders = append(c.Orders, trading.OrderRecord{Order: tvbridge.Order{ID: fmt.Sprint("o", seq), AccountID: acct}, Seq: seq})
				c.Executions = append(c.Executions, trading.ExecutionRecord{Execution: tvbridge.Execution{AccountID: acct}, Seq: seq})
			}
			for _, figi := range []string{"Z", "a", "B"} {
				c.Positions = append(c.Positions, trading.PositionRecord{AccountID: acct, FIGI: figi})
			}
		}
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range snap.Accounts {
			got = append(got, a.ID)
		}
		for _, o := range snap.Orders {
			got = append(got, o.AccountID+o.ID)
		}
		for _, p := range snap.Positions {
			got = append(got, p.AccountID+p.FIGI)
		}
		for _, e := range snap.Executions {
			got = append(got, fmt.Sprint(e.AccountID, e.Seq))
		}
		want := []string{"B", "a", "b",
			"Bo2", "Bo10", "Bo33", "ao2", "ao10", "ao33", "bo2", "bo10", "bo33",
			"BB", "BZ", "Ba", "aB", "aZ", "aa", "bB", "bZ", "ba",
			"B2", "B10", "B33", "a2", "a10", "a33", "b2", "b10", "b33"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("order\n%v\nwant\n%v", got, want)
		}
	})
}

// TestTradingStoreSeqNeverGoesBack: commits racing each other, for
// different accounts, may arrive with older sequences; the stored one is
// the maximum, and every account is there.
func TestTradingStoreSeqNeverGoesBack(t *testing.T) {
	bothTrading(t, func(t *testing.T, im tradingImpl) {
		s, _ := im.open(t)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				acct := trading.AccountRecord{Account: tvbridge.Account{ID: "A" + string(rune('a'+i))}}
				exec := trading.ExecutionRecord{Execution: tvbridge.Execution{AccountID: acct.ID}, Seq: 1}
				if err := s.Commit(ctx, trading.Change{Seq: uint64(100 - i), Accounts: []trading.AccountRecord{acct},
					Executions: []trading.ExecutionRecord{exec}}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := s.Commit(ctx, trading.Change{Seq: 3}); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Load(ctx)
		if err != nil || snap.Seq != 100 || len(snap.Accounts) != 20 || len(snap.Executions) != 20 {
			t.Errorf("seq %d, %d accounts, %d executions, %v; want 100 and 20", snap.Seq, len(snap.Accounts), len(snap.Executions), err)
		}
	})
}

// TestTradingStoreRefusesUnkeyable: a record the layout cannot key fails
// the whole commit and writes nothing.
func TestTradingStoreRefusesUnkeyable(t *testing.T) {
	bothTrading(t, func(t *testing.T, im tradingImpl) {
		s, _ := im.open(t)
		for name, mutate := range map[string]func(*trading.Change){
			"account id":      func(c *trading.Change) { c.Accounts[0].ID = "" },
			"order account":   func(c *trading.Change) { c.Orders[0].AccountID = "" },
			"order seq":       func(c *trading.Change) { c.Orders[0].Seq = 0 },
			"position figi":   func(c *trading.Change) { c.Positions[0].FIGI = "" },
			"execution seq":   func(c *trading.Change) { c.Executions[0].Seq = 0 },
			"execution owner": func(c *trading.Change) { c.Executions[0].AccountID = "" },
		} {
			c := sampleChange()
			mutate(&c)
			if err := s.Commit(ctx, c); !errors.Is(err, im.invalid) {
				t.Errorf("%s: Commit = %v, want ErrInvalid", name, err)
			}
		}
		snap, err := s.Load(ctx)
		if err != nil || snap.Seq != 0 || len(snap.Accounts)+len(snap.Orders)+len(snap.Positions)+len(snap.Executions) != 0 {
			t.Errorf("refused commits left %+v (%v)", snap, err)
		}
	})
}

// TestTradingStoreFailedCommitLeavesNoTrace: a commit the database fails
// half-way (a trigger refuses the execution, written after the account,
// order and positions) writes none of it.
func TestTradingStoreFailedCommitLeavesNoTrace(t *testing.T) {
	db, _ := openTestDB(t)
	s := db.Trading(nil)
	if err := s.Commit(ctx, trading.Change{Seq: 1, Accounts: []trading.AccountRecord{{Account: tvbridge.Account{ID: "A0"}}}}); err != nil {
		t.Fatal(err)
	}
	_, err := db.pool.Exec(ctx, `
		CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused by test'; END $$;
		CREATE TRIGGER test_refuse BEFORE INSERT ON tvbridge_executions FOR EACH ROW EXECUTE FUNCTION test_refuse()`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.pool.Exec(ctx, `DROP TRIGGER test_refuse ON tvbridge_executions; DROP FUNCTION test_refuse()`)
	})
	if err := s.Commit(ctx, sampleChange()); err == nil {
		t.Fatal("commit succeeded despite the trigger")
	}
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Seq != 1 || len(snap.Accounts) != 1 || len(snap.Orders)+len(snap.Positions)+len(snap.Executions) != 0 {
		t.Fatalf("a failed commit left %+v", snap)
	}
}

// TestTradingStoreFencedCommit: after another node took the account's
// lease, the old one's commits are refused and write nothing.
func TestTradingStoreFencedCommit(t *testing.T) {
	db, url := openTestDB(t)
	ea, _, err := db.Leases().Acquire(ctx, "account:A1", "node-a", 150*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	old := db.Trading(&Fence{Name: "account:A1", Epoch: ea})
	if err := old.Commit(ctx, trading.Change{Seq: 1, Accounts: []trading.AccountRecord{{Account: tvbridge.Account{ID: "A1"}}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	other := openURL(t, url)
	eb, ok, err := other.Leases().Acquire(ctx, "account:A1", "node-b", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := old.Commit(ctx, sampleChange()); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit by the old holder = %v, want ErrFenced", err)
	}
	cur := other.Trading(&Fence{Name: "account:A1", Epoch: eb})
	snap, err := cur.Load(ctx)
	if err != nil || snap.Seq != 1 || len(snap.Orders) != 0 {
		t.Fatalf("after a refused commit: %+v, %v", snap, err)
	}
	if err := cur.Commit(ctx, sampleChange()); err != nil {
		t.Fatal(err)
	}
}

// TestTradingStoreCorruptRecord: a damaged record makes Load fail loudly
// rather than start with a silently different state.
func TestTradingStoreCorruptRecord(t *testing.T) {
	db, _ := openTestDB(t)
	s := db.Trading(nil)
	if err := s.Commit(ctx, sampleChange()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE tvbridge_orders SET record = '{"Seq": "two"}'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load = %v, want ErrCorrupt", err)
	}
}

// TestClaimRequestOnce: two nodes receiving the same retried requestId at
// the same moment get exactly one claim, and the loser learns the
// winner's order id; 50 times over.
func TestClaimRequestOnce(t *testing.T) {
	db, url := openTestDB(t)
	nodes := [2]*DB{db, openURL(t, url)} // separate pools, separate connections
	for round := range 50 {
		req := fmt.Sprint("req-", round)
		var wins atomic.Int32
		got := [2]string{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, n := range nodes {
			wg.Go(func() {
				<-start
				order := fmt.Sprint("order-", round, "-node-", i)
				existing, claimed, err := n.ClaimRequest(ctx, "A1", req, order)
				if err != nil {
					t.Error(err)
					return
				}
				if claimed {
					wins.Add(1)
					if existing != order {
						t.Errorf("claimed with existing %q, want %q", existing, order)
					}
				}
				got[i] = existing
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || got[0] != got[1] || got[0] == "" {
			t.Fatalf("round %d: %d claims, order ids %q", round, wins.Load(), got)
		}
	}
	// Another account may use the same request id.
	if _, claimed, err := db.ClaimRequest(ctx, "A2", "req-0", "x"); err != nil || !claimed {
		t.Fatalf("other account: %v %v", claimed, err)
	}
	if _, _, err := db.ClaimRequest(ctx, "A2", "", "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty request id: %v", err)
	}
}

// TestTradingStoreTapeMark: the trading owner's tape mark is absent at
// first, saved and read back (also after the trading state was committed),
// and refused once another node took the lease.
func TestTradingStoreTapeMark(t *testing.T) {
	db, _ := openTestDB(t)
	ea, _, err := db.Leases().Acquire(ctx, "trading", "node-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	old := db.Trading(&Fence{Name: "trading", Epoch: ea})
	if pos, ok, err := old.TapeMark(ctx); err != nil || ok {
		t.Fatalf("TapeMark of a new store = %d, %v, %v", pos, ok, err)
	}
	if err := old.Commit(ctx, sampleChange()); err != nil {
		t.Fatal(err)
	}
	const mark = 123<<24 | 7
	if err := old.SaveTapeMark(ctx, mark); err != nil {
		t.Fatal(err)
	}
	if err := old.Commit(ctx, trading.Change{Seq: 99}); err != nil { // commits keep the mark
		t.Fatal(err)
	}
	if pos, ok, err := old.TapeMark(ctx); err != nil || !ok || pos != mark {
		t.Fatalf("TapeMark = %d, %v, %v, want %d", pos, ok, err, mark)
	}
	if err := db.Leases().Release(ctx, "trading", "node-a", ea); err != nil {
		t.Fatal(err)
	}
	eb, ok, err := db.Leases().Acquire(ctx, "trading", "node-b", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := old.SaveTapeMark(ctx, mark+1); !errors.Is(err, ErrFenced) {
		t.Fatalf("SaveTapeMark by the old owner = %v, want ErrFenced", err)
	}
	cur := db.Trading(&Fence{Name: "trading", Epoch: eb})
	if pos, _, _ := cur.TapeMark(ctx); pos != mark {
		t.Fatalf("the old owner's refused save changed the mark to %d", pos)
	}
	if err := cur.SaveTapeMark(ctx, math.MaxInt64+1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a mark above 2^63-1: %v", err)
	}
}
