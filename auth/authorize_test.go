package auth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tvbridge/openapi/openapitest"
)

func TestAuthorizeTenCallsTenDistinctTokens(t *testing.T) {
	e := newEnv(t, nil)
	tokens := map[string]bool{}
	for i := 0; i < 10; i++ {
		resp, body := e.post("/authorize", url.Values{"login": {"alice"}, "password": {alicePassword}, "locale": {"en"}})
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		openapitest.Check(t, "AuthorizeResponse", body)
		var r struct {
			S string
			D struct {
				AccessToken string          `json:"access_token"`
				Expiration  json.RawMessage `json:"expiration"`
			}
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		var exp int64
		if err := json.Unmarshal(r.D.Expiration, &exp); err != nil {
			t.Fatalf("expiration %s is not an integer", r.D.Expiration)
		}
		if want := t0.Add(20 * time.Minute).Unix(); exp != want {
			t.Errorf("expiration %d, want %d (20 minutes ahead)", exp, want)
		}
		if r.D.AccessToken == "" || tokens[r.D.AccessToken] {
			t.Fatalf("token %q empty or repeated", r.D.AccessToken)
		}
		tokens[r.D.AccessToken] = true
	}
	// Every one of the ten works at once: many clients share credentials.
	for tok := range tokens {
		if got := e.whoami("/history", tok); got.User != "alice" || got.Scheme != SchemePassword {
			t.Fatalf("principal %+v", got)
		}
	}
}

func TestAuthorizeLoginIsCaseInsensitive(t *testing.T) {
	e := newEnv(t, nil)
	if got := e.whoami("/accounts", e.login("BOB", bobPassword)); got.User != "bob" || got.Groups != nil {
		t.Fatalf("principal %+v, want bob with all groups", got)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name string
		form url.Values
		want string
	}{
		{"wrong password", url.Values{"login": {"alice"}, "password": {"wrong-password"}}, "Invalid login or password."},
		{"unknown user", url.Values{"login": {"mallory"}, "password": {alicePassword}}, "Invalid login or password."},
		{"bad login syntax", url.Values{"login": {"a b\x00"}, "password": {alicePassword}}, "Invalid login or password."},
		{"no password", url.Values{"login": {"alice"}}, "Enter your login and password."},
		{"russian", url.Values{"login": {"alice"}, "password": {"nope-nope"}, "locale": {"ru"}}, "Неверный логин или пароль."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.post("/authorize", c.form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200 (TradingView shows errmsg)", resp.StatusCode)
			}
			openapitest.Check(t, "ErrorResponse", body)
			var r tvError
			_ = json.Unmarshal(body, &r)
			if r.S != "error" || r.Errmsg != c.want {
				t.Fatalf("got %s, want errmsg %q", body, c.want)
			}
		})
	}
	resp, body := e.get("/authorize", "")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /authorize: %d %s", resp.StatusCode, body)
	}
	openapitest.Check(t, "ErrorResponse", body)
	// The password is read from the body only, never from the URL.
	resp, body = e.post("/authorize?login=alice&password="+alicePassword, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("credentials in the query string were accepted: %s", body)
	}
}

func TestBruteForcePerLogin(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 5; i++ {
		e.post("/authorize", url.Values{"login": {"alice"}, "password": {"guess-" + string(rune('a'+i))}})
	}
	resp, body := e.post("/authorize", url.Values{"login": {"alice"}, "password": {alicePassword}})
	var r tvError
	_ = json.Unmarshal(body, &r)
	if r.S != "error" || !strings.Contains(r.Errmsg, "Too many failed login attempts. Try again in 15 min.") {
		t.Fatalf("sixth attempt with the right password: %s", body)
	}
	if resp.Header.Get("Retry-After") != "900" {
		t.Errorf("Retry-After %q, want 900", resp.Header.Get("Retry-After"))
	}
	// Another login from the same address is not locked out.
	e.login("bob", bobPassword)
	// The lock lifts when the window ends.
	e.clock.Advance(15 * time.Minute)
	e.login("alice", alicePassword)
}

func TestBruteForcePerAddress(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxFailuresPerAddress = 3
		c.ClientAddress = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	})
	for _, login := range []string{"alice", "bob", "carol"} {
		e.post("/authorize", url.Values{"login": {login}, "password": {"wrong-password"}}, "X-Test-Client", "10.0.0.1")
	}
	_, body := e.post("/authorize", url.Values{"login": {"bob"}, "password": {bobPassword}}, "X-Test-Client", "10.0.0.1")
	if !strings.Contains(string(body), "Too many failed login attempts") {
		t.Fatalf("fourth attempt from the address: %s", body)
	}
	_, body = e.post("/authorize", url.Values{"login": {"bob"}, "password": {bobPassword}}, "X-Test-Client", "10.0.0.2")
	if !strings.Contains(string(body), `"s":"ok"`) {
		t.Fatalf("another address was locked out too: %s", body)
	}
}

func TestLoginFailureLogsNoSecrets(t *testing.T) {
	e := newEnv(t, nil)
	const password = "Sup3r-Secret-Passw0rd"
	e.post("/authorize", url.Values{"login": {"alice"}, "password": {password}})
	// Users type passwords into the login field; unknown logins are not logged.
	e.post("/authorize", url.Values{"login": {"typed-my-password-here"}, "password": {password}})
	tok := e.login("alice", alicePassword)
	e.get("/history", tok[:42]+"x")
	e.post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "client_secret": {codeSecret}})
	logs := e.logs.String()
	for _, secret := range []string{password, "typed-my-password-here", tok, tok[:42], codeSecret, alicePassword} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains secret %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `msg="auth: login refused" login=alice`) || !strings.Contains(logs, `login="(unknown login)"`) {
		t.Errorf("log lacks the refused logins:\n%s", logs)
	}
}
