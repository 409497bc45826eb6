package postgres

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/auth"
	"tvbridge/clock"
)

// The auth conformance tests run one table of cases against both auth
// backends: bbolt (auth.Store in a temporary dir) and PostgreSQL
// (AuthStore on a fresh schema). The cluster tests then open two handles
// on one schema, as two nodes would.

var authKDF = auth.KDF{Memory: 64, Time: 1, Threads: 1} // cheap; same format and code path

var authT0 = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)

const (
	testSecret   = "code-client-secret-0123456789abcdef"
	testRedirect = "https://www.tradingview.com/oauth/callback?env=prod"
)

type authBackend struct {
	name  string
	open  func(t *testing.T) auth.Backend
	fails func(t *testing.T) auth.FailureStore
}

func authBackends() []authBackend {
	return []authBackend{
		{"bbolt", func(t *testing.T) auth.Backend {
			st, err := auth.OpenStore(filepath.Join(t.TempDir(), auth.DBFile),
				auth.StoreOptions{KDF: authKDF, NoSync: true, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}, func(*testing.T) auth.FailureStore { return auth.NewMemoryFailures() }},
		{"postgres", func(t *testing.T) auth.Backend {
			db, _ := openTestDB(t)
			return db.Auth(AuthOptions{KDF: authKDF})
		}, func(t *testing.T) auth.FailureStore {
			db, _ := openTestDB(t)
			return db.LoginFailures()
		}},
	}
}

// forBackends runs fn as a subtest against each backend.
func forBackends(t *testing.T, fn func(t *testing.T, b auth.Backend)) {
	for _, be := range authBackends() {
		t.Run(be.name, func(t *testing.T) { fn(t, be.open(t)) })
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

// wantGrantErr checks an OAuth error's code and a word of its description.
func wantGrantErr(t *testing.T, err error, code, desc string) {
	t.Helper()
	var ge *auth.GrantError
	if !errors.As(err, &ge) || ge.Code != code || !strings.Contains(ge.Description, desc) {
		t.Fatalf("error %v, want %s (%s)", err, code, desc)
	}
}

func codeClient(id string) auth.Client {
	return auth.Client{ID: id, Kind: auth.CodeClient, RedirectURIs: []string{testRedirect}}
}

func oauthLT() auth.Lifetimes {
	return auth.Lifetimes{Access: 20 * time.Minute, Refresh: 24 * time.Hour}
}

// seed adds users alice (groups) and bob (all groups) and a code client.
func seed(t *testing.T, b auth.Backend) {
	t.Helper()
	must(t, b.AddUser("Alice", []byte("alice-password"), []string{"tv_stocks"}))
	must(t, b.AddUser("bob", []byte("bob-password"), nil))
	must(t, b.AddClient(codeClient("tv-prod"), []byte(testSecret)))
}

func TestAuthUsers(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		wantErr(t, b.AddUser("ALICE", []byte("whatever-pw"), nil), auth.ErrExists)
		wantErr(t, b.AddUser("bad login!", []byte("whatever-pw"), nil), auth.ErrInvalid)
		wantErr(t, b.AddUser("carol", []byte("short"), nil), auth.ErrInvalid)
		wantErr(t, b.AddUser("carol", []byte("carol-password"), []string{"Bad"}), auth.ErrInvalid)
		must(t, b.AddUser("carol", []byte("carol-password"), []string{}))

		users, err := b.Users()
		must(t, err)
		var logins []string
		for _, u := range users {
			logins = append(logins, u.Login)
			if u.Created.IsZero() || u.Created.Location() != time.UTC {
				t.Errorf("%s created %v", u.Login, u.Created)
			}
		}
		if !slices.Equal(logins, []string{"alice", "bob", "carol"}) {
			t.Fatalf("users %v", logins)
		}
		// nil (all groups) and empty (none) stay apart.
		if !slices.Equal(users[0].Groups, []string{"tv_stocks"}) || users[1].Groups != nil ||
			users[2].Groups == nil || len(users[2].Groups) != 0 {
			t.Fatalf("groups %#v %#v %#v", users[0].Groups, users[1].Groups, users[2].Groups)
		}

		hash, err := b.PasswordHash("alice")
		must(t, err)
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(hash, "alice-password") {
			t.Fatalf("stored hash %q", hash)
		}
		if h, err := b.PasswordHash("nobody"); err != nil || h != "" {
			t.Fatalf("unknown user: %q %v", h, err)
		}
		must(t, b.SetPassword("alice", []byte("alice-new-password")))
		if h2, _ := b.PasswordHash("alice"); h2 == hash || h2 == "" {
			t.Fatal("SetPassword kept the hash")
		}
		wantErr(t, b.SetPassword("nobody", []byte("nobody-password")), auth.ErrNotFound)
		wantErr(t, b.SetPassword("alice", []byte("short")), auth.ErrInvalid)
		must(t, b.SetGroups("Alice", nil))
		wantErr(t, b.SetGroups("nobody", nil), auth.ErrNotFound)
		must(t, b.RemoveUser("carol"))
		wantErr(t, b.RemoveUser("carol"), auth.ErrNotFound)
		users, _ = b.Users()
		if len(users) != 2 || users[0].Groups != nil {
			t.Fatalf("after changes: %+v", users)
		}
	})
}

func TestAuthClients(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		wantErr(t, b.AddClient(codeClient("tv-prod"), []byte(testSecret)), auth.ErrExists)
		wantErr(t, b.AddClient(codeClient("tv-short"), []byte("short")), auth.ErrInvalid)
		wantErr(t, b.AddClient(auth.Client{ID: "x", Kind: auth.CodeClient}, []byte(testSecret)), auth.ErrInvalid)
		c2 := codeClient("TV-Z")
		c2.LogoutReturnTo = []string{"https://www.tradingview.com/trading/logout-redirect/"}
		must(t, b.AddClient(c2, []byte(testSecret+"2")))

		list, err := b.Clients()
		must(t, err)
		if len(list) != 2 || list[0].ID != "TV-Z" || list[1].ID != "tv-prod" || !slices.Equal(list[0].LogoutReturnTo, c2.LogoutReturnTo) {
			t.Fatalf("clients %+v", list) // bytewise order: upper case first
		}
		c, err := b.LookupClient("tv-prod")
		must(t, err)
		if c == nil || c.Kind != auth.CodeClient || !slices.Equal(c.RedirectURIs, []string{testRedirect}) || c.Created.IsZero() {
			t.Fatalf("lookup %+v", c)
		}
		if len(c.SecretHash) != 64 || strings.Contains(c.SecretHash, testSecret) {
			t.Fatalf("secret stored as %q", c.SecretHash)
		}
		for _, id := range []string{"", "nope", strings.Repeat("x", 129)} {
			if c, err := b.LookupClient(id); c != nil || err != nil {
				t.Fatalf("lookup %q: %v %v", id, c, err)
			}
		}
		must(t, b.RemoveClient("TV-Z"))
		wantErr(t, b.RemoveClient("TV-Z"), auth.ErrNotFound)
	})
}

func TestAuthPasswordToken(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		now := authT0
		out, err := b.Issue(now, auth.Family{User: "alice", Scheme: auth.SchemePassword}, auth.Lifetimes{Access: 20 * time.Minute})
		must(t, err)
		if out.Refresh != "" || !out.AccessExp.Equal(now.Add(20*time.Minute)) || len(out.Access) != 43 || out.Family == "" {
			t.Fatalf("issued %+v", out)
		}
		g, err := b.CheckAccess(out.Access, now)
		must(t, err)
		if g.FamilyID != out.Family || g.Family.User != "alice" || g.Family.Scheme != auth.SchemePassword ||
			g.Seq != 0 || !g.Expires.Equal(out.AccessExp) || !slices.Equal(g.Groups, []string{"tv_stocks"}) {
			t.Fatalf("grant %+v", g)
		}
		_, err = b.CheckAccess(out.Access, now.Add(20*time.Minute))
		wantErr(t, err, auth.ErrExpiredToken)
		bad, _ := auth.NewToken()
		_, err = b.CheckAccess(bad, now)
		wantErr(t, err, auth.ErrUnknownToken)

		// A groups change shows in the next check.
		must(t, b.SetGroups("alice", []string{"tv_bonds"}))
		g, err = b.CheckAccess(out.Access, now.Add(time.Second))
		must(t, err)
		if !slices.Equal(g.Groups, []string{"tv_bonds"}) {
			t.Fatalf("groups after SetGroups: %v", g.Groups)
		}
		must(t, b.RevokeFamily(out.Family))
		_, err = b.CheckAccess(out.Access, now.Add(time.Second))
		wantErr(t, err, auth.ErrUnknownToken)
		must(t, b.RevokeFamily(out.Family)) // twice: no error
	})
}

func TestAuthRefreshRotation(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		now := authT0
		f := auth.Family{User: "bob", Client: "tv-prod", Scheme: auth.SchemeOAuth2}
		first, err := b.Issue(now, f, oauthLT())
		must(t, err)
		if first.Refresh == "" || !first.RefreshExp.Equal(now.Add(24*time.Hour)) {
			t.Fatalf("issued %+v", first)
		}
		var seen *auth.ClientRecord
		okClient := func(c *auth.ClientRecord) error { seen = c; return nil }
		badClient := func(*auth.ClientRecord) error { return &auth.GrantError{Code: "invalid_client", Description: "no"} }

		_, _, err = b.Refresh(now, first.Refresh, badClient, oauthLT())
		wantGrantErr(t, err, "invalid_client", "no")
		_, _, err = b.Refresh(now, "unknown-token", okClient, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "unknown refresh token")

		now = now.Add(time.Minute)
		second, revoked, err := b.Refresh(now, first.Refresh, okClient, oauthLT())
		must(t, err)
		if revoked != "" || second.Family != first.Family || second.Refresh == "" || second.Access == first.Access || seen == nil || seen.ID != "tv-prod" {
			t.Fatalf("refresh %+v %q %+v", second, revoked, seen)
		}
		// The old access token works until the new one is first used.
		g1, err := b.CheckAccess(first.Access, now)
		must(t, err)
		g2, err := b.CheckAccess(second.Access, now)
		must(t, err)
		if g1.Seq != 0 || g2.Seq != 1 || g2.Family.MinSeq != 0 || g2.Family.NextSeq != 2 {
			t.Fatalf("seqs %d %d family %+v", g1.Seq, g2.Seq, g2.Family)
		}
		changed, err := b.RetireBefore(first.Family, 1)
		must(t, err)
		if !changed {
			t.Fatal("RetireBefore changed nothing")
		}
		if changed, _ := b.RetireBefore(first.Family, 1); changed {
			t.Fatal("RetireBefore twice changed")
		}
		_, err = b.CheckAccess(first.Access, now)
		wantErr(t, err, auth.ErrRetiredToken)
		if _, err := b.CheckAccess(second.Access, now); err != nil {
			t.Fatal(err)
		}

		// The rotated token presented again: the session is revoked.
		_, revoked, err = b.Refresh(now, first.Refresh, okClient, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "already used")
		if revoked != first.Family {
			t.Fatalf("revoked %q", revoked)
		}
		_, err = b.CheckAccess(second.Access, now)
		wantErr(t, err, auth.ErrUnknownToken)
		_, _, err = b.Refresh(now, second.Refresh, okClient, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "revoked")

		// Expiry.
		third, err := b.Issue(now, f, oauthLT())
		must(t, err)
		_, _, err = b.Refresh(now.Add(24*time.Hour), third.Refresh, okClient, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "expired")
	})
}

func TestAuthCodes(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		now := authT0
		rec := auth.AuthCode{Client: "tv-prod", User: "bob", Redirect: testRedirect, Session: strings.Repeat("ab", 32), Expires: now.Add(time.Minute).Unix()}
		code, err := b.CreateCode(rec)
		must(t, err)
		_, _, err = b.RedeemCode(now, code, "other", testRedirect, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "another client")
		_, _, err = b.RedeemCode(now, code, "tv-prod", "https://elsewhere.example/", oauthLT())
		wantGrantErr(t, err, "invalid_grant", "redirect_uri")
		_, _, err = b.RedeemCode(now.Add(time.Minute), code, "tv-prod", testRedirect, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "expired")
		_, _, err = b.RedeemCode(now, "nope", "tv-prod", testRedirect, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "unknown")

		out, revoked, err := b.RedeemCode(now, code, "tv-prod", testRedirect, oauthLT())
		must(t, err)
		g, err := b.CheckAccess(out.Access, now)
		must(t, err)
		if revoked != "" || out.Refresh == "" || g.Family.Scheme != auth.SchemeOAuth2 || g.Family.Session != rec.Session || g.Family.Client != "tv-prod" {
			t.Fatalf("redeemed %+v grant %+v", out, g)
		}
		_, revoked, err = b.RedeemCode(now, code, "tv-prod", testRedirect, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "already used")
		if revoked != out.Family {
			t.Fatalf("revoked %q, want %q", revoked, out.Family)
		}
		_, err = b.CheckAccess(out.Access, now)
		wantErr(t, err, auth.ErrUnknownToken)

		// A code for a user removed meanwhile.
		code, err = b.CreateCode(auth.AuthCode{Client: "tv-prod", User: "alice", Redirect: testRedirect, Expires: now.Add(time.Minute).Unix()})
		must(t, err)
		must(t, b.RemoveUser("alice"))
		_, _, err = b.RedeemCode(now, code, "tv-prod", testRedirect, oauthLT())
		wantGrantErr(t, err, "invalid_grant", "no longer exists")
	})
}

func TestAuthAssertions(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		now := authT0
		key := auth.TokenKey("assertion signing input")
		f := auth.Family{User: "datauser", Client: "tv-prod", Scheme: auth.SchemeJWT}
		lt := auth.Lifetimes{Access: 20 * time.Minute}
		out, err := b.RedeemAssertion(now, key, now.Add(time.Hour), f, lt)
		must(t, err)
		// A JWT user needs no user record; with none, every group.
		g, err := b.CheckAccess(out.Access, now)
		must(t, err)
		if g.Family.User != "datauser" || g.Groups != nil || out.Refresh != "" {
			t.Fatalf("jwt grant %+v", g)
		}
		_, err = b.RedeemAssertion(now.Add(59*time.Minute), key, now.Add(2*time.Hour), f, lt)
		wantErr(t, err, auth.ErrReplay)
		if _, err := b.RedeemAssertion(now.Add(time.Hour), key, now.Add(2*time.Hour), f, lt); err != nil {
			t.Fatalf("after its exp, the key is forgotten: %v", err)
		}
	})
}

func TestAuthRevocations(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		now := authT0
		session := strings.Repeat("cd", 32)
		issue := func(f auth.Family) auth.Issued {
			t.Helper()
			out, err := b.Issue(now, f, oauthLT())
			must(t, err)
			return out
		}
		valid := func(out auth.Issued) bool {
			_, err := b.CheckAccess(out.Access, now)
			return err == nil
		}
		s1 := issue(auth.Family{User: "bob", Client: "tv-prod", Scheme: auth.SchemeOAuth2, Session: session})
		s2 := issue(auth.Family{User: "alice", Client: "tv-prod", Scheme: auth.SchemeOAuth2, Session: session})
		other := issue(auth.Family{User: "bob", Client: "tv-prod", Scheme: auth.SchemeOAuth2, Session: strings.Repeat("ef", 32)})
		ids, err := b.RevokeSession(session)
		must(t, err)
		slices.Sort(ids)
		want := []string{s1.Family, s2.Family}
		slices.Sort(want)
		if !slices.Equal(ids, want) || valid(s1) || valid(s2) || !valid(other) {
			t.Fatalf("RevokeSession: %v, want %v", ids, want)
		}

		pw := issue(auth.Family{User: "bob", Scheme: auth.SchemePassword})
		jwt := issue(auth.Family{User: "bob", Client: "tv-prod", Scheme: auth.SchemeJWT})
		must(t, b.SetPassword("bob", []byte("bob-new-password")))
		if valid(pw) || valid(other) || !valid(jwt) {
			t.Fatal("SetPassword: password and OAuth tokens revoked, JWT kept")
		}
		pw = issue(auth.Family{User: "bob", Scheme: auth.SchemePassword})
		must(t, b.RemoveUser("bob"))
		if valid(pw) || !valid(jwt) {
			t.Fatal("RemoveUser: password token revoked, JWT kept")
		}
		must(t, b.RemoveClient("tv-prod"))
		if valid(jwt) {
			t.Fatal("RemoveClient: its tokens revoked")
		}
	})
}

func TestAuthSweep(t *testing.T) {
	forBackends(t, func(t *testing.T, b auth.Backend) {
		seed(t, b)
		now := authT0
		pw, err := b.Issue(now, auth.Family{User: "alice", Scheme: auth.SchemePassword}, auth.Lifetimes{Access: time.Minute})
		must(t, err)
		f := auth.Family{User: "bob", Client: "tv-prod", Scheme: auth.SchemeOAuth2}
		oa, err := b.Issue(now, f, auth.Lifetimes{Access: time.Minute, Refresh: time.Hour})
		must(t, err)
		ok := func(*auth.ClientRecord) error { return nil }
		oa2, _, err := b.Refresh(now, oa.Refresh, ok, auth.Lifetimes{Access: time.Minute, Refresh: time.Hour})
		must(t, err)
		_, err = b.RetireBefore(oa.Family, 1)
		must(t, err)
		_, err = b.CreateCode(auth.AuthCode{Client: "tv-prod", User: "bob", Redirect: testRedirect, Expires: now.Add(time.Minute).Unix()})
		must(t, err)
		_, err = b.RedeemAssertion(now, auth.TokenKey("a"), now.Add(time.Minute), auth.Family{User: "x", Client: "tv-prod", Scheme: auth.SchemeJWT}, auth.Lifetimes{Access: time.Hour})
		must(t, err)

		// Now: the retired access token (seq 0 of oa) goes.
		n, err := b.Sweep(now)
		must(t, err)
		if n != 1 {
			t.Fatalf("sweep at once removed %d, want 1 (the retired token)", n)
		}
		// After a minute: pw's access and family, oa2's access (its family
		// lives on through the unused refresh token), the code, the
		// assertion key. The JWT token lives an hour.
		n, err = b.Sweep(now.Add(time.Minute))
		must(t, err)
		if n != 5 {
			t.Fatalf("sweep after a minute removed %d, want 5", n)
		}
		if _, err := b.CheckAccess(pw.Access, now); !errors.Is(err, auth.ErrUnknownToken) {
			t.Fatalf("swept token: %v", err)
		}
		// The session still refreshes.
		if _, _, err := b.Refresh(now.Add(2*time.Minute), oa2.Refresh, ok, auth.Lifetimes{Access: time.Minute, Refresh: time.Hour}); err != nil {
			t.Fatal(err)
		}
		// After a day: everything.
		n, err = b.Sweep(now.Add(24 * time.Hour))
		must(t, err)
		if n != 7 { // 2 access (oa's third, jwt), 3 refresh (all of oa's), 2 families
			t.Fatalf("sweep after a day removed %d, want 7", n)
		}
		if n, _ := b.Sweep(now.Add(24 * time.Hour)); n != 0 {
			t.Fatalf("second sweep removed %d", n)
		}
	})
}

func TestAuthFailures(t *testing.T) {
	for _, be := range authBackends() {
		t.Run(be.name, func(t *testing.T) {
			fs := be.fails(t)
			w := 10 * time.Minute
			now := authT0
			count := func(scope, key string, at time.Time) (int, time.Duration) {
				t.Helper()
				n, left, err := fs.Failures(scope, key, at, w)
				must(t, err)
				return n, left
			}
			if n, left := count(auth.ScopeLogin, "k", now); n != 0 || left != 0 {
				t.Fatalf("none yet: %d %v", n, left)
			}
			for i := 0; i < 3; i++ {
				must(t, fs.AddFailure(auth.ScopeLogin, "k", now.Add(time.Duration(i)*time.Minute), w))
			}
			if n, left := count(auth.ScopeLogin, "k", now.Add(3*time.Minute)); n != 3 || left != 7*time.Minute {
				t.Fatalf("after 3: %d %v", n, left)
			}
			if n, _ := count(auth.ScopeAddress, "k", now); n != 0 {
				t.Fatal("scopes are apart")
			}
			// The window ends 10 minutes after the first failure; the next
			// failure opens a new one.
			if n, _ := count(auth.ScopeLogin, "k", now.Add(w)); n != 0 {
				t.Fatalf("after the window: %d", n)
			}
			must(t, fs.AddFailure(auth.ScopeLogin, "k", now.Add(w), w))
			if n, left := count(auth.ScopeLogin, "k", now.Add(w)); n != 1 || left != w {
				t.Fatalf("new window: %d %v", n, left)
			}
			must(t, fs.ResetFailures(auth.ScopeLogin, "k"))
			if n, _ := count(auth.ScopeLogin, "k", now.Add(w)); n != 0 {
				t.Fatal("reset kept the count")
			}
			must(t, fs.AddFailure(auth.ScopeAddress, "a", now, w))
			must(t, fs.PruneFailures(now.Add(w), w))
			must(t, fs.AddFailure(auth.ScopeAddress, "a", now.Add(w-time.Second), w))
			if n, _ := count(auth.ScopeAddress, "a", now.Add(w-time.Second)); n != 1 {
				t.Fatalf("after prune: %d, want a new window", n)
			}
		})
	}
}

// ---- two nodes on one schema ----

// twoNodes opens two AuthStores on one fresh schema, each with its own
// pool: two nodes of a cluster.
func twoNodes(t *testing.T, opts AuthOptions) (a, b *AuthStore, dbA, dbB *DB) {
	t.Helper()
	dbA, url := openTestDB(t)
	dbB = openURL(t, url)
	opts.KDF = authKDF
	return dbA.Auth(opts), dbB.Auth(opts), dbA, dbB
}

func TestAuthClusterVisibility(t *testing.T) {
	a, b, _, _ := twoNodes(t, AuthOptions{CacheTTL: 2 * time.Second})
	seed(t, a)
	if h, err := b.PasswordHash("alice"); err != nil || h == "" {
		t.Fatalf("user added on A, on B: %q %v", h, err)
	}
	now := authT0
	out, err := a.Issue(now, auth.Family{User: "alice", Scheme: auth.SchemePassword}, auth.Lifetimes{Access: 20 * time.Minute})
	must(t, err)
	if _, err := b.CheckAccess(out.Access, now); err != nil {
		t.Fatalf("token issued on A, on B: %v", err)
	}
	// Revoked on A: A refuses at once; B, which cached the token, refuses
	// once its entry is CacheTTL old, never later.
	must(t, a.RevokeFamily(out.Family))
	if _, err := a.CheckAccess(out.Access, now); !errors.Is(err, auth.ErrUnknownToken) {
		t.Fatalf("A after revoking: %v", err)
	}
	if _, err := b.CheckAccess(out.Access, now.Add(2*time.Second-time.Nanosecond)); err != nil {
		t.Fatalf("B within the bound still answers from its cache (documented): %v", err)
	}
	if _, err := b.CheckAccess(out.Access, now.Add(2*time.Second)); !errors.Is(err, auth.ErrUnknownToken) {
		t.Fatalf("B at the bound: %v, want refused", err)
	}

	// Without a cache, B sees the revocation at once.
	a0, b0, _, _ := twoNodes(t, AuthOptions{CacheTTL: -1})
	seed(t, a0)
	out, err = a0.Issue(now, auth.Family{User: "bob", Scheme: auth.SchemePassword}, auth.Lifetimes{Access: 20 * time.Minute})
	must(t, err)
	if _, err := b0.CheckAccess(out.Access, now); err != nil {
		t.Fatal(err)
	}
	must(t, a0.RemoveUser("bob"))
	if _, err := b0.CheckAccess(out.Access, now); !errors.Is(err, auth.ErrUnknownToken) {
		t.Fatalf("no cache, user removed on A, on B: %v", err)
	}
}

// TestAuthClusterRefreshRace presents one refresh token on two nodes at
// once, many times: exactly one rotation succeeds each time.
func TestAuthClusterRefreshRace(t *testing.T) {
	a, b, _, _ := twoNodes(t, AuthOptions{})
	seed(t, a)
	ok := func(*auth.ClientRecord) error { return nil }
	now := authT0
	for i := 0; i < 20; i++ {
		first, err := a.Issue(now, auth.Family{User: "bob", Client: "tv-prod", Scheme: auth.SchemeOAuth2}, oauthLT())
		must(t, err)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		outs := make([]auth.Issued, 2)
		for j, node := range []*AuthStore{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				outs[j], _, errs[j] = node.Refresh(now, first.Refresh, ok, oauthLT())
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for j, err := range errs {
			if err == nil {
				wins++
				continue
			}
			var ge *auth.GrantError
			if !errors.As(err, &ge) || ge.Code != "invalid_grant" {
				t.Fatalf("round %d node %d: %v", i, j, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d rotations succeeded (%v), want exactly 1", i, wins, errs)
		}
		// The loser presented a used token: as on one bbolt store, that
		// revokes the session on every node.
		for _, node := range []*AuthStore{a, b} {
			for _, out := range outs {
				if out.Access == "" {
					continue
				}
				if _, err := node.CheckAccess(out.Access, now); !errors.Is(err, auth.ErrUnknownToken) {
					t.Fatalf("round %d: the winner's token after the reuse: %v", i, err)
				}
			}
		}
	}
}

// TestAuthClusterCodeRace redeems one authorization code on two nodes at
// once: exactly one gets tokens.
func TestAuthClusterCodeRace(t *testing.T) {
	a, b, _, _ := twoNodes(t, AuthOptions{})
	seed(t, a)
	now := authT0
	for i := 0; i < 10; i++ {
		code, err := a.CreateCode(auth.AuthCode{Client: "tv-prod", User: "bob", Redirect: testRedirect, Expires: now.Add(time.Minute).Unix()})
		must(t, err)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for j, node := range []*AuthStore{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[j] = node.RedeemCode(now, code, "tv-prod", testRedirect, oauthLT())
			}()
		}
		close(start)
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: %v", i, errs)
		}
	}
}

// TestAuthClusterFailures counts failures from two nodes at once.
func TestAuthClusterFailures(t *testing.T) {
	_, _, dbA, dbB := twoNodes(t, AuthOptions{})
	nodes := []*FailureStore{dbA.LoginFailures(), dbB.LoginFailures()}
	const perNode = 15
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fs := range nodes {
		for i := 0; i < perNode; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := fs.AddFailure(auth.ScopeAddress, "10.0.0.1", authT0, 15*time.Minute); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	for j, fs := range nodes {
		n, _, err := fs.Failures(auth.ScopeAddress, "10.0.0.1", authT0.Add(time.Second), 15*time.Minute)
		must(t, err)
		if n != 2*perNode {
			t.Fatalf("node %d counts %d, want %d", j, n, 2*perNode)
		}
	}
}

// TestAuthClusterLoginLimit runs two auth Services (nodes) on one schema:
// failed logins on either count toward one limit, enforced on both.
func TestAuthClusterLoginLimit(t *testing.T) {
	a, b, dbA, dbB := twoNodes(t, AuthOptions{})
	seed(t, a)
	clk := clock.NewFake(authT0)
	node := func(st *AuthStore, db *DB) http.Handler {
		svc, err := auth.New(auth.Config{Store: st, Failures: db.LoginFailures(), Clock: clk, Logger: quietLogger(),
			MaxFailuresPerLogin: 3, KDF: authKDF})
		must(t, err)
		t.Cleanup(func() { _ = svc.Close() })
		mux := http.NewServeMux()
		svc.Register(mux)
		return mux
	}
	nodes := []http.Handler{node(a, dbA), node(b, dbB)}
	login := func(n int, password string) string {
		form := url.Values{"login": {"alice"}, "password": {password}}
		r := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		nodes[n].ServeHTTP(w, r)
		return w.Body.String()
	}
	if body := login(1, "alice-password"); !strings.Contains(body, `"s":"ok"`) {
		t.Fatalf("login on B: %s", body)
	}
	for i, n := range []int{0, 1, 0} {
		if body := login(n, "wrong-password"); !strings.Contains(body, "error") || strings.Contains(body, "Too many") {
			t.Fatalf("failure %d: %s", i, body)
		}
	}
	for n := range nodes {
		if body := login(n, "alice-password"); !strings.Contains(body, "Too many") {
			t.Fatalf("node %d after 3 failures across nodes: %s", n, body)
		}
	}
	clk.Advance(15 * time.Minute)
	if body := login(0, "alice-password"); !strings.Contains(body, `"s":"ok"`) {
		t.Fatalf("after the window: %s", body)
	}
}

// TestAuthClusterRevocationEndsStreams: a token family revoked on node A
// ends a long request (a /streaming connection) that node B serves with
// it, at B's next revocation poll, although B learnt nothing of the
// revocation itself; B's other requests go on.
func TestAuthClusterRevocationEndsStreams(t *testing.T) {
	a, b, _, _ := twoNodes(t, AuthOptions{})
	seed(t, a)
	clk := clock.NewFake(authT0)
	svcB, err := auth.New(auth.Config{Store: b, Clock: clk, Logger: quietLogger(), KDF: authKDF, RevocationPoll: time.Second})
	must(t, err)
	t.Cleanup(func() { _ = svcB.Close() })
	type ended struct {
		user  string
		cause error
	}
	started, done := make(chan string, 2), make(chan ended, 2)
	stream := svcB.Protect(auth.Data, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("u")
		started <- user
		<-r.Context().Done()
		done <- ended{user, context.Cause(r.Context())}
	}))
	issue := func(user string) string {
		out, err := a.Issue(clk.Now(), auth.Family{User: user, Scheme: auth.SchemePassword}, auth.Lifetimes{Access: 20 * time.Minute})
		must(t, err)
		return out.Access
	}
	open := func(user, token string) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		r := httptest.NewRequest(http.MethodGet, "/streaming?u="+user, nil).WithContext(ctx)
		r.Header.Set("Authorization", "Bearer "+token)
		go stream.ServeHTTP(httptest.NewRecorder(), r)
		if got := <-started; got != user {
			t.Fatalf("started %s, want %s", got, user)
		}
		return cancel
	}
	aliceTok, bobTok := issue("alice"), issue("bob")
	defer open("bob", bobTok)()
	defer open("alice", aliceTok)()
	fam, err := a.CheckAccess(aliceTok, clk.Now())
	must(t, err)
	must(t, a.RevokeFamily(fam.FamilyID)) // on A: B is not told
	clk.Advance(time.Second)              // B's poll
	select {
	case e := <-done:
		if e.user != "alice" || !errors.Is(e.cause, auth.ErrUnknownToken) {
			t.Fatalf("ended %s with %v, want alice with ErrUnknownToken", e.user, e.cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice's stream on B still open 10 s after B's poll")
	}
	select {
	case e := <-done:
		t.Fatalf("%s's stream ended too: %v", e.user, e.cause)
	default:
	}
}
