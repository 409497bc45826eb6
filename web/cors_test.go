package web

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusHandler answers every request with the status in the path, like
// the API does for success (200), a bad token (401) or an unknown path (404).
func statusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/unauthorized":
			w.Header().Set("WWW-Authenticate", `Bearer realm="tvbridge"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			http.Error(w, "nope", http.StatusNotFound)
		}
		_, _ = w.Write([]byte(`{"s":"ok"}`))
	})
}

func corsRequest(h http.Handler, method, path, origin string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestCORSAllowedOriginsOnEveryStatus(t *testing.T) {
	h := CORS(CORSConfig{}, statusHandler())
	for _, origin := range []string{"https://www.tradingview.com", "https://ru.tradingview.com", "https://a.b.tradingview.com", "https://WWW.TradingView.com", "https://www.tradingview.com:443"} {
		for _, path := range []string{"/ok", "/unauthorized", "/missing"} {
			w := corsRequest(h, http.MethodGet, path, origin)
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("%s %s (%d): Allow-Origin %q", origin, path, w.Code, got)
			}
			if w.Header().Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
				t.Errorf("%s %s: headers %v", origin, path, w.Header())
			}
		}
	}
}

func TestCORSDisallowedOrigins(t *testing.T) {
	h := CORS(CORSConfig{}, statusHandler())
	for _, origin := range []string{
		"https://tradingview.com", "http://www.tradingview.com", "https://www.tradingview.com.evil.com",
		"https://eviltradingview.com", "https://www.tradingview.com:8443", "null", "https://www.xstaging.tv",
		"http://localhost:6285", "https://www.tradingview.com/", "https://www.tradingview.com/path",
		"https://user@www.tradingview.com", "https://evil.com#.tradingview.com", "https://evil.com?.tradingview.com",
		"https://.tradingview.com", "https://x..tradingview.com", "javascript://www.tradingview.com", "*",
	} {
		for _, path := range []string{"/ok", "/unauthorized"} {
			w := corsRequest(h, http.MethodGet, path, origin)
			for k := range w.Header() {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%q %s: got %s", origin, path, k)
				}
			}
			if w.Code != http.StatusOK && path == "/ok" {
				t.Errorf("%q: the request itself was blocked (%d); the browser does that", origin, w.Code)
			}
		}
	}
	// No Origin header (a server, like TradingView's data feed): untouched.
	if w := corsRequest(h, http.MethodGet, "/ok", ""); w.Header().Get("Access-Control-Allow-Origin") != "" || w.Code != 200 {
		t.Errorf("no origin: %v", w.Header())
	}
}

func TestCORSStagingAndCustomOrigins(t *testing.T) {
	h := CORS(CORSConfig{Staging: true}, statusHandler())
	for origin, want := range map[string]bool{"https://www.tradingview.com": true, "https://beta.xstaging.tv": true,
		"http://localhost:6285": true, "http://localhost:6286": false, "https://localhost:6285": false} {
		if got := corsRequest(h, http.MethodGet, "/ok", origin).Header().Get("Access-Control-Allow-Origin") == origin; got != want {
			t.Errorf("staging, %s: allowed %v", origin, got)
		}
	}
	h = CORS(CORSConfig{Origins: []string{"https://broker.example:8443"}}, statusHandler())
	if corsRequest(h, http.MethodGet, "/ok", "https://www.tradingview.com").Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("custom list still allows the defaults")
	}
	if corsRequest(h, http.MethodGet, "/ok", "https://broker.example:8443").Header().Get("Access-Control-Allow-Origin") == "" {
		t.Error("custom origin refused")
	}
	for _, bad := range []string{"tradingview.com", "https://*", "https://*.x.com/path", "ftp://x.com", "https://a b.com"} {
		if err := (CORSConfig{Origins: []string{bad}}).Validate(); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestCORSPreflight(t *testing.T) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("preflight reached the API") })
	h := CORS(CORSConfig{}, next)
	w := corsRequest(h, http.MethodOptions, "/accounts/1/orders", "https://www.tradingview.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type, x-bad header",
		"Access-Control-Request-Private-Network", "true")
	hdr := w.Header()
	if w.Code != http.StatusNoContent || hdr.Get("Access-Control-Allow-Origin") != "https://www.tradingview.com" ||
		!strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "DELETE") || hdr.Get("Access-Control-Allow-Headers") != "authorization, content-type" ||
		hdr.Get("Access-Control-Max-Age") != "600" || hdr.Get("Access-Control-Allow-Credentials") != "true" ||
		hdr.Get("Access-Control-Allow-Private-Network") != "true" {
		t.Errorf("allowed preflight: %d %v", w.Code, hdr)
	}
	w = corsRequest(h, http.MethodOptions, "/accounts", "https://evil.example", "Access-Control-Request-Method", "GET")
	if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("disallowed preflight: %d %v", w.Code, w.Header())
	}
	// A plain OPTIONS (no Access-Control-Request-Method) is the API's business.
	called := false
	h = CORS(CORSConfig{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	corsRequest(h, http.MethodOptions, "/", "https://www.tradingview.com")
	if !called {
		t.Error("plain OPTIONS did not reach the API")
	}
}

// Access-Control-Max-Age lets browsers reuse a preflight instead of asking
// before every poll: 10 minutes by default, configurable, or none.
func TestCORSPreflightMaxAge(t *testing.T) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("preflight reached the API") })
	for _, c := range []struct {
		maxAge time.Duration
		want   []string
	}{{0, []string{"600"}}, {2 * time.Minute, []string{"120"}}, {1500 * time.Millisecond, []string{"1"}}, {-1, nil}} {
		w := corsRequest(CORS(CORSConfig{MaxAge: c.maxAge}, next), http.MethodOptions, "/accounts/1/state",
			"https://www.tradingview.com", "Access-Control-Request-Method", "GET")
		if got := w.Header().Values("Access-Control-Max-Age"); w.Code != http.StatusNoContent || !slices.Equal(got, c.want) {
			t.Errorf("MaxAge %s: %d, Access-Control-Max-Age %q, want %q", c.maxAge, w.Code, got, c.want)
		}
	}
}

// FuzzCORSOrigin: whatever the Origin header, an allowed one is an https
// subdomain of tradingview.com on the default port, echoed verbatim.
func FuzzCORSOrigin(f *testing.F) {
	for _, s := range []string{"https://www.tradingview.com", "https://tradingview.com", "https://a.tradingview.com:443",
		"https://x.tradingview.com.", "HTTPS://X.TRADINGVIEW.COM", "https://[::1]", "https://%2e.tradingview.com", "https://a.tradingview.com:0"} {
		f.Add(s)
	}
	h := CORS(CORSConfig{}, statusHandler())
	f.Fuzz(func(t *testing.T, origin string) {
		r := httptest.NewRequest(http.MethodGet, "/ok", nil)
		r.Header["Origin"] = []string{origin}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("Access-Control-Allow-Origin")
		if got == "" {
			return
		}
		low := strings.ToLower(origin)
		low = strings.TrimSuffix(low, ":443")
		if got != origin || !strings.HasPrefix(low, "https://") || !strings.HasSuffix(low, ".tradingview.com") ||
			strings.ContainsAny(low[len("https://"):], "/?#@%\\ ") {
			t.Fatalf("origin %q allowed", origin)
		}
	})
}

// Origins are judged once and remembered, up to a bound; past it, each is
// still judged right, and remembered verdicts stay right.
func TestCORSRemembersVerdictsBounded(t *testing.T) {
	h := CORS(CORSConfig{}, statusHandler())
	check := func(origin string, allowed bool) {
		t.Helper()
		for range 2 {
			w := corsRequest(h, http.MethodGet, "/ok", origin)
			got := w.Header().Get("Access-Control-Allow-Origin")
			if allowed && (got != origin || w.Header().Get("Access-Control-Allow-Credentials") != "true" ||
				w.Header().Get("Access-Control-Expose-Headers") != "Retry-After, WWW-Authenticate") ||
				!allowed && (got != "" || len(w.Header()["Access-Control-Allow-Credentials"]) != 0) {
				t.Fatalf("%s (allowed %v): headers %v", origin, allowed, w.Header())
			}
		}
	}
	check("https://www.tradingview.com", true)
	check("https://evil.example", false)
	for i := range maxOriginVerdicts + 10 {
		check("https://x"+strconv.Itoa(i)+".tradingview.com", true)
		check("https://x"+strconv.Itoa(i)+".evil.example", false)
	}
	check("https://www.tradingview.com", true)
	check("https://evil.example", false)
	check("https://late.tradingview.com", true)
	check("https://late.evil.example", false)
	// A handler adding to the shared values does not change them for others.
	add := CORS(CORSConfig{}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("Access-Control-Expose-Headers", "X-Other")
		w.Header().Add("Access-Control-Allow-Origin", "https://other.example")
	}))
	corsRequest(add, http.MethodGet, "/ok", "https://www.tradingview.com")
	check("https://www.tradingview.com", true)
}
