package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"tvbridge/bolt"
)

// Store is the auth database, one bbolt file (auth.db in the data dir):
// users, OAuth clients, token families, access and refresh tokens,
// authorization codes and the JWT assertions already redeemed.
//
// Layout (every value is JSON, every secret is stored as its SHA-256):
//
//	meta        "schema" -> "1"
//	users       login -> userRecord (argon2id password hash, groups)
//	clients     client id -> ClientRecord (secret hash, redirect URIs, certificate)
//	families    family id -> family (user, client, scheme, browser session)
//	access      sha256(access token) -> accessRecord (family, seq, expiry)
//	refresh     sha256(refresh token) -> refreshRecord (family, expiry, used)
//	codes       sha256(authorization code) -> AuthCode
//	assertions  sha256(JWT signing input) -> expiry, for replay refusal
//
// A family is one login: every token issued from it (a password login's
// single token, or an OAuth session's chain of rotated tokens) points at it,
// and deleting the family revokes them all at once. Tokens whose family is
// gone are invalid and the sweeper deletes them later.
//
// Every change is one bbolt transaction, fsynced on commit, so a token the
// server handed out survives a crash and one it did not hand out left no trace.
//
// Store is safe for concurrent use. bbolt locks the file: only one process
// may have it open, so the operator commands run while the server is stopped.
type Store struct {
	db  *bbolt.DB
	kdf KDF
	log *slog.Logger

	access accessCache // valid access tokens, see accessCache
}

// StoreOptions configure OpenStore.
type StoreOptions struct {
	// KDF hashes new passwords; zero means DefaultKDF.
	KDF KDF
	// Timeout is how long to wait for the file lock held by another
	// process (usually a running server); zero means bolt.DefaultTimeout.
	Timeout time.Duration
	// NoSync skips fsync on commit: for tests and benchmarks only.
	NoSync bool
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// DBFile is the name of the auth database inside the data dir.
const DBFile = "auth.db"

const schemaVersion = "1"

// authSchema is the auth database's layout.
var authSchema = bolt.Schema{Meta: []byte("meta"), Version: schemaVersion, Buckets: [][]byte{
	bucketUsers, bucketClients, bucketFamilies, bucketAccess, bucketRefresh, bucketCodes, bucketAssertions}}

var (
	bucketUsers      = []byte("users")
	bucketClients    = []byte("clients")
	bucketFamilies   = []byte("families")
	bucketAccess     = []byte("access")
	bucketRefresh    = []byte("refresh")
	bucketCodes      = []byte("codes")
	bucketAssertions = []byte("assertions")
)

// ErrLocked means another process (usually a running tvbridge serve) holds
// the database.
var ErrLocked = errors.New("auth database is locked by another process (is tvbridge serve running with this data dir? stop it first)")

// OpenStore opens or creates the auth database at path.
func OpenStore(path string, opts StoreOptions) (*Store, error) {
	if opts.KDF == (KDF{}) {
		opts.KDF = DefaultKDF
	}
	db, log, err := bolt.OpenFile(path, bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync, Logger: opts.Logger},
		"auth store", "a crash may lose users and tokens", authSchema)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("auth: open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Store{db: db, kdf: opts.KDF, log: log}, nil
}

// Close releases the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("auth: close store: %w", err)
	}
	return nil
}

// update runs fn in one write transaction. A panic inside (bbolt panics on
// some page corruption) becomes an error, so a bad file fails a login
// instead of taking the server down. Once it has committed (or failed),
// every cached token check is forgotten: use updateFamilies for the writes
// known to affect only some token families.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	defer s.access.forgetAll()
	return s.write(fn)
}

// updateFamilies is update for a write that changes or deletes only the
// token families fn lists in *families, or none (a write that only adds
// records): only their cached checks are forgotten.
func (s *Store) updateFamilies(families *[]string, fn func(*bbolt.Tx) error) error {
	defer func() {
		if len(*families) > 0 {
			s.access.forget(*families...)
		}
	}()
	return s.write(fn)
}

func (s *Store) write(fn func(*bbolt.Tx) error) (err error) {
	defer s.recoverPanic(&err)
	return s.db.Update(fn)
}

// view runs fn in a read transaction, recovering panics like update.
func (s *Store) view(fn func(*bbolt.Tx) error) (err error) {
	defer s.recoverPanic(&err)
	return s.db.View(fn)
}

func (s *Store) recoverPanic(err *error) {
	if p := recover(); p != nil {
		s.log.Error("auth store transaction panicked", "panic", p, "stack", string(debug.Stack()))
		*err = fmt.Errorf("auth store transaction panicked (damaged file or bug): %v", p)
	}
}

// getJSON decodes key's value in bucket into v; found is false when the
// key is absent.
func getJSON(tx *bbolt.Tx, bucket, key []byte, v any) (found bool, err error) {
	raw := tx.Bucket(bucket).Get(key)
	if raw == nil {
		return false, nil
	}
	return true, decodeJSON(bucket, raw, v)
}

// decodeJSON decodes a raw value of bucket into v.
func decodeJSON(bucket, raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s record: %w", bucket, err)
	}
	return nil
}

func putJSON(tx *bbolt.Tx, bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", bucket, err)
	}
	if err := tx.Bucket(bucket).Put(key, raw); err != nil {
		return fmt.Errorf("write %s record: %w", bucket, err)
	}
	return nil
}

// counts returns the number of records per bucket, for tests and
// diagnostics.
func (s *Store) counts() (map[string]int, error) {
	n := map[string]int{}
	err := s.view(func(tx *bbolt.Tx) error {
		for _, b := range authSchema.Buckets {
			n[string(b)] = tx.Bucket(b).Stats().KeyN
		}
		return nil
	})
	return n, err
}
