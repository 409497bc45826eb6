package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/bolt"
	"tvbridge/live"
	"tvbridge/metrics"
	"tvbridge/paper"
	"tvbridge/tradeapi"
	"tvbridge/trading"
)

// observed is a whole bridge as serve assembles it, with its metrics: the
// front (data, auth, trading) behind the metrics middleware, and /metrics
// on a listener of its own.
type observed struct {
	front, admin *httptest.Server
	data         *api.Handler
	registry     *metrics.Registry
	sources      metrics.Sources
	mgr          *trading.Manager
	auth         *auth.Service
	// served receives each front request's path once the middleware has
	// counted it: a client holds the answer before that.
	served chan string
}

func startObserved(t testing.TB, ex *exchange, b *bridge, dir string) *observed {
	t.Helper()
	log := quietLog()
	users, err := auth.OpenStore(filepath.Join(dir, "auth.db"), auth.StoreOptions{NoSync: true, Logger: log,
		KDF: auth.KDF{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { users.Close() })
	if err := users.AddUser("alice", []byte("alice-secret-pw"), nil); err != nil {
		t.Fatal(err)
	}
	o := &observed{served: make(chan string, 1024)}
	if o.auth, err = auth.New(auth.Config{Store: users, Clock: ex.clk, Logger: log, Groups: b.catalog.Groups, DataPublic: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.auth.Close() })
	lookup := b.catalog.Instrument
	rates := live.NewRates(b.market, b.catalog.CurrencyPairs())
	store, err := bolt.OpenTrading(filepath.Join(dir, "trading.db"), bolt.Options{Logger: log, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	venue := paper.New(paper.Config{Market: b.market, Tape: b.tape, Instrument: lookup, Clock: ex.clk, Logger: log})
	if o.mgr, err = trading.New(trading.Config{Venue: venue, Market: b.market, Tape: b.tape, Store: store,
		Instrument: lookup, Rates: rates, Clock: ex.clk, Logger: log}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.mgr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		o.mgr.Close()
		store.Close()
	})

	o.data = api.NewHandler(api.Config{Catalog: b.catalog, History: b.svc, Tape: b.tape, Clock: ex.clk, Logger: log})
	mux := http.NewServeMux()
	o.auth.Register(mux)
	for _, p := range []string{"/symbol_info", "/groups", "/history", "/streaming"} {
		mux.Handle(p, o.auth.Protect(auth.Data, o.data))
	}
	mux.Handle("/healthz", o.data)
	trade := tradeapi.New(tradeapi.Config{Broker: o.mgr, Catalog: b.catalog, Market: b.market, Rates: rates, Clock: ex.clk, Logger: log})
	mux.Handle("/mapping", trade.Mapping())
	mux.Handle("/", o.auth.Protect(auth.Trading, trade))

	var insts []tvbridge.Instrument
	for _, s := range b.catalog.Symbols() {
		insts = append(insts, s.Instrument)
	}
	o.sources = metrics.Sources{Pool: b.v1.Pool(), REST: b.v1.Client(), Ingest: b.svc, Engine: b.svc.Engine(),
		Tape: b.tape, API: o.data, Store: b.store, Trading: o.mgr, Auth: o.auth, Venue: "paper",
		Instruments: insts, Clock: ex.clk}
	reg := metrics.New(o.sources)
	o.registry = reg
	front := reg.HTTP(mux)
	o.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		front.ServeHTTP(w, r)
		o.served <- r.URL.Path
	}))
	t.Cleanup(o.front.Close)
	o.admin = httptest.NewServer(reg.Handler())
	t.Cleanup(o.admin.Close)
	return o
}

// exposition is a parsed scrape.
type exposition map[string]*dto.MetricFamily

// scrapeMetrics GETs /metrics over a socket, lints it with promlint and
// parses it with the library's own parser.
func scrapeMetrics(t *testing.T, base string) exposition {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d, %v", resp.StatusCode, err)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return mfs
}

// value is the sample of name whose labels include the given pairs: a
// counter's or gauge's value, a histogram's count; ok false when none.
func (e exposition) value(name string, pairs ...string) (float64, bool) {
	mf := e[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			if have[pairs[i]] != pairs[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsScrape runs the whole bridge against the simulator, drives
// /history, /streaming, a login, a refusal and a paper order through the
// instrumented front, and scrapes /metrics over a real socket: the
// exposition parses, passes promlint, and says what happened.
func TestMetricsScrape(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end; skipped with -short")
	}
	start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC) // MOEX main session
	ex := newExchange(t, start, 0)
	dir := t.TempDir()
	b := startBridge(t, ex, dir, time.Hour)
	defer b.stop(t)
	o := startObserved(t, ex, b, dir)
	requests := 0
	get := func(path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, o.front.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		requests++
		return resp
	}

	sym, _ := b.catalog.Lookup("SBER")
	advanceUntil(t, ex, func() bool { _, _, ok := b.market.Book(sym.Instrument.FIGI); return ok })
	stream := connect(t, o.front.URL)
	requests++
	advanceUntil(t, ex, func() bool { return o.data.Stats().StreamLines > 0 && b.store.Stats().Commits.Count > 0 })

	now := ex.clk.Now().Unix()
	for _, res := range []string{"1", "1", "D", "nonsense"} {
		get(fmt.Sprintf("/history?symbol=SBER&resolution=%s&from=%d&to=%d", res, now-3600, now), "")
	}
	if resp := get("/accounts", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/accounts without a token: %d", resp.StatusCode)
	}
	alice := login(t, o.front.URL, "alice", "alice-secret-pw")
	requests++
	acc := alice.ok("GET", "/accounts", nil, "AccountResponse")["d"].([]any)[0].(map[string]any)["id"].(string)
	requests++
	placed := alice.ok("POST", "/accounts/"+acc+"/orders", url.Values{"instrument": {"SBER"},
		"qty": {fmt.Sprint(sym.Instrument.Lot)}, "side": {"buy"}, "type": {"market"}}, "PostOrderResponse")
	requests++
	id := placed["d"].(map[string]any)["orderId"].(string)
	advanceUntil(t, ex, func() bool {
		requests++
		o := alice.order(acc, id)
		return o != nil && o["status"] == "filled"
	})

	stream.resp.Body.Close()
	for range requests {
		<-o.served
	}
	m := scrapeMetrics(t, o.admin.URL)
	n := float64(len(b.catalog.Symbols()))
	for _, c := range []struct {
		name   string
		labels []string
		ok     func(float64) bool
		want   string
	}{
		{"tvbridge_tape_entries_appended_total", nil, positive, "> 0"},
		{"tvbridge_streaming_lines_total", nil, positive, "> 0"},
		{"tvbridge_streaming_written_bytes_total", nil, positive, "> 0"},
		{"tvbridge_streaming_connections_opened_total", nil, equals(1), "1"},
		{"tvbridge_history_requests_total", []string{"resolution", "1"}, equals(2), "2"},
		{"tvbridge_history_request_duration_seconds", []string{"resolution", "1"}, equals(2), "2"},
		{"tvbridge_history_request_duration_seconds", []string{"resolution", "1D"}, equals(1), "1"},
		{"tvbridge_history_request_duration_seconds", []string{"resolution", "invalid"}, equals(1), "1"},
		{"tvbridge_history_request_duration_seconds", []string{"resolution", "5"}, equals(0), "0"},
		{"tvbridge_http_requests_total", []string{"route", "/history", "method", "GET", "code", "200"}, equals(4), "4"},
		{"tvbridge_http_requests_total", []string{"route", "/streaming", "method", "GET", "code", "200"}, equals(1), "1"},
		{"tvbridge_http_requests_total", []string{"route", "/accounts", "method", "GET", "code", "401"}, equals(1), "1"},
		{"tvbridge_http_requests_total", []string{"route", "/accounts/{accountId}/orders", "method", "POST", "code", "200"}, equals(1), "1"},
		{"tvbridge_http_request_duration_seconds", []string{"route", "/history", "method", "GET"}, equals(4), "4"},
		{"tvbridge_trading_orders_placed_total", []string{"venue", "paper"}, equals(1), "1"},
		{"tvbridge_trading_orders_filled_total", []string{"venue", "paper"}, equals(1), "1"},
		{"tvbridge_trading_place_to_ack_seconds", []string{"venue", "paper"}, equals(1), "1"},
		{"tvbridge_auth_logins_total", []string{"result", "ok"}, equals(1), "1"},
		{"tvbridge_auth_tokens_issued_total", []string{"grant", "password"}, equals(1), "1"},
		{"tvbridge_auth_unauthorized_total", []string{"reason", "no_token"}, equals(1), "1"},
		{"tvbridge_upstream_stream_connections_up", nil, positive, "> 0"},
		{"tvbridge_upstream_stream_subscriptions", []string{"kind", "candle", "state", "live"}, equals(n), fmt.Sprint(n)},
		{"tvbridge_upstream_stream_frames_total", []string{"kind", "candle"}, positive, "> 0"},
		{"tvbridge_upstream_stream_frames_total", []string{"kind", "orderbook"}, positive, "> 0"},
		{"tvbridge_upstream_stream_decode_errors_total", nil, equals(0), "0"},
		{"tvbridge_upstream_last_frame_age_seconds", []string{"class", "stock"}, func(v float64) bool { return v >= 0 && v < 60 }, "0..60"},
		{"tvbridge_upstream_rest_requests_total", []string{"endpoint", "/market/candles"}, positive, "> 0"},
		{"tvbridge_upstream_rest_budget_limit", []string{"bucket", "market"}, equals(1_000_000), "1e6"},
		{"tvbridge_backfill_instruments", nil, equals(n), fmt.Sprint(n)},
		{"tvbridge_backfill_window_seconds", nil, equals(n * 3600), "instruments x 1 h"},
		{"tvbridge_bars_ticks_total", []string{"kind", "trade"}, positive, "> 0"},
		{"tvbridge_bars_corrections_total", nil, func(v float64) bool { return v >= 0 }, ">= 0"},
		{"tvbridge_store_size_bytes", nil, positive, "> 0"},
		{"tvbridge_store_commit_duration_seconds", nil, positive, "> 0"},
		{"go_goroutines", nil, positive, "> 0"},
	} {
		v, ok := m.value(c.name, c.labels...)
		if !ok || !c.ok(v) {
			t.Errorf("%s%v = %v (present %v), want %s", c.name, c.labels, v, ok, c.want)
		}
	}
	// Paths that carry ids never become labels.
	for _, mf := range m {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), acc) || strings.Contains(l.GetValue(), "SBER") {
					t.Errorf("%s has label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func positive(v float64) bool { return v > 0 }

func equals(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
