package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// testKDF makes password hashing cheap in tests; the format and code path
// are the production ones.
var testKDF = KDF{Memory: 64, Time: 1, Threads: 1}

var t0 = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)

const (
	alicePassword = "alice-password-1"
	bobPassword   = "bob-password-22"
	codeSecret    = "code-client-secret-0123456789abcdef"
	jwtSecret     = "jwt-client-secret-0123456789abcdefgh"
	redirectURI   = "https://www.tradingview.com/oauth/callback?env=prod"
	returnTo      = "https://www.tradingview.com/trading/logout-redirect/"
	tokenURL      = "https://broker.example/oauth/token"
	jwtGrantType  = "urn:broker:oauth:grant-type:personal-jwt"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a running Service behind a real HTTP server, with users alice
// (groups stocks) and bob (all groups), a code client and a JWT client.
type env struct {
	t     testing.TB
	cfg   Config
	path  string
	svc   *Service
	store *Store
	clock *clock.Fake
	srv   *httptest.Server
	logs  *syncBuffer
	key   *rsa.PrivateKey // signs JWT assertions for the JWT client
	cert  *x509.Certificate
	// streams receives a value whenever the test /streaming handler's
	// context ends; ticks makes it write one more line.
	streamEnded chan error
	ticks       chan struct{}
}

func newEnv(t testing.TB, mutate func(*Config)) *env {
	t.Helper()
	e := &env{t: t, clock: clock.NewFake(t0), logs: &syncBuffer{}, streamEnded: make(chan error, 16), ticks: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.path = filepath.Join(t.TempDir(), DBFile)
	e.cfg = Config{
		Clock: e.clock, Logger: log, KDF: testKDF,
		SweepInterval: 1000 * time.Hour, // tests sweep explicitly, so records do not vanish mid-test
		Groups:        func() []string { return []string{"tv_stocks", "tv_bonds", "tv_futures"} },
	}
	if mutate != nil {
		mutate(&e.cfg)
	}
	e.key, e.cert = testKey(t)
	e.start()
	e.seed()
	t.Cleanup(e.stop)
	return e
}

// start opens the store and serves it.
func (e *env) start() {
	st, err := OpenStore(e.path, StoreOptions{KDF: testKDF, NoSync: true, Logger: e.cfg.Logger})
	if err != nil {
		e.t.Fatal(err)
	}
	e.store, e.cfg.Store = st, st
	if e.svc, err = New(e.cfg); err != nil {
		e.t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.mux())
}

func (e *env) stop() {
	e.srv.Close()
	if err := e.svc.Close(); err != nil {
		e.t.Error(err)
	}
	if err := e.store.Close(); err != nil {
		e.t.Error(err)
	}
}

// restart stops the server and starts a new one on the same database.
func (e *env) restart() {
	e.stop()
	e.start()
}

func (e *env) seed() {
	t := e.t
	if err := e.store.AddUser("alice", []byte(alicePassword), []string{"tv_stocks", "tv_gone"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddUser("Bob", []byte(bobPassword), nil); err != nil {
		t.Fatal(err)
	}
	code := Client{ID: "tv-prod", Kind: CodeClient, RedirectURIs: []string{redirectURI, "https://www.xstaging.tv/cb"}, LogoutReturnTo: []string{returnTo}}
	if err := e.store.AddClient(code, []byte(codeSecret)); err != nil {
		t.Fatal(err)
	}
	jwtc := Client{ID: "tv-data", Kind: JWTClient, User: "testuser1", Audience: tokenURL, GrantType: jwtGrantType,
		AppURL: "https://broker.example", CertificatePEM: string(pemCert(e.cert))}
	if err := e.store.AddClient(jwtc, []byte(jwtSecret)); err != nil {
		t.Fatal(err)
	}
}

// mux serves the auth endpoints and stand-ins for the protected ones,
// which answer with the principal they see.
func (e *env) mux() *http.ServeMux {
	mux := http.NewServeMux()
	e.svc.Register(mux)
	for _, p := range dataPaths {
		if p != "/streaming" {
			mux.Handle(p, e.svc.Protect(Data, http.HandlerFunc(echoPrincipal)))
		}
	}
	mux.Handle("/streaming", e.svc.Protect(Data, http.HandlerFunc(e.stream)))
	for _, p := range tradingPaths {
		if p != "/logout" && p != "/permissions" {
			mux.Handle(p, e.svc.Protect(Trading, http.HandlerFunc(echoPrincipal)))
		}
	}
	return mux
}

var (
	dataPaths    = []string{"/symbol_info", "/groups", "/history", "/streaming"}
	tradingPaths = []string{"/accounts", "/config", "/accounts/1/orders", "/logout", "/permissions"}
)

type seen struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	Scheme string   `json:"scheme"`
}

func echoPrincipal(w http.ResponseWriter, r *http.Request) {
	p, ok := tvbridge.PrincipalFrom(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(seen{p.User, p.Groups, p.Scheme})
}

// stream writes the principal, then a line per tick, until its context ends.
func (e *env) stream(w http.ResponseWriter, r *http.Request) {
	p, _ := tvbridge.PrincipalFrom(r.Context())
	_ = json.NewEncoder(w).Encode(seen{p.User, p.Groups, p.Scheme})
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			e.streamEnded <- context.Cause(r.Context())
			return
		case <-e.ticks:
			_, _ = io.WriteString(w, "tick\n")
			w.(http.Flusher).Flush()
		}
	}
}

// post sends a form and returns the response and body.
func (e *env) post(path string, form url.Values, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return e.do(req)
}

// get sends a GET with an optional bearer token.
func (e *env) get(path, token string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (*http.Response, []byte) {
	e.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, body
}

// login calls /authorize and returns the token, failing the test otherwise.
func (e *env) login(login, password string) string {
	e.t.Helper()
	resp, body := e.post("/authorize", url.Values{"login": {login}, "password": {password}})
	var r struct {
		S string `json:"s"`
		D struct {
			AccessToken string `json:"access_token"`
		} `json:"d"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 || r.S != "ok" {
		e.t.Fatalf("login %s: %d %s", login, resp.StatusCode, body)
	}
	return r.D.AccessToken
}

// whoami returns the principal a protected path sees for token.
func (e *env) whoami(path, token string) seen {
	e.t.Helper()
	resp, body := e.get(path, token)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var s seen
	if err := json.Unmarshal(body, &s); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return s
}

func (e *env) wantStatus(path, token string, status int) []byte {
	e.t.Helper()
	resp, body := e.get(path, token)
	if resp.StatusCode != status {
		e.t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, status, body)
	}
	return body
}

var (
	keyOnce sync.Once
	keys    [2]*rsa.PrivateKey
)

// testKey returns the JWT client's key and a certificate for it, valid a
// year around t0. RSA key generation is slow, so keys are made once.
func testKey(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	return keyPair(t, 0)
}

func keyPair(t testing.TB, i int) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	keyOnce.Do(func() {
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		}
	})
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "tradingview-jwt"},
		NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &keys[i].PublicKey, keys[i])
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return keys[i], cert
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
