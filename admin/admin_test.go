package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// get sends a GET to the admin handler h (in process) with optional
// request changes, and returns the response.
func get(t *testing.T, h http.Handler, path string, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9090"+path, nil)
	for _, e := range edit {
		e(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return v
}

func TestHealthz(t *testing.T) {
	w := get(t, New(Config{}), "/healthz")
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"s":"ok"}` {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestReadyz(t *testing.T) {
	var storeOpen atomic.Bool
	storeOpen.Store(true)
	h := New(Config{Checks: []Check{
		{Name: "catalogue", Run: func(context.Context) error { return nil }},
		{Name: "store", Run: func(context.Context) error {
			if !storeOpen.Load() {
				return errors.New("bars.db is closed")
			}
			return nil
		}},
	}})
	w := get(t, h, "/readyz")
	if w.Code != http.StatusOK {
		t.Fatalf("all pass: got %d %s", w.Code, w.Body)
	}
	r := decode[Readiness](t, w)
	if r.S != "ok" || len(r.Checks) != 2 || r.Checks[0].Name != "catalogue" || r.Checks[1].Status != "ok" {
		t.Fatalf("body %+v", r)
	}

	storeOpen.Store(false)
	w = get(t, h, "/readyz")
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("one fails: got %d", w.Code)
	}
	r = decode[Readiness](t, w)
	if r.S != "error" || r.Checks[0].Status != "ok" || r.Checks[1].Status != "fail" || r.Checks[1].Why != "bars.db is closed" {
		t.Fatalf("body %+v", r)
	}
}

func TestReadyzTimeoutPanicAndCache(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var runs atomic.Int64
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := New(Config{CheckTimeout: 50 * time.Millisecond, Now: clock, Checks: []Check{
		{Name: "hangs", Run: func(context.Context) error { <-release; return nil }},
		{Name: "panics", Run: func(context.Context) error { panic("boom") }},
		{Name: "venue", CacheFor: 10 * time.Second, Run: func(context.Context) error { runs.Add(1); return nil }},
	}})
	w := get(t, h, "/readyz")
	r := decode[Readiness](t, w)
	if w.Code != http.StatusServiceUnavailable || r.Checks[0].Status != "fail" || !strings.Contains(r.Checks[0].Why, "no answer within") {
		t.Fatalf("hanging check: %d %+v", w.Code, r.Checks[0])
	}
	if r.Checks[1].Status != "fail" || !strings.Contains(r.Checks[1].Why, "panicked: boom") {
		t.Fatalf("panicking check: %+v", r.Checks[1])
	}
	// Concurrent polls share the cached venue result.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get(t, h, "/readyz") })
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("venue ran %d times within its CacheFor, want 1", n)
	}
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	get(t, h, "/readyz")
	if n := runs.Load(); n != 2 {
		t.Fatalf("venue ran %d times after CacheFor, want 2", n)
	}
}

func TestStreamCheck(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	fresh, old := now.Add(-time.Minute), now.Add(-10*time.Minute)
	inSession := func(freshN, staleN int) map[string]time.Time {
		m := map[string]time.Time{}
		for i := range freshN {
			m[string(rune('A'+i))] = fresh
		}
		for i := range staleN {
			m["S"+string(rune('A'+i))] = old
		}
		return m
	}
	for _, c := range []struct {
		name  string
		state StreamState
		th    StreamThresholds
		fail  string // "" passes
	}{
		{"all fresh", StreamState{ConnectionsUp: 2, Connections: 2, InSession: inSession(5, 0)}, StreamThresholds{}, ""},
		{"nothing in session", StreamState{ConnectionsUp: 1, Connections: 1}, StreamThresholds{}, ""},
		{"no connection up", StreamState{ConnectionsUp: 0, Connections: 6, InSession: inSession(5, 0)}, StreamThresholds{},
			"0 of 6 stream connections up, want at least 1"},
		{"min connections", StreamState{ConnectionsUp: 2, Connections: 6}, StreamThresholds{MinConnectionsUp: 3},
			"2 of 6 stream connections up, want at least 3"},
		{"stale within default 20%", StreamState{ConnectionsUp: 1, InSession: inSession(8, 2)}, StreamThresholds{}, ""},
		{"stale over 20%", StreamState{ConnectionsUp: 1, InSession: inSession(7, 3)}, StreamThresholds{},
			"3 of 10 instruments in session had no update for over 5m0s (at most 20% may): SA, SB, SC"},
		{"none may be stale", StreamState{ConnectionsUp: 1, InSession: inSession(9, 1)}, StreamThresholds{MaxStale: -1},
			"1 of 10 instruments in session"},
		{"longer max age", StreamState{ConnectionsUp: 1, InSession: inSession(0, 3)}, StreamThresholds{MaxAge: 15 * time.Minute}, ""},
		{"never updated", StreamState{ConnectionsUp: 1, InSession: map[string]time.Time{"X": {}}}, StreamThresholds{},
			"1 of 1 instruments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := StreamCheck("upstream", func() StreamState { return c.state }, c.th, clock).Run(context.Background())
			switch {
			case c.fail == "" && err != nil:
				t.Fatalf("want pass, got %v", err)
			case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail)):
				t.Fatalf("want %q, got %v", c.fail, err)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	if w := get(t, New(Config{}), "/metrics"); w.Code != http.StatusNotFound {
		t.Fatalf("no Metrics: got %d", w.Code)
	}
	m := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
	if w := get(t, New(Config{Metrics: m}), "/metrics"); w.Code != http.StatusOK || w.Body.String() != "up 1\n" {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
}

func TestStatus(t *testing.T) {
	ring := NewLogRing(slog.NewTextHandler(io.Discard, nil), 10)
	slog.New(ring).Warn("stream connection cap learned", "cap", 2)
	started := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	h := New(Config{Log: ring, Status: func() Status {
		return Status{Version: "v1.2.3", Started: started, Streaming: 4,
			Upstream: Upstream{State: "ok", Instruments: 105, Streaming: 105},
			Backfill: []Progress{{Name: "initial backfill", Done: 40, Total: 105, Unit: "instruments"}}}
	}})
	w := get(t, h, "/api/status")
	if w.Code != http.StatusOK {
		t.Fatalf("got %d", w.Code)
	}
	var s Status
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Version != "v1.2.3" || !s.Started.Equal(started) || s.Streaming != 4 || s.Backfill[0].Done != 40 || s.Time.IsZero() {
		t.Fatalf("status %+v", s)
	}
	if len(s.Log) != 1 || s.Log[0].Message != "stream connection cap learned" || s.Log[0].Attrs[0] != (Attr{"cap", "2"}) {
		t.Fatalf("log %+v", s.Log)
	}
	// A panicking snapshot is a 500, not a dead listener.
	h = New(Config{Status: func() Status { panic("nil map") }})
	if w := get(t, h, "/api/status"); w.Code != http.StatusInternalServerError {
		t.Fatalf("panicking Status: got %d", w.Code)
	}
}

// Go's profiler is on the admin listener, behind its protection.
func TestProfilerIsProtected(t *testing.T) {
	h := New(Config{Token: "s3cret-token"})
	if w := get(t, h, "/debug/pprof/", func(*http.Request) {}); w.Code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", w.Code)
	}
	w := get(t, h, "/debug/pprof/goroutine?debug=1", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") })
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine profile:") {
		t.Errorf("with the token: %d %.80q", w.Code, w.Body.String())
	}
}

func TestProtection(t *testing.T) {
	basic := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	host := func(h string) func(*http.Request) { return func(r *http.Request) { r.Host = h } }

	t.Run("none configured: loopback names only", func(t *testing.T) {
		h := New(Config{})
		for _, hst := range []string{"127.0.0.1:9090", "localhost:9090", "[::1]:9090", "admin.localhost", "10.1.2.3:9090"} {
			if w := get(t, h, "/api/status", host(hst)); w.Code != http.StatusOK {
				t.Errorf("Host %s: got %d", hst, w.Code)
			}
		}
		w := get(t, h, "/api/status", host("evil.example:9090"))
		if w.Code != http.StatusForbidden {
			t.Errorf("Host evil.example: got %d, want 403 (DNS rebinding)", w.Code)
		}
		if w := get(t, h, "/healthz", host("evil.example:9090")); w.Code != http.StatusOK {
			t.Errorf("probe by name: got %d", w.Code)
		}
	})

	t.Run("token", func(t *testing.T) {
		h := New(Config{Token: "s3cret-token"})
		cases := []struct {
			name string
			edit func(*http.Request)
			want int
		}{
			{"bearer", bearer("s3cret-token"), 200},
			{"wrong bearer", bearer("s3cret-tokem"), 401},
			{"token as basic password", basic("anyone", "s3cret-token"), 200},
			{"wrong basic", basic("anyone", "nope"), 401},
			{"nothing", func(*http.Request) {}, 401},
			{"by name", func(r *http.Request) { bearer("s3cret-token")(r); host("admin.example:9090")(r) }, 200},
		}
		for _, c := range cases {
			w := get(t, h, "/api/status", c.edit)
			if w.Code != c.want {
				t.Errorf("%s: got %d, want %d", c.name, w.Code, c.want)
			}
			if w.Code == 401 {
				if got := w.Header().Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[0], "Basic ") {
					t.Errorf("%s: WWW-Authenticate %q", c.name, got)
				}
				if strings.Contains(w.Body.String(), "s3cret") {
					t.Errorf("%s: the answer shows the secret", c.name)
				}
			}
		}
	})

	t.Run("basic", func(t *testing.T) {
		h := New(Config{User: "ops", Password: "correct horse"})
		for _, c := range []struct {
			name string
			edit func(*http.Request)
			want int
		}{
			{"right", basic("ops", "correct horse"), 200},
			{"wrong user", basic("opz", "correct horse"), 401},
			{"wrong password", basic("ops", "correct hors"), 401},
			{"bearer is no password", bearer("correct horse"), 401},
		} {
			if w := get(t, h, "/", c.edit); w.Code != c.want {
				t.Errorf("%s: got %d, want %d", c.name, w.Code, c.want)
			}
		}
		for _, p := range []string{"/metrics", "/api/status", "/tv/history", "/chart", "/static/console.css"} {
			if w := get(t, h, p); w.Code != http.StatusUnauthorized {
				t.Errorf("%s without credentials: got %d", p, w.Code)
			}
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			if w := get(t, h, p); w.Code != http.StatusOK {
				t.Errorf("probe %s: got %d", p, w.Code)
			}
		}
		hp := New(Config{User: "ops", Password: "correct horse", ProtectProbes: true})
		if w := get(t, hp, "/healthz"); w.Code != http.StatusUnauthorized {
			t.Errorf("ProtectProbes: got %d", w.Code)
		}
	})
}

func TestCrossOriginPostRefused(t *testing.T) {
	var posted atomic.Int64
	apiH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posted.Add(1) })
	h := New(Config{API: apiH})
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9090/tv/accounts/A1/orders", strings.NewReader("qty=1"))
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || posted.Load() != 0 {
		t.Fatalf("cross-site POST: got %d, API called %d times", w.Code, posted.Load())
	}
	r = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9090/tv/accounts/A1/orders", strings.NewReader("qty=1"))
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if posted.Load() != 1 {
		t.Fatalf("same-origin POST: got %d, API not called", w.Code)
	}
}

func TestAPIMountStripsPrefix(t *testing.T) {
	var got string
	apiH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.RequestURI() })
	get(t, New(Config{API: apiH}), "/tv/history?symbol=X&resolution=1")
	if got != "/history?symbol=X&resolution=1" {
		t.Fatalf("API saw %q", got)
	}
	if w := get(t, New(Config{}), "/tv/history"); w.Code != http.StatusNotFound {
		t.Fatalf("no API: got %d", w.Code)
	}
}

// TestStreamingThroughAdmin reads TradingView's real /streaming through
// the admin handler on a real socket: the response stays chunked and each
// tick arrives while the stream stays open, nothing held back in a
// buffer.
func TestStreamingThroughAdmin(t *testing.T) {
	w := newWorld(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.srv.URL+"/tv/streaming", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("status %d, transfer encoding %v", resp.StatusCode, resp.TransferEncoding)
	}
	lines := bufio.NewScanner(resp.Body)
	for i := range 3 {
		at := testStart.Add(time.Duration(i+1) * time.Second)
		w.trade(at, 100+float64(i), 1)
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		var m struct {
			F, ID string
			P     float64
			T     int64
		}
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		if m.F != "t" || m.ID != testSymbol || m.P != 100+float64(i) || m.T != at.Unix() {
			t.Fatalf("line %d: %q", i, lines.Text())
		}
	}
}

func TestStaticAssets(t *testing.T) {
	h := New(Config{})
	w := get(t, h, "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Lightweight Charts") {
		t.Fatalf("chart library: %d", w.Code)
	}
	tag := w.Header().Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	if w := get(t, h, "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js",
		func(r *http.Request) { r.Header.Set("If-None-Match", tag) }); w.Code != http.StatusNotModified {
		t.Fatalf("revalidation: got %d", w.Code)
	}
	for _, p := range []string{"/", "/chart"} {
		w := get(t, h, p)
		if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'self'") ||
			!strings.Contains(w.Body.String(), "<!doctype html>") {
			t.Errorf("%s: %d, CSP %q", p, w.Code, w.Header().Get("Content-Security-Policy"))
		}
	}
	for _, p := range []string{"/nope", "/static/", "/static/vendor/"} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("%s: got %d", p, w.Code)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9090": true, "localhost:9090": true, "[::1]:9090": true, "127.1.2.3:1": true,
		":9090": false, "0.0.0.0:9090": false, "10.0.0.1:9090": false, "admin.example:9090": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}
