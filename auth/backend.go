package auth

import "time"

// The auth database is an interface with two implementations side by side:
// Store (bbolt, one file, the embedded mode) and postgres.AuthStore
// (PostgreSQL, shared by every node of a cluster). Both keep the same
// records: users with argon2id password hashes, OAuth clients with their
// secrets' SHA-256, token families, and access tokens, refresh tokens,
// authorization codes and JWT assertions as their SHA-256 only. The
// conformance test in package postgres runs one table of cases against
// both.

// TokenStore is what a Service needs from the auth database: reading
// users' password hashes and clients, and issuing, checking, rotating and
// revoking tokens. Every method is atomic (one transaction); a method that
// returned an error changed nothing, except where it says otherwise.
//
// Times are the Service's clock (Config.Clock), so that tests control
// expiry; expiries are compared in whole Unix seconds.
//
// Errors: CheckAccess refuses with ErrUnknownToken, ErrExpiredToken or
// ErrRetiredToken; the grants refuse with a *GrantError (InvalidGrant,
// ErrReplay); anything else is a failure of the database.
type TokenStore interface {
	// PasswordHash returns the stored argon2id hash of a normalized login,
	// or "" when there is no such user.
	PasswordHash(login string) (string, error)
	// LookupClient returns the client registered as id; nil when none.
	LookupClient(id string) (*ClientRecord, error)

	// Issue creates a token family f and its first tokens (a refresh
	// token only when lt.Refresh > 0).
	Issue(now time.Time, f Family, lt Lifetimes) (Issued, error)
	// CheckAccess validates an access token at now: it exists, has not
	// expired, its family exists, it was not retired (Seq >= MinSeq), and
	// the family's client and user (but for a JWT-bearer user) still
	// exist. The Grant is shared by callers: never modify it.
	//
	// An implementation may cache valid tokens. A write through the same
	// store must be visible to its next CheckAccess (so /logout works at
	// once on the node that served it); a write by another process may
	// take up to a bound the implementation documents (Store: none, it is
	// the only process; postgres.AuthStore: AuthOptions.CacheTTL).
	CheckAccess(tok string, now time.Time) (*Grant, error)
	// RetireBefore records the first use of access token seq of family
	// familyID: the family's older access tokens stop working. changed is
	// false when the family was already there (or is gone).
	RetireBefore(familyID string, seq uint64) (changed bool, err error)
	// RevokeFamily deletes a family, revoking all its tokens.
	RevokeFamily(id string) error
	// RevokeSession deletes the families logged in through the browser
	// session whose cookie hashes (hex SHA-256) to sessionHash, and
	// returns their ids.
	RevokeSession(sessionHash string) ([]string, error)
	// Refresh rotates refresh token tok: authenticate checks the client
	// against the token family's client first (nil when it is gone); then
	// the token is used up and the family gets a new access and refresh
	// token. Presenting a used token revokes the family (revoked is its
	// id) and fails with invalid_grant. Of two concurrent refreshes with
	// one token, one rotates it and the other is a reuse.
	Refresh(now time.Time, tok string, authenticate func(*ClientRecord) error, lt Lifetimes) (out Issued, revoked string, err error)
	// CreateCode stores an authorization code for rec and returns it.
	CreateCode(rec AuthCode) (string, error)
	// RedeemCode exchanges an authorization code for tokens, once: a
	// second redemption revokes the tokens of the first (revoked is their
	// family) and fails with invalid_grant.
	RedeemCode(now time.Time, code, clientID, redirect string, lt Lifetimes) (out Issued, revoked string, err error)
	// RedeemAssertion issues tokens for a verified JWT assertion once:
	// key identifies it, remembered until exp to refuse it (ErrReplay).
	RedeemAssertion(now time.Time, key []byte, exp time.Time, f Family, lt Lifetimes) (Issued, error)
	// Sweep deletes what can no longer be used and returns how many
	// records it deleted. Safe to run on several nodes at once.
	Sweep(now time.Time) (int, error)
}

// Directory is the operator's side of the auth database: users and OAuth
// clients (behind `tvbridge auth`). The validation, password hashing and
// secret hashing are shared by every backend: NewUserRecord,
// NewPasswordHash, CheckGroups and NewClientRecord.
type Directory interface {
	AddUser(login string, password []byte, groups []string) error
	SetPassword(login string, password []byte) error
	SetGroups(login string, groups []string) error
	RemoveUser(login string) error
	Users() ([]User, error)
	AddClient(c Client, secret []byte) error
	RemoveClient(id string) error
	Clients() ([]Client, error)
}

// Backend is a whole auth database: what the Service uses, what the
// operator manages, and Close.
type Backend interface {
	TokenStore
	Directory
	Close() error
}

var _ Backend = (*Store)(nil)

// FailureStore counts failed logins for the brute-force limits, per scope
// ("login" or "address") and key. A window opens at a key's first failure
// and lasts window; Service applies the limits. The in-memory one (the
// default) counts this process's failures; postgres.FailureStore counts
// every node's, so the limits are cluster-wide.
type FailureStore interface {
	// Failures returns the failures of key in the window open at now and
	// how long that window has left; 0 and 0 when no window is open.
	Failures(scope, key string, now time.Time, window time.Duration) (count int, left time.Duration, err error)
	// AddFailure counts one failure of key at now, opening a new window
	// when none is open. Concurrent calls from any node all count.
	AddFailure(scope, key string, now time.Time, window time.Duration) error
	// ResetFailures forgets key's failures (a successful login).
	ResetFailures(scope, key string) error
	// PruneFailures forgets the windows that ended by now.
	PruneFailures(now time.Time, window time.Duration) error
}

// Failure scopes.
const (
	ScopeLogin   = "login"
	ScopeAddress = "address"
)
