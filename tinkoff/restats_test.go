package tinkoff

import (
	"context"
	"testing"
)

// Requests, 429s and errors are counted per REST path, and each bucket
// reports the budget its window has used.
func TestEndpointStatsAndBudgets(t *testing.T) {
	f := newFakeService(t)
	f.ok("GET", "/openapi/market/stocks", map[string]any{"total": 0, "instruments": []any{}})
	serveSequence(f, "GET", "/openapi/user/accounts", status(429, "", ""))
	c, _ := f.client(ClientConfig{Clock: testClock(), MaxRetries429: -1, MarketPerMinute: 10}, false)
	ctx := context.Background()
	for range 3 {
		if _, err := c.Stocks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Accounts(ctx); err == nil {
		t.Fatal("a 429 without retries succeeded")
	}
	got := map[string]EndpointStats{}
	for _, e := range c.Endpoints() {
		got[e.Endpoint] = e
	}
	if e := got["/market/stocks"]; e != (EndpointStats{Endpoint: "/market/stocks", Bucket: BucketMarket, Requests: 3}) {
		t.Errorf("stocks %+v", e)
	}
	if e := got["/user/accounts"]; e != (EndpointStats{Endpoint: "/user/accounts", Bucket: BucketUser, Requests: 1, RateLimited: 1, Errors: 1}) {
		t.Errorf("accounts %+v", e)
	}
	if len(got) != 2 {
		t.Errorf("endpoints %v, want the two called", got)
	}
	budgets := map[string]BucketStats{}
	for _, b := range c.Budgets() {
		budgets[b.Bucket] = b
	}
	if b := budgets[BucketMarket]; b.Limit != 10 || b.Used != 3 || b.Waiting != 0 {
		t.Errorf("market budget %+v, want 3 of 10", b)
	}
	if len(budgets) != len(DefaultLimits) {
		t.Errorf("%d buckets, want %d", len(budgets), len(DefaultLimits))
	}
}
