package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
		rc, err := s.authenticate(r.Context(), tok, kind)
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		defer s.unwatch(rc)
		next.ServeHTTP(w, r.WithContext(rc))
	})
}

// grantKey carries the *Grant of a request's token (never modified)
// to the auth endpoints behind Protect (/logout revokes its family).
type grantKey struct{}

// requestCtx is the context Protect hands on: the request's context, also
// ended on the token's revocation (and expiry, if configured) and when the
// request ends, carrying the token's grant (grantKey) and its user
// (tvbridge.PrincipalFrom). One allocation holds them and the request's
// watch.
//
// Its cancelable part (context.WithCancelCause of the request's context)
// is made only when needed: when something waits for it (Done, a derived
// context) or it must end early (a revocation). Until then it is in every
// way the request's context, which is what the cancelable part would be;
// most polled reads never need it, and making it cost several allocations
// and the parent context's lock. Once the request has ended, it is made
// already cancelled, as before.
type requestCtx struct {
	parent context.Context
	w      watch
	grant  *Grant

	mu    sync.Mutex
	ended atomic.Bool // finish has run; set under mu
	inner atomic.Pointer[innerCtx]
}

type innerCtx struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// made returns the cancelable part, making it on first use.
func (c *requestCtx) made() *innerCtx {
	if in := c.inner.Load(); in != nil {
		return in
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.inner.Load(); in != nil {
		return in
	}
	ctx, cancel := context.WithCancelCause(c.parent)
	in := &innerCtx{ctx: ctx, cancel: cancel}
	if c.ended.Load() {
		cancel(context.Canceled)
	}
	c.inner.Store(in)
	return in
}

// current is the context requestCtx is now: the cancelable part once made
// (or due, after the request ended), else the request's context.
func (c *requestCtx) current() context.Context {
	if in := c.inner.Load(); in != nil {
		return in.ctx
	}
	if c.ended.Load() {
		return c.made().ctx
	}
	return c.parent
}

func (c *requestCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *requestCtx) Done() <-chan struct{}       { return c.made().ctx.Done() }
func (c *requestCtx) Err() error                  { return c.current().Err() }

func (c *requestCtx) Value(key any) any {
	if _, ok := key.(grantKey); ok {
		return c.grant
	}
	if v := c.grant.principal.Value(key); v != nil {
		return v
	}
	return c.current().Value(key)
}

// String names the context in debug output.
func (c *requestCtx) String() string { return "auth.requestCtx" }

// revoke ends the request's context with cause.
func (c *requestCtx) revoke(cause error) { c.made().cancel(cause) }

// finish ends the request's context at the end of the request.
func (c *requestCtx) finish() {
	c.mu.Lock()
	c.ended.Store(true)
	in := c.inner.Load()
	c.mu.Unlock()
	if in != nil {
		in.cancel(context.Canceled)
	}
}

// authenticate validates tok and returns the request context to use,
// watched for the token's revocation (and expiry); the caller ends the
// watch with unwatch.
func (s *Service) authenticate(parent context.Context, tok string, kind Kind) (*requestCtx, error) {
	gen := s.watch.generation()
	g, err := s.checkToken(tok, kind)
	if err != nil {
		return nil, err
	}
	rc := s.watchRequest(parent, g)
	// A revocation that landed between the check and the watch did not see
	// this request: check once more.
	if s.watch.generation() != gen {
		if g, err = s.checkToken(tok, kind); err != nil {
			s.unwatch(rc)
			return nil, err
		}
		rc.grant = g
	}
	return rc, nil
}

// checkToken validates tok for kind and records the first use of a
// refreshed token, which retires the tokens it replaced. The grant it
// returns may be shared: it is never modified.
func (s *Service) checkToken(tok string, kind Kind) (*Grant, error) {
	g, err := s.store.CheckAccess(tok, s.cfg.Clock.Now())
	if err != nil {
		return g, err
	}
	if !kind.accepts(g.Family.Scheme) {
		return g, errWrongKind
	}
	if g.Seq > g.Family.MinSeq {
		changed, err := s.store.RetireBefore(g.FamilyID, g.Seq)
		if err != nil {
			return g, err
		}
		if changed && s.cfg.EndStreamsOnExpiry {
			s.watch.cancel(func(w *watch) bool { return w.family == g.FamilyID && w.seq < g.Seq }, ErrRetiredToken)
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
	case errors.Is(err, ErrUnknownToken), errors.Is(err, ErrExpiredToken), errors.Is(err, ErrRetiredToken),
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
// family cancels their contexts. Every request adds and removes itself, so
// the set is sharded: one lock for all was the most contended lock of a
// busy server.
type watchers struct {
	gen    atomic.Uint64 // counts cancel calls
	next   atomic.Uint32 // spreads watches over the shards
	shards [watchShards]watchShard
}

const watchShards = 16

type watchShard struct {
	mu sync.Mutex
	m  map[*watch]struct{}
	_  [64]byte // one cache line each
}

type watch struct {
	family string
	seq    uint64
	shard  uint32
	ctx    *requestCtx
}

func (ws *watchers) generation() uint64 { return ws.gen.Load() }

func (ws *watchers) add(w *watch) {
	w.shard = ws.next.Add(1) % watchShards
	sh := &ws.shards[w.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = map[*watch]struct{}{}
	}
	sh.m[w] = struct{}{}
}

func (ws *watchers) remove(w *watch) {
	sh := &ws.shards[w.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.m, w)
}

// cancel ends the requests match selects with cause. The generation moves
// first: a request added to a shard after cancel has passed it sees the
// new generation and checks its token again (authenticate).
func (ws *watchers) cancel(match func(*watch) bool, cause error) {
	ws.gen.Add(1)
	for i := range ws.shards {
		sh := &ws.shards[i]
		sh.mu.Lock()
		for w := range sh.m {
			if match(w) {
				w.ctx.revoke(cause)
			}
		}
		sh.mu.Unlock()
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
	ws.cancel(func(w *watch) bool { return set[w.family] }, ErrUnknownToken)
}

// watchRequest returns a context that ends with parent, on revocation of
// g's family and, with EndStreamsOnExpiry, when g's token expires, and its
// watch for unwatch.
func (s *Service) watchRequest(parent context.Context, g *Grant) *requestCtx {
	rc := &requestCtx{parent: parent, grant: g, w: watch{family: g.FamilyID, seq: g.Seq}}
	rc.w.ctx = rc
	s.watch.add(&rc.w)
	if s.cfg.EndStreamsOnExpiry {
		in := rc.made()
		t := s.cfg.Clock.NewTimer(g.Expires.Sub(s.cfg.Clock.Now()))
		go func() {
			defer t.Stop()
			select {
			case <-t.C():
				in.cancel(ErrExpiredToken)
			case <-in.ctx.Done():
			}
		}()
	}
	return rc
}

// unwatch ends a request's watch and its context.
func (s *Service) unwatch(rc *requestCtx) {
	s.watch.remove(&rc.w)
	rc.finish()
}
