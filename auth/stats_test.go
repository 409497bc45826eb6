package auth

import (
	"net/url"
	"testing"
	"time"
)

// Logins, issued tokens, revocations and 401s are counted by outcome.
func TestStats(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login("alice", alicePassword)
	for i := range 5 {
		e.post("/authorize", url.Values{"login": {"bob"}, "password": {"guess-" + string(rune('a'+i))}})
	}
	e.post("/authorize", url.Values{"login": {"bob"}, "password": {bobPassword}}) // locked out
	e.wantStatus("/accounts", "", 401)
	e.wantStatus("/accounts", "not-a-token", 401)
	if resp, _ := e.post("/logout", nil, "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	e.wantStatus("/accounts", tok, 401) // revoked
	expiring := e.login("alice", alicePassword)
	e.clock.Advance(time.Hour)
	e.wantStatus("/accounts", expiring, 401)

	got := e.svc.Stats()
	want := Stats{LoginsOK: 2, LoginsFailed: 5, LoginsLocked: 1, IssuedPassword: 2, Revoked: 1,
		UnauthorizedNoToken: 1, UnauthorizedInvalid: 2, UnauthorizedExpired: 1}
	if got != want {
		t.Errorf("stats\n %+v, want\n %+v", got, want)
	}
}

// Tokens from the OAuth grants are counted by grant; a reused refresh
// token revokes its session.
func TestStatsOAuth(t *testing.T) {
	e := newEnv(t, nil)
	first := e.codeFlow("alice", alicePassword)
	e.tokens(e.refresh(first.RefreshToken))
	e.tokenError(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
		"client_secret": {codeSecret}}, 400, "invalid_grant")
	e.tokens(e.post("/oauth/token", jwtForm(e.assertion(nil, nil))))
	got := e.svc.Stats()
	if got.LoginsOK != 1 || got.IssuedCode != 1 || got.IssuedRefresh != 1 || got.IssuedJWT != 1 || got.IssuedPassword != 0 || got.Revoked != 1 {
		t.Errorf("stats %+v, want one login, one token of each OAuth grant and one revocation", got)
	}
}
