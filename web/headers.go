package web

import (
	"net/http"
	"strconv"
)

// DefaultMaxHeaderBytes is the default limit on a request's line and
// headers. TradingView's requests carry a bearer token (a JWT of a few KB
// for ServerOAuth2Bearer) and, from browsers, cookies: 64 KiB leaves room
// for both many times over while bounding what one connection can make the
// server hold.
const DefaultMaxHeaderBytes = 64 << 10

// headerReadFactor is how much more than the limit net/http reads before it
// gives up on a request with its own plain-text 431. Up to there the
// request reaches limitHeaders, which answers in TradingView's form; net/http
// offers no way to change its own answer.
const headerReadFactor = 4

// limitHeaders answers 431 with TradingView's error body to a request whose
// line and headers exceed max bytes, and passes the others to next.
func limitHeaders(max int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := headerSize(r); n > max {
			tooLarge(w, n, max)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerSize is the size of r's request line and headers as sent, give or
// take optional whitespace: net/http keeps no raw copy, so it is counted
// from the parsed request.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len("  \r\n\r\n")
	if r.Host != "" {
		n += len("Host: \r\n") + len(r.Host) // net/http moves it out of Header
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + len(": \r\n")
		}
	}
	return n
}

func tooLarge(w http.ResponseWriter, n, max int) {
	body := `{"s":"error","errmsg":"request line and headers too large: ` + strconv.Itoa(n) +
		` bytes, at most ` + strconv.Itoa(max) + `"}` + "\n"
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Connection", "close") // whatever follows on this connection is suspect
	w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
	_, _ = w.Write([]byte(body))
}
