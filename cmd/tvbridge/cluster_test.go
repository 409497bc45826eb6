package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tvbridge/jetstream/natstest"
	"tvbridge/postgres/pgtest"
)

// The cluster tests run 'tvbridge sim' and three 'tvbridge serve' nodes as
// real processes: the test binary again, which runs main's run() when
// envRunMain is set (TestMain), so no separate build is needed.
const envRunMain = "TVBRIDGE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv(envRunMain+"_ARGS")), &args); err != nil {
			fmt.Fprintln(os.Stderr, "bad", envRunMain+"_ARGS:", err)
			os.Exit(2)
		}
		os.Exit(run(context.Background(), args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// proc is a tvbridge process of a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	b, _ := json.Marshal(args)
	p := &proc{name: name, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), envRunMain+"=1", envRunMain+"_ARGS="+string(b), "TINKOFF_TOKEN=cluster-test")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s's log (warnings and errors):\n%s", p.name, warnings(p.logs.String()))
		}
	})
	return p
}

func (p *proc) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// waitLog waits for re in the log and returns its first group.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.logs.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited; log:\n%s", p.name, p.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s: no %s within %v; log:\n%s", p.name, re, within, p.logs)
	return ""
}

var simRESTLine = regexp.MustCompile(`simulated exchange listening" .*rest=(http://\S+)`)

// node is a serve process of the cluster.
type node struct {
	*proc
	base, admin string
}

func startNode(t *testing.T, i int, pgURL string, names natstest.Names, natsURL, rest string, extra ...string) *node {
	args := []string{"serve", "--postgres-url", pgURL, "--nats-url", natsURL,
		"--nats-stream", names.Stream, "--nats-subject", names.Prefix, "--node-id", fmt.Sprintf("node%d", i),
		"--lease-ttl", "2s", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--upstream-rest-url", rest, "--backfill-days", "1", "--close-grace", "1s",
		"--audit-interval", "0"}
	p := startProc(t, fmt.Sprintf("node%d", i), append(args, extra...)...)
	n := &node{proc: p}
	n.base = p.waitLog(t, urlLine, 60*time.Second)
	n.admin = p.waitLog(t, consoleLine, 10*time.Second)
	return n
}

func httpGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return b, err
}

// metric reads one gauge from the node's /metrics; -1 when unreadable.
func (n *node) metric(name string) float64 {
	b, err := httpGet(n.admin + "/metrics")
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// streamRecorder keeps a /streaming connection's lines.
type streamRecorder struct {
	mu         sync.Mutex
	lines      []string // data lines, heartbeats left out
	heartbeats []time.Time
	err        error // why the connection ended; nil while open
}

func record(t *testing.T, ctx context.Context, base string) *streamRecorder {
	r := &streamRecorder{}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/streaming", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			if strings.HasPrefix(line, `{"heartbeat"`) {
				r.heartbeats = append(r.heartbeats, time.Now())
			} else if line != "" {
				r.lines = append(r.lines, line)
			}
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.err = fmt.Errorf("stream ended: %v", sc.Err())
		r.mu.Unlock()
	}()
	return r
}

func (r *streamRecorder) snapshot() ([]string, []time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines), slices.Clone(r.heartbeats), r.err
}

// sameStream reports whether b carries a's lines in the same order over
// the part both saw (connections open at different moments), at least min
// lines of it.
func sameStream(a, b []string, min int) (bool, int) {
	if len(a) < 20 {
		return false, 0
	}
	probe := a[10]
	best := 0
	for j, l := range b {
		if l != probe {
			continue
		}
		n := 0
		for n < len(a)-10 && j+n < len(b) && a[10+n] == b[j+n] {
			n++
		}
		if n == len(a)-10 || j+n == len(b) {
			if n >= min {
				return true, n
			}
		}
		best = max(best, n)
	}
	return false, best
}

type historyReply struct {
	S string    `json:"s"`
	T []int64   `json:"t"`
	O []float64 `json:"o"`
	H []float64 `json:"h"`
	L []float64 `json:"l"`
	C []float64 `json:"c"`
	V []float64 `json:"v"`
}

func (n *node) history(symbol string, from, to int64) ([]byte, error) {
	return httpGet(fmt.Sprintf("%s/history?symbol=%s&resolution=1&from=%d&to=%d", n.base, symbol, from, to))
}

// TestClusterFailover: one simulator, three nodes on one PostgreSQL schema
// and one JetStream stream. The nodes stream the same lines and answer
// /history with the same bytes; the ingester is killed with SIGKILL and
// another node leads within 15 s while the survivors' /streaming
// connections stay open with heartbeats; no bar closed before the kill is
// missing or changed afterwards, and the stream agrees with /history for
// the first whole minute streamed under the new ingester.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four processes for about two minutes")
	}
	pgURL := pgtest.Schema(t)
	natsURL := natstest.URL(t)
	names := natstest.Stream(t, natsURL)
	sim := startProc(t, "sim", "sim", "--listen", "127.0.0.1:0", "--sim-instruments", "10")
	rest := sim.waitLog(t, simRESTLine, 30*time.Second)

	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = startNode(t, i+1, pgURL, names, natsURL, rest)
	}
	waitLeader(t, nodes, 0, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := make([]*streamRecorder, len(nodes))
	for i, n := range nodes {
		recs[i] = record(t, ctx, n.base)
	}
	// The kill comes in a minute the recorders saw from its start.
	killAfter := time.Now().Truncate(time.Minute).Add(time.Minute + 2*time.Second)
	var symbols struct{ Symbol []string }
	getJSON(t, nodes[0].base+"/symbol_info", &symbols)

	checkSameStreams(t, recs, nil)
	cut := time.Now().Truncate(time.Minute).Add(-time.Minute).Unix()
	from := cut - 3*3600
	before := sameHistory(t, nodes, symbols.Symbol, from, cut)

	time.Sleep(time.Until(killAfter))                 // a point in time to reach, not synchronisation
	leader := waitLeader(t, nodes, 0, 30*time.Second) // leases may have moved meanwhile
	epoch := leader.metric("tvbridge_cluster_epoch")
	killed := time.Now()
	leader.kill9()
	var survivors []*node
	var live []*streamRecorder
	for i, n := range nodes {
		if n != leader {
			survivors, live = append(survivors, n), append(live, recs[i])
		}
	}
	next := waitLeader(t, survivors, epoch, 15*time.Second)
	took := time.Since(killed)
	t.Logf("failover: %s leads %v after the kill (lease TTL 2s)", next.name, took.Round(time.Millisecond))

	// The survivors' streams stay open and beat.
	waitHeartbeats(t, live, killed.Add(6*time.Second))
	checkSameStreams(t, live, &killed)

	after := sameHistory(t, survivors, symbols.Symbol, from, cut)
	for sym, b := range before {
		if missing, changed := compareBars(b, after[sym]); missing+changed > 0 {
			t.Errorf("%s: %d closed bars missing, %d changed after the failover", sym, missing, changed)
		}
	}
	// The minute of the kill, which both ingesters streamed (the new one
	// continues what the old one streamed), and the first whole minute of
	// the new one.
	checkStreamVsHistory(t, survivors[0], live[0], symbols.Symbol, killed.Truncate(time.Minute))
	checkStreamVsHistory(t, survivors[0], live[0], symbols.Symbol, killed.Add(took).Truncate(time.Minute).Add(time.Minute))
}

// waitLeader waits for one node to report itself the ingester with an
// epoch above min.
func waitLeader(t *testing.T, nodes []*node, min float64, within time.Duration) *node {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.metric("tvbridge_cluster_leader") == 1 && n.metric("tvbridge_cluster_epoch") > min {
				return n
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("no node led (epoch > %v) within %v", min, within)
	return nil
}

// checkSameStreams waits until each stream overlaps the first one by 100
// data lines (after since, when set) and they agree on the overlap.
func checkSameStreams(t *testing.T, recs []*streamRecorder, since *time.Time) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	start := make([]int, len(recs))
	if since != nil {
		for i, r := range recs {
			lines, _, _ := r.snapshot()
			start[i] = len(lines)
		}
	}
	for {
		ok := true
		var why string
		ref, _, err := recs[0].snapshot()
		if err != nil {
			t.Fatalf("stream 0: %v", err)
		}
		for i, r := range recs[1:] {
			lines, _, err := r.snapshot()
			if err != nil {
				t.Fatalf("stream %d: %v", i+1, err)
			}
			a, b := ref[start[0]:], lines[start[i+1]:]
			same, n := sameStream(a, b, 50)
			if !same {
				same, n = sameStream(b, a, 50) // b's connection opened later
			}
			if !same {
				ok, why = false, fmt.Sprintf("stream %d agrees with stream 0 on %d lines only (%d and %d lines)", i+1, n, len(b), len(a))
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/streaming differs across nodes: %s", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitHeartbeats(t *testing.T, recs []*streamRecorder, after time.Time) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i, r := range recs {
		for {
			_, hb, err := r.snapshot()
			if err != nil {
				t.Fatalf("survivor stream %d closed: %v", i, err)
			}
			if len(hb) > 0 && hb[len(hb)-1].After(after) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("survivor stream %d: no heartbeat after %v", i, after)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// sameHistory waits until every node answers /history of each symbol with
// the same bytes, and returns the answers.
func sameHistory(t *testing.T, nodes []*node, symbols []string, from, to int64) map[string]historyReply {
	t.Helper()
	out := map[string]historyReply{}
	deadline := time.Now().Add(60 * time.Second)
	for _, sym := range symbols {
		for {
			var first []byte
			same := true
			for _, n := range nodes {
				b, err := n.history(sym, from, to)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = b
				} else if string(b) != string(first) {
					same = false
				}
			}
			if same {
				var h historyReply
				if err := json.Unmarshal(first, &h); err != nil || h.S != "ok" {
					t.Fatalf("%s: %v %s", sym, err, first)
				}
				out[sym] = h
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/history of %s differs across nodes", sym)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return out
}

func compareBars(before, after historyReply) (missing, changed int) {
	idx := map[int64]int{}
	for i, t := range after.T {
		idx[t] = i
	}
	for i, t := range before.T {
		j, ok := idx[t]
		switch {
		case !ok:
			missing++
		case before.O[i] != after.O[j] || before.H[i] != after.H[j] || before.L[i] != after.L[j] ||
			before.C[i] != after.C[j] || before.V[i] != after.V[j]:
			changed++
		}
	}
	return missing, changed
}

// checkStreamVsHistory waits for minute to close and compares each
// symbol's streamed trades in it with its 1-minute bar: volume, high, low
// and close. The recorder must have been recording since the minute began.
func checkStreamVsHistory(t *testing.T, n *node, r *streamRecorder, symbols []string, minute time.Time) {
	t.Helper()
	// The minute closes, then the bar engine's close grace (1s) passes.
	deadline := minute.Add(time.Minute + 20*time.Second)
	type agg struct{ v, h, l, c float64 }
	var got map[string]*agg
	var bars map[string]historyReply
	for {
		lines, _, err := r.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]*agg{}
		for _, line := range lines {
			var tk struct {
				F, ID string
				P, S  float64
				T     int64
			}
			if json.Unmarshal([]byte(line), &tk) != nil || tk.F != "t" || tk.T < minute.Unix() || tk.T >= minute.Unix()+60 {
				continue
			}
			a := got[tk.ID]
			if a == nil {
				a = &agg{h: tk.P, l: tk.P}
				got[tk.ID] = a
			}
			a.v += tk.S
			a.h, a.l, a.c = max(a.h, tk.P), min(a.l, tk.P), tk.P
		}
		bars = map[string]historyReply{}
		mismatch := ""
		for _, sym := range symbols {
			b, err := n.history(sym, minute.Unix(), minute.Unix()+59) // to is inclusive
			if err != nil {
				t.Fatal(err)
			}
			var h historyReply
			_ = json.Unmarshal(b, &h)
			bars[sym] = h
			a := got[sym]
			switch {
			case a == nil && len(h.T) == 0:
			case a == nil || len(h.T) != 1:
				mismatch = fmt.Sprintf("%s: stream %+v, history %s", sym, a, b)
			case a.v != h.V[0] || a.h != h.H[0] || a.l != h.L[0] || a.c != h.C[0]:
				mismatch = fmt.Sprintf("%s: stream %+v, history %s", sym, *a, b)
			}
		}
		if mismatch == "" && time.Now().After(minute.Add(62*time.Second)) {
			t.Logf("stream vs history: minute %s agrees for %d symbols", minute.Format("15:04"), len(symbols))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream vs history for minute %s: %s", minute.Format("15:04"), mismatch)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Cluster mode needs both URLs and a shared upstream; each mistake is said.
func TestClusterFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--postgres-url", "postgres://x/y"}, "--postgres-url without --nats-url"},
		{[]string{"--nats-url", "nats://x:4222"}, "--nats-url without --postgres-url"},
		{[]string{"--postgres-url", "postgres://x/y", "--nats-url", "nats://x:4222", "--lease-ttl", "100ms"}, "--lease-ttl"},
		{[]string{"--postgres-url", "postgres://x/y", "--nats-url", "nats://x:4222"}, "shared upstream"},
	} {
		err := runServe(context.Background(), append(c.args, "--admin-listen", ""), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error about %s", c.args, err, c.want)
		}
	}
}
