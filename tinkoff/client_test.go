package tinkoff

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge/clock"
)

// result carries a call's outcome out of a goroutine.
type result struct{ err error }

func TestRateLimitMarketBucketWaitsOthersIndependent(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/market/stocks", map[string]any{"total": 0, "instruments": []any{}})
	f.ok("GET", "/openapi/portfolio", map[string]any{"positions": []any{}})
	clk := testClock()
	c, tr := f.client(ClientConfig{Clock: clk}, false)
	ctx := context.Background()

	for i := range 120 {
		if _, err := c.Stocks(ctx); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	done := make(chan result, 1)
	go func() {
		_, err := c.Stocks(ctx)
		done <- result{err}
	}()
	clk.BlockUntil(1) // the 121st is waiting on the limiter's timer

	// Another bucket is not affected.
	if _, err := c.Portfolio(ctx, ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	select {
	case r := <-done:
		t.Fatalf("121st request finished within the minute: %v", r.err)
	default:
	}
	if n := f.count("/openapi/market/stocks"); n != 120 {
		t.Fatalf("server saw %d market requests, want 120", n)
	}
	clk.Advance(time.Second)
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
	if n := f.count("/openapi/market/stocks"); n != 121 {
		t.Fatalf("server saw %d market requests, want 121", n)
	}
	tr.check(t)
}

func TestRateLimitConfigurableAndCancellable(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/market/stocks", map[string]any{"instruments": []any{}})
	clk := testClock()
	c, _ := f.client(ClientConfig{Clock: clk, MarketPerMinute: 500, Limits: map[string]int{"market": 2}}, false)
	ctx, cancel := context.WithCancel(context.Background())
	for range 2 {
		if _, err := c.Stocks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan result, 1)
	go func() {
		_, err := c.Stocks(ctx)
		done <- result{err}
	}()
	clk.BlockUntil(1)
	cancel()
	r := <-done
	if !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "rate limit") {
		t.Fatalf("err = %v, want a cancelled rate-limit wait", r.err)
	}
	if clk.Waiters() != 0 {
		t.Fatalf("cancelled wait left %d timers", clk.Waiters())
	}
}

func TestLimiterSlidingWindow(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 3, time.Minute)
	for i := range 3 {
		if d := l.tryAcquire(); d != 0 {
			t.Fatalf("grant %d waited %v", i, d)
		}
		clk.Advance(10 * time.Second)
	}
	// Grants at 0s, 10s, 20s; now 30s: the next slot frees at 60s.
	if d := l.tryAcquire(); d != 30*time.Second {
		t.Fatalf("wait = %v, want 30s", d)
	}
	clk.Advance(30 * time.Second)
	if d := l.tryAcquire(); d != 0 {
		t.Fatalf("wait at 60s = %v, want 0", d)
	}
	if d := l.tryAcquire(); d != 10*time.Second {
		t.Fatalf("wait = %v, want 10s (the 10s grant frees at 70s)", d)
	}
}

// serveSequence answers successive requests with the given handlers, the
// last one repeating.
func serveSequence(f *fakeService, method, path string, hs ...http.HandlerFunc) *atomic.Int64 {
	var n atomic.Int64
	f.handle(method, path, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		hs[min(i, len(hs)-1)](w, r)
	})
	return &n
}

func status(code int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

func TestRetry429EmptyThenNonJSONThenSuccess(t *testing.T) {
	f := newFakeService(t)
	n := serveSequence(f, "GET", "/openapi/user/accounts",
		status(429, "", ""),
		status(429, "text/plain", "Too Many Requests"),
		func(w http.ResponseWriter, r *http.Request) {
			writeEnvelope(w, 200, "trk-acc", "Ok", map[string]any{
				"accounts": []map[string]string{{"brokerAccountType": "Tinkoff", "brokerAccountId": "2000"}}})
		})
	clk := testClock()
	c, tr := f.client(ClientConfig{Clock: clk}, false)
	done := make(chan result, 1)
	var accountID string
	go func() {
		acc, err := c.Accounts(context.Background())
		if err == nil && len(acc) == 1 {
			accountID = acc[0].BrokerAccountID
		}
		done <- result{err}
	}()
	clk.BlockUntil(1)
	clk.Advance(backoffBase) // first backoff: 1s
	clk.BlockUntil(1)
	clk.Advance(2 * backoffBase) // second: 2s
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
	if accountID != "2000" || n.Load() != 3 {
		t.Fatalf("account %q after %d requests", accountID, n.Load())
	}
	if s := c.Stats(); s.Requests != 3 || s.Retries != 2 || s.RateLimited != 2 || s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}
	tr.check(t)
}

func TestRetry429ForeverGivesUpWithStatus(t *testing.T) {
	f := newFakeService(t)
	n := serveSequence(f, "GET", "/openapi/user/accounts", status(429, "", ""))
	clk := testClock()
	c, tr := f.client(ClientConfig{Clock: clk}, false)
	done := make(chan result, 1)
	go func() {
		_, err := c.Accounts(context.Background())
		done <- result{err}
	}()
	for range defaultMaxRetries429 {
		clk.BlockUntil(1)
		clk.Advance(backoffMax)
	}
	err := (<-done).err
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 429 || !IsRateLimited(err) || !strings.Contains(err.Error(), "429") {
		t.Fatalf("err = %v, want a 429 *APIError", err)
	}
	if n.Load() != int64(defaultMaxRetries429+1) {
		t.Fatalf("%d requests, want %d", n.Load(), defaultMaxRetries429+1)
	}
	tr.check(t)
}

func TestRetry429Disabled(t *testing.T) {
	f := newFakeService(t)
	n := serveSequence(f, "GET", "/openapi/user/accounts", status(429, "text/html", "<html>slow down</html>"))
	c, _ := f.client(ClientConfig{MaxRetries429: -1}, false)
	_, err := c.Accounts(context.Background())
	if !IsRateLimited(err) || !strings.Contains(err.Error(), "slow down") || n.Load() != 1 {
		t.Fatalf("err = %v after %d requests", err, n.Load())
	}
}

func TestRetry429CancelledDuringBackoff(t *testing.T) {
	f := newFakeService(t)
	serveSequence(f, "GET", "/openapi/user/accounts", status(429, "", ""))
	clk := testClock()
	c, tr := f.client(ClientConfig{Clock: clk}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		_, err := c.Accounts(ctx)
		done <- result{err}
	}()
	clk.BlockUntil(1)
	cancel()
	if err := (<-done).err; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "429") {
		t.Fatalf("err = %v", err)
	}
	tr.check(t)
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		attempt    int
		retryAfter string
		want       time.Duration
	}{
		{0, "", time.Second},
		{1, "", 2 * time.Second},
		{4, "", 16 * time.Second},
		{5, "", backoffMax},
		{60, "", backoffMax},
		{0, "7", 7 * time.Second},
		{3, "2", 8 * time.Second},
		{0, "3600", retryAfterMax},
		{0, "Wed, 21 Oct 2015 07:28:00 GMT", time.Second},
		{0, "-5", time.Second},
	}
	for _, tc := range cases {
		if got := backoff(tc.attempt, tc.retryAfter); got != tc.want {
			t.Errorf("backoff(%d, %q) = %v, want %v", tc.attempt, tc.retryAfter, got, tc.want)
		}
	}
}

func TestErrorResponses(t *testing.T) {
	cases := []struct {
		name       string
		handler    http.HandlerFunc
		status     int
		code, msg  string
		trackingID string
		is         error
		isNot      []error
	}{
		{
			name: "error envelope",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeEnvelope(w, 500, "trk-500", "Error", map[string]string{"code": "VALIDATION_ERROR", "message": "[to]: Bad candle interval"})
			},
			status: 500, code: "VALIDATION_ERROR", msg: "[to]: Bad candle interval", trackingID: "trk-500",
			isNot: []error{ErrNotFound, ErrRateLimited},
		},
		{
			name: "not found code",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeEnvelope(w, 500, "trk-nf", "Error", map[string]string{"code": "NOT_FOUND", "message": "Instrument not found"})
			},
			status: 500, code: "NOT_FOUND", msg: "Instrument not found", trackingID: "trk-nf", is: ErrNotFound,
		},
		{
			name: "error envelope with HTTP 200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeEnvelope(w, 200, "trk-e", "ERROR", map[string]string{"code": "INTERNAL_ERROR"})
			},
			status: 200, code: "INTERNAL_ERROR", trackingID: "trk-e",
		},
		{
			name:    "401 empty",
			handler: status(401, "", ""),
			status:  401, msg: "empty body", is: ErrUnauthorized, isNot: []error{ErrForbidden},
		},
		{
			name: "403 envelope",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeEnvelope(w, 403, "trk-403", "Error", map[string]string{"message": "Invalid token"})
			},
			status: 403, msg: "Invalid token", trackingID: "trk-403", is: ErrForbidden, isNot: []error{ErrUnauthorized},
		},
		{
			name:    "500 HTML",
			handler: status(500, "text/html", "<html><body>\n<h1>502 Bad Gateway</h1></body></html>"),
			status:  500, msg: "<html><body> <h1>502 Bad Gateway", isNot: []error{ErrNotFound},
		},
		{
			name:    "503 JSON but not an envelope",
			handler: status(503, "application/json", `[1,2,3]`),
			status:  503, msg: "[1,2,3]",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeService(t)
			f.handle("GET", "/openapi/portfolio", tc.handler)
			c, tr := f.client(ClientConfig{}, false)
			_, err := c.Portfolio(context.Background(), "")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if apiErr.HTTPStatus != tc.status || apiErr.Code != tc.code || apiErr.TrackingID != tc.trackingID ||
				!strings.Contains(apiErr.Message, tc.msg) || apiErr.Method != "GET" || apiErr.Path != "/portfolio" {
				t.Fatalf("got %+v", apiErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if auth := tc.status == 401 || tc.status == 403; IsAuth(err) != auth {
				t.Errorf("IsAuth(%v) = %v", err, !auth)
			}
			for _, e := range tc.isNot {
				if errors.Is(err, e) {
					t.Errorf("errors.Is(%v, %v) = true", err, e)
				}
			}
			tr.check(t)
		})
	}
}

func TestUndefinedRouteIsNotNotFound(t *testing.T) {
	f := newFakeService(t) // nothing registered: every path is UNDEFINED_ROUTE
	c, tr := f.client(ClientConfig{}, false)
	_, err := c.Stocks(context.Background())
	if !errors.Is(err, ErrUndefinedRoute) || IsNotFound(err) {
		t.Fatalf("err = %v: want ErrUndefinedRoute and not IsNotFound", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 404 || apiErr.TrackingID != "trk-404" {
		t.Fatalf("got %+v", apiErr)
	}
	// A bare 404 without the route code counts as not found.
	f.raw("GET", "/openapi/market/search/by-figi", 404, "", "")
	if _, err := c.InstrumentByFIGI(context.Background(), "X"); !IsNotFound(err) {
		t.Fatalf("bare 404: err = %v, want IsNotFound", err)
	}
	tr.check(t)
}

func TestStatusComparedCaseInsensitively(t *testing.T) {
	for _, st := range []string{"Ok", "OK", "ok"} {
		f := newFakeService(t)
		f.handle("GET", "/openapi/portfolio/currencies", func(w http.ResponseWriter, r *http.Request) {
			writeEnvelope(w, 200, "trk", st, map[string]any{"currencies": []map[string]any{{"currency": "RUB", "balance": 1.5e3}}})
		})
		c, _ := f.client(ClientConfig{}, false)
		cur, err := c.PortfolioCurrencies(context.Background(), "")
		if err != nil || len(cur.Currencies) != 1 || cur.Currencies[0].Balance != 1500 {
			t.Fatalf("status %q: %+v, %v", st, cur, err)
		}
	}
}

func TestMalformedSuccessBodies(t *testing.T) {
	cases := map[string]string{
		"empty":          "",
		"not json":       "<html>ok</html>",
		"bad payload":    `{"trackingId":"t1","status":"Ok","payload":{"positions":"many"}}`,
		"unknown status": `{"trackingId":"t2","status":"Maybe","payload":{}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFakeService(t)
			f.raw("GET", "/openapi/portfolio", 200, "application/json", body)
			c, tr := f.client(ClientConfig{}, false)
			_, err := c.Portfolio(context.Background(), "")
			if err == nil || !strings.Contains(err.Error(), "200") || !strings.Contains(err.Error(), "/portfolio") {
				t.Fatalf("err = %v, want an error naming HTTP 200 and the path", err)
			}
			tr.check(t)
		})
	}
}

func TestTransportErrorWrapped(t *testing.T) {
	f := newFakeService(t)
	c, _ := f.client(ClientConfig{}, false)
	f.srv.Close()
	_, err := c.Accounts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GET /user/accounts") {
		t.Fatalf("err = %v", err)
	}
	if c.Stats().Errors != 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
}

func TestTokenSentAsBearer(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/user/accounts", map[string]any{"accounts": []any{}})
	c, _ := f.client(ClientConfig{Token: "t.abc"}, false)
	if _, err := c.Accounts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.recorded()[0].Auth; got != "Bearer t.abc" {
		t.Fatalf("Authorization = %q", got)
	}
}
