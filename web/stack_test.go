package web_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/auth"
	"tvbridge/web"
)

// The pieces together, as serve wires them: TLS, CORS, the auth endpoints
// and a protected /streaming, over a real socket.
func TestAuthBehindCORSOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	st, err := auth.OpenStore(filepath.Join(dir, auth.DBFile), auth.StoreOptions{KDF: auth.KDF{Memory: 64, Time: 1, Threads: 1}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddUser("alice", []byte("alice-password"), nil); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	svc, err := auth.New(auth.Config{Store: st, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	mux := http.NewServeMux()
	svc.Register(mux)
	mux.Handle("/streaming", svc.Protect(auth.Data, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := tvbridge.PrincipalFrom(r.Context())
		_, _ = io.WriteString(w, `{"user":"`+p.User+`"}`+"\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})))
	mux.Handle("/accounts", svc.Protect(auth.Trading, http.NotFoundHandler()))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- web.Serve(ctx, ln, web.CORS(web.CORSConfig{}, mux),
			web.Options{TLS: &web.TLSConfig{CertFile: certFile, KeyFile: keyFile}, Logger: quiet, DrainTimeout: 50 * time.Millisecond})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := "https://" + ln.Addr().String()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	resp, err := client.PostForm(base+"/authorize", url.Values{"login": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		D struct {
			AccessToken string `json:"access_token"`
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if login.D.AccessToken == "" {
		t.Fatal("no token from /authorize over TLS")
	}

	// A 401 from the browser's origin still carries CORS headers, so the
	// page can read it.
	req, _ := http.NewRequest(http.MethodGet, base+"/accounts", nil)
	req.Header.Set("Origin", "https://www.tradingview.com")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != "https://www.tradingview.com" {
		t.Errorf("401 from an allowed origin: %d %v", resp.StatusCode, resp.Header)
	}

	req, _ = http.NewRequest(http.MethodGet, base+"/streaming", nil)
	req.Header.Set("Authorization", "Bearer "+login.D.AccessToken)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"user":"alice"`) || resp.Proto != "HTTP/1.1" || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("stream over TLS: %s %v %q %v", resp.Proto, resp.TransferEncoding, line, err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tvbridge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}
