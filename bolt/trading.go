package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	bbolt "go.etcd.io/bbolt"

	"tvbridge/trading"
)

// TradingStore keeps the trading state (accounts, orders, positions,
// executions) in its own bbolt file, apart from the bars: the two have
// different write patterns, and either can be moved or restored alone.
//
// Layout:
//
//	tmeta                   schema -> "1", seq -> 8-byte big-endian id sequence
//	taccounts               account id -> JSON AccountRecord
//	torders/<account>       8-byte big-endian order Seq -> JSON OrderRecord
//	tpositions/<account>    FIGI -> JSON PositionRecord
//	texecutions/<account>   8-byte big-endian execution Seq -> JSON ExecutionRecord
//
// Records are JSON: they are small, written once per change, and read only
// at start, so a readable, evolvable encoding costs nothing that matters.
// Keys by Seq make a bucket's order the creation order.
//
// Every Commit is one bbolt transaction, fsynced on commit (unless NoSync):
// when it returns nil the change survives kill -9, and when it fails none
// of it was written.
type TradingStore struct {
	db  *bbolt.DB
	log *slog.Logger
}

var _ trading.Store = (*TradingStore)(nil)

const tradingSchemaVersion = "1"

var (
	bucketTMeta       = []byte("tmeta")
	bucketTAccounts   = []byte("taccounts")
	bucketTOrders     = []byte("torders")
	bucketTPositions  = []byte("tpositions")
	bucketTExecutions = []byte("texecutions")
	keySeq            = []byte("seq")
)

// tradingSchema is the trading store's layout.
var tradingSchema = Schema{Meta: bucketTMeta, Version: tradingSchemaVersion,
	Buckets: [][]byte{bucketTAccounts, bucketTOrders, bucketTPositions, bucketTExecutions}}

// OpenTrading opens or creates the trading store at path (conventionally
// trading.db in the data dir), creating missing directories.
func OpenTrading(path string, opts Options) (*TradingStore, error) {
	db, log, err := OpenFile(path, opts, "trading store", "a crash may lose acknowledged orders", tradingSchema)
	if err != nil {
		return nil, err
	}
	return &TradingStore{db: db, log: log}, nil
}

// Close releases the file.
func (s *TradingStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close trading store: %w", err)
	}
	return nil
}

// Commit writes c in one transaction.
func (s *TradingStore) Commit(ctx context.Context, c trading.Change) error {
	if err := validateChange(c); err != nil {
		return fmt.Errorf("bolt: trading commit: %w", err)
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if err := putSeq(tx, c.Seq); err != nil {
			return err
		}
		for _, a := range c.Accounts {
			if err := putJSON(tx.Bucket(bucketTAccounts), []byte(a.ID), a); err != nil {
				return fmt.Errorf("account %s: %w", a.ID, err)
			}
		}
		for _, o := range c.Orders {
			if err := putIn(tx, bucketTOrders, o.AccountID, seqKey(o.Seq), o); err != nil {
				return fmt.Errorf("order %s: %w", o.ID, err)
			}
		}
		for _, p := range c.Positions {
			if err := putIn(tx, bucketTPositions, p.AccountID, []byte(p.FIGI), p); err != nil {
				return fmt.Errorf("position %s: %w", p.ID, err)
			}
		}
		for _, e := range c.Executions {
			if err := putIn(tx, bucketTExecutions, e.AccountID, seqKey(e.Seq), e); err != nil {
				return fmt.Errorf("execution %s: %w", e.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: trading commit: %w", err)
	}
	return nil
}

// validateChange refuses records the layout cannot key.
func validateChange(c trading.Change) error {
	for _, a := range c.Accounts {
		if a.ID == "" {
			return fmt.Errorf("%w: account without an id", ErrInvalid)
		}
	}
	for _, o := range c.Orders {
		if o.AccountID == "" || o.Seq == 0 {
			return fmt.Errorf("%w: order %q without an account or sequence", ErrInvalid, o.ID)
		}
	}
	for _, p := range c.Positions {
		if p.AccountID == "" || p.FIGI == "" {
			return fmt.Errorf("%w: position %q without an account or instrument", ErrInvalid, p.ID)
		}
	}
	for _, e := range c.Executions {
		if e.AccountID == "" || e.Seq == 0 {
			return fmt.Errorf("%w: execution %q without an account or sequence", ErrInvalid, e.ID)
		}
	}
	return nil
}

// putSeq raises the stored id sequence to seq; concurrent commits may
// arrive with lower ones, which must not lower it.
func putSeq(tx *bbolt.Tx, seq uint64) error {
	meta := tx.Bucket(bucketTMeta)
	if v := meta.Get(keySeq); len(v) == 8 && binary.BigEndian.Uint64(v) >= seq {
		return nil
	}
	if err := meta.Put(keySeq, seqKey(seq)); err != nil {
		return fmt.Errorf("write id sequence: %w", err)
	}
	return nil
}

// putIn stores v under key in the account's sub-bucket of the top bucket.
func putIn(tx *bbolt.Tx, top []byte, account string, key []byte, v any) error {
	b, err := tx.Bucket(top).CreateBucketIfNotExists([]byte(account))
	if err != nil {
		return fmt.Errorf("create bucket for account %s: %w", account, err)
	}
	return putJSON(b, key, v)
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return b.Put(key, data)
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// Load reads everything.
func (s *TradingStore) Load(ctx context.Context) (trading.Snapshot, error) {
	var snap trading.Snapshot
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketTMeta).Get(keySeq); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("%w: id sequence has %d bytes", ErrCorrupt, len(v))
			}
			snap.Seq = binary.BigEndian.Uint64(v)
		}
		err := tx.Bucket(bucketTAccounts).ForEach(func(k, v []byte) error {
			return decodeInto(&snap.Accounts, "account", k, v)
		})
		if err != nil {
			return err
		}
		if err := forEachInAccounts(tx, bucketTOrders, func(k, v []byte) error {
			return decodeInto(&snap.Orders, "order", k, v)
		}); err != nil {
			return err
		}
		if err := forEachInAccounts(tx, bucketTPositions, func(k, v []byte) error {
			return decodeInto(&snap.Positions, "position", k, v)
		}); err != nil {
			return err
		}
		return forEachInAccounts(tx, bucketTExecutions, func(k, v []byte) error {
			return decodeInto(&snap.Executions, "execution", k, v)
		})
	})
	if err != nil {
		return trading.Snapshot{}, fmt.Errorf("bolt: load trading state: %w", err)
	}
	return snap, nil
}

// forEachInAccounts calls fn for every record in every account bucket
// under top.
func forEachInAccounts(tx *bbolt.Tx, top []byte, fn func(k, v []byte) error) error {
	return tx.Bucket(top).ForEachBucket(func(account []byte) error {
		return tx.Bucket(top).Bucket(account).ForEach(fn)
	})
}

// decodeInto decodes one JSON record and appends it to *out.
func decodeInto[T any](out *[]T, what string, k, v []byte) error {
	var rec T
	if err := json.Unmarshal(v, &rec); err != nil {
		return fmt.Errorf("%w: %s %x: %v", ErrCorrupt, what, k, err)
	}
	*out = append(*out, rec)
	return nil
}

// update runs fn in one write transaction, unless ctx is done.
func (s *TradingStore) update(ctx context.Context, fn func(*bbolt.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.recoverPanic(&err)
	return s.db.Update(fn)
}

// view runs fn in a read transaction, unless ctx is done.
func (s *TradingStore) view(ctx context.Context, fn func(*bbolt.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.recoverPanic(&err)
	return s.db.View(fn)
}

// recoverPanic turns a bbolt panic on a damaged page into an error, as the
// bar store does: a damaged file must fail a request, not the process.
func (s *TradingStore) recoverPanic(err *error) {
	if p := recover(); p != nil {
		s.log.Error("trading store transaction panicked", "panic", p, "stack", string(debug.Stack()))
		*err = errors.Join(*err, fmt.Errorf("%w: transaction panicked (damaged file or bug): %v", ErrCorrupt, p))
	}
}
