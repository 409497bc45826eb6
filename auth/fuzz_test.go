package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func httptestRequest(remote string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	return r
}

// FuzzParseJWT feeds arbitrary assertions to the parser and the verifier:
// they must never panic, and nothing unsigned may verify.
func FuzzParseJWT(f *testing.F) {
	e := newEnv(f, nil)
	valid := e.assertion(nil, nil)
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ0di1kYXRhIn0.")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsxLDJdfQ.AAAA")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOiJzb29uIn0.AAAA")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjFlMzAwfQ.AAAA")
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30gW10.AAAA")
	c := mustClientRecord(f, e)
	pol := jwtPolicy{now: t0, skew: 30 * time.Second, maxLifetime: time.Hour}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseJWT(raw)
		if err == nil && (p.signingInput == nil || strings.Count(raw, ".") != 2) {
			t.Fatalf("parsed %q without its parts", raw)
		}
		if _, err := verifyAssertion(raw, c, pol); err == nil && raw != valid {
			t.Fatalf("an assertion not signed by the test key verified: %q", raw)
		}
	})
}

func mustClientRecord(tb testing.TB, e *env) *ClientRecord {
	c, err := e.svc.lookupClient("tv-data")
	if err != nil || c == nil {
		tb.Fatalf("client: %v", err)
	}
	return c
}

// FuzzBearerToken: any header value gives a well-formed token or an error.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer " + strings.Repeat("a", tokenLen), "bearer x", "Basic abc", "", "Bearer  ", "Bearer\t" + strings.Repeat("-", tokenLen)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := bearerToken(http.Header{"Authorization": {v}})
		if err == nil && !validTokenSyntax(tok) {
			t.Fatalf("%q gave token %q", v, tok)
		}
	})
}

// FuzzAuthorizeForm posts arbitrary bodies to /authorize: the answer is
// always TradingView's JSON envelope, never a panic or a 500.
func FuzzAuthorizeForm(f *testing.F) {
	e := newEnv(f, nil)
	h := e.mux()
	for _, s := range []string{"login=alice&password=" + alicePassword, "login=alice", "login=%zz", "password=a&password=b&login=bob",
		strings.Repeat("a=b&", 1000), "login=" + strings.Repeat("x", 100) + "&password=" + strings.Repeat("y", 2000), "locale=ru&login=&password="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var env struct{ S string }
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &env) != nil || (env.S != "ok" && env.S != "error") {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzTokenForm posts arbitrary bodies to /oauth/token: the answer is a
// token or an OAuth error in JSON with the matching status, never a 500.
func FuzzTokenForm(f *testing.F) {
	e := newEnv(f, nil)
	h := e.mux()
	f.Add(jwtForm(e.assertion(nil, nil)).Encode())
	f.Add("grant_type=refresh_token&refresh_token=" + strings.Repeat("A", tokenLen) + "&client_secret=" + codeSecret)
	f.Add("grant_type=authorization_code&client_id=tv-prod&client_secret=" + codeSecret + "&code=x&redirect_uri=" + url.QueryEscape(redirectURI))
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&client_id=tv-data&client_secret=" + jwtSecret + "&assertion=a.b.c")
	f.Add("grant_type=&&&=")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var out map[string]any
		if json.Unmarshal(w.Body.Bytes(), &out) != nil {
			t.Fatalf("%q: not JSON: %s", body, w.Body)
		}
		switch {
		case w.Code == 200 && out["access_token"] != nil:
		case (w.Code == 400 || w.Code == 401) && out["error"] != nil:
		default:
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzAuthorizePageQuery sends arbitrary query strings to the login page:
// it shows the form or an error page, or redirects only to a registered URI.
func FuzzAuthorizePageQuery(f *testing.F) {
	e := newEnv(f, nil)
	h := e.mux()
	f.Add(strings.TrimPrefix(authorizeQuery(), "/oauth/authorize?"))
	f.Add(strings.TrimPrefix(authorizeQuery("prompt", "none"), "/oauth/authorize?"))
	f.Add("client_id=tv-prod&redirect_uri=https%3A%2F%2Fevil.example")
	f.Add("client_id=tv-prod&response_type=token&state=%ff%fe")
	f.Add("%%%&&==;")
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/oauth/authorize", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400:
			if w.Header().Get("Location") != "" {
				t.Fatalf("%q: %d with a Location", query, w.Code)
			}
		case 303:
			loc := w.Header().Get("Location")
			if !strings.HasPrefix(loc, redirectURI+"&") && !strings.HasPrefix(loc, "https://www.xstaging.tv/cb?") {
				t.Fatalf("%q: redirected to %q", query, loc)
			}
		default:
			t.Fatalf("%q: status %d", query, w.Code)
		}
	})
}

// FuzzParsePHC: stored hashes come from disk; malformed ones must fail
// cleanly and never ask for unbounded memory.
func FuzzParsePHC(f *testing.F) {
	good, _ := hashPassword([]byte("password"), testKDF)
	f.Add(good)
	f.Add("$argon2id$v=19$m=1048577,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=64,t=1,p=0$$")
	f.Fuzz(func(t *testing.T, phc string) {
		p, salt, key, err := parsePHC(phc)
		if err == nil && (p.Memory > maxKDFMemory || p.Threads == 0 || len(salt) < 8 || len(key) < 16) {
			t.Fatalf("%q parsed to %+v", phc, p)
		}
	})
}
