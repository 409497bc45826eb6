package tinvest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

// fakeREST mimics the v2 REST gateway on a loopback server: handlers per
// full method name (POST /rest/<method>) or path; anything else is a 404
// without a gRPC body, as a wrong route gets.
type fakeREST struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	requests []recorded
}

type recorded struct {
	Method, Path, Query, Body, Auth, AppName string
	At                                       time.Time
}

func newFakeREST(t testing.TB) *fakeREST {
	f := &fakeREST{t: t, handlers: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeREST) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := strings.TrimPrefix(r.URL.Path, "/rest/")
	f.mu.Lock()
	f.requests = append(f.requests, recorded{Method: r.Method, Path: key, Query: r.URL.RawQuery, Body: string(body),
		Auth: r.Header.Get("Authorization"), AppName: r.Header.Get(wire.HeaderAppName)})
	h := f.handlers[key]
	f.mu.Unlock()
	if h == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	h(w, r)
}

func (f *fakeREST) handle(key string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[key] = h
}

// ok answers v as JSON with a tracking id.
func (f *fakeREST) ok(key string, v any) {
	f.handle(key, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, v) })
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(wire.HeaderTrackingID, "trk-"+http.StatusText(status))
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code wire.Code, message, description string, header map[string]string) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	writeJSON(w, status, map[string]any{"code": code, "message": message, "description": description})
}

func (f *fakeREST) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func (f *fakeREST) count(key string) int {
	n := 0
	for _, r := range f.recorded() {
		if r.Path == key {
			n++
		}
	}
	return n
}

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// client returns a client of the fake on a fake clock; its log fails the
// test if the token leaks.
func (f *fakeREST) client(t *testing.T, cfg Config) (*Client, *clock.Fake) {
	fake := clock.NewFake(t0)
	logs := &strings.Builder{}
	var mu sync.Mutex
	cfg.BaseURL = f.srv.URL + "/rest/"
	if cfg.Token == "" {
		cfg.Token = "secret-token"
	}
	cfg.Clock = fake
	cfg.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(logs.String(), cfg.Token) {
			t.Errorf("token leaked into the log:\n%s", logs.String())
		}
		if t.Failed() {
			t.Logf("client log:\n%s", logs.String())
		}
	})
	return NewClient(cfg), fake
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// waitRequests blocks until the fake has seen n requests for key; the
// deadline is a safety net.
func (f *fakeREST) waitRequests(t *testing.T, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.count(key) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests to %s, want %d", f.count(key), key, n)
		}
		time.Sleep(time.Millisecond)
	}
}
