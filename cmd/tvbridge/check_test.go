package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"tvbridge/check"
)

func TestCheckHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if err := runCheck(context.Background(), []string{"--help"}, io.Discard, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	fs := newFlagSet("check", "", io.Discard)
	checkFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "--"+f.Name) || !strings.Contains(out.String(), "$"+envName(f.Name)) {
			t.Errorf("check --help does not document --%s and $%s", f.Name, envName(f.Name))
		}
	})
}

func TestCheckListsTheCatalogue(t *testing.T) {
	var out bytes.Buffer
	if err := runCheck(context.Background(), []string{"--list"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, c := range check.Catalogue() {
		if !strings.Contains(out.String(), c.Name+" ") {
			t.Errorf("--list lacks %s", c.Name)
		}
	}
}

func TestCheckRejectsBadSettings(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--left", "yesterday"},
		{"--password", "x", "--password-file", pw, "--login", "u"},
		{"--login", "u"}, // no password
		{"--only", "no-such-check"},
		{"--url", "localhost:8080"},
		{"--jwt-key", pw},
		{"--spec", pw},
	} {
		if err := runCheck(context.Background(), args, io.Discard, io.Discard); err == nil || errors.Is(err, errChecksFailed) {
			t.Errorf("%v: %v, want a configuration error", args, err)
		}
	}
}

// durationCoveringAMinute is a --duration that covers one whole minute
// from now (the stream must be open when it begins and until 5 s after it
// ends), so the stream-vs-history check always has a minute to compare.
func durationCoveringAMinute(now time.Time) time.Duration {
	next := now.Truncate(time.Minute).Add(time.Minute)
	if next.Sub(now) < 2*time.Second {
		next = next.Add(time.Minute)
	}
	return next.Add(time.Minute + 8*time.Second).Sub(now).Round(time.Second)
}

// TestCheckPassesAgainstServe is what CI runs: 'tvbridge check --trading'
// against 'tvbridge serve' with its embedded simulator must find no
// failure, on each upstream: v1 with its defaults (the paper account, the
// checker's own choice of instrument), and v2 with the T-Invest venue on
// the simulator's sandbox. The simulators run in real time, so this takes
// one to two minutes; the two run side by side.
func TestCheckPassesAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for a minute or two")
	}
	if !slices.ContainsFunc(commands, func(c command) bool { return c.name == "check" }) {
		t.Fatal(`the commands table of main.go lacks {"check", ..., runCheck}`)
	}
	for name, extra := range map[string][]string{
		"v1 paper":   nil,
		"v2 tinvest": {"--upstream", "v2", "--trading-backend", "tinvest"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkAgainstServe(t, extra)
		})
	}
}

func checkAgainstServe(t *testing.T, extra []string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	exit := make(chan int, 1)
	go func() {
		args := []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--backfill-days", "1"}
		exit <- run(ctx, append(args, extra...), io.Discard, logs)
	}()
	base := waitForURL(t, logs, exit)
	waitForBackfill(t, logs, exit)

	var report bytes.Buffer
	d := durationCoveringAMinute(time.Now())
	code := run(ctx, []string{"check", "--url", base, "--duration", d.String(), "--trading", "--json", "--log-level", "warn"}, &report, logs)
	var rep check.Report
	if err := json.Unmarshal(report.Bytes(), &rep); err != nil {
		t.Fatalf("check exited %d with no JSON report: %v\n%s\nlogs:\n%s", code, err, report.String(), logs)
	}
	var text strings.Builder
	_ = rep.WriteText(&text)
	if code != 0 || rep.Failed() {
		t.Fatalf("check exited %d:\n%s\nserve's warnings and errors:\n%s", code, text.String(), warnings(logs.String()))
	}
	if res, _ := rep.Result("streaming/history-equality"); res.Status != check.Pass {
		t.Errorf("stream-vs-history did not run to a pass: %s %s\n%s", res.Status, res.Reason, text.String())
	}
	if res, _ := rep.Result("trading/market-order"); res.Status != check.Pass {
		t.Errorf("the trading scenario did not run to a pass: %s %s\n%s", res.Status, res.Reason, text.String())
	}
	t.Logf("report:\n%s", text.String())
	checkUpstreamMetrics(t, logs.String())

	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("serve exited %d after shutdown", code)
	}
}

// warnings keeps the log lines at level WARN or ERROR.
func warnings(logs string) string {
	var out strings.Builder
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out.WriteString(line)
		}
	}
	return out.String()
}

var backfillDone = regexp.MustCompile(`initial backfill progress" component=ingest done=(\d+) of=(\d+)`)

// waitForBackfill waits until serve has backfilled every instrument, so
// the /history checks find bars; the log line is the signal, the deadline
// only a guard.
func waitForBackfill(t *testing.T, logs *syncBuffer, exit chan int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range backfillDone.FindAllStringSubmatch(logs.String(), -1) {
			if m[1] == m[2] {
				return
			}
		}
		select {
		case code := <-exit:
			t.Fatalf("serve exited %d; logs:\n%s", code, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not finish its backfill; logs:\n%s", logs)
}

// checkUpstreamMetrics scrapes the admin listener's /metrics and checks the
// upstream's stream and REST families carry live numbers, whichever the
// upstream's protocol.
func checkUpstreamMetrics(t *testing.T, logs string) {
	t.Helper()
	m := consoleLine.FindStringSubmatch(logs)
	if m == nil {
		t.Fatal("no console URL in the log")
	}
	resp, err := http.Get(m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, re := range []string{
		`(?m)^tvbridge_upstream_stream_connections_up [1-9]`,
		`(?m)^tvbridge_upstream_stream_frames_total\{[^}]*\} [1-9]`,
		`(?m)^tvbridge_upstream_rest_requests_total\{[^}]*\} [1-9]`,
	} {
		if !regexp.MustCompile(re).Match(body) {
			t.Errorf("/metrics has no %s", re)
		}
	}
}
