package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// BenchmarkProtect is the cost Protect adds to every API request: header
// parsing, the token check (cached after the first: see accessCache), the
// revocation watch.
func BenchmarkProtect(b *testing.B) {
	for _, endOnExpiry := range []bool{false, true} {
		name := "revocation-only"
		if endOnExpiry {
			name = "end-on-expiry"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.EndStreamsOnExpiry = endOnExpiry })
			tok := e.login("alice", alicePassword)
			h := e.svc.Protect(Data, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest(http.MethodGet, "/history", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				for pb.Next() {
					h.ServeHTTP(w, r)
				}
				if w.Code != 200 {
					b.Errorf("status %d", w.Code)
				}
			})
		})
	}
}

// BenchmarkAuthorize is one POST /authorize with the production KDF: the
// login rate one core sustains.
func BenchmarkAuthorize(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.KDF = DefaultKDF })
	if err := e.store.AddUser("carol", []byte("carol-password"), nil); err != nil {
		b.Fatal(err)
	}
	// Re-hash with production parameters (the env's store hashes cheaply).
	e.store.kdf = DefaultKDF
	if err := e.store.SetPassword("carol", []byte("carol-password")); err != nil {
		b.Fatal(err)
	}
	h := e.mux()
	body := url.Values{"login": {"carol"}, "password": {"carol-password"}}.Encode()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !strings.Contains(w.Body.String(), `"s":"ok"`) {
			b.Fatal(w.Body.String())
		}
	}
}

// BenchmarkVerifyAssertion is the JWT check of one ServerOAuth2Bearer
// token request: certificate parsing, RS256 verification, claims.
func BenchmarkVerifyAssertion(b *testing.B) {
	e := newEnv(b, nil)
	a := e.assertion(nil, nil)
	c := mustClientRecord(b, e)
	pol := jwtPolicy{now: t0, skew: 30 * time.Second, maxLifetime: time.Hour}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := verifyAssertion(a, c, pol); err != nil {
			b.Fatal(err)
		}
	}
}
