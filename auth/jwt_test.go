package auth

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// signJWT builds a compact RS256 JWS from header and claims.
func signJWT(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// assertion is a valid assertion for the JWT client, changed by the two
// functions when they are not nil.
func (e *env) assertion(header, claims func(map[string]any)) string {
	s1 := sha1.Sum(e.cert.Raw) //nolint:gosec // see the import
	h := map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(s1[:])}
	c := map[string]any{"iss": "tv-data", "sub": "testuser1", "aud": tokenURL, "spurl": "https://broker.example",
		"exp": e.clock.Now().Add(5 * time.Minute).Unix(), "iat": e.clock.Now().Unix()}
	if header != nil {
		header(h)
	}
	if claims != nil {
		claims(c)
	}
	return signJWT(e.t, e.key, h, c)
}

func jwtForm(assertion string) url.Values {
	return url.Values{"grant_type": {jwtGrantType}, "assertion": {assertion}, "client_id": {"tv-data"}, "client_secret": {jwtSecret}}
}

func (e *env) jwtToken(assertion string) string {
	e.t.Helper()
	return e.tokens(e.post("/oauth/token", jwtForm(assertion))).AccessToken
}

func TestJWTGrant(t *testing.T) {
	e := newEnv(t, nil)
	a := e.assertion(nil, nil)
	resp, body := e.post("/oauth/token", jwtForm(a))
	tr := e.tokens(resp, body)
	if tr.ExpiresIn != 1200 || tr.TokenType != "Bearer" || tr.RefreshToken != "" || tr.Expiration != t0.Add(20*time.Minute).Unix() {
		t.Errorf("token response %s", body)
	}
	for _, path := range dataPaths[:3] {
		if got := e.whoami(path, tr.AccessToken); got.User != "testuser1" || got.Scheme != SchemeJWT || got.Groups != nil {
			t.Errorf("%s: principal %+v", path, got)
		}
	}
	e.wantStatus("/accounts", tr.AccessToken, 401)
	// Replay is refused, also after a restart.
	if d := e.tokenError(jwtForm(a), 400, "invalid_grant"); !strings.Contains(d, "already used") {
		t.Errorf("replay: %s", d)
	}
	// The standard grant URN works for the same client.
	form := jwtForm(e.assertion(nil, func(c map[string]any) { c["jti"] = "2" }))
	form.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
	e.tokens(e.post("/oauth/token", form))
}

func TestJWTGrantRefusals(t *testing.T) {
	e := newEnv(t, nil)
	otherKey, otherCert := keyPair(t, 1)
	s256 := sha256.Sum256(e.cert.Raw)
	s1 := sha1.Sum(e.cert.Raw)    //nolint:gosec // see the import
	o1 := sha1.Sum(otherCert.Raw) //nolint:gosec // see the import
	now := e.clock.Now()
	claim := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	header := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	valid := e.assertion(nil, claim("jti", "base"))
	parts := strings.Split(valid, ".")
	flip := []byte(parts[2])
	flip[10] ^= 1
	tamperedClaims := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"tv-data","sub":"admin","aud":"` + tokenURL + `","exp":` + itoa(now.Add(time.Minute).Unix()) + `}`))

	for _, c := range []struct {
		name, assertion, want string
	}{
		{"tampered claims", parts[0] + "." + tamperedClaims + "." + parts[2], "signature"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(flip), "signature"},
		{"signed by another key", signJWT(t, otherKey, map[string]any{"alg": "RS256"}, map[string]any{"iss": "tv-data", "sub": "testuser1", "aud": tokenURL, "exp": now.Add(time.Minute).Unix()}), "signature"},
		{"x5t of another certificate", e.assertion(header("x5t", base64.RawURLEncoding.EncodeToString(o1[:])), nil), "x5t"},
		{"expired", e.assertion(nil, claim("exp", now.Add(-31*time.Second).Unix())), "expired"},
		{"no exp", e.assertion(nil, func(m map[string]any) { delete(m, "exp") }), "no exp"},
		{"exp too far ahead", e.assertion(nil, claim("exp", now.Add(2*time.Hour).Unix())), "ahead"},
		{"not yet valid", e.assertion(nil, claim("nbf", now.Add(time.Hour).Unix())), "nbf"},
		{"issued in the future", e.assertion(nil, claim("iat", now.Add(time.Hour).Unix())), "iat"},
		{"wrong audience", e.assertion(nil, claim("aud", "https://other.example/oauth/token")), "aud"},
		{"wrong issuer", e.assertion(nil, claim("iss", "tv-prod")), "iss"},
		{"wrong subject", e.assertion(nil, claim("sub", "alice")), "sub"},
		{"wrong spurl", e.assertion(nil, claim("spurl", "https://evil.example")), "spurl"},
		{"alg none", e.assertion(header("alg", "none"), nil), "RS256"},
		{"alg HS256", e.assertion(header("alg", "HS256"), nil), "RS256"},
		{"critical extension", e.assertion(header("crit", []string{"exp"}), nil), "critical"},
		{"not a JWT", "abc.def", "not a JWT"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], "header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := e.tokenError(jwtForm(c.assertion), 400, "invalid_grant"); !strings.Contains(d, c.want) {
				t.Errorf("description %q, want %q", d, c.want)
			}
		})
	}
	// These pass: an x5t in hex (TradingView's example), x5t#S256, an
	// audience array, a fractional exp, and no x5t at all.
	for name, a := range map[string]string{
		"hex x5t": e.assertion(header("x5t", hex.EncodeToString(s1[:])), claim("jti", "1")),
		"x5t#S256": e.assertion(func(m map[string]any) {
			delete(m, "x5t")
			m["x5t#S256"] = base64.RawURLEncoding.EncodeToString(s256[:])
		}, claim("jti", "2")),
		"aud array":   e.assertion(nil, claim("aud", []string{"x", tokenURL})),
		"float exp":   e.assertion(nil, claim("exp", float64(now.Add(time.Minute).Unix())+0.5)),
		"without x5t": e.assertion(func(m map[string]any) { delete(m, "x5t") }, claim("jti", "3")),
	} {
		if resp, body := e.post("/oauth/token", jwtForm(a)); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	// Client authentication comes first.
	form := jwtForm(e.assertion(nil, claim("jti", "4")))
	form.Set("client_secret", codeSecret)
	e.tokenError(form, 401, "invalid_client")
	form.Set("client_secret", jwtSecret)
	form.Set("grant_type", "urn:other:grant")
	e.tokenError(form, 400, "unsupported_grant_type")
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

// Tokens, rotated refresh tokens and redeemed assertions survive a restart.
func TestStateSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	pw := e.login("alice", alicePassword)
	a := e.assertion(nil, nil)
	data := e.jwtToken(a)
	tr := e.codeFlow("bob", bobPassword)
	e.restart()
	e.wantStatus("/accounts", pw, 200)
	e.wantStatus("/history", data, 200)
	e.wantStatus("/accounts", tr.AccessToken, 200)
	e.tokenError(jwtForm(a), 400, "invalid_grant")
	e.tokens(e.refresh(tr.RefreshToken))
}
