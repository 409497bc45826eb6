// Command clusterreads measures TradingView's trading polling in cluster
// mode (issue 13) on one node against the same load spread over two nodes
// of the same machine: one the trading owner, the other forwarding the
// trading requests to it.
//
//	go run ./scripts/clusterreads [-rounds 5] [-duration 5s] [-conns 16] [-configs 1node,2nodes]
//
// It creates a throw-away PostgreSQL schema (-postgres-url, default the
// project machine's test database) and JetStream stream (-nats-url), starts
// `tvbridge sim` and two `tvbridge serve` cluster nodes with --auth on (built
// from this checkout unless -bin is given), creates a user, logs in,
// opens a position and 20 resting limit orders (21 orders in /orders) and
// waits until both nodes are idle. Each round then runs, for every endpoint
// and configuration in turn (the order rotates), two wrk processes at the
// same time (-t1, -conns/2 connections each, --latency, a bearer token and
// TradingView's Origin):
//
//   - 1node: both at the trading owner;
//   - 2nodes: one at the owner, one at the other node, which forwards;
//   - forwarder: both at the other node.
//
// Both nodes run in every configuration (the idle one follows the tape),
// so their CPU time is counted in all of them: requests per CPU-second of
// the two serve processes ("per core") is the configurations' common
// measure, with the sum of requests per second and the larger p99 of the
// two wrk processes. It prints every run with the load average, then the
// medians per endpoint and configuration.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"tvbridge/scripts/internal/loadtest"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	bin := flag.String("bin", "", "tvbridge binary to measure (default: built from ./cmd/tvbridge)")
	pgURL := flag.String("postgres-url", "postgres://127.0.0.1:5432/test?sslmode=disable", "PostgreSQL (a schema is created and dropped)")
	natsURL := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS with JetStream (a stream is created and deleted)")
	rounds := flag.Int("rounds", 5, "rounds (every endpoint and configuration once each)")
	duration := flag.Duration("duration", 5*time.Second, "length of each wrk run")
	conns := flag.Int("conns", 16, "wrk connections in all (half per wrk process)")
	configs := flag.String("configs", "1node,2nodes", "configurations: 1node, 2nodes, forwarder")
	endpoints := flag.String("endpoints", "orders,state", "endpoints: orders, state, positions")
	ttl := flag.Duration("lease-ttl", 9*time.Second, "the nodes' --lease-ttl")
	profile := flag.String("profile", "", "before measuring, write CPU profiles of both nodes (-duration long) under this\n"+
		"directory for each configuration and endpoint: PROFILE/CONFIG-ENDPOINT-OWNER|FORWARDER.pprof")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk not found: apt-get install -y wrk")
	}
	tmp, err := os.MkdirTemp("", "clusterreads")
	check(err)
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "tvbridge")
		cmd := exec.Command("go", "build", "-o", *bin, "./cmd/tvbridge")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		check(cmd.Run())
	}

	var rb [6]byte
	_, _ = rand.Read(rb[:])
	id := hex.EncodeToString(rb[:])
	schema := "clusterreads_" + id
	pgExec(*pgURL, `CREATE SCHEMA `+schema)
	defer pgExec(*pgURL, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
	nodePG := withParam(*pgURL, "search_path", schema)
	stream, prefix := "CLUSTERREADS_"+strings.ToUpper(id), "tvbridge.clusterreads."+id
	defer deleteStream(*natsURL, stream)

	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(os.Interrupt)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.Process.Kill()
				<-done
			}
		}
	}()

	// The user, in the cluster's PostgreSQL.
	const login, password = "bench", "clusterreads-password"
	pw := filepath.Join(tmp, "pw")
	check(os.WriteFile(pw, []byte(password), 0o600))
	out, err := exec.Command(*bin, "auth", "user", "add", "--login", login, "--password-file", pw, "--postgres-url", nodePG).CombinedOutput()
	if err != nil {
		log.Fatalf("auth user add: %v: %s", err, out)
	}

	// The simulator every node's ingester reaches.
	sim := exec.Command(*bin, "sim", "--listen", "127.0.0.1:0")
	restURL := startLogged(sim, regexp.MustCompile(`simulated exchange listening" .*rest=(http://\S+)`))
	procs = append(procs, sim)

	bases := make([]string, 2)
	admins := make([]string, 2)
	pids := make([]int, 2)
	for i := range bases {
		addr := loadtest.FreeAddr()
		bases[i] = "http://" + addr
		adminAddr := ""
		if *profile != "" {
			adminAddr = loadtest.FreeAddr()
			admins[i] = "http://" + adminAddr
		}
		n := exec.Command(*bin, "serve", "--postgres-url", nodePG, "--nats-url", *natsURL, "--nats-stream", stream,
			"--nats-subject", prefix, "--node-id", fmt.Sprintf("node%d", i+1), "--lease-ttl", ttl.String(),
			"--listen", addr, "--admin-listen", adminAddr, "--data-dir", filepath.Join(tmp, fmt.Sprintf("node%d", i+1)),
			"--upstream-rest-url", restURL, "--backfill-days", "1", "--auth", "on", "--log-level", "warn")
		startLogged(n, nil)
		procs = append(procs, n)
		pids[i] = n.Process.Pid
		log.Printf("node%d: pid %d at %s", i+1, pids[i], bases[i])
	}
	for _, b := range bases {
		waitReady(b)
	}
	owner := tradingOwner(nodePG)
	forwarder := 1 - owner
	log.Printf("trading owner: node%d; node%d forwards", owner+1, forwarder+1)

	c := &client{base: bases[owner]}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.do(http.MethodPost, "/authorize", url.Values{"login": {login}, "password": {password}}, &tok)
	c.token = tok.AccessToken
	var accounts []struct{ ID string }
	c.do(http.MethodGet, "/accounts", nil, &accounts)
	acc := accounts[0].ID
	placeOrders(c, acc)
	paths := map[string]string{
		"orders":    "/accounts/" + acc + "/orders",
		"state":     "/accounts/" + acc + "/state",
		"positions": "/accounts/" + acc + "/positions",
	}
	// Both nodes answer the same bytes.
	for _, name := range strings.Split(*endpoints, ",") {
		p, ok := paths[name]
		if !ok {
			log.Fatalf("unknown endpoint %q", name)
		}
		a := (&client{base: bases[owner], token: c.token}).raw(p)
		b := (&client{base: bases[forwarder], token: c.token}).raw(p)
		if !bytes.Equal(a, b) {
			log.Fatalf("%s: the owner and the forwarder answer differently:\n%s\n%s", p, a, b)
		}
		log.Printf("%s: %d bytes from both nodes", p, len(a))
	}
	for _, pid := range pids {
		loadtest.WaitIdle(pid, 0.03)
	}

	targets := map[string][2]int{"1node": {owner, owner}, "2nodes": {owner, forwarder}, "forwarder": {forwarder, forwarder}}
	cfgs := strings.Split(*configs, ",")
	for _, cfg := range cfgs {
		if _, ok := targets[cfg]; !ok {
			log.Fatalf("unknown configuration %q", cfg)
		}
	}
	if *profile != "" {
		check(os.MkdirAll(*profile, 0o755))
		role := map[int]string{owner: "owner", forwarder: "forwarder"}
		for _, ep := range strings.Split(*endpoints, ",") {
			for _, cfg := range cfgs {
				t := targets[cfg]
				var wg sync.WaitGroup
				for i, admin := range admins {
					file := filepath.Join(*profile, fmt.Sprintf("%s-%s-%s.pprof", cfg, ep, role[i]))
					wg.Add(1)
					go func() {
						defer wg.Done()
						resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, int(duration.Seconds())))
						check(err)
						defer resp.Body.Close()
						b, err := io.ReadAll(resp.Body)
						check(err)
						check(os.WriteFile(file, b, 0o644))
					}()
				}
				r := measure(c.token, [2]string{bases[t[0]] + paths[ep], bases[t[1]] + paths[ep]}, pids, *conns/2, *duration)
				wg.Wait()
				log.Printf("profiled %s %s: %.0f req/s, %.0f req per CPU-s", cfg, ep, r.rps, r.perCore)
			}
		}
	}
	type key struct{ endpoint, cfg string }
	results := map[key][]result{}
	fmt.Printf("\n# 2 wrk processes at once, -t1 -c%d -d%s --latency each, %d rounds; CPU: the two serve processes\n", *conns/2, *duration, *rounds)
	for round := 0; round < *rounds; round++ {
		for _, ep := range strings.Split(*endpoints, ",") {
			for k := range cfgs {
				cfg := cfgs[(k+round)%len(cfgs)]
				t := targets[cfg]
				r := measure(c.token, [2]string{bases[t[0]] + paths[ep], bases[t[1]] + paths[ep]}, pids, *conns/2, *duration)
				results[key{ep, cfg}] = append(results[key{ep, cfg}], r)
				fmt.Printf("round %d %-9s %-9s %8.0f req/s  p99 %6.2f ms  %7.0f req per CPU-s (%.2f cores; machine %.2f)  load %s\n",
					round+1, ep, cfg, r.rps, r.p99.Seconds()*1e3, r.perCore, r.cores, r.machine, r.load)
			}
		}
	}
	fmt.Printf("\n| endpoint | configuration | req/s | req/s per core (per CPU-second of the serve processes) | cores used | machine cores busy | p99 | per core vs 1node |\n|---|---|---|---|---|---|---|---|\n")
	for _, ep := range strings.Split(*endpoints, ",") {
		base := median(results[key{ep, "1node"}], func(r result) float64 { return r.perCore })
		for _, cfg := range cfgs {
			rs := results[key{ep, cfg}]
			pc := median(rs, func(r result) float64 { return r.perCore })
			fmt.Printf("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f ms | %.2f |\n", ep, cfg,
				median(rs, func(r result) float64 { return r.rps }), pc,
				median(rs, func(r result) float64 { return r.cores }),
				median(rs, func(r result) float64 { return r.machine }),
				median(rs, func(r result) float64 { return r.p99.Seconds() * 1e3 }), pc/base)
		}
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func pgExec(u, sql string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	check(err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	check(err)
}

func withParam(u, k, v string) string {
	p, err := url.Parse(u)
	check(err)
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

func deleteStream(u, name string) {
	nc, err := nats.Connect(u, nats.Timeout(2*time.Second))
	if err != nil {
		log.Printf("cannot delete stream %s: %v", name, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, name)
}

// tradingOwner is the index of the node holding the "trading" lease,
// waiting for one.
func tradingOwner(u string) int {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, u)
		check(err)
		var holder string
		err = conn.QueryRow(ctx, `SELECT holder FROM tvbridge_leases WHERE name = 'trading' AND expires_at > now()`).Scan(&holder)
		conn.Close(context.Background())
		cancel()
		if err == nil {
			switch {
			case strings.HasPrefix(holder, "node1#"):
				return 0
			case strings.HasPrefix(holder, "node2#"):
				return 1
			}
		}
	}
	log.Fatal("no trading owner within a minute")
	return -1
}

// startLogged starts cmd with its output on stderr and, when re is set,
// returns the first group of the first line matching it.
func startLogged(cmd *exec.Cmd, re *regexp.Regexp) string {
	cmd.Env = append(os.Environ(), "TINKOFF_TOKEN=clusterreads")
	if re == nil {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		check(cmd.Start())
		return ""
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	check(cmd.Start())
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	select {
	case s := <-found:
		return s
	case <-time.After(30 * time.Second):
		log.Fatalf("%s: no %s within 30 s", cmd.Path, re)
	}
	return ""
}

// waitReady waits for a node to answer /healthz.
func waitReady(base string) {
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	log.Fatalf("%s not ready after 3 minutes", base)
}

type client struct{ base, token string }

func (c *client) do(method, path string, form url.Values, d any) {
	for attempt := 0; ; attempt++ {
		err := c.try(method, path, form, d)
		if err == nil {
			return
		}
		if attempt == 50 {
			log.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // trading may not be up yet
	}
}

func (c *client) try(method, path string, form url.Values, d any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	check(err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		S string          `json:"s"`
		D json.RawMessage `json:"d"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil || env.S != "ok" {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if d != nil {
		return json.Unmarshal(env.D, d)
	}
	return nil
}

func (c *client) raw(path string) []byte {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	check(err)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(b, []byte(`{"s":"ok"`)) {
		log.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// placeOrders opens a position in SIMCO (which trades around the clock)
// and rests 20 limit buys at half the price: 21 orders, one filled.
func placeOrders(c *client, acc string) {
	var quotes []struct {
		V struct{ Bid float64 } `json:"v"`
	}
	var bid float64
	for deadline := time.Now().Add(time.Minute); bid <= 0; time.Sleep(200 * time.Millisecond) {
		c.do(http.MethodGet, "/quotes?accountId="+acc+"&symbols=SIMCO", nil, &quotes)
		if len(quotes) > 0 {
			bid = quotes[0].V.Bid
		}
		if time.Now().After(deadline) {
			log.Fatal("no SIMCO quote within a minute")
		}
	}
	const step = 0.05 // SIMCO's price step; its lot is 1
	c.do(http.MethodPost, "/accounts/"+acc+"/orders", url.Values{"instrument": {"SIMCO"}, "qty": {"1"}, "side": {"buy"}, "type": {"market"}}, nil)
	for i := 0; i < 20; i++ {
		p := math.Round((bid*0.5-float64(i)*step)/step) * step
		c.do(http.MethodPost, "/accounts/"+acc+"/orders", url.Values{"instrument": {"SIMCO"}, "qty": {"1"}, "side": {"buy"},
			"type": {"limit"}, "limitPrice": {strconv.FormatFloat(p, 'f', 2, 64)}}, nil)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var orders []struct{ Status string }
		var positions []any
		c.do(http.MethodGet, "/accounts/"+acc+"/orders", nil, &orders)
		c.do(http.MethodGet, "/accounts/"+acc+"/positions", nil, &positions)
		filled := 0
		for _, o := range orders {
			if o.Status == "filled" {
				filled++
			}
		}
		if len(orders) == 21 && filled == 1 && len(positions) == 1 {
			return
		}
		if time.Now().After(deadline) {
			log.Fatalf("orders: %d (%d filled), positions: %d", len(orders), filled, len(positions))
		}
	}
}

type result struct {
	rps     float64 // both wrk processes
	p99     time.Duration
	perCore float64 // requests per CPU-second of the serve processes
	cores   float64 // CPU-seconds of the serve processes per second
	machine float64 // cores busy on the whole machine (wrk, PostgreSQL, NATS, other work included)
	load    string
}

var (
	reqRe     = regexp.MustCompile(`(\d+) requests in`)
	p99Re     = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\s*$`)
	badRespRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

// measure runs one wrk process per target at the same time.
func measure(token string, targets [2]string, pids []int, conns int, d time.Duration) result {
	before := int64(0)
	for _, p := range pids {
		before += loadtest.CPUTicks(p)
	}
	busy0, total0 := machineTicks()
	start := time.Now()
	var wg sync.WaitGroup
	outs := make([][]byte, len(targets))
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command("wrk", "-t1", "-c", strconv.Itoa(conns), "-d", d.String(), "--latency",
				"-H", "Authorization: Bearer "+token, "-H", "Origin: https://www.tradingview.com", target).CombinedOutput()
			if err != nil {
				log.Fatalf("wrk %s: %v: %s", target, err, out)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	el := time.Since(start)
	after := int64(0)
	for _, p := range pids {
		after += loadtest.CPUTicks(p)
	}
	busy1, total1 := machineTicks()
	la, _ := os.ReadFile("/proc/loadavg")
	var r result
	var n int64
	for i, out := range outs {
		if m := badRespRe.FindString(string(out)); m != "" {
			log.Fatalf("wrk %s: %s", targets[i], m)
		}
		m := reqRe.FindSubmatch(out)
		p := p99Re.FindSubmatch(out)
		if m == nil || p == nil {
			log.Fatalf("wrk %s: unexpected output %s", targets[i], out)
		}
		k, _ := strconv.ParseInt(string(m[1]), 10, 64)
		n += k
		v, _ := strconv.ParseFloat(string(p[1]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p[2])]
		r.p99 = max(r.p99, time.Duration(v*float64(unit)))
	}
	cpu := time.Duration(after-before) * loadtest.ClockTick
	r.rps = float64(n) / el.Seconds()
	r.perCore = float64(n) / cpu.Seconds()
	r.cores = cpu.Seconds() / el.Seconds()
	r.machine = float64(runtime.NumCPU()) * float64(busy1-busy0) / float64(max(total1-total0, 1))
	r.load = strings.Join(strings.Fields(string(la))[:3], " ")
	return r
}

// machineTicks is the machine's busy and total CPU time from /proc/stat.
func machineTicks() (busy, total int64) {
	raw, err := os.ReadFile("/proc/stat")
	check(err)
	line, _, _ := strings.Cut(string(raw), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.SortFunc(v, cmp.Compare)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
