package tinkoff

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wantRequest is the expected shape of one request.
type wantRequest struct {
	method, path string
	query        url.Values
	body         string // JSON, compared semantically; "" = no body
}

func checkRequest(t *testing.T, got recordedRequest, want wantRequest) {
	t.Helper()
	if got.Method != want.method || got.Path != want.path {
		t.Errorf("request %s %s, want %s %s", got.Method, got.Path, want.method, want.path)
	}
	if want.query == nil {
		want.query = url.Values{}
	}
	if !reflect.DeepEqual(got.Query, want.query) {
		t.Errorf("%s: query %v, want %v", want.path, got.Query, want.query)
	}
	if got.Auth != "Bearer secret-token" {
		t.Errorf("%s: Authorization %q", want.path, got.Auth)
	}
	if want.body == "" {
		if got.Body != "" {
			t.Errorf("%s: unexpected body %q", want.path, got.Body)
		}
		return
	}
	if got.ContentType != "application/json" {
		t.Errorf("%s: Content-Type %q", want.path, got.ContentType)
	}
	var g, w any
	if err := json.Unmarshal([]byte(got.Body), &g); err != nil {
		t.Fatalf("%s: body %q: %v", want.path, got.Body, err)
	}
	json.Unmarshal([]byte(want.body), &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: body %s, want %s", want.path, got.Body, want.body)
	}
}

func TestSandboxRequestShapes(t *testing.T) {
	f := newFakeService(t)
	const base = "/openapi/sandbox/sandbox"
	f.ok("POST", base+"/register", map[string]string{"brokerAccountType": "Tinkoff", "brokerAccountId": "SB1"})
	for _, p := range []string{"/currencies/balance", "/positions/balance", "/remove", "/clear"} {
		f.ok("POST", base+p, map[string]any{})
	}
	c, tr := f.client(ClientConfig{}, true)
	ctx := context.Background()

	acc, err := c.SandboxRegister(ctx, "Tinkoff")
	if err != nil || acc.BrokerAccountID != "SB1" {
		t.Fatalf("register: %+v, %v", acc, err)
	}
	if _, err := c.SandboxRegister(ctx, ""); err != nil {
		t.Fatal(err)
	}
	steps := []error{
		c.SandboxSetCurrencyBalance(ctx, "SB1", "USD", 100.5),
		c.SandboxSetPositionBalance(ctx, "SB 1&2", "BBG000B9XRY4", 3),
		c.SandboxRemove(ctx, "SB1"),
		c.SandboxClear(ctx, ""),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []wantRequest{
		{"POST", base + "/register", nil, `{"brokerAccountType":"Tinkoff"}`},
		{"POST", base + "/register", nil, ""},
		{"POST", base + "/currencies/balance", url.Values{"brokerAccountId": {"SB1"}}, `{"currency":"USD","balance":100.5}`},
		{"POST", base + "/positions/balance", url.Values{"brokerAccountId": {"SB 1&2"}}, `{"figi":"BBG000B9XRY4","balance":3}`},
		{"POST", base + "/remove", url.Values{"brokerAccountId": {"SB1"}}, ""},
		{"POST", base + "/clear", nil, ""},
	}
	got := f.recorded()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d", len(got), len(want))
	}
	for i := range want {
		checkRequest(t, got[i], want[i])
	}
	tr.check(t)
}

func TestOrdersPortfolioRequestShapes(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/orders", []map[string]any{{"orderId": "o1", "figi": "F", "operation": "Buy", "status": "New",
		"requestedLots": 2, "executedLots": 0, "type": "Limit", "price": 1.2e2}})
	placed := map[string]any{"orderId": "o2", "operation": "Sell", "status": "Fill", "requestedLots": 1, "executedLots": 1,
		"commission": map[string]any{"currency": "USD", "value": 0.5}}
	f.ok("POST", "/openapi/orders/limit-order", placed)
	f.ok("POST", "/openapi/orders/market-order", placed)
	f.ok("POST", "/openapi/orders/cancel", map[string]any{})
	f.ok("GET", "/openapi/portfolio", map[string]any{"positions": []map[string]any{{"figi": "F", "instrumentType": "Stock",
		"balance": 2, "lots": 2, "name": "n", "averagePositionPrice": map[string]any{"currency": "RUB", "value": 99.5}}}})
	f.ok("GET", "/openapi/operations", map[string]any{"operations": []map[string]any{{"id": "op1", "status": "Done",
		"currency": "RUB", "payment": -199, "isMarginCall": false, "date": "2021-06-01T10:00:00.131642+03:00", "operationType": "Buy"}}})
	c, tr := f.client(ClientConfig{}, false)
	ctx := context.Background()

	orders, err := c.Orders(ctx, "2000")
	if err != nil || len(orders) != 1 || orders[0].OrderID != "o1" || orders[0].Price != 120 {
		t.Fatalf("orders: %+v, %v", orders, err)
	}
	lo, err := c.LimitOrder(ctx, "2000", "BBG+1", 2, Buy, 101.5)
	if err != nil || lo.OrderID != "o2" || lo.Commission == nil || lo.Commission.Value != 0.5 {
		t.Fatalf("limit order: %+v, %v", lo, err)
	}
	if _, err := c.MarketOrder(ctx, "", "BBG+1", 1, Sell); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelOrder(ctx, "2000", "o 1/2"); err != nil {
		t.Fatal(err)
	}
	pf, err := c.Portfolio(ctx, "2000")
	if err != nil || len(pf.Positions) != 1 || pf.Positions[0].AveragePositionPrice.Value != 99.5 {
		t.Fatalf("portfolio: %+v, %v", pf, err)
	}
	from := time.Date(2021, 6, 1, 0, 0, 0, 0, msk)
	ops, err := c.Operations(ctx, "2000", from, from.Add(24*time.Hour), "BBG+1")
	if err != nil || len(ops) != 1 || ops[0].Payment != -199 {
		t.Fatalf("operations: %+v, %v", ops, err)
	}

	want := []wantRequest{
		{"GET", "/openapi/orders", url.Values{"brokerAccountId": {"2000"}}, ""},
		{"POST", "/openapi/orders/limit-order", url.Values{"brokerAccountId": {"2000"}, "figi": {"BBG+1"}}, `{"lots":2,"operation":"Buy","price":101.5}`},
		{"POST", "/openapi/orders/market-order", url.Values{"figi": {"BBG+1"}}, `{"lots":1,"operation":"Sell"}`},
		{"POST", "/openapi/orders/cancel", url.Values{"brokerAccountId": {"2000"}, "orderId": {"o 1/2"}}, ""},
		{"GET", "/openapi/portfolio", url.Values{"brokerAccountId": {"2000"}}, ""},
		{"GET", "/openapi/operations", url.Values{"brokerAccountId": {"2000"}, "figi": {"BBG+1"},
			"from": {"2021-06-01T00:00:00+03:00"}, "to": {"2021-06-02T00:00:00+03:00"}}, ""},
	}
	got := f.recorded()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d", len(got), len(want))
	}
	for i := range want {
		checkRequest(t, got[i], want[i])
	}
	if raw := got[5].RawQuery; !strings.Contains(raw, "%2B03%3A00") {
		t.Errorf("operations query %q: offset not escaped", raw)
	}
	tr.check(t)
}

func TestOrderArgumentsValidated(t *testing.T) {
	f := newFakeService(t)
	c, _ := f.client(ClientConfig{}, false)
	ctx := context.Background()
	t0 := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
	calls := map[string]func() error{
		"no figi":        func() error { _, err := c.LimitOrder(ctx, "", "", 1, Buy, 1); return err },
		"zero lots":      func() error { _, err := c.MarketOrder(ctx, "", "F", 0, Buy); return err },
		"bad operation":  func() error { _, err := c.MarketOrder(ctx, "", "F", 1, "Short"); return err },
		"zero price":     func() error { _, err := c.LimitOrder(ctx, "", "F", 1, Sell, 0); return err },
		"no order id":    func() error { return c.CancelOrder(ctx, "", "") },
		"no currency":    func() error { return c.SandboxSetCurrencyBalance(ctx, "", "", 1) },
		"no figi (sbx)":  func() error { return c.SandboxSetPositionBalance(ctx, "", "", 1) },
		"empty op range": func() error { _, err := c.Operations(ctx, "", t0, t0, ""); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if len(f.recorded()) != 0 {
		t.Fatal("invalid arguments reached the server")
	}
}

func TestCancelAlreadyCancelledIsOrderError(t *testing.T) {
	f := newFakeService(t)
	f.handle("POST", "/openapi/orders/cancel", func(w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, 500, "trk-c", "Error", map[string]string{"code": "ORDER_ERROR", "message": "Order already cancelled"})
	})
	c, _ := f.client(ClientConfig{}, false)
	err := c.CancelOrder(context.Background(), "", "o1")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "ORDER_ERROR" || apiErr.Method != "POST" || apiErr.Path != "/orders/cancel" {
		t.Fatalf("err = %v", err)
	}
}
