package tvbridge

import "context"

// Principal is the authenticated caller of a request: the user that
// TradingView acts for, as the auth layer established it. Handlers read it
// with PrincipalFrom and never trust a user id from the request itself.
type Principal struct {
	// User is the stable user id (the login name for password users, the
	// configured user for server-to-server tokens).
	User string
	// Groups lists the /groups ids the user may read; nil means all groups.
	Groups []string
	// Scheme names how the caller authenticated, e.g. "password",
	// "oauth2", "jwt-bearer" or "none" when authentication is off.
	Scheme string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal the auth layer stored in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
