package auth

import (
	"errors"
	"sync/atomic"
)

// Stats counts logins, tokens and refusals since the Service started, for
// metrics. No user or client is named: the counts are totals.
type Stats struct {
	LoginsOK     uint64 // password checks that passed (/authorize and the OAuth login page)
	LoginsFailed uint64 // wrong login or password
	LoginsLocked uint64 // refused without a check: too many failures for the login or the address

	// Tokens issued, by grant: a password login (/authorize), an
	// authorization code redeemed, a refresh, a JWT-bearer assertion.
	IssuedPassword, IssuedCode, IssuedRefresh, IssuedJWT uint64

	// Revoked counts token families (one login each, with every token it
	// issued) revoked: /logout, /oauth/logout, or a reused code or refresh
	// token.
	Revoked uint64

	// Unauthorized counts requests refused with 401 by Protect, by why:
	// no token, a malformed or unknown (revoked) one or one of the wrong
	// kind, an expired or replaced one, or a failure to check it.
	UnauthorizedNoToken, UnauthorizedInvalid, UnauthorizedExpired, UnauthorizedError uint64
}

// stats are the Service's counters; the zero value is ready.
type stats struct {
	loginsOK, loginsFailed, loginsLocked                     atomic.Uint64
	issuedPassword, issuedCode, issuedRefresh, issuedJWT     atomic.Uint64
	revoked                                                  atomic.Uint64
	noToken, invalidToken, expiredToken, unauthorizedFailure atomic.Uint64
}

// Stats returns the Service's counters.
func (s *Service) Stats() Stats {
	c := &s.stats
	return Stats{
		LoginsOK: c.loginsOK.Load(), LoginsFailed: c.loginsFailed.Load(), LoginsLocked: c.loginsLocked.Load(),
		IssuedPassword: c.issuedPassword.Load(), IssuedCode: c.issuedCode.Load(),
		IssuedRefresh: c.issuedRefresh.Load(), IssuedJWT: c.issuedJWT.Load(),
		Revoked:             c.revoked.Load(),
		UnauthorizedNoToken: c.noToken.Load(), UnauthorizedInvalid: c.invalidToken.Load(),
		UnauthorizedExpired: c.expiredToken.Load(), UnauthorizedError: c.unauthorizedFailure.Load(),
	}
}

// issued counts a token answer of /oauth/token by its grant_type.
func (c *stats) issued(grant string) {
	switch grant {
	case "authorization_code":
		c.issuedCode.Add(1)
	case "refresh_token":
		c.issuedRefresh.Add(1)
	default: // the JWT-bearer grant's URNs
		c.issuedJWT.Add(1)
	}
}

// unauthorized counts a 401 by the error Protect refused the request with.
func (c *stats) unauthorized(err error) {
	switch {
	case errors.Is(err, errNoToken):
		c.noToken.Add(1)
	case errors.Is(err, ErrExpiredToken), errors.Is(err, ErrRetiredToken):
		c.expiredToken.Add(1)
	case errors.Is(err, ErrUnknownToken), errors.Is(err, errMalformedToken), errors.Is(err, errWrongKind):
		c.invalidToken.Add(1)
	default:
		c.unauthorizedFailure.Add(1)
	}
}
