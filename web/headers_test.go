package web

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// sendHeaders sends a GET whose headers carry the given lines, over a new
// connection from dial, and reads the answer. The request is written while
// the answer is read: a server refusing it may stop reading midway.
func sendHeaders(t *testing.T, dial func() (net.Conn, error), lines ...string) (*http.Response, []byte) {
	t.Helper()
	conn, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /proto HTTP/1.1\r\nHost: broker.example\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
	go func() { _, _ = io.WriteString(conn, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%d bytes of headers: %v", len(req), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// header is a header line of n bytes in all, CRLF included.
func header(name string, n int) string {
	return name + ": " + strings.Repeat("a", n-len(name)-4)
}

// checkHeaderLimit requires requests up to max bytes of headers to pass
// and larger ones, up to 4 times max, to get 431 with TradingView's body.
func checkHeaderLimit(t *testing.T, max int, dial func() (net.Conn, error)) {
	t.Helper()
	// TradingView's data requests carry a JWT of a few KB, browsers cookies.
	resp, body := sendHeaders(t, dial, header("Authorization", 8<<10), header("Cookie", 4<<10))
	if resp.StatusCode != http.StatusOK || string(body) != "HTTP/1.1" {
		t.Fatalf("12 KB of headers: %d %q", resp.StatusCode, body)
	}
	resp, body = sendHeaders(t, dial, header("X-Fill", max-100))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("just under %d bytes: %d %q", max, resp.StatusCode, body)
	}
	for _, n := range []int{max + 100, 3 * max} {
		resp, body = sendHeaders(t, dial, header("Cookie", n/2), header("Authorization", n/2))
		var e struct{ S, Errmsg string }
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(body, &e) != nil || e.S != "error" || !strings.Contains(e.Errmsg, fmt.Sprintf("at most %d", max)) {
			t.Errorf("%d bytes of headers: %d %s %q", n, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	// Beyond 4 times the limit net/http cuts the request off itself.
	if resp, body = sendHeaders(t, dial, header("Cookie", 5*max)); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%d bytes of headers: %d %q", 5*max, resp.StatusCode, body)
	}
}

func TestHeaderLimitAnswersInTradingViewForm(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	for _, max := range []int{0, 16 << 10} {
		t.Run(fmt.Sprintf("plain/max=%d", max), func(t *testing.T) {
			s := startServer(t, Options{Logger: quiet, MaxHeaderBytes: max})
			if max == 0 {
				max = DefaultMaxHeaderBytes
			}
			checkHeaderLimit(t, max, func() (net.Conn, error) { return net.Dial("tcp", s.addr) })
		})
	}
	t.Run("tls", func(t *testing.T) {
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		ca := newCA(t)
		ca.writeLeaf(t, certFile, keyFile, 1, t0)
		s := startServer(t, Options{TLS: &TLSConfig{CertFile: certFile, KeyFile: keyFile, Logger: quiet}, Logger: quiet})
		checkHeaderLimit(t, DefaultMaxHeaderBytes, func() (net.Conn, error) {
			return tls.Dial("tcp", s.addr, &tls.Config{RootCAs: ca.pool})
		})
	})
}
