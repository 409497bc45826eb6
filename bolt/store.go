// Package bolt keeps closed bars in one bbolt file: the embedded, crash-safe
// implementation of tvbridge.BarStore.
//
// Layout (bucket names are short because they repeat once per instrument):
//
//	meta                      schema -> "1"
//	figi/<FIGI>/m             8-byte big-endian Unix minute -> 40-byte bar
//	figi/<FIGI>/d             8-byte big-endian Unix day    -> 40-byte bar
//	figi/<FIGI>/cov           first minute -> end minute (exclusive), merged
//	figi/<FIGI>/meta          "first" -> first-bar watermark, Unix minute
//
// Bar values are five IEEE-754 float64 bit patterns (open, high, low, close,
// volume), not a compact varint form: the store does not know an
// instrument's price step, so a scaled-integer encoding would either need one
// or risk rounding, and a closed bar must come back bit-identical forever.
// Fixed width also makes corruption detectable by length and decoding a
// day of bars a tight loop. The cost is space: 64 bytes per bar with key and
// bbolt's element header; measured file growth is ~63 MB for a day of 1,000
// instruments x 800 minutes. A compact form could shrink only the 40-byte
// value; the schema version leaves room to add one later.
//
// Every write is one bbolt transaction, and bbolt fsyncs on commit, so a write
// that returned nil survives kill -9 (and power loss, if the disk honours
// fsync) and one that did not return left no trace. Copy-on-write means a
// commit rewrites each touched page up to the root: a minute close costs
// about three 4 KiB pages per instrument that traded.
package bolt

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
	"tvbridge/internal/hist"
)

var _ tvbridge.BarStore = (*Store)(nil)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero. bbolt would wait forever; a second process
// pointed at the same data dir should fail loudly instead.
const DefaultTimeout = 5 * time.Second

// schemaVersion is bumped when the layout or the value encoding changes.
const schemaVersion = "1"

var (
	bucketMeta     = []byte("meta")
	bucketFIGI     = []byte("figi")
	bucketMinutes  = []byte("m")
	bucketDaily    = []byte("d")
	bucketCoverage = []byte("cov")
	keySchema      = []byte("schema")
	keyFirstBar    = []byte("first")
)

// appendFill is the page fill factor for bar buckets. Bars arrive in time
// order, so pages split at the end and are never filled again; bbolt's
// default of 0.5 would leave every page half empty.
const appendFill = 0.95

// maxFIGILen bounds instrument ids; bbolt keys may be up to 32 KiB, but an id
// that long is a caller bug.
const maxFIGILen = 256

// Options configure Open.
type Options struct {
	// Timeout is how long to wait for the file lock held by another
	// process; zero means DefaultTimeout.
	Timeout time.Duration
	// NoSync skips fsync on commit. For benchmarks only: an OS crash or
	// power loss may then lose acknowledged bars or corrupt the file.
	NoSync bool
	// Logger receives open, conflict and watermark messages; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Store is a BarStore on a bbolt file. It is safe for concurrent use: reads
// run in parallel read transactions and never block, writes are serialized.
type Store struct {
	db      *bbolt.DB
	log     *slog.Logger
	commits *hist.Histogram // write transactions, see Stats
}

// barSchema is the bar store's layout.
var barSchema = Schema{Meta: bucketMeta, Version: schemaVersion, Buckets: [][]byte{bucketFIGI}}

// Open opens or creates the store at path, creating missing directories.
func Open(path string, opts Options) (*Store, error) {
	db, log, err := OpenFile(path, opts, "bar store", "a crash may lose bars", barSchema)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, log: log, commits: hist.New(nil)}, nil
}

// Schema is the layout of one bbolt file of the data dir: a meta bucket
// holding the schema version, and the top-level buckets.
type Schema struct {
	Meta    []byte
	Version string // bumped when the layout or the value encoding changes
	Buckets [][]byte
}

// init creates the top-level buckets of a new file and refuses a file
// written by an incompatible version.
func (sc Schema) init(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(sc.Meta)
	if err != nil {
		return fmt.Errorf("create %s bucket: %w", sc.Meta, err)
	}
	switch v := meta.Get(keySchema); {
	case v == nil:
		if err := meta.Put(keySchema, []byte(sc.Version)); err != nil {
			return fmt.Errorf("write schema version: %w", err)
		}
	case string(v) != sc.Version:
		return fmt.Errorf("schema version %q, this build reads %q", v, sc.Version)
	}
	for _, name := range sc.Buckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create %s bucket: %w", name, err)
		}
	}
	return nil
}

// OpenFile opens or creates one bbolt file of the data dir, creating
// missing directories (owner-only: auth.db lives there too), and sets up
// its schema; what names the store in
// logs. A file locked by another process fails with bbolt/errors.ErrTimeout after
// Options.Timeout, and a damaged one with ErrCorrupt, never a panic. The
// bar and trading stores open their files with it, and so does package
// auth.
func OpenFile(path string, opts Options, what, noSyncRisk string, sc Schema) (*bbolt.DB, *slog.Logger, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("bolt: create data dir: %w", err)
	}
	db, err := openDB(path, &bbolt.Options{Timeout: timeout, NoSync: opts.NoSync})
	if err != nil {
		return nil, nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := initDB(db, sc.init); err != nil {
		_ = db.Close() // the init error is the one worth reporting
		return nil, nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if opts.NoSync {
		log.Warn(what+" opened without fsync; "+noSyncRisk, "path", path)
	}
	log.Info(what+" opened", "path", path)
	return db, log, nil
}

// initDB runs a schema initialisation, turning a bbolt panic on a damaged
// file into ErrCorrupt.
func initDB(db *bbolt.DB, init func(*bbolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: bbolt panicked: %v", ErrCorrupt, p)
		}
	}()
	return db.Update(init)
}

// openDB is bbolt.Open, which panics on some damaged pages (the freelist),
// made to return an error instead. After such a panic bbolt still holds the
// file descriptor; the caller is expected to give up on the file anyway.
func openDB(path string, opts *bbolt.Options) (db *bbolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: bbolt panicked while opening: %v", ErrCorrupt, p)
		}
	}()
	return bbolt.Open(path, 0o600, opts)
}

// Close releases the file. Pending reads finish first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// update runs fn in one write transaction (one fsync), unless ctx is done.
func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.recoverPanic(&err)
	defer s.commits.Since(time.Now())
	return s.db.Update(fn)
}

// view runs fn in a read transaction, unless ctx is done.
func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.recoverPanic(&err)
	return s.db.View(fn)
}

// recoverPanic turns a panic inside a transaction into an error. bbolt
// panics on some kinds of page corruption; a /history request over a damaged
// page must fail, not take the server down. bbolt's own deferred rollback
// has released the transaction by the time the panic gets here.
func (s *Store) recoverPanic(err *error) {
	if p := recover(); p != nil {
		s.log.Error("bar store transaction panicked", "panic", p, "stack", string(debug.Stack()))
		*err = fmt.Errorf("%w: transaction panicked (damaged file or bug): %v", ErrCorrupt, p)
	}
}

func validateFIGI(figi string) error {
	if figi == "" || len(figi) > maxFIGILen {
		return fmt.Errorf("%w: instrument id %q must be 1 to %d bytes", ErrInvalid, figi, maxFIGILen)
	}
	return nil
}

// instrument returns figi's bucket, or nil when nothing was ever stored for it.
func instrument(tx *bbolt.Tx, figi string) *bbolt.Bucket {
	return tx.Bucket(bucketFIGI).Bucket([]byte(figi))
}

// subBucket returns the named bucket of an instrument in a read transaction,
// or nil when it does not exist yet.
func subBucket(tx *bbolt.Tx, figi string, name []byte) *bbolt.Bucket {
	inst := instrument(tx, figi)
	if inst == nil {
		return nil
	}
	return inst.Bucket(name)
}

// createSubBucket returns the named bucket of an instrument in a write
// transaction, creating both levels on first use.
func createSubBucket(tx *bbolt.Tx, figi string, name []byte) (*bbolt.Bucket, error) {
	inst, err := tx.Bucket(bucketFIGI).CreateBucketIfNotExists([]byte(figi))
	if err != nil {
		return nil, fmt.Errorf("create bucket for %s: %w", figi, err)
	}
	b, err := inst.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, fmt.Errorf("create %s bucket for %s: %w", name, figi, err)
	}
	return b, nil
}
