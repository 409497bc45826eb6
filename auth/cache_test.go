package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
)

// cached reports whether tok's check is in the store's cache.
func (e *env) cached(tok string) bool {
	return e.store.access.get(sha256.Sum256([]byte(tok))) != nil
}

// warm uses tok until its check is cached.
func (e *env) warm(path, tok string) {
	e.t.Helper()
	e.wantStatus(path, tok, 200)
	if !e.cached(tok) {
		e.t.Fatalf("token not cached after a successful request")
	}
}

// Every way a token stops working takes effect on the next request even
// when the token's check is cached, and leaves other tokens cached.
func TestCachedTokenRevocation(t *testing.T) {
	t.Run("logout", func(t *testing.T) {
		e := newEnv(t, nil)
		tok, other := e.login("alice", alicePassword), e.login("bob", bobPassword)
		e.warm("/accounts", tok)
		e.warm("/accounts", other)
		if resp, body := e.post("/logout", nil, "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		if body := e.wantStatus("/accounts", tok, 401); !strings.Contains(string(body), "unknown or revoked") {
			t.Errorf("after logout: %s", body)
		}
		if !e.cached(other) {
			t.Error("a logout forgot another family's token")
		}
		e.wantStatus("/accounts", other, 200)
	})
	t.Run("oauth logout", func(t *testing.T) {
		e := newEnv(t, nil)
		b := &browser{cookies: map[string]string{}}
		_, csrf := e.openLoginPage(b, authorizeQuery())
		tr := e.redeem(e.codeFrom(e.submitLogin(b, csrf, "alice", alicePassword)), redirectURI)
		e.warm("/accounts", tr.AccessToken)
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/logout?"+url.Values{"client_id": {"tv-prod"}, "returnTo": {returnTo}}.Encode(), nil)
		req.Header.Set("Cookie", b.header())
		if resp, _ := e.do(req); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		e.wantStatus("/accounts", tr.AccessToken, 401)
	})
	t.Run("password change, user and client removal", func(t *testing.T) {
		e := newEnv(t, nil)
		alice, bob := e.login("alice", alicePassword), e.login("bob", bobPassword)
		oauth := e.codeFlow("bob", bobPassword)
		for _, tok := range []string{alice, bob, oauth.AccessToken} {
			e.warm("/accounts", tok)
		}
		if err := e.store.SetPassword("alice", []byte("a-new-password")); err != nil {
			t.Fatal(err)
		}
		e.wantStatus("/accounts", alice, 401)
		e.warm("/accounts", bob)
		if err := e.store.RemoveClient("tv-prod"); err != nil {
			t.Fatal(err)
		}
		e.wantStatus("/accounts", oauth.AccessToken, 401)
		e.warm("/accounts", bob)
		if err := e.store.RemoveUser("bob"); err != nil {
			t.Fatal(err)
		}
		e.wantStatus("/accounts", bob, 401)
	})
	t.Run("groups", func(t *testing.T) {
		e := newEnv(t, nil)
		tok := e.login("alice", alicePassword)
		e.warm("/history", tok)
		if err := e.store.SetGroups("alice", []string{"tv_bonds"}); err != nil {
			t.Fatal(err)
		}
		if got := e.whoami("/history", tok); !slices.Equal(got.Groups, []string{"tv_bonds"}) {
			t.Errorf("groups after SetGroups: %v", got.Groups)
		}
	})
	t.Run("expiry and sweep", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.TokenLifetime = 15 * time.Minute })
		tok := e.login("alice", alicePassword)
		e.warm("/history", tok)
		e.clock.Advance(15*time.Minute - time.Second)
		e.wantStatus("/history", tok, 200)
		e.clock.Advance(time.Second)
		if body := e.wantStatus("/history", tok, 401); !strings.Contains(string(body), "expired") {
			t.Errorf("at expiry: %s", body)
		}
		if _, err := e.store.Sweep(e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if body := e.wantStatus("/history", tok, 401); !strings.Contains(string(body), "unknown") {
			t.Errorf("after the sweep: %s", body)
		}
	})
	t.Run("refresh retires, reuse revokes", func(t *testing.T) {
		e := newEnv(t, nil)
		first := e.codeFlow("alice", alicePassword)
		e.warm("/accounts", first.AccessToken)
		second := e.tokens(e.refresh(first.RefreshToken))
		e.warm("/accounts", first.AccessToken) // valid until the new one is used
		// The new token's first use retires the old one, forgetting the
		// family's checks; its next use is cached.
		e.wantStatus("/accounts", second.AccessToken, 200)
		e.warm("/accounts", second.AccessToken)
		if body := e.wantStatus("/accounts", first.AccessToken, 401); !strings.Contains(string(body), "replaced") {
			t.Errorf("old token: %s", body)
		}
		e.warm("/accounts", second.AccessToken)
		e.tokenError(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
			"client_secret": {codeSecret}}, 400, "invalid_grant")
		e.wantStatus("/accounts", second.AccessToken, 401)
	})
	t.Run("code reuse", func(t *testing.T) {
		e := newEnv(t, nil)
		b := &browser{cookies: map[string]string{}}
		_, csrf := e.openLoginPage(b, authorizeQuery())
		code := e.codeFrom(e.submitLogin(b, csrf, "alice", alicePassword))
		tr := e.redeem(code, redirectURI)
		e.warm("/accounts", tr.AccessToken)
		e.tokenError(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"client_id": {"tv-prod"}, "client_secret": {codeSecret}}, 400, "invalid_grant")
		e.wantStatus("/accounts", tr.AccessToken, 401)
	})
	t.Run("logins keep the cache", func(t *testing.T) {
		e := newEnv(t, nil)
		tok := e.login("alice", alicePassword)
		e.warm("/accounts", tok)
		e.login("bob", bobPassword)
		e.codeFlow("bob", bobPassword)
		e.jwtToken(e.assertion(nil, nil))
		if !e.cached(tok) {
			t.Error("a login forgot another token's check")
		}
	})
}

// A check racing a revocation never caches what the revocation removed:
// once RevokeFamily has returned, every check of the token fails.
func TestCachedTokenRevocationRace(t *testing.T) {
	e := newEnv(t, nil)
	for round := 0; round < 50; round++ {
		tok := e.login("alice", alicePassword)
		g, err := e.store.CheckAccess(tok, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		var revoked atomic.Bool
		var wrong atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := revoked.Load()
					if _, err := e.store.CheckAccess(tok, e.clock.Now()); err == nil && after {
						wrong.Add(1)
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		if err := e.store.RevokeFamily(g.FamilyID); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		time.Sleep(time.Millisecond)
		close(stop)
		wg.Wait()
		if n := wrong.Load(); n > 0 {
			t.Fatalf("round %d: %d checks passed after the revocation returned", round, n)
		}
		if _, err := e.store.CheckAccess(tok, e.clock.Now()); err == nil {
			t.Fatalf("round %d: revoked token passes", round)
		}
	}
}

func TestAccessCacheRefusesStalePutsAndStaysBounded(t *testing.T) {
	var c accessCache
	key := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}) }
	gen := c.generation()
	c.forget("f1")
	c.put(key(1), Grant{FamilyID: "f1"}, gen)
	if c.len() != 0 {
		t.Fatal("a check begun before a forget was cached")
	}
	gen = c.generation()
	for i := 0; i < maxCachedTokens+10; i++ {
		c.put(key(i), Grant{FamilyID: "f"}, gen)
	}
	if n := c.len(); n > maxCachedTokens {
		t.Fatalf("%d entries", n)
	}
	c.put(key(1), Grant{FamilyID: "f1", Groups: make([]string, 1, 8)}, gen)
	if g := c.get(key(1)); cap(g.Groups) != 1 {
		t.Errorf("cached groups have room to append into: cap %d", cap(g.Groups))
	}
	c.forget("f1")
	if c.get(key(1)) != nil {
		t.Error("forget kept the family's entry")
	}
	if c.len() == 0 {
		t.Error("forget dropped other families' entries")
	}
	c.forgetAll()
	if c.len() != 0 {
		t.Error("forgetAll kept entries")
	}
}

// Cancelling a family reaches its requests in every shard, and only them;
// a removed watch is not cancelled.
func TestWatchersShards(t *testing.T) {
	var ws watchers
	type req struct {
		w   *watch
		ctx context.Context
	}
	var reqs []req
	for i := range 5 * watchShards {
		rc := &requestCtx{parent: context.Background(), grant: &Grant{principal: context.Background()}}
		rc.w = watch{family: []string{"a", "b"}[i%2], ctx: rc}
		ws.add(&rc.w)
		reqs = append(reqs, req{&rc.w, rc})
	}
	gone := reqs[0].w
	ws.remove(gone)
	gen := ws.generation()
	ws.revokeFamilies("a")
	if ws.generation() == gen {
		t.Error("cancel left the generation")
	}
	for i, r := range reqs {
		ended := context.Cause(r.ctx) != nil
		if want := r.w.family == "a" && r.w != gone; ended != want {
			t.Errorf("request %d of %s (shard %d): ended %v", i, r.w.family, r.w.shard, ended)
		}
		if ended && !errors.Is(context.Cause(r.ctx), ErrUnknownToken) {
			t.Errorf("request %d ended with %v", i, context.Cause(r.ctx))
		}
	}
}

// requestCtx answers the grant, the principal and the parent's values, and
// ends (with its cause, in contexts derived from it too) on revocation.
func TestRequestContext(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login("alice", alicePassword)
	type parentKey struct{}
	parent := context.WithValue(context.Background(), parentKey{}, "p")
	rc, err := e.svc.authenticate(parent, tok, Trading)
	if err != nil {
		t.Fatal(err)
	}
	defer e.svc.unwatch(rc)
	var ctx context.Context = rc
	if p, ok := tvbridge.PrincipalFrom(ctx); !ok || p.User != "alice" || p.Scheme != SchemePassword ||
		!slices.Equal(p.Groups, []string{"tv_stocks", "tv_gone"}) {
		t.Errorf("principal %+v %v", p, ok)
	}
	if g, ok := ctx.Value(grantKey{}).(*Grant); !ok || g.Family.User != "alice" {
		t.Errorf("grant %+v", ctx.Value(grantKey{}))
	}
	if ctx.Value(parentKey{}) != "p" || ctx.Value("nothing") != nil {
		t.Error("parent values lost")
	}
	child, cancel := context.WithCancel(context.WithValue(ctx, parentKey{}, "child"))
	defer cancel()
	if p, _ := tvbridge.PrincipalFrom(child); p.User != "alice" {
		t.Error("derived context lost the principal")
	}
	e.svc.watch.revokeFamilies(rc.grant.FamilyID)
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("derived context not ended by the revocation")
	}
	if !errors.Is(context.Cause(ctx), ErrUnknownToken) || !errors.Is(context.Cause(child), ErrUnknownToken) ||
		ctx.Err() != context.Canceled {
		t.Errorf("causes %v, %v; err %v", context.Cause(ctx), context.Cause(child), ctx.Err())
	}
}

// Before anything needs it, requestCtx is its parent; a revocation or the
// end of the request ends it with the right cause however far it is made,
// and a context made after the end is already ended.
func TestRequestContextLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login("alice", alicePassword)
	cases := []struct {
		name string
		use  func(context.Context) // what the handler did before the end
		end  func(*requestCtx)
		want error // cause
	}{
		{"unused, request ends", func(context.Context) {}, func(rc *requestCtx) { e.svc.unwatch(rc) }, context.Canceled},
		{"waited on, request ends", func(c context.Context) { _ = c.Done() }, func(rc *requestCtx) { e.svc.unwatch(rc) }, context.Canceled},
		{"unused, revoked", func(context.Context) {}, func(rc *requestCtx) { e.svc.watch.revokeFamilies(rc.grant.FamilyID) }, ErrUnknownToken},
		{"derived, revoked", func(c context.Context) { context.AfterFunc(c, func() {}) }, func(rc *requestCtx) { e.svc.watch.revokeFamilies(rc.grant.FamilyID) }, ErrUnknownToken},
	}
	for _, c := range cases {
		parent, cancelParent := context.WithCancel(context.Background())
		rc, err := e.svc.authenticate(parent, tok, Trading)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Err() != nil || context.Cause(rc) != nil {
			t.Fatalf("%s: ended at once: %v", c.name, rc.Err())
		}
		c.use(rc)
		c.end(rc)
		select {
		case <-rc.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not ended", c.name)
		}
		if !errors.Is(context.Cause(rc), c.want) || rc.Err() != context.Canceled {
			t.Errorf("%s: cause %v, err %v; want %v", c.name, context.Cause(rc), rc.Err(), c.want)
		}
		child, cancel := context.WithCancel(rc)
		if child.Err() == nil {
			t.Errorf("%s: a context derived after the end is not ended", c.name)
		}
		cancel()
		e.svc.unwatch(rc)
		cancelParent()
	}
	// The parent's end is the request context's end, made or not.
	for _, wait := range []bool{false, true} {
		parent, cancelParent := context.WithCancelCause(context.Background())
		rc, err := e.svc.authenticate(parent, tok, Trading)
		if err != nil {
			t.Fatal(err)
		}
		if wait {
			_ = rc.Done()
		}
		gone := errors.New("client went away")
		cancelParent(gone)
		<-rc.Done()
		if !errors.Is(context.Cause(rc), gone) {
			t.Errorf("made %v: cause %v", wait, context.Cause(rc))
		}
		e.svc.unwatch(rc)
	}
}
