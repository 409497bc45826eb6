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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
	out.Reset()
	if code := run(context.Background(), []string{"serve", "--heartbeat-interval", "0s"}, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "heartbeat-interval") {
		t.Errorf("bad --heartbeat-interval: exit %d, %q", code, out.String())
	}
	t.Setenv("TINKOFF_TOKEN", "")
	out.Reset()
	if code := run(context.Background(), []string{"serve", "--upstream-rest-url", "http://127.0.0.1:1/openapi"}, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "TINKOFF_TOKEN") {
		t.Errorf("real upstream without a token: exit %d, %q", code, out.String())
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
		exit <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--backfill-days", "1"}, io.Discard, logs)
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

	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("serve exited %d after shutdown; logs:\n%s", code, logs)
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
