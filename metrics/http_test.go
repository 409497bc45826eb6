package metrics

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/internal/hist"
)

// Every route pattern labels its own paths, with any ids in its
// placeholders; everything else is "other".
func TestRouteLabels(t *testing.T) {
	tbl := newRouteTable()
	for i, r := range Routes {
		if r == routeOther {
			continue
		}
		for _, id := range []string{"A1", "42", "x%20y"} {
			path := strings.NewReplacer("{accountId}", id, "{orderId}", id+"0", "{positionId}", "P"+id).Replace(r)
			if got := tbl.match(path); got != i {
				t.Errorf("%s labelled %q, want %q", path, Routes[got], r)
			}
		}
	}
	for _, path := range []string{"/", "", "/history/", "/HISTORY", "/accounts/", "/accounts//orders", "/accounts/A1",
		"/accounts/A1/", "/accounts/A1/orders/", "/accounts/A1/orders/1/2", "/accounts/A1/nope", "/accounts/A1/state/1",
		"/accounts/A1/nope/1", "/wp-login.php", "/symbol_info/x", "/oauth", "/accountsX/A1/orders"} {
		if got := tbl.match(path); Routes[got] != routeOther {
			t.Errorf("%q labelled %q, want other", path, Routes[got])
		}
	}
}

// Whatever the paths, methods and statuses requests carry, the label values
// come from the fixed lists.
func TestLabelsAreBounded(t *testing.T) {
	reg := New(Sources{NoRuntime: true})
	h := reg.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(len(r.URL.Path)*7%500 + 100)
	}))
	for i := range 2000 {
		path := "/" + strings.Repeat("a/", i%7) + string(rune('a'+i%26)) + strings.Repeat("z", i%13)
		if i%3 == 0 {
			path = "/accounts/" + path
		}
		req := httptest.NewRequest([]string{"GET", "BREW", "PATCH", "POST"}[i%4], path, nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	allowed := map[string]map[string]bool{"route": set(Routes), "method": set(methods), "code": set(codeLabels)}
	for _, mf := range gather(t, reg) {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowed[l.GetName()][l.GetValue()] {
					t.Errorf("%s: label %s=%q outside its fixed set", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// The middleware counts each request under its route, method and status,
// times all but /streaming, and lets a handler take the connection over
// (as /streaming does) or flush through http.ResponseController.
func TestMiddleware(t *testing.T) {
	reg := New(Sources{NoRuntime: true})
	mux := http.NewServeMux()
	byResolution := hist.New(nil) // as api's /history hands over
	mux.HandleFunc("/history", func(w http.ResponseWriter, r *http.Request) {
		w.(api.RequestTimer).AlsoObserve(byResolution)
		io.WriteString(w, "{}")
	})
	mux.HandleFunc("/accounts/{id}/orders", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/streaming", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through the middleware: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		brw.Flush()
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the middleware: %v", err)
		}
	})
	// The middleware counts a request when its handler returns, which a
	// client that read the whole answer has not necessarily seen yet.
	handled := make(chan struct{}, 16)
	instrumented := reg.HTTP(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		instrumented.ServeHTTP(w, r)
		handled <- struct{}{}
	}))
	defer srv.Close()
	paths := []string{"/history?symbol=A", "/history", "/accounts/A1/orders", "/streaming", "/healthz", "/nope"}
	for _, path := range paths {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, bufio.NewReader(resp.Body))
		resp.Body.Close()
	}
	for range paths {
		<-handled
	}
	got := map[string]float64{}
	timed := map[string]uint64{}
	for _, mf := range gather(t, reg) {
		for _, m := range mf.GetMetric() {
			key := labels(m)
			switch mf.GetName() {
			case "tvbridge_http_requests_total":
				got[key] = m.GetCounter().GetValue()
			case "tvbridge_http_request_duration_seconds":
				timed[key] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	want := map[string]float64{
		"code=200,method=GET,route=/history":                     2,
		"code=401,method=GET,route=/accounts/{accountId}/orders": 1,
		"code=200,method=GET,route=/streaming":                   1,
		"code=200,method=GET,route=/healthz":                     1,
		"code=404,method=GET,route=other":                        1,
	}
	if len(got) != len(want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests %v, want %v", got, want)
			break
		}
	}
	if timed["method=GET,route=/history"] != 2 || len(timed) != 4 {
		t.Errorf("timed %v, want every route but /streaming", timed)
	}
	if n := byResolution.Snapshot().Count; n != 2 {
		t.Errorf("the handler's own histogram timed %d requests, want 2", n)
	}
}

func set(vals []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range vals {
		m[v] = true
	}
	return m
}

// labels formats a sample's labels as name=value pairs, sorted by name (the
// order the registry keeps them in).
func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func gather(t *testing.T, reg *Registry) []*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// BenchmarkMiddleware is what the middleware adds to a request in process,
// without the network: route lookup, two clock reads, a pooled recorder,
// a counter and a histogram.
//
//	go test -run '^$' -bench Middleware -count 5 ./metrics/
func BenchmarkMiddleware(b *testing.B) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	reg := New(Sources{NoRuntime: true})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare", inner}, {"instrumented", reg.HTTP(inner)}} {
		for _, path := range []string{"/history", "/accounts/A1/orders"} {
			b.Run(c.name+strings.ReplaceAll(path, "/", "_"), func(b *testing.B) {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, path, nil)
				b.ReportAllocs()
				for b.Loop() {
					c.h.ServeHTTP(w, r)
				}
			})
		}
	}
}

// Every endpoint api, auth and tradeapi register has a route label of its
// own: read from their sources, so a new endpoint cannot quietly count as
// "other".
func TestRoutesCoverTheEndpoints(t *testing.T) {
	tbl := newRouteTable()
	var patterns []string
	for file, re := range map[string]*regexp.Regexp{
		"../tradeapi/handler.go": regexp.MustCompile(`(?:handle|Handle)\("(?:[A-Z]+ )?(/[^"]*)"`),
		"../api/handler.go":      regexp.MustCompile(`h\.mux\.Handle(?:Func)?\("(/[^"]+)"`),
	} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := re.FindAllSubmatch(src, -1)
		if len(found) < 5 {
			t.Fatalf("%s: found %d routes; has the registration changed form?", file, len(found))
		}
		for _, m := range found {
			patterns = append(patterns, string(m[1]))
		}
	}
	patterns = append(patterns, auth.PathAuthorize, auth.PathLogout, auth.PathPermissions,
		auth.PathOAuthAuthorize, auth.PathOAuthToken, auth.PathOAuthLogout)
	for _, p := range patterns {
		path := strings.NewReplacer("{accountId}", "A1", "{orderId}", "7", "{positionId}", "P7").Replace(p)
		if got := Routes[tbl.match(path)]; got != p {
			t.Errorf("endpoint %s labelled %q", p, got)
		}
	}
}
