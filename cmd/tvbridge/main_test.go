package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/web"
)

func TestHelpDocumentsEveryFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "sim"} {
		var out bytes.Buffer
		if code := run(context.Background(), []string{cmd, "--help"}, io.Discard, &out); code != 0 {
			t.Fatalf("%s --help exited %d", cmd, code)
		}
		fs := newFlagSet(cmd, "", io.Discard)
		if cmd == "serve" {
			serveFlags(fs)
		} else {
			fs.String("listen", "", "")
			simFlags(fs)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out.String(), "--"+f.Name) || !strings.Contains(out.String(), "$"+envName(f.Name)) {
				t.Errorf("%s --help does not document --%s and $%s", cmd, f.Name, envName(f.Name))
			}
		})
	}
}

func TestBadCommandLines(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"serve", "--no-such-flag"}, {"serve", "extra"}} {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v exited %d, want 2", args, code)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--book-depth", "0"}, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "book-depth") {
		t.Errorf("bad --book-depth: exit %d, %q", code, out.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--history-follows", "vendor"}, "--history-follows"},
		{[]string{"--history-follows", "exchange", "--audit-interval", "0"}, "needs the audit"},
		{[]string{"--audit-interval", "-1m"}, "--audit-interval"},
		{[]string{"--close-grace", "0s"}, "--close-grace"},
		{[]string{"--upstream", "v3"}, `--upstream "v3": want v1 or v2`},
		{[]string{"--upstream", "v2", "--upstream-kinds", "shares,options"}, `unknown list "options"`},
		{[]string{"--upstream", "v2", "--upstream-kinds", ","}, "name at least one list"},
		{[]string{"--upstream", "v2", "--upstream-rest-url", "ftp://x/rest/"}, "--upstream-rest-url"},
		{[]string{"--upstream", "v2", "--upstream-ws-url", "ws://127.0.0.1:1/ws/"}, "--upstream-rest-url is required"},
		{[]string{"--trading-backend", "tinvest", "--data-dir", t.TempDir(), "--admin-listen", ""}, "--trading-backend tinvest needs --upstream v2"},
		{[]string{"--trading-backend", "nope"}, "want paper, tinkoff, tinvest or off"},
	} {
		out.Reset()
		if code := run(context.Background(), append([]string{"serve"}, c.args...), io.Discard, &out); code != 1 || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d, %q", c.args, code, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"serve", "--heartbeat-interval", "0s"}, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "heartbeat-interval") {
		t.Errorf("bad --heartbeat-interval: exit %d, %q", code, out.String())
	}
	for _, bad := range [][]string{{"--max-header-bytes", "1000"}, {"--max-header-bytes", "2000000"}, {"--cors-max-age", "-1"}} {
		out.Reset()
		if code := run(context.Background(), append([]string{"serve"}, bad...), io.Discard, &out); code != 1 || !strings.Contains(out.String(), bad[0]) {
			t.Errorf("serve %v: exit %d, %q", bad, code, out.String())
		}
	}
	t.Setenv("TINKOFF_TOKEN", "")
	out.Reset()
	if code := run(context.Background(), []string{"serve", "--upstream-rest-url", "http://127.0.0.1:1/openapi"}, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "TINKOFF_TOKEN") {
		t.Errorf("real upstream without a token: exit %d, %q", code, out.String())
	}
	for _, preset := range []string{"tinkoff", "tinkoff-sandbox", "tbank", "tbank-sandbox", "https://invest-public-api.tinkoff.ru/rest/"} {
		out.Reset()
		if code := run(context.Background(), []string{"serve", "--upstream", "v2", "--upstream-rest-url", preset}, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "TINKOFF_TOKEN") {
			t.Errorf("v2 %s without a token: exit %d, %q", preset, code, out.String())
		}
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("TVBRIDGE_BOOK_DEPTH", "99")
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "--book-depth 99") {
		t.Fatalf("$TVBRIDGE_BOOK_DEPTH ignored: exit %d, %q", code, out.String())
	}
}

// The data endpoints get their serve flags, from the environment or the
// command line (which wins).
func TestServeFlagsConfigureTheDataEndpoints(t *testing.T) {
	t.Setenv("TVBRIDGE_HEARTBEAT_INTERVAL", "3s")
	for _, c := range []struct {
		args []string
		want time.Duration
	}{{nil, 3 * time.Second}, {[]string{"--heartbeat-interval", "2s"}, 2 * time.Second}} {
		fs := newFlagSet("serve", "", io.Discard)
		o := serveFlags(fs)
		if err := fs.parse(c.args); err != nil {
			t.Fatal(err)
		}
		if got := o.dataConfig(nil, nil, nil, nil).Heartbeat; got != c.want {
			t.Errorf("%v: heartbeat interval %s, want %s", c.args, got, c.want)
		}
	}
}

// --cors-max-age sets the preflights' Access-Control-Max-Age, and 0 drops it.
func TestCORSMaxAgeFlag(t *testing.T) {
	t.Setenv("TVBRIDGE_CORS_MAX_AGE", "120")
	for _, c := range []struct {
		args []string
		want []string
	}{{nil, []string{"120"}}, {[]string{"--cors-max-age", "0"}, nil}, {[]string{"--cors-max-age", "600"}, []string{"600"}}} {
		fs := newFlagSet("serve", "", io.Discard)
		o := serveFlags(fs)
		if err := fs.parse(c.args); err != nil {
			t.Fatal(err)
		}
		cors, err := o.front.cors()
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodOptions, "/accounts", nil)
		r.Header.Set("Origin", "https://www.tradingview.com")
		r.Header.Set("Access-Control-Request-Method", "GET")
		w := httptest.NewRecorder()
		web.CORS(cors, http.NotFoundHandler()).ServeHTTP(w, r)
		if got := w.Header().Values("Access-Control-Max-Age"); w.Code != http.StatusNoContent || !slices.Equal(got, c.want) {
			t.Errorf("%v: %d, Access-Control-Max-Age %q, want %q", c.args, w.Code, got, c.want)
		}
	}
}

// syncBuffer is a log sink the test can read while serve writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeSmoke runs 'tvbridge serve' with the embedded simulator on real
// sockets and reads each data endpoint once, as the README's curls do.
func TestServeSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole bridge")
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--backfill-days", "1",
			"--max-header-bytes", "16384"}, io.Discard, logs)
	}()
	base := waitForURL(t, logs, exit)

	var info struct {
		S      string   `json:"s"`
		Symbol []string `json:"symbol"`
	}
	getJSON(t, base+"/symbol_info", &info)
	if info.S != "ok" || len(info.Symbol) < 100 {
		t.Fatalf("/symbol_info: %s with %d symbols", info.S, len(info.Symbol))
	}
	var hist struct {
		S string `json:"s"`
	}
	now := time.Now().Unix()
	getJSON(t, fmt.Sprintf("%s/history?symbol=BTC_RUB&resolution=1&from=%d&to=%d", base, now-3600, now), &hist)
	if hist.S != "ok" {
		t.Fatalf("/history: %s", hist.S)
	}
	resp, err := http.Get(base + "/streaming")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	resp.Body.Close()
	if err != nil || !json.Valid(line) {
		t.Fatalf("/streaming first line %q: %v", line, err)
	}

	webErrors(t, base)
	adminListener(t, logs)

	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("serve exited %d after shutdown; logs:\n%s", code, logs)
	}
}

// webErrors checks serve's answers to requests net/http or the mux could
// answer in their own way: errors in TradingView's form, and preflights
// browsers may cache.
func webErrors(t *testing.T, base string) {
	t.Helper()
	var e struct{ S, Errmsg string }
	getJSON(t, base+"/symbol_info?group=%zz", &e)
	if e.S != "error" || !strings.Contains(e.Errmsg, "malformed query") {
		t.Errorf("/symbol_info?group=%%zz: %+v", e)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/symbol_info", nil)
	req.Header.Set("Cookie", strings.Repeat("c", 20<<10)) // over --max-header-bytes 16384
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !json.Valid(body) || !strings.Contains(string(body), `"s":"error"`) {
		t.Errorf("20 KB cookie: %d %s", resp.StatusCode, body)
	}
	req, _ = http.NewRequest(http.MethodOptions, base+"/accounts", nil)
	req.Header.Set("Origin", "https://www.tradingview.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight: %d, Access-Control-Max-Age %q", resp.StatusCode, resp.Header.Get("Access-Control-Max-Age"))
	}
}

var urlLine = regexp.MustCompile(`serving TradingView's API" url=(http://\S+)`)

// waitForURL waits for serve to log its address; the log line is the
// readiness signal, the deadline only a guard.
func waitForURL(t *testing.T, logs *syncBuffer, exit chan int) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := urlLine.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-exit:
			t.Fatalf("serve exited %d; logs:\n%s", code, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start; logs:\n%s", logs)
	return ""
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

var consoleLine = regexp.MustCompile(`operator console, metrics and health" console=(http://\S+)/`)

// adminListener checks serve's second listener: it logs the console's URL,
// answers its probes, and the console's status and API show live data.
func adminListener(t *testing.T, logs *syncBuffer) {
	t.Helper()
	m := consoleLine.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("serve did not log the console's URL:\n%s", logs)
	}
	admin := m[1]
	var health struct{ S string }
	getJSON(t, admin+"/healthz", &health)
	if health.S != "ok" {
		t.Errorf("/healthz: %+v", health)
	}
	var ready struct {
		S      string
		Checks []struct{ Name, Status, Why string }
	}
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if len(ready.Checks) < 4 {
		t.Errorf("/readyz (%d): %+v, want the catalogue, store, upstream and trading checks", resp.StatusCode, ready)
	}
	var status struct {
		Upstream struct {
			State       string
			Instruments int
			Connections []struct{ Instruments []string }
		}
		Flags []struct{ Name, Value string }
	}
	getJSON(t, admin+"/api/status", &status)
	if status.Upstream.Instruments < 100 || len(status.Upstream.Connections) == 0 || len(status.Flags) == 0 {
		t.Errorf("/api/status: %+v", status)
	}
	var info struct {
		S      string
		Symbol []string
	}
	getJSON(t, admin+"/tv/symbol_info", &info)
	if info.S != "ok" || len(info.Symbol) < 100 {
		t.Errorf("the console's API: /tv/symbol_info %s with %d symbols", info.S, len(info.Symbol))
	}
	resp, err = http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, family := range []string{"tvbridge_http_requests_total", "tvbridge_upstream_stream_connections_up",
		"tvbridge_tape_entries_appended_total", "tvbridge_trading_orders_placed_total", "go_goroutines"} {
		if !strings.Contains(string(body), family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}
	var accounts struct {
		S string
		D []struct{ ID string }
	}
	getJSON(t, admin+"/tv/accounts", &accounts)
	if accounts.S != "ok" || len(accounts.D) == 0 {
		t.Errorf("the console's API acts as the console user: /tv/accounts %+v", accounts)
	}
}
