package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tvbridge/auth"
	"tvbridge/postgres/pgtest"
)

// runAuthCmd runs `tvbridge auth args...` with stdin and returns stdout.
func runAuthCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	authStdin = strings.NewReader(stdin)
	defer func() { authStdin = os.Stdin }()
	var out, errOut bytes.Buffer
	err := runAuth(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func mustRunAuth(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := runAuthCmd(t, stdin, args...)
	if err != nil {
		t.Fatalf("tvbridge auth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestAuthCommandUsers(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("second-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRunAuth(t, "first-password\n", "user", "add", "--data-dir", dir, "--login", "Alice", "--groups", "tv_stocks, tv_bonds")
	mustRunAuth(t, "", "user", "add", "--data-dir", dir, "--login", "bob", "--password-file", pwFile)
	out := mustRunAuth(t, "", "user", "list", "--data-dir", dir)
	if !strings.Contains(out, "alice  tv_stocks,tv_bonds") || !strings.Contains(out, "bob    (all)") {
		t.Errorf("list:\n%s", out)
	}
	mustRunAuth(t, "", "user", "passwd", "--data-dir", dir, "--login", "alice", "--password-file", pwFile)
	mustRunAuth(t, "", "user", "groups", "--data-dir", dir, "--login", "alice")
	mustRunAuth(t, "", "user", "remove", "--data-dir", dir, "--login", "bob")
	out = mustRunAuth(t, "", "user", "list", "--data-dir", dir)
	if strings.Contains(out, "bob") || !strings.Contains(out, "alice  (all)") {
		t.Errorf("list after changes:\n%s", out)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  error
	}{
		{"pw-pw-pw-pw", []string{"user", "add", "--data-dir", dir, "--login", "alice"}, auth.ErrExists},
		{"short", []string{"user", "add", "--data-dir", dir, "--login", "carol"}, auth.ErrInvalid},
		{"", []string{"user", "add", "--data-dir", dir, "--login", "carol"}, nil}, // empty stdin: an error, no user
		{"", []string{"user", "remove", "--data-dir", dir, "--login", "nobody"}, auth.ErrNotFound},
		{"", []string{"user", "add", "--data-dir", dir}, errUsage},
		{"", []string{"user", "add", "--data-dir", dir, "--login", "x", "extra"}, errUsage},
		{"", []string{"user", "delete"}, errUsage},
		{"", []string{"user", "add", "--help"}, flag.ErrHelp},
	} {
		_, err := runAuthCmd(t, c.stdin, c.args...)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%v: %v, want %v", c.args, err, c.want)
		}
	}
	if out, err := runAuthCmd(t, "", "--help"); err != nil || !strings.Contains(out, "client add") {
		t.Errorf("auth --help: %v\n%s", err, out)
	}
	if out, _ := runAuthCmd(t, "", "client", "add", "--help"); !strings.Contains(out, "--certificate-file  [$TVBRIDGE_CERTIFICATE_FILE]") {
		t.Errorf("client add --help does not document its flags:\n%s", out)
	}
}

func TestAuthCommandClients(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "tv.pem")
	if err := os.WriteFile(certFile, testRSACert(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRunAuth(t, "", "client", "add", "--data-dir", dir, "--id", "tv-prod",
		"--redirect-uri", "https://www.tradingview.com/cb,https://www.xstaging.tv/cb", "--logout-return-to", "https://www.tradingview.com/bye/")
	if !strings.Contains(out, "client_secret: ") {
		t.Fatalf("no generated secret printed:\n%s", out)
	}
	mustRunAuth(t, strings.Repeat("s", 40), "client", "add", "--data-dir", dir, "--id", "tv-data", "--kind", "jwt-bearer",
		"--user", "testuser1", "--audience", "https://broker.example/oauth/token", "--certificate-file", certFile, "--secret-file", "-")
	out = mustRunAuth(t, "", "client", "list", "--data-dir", dir)
	for _, want := range []string{"tv-prod  code", "returnTo=https://www.tradingview.com/bye/", "tv-data  jwt-bearer  user=testuser1", "grant_type=" + auth.DefaultGrantType} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{
		{"client", "add", "--data-dir", dir, "--id", "x"},                                        // no redirect URI
		{"client", "add", "--data-dir", dir, "--id", "x", "--kind", "jwt-bearer", "--user", "u"}, // no certificate
		{"client", "add", "--data-dir", dir, "--id", "x", "--kind", "jwt-bearer", "--certificate-file", filepath.Join(dir, "none")},
		{"client", "remove", "--data-dir", dir, "--id", "nobody"},
	} {
		if _, err := runAuthCmd(t, "", args...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
	mustRunAuth(t, "", "client", "remove", "--data-dir", dir, "--id", "tv-prod")
}

// What the commands create, a server started on the same data dir uses;
// while the server runs, the commands refuse clearly.
func TestAuthCommandsFeedTheServer(t *testing.T) {
	dir := t.TempDir()
	mustRunAuth(t, "alice-password", "user", "add", "--data-dir", dir, "--login", "alice")
	svc, err := auth.New(auth.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/authorize", url.Values{"login": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r struct{ S string }
	if json.Unmarshal(body, &r) != nil || r.S != "ok" {
		t.Fatalf("login with the user the command created: %s", body)
	}
	if _, err := runAuthCmd(t, "", "user", "list", "--data-dir", dir); !errors.Is(err, auth.ErrLocked) {
		t.Errorf("command while the server runs: %v", err)
	}
}

func testRSACert(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tv"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestAuthCommandPostgres manages users and clients in PostgreSQL
// (--postgres-url, or $TVBRIDGE_POSTGRES_URL), and a server opened with
// openAuthBackend on the same database logs the user in.
func TestAuthCommandPostgres(t *testing.T) {
	pgURL := pgtest.Schema(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("second-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRunAuth(t, "first-password\n", "user", "add", "--postgres-url", pgURL, "--login", "Alice", "--groups", "tv_stocks")
	t.Setenv("TVBRIDGE_POSTGRES_URL", pgURL)
	mustRunAuth(t, "", "user", "add", "--login", "bob", "--password-file", pwFile)
	out := mustRunAuth(t, "", "user", "list")
	if !strings.Contains(out, "alice  tv_stocks") || !strings.Contains(out, "bob    (all)") {
		t.Errorf("list:\n%s", out)
	}
	if _, err := runAuthCmd(t, "pw-pw-pw-pw", "user", "add", "--login", "bob"); !errors.Is(err, auth.ErrExists) {
		t.Errorf("second bob: %v", err)
	}
	mustRunAuth(t, "", "user", "remove", "--login", "bob")
	out = mustRunAuth(t, "", "client", "add", "--id", "tv-prod", "--redirect-uri", "https://www.tradingview.com/cb")
	if !strings.Contains(out, "client_secret: ") {
		t.Errorf("client add:\n%s", out)
	}
	out = mustRunAuth(t, "", "client", "list")
	if !strings.Contains(out, "tv-prod") || !strings.Contains(out, "redirect_uri=https://www.tradingview.com/cb") {
		t.Errorf("client list:\n%s", out)
	}
	// Nothing landed in a data dir.
	dir := t.TempDir()
	if out := mustRunAuth(t, "", "user", "list", "--data-dir", dir); !strings.Contains(out, "alice") {
		t.Errorf("--postgres-url from the environment wins over --data-dir:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, auth.DBFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("auth.db created: %v", err)
	}

	be, err := openAuthBackend(context.Background(), dir, pgURL, slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	if be.Failures == nil {
		t.Fatal("no cluster-wide failure counts")
	}
	svc, err := auth.New(auth.Config{Store: be, Failures: be.Failures, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	form := url.Values{"login": {"alice"}, "password": {"first-password"}}
	r := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), `"s":"ok"`) {
		t.Errorf("login through PostgreSQL: %s", w.Body.String())
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
}
