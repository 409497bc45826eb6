package bolt

import (
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
	"tvbridge/trading"
)

func openTradingT(t *testing.T, path string) *TradingStore {
	t.Helper()
	s, err := OpenTrading(path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("OpenTrading: %v", err)
	}
	return s
}

var tradeTime = time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC)

func sampleChange() trading.Change {
	acct := trading.AccountRecord{
		Account:      tvbridge.Account{ID: "A1", Owner: "alice", Name: "Paper", Type: tvbridge.DemoAccount, Currency: "RUB"},
		VenueAccount: "V-alice",
		Balances: []trading.CashRecord{{Currency: "RUB", Deposit: 1e6, RealizedPL: 12.5, Commissions: 0.75},
			{Currency: "USD", Deposit: 1e4, RealizedPL: -3.25, Commissions: 0.5}},
	}
	order := trading.OrderRecord{
		Order: tvbridge.Order{ID: "2", AccountID: "A1", RequestID: "r1", FIGI: "F", Side: tvbridge.Buy,
			Type: tvbridge.LimitOrder, Status: tvbridge.OrderWorking, Qty: 30, FilledQty: 10, AvgPrice: 99.5,
			LimitPrice: 99.5, Duration: tvbridge.OrderDuration{Type: tvbridge.DurationDay},
			Brackets: tvbridge.Brackets{StopLoss: 98}, Created: tradeTime, Updated: tradeTime.Add(time.Second)},
		Seq: 2, StopLossID: "3", Gen: 1, VenueRef: "R-2", VenueLive: true, VenueType: tvbridge.LimitOrder,
		VenueQty: 30, VenueLimit: 99.5, ExpiresAt: tradeTime.Add(6 * time.Hour), ExecIDs: []string{"E1"},
		Request: &tvbridge.OrderRequest{RequestID: "r1", FIGI: "F", Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: 30,
			LimitPrice: 99.5, Duration: tvbridge.OrderDuration{Type: tvbridge.DurationDay}, Brackets: tvbridge.Brackets{StopLoss: 98}},
	}
	pos := trading.PositionRecord{ID: "P4", AccountID: "A1", FIGI: "F", Currency: "RUB", Qty: 10, AvgPrice: 99.5, StopLossID: "3"}
	exec := trading.ExecutionRecord{Execution: tvbridge.Execution{ID: "E1", AccountID: "A1", OrderID: "2",
		PositionID: "P4", FIGI: "F", Side: tvbridge.Buy, Qty: 10, Price: 99.5, Commission: 0.75, Time: tradeTime}, Seq: 5}
	return trading.Change{Seq: 5, Accounts: []trading.AccountRecord{acct}, Orders: []trading.OrderRecord{order},
		Positions: []trading.PositionRecord{pos}, Executions: []trading.ExecutionRecord{exec}}
}

// TestTradingStoreRoundTrip: what was committed loads back identically,
// after a reopen, and later versions of a record replace earlier ones.
func TestTradingStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trading.db")
	s := openTradingT(t, path)
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
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTradingT(t, path)
	defer s.Close()
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := trading.Snapshot{Seq: 6, Accounts: c.Accounts, Orders: []trading.OrderRecord{filled},
		Positions: c.Positions, Executions: c.Executions}
	if !reflect.DeepEqual(snap, want) {
		t.Errorf("loaded\n%+v\nwant\n%+v", snap, want)
	}
}

// TestTradingStoreSeqNeverGoesBack: commits racing each other may arrive
// with older sequences; the stored one is the maximum.
func TestTradingStoreSeqNeverGoesBack(t *testing.T) {
	s := openTradingT(t, filepath.Join(t.TempDir(), "trading.db"))
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			acct := trading.AccountRecord{Account: tvbridge.Account{ID: "A" + string(rune('a'+i))}}
			if err := s.Commit(ctx, trading.Change{Seq: uint64(100 - i), Accounts: []trading.AccountRecord{acct}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Commit(ctx, trading.Change{Seq: 3}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(ctx)
	if err != nil || snap.Seq != 100 || len(snap.Accounts) != 20 {
		t.Errorf("seq %d, %d accounts, %v; want 100 and 20", snap.Seq, len(snap.Accounts), err)
	}
}

// TestTradingStoreRefusesUnkeyable: a record the layout cannot key fails
// the whole commit and writes nothing.
func TestTradingStoreRefusesUnkeyable(t *testing.T) {
	s := openTradingT(t, filepath.Join(t.TempDir(), "trading.db"))
	defer s.Close()
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
		if err := s.Commit(ctx, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Commit = %v, want ErrInvalid", name, err)
		}
	}
	snap, err := s.Load(ctx)
	if err != nil || snap.Seq != 0 || len(snap.Accounts)+len(snap.Orders)+len(snap.Positions)+len(snap.Executions) != 0 {
		t.Errorf("refused commits left %+v (%v)", snap, err)
	}
}

// TestTradingStoreCorruptRecord: a damaged record makes Load fail loudly
// rather than start with a silently different state.
func TestTradingStoreCorruptRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trading.db")
	s := openTradingT(t, path)
	if err := s.Commit(ctx, sampleChange()); err != nil {
		t.Fatal(err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTOrders).Bucket([]byte("A1")).Put(seqKey(2), []byte(`{"ID":`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load = %v, want ErrCorrupt", err)
	}
	s.Close()
}

// TestTradingStoreSchema refuses a file from another layout version.
func TestTradingStoreSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trading.db")
	s := openTradingT(t, path)
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTMeta).Put(keySchema, []byte("99"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := OpenTrading(path, Options{Logger: quietLogger()}); err == nil {
		s.Close()
		t.Fatal("opened a file with schema 99")
	}
}

// BenchmarkTradingCommit measures one fill-sized commit (order, position,
// account, execution), fsync included.
func BenchmarkTradingCommit(b *testing.B) {
	s, err := OpenTrading(filepath.Join(b.TempDir(), "trading.db"), Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := sampleChange()
	for i := 0; b.Loop(); i++ {
		c.Seq = uint64(i + 10)
		c.Executions[0].Seq = c.Seq
		if err := s.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
