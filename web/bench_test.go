package web

import (
	"net/http"
	"net/http/httptest"
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
