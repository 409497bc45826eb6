package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"tvbridge"
)

// Kind is which part of TradingView's API an endpoint belongs to; it
// decides which schemes' tokens it accepts.
type Kind int

const (
	// Data is /symbol_info, /groups, /history and /streaming: PasswordBearer
	// or ServerOAuth2Bearer (JWT-bearer) tokens, or none when DataPublic.
	Data Kind = iota + 1
	// Trading is /accounts..., /config, /logout, /permissions and the rest:
	// PasswordBearer or OAuth2Bearer (authorization code) tokens.
	Trading
)

func (k Kind) accepts(scheme string) bool {
	switch k {
	case Data:
		return scheme == SchemePassword || scheme == SchemeJWT
	case Trading:
		return scheme == SchemePassword || scheme == SchemeOAuth2
	}
	return false
}

// Errors of the Authorization header; their text reaches the client.
var (
	errNoToken        = errors.New("authorization required: send Authorization: Bearer <token>")
	errMalformedToken = errors.New("malformed Authorization header: want Bearer and a token from /authorize or /oauth/token")
	errWrongKind      = errors.New("token not valid for this endpoint")
)

// bearerToken extracts the token of an Authorization: Bearer header.
func bearerToken(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", errNoToken
	case len(values) > 1:
		return "", errMalformedToken
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errMalformedToken
	}
	tok = strings.TrimLeft(tok, " ")
	if !validTokenSyntax(tok) {
		return "", errMalformedToken
	}
	return tok, nil
}

// validTokenSyntax reports whether s looks like a token this server issues,
// so junk never reaches the database.
func validTokenSyntax(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Protect guards next: a request without a valid token of a scheme kind
// accepts gets HTTP 401 and {"s":"error","errmsg":...}; a valid one reaches
// next with the token's user in its context (tvbridge.PrincipalFrom). The
// context next gets is cancelled when the token is revoked, and, with
// EndStreamsOnExpiry, when it expires or is replaced after a refresh: a
// /streaming handler that stops with its context then ends the stream.
func (s *Service) Protect(kind Kind, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kind == Data && s.cfg.DataPublic {
			ctx := tvbridge.WithPrincipal(r.Context(), tvbridge.Principal{Scheme: SchemeNone})
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		tok, err := bearerToken(r.Header)
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		ctx, g, stop, err := s.authenticate(r.Context(), tok, kind)
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		defer stop()
		p := tvbridge.Principal{User: g.Family.User, Groups: g.Groups, Scheme: g.Family.Scheme}
		ctx = context.WithValue(tvbridge.WithPrincipal(ctx, p), grantKey{}, g)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// grantKey carries the grantInfo of a request's token to the auth
// endpoints behind Protect (/logout revokes its family).
type grantKey struct{}

// authenticate validates tok and returns the request context to use,
// watched for the token's revocation (and expiry), with its stop function.
func (s *Service) authenticate(parent context.Context, tok string, kind Kind) (context.Context, grantInfo, func(), error) {
	gen := s.watch.generation()
	g, err := s.checkToken(tok, kind)
	if err != nil {
		return nil, g, nil, err
	}
	ctx, stop := s.watchRequest(parent, g)
	// A revocation that landed between the check and the watch did not see
	// this request: check once more.
	if s.watch.generation() != gen {
		if g, err = s.checkToken(tok, kind); err != nil {
			stop()
			return nil, g, nil, err
		}
	}
	return ctx, g, stop, nil
}

// checkToken validates tok for kind and records the first use of a
// refreshed token, which retires the tokens it replaced.
func (s *Service) checkToken(tok string, kind Kind) (grantInfo, error) {
	g, err := s.store.checkAccess(tok, s.cfg.Clock.Now())
	if err != nil {
		return g, err
	}
	if !kind.accepts(g.Family.Scheme) {
		return g, errWrongKind
	}
	if g.Seq > g.Family.MinSeq {
		changed, err := s.store.retireBefore(g.FamilyID, g.Seq)
		if err != nil {
			return g, err
		}
		if changed && s.cfg.EndStreamsOnExpiry {
			s.watch.cancel(func(w *watch) bool { return w.family == g.FamilyID && w.seq < g.Seq }, errRetiredToken)
		}
	}
	return g, nil
}

func (s *Service) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	s.stats.unauthorized(err)
	msg := err.Error()
	challenge := `Bearer realm="tvbridge"`
	switch {
	case errors.Is(err, errNoToken):
	case errors.Is(err, errUnknownToken), errors.Is(err, errExpiredToken), errors.Is(err, errRetiredToken),
		errors.Is(err, errMalformedToken), errors.Is(err, errWrongKind):
		challenge += `, error="invalid_token"`
	default: // the database failed: still refuse, but do not blame the token
		s.log.Error("auth: checking a token failed", "path", r.URL.Path, "err", err)
		msg = "authorization temporarily unavailable; please retry"
	}
	s.log.Debug("auth: request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", msg)
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, http.StatusUnauthorized, errorBody(msg))
}

// watchers are the requests in flight, by token family, so that revoking a
// family cancels their contexts.
type watchers struct {
	mu  sync.Mutex
	m   map[*watch]struct{}
	gen uint64 // counts cancel calls
}

type watch struct {
	family string
	seq    uint64
	cancel context.CancelCauseFunc
}

func (ws *watchers) generation() uint64 {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.gen
}

func (ws *watchers) add(w *watch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.m[w] = struct{}{}
}

func (ws *watchers) remove(w *watch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.m, w)
}

// cancel ends the requests match selects with cause.
func (ws *watchers) cancel(match func(*watch) bool, cause error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.gen++
	for w := range ws.m {
		if match(w) {
			w.cancel(cause)
		}
	}
}

// revokeFamilies ends the requests of the given families.
func (ws *watchers) revokeFamilies(ids ...string) {
	if len(ids) == 0 {
		return
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	ws.cancel(func(w *watch) bool { return set[w.family] }, errUnknownToken)
}

// watchRequest returns a context that ends with parent, on revocation of
// g's family and, with EndStreamsOnExpiry, when g's token expires.
func (s *Service) watchRequest(parent context.Context, g grantInfo) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watch{family: g.FamilyID, seq: g.Seq, cancel: cancel}
	s.watch.add(w)
	if s.cfg.EndStreamsOnExpiry {
		t := s.cfg.Clock.NewTimer(g.Expires.Sub(s.cfg.Clock.Now()))
		go func() {
			defer t.Stop()
			select {
			case <-t.C():
				cancel(errExpiredToken)
			case <-ctx.Done():
			}
		}()
	}
	return ctx, func() {
		s.watch.remove(w)
		cancel(context.Canceled)
	}
}
