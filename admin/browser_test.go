package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"tvbridge"
)

// The console in a real browser: headless Chromium (Debian's chromium,
// which scripts/test.sh installs) driven over the DevTools protocol, the
// admin handler on a loopback socket. Waits are on DOM conditions, each
// bounded; screenshots of every page go to artifactDir.

// chromiumPath finds the browser. Without one the tests skip, except in
// CI, where scripts/test.sh has installed it and a skip would hide them.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TVBRIDGE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium binary in CI: scripts/test.sh installs Debian's chromium before the tests")
	}
	t.Skip("no chromium binary: install Debian's chromium (scripts/test.sh does) to run the browser tests")
	return ""
}

var artifacts struct {
	once sync.Once
	dir  string
	err  error
}

// artifactDir is where screenshots go: $TVBRIDGE_ARTIFACTS/admin, or a
// fresh directory under the system's temp dir that outlives the test.
func artifactDir(t *testing.T) string {
	artifacts.once.Do(func() {
		if d := os.Getenv("TVBRIDGE_ARTIFACTS"); d != "" {
			artifacts.dir = filepath.Join(d, "admin")
			artifacts.err = os.MkdirAll(artifacts.dir, 0o755)
			return
		}
		artifacts.dir, artifacts.err = os.MkdirTemp("", "tvbridge-admin-screenshots-")
	})
	if artifacts.err != nil {
		t.Fatal(artifacts.err)
	}
	return artifacts.dir
}

// browser is one headless Chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine has no network: without these Chromium waits on
		// Google's hosts (QUIC probes, component updates, sync).
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	var mu sync.Mutex
	var console []string
	var exceptions []string
	t.Cleanup(func() {
		cancel()
		acancel()
		mu.Lock()
		defer mu.Unlock()
		for _, m := range console {
			t.Log("browser console:", m)
		}
		for _, e := range exceptions {
			t.Error("uncaught exception in the page:", e)
		}
	})
	// The first action starts the browser and binds it to ctx, so its
	// bound is a timer, not a context.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start %s: %v", path, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start within 60 s", path)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			if m.IsException() {
				exceptions = append(exceptions, m.String())
			} else {
				console = append(console, m.String())
			}
			mu.Unlock()
		}
	}()
	return &browser{t: t, ctx: ctx}
}

// do runs actions within d.
func (b *browser) do(d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// open navigates to url and waits for the page's load.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do(15*time.Second, chromedp.Navigate(url))
}

// waitFor waits until the JavaScript condition holds, at most d.
func (b *browser) waitFor(what, cond string, d time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		b.screenshot("failed-" + strings.NewReplacer(" ", "-", "/", "-").Replace(what))
		b.t.Fatalf("waiting %v for %s (%s): %v", d, what, cond, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// text is the text of the element with id.
func (b *browser) text(id string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.getElementById(%q)||{}).textContent`, id))
}

// textIs is the condition that the element with id has the text want.
func textIs(id, want string) string {
	return fmt.Sprintf(`(document.getElementById(%q)||{}).textContent === %q`, id, want)
}

// screenshot saves the whole page as name.png in the artefacts.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactDir(b.t), b.t.Name()+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

func TestBrowserStatusPage(t *testing.T) {
	ring := NewLogRing(slog.NewTextHandler(io.Discard, nil), 20)
	slog.New(ring).Warn("stream connection cap learned", "cap", 2, "configured", 6)
	slog.New(ring).Error("backfill request failed", "figi", "BBG000", "err", "HTTP 500")
	var streams atomic.Int64
	streams.Store(4)
	started := time.Now().Add(-90 * time.Minute)
	status := func() Status {
		return Status{
			Version: "v0.9.0-test", Started: started,
			Flags: []Flag{{"listen", "127.0.0.1:8080"}, {"upstream-rest-rate", "120"}, {"token-file", "<redacted>"}},
			Upstream: Upstream{State: "degraded", Catalogue: "upstream", Instruments: 105, Streaming: 103, ConnectionCap: 4,
				Connections: []Connection{
					{Index: 0, State: "up", Instruments: []string{"SBER", "GAZP", "LKOH"}, LastData: time.Now().Add(-2 * time.Second)},
					{Index: 1, State: "backoff", RetryAt: time.Now().Add(20 * time.Second), Reconnects: 3},
				}},
			Backfill: []Progress{{Name: "initial backfill", Done: 40, Total: 105, Unit: "instruments"},
				{Name: "recent minutes", Done: 105, Total: 105, Unit: "instruments"}},
			REST:      RESTBudget{PerMinute: 120, UsedMinute: 90, Queued: 12, Requests: 4321, RateLimited: 2},
			Stale:     []StaleInstrument{{Symbol: "SU26238RMFS4", Reason: "silent", LastUpdate: time.Now().Add(-7 * time.Minute)}},
			Streaming: int(streams.Load()),
			Facts:     []Fact{{"minutes differing from the exchange", "3"}, {"bar store", "1.2 GB"}},
		}
	}
	w := newWorld(t, Config{Status: status, Log: ring, User: "ops", Password: "a long console password"})
	b := newBrowser(t)
	// The browser sends the basic-auth credentials a user would type in
	// its prompt; without them the console gets 401.
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:a long console password"))
	if _, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": auth}}); err != nil {
		t.Fatal(err)
	}
	b.open(w.srv.URL + "/")
	b.waitFor("the status to render", textIs("streaming-connections", "4"), 5*time.Second)

	for id, want := range map[string]string{
		"upstream-state": "degraded", "catalogue": "upstream", "instruments": "103 / 105",
		"connections-up": "1 of 4", "stale-count": "1", "log-count": "2", "version": "v0.9.0-test",
		"rest-used": "90 of 120 requests in the last minute",
	} {
		if got := b.text(id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	if got := eval[string](b, `document.querySelector('#backfill tr[data-name="initial backfill"]').textContent`); got != "initial backfill40 of 105 instruments (38%)" {
		t.Errorf("backfill row %q", got)
	}
	if got := eval[float64](b, `parseFloat(document.querySelector('#backfill tr[data-name="initial backfill"] .fill').style.width)`); got < 38 || got > 38.2 {
		t.Errorf("backfill bar %v%% wide, want 38.1%%", got)
	}
	if got := eval[string](b, `document.getElementById('facts').textContent`); got != "minutes differing from the exchange3bar store1.2 GB" {
		t.Errorf("facts %q", got)
	}
	if got := eval[string](b, `document.querySelector('#stale tr[data-symbol="SU26238RMFS4"]').textContent`); !strings.HasPrefix(got, "SU26238RMFS4silent7m ago") {
		t.Errorf("stale row %q", got)
	}
	if got := eval[string](b, `document.querySelector('#log tr').textContent`); !strings.Contains(got, "ERRORbackfill request failedfigi=BBG000 err=HTTP 500") {
		t.Errorf("newest log row %q", got)
	}
	if got := eval[int](b, `document.querySelectorAll('#connections tr').length`); got != 2 {
		t.Errorf("%d connection rows", got)
	}
	if got := eval[string](b, `document.getElementById('flags').textContent`); !strings.Contains(got, "--token-file<redacted>") {
		t.Errorf("flags %q", got)
	}
	b.screenshot("status")

	// The page follows the numbers.
	streams.Store(7)
	b.waitFor("the page to refresh", textIs("streaming-connections", "7"), 5*time.Second)
}

// chartURL opens the test symbol's 1-minute chart.
func chartURL(w *world, extra string) string {
	return w.srv.URL + "/chart?symbol=" + testSymbol + "&resolution=1" + extra
}

// waitChart waits until the chart page has drawn /history and its stream
// is open, so that a trade put on the tape reaches it.
func waitChart(b *browser) {
	b.t.Helper()
	b.waitFor("the stream to open", textIs("stream-state", "live"), 10*time.Second)
	b.waitFor("the history to be drawn", `window.consoleChart && window.consoleChart.candles.data().length === 31`, 10*time.Second)
}

func TestBrowserChartDrawsHistoryAndFollowsTrades(t *testing.T) {
	w := newWorld(t, Config{})
	b := newBrowser(t)
	b.open(chartURL(w, "&settle=1"))
	waitChart(b)
	if got := b.text("legend"); got != "2025-03-04 12:00O100H101L99C100.5V10" {
		t.Fatalf("legend of the open bar %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('#chart canvas').length`); n == 0 {
		t.Fatal("the chart has no canvas")
	}

	// A trade above the open bar's high: TradingView's bar gets it as its
	// high and close, and its size added to the volume.
	start := time.Now()
	w.trade(testStart.Add(10*time.Second), 120, 3)
	b.waitFor("the trade in the open bar", textIs("legend", "2025-03-04 12:00O100H120L99C120V13"), 2*time.Second)
	t.Logf("trade drawn %v after it was put on the tape", time.Since(start).Round(time.Millisecond))

	// The next minute's first trade opens a bar.
	start = time.Now()
	w.trade(testStart.Add(35*time.Second), 118.5, 2)
	// /history's 12:00 has a trade the page's stream did not carry (as if
	// it came before the page opened): once the bar closed, the page
	// replaces it with /history's, a settle time (1 s here) later.
	w.history.put(tvbridge.Bar{Time: testStart.Truncate(time.Minute), Open: 100, High: 125, Low: 99, Close: 120, Volume: 14})
	b.waitFor("a new bar", textIs("legend", "2025-03-04 12:01O118.5H118.5L118.5C118.5V2"), 2*time.Second)
	t.Logf("new bar drawn %v after its trade", time.Since(start).Round(time.Millisecond))
	w.trade(testStart.Add(40*time.Second), 117, 1)
	b.waitFor("the low", textIs("legend", "2025-03-04 12:01O118.5H118.5L117C117V3"), 2*time.Second)
	b.waitFor("the closed bar from /history", `window.consoleChart.candles.data().at(-2).high === 125`, 5*time.Second)
	got := eval[[]map[string]float64](b, `window.consoleChart.candles.data().slice(-2)`)
	if len(got) != 2 || got[0]["close"] != 120 || got[1]["time"] != float64(testStart.Add(30*time.Second).Unix()) || got[1]["low"] != 117 {
		t.Fatalf("last two bars of the series: %v", got)
	}
	if n := b.text("bar-count"); n != "32" {
		t.Fatalf("bar count %s", n)
	}
	b.screenshot("chart")
}

func TestBrowserMismatchOverlay(t *testing.T) {
	w := newWorld(t, Config{})
	b := newBrowser(t)
	b.open(chartURL(w, "&settle=2"))
	waitChart(b)

	m1 := testStart.Truncate(time.Minute).Add(time.Minute) // 12:01
	m2 := m1.Add(time.Minute)
	// The stream's first message, at 12:00:40, makes 12:01 the first
	// minute it sees whole.
	w.trade(testStart.Add(10*time.Second), 101, 1)
	w.trade(m1.Add(5*time.Second), 110, 1)
	w.trade(m1.Add(30*time.Second), 111, 2)
	// /history serves a wrong high for 12:01; 12:02 is served right.
	w.history.mu.Lock()
	w.history.wrong[m1] = tvbridge.Bar{Time: m1, Open: 110, High: 112, Low: 110, Close: 111, Volume: 3}
	w.history.mu.Unlock()
	w.trade(m2.Add(5*time.Second), 112, 1)
	// Stream time past both minutes' ends plus the settle time.
	w.trade(m2.Add(63*time.Second), 112.5, 1)

	b.waitFor("both closed minutes to be compared", textIs("checked", "2"), 10*time.Second)
	if got := b.text("mismatch-count"); got != "1" {
		t.Fatalf("%s minutes differ, want 1", got)
	}
	row := eval[string](b, fmt.Sprintf(`document.querySelector('#mismatches tr[data-minute="%d"]').textContent`, m1.Unix()))
	if row != "2025-03-04 12:01110 111 110 111 3110 112 110 111 3" {
		t.Fatalf("mismatch row %q", row)
	}
	if n := eval[int](b, `document.querySelectorAll('#mismatches tr').length`); n != 1 {
		t.Fatalf("%d mismatch rows, want 1 (12:02 matches)", n)
	}
	marks := eval[[]map[string]any](b, `window.consoleChart.markers.markers()`)
	if len(marks) != 1 || marks[0]["time"] != float64(m1.Unix()) {
		t.Fatalf("chart markers %v", marks)
	}
	b.screenshot("mismatch")
}

func TestBrowserOrderTicket(t *testing.T) {
	w := newWorld(t, Config{})
	b := newBrowser(t)
	b.open(chartURL(w, ""))
	b.waitFor("the paper account", textIs("account", "Paper A1"), 10*time.Second)
	b.waitFor("the order book", `document.querySelectorAll('#depth-rows tr').length === 4`, 5*time.Second)
	b.waitFor("the positions", `!!document.querySelector('#positions tr[data-position="P1"]')`, 5*time.Second)

	// Fill the ticket as a user would: the type's change event enables
	// the price.
	eval[chromedp.Void](b, `(() => {
		const set = (id, v) => { const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('change')); };
		set('side', 'sell'); set('type', 'limit'); set('qty', '3'); set('price', '101.5');
	})()`)
	b.do(5*time.Second, chromedp.Click(chromedp.ID("place")))

	var form map[string][]string
	select {
	case form = <-w.trading.placed:
	case <-time.After(5 * time.Second):
		b.screenshot("no-order")
		t.Fatal("no order reached the trading API")
	}
	for k, want := range map[string]string{"instrument": testSymbol, "qty": "3", "side": "sell", "type": "limit",
		"limitPrice": "101.5", "currentAsk": "101", "currentBid": "99"} {
		if got := strings.Join(form[k], ","); got != want {
			t.Errorf("posted %s=%q, want %q", k, got, want)
		}
	}
	if id := strings.Join(form["requestId"], ""); !strings.HasPrefix(id, "console-") {
		t.Errorf("requestId %q", id)
	}
	b.waitFor("the ticket's answer", textIs("ticket-result", "order O1 placed"), 5*time.Second)
	b.waitFor("the working order", `!!document.querySelector('#orders tr[data-order="O1"]')`, 5*time.Second)
	b.screenshot("order-ticket")
}
