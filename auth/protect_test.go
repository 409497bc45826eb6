package auth

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/openapi/openapitest"
)

// Every protected path answers each kind of bad token with 401, the error
// envelope and a Bearer challenge.
func TestProtectRefusesBadTokens(t *testing.T) {
	e := newEnv(t, nil)
	expired := e.login("alice", alicePassword)
	e.clock.Advance(20 * time.Minute)
	revoked := e.login("alice", alicePassword)
	if resp, body := e.post("/logout", nil, "Authorization", "Bearer "+revoked); resp.StatusCode != 200 {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	jwtTok := e.jwtToken(e.assertion(nil, nil))
	oauthTok := e.codeFlow("alice", alicePassword).AccessToken
	good := e.login("bob", bobPassword)

	cases := []struct {
		name   string
		header []string // Authorization values
		paths  []string
		want   string
	}{
		{"missing", nil, allPaths(), "authorization required"},
		{"empty bearer", []string{"Bearer "}, allPaths(), "malformed"},
		{"basic scheme", []string{"Basic YWxpY2U6cGFzc3dvcmQ="}, allPaths(), "malformed"},
		{"short token", []string{"Bearer abc"}, allPaths(), "malformed"},
		{"bad characters", []string{"Bearer " + strings.Repeat("*", tokenLen)}, allPaths(), "malformed"},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, allPaths(), "malformed"},
		{"unknown", []string{"Bearer " + strings.Repeat("A", tokenLen)}, allPaths(), "unknown or revoked"},
		{"expired", []string{"Bearer " + expired}, allPaths(), "expired"},
		{"revoked", []string{"Bearer " + revoked}, allPaths(), "unknown or revoked"},
		{"jwt token on trading", []string{"Bearer " + jwtTok}, tradingPaths, "not valid for this endpoint"},
		{"oauth token on data", []string{"Bearer " + oauthTok}, dataPaths, "not valid for this endpoint"},
	}
	for _, c := range cases {
		for _, path := range c.paths {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
			for _, h := range c.header {
				req.Header.Add("Authorization", h)
			}
			resp, body := e.do(req)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s: status %d: %s", c.name, path, resp.StatusCode, body)
				continue
			}
			openapitest.Check(t, "ErrorResponse", body)
			if !strings.Contains(string(body), c.want) || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: body %s, challenge %q; want %q", c.name, path, body, resp.Header.Get("WWW-Authenticate"), c.want)
			}
		}
	}
	// The good token passes everywhere it belongs.
	for _, path := range []string{"/history", "/accounts", "/streaming"} {
		if path == "/streaming" {
			continue // covered by the stream tests
		}
		e.wantStatus(path, good, 200)
	}
	e.wantStatus("/history", jwtTok, 200)
	e.wantStatus("/accounts", oauthTok, 200)
}

func allPaths() []string { return slices.Concat(dataPaths, tradingPaths) }

func TestExpiryIsExact(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TokenLifetime = 15 * time.Minute })
	tok := e.login("alice", alicePassword)
	e.clock.Advance(15*time.Minute - time.Second)
	e.wantStatus("/history", tok, 200)
	e.clock.Advance(time.Second)
	e.wantStatus("/history", tok, 401)
}

// One user's token always yields that user, under concurrent logins, and
// one user's logout leaves the other's sessions alone.
func TestUserIsolation(t *testing.T) {
	e := newEnv(t, nil)
	users := map[string]string{"alice": alicePassword, "bob": bobPassword}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		for login, pw := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := e.login(login, pw)
				for _, path := range []string{"/history", "/accounts"} {
					resp, body := e.get(path, tok)
					var s seen
					if err := json.Unmarshal(body, &s); err != nil || resp.StatusCode != 200 || s.User != login {
						errs <- errors.New(login + " saw " + string(body))
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	alice, bob := e.login("alice", alicePassword), e.login("bob", bobPassword)
	if got := e.whoami("/history", alice); !slices.Equal(got.Groups, []string{"tv_stocks", "tv_gone"}) {
		t.Errorf("alice's groups %v", got.Groups)
	}
	e.post("/logout", nil, "Authorization", "Bearer "+alice)
	e.wantStatus("/history", alice, 401)
	if got := e.whoami("/history", bob); got.User != "bob" {
		t.Fatalf("bob after alice's logout: %+v", got)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login("alice", alicePassword)
	resp, body := e.post("/logout", nil, "Authorization", "Bearer "+tok)
	if resp.StatusCode != 200 {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	openapitest.Check(t, "SuccessResponse", body)
	e.wantStatus("/accounts", tok, 401)
	resp, _ = e.get("/logout", e.login("alice", alicePassword))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d", resp.StatusCode)
	}
}

func TestPermissions(t *testing.T) {
	e := newEnv(t, nil)
	// alice may read tv_stocks and the removed group tv_gone: only the
	// existing one is listed. bob has no list: every group.
	for login, want := range map[string][]string{"alice": {"tv_stocks"}, "bob": {"tv_stocks", "tv_bonds", "tv_futures"}} {
		pw := alicePassword
		if login == "bob" {
			pw = bobPassword
		}
		body := e.wantStatus("/permissions", e.login(login, pw), 200)
		openapitest.Check(t, "PermissionsResponse", body)
		var r struct{ D struct{ Groups []string } }
		_ = json.Unmarshal(body, &r)
		if !slices.Equal(r.D.Groups, want) {
			t.Errorf("%s: groups %v, want %v", login, r.D.Groups, want)
		}
	}
	if err := e.store.SetGroups("alice", []string{}); err != nil {
		t.Fatal(err)
	}
	body := e.wantStatus("/permissions", e.login("alice", alicePassword), 200)
	if !strings.Contains(string(body), `"groups":[]`) {
		t.Errorf("no groups: %s", body)
	}
}

func TestDataPublic(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DataPublic = true })
	for _, path := range []string{"/history", "/symbol_info", "/groups"} {
		if got := e.whoami(path, ""); got.Scheme != SchemeNone {
			t.Errorf("%s: principal %+v", path, got)
		}
	}
	e.wantStatus("/accounts", "", 401)
	e.wantStatus("/permissions", "", 401)
}

// openStream opens /streaming with tok and returns its reader once the
// handler has written its first line.
func (e *env) openStream(tok string) (*bufio.Reader, func()) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/streaming", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		e.t.Fatalf("stream: status %d", resp.StatusCode)
	}
	if resp.TransferEncoding == nil || resp.TransferEncoding[0] != "chunked" {
		e.t.Errorf("stream transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		e.t.Fatal(err)
	}
	return br, func() { resp.Body.Close() }
}

func (e *env) wantStreamEnd(br *bufio.Reader, cause error) {
	e.t.Helper()
	if got := <-e.streamEnded; !errors.Is(got, cause) {
		e.t.Errorf("stream ended with %v, want %v", got, cause)
	}
	if line, err := br.ReadString('\n'); err == nil {
		e.t.Errorf("stream still open after its end: %q", line)
	}
}

func TestStreamEndsOnLogout(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login("alice", alicePassword)
	br, closeStream := e.openStream(tok)
	defer closeStream()
	e.post("/logout", nil, "Authorization", "Bearer "+tok)
	e.wantStreamEnd(br, ErrUnknownToken)
}

func TestStreamEndsOnExpiryWhenConfigured(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EndStreamsOnExpiry = true })
	tok := e.login("alice", alicePassword)
	br, closeStream := e.openStream(tok)
	defer closeStream()
	e.clock.BlockUntil(2) // the sweeper's ticker and the stream's expiry timer
	e.clock.Advance(20*time.Minute - time.Second)
	e.ticks <- struct{}{}
	if line, err := br.ReadString('\n'); err != nil || line != "tick\n" {
		t.Fatalf("before expiry: %q %v", line, err)
	}
	e.clock.Advance(time.Second)
	e.wantStreamEnd(br, ErrExpiredToken)
}

func TestStreamOutlivesExpiryByDefault(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login("alice", alicePassword)
	br, closeStream := e.openStream(tok)
	e.clock.Advance(time.Hour)
	e.ticks <- struct{}{}
	if line, err := br.ReadString('\n'); err != nil || line != "tick\n" {
		t.Fatalf("after expiry: %q %v", line, err)
	}
	closeStream()
	<-e.streamEnded
	// A new request with the expired token is refused all the same.
	e.wantStatus("/streaming", tok, 401)
}

func TestBearerTokenParsing(t *testing.T) {
	tok := strings.Repeat("a", tokenLen)
	for _, c := range []struct {
		values []string
		want   error
	}{
		{nil, errNoToken},
		{[]string{"Bearer " + tok}, nil},
		{[]string{"bearer   " + tok + "  "}, nil},
		{[]string{"BEARER " + tok}, nil},
		{[]string{"Bearer"}, errMalformedToken},
		{[]string{"Bearer " + tok + "x"}, errMalformedToken},
		{[]string{"Token " + tok}, errMalformedToken},
		{[]string{"Bearer " + tok[:20] + " " + tok[21:]}, errMalformedToken},
	} {
		h := http.Header{}
		for _, v := range c.values {
			h.Add("Authorization", v)
		}
		got, err := bearerToken(h)
		if err != c.want || (err == nil && got != tok) {
			t.Errorf("%q: %q, %v; want %v", c.values, got, err, c.want)
		}
	}
}
