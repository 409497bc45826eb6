package web

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tvbridge/clock"
)

var t0 = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)

// testCA is a certificate authority the test clients trust.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// writeLeaf writes a certificate for 127.0.0.1 with serial to the files,
// stamping them with mod (so a rewrite is seen even on coarse clocks).
func (ca *testCA) writeLeaf(t *testing.T, certFile, keyFile string, serial int64, mod time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "tvbridge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), mod)
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), mod)
}

func writeFile(t *testing.T, path string, data []byte, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// streamHandler answers /stream with a line, then one more per value on
// next, until its context ends; other paths get the protocol version.
func streamHandler(next <-chan string, ended chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			_, _ = io.WriteString(w, r.Proto)
			return
		}
		_, _ = io.WriteString(w, "hello\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				ended <- context.Cause(r.Context())
				return
			case s := <-next:
				_, _ = io.WriteString(w, s+"\n")
				w.(http.Flusher).Flush()
			}
		}
	})
}

type server struct {
	addr  string
	stop  context.CancelFunc
	done  chan error
	next  chan string
	ended chan error
}

func startServer(t *testing.T, opts Options) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{addr: ln.Addr().String(), stop: cancel, done: make(chan error, 1), next: make(chan string), ended: make(chan error, 4)}
	go func() { s.done <- Serve(ctx, ln, streamHandler(s.next, s.ended), opts) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

func TestServeTLSWithHotReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca := newCA(t)
	ca.writeLeaf(t, certFile, keyFile, 100, t0)
	fake := clock.NewFake(t0)
	s := startServer(t, Options{TLS: &TLSConfig{CertFile: certFile, KeyFile: keyFile, Clock: fake}, Logger: slog.New(slog.DiscardHandler)})

	serial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: ca.pool, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		st := conn.ConnectionState()
		if st.NegotiatedProtocol != "http/1.1" || st.Version < tls.VersionTLS12 {
			t.Errorf("ALPN %q, version %x", st.NegotiatedProtocol, st.Version)
		}
		return st.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 100 {
		t.Fatalf("serial %d", got)
	}
	ca.writeLeaf(t, certFile, keyFile, 101, t0.Add(time.Minute))
	if got := serial(); got != 100 {
		t.Errorf("reloaded before the check interval: %d", got)
	}
	fake.Advance(10 * time.Second)
	if got := serial(); got != 101 {
		t.Errorf("after the change and the interval: serial %d, want 101", got)
	}
	// A half-written pair (new certificate, old key) keeps the old one.
	ca.writeLeaf(t, filepath.Join(dir, "other.pem"), keyFile+".new", 102, t0.Add(2*time.Minute))
	cert, _ := os.ReadFile(filepath.Join(dir, "other.pem"))
	writeFile(t, certFile, cert, t0.Add(2*time.Minute))
	fake.Advance(10 * time.Second)
	if got := serial(); got != 101 {
		t.Errorf("mismatched pair: serial %d, want the previous 101", got)
	}
	key, _ := os.ReadFile(keyFile + ".new")
	writeFile(t, keyFile, key, t0.Add(2*time.Minute))
	fake.Advance(10 * time.Second)
	if got := serial(); got != 102 {
		t.Errorf("completed pair: serial %d, want 102", got)
	}
	// TLS 1.1 is refused.
	if _, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
}

// /streaming stays a chunked HTTP/1.1 response under TLS, even for a
// client that would take HTTP/2.
func TestStreamingChunkedOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca := newCA(t)
	ca.writeLeaf(t, certFile, keyFile, 1, t0)
	s := startServer(t, Options{TLS: &TLSConfig{CertFile: certFile, KeyFile: keyFile}, Logger: slog.New(slog.DiscardHandler)})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + s.addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Proto != "HTTP/1.1" || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("proto %s, transfer encoding %v", resp.Proto, resp.TransferEncoding)
	}
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"hello\n", "tick\n"} {
		if want == "tick\n" {
			s.next <- "tick"
		}
		if line, err := br.ReadString('\n'); err != nil || line != want {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}
}

// Shutdown lets a short request finish, then ends streams by cancelling
// their contexts, and Serve returns nil.
func TestGracefulShutdownEndsStreams(t *testing.T) {
	s := startServer(t, Options{DrainTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	resp, err := http.Get("http://" + s.addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	s.stop()
	if cause := <-s.ended; !errors.Is(cause, errShutdown) {
		t.Errorf("stream context ended with %v", cause)
	}
	if err := <-s.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	s.done <- nil // for the cleanup
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("stream still open after shutdown")
	}
	if _, err := net.Dial("tcp", s.addr); err == nil {
		t.Error("still accepting after shutdown")
	}
}

func TestServePlainHTTPAndListenerErrors(t *testing.T) {
	s := startServer(t, Options{Logger: slog.New(slog.DiscardHandler)})
	resp, err := http.Get("http://" + s.addr + "/proto")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/1.1" {
		t.Errorf("proto %q", body)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ln.Close()
	if err := Serve(context.Background(), ln, http.NotFoundHandler(), Options{}); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if err := Serve(context.Background(), ln, http.NotFoundHandler(), Options{TLS: &TLSConfig{CertFile: "/nonexistent", KeyFile: "/nonexistent"}}); err == nil {
		t.Error("Serve with missing certificate files returned nil")
	}
}
