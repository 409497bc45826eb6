package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"tvbridge/clock"
)

// Config configures a Service. The zero value of every field but DataDir
// (or Store) is a working default.
type Config struct {
	// DataDir is where auth.db lives. Ignored when Store is set.
	DataDir string
	// Store is an auth database the caller opened and will close: a *Store
	// (bbolt; tests share one with the operator functions) or, in a
	// cluster, a postgres.AuthStore.
	Store TokenStore
	// Failures counts failed logins for the brute-force limits; default
	// an in-memory count of this process's failures (NewMemoryFailures).
	// In a cluster, pass a postgres.FailureStore so that the limits count
	// every node's failures.
	Failures FailureStore

	Clock  clock.Clock  // default clock.Real{}
	Logger *slog.Logger // default slog.Default()

	// TokenLifetime is the life of access tokens from every scheme;
	// default 20 minutes (TradingView recommends 15 to 30).
	TokenLifetime time.Duration
	// RefreshLifetime is the life of each OAuth refresh token, renewed at
	// every rotation, and of the browser session cookie; default 30 days.
	RefreshLifetime time.Duration
	// CodeLifetime is the life of an authorization code; default 1 minute.
	CodeLifetime time.Duration

	// DataPublic lets the data endpoints (/symbol_info, /groups, /history,
	// /streaming) through without a token.
	DataPublic bool
	// EndStreamsOnExpiry cancels a request's context when its token expires
	// or is replaced by a refreshed one, which ends /streaming. Revoked
	// tokens (logout, reuse of a refresh token) always end their requests.
	EndStreamsOnExpiry bool

	// Groups returns every /groups id; /permissions answers it for users
	// whose record names no groups. nil means no groups.
	Groups func() []string

	// MaxFailuresPerLogin and MaxFailuresPerAddress are the failed logins
	// allowed per login name and per client address within FailureWindow
	// before further attempts are refused until the window ends. Defaults
	// 5 and 50 (TradingView's servers share few addresses), 15 minutes.
	MaxFailuresPerLogin   int
	MaxFailuresPerAddress int
	FailureWindow         time.Duration
	// ClientAddress names the client of a request for the per-address
	// limit; default the peer IP (IPv6 cut to /64). Behind a reverse proxy,
	// pass one that reads the proxy's header.
	ClientAddress func(*http.Request) string

	// ClockSkew is the clock difference tolerated on JWT exp, nbf and iat;
	// default 30 seconds. MaxAssertionLifetime is how far ahead a JWT's exp
	// may lie; default 1 hour (refused assertions are remembered that long).
	ClockSkew            time.Duration
	MaxAssertionLifetime time.Duration

	// KDF hashes passwords when the Service opens the store itself;
	// default DefaultKDF.
	KDF KDF
	// BrokerName titles the OAuth login page; default "tvbridge".
	BrokerName string
	// SweepInterval is how often expired tokens are deleted; default 1 minute.
	SweepInterval time.Duration
	// RevocationPoll, when above 0 and Store is a FamilyChecker, is how
	// often the token families of the requests in flight are looked up in
	// the store, so that a revocation made elsewhere (another node of a
	// cluster) ends this node's /streaming connections within it too; a
	// revocation made here ends them at once either way. 0: never.
	RevocationPoll time.Duration
}

func (c *Config) setDefaults() error {
	if c.Store == nil && c.DataDir == "" {
		return errors.New("auth: Config needs DataDir or Store")
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	setDuration(&c.TokenLifetime, 20*time.Minute)
	setDuration(&c.RefreshLifetime, 30*24*time.Hour)
	setDuration(&c.CodeLifetime, time.Minute)
	setDuration(&c.FailureWindow, 15*time.Minute)
	setDuration(&c.ClockSkew, 30*time.Second)
	setDuration(&c.MaxAssertionLifetime, time.Hour)
	setDuration(&c.SweepInterval, time.Minute)
	if c.MaxFailuresPerLogin <= 0 {
		c.MaxFailuresPerLogin = 5
	}
	if c.MaxFailuresPerAddress <= 0 {
		c.MaxFailuresPerAddress = 50
	}
	if c.Failures == nil {
		c.Failures = NewMemoryFailures()
	}
	if c.ClientAddress == nil {
		c.ClientAddress = remoteAddress
	}
	if c.Groups == nil {
		c.Groups = func() []string { return nil }
	}
	if c.KDF == (KDF{}) {
		c.KDF = DefaultKDF
	}
	if c.BrokerName == "" {
		c.BrokerName = "tvbridge"
	}
	return nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
