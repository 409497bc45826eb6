package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"tvbridge/trading"
)

// TradingStore is a trading.Store on PostgreSQL: accounts, orders,
// positions and executions, one row each, keyed by (account) for accounts,
// (account, order id) for orders, (account, FIGI) for positions and
// (account, Seq) for executions, with the record as JSON in a json column.
//
// The JSON is what encoding/json gives, the bolt trading store's encoding,
// and json (unlike jsonb) keeps that text as it was: a record loads back
// exactly as committed, negative zeros and "\u0000" in strings included.
// Queries can still cast it (record::jsonb ->> 'Status').
//
// Every Commit is one transaction: when it returns nil the change is durable
// and visible to every node's next Load; when it fails none of it was
// written. With a non-nil Fence, Commit first checks the lease and fails
// with ErrFenced once another node took it.
type TradingStore struct {
	db    *DB
	fence *Fence
}

var _ trading.Store = (*TradingStore)(nil)

// Trading returns the trading store of db; fence nil means unfenced.
func (db *DB) Trading(fence *Fence) *TradingStore {
	if fence != nil {
		f := *fence
		fence = &f
	}
	return &TradingStore{db: db, fence: fence}
}

// validateChange refuses records the layout cannot key.
func validateChange(c trading.Change) error {
	big := func(n uint64) bool { return n > math.MaxInt64 }
	if big(c.Seq) {
		return fmt.Errorf("%w: sequence %d above 2^63-1", ErrInvalid, c.Seq)
	}
	for _, a := range c.Accounts {
		if a.ID == "" {
			return fmt.Errorf("%w: account without an id", ErrInvalid)
		}
	}
	for _, o := range c.Orders {
		if o.AccountID == "" || o.ID == "" || o.Seq == 0 || big(o.Seq) {
			return fmt.Errorf("%w: order %q without an account, id or valid sequence", ErrInvalid, o.ID)
		}
	}
	for _, p := range c.Positions {
		if p.AccountID == "" || p.FIGI == "" {
			return fmt.Errorf("%w: position %q without an account or instrument", ErrInvalid, p.ID)
		}
	}
	for _, e := range c.Executions {
		if e.AccountID == "" || e.Seq == 0 || big(e.Seq) {
			return fmt.Errorf("%w: execution %q without an account or valid sequence", ErrInvalid, e.ID)
		}
	}
	return nil
}

// keyed collects the rows of one table, the last record for a key winning,
// as the last Put of a key wins in bolt.
type keyed struct {
	index   map[[2]string]int
	account []string
	key     []string
	seq     []int64
	record  []string
}

func (k *keyed) put(account, key string, seq uint64, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode %s/%s: %w", ErrInvalid, account, key, err)
	}
	if k.index == nil {
		k.index = map[[2]string]int{}
	}
	if i, ok := k.index[[2]string{account, key}]; ok {
		k.seq[i], k.record[i] = int64(seq), string(data)
		return nil
	}
	k.index[[2]string{account, key}] = len(k.account)
	k.account = append(k.account, account)
	k.key = append(k.key, key)
	k.seq = append(k.seq, int64(seq))
	k.record = append(k.record, string(data))
	return nil
}

// Commit writes c in one transaction: records are upserted, and the stored
// sequence becomes the maximum of itself and c.Seq (commits racing each
// other may arrive with older ones).
func (s *TradingStore) Commit(ctx context.Context, c trading.Change) error {
	if err := validateChange(c); err != nil {
		return fmt.Errorf("postgres: trading commit: %w", err)
	}
	var accts, orders, positions, execs keyed
	for _, a := range c.Accounts {
		if err := accts.put(a.ID, "", 0, a); err != nil {
			return fmt.Errorf("postgres: trading commit: account: %w", err)
		}
	}
	for _, o := range c.Orders {
		if err := orders.put(o.AccountID, o.ID, o.Seq, o); err != nil {
			return fmt.Errorf("postgres: trading commit: order: %w", err)
		}
	}
	for _, p := range c.Positions {
		if err := positions.put(p.AccountID, p.FIGI, 0, p); err != nil {
			return fmt.Errorf("postgres: trading commit: position: %w", err)
		}
	}
	for _, e := range c.Executions {
		if err := execs.put(e.AccountID, fmt.Sprint(e.Seq), e.Seq, e); err != nil {
			return fmt.Errorf("postgres: trading commit: execution: %w", err)
		}
	}
	err := s.db.write(ctx, s.fence, nil, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if len(accts.account) > 0 {
			b.Queue(`INSERT INTO tvbridge_accounts (account_id, record)
				SELECT * FROM unnest($1::text[], $2::json[])
				ON CONFLICT (account_id) DO UPDATE SET record = excluded.record`, accts.account, accts.record)
		}
		if len(orders.account) > 0 {
			b.Queue(`INSERT INTO tvbridge_orders (account_id, order_id, seq, record)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::json[])
				ON CONFLICT (account_id, order_id) DO UPDATE SET seq = excluded.seq, record = excluded.record`,
				orders.account, orders.key, orders.seq, orders.record)
		}
		if len(positions.account) > 0 {
			b.Queue(`INSERT INTO tvbridge_positions (account_id, figi, record)
				SELECT * FROM unnest($1::text[], $2::text[], $3::json[])
				ON CONFLICT (account_id, figi) DO UPDATE SET record = excluded.record`,
				positions.account, positions.key, positions.record)
		}
		if len(execs.account) > 0 {
			b.Queue(`INSERT INTO tvbridge_executions (account_id, seq, record)
				SELECT * FROM unnest($1::text[], $2::bigint[], $3::json[])
				ON CONFLICT (account_id, seq) DO UPDATE SET record = excluded.record`,
				execs.account, execs.seq, execs.record)
		}
		// Last, so the one row every commit may update is locked for the
		// shortest time; a lower sequence does not even lock it.
		b.Queue(`INSERT INTO tvbridge_trading_meta AS m (id, seq) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq WHERE m.seq < excluded.seq`, int64(c.Seq))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: trading commit: %w", err)
	}
	return nil
}

// Load reads everything, in one repeatable-read transaction so the parts
// are from one moment. Records are listed by account id, then by order Seq,
// FIGI and execution Seq (bytewise, as bolt lists its buckets).
func (s *TradingStore) Load(ctx context.Context) (trading.Snapshot, error) {
	var snap trading.Snapshot
	err := pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var seq int64
		err := tx.QueryRow(ctx, `SELECT seq FROM tvbridge_trading_meta WHERE id = 1`).Scan(&seq)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case seq < 0:
			return fmt.Errorf("%w: id sequence %d", ErrCorrupt, seq)
		default:
			snap.Seq = uint64(seq)
		}
		if err := loadRecords(ctx, tx, &snap.Accounts, "account",
			`SELECT account_id, record::text FROM tvbridge_accounts ORDER BY account_id COLLATE "C"`); err != nil {
			return err
		}
		if err := loadRecords(ctx, tx, &snap.Orders, "order",
			`SELECT account_id || '/' || order_id, record::text FROM tvbridge_orders ORDER BY account_id COLLATE "C", seq`); err != nil {
			return err
		}
		if err := loadRecords(ctx, tx, &snap.Positions, "position",
			`SELECT account_id || '/' || figi, record::text FROM tvbridge_positions ORDER BY account_id COLLATE "C", figi COLLATE "C"`); err != nil {
			return err
		}
		return loadRecords(ctx, tx, &snap.Executions, "execution",
			`SELECT account_id || '/' || seq, record::text FROM tvbridge_executions ORDER BY account_id COLLATE "C", seq`)
	})
	if err != nil {
		return trading.Snapshot{}, fmt.Errorf("postgres: load trading state: %w", err)
	}
	return snap, nil
}

// loadRecords decodes the (key, JSON) rows of query and appends them to *out.
func loadRecords[T any](ctx context.Context, tx pgx.Tx, out *[]T, what, query string) error {
	rows, _ := tx.Query(ctx, query)
	var key, body string
	_, err := pgx.ForEachRow(rows, []any{&key, &body}, func() error {
		var rec T
		if err := json.Unmarshal([]byte(body), &rec); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrCorrupt, what, key, err)
		}
		*out = append(*out, rec)
		return nil
	})
	return err
}

// ClaimRequest claims requestID of accountID for orderID, across every
// node: exactly one of any number of concurrent claims of the same
// (account, request) succeeds (claimed true, existing == orderID); every
// other, then or later, gets claimed false and the order id of the claim
// that won. The claim is its own transaction, committed when it returns.
func (db *DB) ClaimRequest(ctx context.Context, accountID, requestID, orderID string) (existing string, claimed bool, err error) {
	if accountID == "" || requestID == "" || orderID == "" {
		return "", false, fmt.Errorf("postgres: claim request: %w: account, request and order ids must not be empty", ErrInvalid)
	}
	// Two statements, not one: after ON CONFLICT DO NOTHING waited for a
	// concurrent claim to commit, only a new statement's snapshot sees it.
	err = db.pool.QueryRow(ctx, `INSERT INTO tvbridge_request_ids (account_id, request_id, order_id) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, request_id) DO NOTHING RETURNING order_id`, accountID, requestID, orderID).Scan(&existing)
	if err == nil {
		return existing, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", false, fmt.Errorf("postgres: claim request %s/%s: %w", accountID, requestID, err)
	}
	err = db.pool.QueryRow(ctx, `SELECT order_id FROM tvbridge_request_ids WHERE account_id = $1 AND request_id = $2`,
		accountID, requestID).Scan(&existing)
	if err != nil {
		return "", false, fmt.Errorf("postgres: read claim %s/%s: %w", accountID, requestID, err)
	}
	return existing, false, nil
}

var _ trading.TapeMarks = (*TradingStore)(nil)

// TapeMark reads the trading owner's tape mark; false when none was saved.
func (s *TradingStore) TapeMark(ctx context.Context) (uint64, bool, error) {
	var mark *int64
	err := s.db.pool.QueryRow(ctx, `SELECT tape_mark FROM tvbridge_trading_meta WHERE id = 1`).Scan(&mark)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("postgres: reading the tape mark: %w", err)
	case mark == nil || *mark < 0:
		return 0, false, nil
	}
	return uint64(*mark), true, nil
}

// SaveTapeMark stores the tape mark; with a Fence, only while the lease is
// held (ErrFenced after).
func (s *TradingStore) SaveTapeMark(ctx context.Context, pos uint64) error {
	if pos > math.MaxInt64 {
		return fmt.Errorf("postgres: saving the tape mark: %w: %d above 2^63-1", ErrInvalid, pos)
	}
	err := s.db.write(ctx, s.fence, nil, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tvbridge_trading_meta (id, seq, tape_mark) VALUES (1, 0, $1)
			ON CONFLICT (id) DO UPDATE SET tape_mark = excluded.tape_mark`, int64(pos))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: saving the tape mark: %w", err)
	}
	return nil
}
