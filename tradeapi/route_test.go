package tradeapi

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"tvbridge"
)

// fastRoute takes only what the mux routes to the same polled endpoint
// with the same accountId, and does take the polled endpoints.
func TestFastRouteAgreesWithTheMux(t *testing.T) {
	h := newFixture(t).h
	// What the mux extracts, pattern by pattern.
	var gotPattern, gotAccount string
	ref := http.NewServeMux()
	for _, p := range []string{"GET /accounts/{accountId}/orders", "GET /accounts/{accountId}/positions",
		"GET /accounts/{accountId}/state", "GET /quotes"} {
		ref.HandleFunc(p, func(_ http.ResponseWriter, r *http.Request) {
			gotPattern, gotAccount = r.Pattern, r.PathValue("accountId")
		})
	}
	targets := []string{
		"/accounts/A1/orders", "/accounts/A1/positions", "/accounts/A1/state", "/quotes", "/quotes?symbols=A,B",
		"/accounts/A1/state?locale=ru", "/accounts/a.b/orders", "/accounts/.../orders", "/accounts/-_~/state",
		"/accounts/A1/orders/", "/accounts//orders", "/accounts/./orders", "/accounts/../orders",
		"/accounts/a%2Fb/orders", "/accounts/a%20b/positions", "/accounts/%41/state", "/accounts/A1%2F/orders",
		"/accounts/A1/ordersHistory", "/accounts/A1/orders/5", "/Accounts/A1/orders", "/accounts/A1/Orders",
		"/quotes/", "//quotes", "/quotes/x", "/accounts", "/accounts/", "/accounts/A1", "/accounts/A1/",
		"/accounts/\u00fc/orders", "/accounts/%C3%BC/state", "/accounts/A1/./orders", "/accounts/A1/x/../orders",
		"/accounts/A1/balances", "/accounts/A1/instruments", "/config", "/mapping", "/",
	}
	fast := 0
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get"} {
		for _, target := range targets {
			r := httptest.NewRequest(method, "http://broker.example"+target, nil)
			_, account, ok := h.fastRoute(r)
			if !ok {
				continue
			}
			fast++
			_, pattern := h.mux.Handler(r)
			gotPattern, gotAccount = "", ""
			ref.ServeHTTP(httptest.NewRecorder(), r)
			if pattern == "" || pattern != gotPattern || account != gotAccount {
				t.Errorf("%s %s: fast route with account %q; the mux: pattern %q, reference %q with account %q",
					method, target, account, pattern, gotPattern, gotAccount)
			}
		}
	}
	for _, target := range []string{"/accounts/A1/orders", "/accounts/A1/positions", "/accounts/A1/state", "/quotes"} {
		for _, method := range []string{"GET", "HEAD"} {
			if _, _, ok := h.fastRoute(httptest.NewRequest(method, target, nil)); !ok {
				t.Errorf("%s %s is not fast-routed", method, target)
			}
		}
	}
	if fast < 16 {
		t.Errorf("only %d requests fast-routed", fast)
	}
}

// A fast-routed request is served exactly as through the mux.
func TestFastRoutedAnswersAreTheMuxs(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/accounts/A1/orders", "/accounts/A1/positions", "/accounts/A1/state",
		"/accounts/NOPE/orders", "/quotes?accountId=A1&symbols=SBER", "/quotes", "/accounts/A1/state?locale=ru",
		"/accounts/A1/orders?locale=ru&x=%zz"} {
		for _, user := range []string{"alice", ""} {
			var got [2]*httptest.ResponseRecorder
			for i, serve := range []http.Handler{f.h, f.h.mux} {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				if user != "" {
					r = r.WithContext(tvbridge.WithPrincipal(r.Context(), tvbridge.Principal{User: user, Scheme: "test"}))
				}
				got[i] = httptest.NewRecorder()
				serve.ServeHTTP(got[i], r)
			}
			fast, mux := got[0], got[1]
			if fast.Code != mux.Code || fast.Body.String() != mux.Body.String() || !maps.EqualFunc(fast.Header(), mux.Header(), slices.Equal) {
				t.Errorf("%s as %q: fast %d %v %s; mux %d %v %s", path, user, fast.Code, fast.Header(), fast.Body,
					mux.Code, mux.Header(), mux.Body)
			}
		}
	}
}

func TestContentLength(t *testing.T) {
	for _, n := range []int{0, 1, 381, 3399, 8<<10 - 1, 8 << 10, 1 << 20} {
		for range 2 {
			if got := contentLength(n); len(got) != 1 || got[0] != strconv.Itoa(n) || cap(got) != 1 {
				t.Fatalf("contentLength(%d) = %q (cap %d)", n, got, cap(got))
			}
		}
	}
}

// parseQuery is url.ParseQuery, cached or not, and stays bounded.
func TestParseQuery(t *testing.T) {
	for _, raw := range []string{"", "a=1", "accountId=A1&symbols=SBER,GAZP", "a=1&a=2&b=", "x=%zz&a=1", "a;b=1",
		"locale=ru&maxCount=5", "%41=%42", strings.Repeat("k=v&", 200)} {
		want, wantErr := url.ParseQuery(raw)
		for range 3 {
			got, err := parseQuery(raw)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("%q: error %v, want %v", raw, err, wantErr)
			}
			if len(got) != len(want) || !maps.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("%q: %v, want %v", raw, got, want)
			}
		}
	}
	for i := range maxCachedQueries + 10 {
		raw := "n=" + strconv.Itoa(i)
		if got, _ := parseQuery(raw); got.Get("n") != strconv.Itoa(i) {
			t.Fatalf("%s: %v", raw, got)
		}
	}
	if n := queriesKept.Load(); n > maxCachedQueries {
		t.Errorf("%d queries kept", n)
	}
}
