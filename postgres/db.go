// Package postgres keeps tvbridge's shared state in PostgreSQL, for cluster
// mode (issue 13): closed bars, coverage and the instrument metadata
// (BarStore, the same behaviour as package bolt's Store), the trading state
// (TradingStore, a trading.Store), requestId claims, and the ingester lease
// with its fencing token (Leases, Fence).
//
// One DB is one pgx connection pool. Open applies the schema migrations
// embedded in the binary (migrations/*.sql), recorded in
// tvbridge_schema_migrations, inside one transaction that holds a
// transaction-level advisory lock, so several nodes starting at once apply
// each migration exactly once and none of them sees a half-migrated schema.
//
// Every write is one transaction; PostgreSQL's synchronous commit (the
// default) makes a write that returned nil survive a kill -9 of either
// process. A write that failed left no trace, except when the connection
// broke during COMMIT: then, as with any database, the outcome is unknown
// until read back.
//
// See README.md for the tables, the lease design and sizing.
package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tvbridge/internal/hist"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the first key of the two-key advisory lock Open holds
// while migrating ('tvbr'); the second is a hash of the schema name, so
// nodes on one schema serialize and separate schemas (tests) do not.
const migrationLockKey = 0x74766272

// ErrInvalid marks input the store refuses to write; the message says which
// value was wrong and why.
var ErrInvalid = errors.New("invalid input")

// ErrCorrupt marks stored values that no valid write could have produced.
var ErrCorrupt = errors.New("corrupt stored value")

// Options configure Open.
type Options struct {
	// Schema is the PostgreSQL schema holding the tables. Empty means the
	// search_path of the URL, or "public". A named schema is created when
	// missing and becomes the connections' search_path.
	Schema string
	// Logger receives open, migration, conflict and lease messages; nil
	// means slog.Default().
	Logger *slog.Logger
	// MaxConns bounds the pool; zero means pgxpool's default (the URL's
	// pool_max_conns, else max(4, GOMAXPROCS)).
	MaxConns int32
	// IdleInTransactionTimeout is the server-side
	// idle_in_transaction_session_timeout of the pool's sessions: a process
	// paused inside a transaction (a fenced write holds a share lock on its
	// lease row) loses its session after it, which releases its locks so
	// that a takeover does not wait for it. Zero means 15 s; negative leaves
	// the server's setting.
	IdleInTransactionTimeout time.Duration
}

// DB is a connection pool with the tvbridge schema migrated. It is safe for
// concurrent use.
type DB struct {
	pool       *pgxpool.Pool
	log        *slog.Logger
	schema     string          // the schema Open migrated (for messages)
	barCommits *hist.Histogram // write transactions of every BarStore of this DB
}

// Open connects to url (a PostgreSQL URL or key=value DSN), migrates the
// schema and returns the pool. It fails when the database cannot be reached
// or holds migrations this build does not know (written by a newer build)
// or whose text differs from this build's.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err) // pgx redacts the password
	}
	params := cfg.ConnConfig.RuntimeParams
	schema := opts.Schema
	if schema != "" {
		params["search_path"] = pgx.Identifier{schema}.Sanitize()
	} else if schema = params["search_path"]; schema == "" {
		schema = "public"
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "tvbridge"
	}
	switch t := opts.IdleInTransactionTimeout; {
	case t == 0:
		params["idle_in_transaction_session_timeout"] = "15000"
	case t > 0:
		params["idle_in_transaction_session_timeout"] = strconv.FormatInt(max(1, t.Milliseconds()), 10)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{pool: pool, log: log, schema: schema, barCommits: hist.New(nil)}
	applied, err := db.migrate(ctx, opts.Schema)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s/%s schema %s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, schema, err)
	}
	log.Info("postgres store opened", "host", cfg.ConnConfig.Host, "database", cfg.ConnConfig.Database,
		"schema", schema, "migrations_applied", applied)
	return db, nil
}

// Close closes every connection of the pool, waiting for those in use.
func (db *DB) Close() { db.pool.Close() }

// Pool is the connection pool, for packages that keep their own tables.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// migration is one embedded file, migrations/NNNN_name.sql.
type migration struct {
	version  int
	name     string
	sql      string
	checksum string // sha256 of the text, hex
}

// migrations returns the embedded migrations in version order. Versions
// must be 1, 2, 3, ...: a gap means a file was lost.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		body, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		out = append(out, migration{version: v, name: name, sql: string(body), checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration versions must be 1..n without gaps, found %d at position %d", m.version, i+1)
		}
	}
	return out, nil
}

// migrate applies the missing migrations in one transaction holding the
// migration advisory lock, creating schema first when it is named. It
// returns how many it applied.
func (db *DB) migrate(ctx context.Context, schema string) (int, error) {
	want, err := migrations()
	if err != nil {
		return 0, err
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, migrationLockKey, db.schema); err != nil {
		return 0, fmt.Errorf("take the migration lock: %w", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return 0, fmt.Errorf("create schema: %w", err)
		}
	}
	_, err = tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS tvbridge_schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return 0, fmt.Errorf("create the migrations table: %w", err)
	}
	rows, _ := tx.Query(ctx, `SELECT version, checksum FROM tvbridge_schema_migrations ORDER BY version`)
	done := map[int]string{}
	var v int
	var sum string
	if _, err := pgx.ForEachRow(rows, []any{&v, &sum}, func() error { done[v] = sum; return nil }); err != nil {
		return 0, fmt.Errorf("read applied migrations: %w", err)
	}
	for v, sum := range done {
		if v > len(want) {
			return 0, fmt.Errorf("the database has migration %d, this build knows only 1..%d: it was migrated by a newer build", v, len(want))
		}
		if m := want[v-1]; m.checksum != sum {
			return 0, fmt.Errorf("migration %d (%s) applied with checksum %s, this build has %s: the file was edited after release", v, m.name, sum, m.checksum)
		}
	}
	applied := 0
	for _, m := range want {
		if _, ok := done[m.version]; ok {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tvbridge_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
			m.version, m.name, m.checksum); err != nil {
			return 0, fmt.Errorf("record migration %d: %w", m.version, err)
		}
		db.log.Info("postgres migration applied", "schema", db.schema, "version", m.version, "name", m.name)
		applied++
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit migrations: %w", err)
	}
	return applied, nil
}

// rollback ends a transaction that was not committed. After a commit it is
// a no-op. It uses its own context: the caller's may be the one cancelled.
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// fencedCode is the SQLSTATE tvbridge_check_fence raises.
const fencedCode = "TVB01"

// write runs fn in one transaction, after checking fence (when not nil), and
// commits. It records the latency in commits when that is not nil.
func (db *DB) write(ctx context.Context, fence *Fence, commits *hist.Histogram, fn func(pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(tx)
	if fence != nil {
		if _, err := tx.Exec(ctx, `SELECT tvbridge_check_fence($1, $2)`, fence.Name, fence.Epoch); err != nil {
			return mapErr(err)
		}
	}
	if err := fn(tx); err != nil {
		return mapErr(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return mapErr(err)
	}
	if commits != nil {
		commits.Since(start)
	}
	return nil
}

// mapErr turns the fence's SQLSTATE into ErrFenced.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == fencedCode {
		return fmt.Errorf("%w: %s", ErrFenced, pe.Message)
	}
	return err
}
