package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServeWhileUpstreamDown: a restart while the upstream is unreachable
// serves the catalogue and the history the store holds at once, and says on
// /healthz that the upstream is down.
func TestServeWhileUpstreamDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole bridge twice")
	}
	dir := t.TempDir()
	// A first run on the embedded simulator stores the catalogue and bars.
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dir, "--backfill-days", "1"}, io.Discard, logs)
	}()
	base := waitForURL(t, logs, exit)
	now := time.Now().Unix()
	historyURL := fmt.Sprintf("/history?symbol=BTC_RUB&resolution=1&from=%d&to=%d", now-3*3600, now-2*3600)
	var before struct {
		S string  `json:"s"`
		T []int64 `json:"t"`
	}
	waitFor(t, func() bool { // the initial backfill stores the last day
		getJSON(t, base+historyURL, &before)
		return before.S == "ok" && len(before.T) > 50
	})
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("first run exited %d; logs:\n%s", code, logs)
	}

	// The upstream is now a port that refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	defer func(d time.Duration) { firstTry = d }(firstTry)
	firstTry = 500 * time.Millisecond
	t.Setenv("TINKOFF_TOKEN", "t")
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	logs = &syncBuffer{}
	go func() {
		exit <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dir, "--backfill-days", "1",
			"--upstream-rest-url", "http://" + dead + "/openapi"}, io.Discard, logs)
	}()
	base = waitForURL(t, logs, exit)
	var info struct {
		S      string   `json:"s"`
		Symbol []string `json:"symbol"`
	}
	getJSON(t, base+"/symbol_info", &info)
	if info.S != "ok" || len(info.Symbol) < 100 {
		t.Fatalf("/symbol_info from the stored catalogue: %s with %d symbols", info.S, len(info.Symbol))
	}
	var after struct {
		S string  `json:"s"`
		T []int64 `json:"t"`
	}
	getJSON(t, base+historyURL, &after)
	if after.S != "ok" || len(after.T) != len(before.T) {
		t.Fatalf("/history from the store: %s with %d bars, %d before", after.S, len(after.T), len(before.T))
	}
	var health map[string]any
	getJSON(t, base+"/healthz", &health)
	if health["upstream"] != "down" || health["catalogue"] != "stored" {
		t.Fatalf("/healthz %v, want upstream down and the stored catalogue", health)
	}
	if !strings.Contains(logs.String(), "serving the stored instrument catalogue") {
		t.Fatalf("the fallback was not logged:\n%s", logs)
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("second run exited %d; logs:\n%s", code, logs)
	}
}

// waitFor polls cond; the deadline is only a guard.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
