package tradeowner

import (
	"errors"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetrySafe(t *testing.T) {
	for _, tc := range []struct {
		method, target, body string
		safe                 bool
	}{
		{"GET", "/accounts/A1/orders", "", true},
		{"HEAD", "/accounts", "", true},
		{"POST", "/accounts/A1/previewOrder", "qty=1", true},
		{"POST", "/accounts/A1/orders?requestId=r1", "qty=1", true},
		{"POST", "/accounts/A1/orders", "qty=1&requestId=r1", true},
		{"POST", "/accounts/A1/orders", "qty=1", false},
		{"POST", "/accounts/A1/orders", "qty=1&requestId=", false},
		{"PUT", "/accounts/A1/orders/7", "qty=1", false},
		{"DELETE", "/accounts/A1/orders/7", "", false},
		{"DELETE", "/accounts/A1/positions/P1", "amount=10", false},
		{"PUT", "/accounts/A1/positions/P1", "stopLoss=1", false},
		{"POST", "/accounts/A1/positions/P1", "", false},
		{"POST", "/accounts", "", false},
	} {
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		if got := retrySafe(r, []byte(tc.body)); got != tc.safe {
			t.Errorf("%s %s %q: retrySafe = %v", tc.method, tc.target, tc.body, got)
		}
	}
}

// A node with no owner to forward to holds the request for MaxWait, then
// answers 503 in TradingView's error format.
func TestNoOwnerAnswers503(t *testing.T) {
	c := newCluster(t)
	// A live lease held by a holder with no registered URL: nobody to
	// forward to, and this node cannot take it.
	c.holdLease("ghost#00", "")
	n := c.add("a", func(cfg *Config) { cfg.MaxWait = 300 * time.Millisecond })
	start := time.Now()
	r := n.call(t, "GET", "/accounts", "alice", nil)
	if r.Status != http.StatusServiceUnavailable || r.S != "error" || r.Errmsg == "" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("no owner: %d %q %q", r.Status, r.S, r.Errmsg)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("answered after %v, before MaxWait", waited)
	}
	if st := n.node.Status(); st.Stats.NoOwner != 1 {
		t.Fatalf("stats %+v", st.Stats)
	}
}

// An owner that fails after receiving a request: a request that is not
// safe to repeat is sent once and answered 502; one with a requestId is
// repeated.
func TestUncertainFailureNotRepeated(t *testing.T) {
	c := newCluster(t)
	var hits atomic.Int64
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get(HeaderForwarded) != "a" || r.Header.Get("Authorization") != "Bearer alice" {
			t.Errorf("forwarded headers: %v", r.Header)
		}
		// Read the request, then die without an answer.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer broken.Close()
	c.holdLease("broken#01", broken.URL)
	n := c.add("a", func(cfg *Config) { cfg.MaxWait = 500 * time.Millisecond })

	r := n.call(t, "DELETE", "/accounts/A1/orders/7", "alice", nil)
	if r.Status != http.StatusBadGateway || r.S != "error" || hits.Load() != 1 {
		t.Fatalf("cancel through a failing owner: %d %q, %d attempts", r.Status, r.Errmsg, hits.Load())
	}
	hits.Store(0)
	form := neturl.Values{"instrument": {"SBER"}, "qty": {"10"}, "side": {"buy"}, "type": {"market"}, "requestId": {"r1"}}
	r = n.call(t, "POST", "/accounts/A1/orders", "alice", form)
	if r.Status != http.StatusServiceUnavailable || hits.Load() < 2 {
		t.Fatalf("placeOrder with requestId through a failing owner: %d %q, %d attempts", r.Status, r.Errmsg, hits.Load())
	}
	if st := n.node.Status(); st.Stats.Unknown != 1 || st.Stats.Retried == 0 {
		t.Fatalf("stats %+v", st.Stats)
	}
}

// A forwarding target that is down (connection refused) is never given
// the request: it is sent to the owner looked up next.
func TestNotDelivered(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := http.Post(url, "text/plain", strings.NewReader("x"))
	if err == nil || !notDelivered(err) {
		t.Fatalf("notDelivered(%v) = false", err)
	}
	if notDelivered(errors.New("EOF")) {
		t.Fatal("notDelivered(EOF)")
	}
}
