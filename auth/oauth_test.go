package auth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browser is the state a browser keeps across the login page: cookies.
type browser struct {
	cookies map[string]string
}

func (b *browser) header() string {
	var parts []string
	for k, v := range b.cookies {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, "; ")
}

func (b *browser) keep(resp *http.Response) {
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
}

func authorizeQuery(extra ...string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {"tv-prod"}, "redirect_uri": {redirectURI}, "state": {"st&ate=1 /ü"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/oauth/authorize?" + q.Encode()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// openLoginPage loads the login page in b and returns its HTML and CSRF value.
func (e *env) openLoginPage(b *browser, query string) (string, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+query, nil)
	resp, body := e.do(req)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		e.t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
	b.keep(resp)
	m := csrfField.FindStringSubmatch(string(body))
	if m == nil {
		e.t.Fatalf("no csrf field in %s", body)
	}
	return string(body), m[1]
}

// submitLogin posts the login form and returns the response.
func (e *env) submitLogin(b *browser, csrf, login, password string) (*http.Response, []byte) {
	form := url.Values{"client_id": {"tv-prod"}, "redirect_uri": {redirectURI}, "state": {"st&ate=1 /ü"},
		"lang": {"en"}, "csrf": {csrf}, "login": {login}, "password": {password}}
	resp, body := e.post("/oauth/authorize", form, "Cookie", b.header())
	b.keep(resp)
	return resp, body
}

// codeFlow runs the browser part of the code flow and redeems the code.
func (e *env) codeFlow(login, password string) tokenResponse {
	e.t.Helper()
	b := &browser{cookies: map[string]string{}}
	_, csrf := e.openLoginPage(b, authorizeQuery())
	code := e.codeFrom(e.submitLogin(b, csrf, login, password))
	return e.redeem(code, redirectURI)
}

func (e *env) codeFrom(resp *http.Response, body []byte) string {
	e.t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), "https://www.tradingview.com/oauth/callback?env=prod&") {
		e.t.Fatalf("redirected to %s", loc)
	}
	if got := loc.Query().Get("state"); got != "st&ate=1 /ü" {
		e.t.Fatalf("state %q came back changed", got)
	}
	return loc.Query().Get("code")
}

func (e *env) redeem(code, redirect string) tokenResponse {
	e.t.Helper()
	resp, body := e.post("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"tv-prod"},
		"client_secret": {codeSecret}, "code": {code}, "redirect_uri": {redirect}})
	return e.tokens(resp, body)
}

func (e *env) tokens(resp *http.Response, body []byte) tokenResponse {
	e.t.Helper()
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || resp.StatusCode != 200 || tr.AccessToken == "" {
		e.t.Fatalf("token response %d: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("token response Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	return tr
}

// tokenError posts a token request and checks the OAuth error it gets.
func (e *env) tokenError(form url.Values, status int, code string) string {
	e.t.Helper()
	resp, body := e.post("/oauth/token", form)
	var oe oauthError
	if err := json.Unmarshal(body, &oe); err != nil || resp.StatusCode != status || oe.Error != code {
		e.t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, status, code)
	}
	return oe.Description
}

func (e *env) refresh(rt string) (*http.Response, []byte) {
	return e.post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_secret": {codeSecret}})
}

func TestCodeFlowEndToEnd(t *testing.T) {
	e := newEnv(t, nil)
	b := &browser{cookies: map[string]string{}}
	page, csrf := e.openLoginPage(b, authorizeQuery("lang", "ru"))
	if !strings.Contains(page, "Вход в tvbridge") || !strings.Contains(page, `lang="ru"`) {
		t.Errorf("lang=ru page is not Russian:\n%s", page)
	}
	resp, body := e.submitLogin(b, csrf, "Alice", alicePassword)
	code := e.codeFrom(resp, body)
	if b.cookies[sessionCookie] == "" {
		t.Fatal("no session cookie after login")
	}
	tr := e.redeem(code, redirectURI)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 1200 || tr.RefreshToken == "" || tr.RefreshTokenExpiresIn != 30*24*3600 {
		t.Errorf("token response %+v", tr)
	}
	if got := e.whoami("/accounts", tr.AccessToken); got.User != "alice" || got.Scheme != SchemeOAuth2 {
		t.Errorf("principal %+v", got)
	}
	e.wantStatus("/permissions", tr.AccessToken, 200)
	e.wantStatus("/history", tr.AccessToken, 401) // trading tokens do not open the data feed

	// The code is single-use; redeeming it again revokes what it gave.
	e.tokenError(url.Values{"grant_type": {"authorization_code"}, "client_id": {"tv-prod"}, "client_secret": {codeSecret},
		"code": {code}, "redirect_uri": {redirectURI}}, 400, "invalid_grant")
	e.wantStatus("/accounts", tr.AccessToken, 401)
	resp, body = e.refresh(tr.RefreshToken)
	if resp.StatusCode != 400 {
		t.Fatalf("refresh after code reuse: %d %s", resp.StatusCode, body)
	}
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, nil)
	first := e.codeFlow("alice", alicePassword)
	e.clock.Advance(19 * time.Minute)
	second := e.tokens(e.refresh(first.RefreshToken))
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate the tokens")
	}
	// The old access token works until the new one is first used...
	e.wantStatus("/accounts", first.AccessToken, 200)
	e.wantStatus("/accounts", second.AccessToken, 200)
	// ...and not after.
	if body := e.wantStatus("/accounts", first.AccessToken, 401); !strings.Contains(string(body), "replaced") {
		t.Errorf("old token after the new one's use: %s", body)
	}
	// A refresh token rotated away is a leak: presenting it revokes the session.
	desc := e.tokenError(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
		"client_secret": {codeSecret}}, 400, "invalid_grant")
	if !strings.Contains(desc, "already used") {
		t.Errorf("reuse: %s", desc)
	}
	e.wantStatus("/accounts", second.AccessToken, 401)
	resp, _ := e.refresh(second.RefreshToken)
	if resp.StatusCode != 400 {
		t.Fatalf("refresh of a revoked session: %d", resp.StatusCode)
	}
}

func TestRefreshChainAndExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshLifetime = time.Hour })
	tr := e.codeFlow("bob", bobPassword)
	// Refreshing every 50 minutes keeps the session alive past the first
	// refresh token's hour; a skipped token is retired by a newer one's use.
	var skipped string
	for i := 0; i < 3; i++ {
		e.clock.Advance(50 * time.Minute)
		skipped = tr.AccessToken
		tr = e.tokens(e.refresh(tr.RefreshToken))
	}
	e.wantStatus("/accounts", tr.AccessToken, 200)
	e.wantStatus("/accounts", skipped, 401)
	e.clock.Advance(time.Hour)
	e.tokenError(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_secret": {codeSecret}}, 400, "invalid_grant")
}

func TestTokenEndpointRefusals(t *testing.T) {
	e := newEnv(t, nil)
	b := &browser{cookies: map[string]string{}}
	_, csrf := e.openLoginPage(b, authorizeQuery())
	code := e.codeFrom(e.submitLogin(b, csrf, "alice", alicePassword))
	grant := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"authorization_code"}, "client_id": {"tv-prod"}, "client_secret": {codeSecret},
			"code": {code}, "redirect_uri": {redirectURI}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	e.tokenError(grant("client_secret", "wrong-secret-wrong-secret-wrong-secret"), 401, "invalid_client")
	e.tokenError(grant("client_id", "tv-data", "client_secret", jwtSecret), 400, "unauthorized_client")
	e.tokenError(grant("redirect_uri", "https://www.xstaging.tv/cb"), 400, "invalid_grant")
	e.tokenError(grant("code", strings.Repeat("x", tokenLen)), 400, "invalid_grant")
	e.tokenError(grant("grant_type", "password"), 400, "unsupported_grant_type")
	e.tokenError(grant("grant_type", "password", "client_id", "tv-data", "client_secret", jwtSecret), 400, "unsupported_grant_type")
	e.tokenError(grant("grant_type", ""), 400, "invalid_request")
	// Failed attempts did not use the code up; HTTP Basic works too.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("tv-prod", codeSecret)
	e.tokens(e.do(req))
	// Codes are short-lived.
	_, csrf = e.openLoginPage(b, authorizeQuery())
	code = e.codeFrom(e.submitLogin(b, csrf, "alice", alicePassword))
	e.clock.Advance(time.Minute)
	e.tokenError(grant(), 400, "invalid_grant")
}

func TestAuthorizePageRefusals(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		name, query string
		status      int
		want        string
	}{
		{"unknown client", authorizeQuery("client_id", "nobody"), 400, "unknown application"},
		{"jwt client", authorizeQuery("client_id", "tv-data"), 400, "unknown application"},
		{"unregistered redirect", authorizeQuery("redirect_uri", "https://evil.example/cb"), 400, "redirect_uri is not registered"},
		{"no redirect", authorizeQuery("redirect_uri", ""), 400, "redirect_uri is not registered"},
		{"redirect prefix", authorizeQuery("redirect_uri", redirectURI+"&x=1"), 400, "redirect_uri is not registered"},
		{"implicit flow", authorizeQuery("response_type", "token"), 303, "error=unsupported_response_type"},
		{"silent refresh", authorizeQuery("prompt", "none"), 303, "error=login_required"},
		{"huge state", authorizeQuery("state", strings.Repeat("s", maxStateLen+1)), 303, "error=invalid_request"},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+c.query, nil)
		resp, body := e.do(req)
		got := string(body) + resp.Header.Get("Location")
		if resp.StatusCode != c.status || !strings.Contains(got, c.want) {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, got)
		}
		if c.status == 400 && resp.Header.Get("Location") != "" {
			t.Errorf("%s: redirected to an unverified URI", c.name)
		}
		if c.status == 303 && !strings.HasPrefix(resp.Header.Get("Location"), redirectURI) {
			t.Errorf("%s: error sent to %s", c.name, resp.Header.Get("Location"))
		}
	}
}

func TestLoginFormRefusals(t *testing.T) {
	e := newEnv(t, nil)
	b := &browser{cookies: map[string]string{}}
	_, csrf := e.openLoginPage(b, authorizeQuery())

	resp, body := e.submitLogin(b, csrf, "alice", "wrong-password")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Invalid login or password.") || !strings.Contains(string(body), `value="alice"`) {
		t.Errorf("wrong password: %d %s", resp.StatusCode, body)
	}
	// A post without the CSRF cookie (another site's form) signs nobody in.
	b2 := &browser{cookies: map[string]string{}}
	resp, body = e.submitLogin(b2, csrf, "alice", alicePassword)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "form expired") {
		t.Errorf("missing CSRF cookie: %d %s", resp.StatusCode, body)
	}
	// A tampered redirect_uri in the form is checked again.
	form := url.Values{"client_id": {"tv-prod"}, "redirect_uri": {"https://evil.example/"}, "csrf": {b.cookies[csrfCookie]},
		"login": {"alice"}, "password": {alicePassword}}
	resp, body = e.post("/oauth/authorize", form, "Cookie", b.header())
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("tampered redirect: %d %s", resp.StatusCode, body)
	}
	// Locked out after five failures: 429 on the page.
	for i := 0; i < 5; i++ {
		e.submitLogin(b, b.cookies[csrfCookie], "bob", "wrong-password")
	}
	resp, body = e.submitLogin(b, b.cookies[csrfCookie], "bob", bobPassword)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "Try again in 15 min") {
		t.Errorf("lockout: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("page security headers: %v", resp.Header)
	}
}

func TestOAuthLogout(t *testing.T) {
	e := newEnv(t, nil)
	b := &browser{cookies: map[string]string{}}
	_, csrf := e.openLoginPage(b, authorizeQuery())
	tr := e.redeem(e.codeFrom(e.submitLogin(b, csrf, "alice", alicePassword)), redirectURI)
	other := e.codeFlow("alice", alicePassword) // another browser: stays signed in

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/logout?"+url.Values{"client_id": {"tv-prod"}, "returnTo": {returnTo}}.Encode(), nil)
	req.Header.Set("Cookie", b.header())
	resp, _ := e.do(req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != returnTo {
		t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.wantStatus("/accounts", tr.AccessToken, 401)
	e.tokenError(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_secret": {codeSecret}}, 400, "invalid_grant")
	e.wantStatus("/accounts", other.AccessToken, 200)

	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/logout?client_id=tv-prod&returnTo=https://evil.example/", nil)
	resp, body := e.do(req)
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "not registered") {
		t.Errorf("unregistered returnTo: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}
