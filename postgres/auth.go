package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tvbridge/auth"
)

// AuthStore is auth.Backend on PostgreSQL: the users, OAuth clients, token
// families and tokens of every node of a cluster, in the tvbridge_auth_*
// tables (migration 0004). It keeps what the bbolt auth.Store keeps, the
// same way: passwords as argon2id hashes, client secrets, tokens, codes and
// assertion keys as SHA-256 only; the validation, hashing and token
// generation are package auth's.
//
// Every method is one transaction. Rotations and redemptions lock the row
// they use up (SELECT ... FOR UPDATE), so of two nodes presenting the same
// refresh token or code at once, one rotates it and the other sees it used,
// exactly as if they had come one after the other to one bbolt store.
//
// Valid access tokens are cached per node for at most AuthOptions.CacheTTL
// (see CheckAccess): a token revoked, retired or whose user or client was
// removed on another node stops working here within that bound; on this
// node, at once.
type AuthStore struct {
	db      *DB
	kdf     auth.KDF
	timeout time.Duration
	cache   authCache
}

// AuthOptions configure DB.Auth.
type AuthOptions struct {
	// KDF hashes new passwords; zero means auth.DefaultKDF.
	KDF auth.KDF
	// CacheTTL bounds how long a node answers a valid access token from
	// memory without asking the database: the longest a revocation made on
	// another node (logout, password change, user or client removal, a
	// reused refresh token, a retired token) can go unseen here. Zero means
	// DefaultAuthCacheTTL; negative disables the cache (every check is a
	// query, revocations are seen at once everywhere).
	CacheTTL time.Duration
	// Timeout bounds each operation; zero means 5 s.
	Timeout time.Duration
}

// DefaultAuthCacheTTL is the default AuthOptions.CacheTTL. TradingView
// polls the trading endpoints about once a second per trader, so a second
// saves about half of the token queries while a logout takes effect on
// every node within a second.
const DefaultAuthCacheTTL = time.Second

var _ auth.Backend = (*AuthStore)(nil)

// Auth returns the auth database of db. Close does not close db.
func (db *DB) Auth(opts AuthOptions) *AuthStore {
	if opts.KDF == (auth.KDF{}) {
		opts.KDF = auth.DefaultKDF
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultAuthCacheTTL
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	return &AuthStore{db: db, kdf: opts.KDF, timeout: opts.Timeout, cache: authCache{ttl: opts.CacheTTL}}
}

// Close forgets the cache; the DB stays open (its owner closes it).
func (s *AuthStore) Close() error {
	s.cache.forgetAll()
	return nil
}

func (s *AuthStore) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// write runs fn in one read-committed transaction.
func (s *AuthStore) write(fn func(context.Context, pgx.Tx) error) error {
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.db.write(ctx, nil, nil, func(tx pgx.Tx) error { return fn(ctx, tx) })
	var ge *auth.GrantError
	if err != nil && !errors.As(err, &ge) && !errors.Is(err, auth.ErrExists) && !errors.Is(err, auth.ErrNotFound) &&
		!errors.Is(err, auth.ErrReplay) {
		err = fmt.Errorf("postgres: auth: %w", err)
	}
	return err
}

// ---- users ----

// AddUser implements auth.Directory.
func (s *AuthStore) AddUser(login string, password []byte, groups []string) error {
	u, err := auth.NewUserRecord(login, password, groups, s.kdf)
	if err != nil {
		return err
	}
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO tvbridge_auth_users (login, password_hash, groups, created)
			VALUES ($1, $2, $3, $4) ON CONFLICT (login) DO NOTHING`, u.Login, u.PasswordHash, u.Groups, u.Created)
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("user %q: %w", u.Login, auth.ErrExists)
		}
		return err
	})
	return err
}

// SetPassword implements auth.Directory: it also revokes the user's tokens
// (but for JWT-bearer ones, which no password guards).
func (s *AuthStore) SetPassword(login string, password []byte) error {
	login, hash, err := auth.NewPasswordHash(login, password, s.kdf)
	if err != nil {
		return err
	}
	defer s.cache.forgetAll()
	return s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tvbridge_auth_users SET password_hash = $2 WHERE login = $1`, login, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", login, auth.ErrNotFound)
		}
		return revokeUser(ctx, tx, login)
	})
}

func revokeUser(ctx context.Context, tx pgx.Tx, login string) error {
	_, err := tx.Exec(ctx, `DELETE FROM tvbridge_auth_families WHERE login = $1 AND scheme <> $2`, login, auth.SchemeJWT)
	return err
}

// SetGroups implements auth.Directory.
func (s *AuthStore) SetGroups(login string, groups []string) error {
	login, err := auth.CheckGroups(login, groups)
	if err != nil {
		return err
	}
	defer s.cache.forgetAll()
	return s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tvbridge_auth_users SET groups = $2 WHERE login = $1`, login, groups)
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("user %q: %w", login, auth.ErrNotFound)
		}
		return err
	})
}

// RemoveUser implements auth.Directory: it also revokes the user's tokens.
func (s *AuthStore) RemoveUser(login string) error {
	login, err := auth.NormalizeLogin(login)
	if err != nil {
		return err
	}
	defer s.cache.forgetAll()
	return s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM tvbridge_auth_users WHERE login = $1`, login)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", login, auth.ErrNotFound)
		}
		return revokeUser(ctx, tx, login)
	})
}

// Users implements auth.Directory: sorted by login, bytewise.
func (s *AuthStore) Users() ([]auth.User, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, _ := s.db.pool.Query(ctx, `SELECT login, groups, created FROM tvbridge_auth_users ORDER BY login COLLATE "C"`)
	var out []auth.User
	var u auth.User
	_, err := pgx.ForEachRow(rows, []any{&u.Login, &u.Groups, &u.Created}, func() error {
		u.Created = u.Created.UTC()
		out = append(out, u)
		u = auth.User{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: auth: list users: %w", err)
	}
	return out, nil
}

// PasswordHash implements auth.TokenStore.
func (s *AuthStore) PasswordHash(login string) (string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var hash string
	err := s.db.pool.QueryRow(ctx, `SELECT password_hash FROM tvbridge_auth_users WHERE login = $1`, login).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres: auth: look up user: %w", err)
	}
	return hash, nil
}

// ---- clients ----

// AddClient implements auth.Directory.
func (s *AuthStore) AddClient(c auth.Client, secret []byte) error {
	rec, err := auth.NewClientRecord(c, secret)
	if err != nil {
		return err
	}
	body, err := json.Marshal(rec.Client)
	if err != nil {
		return fmt.Errorf("postgres: auth: encode client: %w", err)
	}
	return s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO tvbridge_auth_clients (id, record, secret_sha256) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, rec.ID, string(body), rec.SecretHash)
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("client %q: %w", rec.ID, auth.ErrExists)
		}
		return err
	})
}

// RemoveClient implements auth.Directory: it also revokes every token
// issued through the client.
func (s *AuthStore) RemoveClient(id string) error {
	defer s.cache.forgetAll()
	return s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM tvbridge_auth_clients WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("client %q: %w", id, auth.ErrNotFound)
		}
		_, err = tx.Exec(ctx, `DELETE FROM tvbridge_auth_families WHERE client_id = $1`, id)
		return err
	})
}

// Clients implements auth.Directory: sorted by id, bytewise.
func (s *AuthStore) Clients() ([]auth.Client, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, _ := s.db.pool.Query(ctx, `SELECT record FROM tvbridge_auth_clients ORDER BY id COLLATE "C"`)
	var out []auth.Client
	var body []byte
	_, err := pgx.ForEachRow(rows, []any{&body}, func() error {
		var c auth.Client
		if err := json.Unmarshal(body, &c); err != nil {
			return fmt.Errorf("%w: client record: %w", ErrCorrupt, err)
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: auth: list clients: %w", err)
	}
	return out, nil
}

// LookupClient implements auth.TokenStore.
func (s *AuthStore) LookupClient(id string) (*auth.ClientRecord, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	c, err := lookupClient(ctx, s.db.pool, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: auth: look up client: %w", err)
	}
	return c, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lookupClient reads a client; nil when absent (ids the bbolt store cannot
// hold are absent too).
func lookupClient(ctx context.Context, q querier, id string) (*auth.ClientRecord, error) {
	if id == "" || len(id) > 128 {
		return nil, nil
	}
	var body []byte
	var c auth.ClientRecord
	err := q.QueryRow(ctx, `SELECT record, secret_sha256 FROM tvbridge_auth_clients WHERE id = $1`, id).Scan(&body, &c.SecretHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &c.Client); err != nil {
		return nil, fmt.Errorf("%w: client %q record: %w", ErrCorrupt, id, err)
	}
	return &c, nil
}

// ---- tokens ----

// Issue implements auth.TokenStore.
func (s *AuthStore) Issue(now time.Time, f auth.Family, lt auth.Lifetimes) (out auth.Issued, err error) {
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		out, err = issueTx(ctx, tx, now, f, lt)
		return err
	})
	return out, err
}

// issueTx creates a family and its first tokens inside tx.
func issueTx(ctx context.Context, tx pgx.Tx, now time.Time, f auth.Family, lt auth.Lifetimes) (auth.Issued, error) {
	id, err := auth.NewFamilyID()
	if err != nil {
		return auth.Issued{}, err
	}
	f.MinSeq, f.NextSeq = 0, 0
	out := auth.Issued{Family: id}
	if err := addTokens(ctx, tx, now, id, &f, lt, &out); err != nil {
		return auth.Issued{}, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO tvbridge_auth_families (id, login, client_id, scheme, session, min_seq, next_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, f.User, f.Client, f.Scheme, f.Session, int64(f.MinSeq), int64(f.NextSeq))
	return out, err
}

// addTokens issues the family's next access token (and a refresh token
// when lt asks for one); f.NextSeq moves on, and the caller saves it.
func addTokens(ctx context.Context, tx pgx.Tx, now time.Time, id string, f *auth.Family, lt auth.Lifetimes, out *auth.Issued) error {
	var err error
	if out.Access, err = auth.NewToken(); err != nil {
		return err
	}
	out.AccessExp = time.Unix(now.Add(lt.Access).Unix(), 0)
	seq := f.NextSeq
	f.NextSeq++
	if _, err := tx.Exec(ctx, `INSERT INTO tvbridge_auth_access (token_sha256, family_id, seq, expires) VALUES ($1, $2, $3, $4)`,
		auth.TokenKey(out.Access), id, int64(seq), out.AccessExp.Unix()); err != nil {
		return err
	}
	if lt.Refresh > 0 {
		if out.Refresh, err = auth.NewToken(); err != nil {
			return err
		}
		out.RefreshExp = time.Unix(now.Add(lt.Refresh).Unix(), 0)
		if _, err := tx.Exec(ctx, `INSERT INTO tvbridge_auth_refresh (token_sha256, family_id, expires) VALUES ($1, $2, $3)`,
			auth.TokenKey(out.Refresh), id, out.RefreshExp.Unix()); err != nil {
			return err
		}
	}
	return nil
}

// CheckAccess implements auth.TokenStore: one query reads the token, its
// family, the family's client and its user. A valid token's Grant is
// cached until the earlier of its expiry and now + CacheTTL, and forgotten
// by this store's own writes that may change it.
func (s *AuthStore) CheckAccess(tok string, now time.Time) (*auth.Grant, error) {
	key := sha256.Sum256([]byte(tok))
	if g := s.cache.get(key, now); g != nil {
		return g, nil
	}
	gen := s.cache.generation()
	ctx, cancel := s.ctx()
	defer cancel()
	var (
		familyID                       string
		seq, expires                   int64
		minSeq, nextSeq                *int64 // nil: no family
		clientOK, userFound            bool
		groups                         []string
		login, client, scheme, session *string
	)
	err := s.db.pool.QueryRow(ctx, `
		SELECT a.family_id, a.seq, a.expires,
		       f.login, f.client_id, f.scheme, f.session, f.min_seq, f.next_seq,
		       COALESCE(f.client_id = '' OR c.id IS NOT NULL, false), u.login IS NOT NULL, u.groups
		FROM tvbridge_auth_access a
		LEFT JOIN tvbridge_auth_families f ON f.id = a.family_id
		LEFT JOIN tvbridge_auth_clients c ON c.id = f.client_id AND f.client_id <> ''
		LEFT JOIN tvbridge_auth_users u ON u.login = f.login
		WHERE a.token_sha256 = $1`, key[:]).Scan(&familyID, &seq, &expires,
		&login, &client, &scheme, &session, &minSeq, &nextSeq, &clientOK, &userFound, &groups)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, auth.ErrUnknownToken
	case err != nil:
		return nil, fmt.Errorf("postgres: auth: check token: %w", err)
	case now.Unix() >= expires:
		return nil, auth.ErrExpiredToken
	case minSeq == nil:
		return nil, auth.ErrUnknownToken // family revoked
	case seq < *minSeq:
		return nil, auth.ErrRetiredToken
	}
	f := auth.Family{User: *login, Client: *client, Scheme: *scheme, Session: *session, MinSeq: uint64(*minSeq), NextSeq: uint64(*nextSeq)}
	if !clientOK || !userFound && f.Scheme != auth.SchemeJWT {
		return nil, auth.ErrUnknownToken // client or user removed
	}
	if !userFound {
		groups = nil
	}
	g := auth.NewGrant(familyID, f, uint64(seq), time.Unix(expires, 0), groups)
	s.cache.put(key, g, gen, now)
	return g, nil
}

// RetireBefore implements auth.TokenStore.
func (s *AuthStore) RetireBefore(familyID string, seq uint64) (changed bool, err error) {
	if seq > math.MaxInt64 {
		return false, nil
	}
	defer s.cache.forget(familyID)
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tvbridge_auth_families SET min_seq = $2 WHERE id = $1 AND min_seq < $2`, familyID, int64(seq))
		changed = tag.RowsAffected() > 0
		return err
	})
	return changed, err
}

// RevokeFamily implements auth.TokenStore.
func (s *AuthStore) RevokeFamily(id string) error {
	defer s.cache.forget(id)
	return s.write(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM tvbridge_auth_families WHERE id = $1`, id)
		return err
	})
}

// RevokeSession implements auth.TokenStore.
func (s *AuthStore) RevokeSession(sessionHash string) (ids []string, err error) {
	defer func() { s.cache.forget(ids...) }()
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `DELETE FROM tvbridge_auth_families WHERE session = $1 RETURNING id`, sessionHash)
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return ids, err
}

// lockFamily reads a family for update; found is false when it is gone.
func lockFamily(ctx context.Context, tx pgx.Tx, id string) (f auth.Family, found bool, err error) {
	var minSeq, nextSeq int64
	err = tx.QueryRow(ctx, `SELECT login, client_id, scheme, session, min_seq, next_seq
		FROM tvbridge_auth_families WHERE id = $1 FOR UPDATE`, id).Scan(&f.User, &f.Client, &f.Scheme, &f.Session, &minSeq, &nextSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, false, nil
	}
	f.MinSeq, f.NextSeq = uint64(minSeq), uint64(nextSeq)
	return f, err == nil, err
}

// Refresh implements auth.TokenStore. The refresh token's row is locked
// first, then its family's: a concurrent rotation of the same token waits
// and then finds it used (a reuse, which revokes the family).
func (s *AuthStore) Refresh(now time.Time, tok string, authenticate func(*auth.ClientRecord) error, lt auth.Lifetimes) (out auth.Issued, revoked string, err error) {
	var changed string
	defer func() {
		if changed != "" {
			s.cache.forget(changed)
		}
	}()
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		key := auth.TokenKey(tok)
		var familyID string
		var expires int64
		var used bool
		err := tx.QueryRow(ctx, `SELECT family_id, expires, used FROM tvbridge_auth_refresh WHERE token_sha256 = $1 FOR UPDATE`,
			key).Scan(&familyID, &expires, &used)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.InvalidGrant("unknown refresh token")
		}
		if err != nil {
			return err
		}
		changed = familyID
		f, found, err := lockFamily(ctx, tx, familyID)
		if err != nil {
			return err
		}
		if !found {
			return auth.InvalidGrant("refresh token revoked")
		}
		c, err := lookupClient(ctx, tx, f.Client)
		if err != nil {
			return err
		}
		if err := authenticate(c); err != nil {
			return err
		}
		switch {
		case used:
			// Reuse: whoever holds the newer token, one of them stole it.
			revoked = familyID
			_, err := tx.Exec(ctx, `DELETE FROM tvbridge_auth_families WHERE id = $1`, familyID)
			return err
		case now.Unix() >= expires:
			return auth.InvalidGrant("refresh token expired")
		}
		if _, err := tx.Exec(ctx, `UPDATE tvbridge_auth_refresh SET used = true WHERE token_sha256 = $1`, key); err != nil {
			return err
		}
		out.Family = familyID
		if err := addTokens(ctx, tx, now, familyID, &f, lt, &out); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE tvbridge_auth_families SET next_seq = $2 WHERE id = $1`, familyID, int64(f.NextSeq))
		return err
	})
	if err != nil {
		revoked = "" // rolled back
	}
	if err == nil && revoked != "" {
		err = auth.InvalidGrant("refresh token already used; the session is revoked")
	}
	return out, revoked, err
}

// CreateCode implements auth.TokenStore.
func (s *AuthStore) CreateCode(rec auth.AuthCode) (string, error) {
	code, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tvbridge_auth_codes (code_sha256, client_id, login, redirect, session, expires, family_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, auth.TokenKey(code), rec.Client, rec.User, rec.Redirect, rec.Session, rec.Expires, rec.Family)
		return err
	})
	return code, err
}

// RedeemCode implements auth.TokenStore. The code's row is locked: of two
// concurrent redemptions, the second finds it redeemed.
func (s *AuthStore) RedeemCode(now time.Time, code, clientID, redirect string, lt auth.Lifetimes) (out auth.Issued, revoked string, err error) {
	defer func() {
		if revoked != "" {
			s.cache.forget(revoked)
		}
	}()
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		key := auth.TokenKey(code)
		var rec auth.AuthCode
		err := tx.QueryRow(ctx, `SELECT client_id, login, redirect, session, expires, family_id
			FROM tvbridge_auth_codes WHERE code_sha256 = $1 FOR UPDATE`, key).
			Scan(&rec.Client, &rec.User, &rec.Redirect, &rec.Session, &rec.Expires, &rec.Family)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.InvalidGrant("unknown authorization code")
		}
		if err != nil {
			return err
		}
		switch {
		case rec.Client != clientID:
			return auth.InvalidGrant("authorization code issued to another client")
		case rec.Family != "":
			revoked = rec.Family
			_, err := tx.Exec(ctx, `DELETE FROM tvbridge_auth_families WHERE id = $1`, rec.Family)
			return err
		case now.Unix() >= rec.Expires:
			return auth.InvalidGrant("authorization code expired")
		case rec.Redirect != redirect:
			return auth.InvalidGrant("redirect_uri differs from the authorization request")
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tvbridge_auth_users WHERE login = $1)`, rec.User).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return auth.InvalidGrant("user no longer exists")
		}
		f := auth.Family{User: rec.User, Client: rec.Client, Scheme: auth.SchemeOAuth2, Session: rec.Session}
		if out, err = issueTx(ctx, tx, now, f, lt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE tvbridge_auth_codes SET family_id = $2 WHERE code_sha256 = $1`, key, out.Family)
		return err
	})
	if err != nil {
		revoked = ""
	}
	if err == nil && revoked != "" {
		err = auth.InvalidGrant("authorization code already used; tokens issued for it are revoked")
	}
	return out, revoked, err
}

// RedeemAssertion implements auth.TokenStore: the assertion's key is
// inserted, or replaces one whose exp has passed; a key still remembered
// is a replay. Concurrent redemptions of one assertion: one wins.
func (s *AuthStore) RedeemAssertion(now time.Time, key []byte, exp time.Time, f auth.Family, lt auth.Lifetimes) (out auth.Issued, err error) {
	err = s.write(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO tvbridge_auth_assertions AS a (key_sha256, expires) VALUES ($1, $2)
			ON CONFLICT (key_sha256) DO UPDATE SET expires = excluded.expires WHERE a.expires <= $3`, key, exp.Unix(), now.Unix())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrReplay
		}
		out, err = issueTx(ctx, tx, now, f, lt)
		return err
	})
	return out, err
}

// sweepLockKey is the second key of the advisory lock a sweep holds, so
// that one node sweeps at a time (the others skip).
const sweepLockKey = 0x61757468 // 'auth'

// serializationFailure is SQLSTATE 40001.
const serializationFailure = "40001"

// Sweep implements auth.TokenStore: it deletes expired or retired access
// tokens, expired refresh tokens, codes and assertions, tokens of revoked
// families, and families left without a usable token, in one
// repeatable-read transaction (a family that gains a token meanwhile is
// updated or new, so deleting it fails with a serialization error instead
// of revoking it; the sweep then retries). When another node is sweeping,
// it returns 0 at once.
func (s *AuthStore) Sweep(now time.Time) (removed int, err error) {
	for attempt := 0; ; attempt++ {
		removed, err = s.sweepOnce(now.Unix())
		var pe *pgconn.PgError
		if err == nil || attempt == 2 || !errors.As(err, &pe) || pe.Code != serializationFailure {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: auth: sweep: %w", err)
	}
	return removed, nil
}

func (s *AuthStore) sweepOnce(now int64) (removed int, err error) {
	ctx, cancel := s.ctx()
	defer cancel()
	err = pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, migrationLockKey, sweepLockKey).Scan(&locked); err != nil || !locked {
			return err
		}
		for _, q := range []string{
			`DELETE FROM tvbridge_auth_access a WHERE a.expires <= $1 OR NOT EXISTS (
				SELECT 1 FROM tvbridge_auth_families f WHERE f.id = a.family_id AND a.seq >= f.min_seq)`,
			`DELETE FROM tvbridge_auth_refresh r WHERE r.expires <= $1 OR NOT EXISTS (
				SELECT 1 FROM tvbridge_auth_families f WHERE f.id = r.family_id)`,
			`DELETE FROM tvbridge_auth_codes WHERE expires <= $1`,
			`DELETE FROM tvbridge_auth_assertions WHERE expires <= $1`,
			// After the deletes above, every token left is usable.
			`DELETE FROM tvbridge_auth_families f
				WHERE NOT EXISTS (SELECT 1 FROM tvbridge_auth_access a WHERE a.family_id = f.id)
				AND NOT EXISTS (SELECT 1 FROM tvbridge_auth_refresh r WHERE r.family_id = f.id AND NOT r.used)`,
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{now}
			}
			tag, err := tx.Exec(ctx, q, args...)
			if err != nil {
				return err
			}
			removed += int(tag.RowsAffected())
		}
		return nil
	})
	if removed > 0 {
		s.cache.forgetAll()
	}
	return removed, err
}

// authCache remembers the grants of valid access tokens, by the token's
// SHA-256, for at most ttl from the check that read them and never past
// the token's expiry. This store's own writes forget the entries they may
// change (a family's, or all) when they return; a check that read the
// database while such a write happened does not store what it read (gen),
// as in package auth's bbolt cache. Other nodes' writes are seen when the
// entry runs out: that is the revocation bound, ttl.
type authCache struct {
	ttl time.Duration // <= 0: no cache

	mu  sync.RWMutex
	gen uint64
	m   map[[sha256.Size]byte]cachedGrant
}

type cachedGrant struct {
	g     *auth.Grant
	until time.Time
}

// maxCachedTokens bounds the cache; when full it starts again empty.
const maxCachedTokens = 1 << 16

func (c *authCache) get(key [sha256.Size]byte, now time.Time) *auth.Grant {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) || now.Unix() >= e.g.Expires.Unix() {
		return nil
	}
	return e.g
}

func (c *authCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores g, read at now, unless a write forgot entries since the
// check began (gen).
func (c *authCache) put(key [sha256.Size]byte, g *auth.Grant, gen uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedTokens {
		c.m = make(map[[sha256.Size]byte]cachedGrant)
	}
	c.m[key] = cachedGrant{g: g, until: now.Add(c.ttl)}
}

func (c *authCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

func (c *authCache) forget(families ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(families) == 0 {
		return
	}
	for k, e := range c.m {
		if slices.Contains(families, e.g.FamilyID) {
			delete(c.m, k)
		}
	}
}

// ---- failed logins ----

// FailureStore is auth.FailureStore on PostgreSQL: the failed logins of
// every node, one row per (scope, key) in tvbridge_auth_failures, so the
// brute-force limits are cluster-wide. A failure is one atomic upsert:
// concurrent failures on any number of nodes all count. Windows are timed
// by the nodes' clocks (the Service's), so skew between nodes shifts a
// window's end by that much.
type FailureStore struct {
	db      *DB
	timeout time.Duration
}

var _ auth.FailureStore = (*FailureStore)(nil)

// LoginFailures returns the failed-login counts of db.
func (db *DB) LoginFailures() *FailureStore { return &FailureStore{db: db, timeout: 5 * time.Second} }

// Failures implements auth.FailureStore.
func (s *FailureStore) Failures(scope, key string, now time.Time, window time.Duration) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	var first time.Time
	var count int
	err := s.db.pool.QueryRow(ctx, `SELECT first_at, count FROM tvbridge_auth_failures WHERE scope = $1 AND key = $2`,
		scope, key).Scan(&first, &count)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: auth: failed logins: %w", err)
	}
	left := first.Add(window).Sub(now)
	if left <= 0 {
		return 0, 0, nil // ended: PruneFailures deletes it
	}
	return count, left, nil
}

// AddFailure implements auth.FailureStore.
func (s *FailureStore) AddFailure(scope, key string, now time.Time, window time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, err := s.db.pool.Exec(ctx, `INSERT INTO tvbridge_auth_failures AS f (scope, key, first_at, count) VALUES ($1, $2, $3, 1)
		ON CONFLICT (scope, key) DO UPDATE SET
			first_at = CASE WHEN f.first_at <= $4 THEN excluded.first_at ELSE f.first_at END,
			count    = CASE WHEN f.first_at <= $4 THEN 1 ELSE f.count + 1 END`, scope, key, now, now.Add(-window))
	if err != nil {
		return fmt.Errorf("postgres: auth: count a failed login: %w", err)
	}
	return nil
}

// ResetFailures implements auth.FailureStore.
func (s *FailureStore) ResetFailures(scope, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM tvbridge_auth_failures WHERE scope = $1 AND key = $2`, scope, key); err != nil {
		return fmt.Errorf("postgres: auth: reset failed logins: %w", err)
	}
	return nil
}

// PruneFailures implements auth.FailureStore.
func (s *FailureStore) PruneFailures(now time.Time, window time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM tvbridge_auth_failures WHERE first_at <= $1`, now.Add(-window)); err != nil {
		return fmt.Errorf("postgres: auth: prune failed logins: %w", err)
	}
	return nil
}

// LiveFamilies implements auth.FamilyChecker: the families of ids that
// still exist, with their MinSeq, and whose user (and client, if any) do
// too, as CheckAccess requires.
func (s *AuthStore) LiveFamilies(ids []string) (map[string]uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.db.pool.Query(ctx, `
		SELECT f.id, f.min_seq
		FROM tvbridge_auth_families f
		JOIN tvbridge_auth_users u ON u.login = f.login
		LEFT JOIN tvbridge_auth_clients c ON c.id = f.client_id AND f.client_id <> ''
		WHERE f.id = ANY($1) AND (f.client_id = '' OR c.id IS NOT NULL)`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: auth: live families: %w", err)
	}
	out := make(map[string]uint64, len(ids))
	var id string
	var min int64
	_, err = pgx.ForEachRow(rows, []any{&id, &min}, func() error {
		out[id] = uint64(min)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: auth: live families: %w", err)
	}
	return out, nil
}

var _ auth.FamilyChecker = (*AuthStore)(nil)
