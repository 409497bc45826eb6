package metrics

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/ingest"
	"tvbridge/internal/hist"
	"tvbridge/tape"
	"tvbridge/tinkoff"
	"tvbridge/tinkoff/stream"
	"tvbridge/tinvest"
	v2stream "tvbridge/tinvest/stream"
	"tvbridge/trading"
)

// Fakes of every source, with a little of everything in them.
type (
	fakePool    struct{ now time.Time }
	fakeREST    struct{}
	fakeIngest  struct{ p ingest.Progress }
	fakeEngine  struct{}
	fakeTape    struct{}
	fakeAPI     struct{}
	fakeStore   struct{}
	fakeTrading struct{}
	fakeAuth    struct{}
)

func (f fakePool) Stats() stream.Stats {
	return stream.Stats{ConnectionCap: 6, Frames: stream.FrameCounts{Candle: 10, OrderBook: 20}, FramesRead: 30,
		HandshakeFailures: map[int]int64{423: 2, 0: 1}, Lost: stream.LostCounts{Stall: 1},
		Connections: []stream.ConnStats{{State: "up", Subscriptions: 3}, {State: "backoff", Subscriptions: 2}, {State: "idle"}}}
}
func (f fakePool) Subscriptions() []stream.SubscriptionCount {
	return []stream.SubscriptionCount{{Kind: tvbridge.SubCandle, State: stream.SubLive, N: 2}}
}
func (f fakePool) LastFrames(fn func(string, time.Time)) {
	fn("S1", f.now.Add(-3*time.Second))
	fn("S2", f.now.Add(-time.Second))
	fn("B1", f.now.Add(-time.Minute))
	fn("UNKNOWN", f.now)
}
func (fakeREST) Stats() tinkoff.ClientStats { return tinkoff.ClientStats{Retries: 1} }
func (fakeREST) Endpoints() []tinkoff.EndpointStats {
	return []tinkoff.EndpointStats{{Endpoint: "/market/candles", Bucket: "market", Requests: 5, RateLimited: 1}}
}
func (fakeREST) Budgets() []tinkoff.BucketStats {
	return []tinkoff.BucketStats{{Bucket: "market", Limit: 120, Used: 5}}
}
func (f *fakeIngest) Progress() *ingest.Progress { return &f.p }
func (fakeEngine) Stats() bars.Stats             { return bars.Stats{Updates: 7, Corrections: 1, Trades: 9} }
func (fakeTape) Stats() tape.Stats               { return tape.Stats{LastSeq: 99, Readers: 2} }
func (fakeAPI) Stats() api.Stats {
	h := hist.New(nil)
	h.Observe(3 * time.Millisecond)
	st := api.Stats{StreamsOpen: 1, StreamLines: 10}
	for _, r := range api.HistoryResolutions {
		st.History = append(st.History, api.HistoryStats{Resolution: r, Requests: 1, Latency: h.Snapshot()})
	}
	return st
}
func (fakeStore) Stats() bolt.StoreStats {
	return bolt.StoreStats{SizeBytes: 1 << 20, Commits: hist.New(nil).Snapshot()}
}
func (fakeTrading) Stats() trading.Stats {
	return trading.Stats{Placed: 2, Filled: 1, PlaceToAck: hist.New(nil).Snapshot()}
}
func (fakeAuth) Stats() auth.Stats { return auth.Stats{LoginsOK: 3} }

func fullSources(now time.Time) Sources {
	in := &fakeIngest{}
	in.p.WindowMinutes.Store(100)
	in.p.UncoveredMinutes.Store(40)
	return Sources{Pool: fakePool{now}, REST: fakeREST{}, Ingest: in, Engine: fakeEngine{}, Tape: fakeTape{},
		API: fakeAPI{}, Store: fakeStore{}, Trading: fakeTrading{}, Auth: fakeAuth{}, Venue: "paper",
		Instruments: []tvbridge.Instrument{{FIGI: "S1", Type: tvbridge.Stock}, {FIGI: "S2", Type: tvbridge.Stock},
			{FIGI: "B1", Type: tvbridge.Bond}},
		Clock: clock.NewFake(now)}
}

// scrape GETs /metrics from a real server, lints the text with promlint and
// parses it with the library's own parser.
func scrape(t *testing.T, reg *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d, %v", resp.StatusCode, err)
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
		t.Fatal(err)
	}
	return mfs
}

// Every source's families are exported, lint-clean, and derived values
// come out right; each family is documented in README.md.
func TestExpositionFromEverySource(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	reg := New(fullSources(now))
	mfs := scrape(t, reg)
	value := func(name string, labels ...string) float64 {
		t.Helper()
		mf := mfs[name]
		if mf == nil {
			t.Fatalf("no family %s", name)
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
					return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}) {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		t.Fatalf("no sample %s %v", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tvbridge_upstream_stream_connections_up", nil, 1},
		{"tvbridge_upstream_stream_connections_desired", nil, 2},
		{"tvbridge_upstream_stream_subscriptions", []string{"kind", "candle", "state", "live"}, 2},
		{"tvbridge_upstream_stream_subscriptions", []string{"kind", "orderbook", "state", "waiting"}, 0},
		{"tvbridge_upstream_stream_frames_total", []string{"kind", "orderbook"}, 20},
		{"tvbridge_upstream_stream_handshake_failures_total", []string{"status", "423"}, 2},
		{"tvbridge_upstream_stream_disconnects_total", []string{"cause", "stall"}, 1},
		{"tvbridge_upstream_last_frame_age_seconds", []string{"class", "stock"}, 1},
		{"tvbridge_upstream_last_frame_age_seconds", []string{"class", "bond"}, 60},
		{"tvbridge_upstream_last_frame_age_seconds", []string{"class", "other"}, 0},
		{"tvbridge_upstream_rest_rate_limited_total", []string{"endpoint", "/market/candles"}, 1},
		{"tvbridge_upstream_rest_budget_limit", []string{"bucket", "market"}, 120},
		{"tvbridge_backfill_done_seconds", nil, 60 * 60},
		{"tvbridge_bars_corrections_total", nil, 1},
		{"tvbridge_tape_entries_appended_total", nil, 99},
		{"tvbridge_history_request_duration_seconds", []string{"resolution", "1D"}, 1},
		{"tvbridge_store_size_bytes", nil, 1 << 20},
		{"tvbridge_trading_orders_filled_total", []string{"venue", "paper"}, 1},
		{"tvbridge_auth_logins_total", []string{"result", "ok"}, 3},
	} {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("no runtime family %s", name)
		}
	}
	checkReadme(t, reg)
}

// checkReadme: README.md lists exactly the tvbridge_ families the registry
// declares.
func checkReadme(t *testing.T, reg *Registry) {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(tvbridge_[a-z_]+)`").FindAllSubmatch(readme, -1) {
		listed[string(m[1])] = true
	}
	declared := map[string]bool{}
	ch := make(chan *prometheus.Desc, 1024)
	// The v1 and v2 upstream families never share a registry: union them.
	v2 := New(Sources{V2Pool: fakeV2Pool{}, V2REST: fakeV2REST{}, NoRuntime: true})
	for _, c := range append(append([]prometheus.Collector(nil), reg.own...), v2.own...) {
		c.Describe(ch)
	}
	close(ch)
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		declared[name.FindStringSubmatch(d.String())[1]] = true
	}
	for n := range declared {
		if !listed[n] {
			t.Errorf("%s is not in README.md", n)
		}
	}
	for n := range listed {
		if !declared[n] {
			t.Errorf("README.md lists %s, which no collector declares", n)
		}
	}
}

// A registry without sources exports the HTTP families alone (no
// placeholders for trading off or authentication none).
func TestNilSourcesAreLeftOut(t *testing.T) {
	var mgr *trading.Manager // trading off
	reg := New(Sources{NoRuntime: true, Trading: mgr})
	reg.HTTP(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	for name := range scrape(t, reg) {
		if strings.HasPrefix(name, "tvbridge_") && !strings.HasPrefix(name, "tvbridge_http_") {
			t.Errorf("family %s without a source", name)
		}
	}
}

type fakeV2Pool struct{ st v2stream.Stats }

func (p fakeV2Pool) Stats() v2stream.Stats { return p.st }

type fakeV2REST struct{ st tinvest.ClientStats }

func (r fakeV2REST) Stats() tinvest.ClientStats { return r.st }

// The v2 upstream's families scrape, lint and carry its numbers.
func TestV2UpstreamFamilies(t *testing.T) {
	pool := fakeV2Pool{v2stream.Stats{FramesRead: 42, Reconnects: 2, Live: 7, Subscriptions: 9, Pending: 1,
		CloseCodes: map[int]int64{4008: 1}, Streams: []v2stream.StreamStats{{State: "up", Subscriptions: 9}, {State: "backoff"}}}}
	reg := New(Sources{V2Pool: pool, V2REST: fakeV2REST{tinvest.ClientStats{Requests: 5, RateLimited: 1}}, NoRuntime: true})
	mfs := scrape(t, reg)
	for name, want := range map[string]float64{
		"tvbridge_upstream_stream_connections_up":      1,
		"tvbridge_upstream_stream_connections_desired": 1,
		"tvbridge_upstream_stream_frames_total":        42,
		"tvbridge_upstream_stream_reconnects_total":    2,
		"tvbridge_upstream_stream_close_codes_total":   1,
		"tvbridge_upstream_rest_requests_total":        5,
		"tvbridge_upstream_rest_rate_limited_total":    1,
	} {
		mf := mfs[name]
		if mf == nil || len(mf.GetMetric()) == 0 {
			t.Errorf("no family %s", name)
			continue
		}
		m := mf.GetMetric()[0]
		got := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
