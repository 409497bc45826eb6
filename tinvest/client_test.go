package tinvest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// Requests are POSTs of camelCase JSON to /rest/<full method> with the
// bearer token and x-app-name; answers decode exactly.
func TestCallShapes(t *testing.T) {
	f := newFakeREST(t)
	f.ok(wire.MethodShares, map[string]any{"instruments": []any{map[string]any{
		"figi": "BBG004730N88", "ticker": "SBER", "classCode": "TQBR", "lot": 10, "currency": "rub", "name": "Сбер",
		"exchange": "MOEX_EVENING_WEEKEND", "uid": "e6123145", "realExchange": "REAL_EXCHANGE_MOEX",
		"minPriceIncrement": map[string]any{"nano": 10000000}, "first1minCandleDate": "2018-03-07T18:33:00Z",
		"someNewField": []int{1}}}})
	c, _ := f.client(t, Config{AppName: "tvbridge-test"})
	got, err := c.Catalogue(context.Background(), []Kind{KindShares}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].MinPriceIncrement != (wire.Quotation{Nano: 10000000}) || got[0].Lot != 10 {
		t.Fatalf("%+v", got)
	}
	inst := instrumentFrom(got[0])
	if inst.FIGI != "BBG004730N88" || inst.UID != "e6123145" || inst.ClassCode != "TQBR" || inst.MinPriceIncrement != 0.01 ||
		inst.Exchange != "MOEX" || inst.Currency != "RUB" || inst.Type != tvbridge.Stock ||
		!inst.FirstMinute.Equal(time.Date(2018, 3, 7, 18, 33, 0, 0, time.UTC)) {
		t.Fatalf("instrument %+v", inst)
	}
	r := f.recorded()[0]
	if r.Method != http.MethodPost || r.Auth != "Bearer secret-token" || r.AppName != "tvbridge-test" ||
		r.Body != `{"instrumentStatus":"INSTRUMENT_STATUS_BASE"}` {
		t.Fatalf("request %+v", r)
	}
}

// A 429 waits for x-ratelimit-reset on the clock, then retries; the bucket
// is held meanwhile for every caller.
func TestRateLimitedWaitsForReset(t *testing.T) {
	f := newFakeREST(t)
	var n atomic.Int32
	f.handle(wire.MethodGetTradingStatus, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			writeError(w, http.StatusTooManyRequests, wire.CodeResourceExhausted, "80002", "", map[string]string{
				wire.HeaderRateLimitReset: "7", wire.HeaderRateLimitRemaining: "0", wire.HeaderRateLimitLimit: "600, 600;w=60"})
			return
		}
		writeJSON(w, 200, map[string]any{"tradingStatus": "SECURITY_TRADING_STATUS_NORMAL_TRADING"})
	})
	c, fake := f.client(t, Config{})
	done := make(chan error, 1)
	go func() {
		st, _, err := c.TradingStatus(context.Background(), "uid")
		if err == nil && st != tvbridge.StatusNormalTrading {
			err = errors.New("status " + string(st))
		}
		done <- err
	}()
	f.waitRequests(t, wire.MethodGetTradingStatus, 1)
	fake.BlockUntil(1) // the retry waits on the bucket's hold
	fake.Advance(6 * time.Second)
	if f.count(wire.MethodGetTradingStatus) != 1 {
		t.Fatal("retried before the reset")
	}
	fake.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.RateLimited != 1 || st.Retries != 1 || st.Requests != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// x-ratelimit-remaining: 0 holds the bucket until the reset, before any 429.
func TestRemainingZeroHoldsTheBucket(t *testing.T) {
	f := newFakeREST(t)
	f.handle(wire.MethodGetLastPrices, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(wire.HeaderRateLimitRemaining, "0")
		w.Header().Set(wire.HeaderRateLimitReset, "30")
		writeJSON(w, 200, map[string]any{})
	})
	c, fake := f.client(t, Config{})
	if _, err := c.LastPrices(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.LastPrices(context.Background(), []string{"a"}); done <- err }()
	fake.BlockUntil(1)
	fake.Advance(29 * time.Second)
	if n := f.count(wire.MethodGetLastPrices); n != 1 {
		t.Fatalf("%d requests before the reset", n)
	}
	fake.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// 40003 / UNAUTHENTICATED is final: no retry, IsAuth, a message that says
// what to do, the tracking id in the error.
func TestTokenErrorsAreFatal(t *testing.T) {
	f := newFakeREST(t)
	f.handle(wire.MethodGetAccounts, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusUnauthorized, wire.CodeUnauthenticated, "40003", "Authentication token is missing or invalid", nil)
	})
	f.handle(wire.MethodGetPortfolio, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, wire.CodePermissionDenied, "40004", "", nil)
	})
	c, _ := f.client(t, Config{})
	_, err := c.Accounts(context.Background(), "")
	var apiErr *APIError
	if !IsAuth(err) || !errors.Is(err, ErrUnauthenticated) || !errors.As(err, &apiErr) || apiErr.ServiceCode != "40003" ||
		apiErr.TrackingID != "trk-Unauthorized" || !strings.Contains(err.Error(), "issue a new one") {
		t.Fatalf("err %v", err)
	}
	if _, err := c.Portfolio(context.Background(), "A"); !IsAuth(err) || !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("permission: %v", err)
	}
	if n := len(f.recorded()); n != 2 {
		t.Fatalf("%d requests, want 2 (no retries)", n)
	}
}

// 5xx / UNAVAILABLE is retried with backoff for repeatable calls (orders
// included, thanks to their idempotency key), never for SandboxPayIn.
func TestUnavailableRetried(t *testing.T) {
	f := newFakeREST(t)
	var n atomic.Int32
	f.handle(wire.MethodPostOrder, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "service unavailable", "", nil)
			return
		}
		var req wire.PostOrderRequest
		json.NewDecoder(r.Body).Decode(&req)
		writeJSON(w, 200, wire.PostOrderResponse{OrderID: "X1", OrderRequestID: req.OrderID,
			ExecutionReportStatus: wire.ExecutionReportStatusNew, LotsRequested: req.Quantity})
	})
	f.handle(wire.MethodSandboxPayIn, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusInternalServerError, wire.CodeInternal, "70001", "", nil)
	})
	c, fake := f.client(t, Config{})
	key := IdempotencyKey("request-1", "A")
	done := make(chan error, 1)
	var resp wire.PostOrderResponse
	go func() {
		var err error
		resp, err = c.PostOrder(context.Background(), OrderParams{AccountID: "A", InstrumentID: "uid", Lots: 2,
			Direction: wire.OrderDirectionBuy, Type: wire.OrderTypeLimit, Price: 195.2, Tick: 0.01, Key: key})
		done <- err
	}()
	for i := 1; i <= 2; i++ {
		f.waitRequests(t, wire.MethodPostOrder, i)
		fake.BlockUntil(1)
		fake.Advance(time.Minute)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if resp.OrderID != "X1" || resp.OrderRequestID != key || len(key) != 36 {
		t.Fatalf("%+v", resp)
	}
	for _, r := range f.recorded() {
		if !strings.Contains(r.Body, `"price":{"units":"195","nano":200000000}`) || !strings.Contains(r.Body, `"quantity":"2"`) {
			t.Fatalf("order body %s", r.Body)
		}
	}
	if _, err := c.SandboxPayIn(context.Background(), "A", wire.Money("rub", wire.Quotation{Units: 1000})); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("pay-in: %v", err)
	}
	if n := f.count(wire.MethodSandboxPayIn); n != 1 {
		t.Fatalf("SandboxPayIn sent %d times", n)
	}
	if _, err := Price(195.205, 0.01); err == nil {
		t.Fatal("a price off the tick was accepted")
	}
	if IdempotencyKey("a", "bc") == IdempotencyKey("ab", "c") {
		t.Fatal("idempotency keys collide")
	}
}

// A wrong base URL is a route error, not a missing object.
func TestUndefinedRoute(t *testing.T) {
	f := newFakeREST(t)
	c, _ := f.client(t, Config{})
	_, err := c.Orders(context.Background(), "A")
	if !errors.Is(err, ErrUndefinedRoute) || IsNotFound(err) {
		t.Fatalf("%v", err)
	}
}

func TestEndpoints(t *testing.T) {
	e, err := EndpointsFor("https://sandbox-invest-public-api.tinkoff.ru/rest/")
	if err != nil || e.Stream != "wss://sandbox-invest-public-api.tinkoff.ru/ws/" ||
		e.History != "https://invest-public-api.tinkoff.ru/history-data" {
		t.Fatalf("%+v %v", e, err)
	}
	e, _ = EndpointsFor("http://127.0.0.1:8080/rest/")
	if e.Stream != "ws://127.0.0.1:8080/ws/" || e.History != "http://127.0.0.1:8080/history-data" {
		t.Fatalf("%+v", e)
	}
	for _, p := range []Endpoints{ProductionTinkoff, SandboxTinkoff, ProductionTBank, SandboxTBank} {
		if !strings.HasSuffix(p.REST, "/rest/") || !strings.HasSuffix(p.Stream, "/ws/") {
			t.Fatalf("%+v", p)
		}
	}
	if BucketOf(wire.MethodPostOrder) != BucketPostOrder || BucketOf(wire.MethodReplaceOrder) != BucketOrders ||
		BucketOf(wire.MethodGetCandles) != BucketMarketData || BucketOf(wire.MethodPostSandboxOrder) != BucketSandbox {
		t.Fatal("buckets")
	}
}
