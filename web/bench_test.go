package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCORS is the cost CORS adds to a request from an allowed origin.
func BenchmarkCORS(b *testing.B) {
	h := CORS(CORSConfig{Staging: true}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/accounts", nil)
	r.Header.Set("Origin", "https://www.tradingview.com")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// BenchmarkHeaderLimit is the cost the header-size check adds to a request
// like TradingView's /history polls: a 1.5 KB bearer token and the usual
// headers.
func BenchmarkHeaderLimit(b *testing.B) {
	h := limitHeaders(DefaultMaxHeaderBytes, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/history?symbol=SBER&resolution=1&from=1709856000&to=1709942399", nil)
	r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 1500))
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("User-Agent", "TradingView")
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
