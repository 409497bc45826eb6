package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tvbridge/api"
	"tvbridge/internal/hist"
)

// Routes are the values of the route label of tvbridge_http_*: every
// endpoint of the TradingView-facing handler by its pattern, as the
// packages api, auth and tradeapi register them. A path that matches none
// counts as "other", so scanners and typos cannot grow the label set. (The
// trading API sits behind one catch-all pattern and its own mux, behind
// auth's request copy, so the route is told from the path here rather than
// from http.Request.Pattern.)
var Routes = []string{
	"/symbol_info", "/groups", "/history", "/streaming", "/healthz", "/mapping",
	"/authorize", "/logout", "/permissions", "/oauth/authorize", "/oauth/token", "/oauth/logout",
	"/config", "/accounts", "/quotes", "/depth",
	"/accounts/{accountId}/instruments", "/accounts/{accountId}/state", "/accounts/{accountId}/balances",
	"/accounts/{accountId}/orders", "/accounts/{accountId}/orders/{orderId}",
	"/accounts/{accountId}/ordersHistory", "/accounts/{accountId}/previewOrder",
	"/accounts/{accountId}/positions", "/accounts/{accountId}/positions/{positionId}",
	"/accounts/{accountId}/executions",
	routeOther,
}

const (
	routeOther     = "other"
	routeStreaming = "/streaming"
	accountPrefix  = "/accounts/{accountId}/"
)

// methods and codes bound the method and code labels; anything else is
// "other" (an index past the known ones).
var (
	methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodOptions, "other"}
	codes   = []int{200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 413, 415, 429, 431, 500, 501, 502, 503, 504}
)

// routeTable tells a request path's route without allocating: one map
// lookup for the fixed paths, two more for the account's sub-resources.
type routeTable struct {
	static      map[string]int // exact paths
	account     map[string]int // /accounts/{accountId}/<sub>
	accountItem map[string]int // /accounts/{accountId}/<sub>/{id}
	other       int
	streaming   int
}

func newRouteTable() routeTable {
	t := routeTable{static: map[string]int{}, account: map[string]int{}, accountItem: map[string]int{}}
	for i, r := range Routes {
		switch sub, ok := strings.CutPrefix(r, accountPrefix); {
		case r == routeOther:
			t.other = i
		case !ok:
			t.static[r] = i
		case strings.Contains(sub, "/"):
			t.accountItem[sub[:strings.IndexByte(sub, '/')]] = i
		default:
			t.account[sub] = i
		}
	}
	t.streaming = t.static[routeStreaming]
	return t
}

// match returns the index in Routes of path's route.
func (t *routeTable) match(path string) int {
	if i, ok := t.static[path]; ok {
		return i
	}
	rest, ok := strings.CutPrefix(path, "/accounts/")
	if !ok {
		return t.other
	}
	id, sub, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return t.other
	}
	sub, item, hasItem := strings.Cut(sub, "/")
	table := t.account
	if hasItem {
		if item == "" || strings.IndexByte(item, '/') >= 0 {
			return t.other
		}
		table = t.accountItem
	}
	if i, ok := table[sub]; ok {
		return i
	}
	return t.other
}

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodPost:
		return 1
	case http.MethodPut:
		return 2
	case http.MethodDelete:
		return 3
	case http.MethodHead:
		return 4
	case http.MethodOptions:
		return 5
	}
	return 6
}

// codeLabels are the code label's values, by index.
var codeLabels = func() []string {
	out := make([]string, len(codes)+1)
	for i, c := range codes {
		out[i] = strconv.Itoa(c)
	}
	out[len(codes)] = "other"
	return out
}()

// codeIndex maps a status to its index in codes, or len(codes) for other.
var codeIndex = func() (idx [600]uint8) {
	for i := range idx {
		idx[i] = uint8(len(codes))
	}
	for i, c := range codes {
		idx[c] = uint8(i)
	}
	return idx
}()

func codeOf(status int) int {
	if status < 0 || status >= len(codeIndex) {
		return len(codes)
	}
	return int(codeIndex[status])
}

// httpMetrics are the middleware's counters: requests by route, method and
// code, and latency by route and method, all allocated up front so a
// request only indexes arrays.
type httpMetrics struct {
	routes   routeTable
	requests [][][]atomic.Uint64 // [route][method][code]
	latency  [][]*hist.Histogram // [route][method]
}

func newHTTPMetrics() *httpMetrics {
	m := &httpMetrics{routes: newRouteTable(), requests: make([][][]atomic.Uint64, len(Routes)),
		latency: make([][]*hist.Histogram, len(Routes))}
	for r := range Routes {
		m.requests[r] = make([][]atomic.Uint64, len(methods))
		m.latency[r] = make([]*hist.Histogram, len(methods))
		for k := range methods {
			m.requests[r][k] = make([]atomic.Uint64, len(codes)+1)
			m.latency[r][k] = hist.New(nil)
		}
	}
	return m
}

// HTTP wraps the TradingView-facing handler: every request is counted by
// route (see Routes), method and status code, and timed by route and
// method. /streaming is counted but not timed (a stream lasts as long as
// the client stays); its connections, lines and bytes are the
// tvbridge_streaming_* families. Wrap the whole front (CORS and
// authentication included) so refusals are counted too; under a path
// prefix, wrap inside http.StripPrefix.
func (r *Registry) HTTP(next http.Handler) http.Handler {
	m := r.http
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		route, method := m.routes.match(req.URL.Path), methodIndex(req.Method)
		rec := recorders.Get().(*recorder)
		rec.ResponseWriter, rec.code = w, 0
		defer m.done(rec, route, method, start)
		next.ServeHTTP(rec, req)
	})
}

// done counts a finished request and recycles its recorder. The clock is
// read once for the route's histogram and the one the handler asked for
// (api's /history by resolution).
func (m *httpMetrics) done(rec *recorder, route, method int, start time.Time) {
	if route != m.routes.streaming || rec.also != nil {
		d := time.Since(start)
		if route != m.routes.streaming {
			m.latency[route][method].Observe(d)
		}
		if rec.also != nil {
			rec.also.Observe(d)
		}
	}
	code := rec.code
	if code == 0 {
		code = http.StatusOK // nothing written, or a taken-over connection: net/http or the handler sent 200
	}
	m.requests[route][method][codeOf(code)].Add(1)
	rec.ResponseWriter, rec.also = nil, nil
	recorders.Put(rec)
}

// recorder notes the status a handler answers with, and the histogram it
// asks to be timed in too (api.RequestTimer). Unwrap lets
// http.ResponseController reach the server's writer, for flushing and for
// /streaming taking the connection over.
type recorder struct {
	http.ResponseWriter
	code int
	also *hist.Histogram
}

var _ api.RequestTimer = (*recorder)(nil)

// AlsoObserve records the request's duration in h as well.
func (w *recorder) AlsoObserve(h *hist.Histogram) { w.also = h }

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx are not the answer
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (m *httpMetrics) collector() prometheus.Collector {
	var b builder
	requests := b.counter("tvbridge_http_requests_total", "Requests to the TradingView-facing API by route pattern, method and status code.", "route", "method", "code")
	latency := b.histogram("tvbridge_http_request_duration_seconds", "Latency of the TradingView-facing API (first byte read to handler return) by route pattern and method; /streaming is not timed.", "route", "method")
	return b.done(func(ch chan<- prometheus.Metric) {
		for r, route := range Routes {
			for k, method := range methods {
				var total uint64
				for c := range codeLabels {
					if n := m.requests[r][k][c].Load(); n > 0 {
						requests.emit(ch, float64(n), route, method, codeLabels[c])
						total += n
					}
				}
				// Only routes that were asked for: most of the table
				// never is, and a histogram is 20 samples.
				if total > 0 && r != m.routes.streaming {
					latency.emit(ch, m.latency[r][k].Snapshot(), route, method)
				}
			}
		}
	})
}
