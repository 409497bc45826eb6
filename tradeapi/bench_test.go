package tradeapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"tvbridge"
)

// benchWriter is a ResponseWriter that keeps only the status and size, so
// the benchmark measures the handler, not a recorder's buffer.
type benchWriter struct {
	header http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.header }
func (w *benchWriter) WriteHeader(s int)   { w.status = s }
func (w *benchWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// BenchmarkPoll is what every TradingView session does twice a second:
// GET /orders (20 orders, some bracketed, some partly filled), /positions
// (5 positions) and /state, through the whole handler on a broker that
// answers from memory.
func BenchmarkPoll(b *testing.B) {
	f := newFixture(b)
	f.broker.orders = twentyOrders()
	f.broker.positions = fivePositions()
	f.broker.state = tvbridge.AccountState{Balance: 1e6, UnrealizedPL: -1234.5, Equity: 998765.5,
		RealizedPL: 4321, Commissions: 123.45, MarginUsed: 250000, MarginAvailable: 748765.5}
	for _, ep := range []string{"orders", "positions", "state"} {
		req := httptest.NewRequest("GET", "/accounts/A1/"+ep+"?locale=en", nil)
		req = req.WithContext(tvbridge.WithPrincipal(req.Context(), tvbridge.Principal{User: "alice"}))
		b.Run(ep, func(b *testing.B) {
			w := &benchWriter{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.header)
				w.n = 0
				f.h.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
			b.ReportMetric(float64(w.n), "bytes/resp")
		})
	}
}

// BenchmarkPollLoopback is the same poll over real HTTP on loopback, with
// keep-alive: what a request costs including net/http on both ends.
func BenchmarkPollLoopback(b *testing.B) {
	f := newFixture(b)
	f.broker.orders = twentyOrders()
	f.broker.positions = fivePositions()
	for _, ep := range []string{"orders", "positions", "state"} {
		b.Run(ep, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := f.get("/accounts/A1/"+ep, "alice"); r.status != http.StatusOK {
					b.Fatalf("status %d", r.status)
				}
			}
		})
	}
}

func twentyOrders() []tvbridge.Order {
	at := fixtureNow.Add(-time.Hour)
	out := make([]tvbridge.Order, 0, 20)
	for i := range 20 {
		o := tvbridge.Order{ID: fmt.Sprintf("ord-%06d", i), AccountID: "A1", FIGI: sberFIGI, Side: tvbridge.Buy,
			Type: tvbridge.LimitOrder, Status: tvbridge.OrderWorking, Qty: 100, LimitPrice: 250 + float64(i)/100,
			Duration: tvbridge.OrderDuration{Type: "GTC"}, Created: at, Updated: at.Add(time.Duration(i) * time.Second)}
		switch i % 4 {
		case 1: // a stop-loss bracket of the previous order
			o.Type, o.Side, o.Status, o.StopPrice, o.ParentID, o.ParentKind = tvbridge.StopOrder, tvbridge.Sell,
				tvbridge.OrderInactive, 240, out[i-1].ID, tvbridge.ParentOrder
		case 2: // partly filled
			o.FilledQty, o.AvgPrice = 50, 250.015
		case 3: // filled market order with a message
			o.Type, o.Status, o.FilledQty, o.AvgPrice, o.Message = tvbridge.MarketOrder, tvbridge.OrderFilled, 100, 251.2, "Filled"
		}
		out = append(out, o)
	}
	return out
}

func fivePositions() []tvbridge.Position {
	figis := []string{sberFIGI, aaplFIGI, usdFIGI, bondFIGI, sberFIGI}
	out := make([]tvbridge.Position, len(figis))
	for i, figi := range figis {
		out[i] = tvbridge.Position{ID: fmt.Sprintf("pos-%d", i), AccountID: "A1", FIGI: figi, Side: tvbridge.Buy,
			Qty: float64(10 * (i + 1)), AvgPrice: 100.5 + float64(i), UnrealizedPL: -3.25 * float64(i)}
	}
	return out
}
