// Package auth authenticates TradingView's requests with every scheme its
// Broker REST API uses, and guards the other endpoints:
//
//   - PasswordBearer: POST /authorize with login and password returns a new
//     short-lived token (login.go).
//   - OAuth2Bearer, the authorization code flow, for the trading part: a
//     login page at /oauth/authorize, codes redeemed and refresh tokens
//     rotated at /oauth/token, /oauth/logout (oauth.go, grants.go).
//   - ServerOAuth2Bearer, for the data part: a JWT assertion signed with
//     the key of a registered X.509 certificate, exchanged at /oauth/token
//     (jwt.go, grants.go).
//
// Service.Protect puts an endpoint behind a token (protect.go): a request
// without a valid one gets HTTP 401, a valid one reaches the handler with
// the token's user as its tvbridge.Principal, and its context ends when the
// token is revoked (or expires, if configured), which ends streams.
//
// Users and OAuth clients are created by the operator (Directory's
// methods, behind `tvbridge auth`). The auth database is an interface
// (backend.go): one bbolt file, auth.db (Store, store.go), or PostgreSQL
// in a cluster (postgres.AuthStore). Passwords are hashed with argon2id, tokens and client secrets
// are stored as SHA-256, and comparisons are constant-time. Failed logins
// are limited per login and per client address (limiter.go), counted in
// memory or, in a cluster, by every node together (FailureStore).
//
// README.md in this directory is the operator's guide.
package auth
