// Command tradereads measures TradingView's polled trading reads on the
// real `tvbridge serve` against a plain net/http server answering the same
// bytes with the same headers, both loaded by wrk in the same run,
// interleaved (issue 14, item 11).
//
//	go run ./scripts/tradereads [-auth on,none] [-rounds 5] [-duration 5s] [-conns 16] [-together]
//
// For each auth mode it starts serve (built from this checkout unless -bin
// is given) on a temporary data dir with the embedded simulator, creates a
// user when auth is on and logs in, opens a position and 20 resting limit
// orders in the paper account (21 orders in /orders), captures each
// endpoint's response and starts the plain server (this program again, in
// a process of its own) with those responses, checking it answers the same
// bytes and headers. Once every serve is idle (its backfill done), each
// round runs, for every mode and endpoint in turn, wrk against serve and
// against its plain server, one after the other (which goes first
// alternates) or, with -together, at the same time; the ratio of the
// pair's requests per second is serve/plain. Every request carries what
// TradingView's browser client sends: a bearer token (ignored with --auth
// none, as serve ignores it) and an Origin allowed by CORS. It prints each
// run, with the CPU time each server's process used per request (from
// /proc: steadier than requests per second on a shared machine), and per
// mode and endpoint the medians and the median of the ratios.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"tvbridge/scripts/internal/loadtest"
)

// capture is one endpoint's response, replayed by the plain server.
type capture struct {
	Path   string      `json:"path"` // with the query
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

func main() {
	plainFile := flag.String("plain-serve", "", "internal: serve the captures in this file on -listen")
	listen := flag.String("listen", "127.0.0.1:0", "internal: the plain server's address")
	bin := flag.String("bin", "", "tvbridge binary to measure (default: built from ./cmd/tvbridge)")
	modes := flag.String("auth", "on,none", "auth modes to measure, in order")
	rounds := flag.Int("rounds", 5, "rounds per endpoint (one serve and one plain wrk run each)")
	duration := flag.Duration("duration", 5*time.Second, "length of each wrk run")
	conns := flag.Int("conns", 16, "wrk connections")
	threads := flag.Int("threads", 2, "wrk threads")
	origin := flag.String("origin", "https://www.tradingview.com", "Origin header sent (empty: none)")
	only := flag.String("endpoints", "orders,positions,state,quotes", "endpoints to measure: orders, positions, state, quotes, history, symbol_info")
	together := flag.Bool("together", false, "run each pair's two loads at the same time instead of one after the other:\n"+
		"the servers then share the machine, and its other load, equally")
	hold := flag.Duration("hold", 0, "after setup, keep serve running this long before measuring (for attaching a profiler), printing its address")
	plainTimeouts := flag.Bool("plain-timeouts", false, "give the plain server serve's read-header and idle timeouts (10s, 2m), whose read\n"+
		"deadlines net/http then sets on every request as it does for serve: the ratio is then the handlers' alone")
	admin := flag.Bool("admin", false, "run serve with an admin listener on a free port (printed), for /debug/pprof/ during -hold")
	flag.Parse()
	log.SetFlags(0)
	if *plainFile != "" {
		servePlain(*plainFile, *listen, *plainTimeouts)
		return
	}
	if *bin == "" {
		dir, err := os.MkdirTemp("", "tradereads-bin")
		check(err)
		defer os.RemoveAll(dir)
		*bin = filepath.Join(dir, "tvbridge")
		cmd := exec.Command("go", "build", "-o", *bin, "./cmd/tvbridge")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		check(cmd.Run())
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk not found: apt-get install -y wrk")
	}
	self, err := os.Executable()
	check(err)
	cfg := loadConfig{rounds: *rounds, duration: *duration, conns: *conns, threads: *threads, origin: *origin, together: *together,
		plainTimeouts: *plainTimeouts}
	var runs []*run
	for _, mode := range strings.Split(*modes, ",") {
		r := setup(*bin, strings.TrimSpace(mode), *origin, strings.Split(*only, ","), *admin)
		defer r.close()
		runs = append(runs, r)
	}
	for _, r := range runs {
		// serve's background work (the simulator, ingest, what is left of
		// the backfill) must not count as the cost of the requests.
		loadtest.WaitIdle(r.serve.Process.Pid, 0.02)
		stop := startPlain(r, self, cfg)
		defer stop()
	}
	if *hold > 0 {
		for _, r := range runs {
			log.Printf("auth %s: serve (pid %d) at %s, token %q", r.mode, r.serve.Process.Pid, r.base, r.token)
		}
		log.Printf("measuring in %s", *hold)
		time.Sleep(*hold)
	}
	measure(runs, cfg)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// run is one serve process set up for measuring, with its plain server.
type run struct {
	mode     string
	base     string
	token    string
	dir      string
	serve    *exec.Cmd
	captures []capture
	names    []string // endpoint names, as captures

	plainBase string
	plain     *exec.Cmd
}

func (r *run) close() {
	_ = r.serve.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- r.serve.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.serve.Process.Kill()
		<-done
	}
	os.RemoveAll(r.dir)
}

const password = "tradereads-password"

// setup starts serve in mode, places the orders and captures the endpoints.
func setup(bin, mode, origin string, endpoints []string, admin bool) *run {
	dir, err := os.MkdirTemp("", "tradereads-data")
	check(err)
	if mode == "on" {
		cmd := exec.Command(bin, "auth", "user", "add", "--login", "bench", "--data-dir", dir)
		cmd.Stdin = strings.NewReader(password)
		out, err := cmd.CombinedOutput()
		if err != nil {
			log.Fatalf("auth user add: %v: %s", err, out)
		}
	}
	addr := loadtest.FreeAddr()
	r := &run{mode: mode, base: "http://" + addr, dir: dir}
	adminAddr := ""
	if admin {
		adminAddr = loadtest.FreeAddr()
	}
	r.serve = exec.Command(bin, "serve", "--data-dir", dir, "--listen", addr, "--admin-listen", adminAddr, "--auth", mode,
		"--backfill-days", "1", "--log-level", "warn")
	r.serve.Stdout, r.serve.Stderr = os.Stderr, os.Stderr
	check(r.serve.Start())
	log.Printf("auth %s: serve pid %d on %s, admin listener %q", mode, r.serve.Process.Pid, addr, adminAddr)
	waitReady(r.base)
	if mode == "on" {
		var tok struct {
			D struct {
				AccessToken string `json:"access_token"`
			} `json:"d"`
		}
		post(r, "/authorize", url.Values{"login": {"bench"}, "password": {password}}, &tok)
		r.token = tok.D.AccessToken
	} else {
		// TradingView always sends one; serve ignores it without auth.
		r.token = "not-checked-with-auth-none-0123456789abcdefg"
	}
	var accounts struct {
		D []struct {
			ID string `json:"id"`
		} `json:"d"`
	}
	get(r, "/accounts", &accounts)
	acc := accounts.D[0].ID
	placeOrders(r, acc)

	paths := map[string]string{
		"orders":      "/accounts/" + acc + "/orders",
		"positions":   "/accounts/" + acc + "/positions",
		"state":       "/accounts/" + acc + "/state",
		"quotes":      "/quotes?accountId=" + acc + "&symbols=SIMCO,BTC_RUB,ETH_RUB",
		"symbol_info": "/symbol_info",
	}
	now := time.Now().Unix()
	paths["history"] = fmt.Sprintf("/history?symbol=BTC_RUB&resolution=1&from=%d&to=%d", now-3600, now-120)
	for _, name := range endpoints {
		name = strings.TrimSpace(name)
		p, ok := paths[name]
		if !ok {
			log.Fatalf("unknown endpoint %q", name)
		}
		c := fetch(r, p, origin)
		if c.Status != http.StatusOK || !bytes.HasPrefix(c.Body, []byte(`{"s":"ok"`)) && name != "symbol_info" && name != "history" {
			log.Fatalf("%s: %d %s", p, c.Status, c.Body)
		}
		r.captures = append(r.captures, c)
		r.names = append(r.names, name)
	}
	return r
}

// waitReady waits for serve to answer and its initial backfill to end, so
// that the measurement does not share the CPU with it.
func waitReady(base string) {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			var h struct {
				Done        int `json:"initial_backfill_done"`
				Instruments int `json:"instruments"`
			}
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && h.Instruments > 0 && h.Done == h.Instruments {
				time.Sleep(2 * time.Second)
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	log.Fatal("serve not ready after 3 minutes")
}

func do(r *run, method, path string, form url.Values, v any) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, r.base+path, body)
	check(err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	check(err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	check(err)
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(raw, []byte(`{"s":"ok"`)) {
		log.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if v != nil {
		check(json.Unmarshal(raw, v))
	}
}

func get(r *run, path string, v any)                   { do(r, http.MethodGet, path, nil, v) }
func post(r *run, path string, form url.Values, v any) { do(r, http.MethodPost, path, form, v) }

// placeOrders opens a position in SIMCO (which trades around the clock)
// with a market order and rests 20 limit buys at half the price: 21
// orders, one filled.
func placeOrders(r *run, acc string) {
	var quotes struct {
		D []struct {
			V struct{ Bid float64 } `json:"v"`
		} `json:"d"`
	}
	get(r, "/quotes?accountId="+acc+"&symbols=SIMCO", &quotes)
	bid := quotes.D[0].V.Bid
	const step = 0.05 // SIMCO's price step; its lot is 1
	post(r, "/accounts/"+acc+"/orders", url.Values{"instrument": {"SIMCO"}, "qty": {"1"}, "side": {"buy"}, "type": {"market"}}, nil)
	for i := 0; i < 20; i++ {
		p := math.Round((bid*0.5-float64(i)*step)/step) * step
		post(r, "/accounts/"+acc+"/orders", url.Values{"instrument": {"SIMCO"}, "qty": {"1"}, "side": {"buy"},
			"type": {"limit"}, "limitPrice": {strconv.FormatFloat(p, 'f', 2, 64)}}, nil)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var orders struct {
			D []struct{ Status string } `json:"d"`
		}
		var positions struct{ D []any }
		get(r, "/accounts/"+acc+"/orders", &orders)
		get(r, "/accounts/"+acc+"/positions", &positions)
		filled := 0
		for _, o := range orders.D {
			if o.Status == "filled" {
				filled++
			}
		}
		if len(orders.D) == 21 && filled == 1 && len(positions.D) == 1 {
			return
		}
		if time.Now().After(deadline) {
			log.Fatalf("orders: %d (%d filled), positions: %d", len(orders.D), filled, len(positions.D))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fetch captures a response as wrk's requests get it.
func fetch(r *run, path, origin string) capture {
	req, err := http.NewRequest(http.MethodGet, r.base+path, nil)
	check(err)
	req.Header.Set("Authorization", "Bearer "+r.token)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	check(err)
	h := resp.Header.Clone()
	h.Del("Date") // net/http adds its own
	return capture{Path: path, Status: resp.StatusCode, Header: h, Body: body}
}

// servePlain is the same-bytes server: for each captured path, the
// captured headers and body, written with net/http and nothing else.
func servePlain(file, addr string, timeouts bool) {
	raw, err := os.ReadFile(file)
	check(err)
	var caps []capture
	check(json.Unmarshal(raw, &caps))
	byPath := map[string]*capture{}
	for i := range caps {
		u, err := url.Parse(caps[i].Path)
		check(err)
		byPath[u.Path] = &caps[i]
	}
	ln, err := net.Listen("tcp", addr)
	check(err)
	fmt.Println(ln.Addr().String())
	srv := &http.Server{}
	if timeouts {
		srv.ReadHeaderTimeout, srv.IdleTimeout = 10*time.Second, 2*time.Minute // web.Options' defaults
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		for k, v := range c.Header {
			h[k] = v
		}
		w.WriteHeader(c.Status)
		_, _ = w.Write(c.Body)
	})
	check(srv.Serve(ln))
}

type loadConfig struct {
	rounds, conns, threads int
	duration               time.Duration
	origin                 string
	together               bool
	plainTimeouts          bool
}

var (
	reqPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	requests  = regexp.MustCompile(`(\d+) requests in`)
	badResp   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

// load is one wrk run: requests per second, and the CPU the server's
// process used per request.
type load struct {
	rps    float64
	cpuReq time.Duration
}

// measureLoad runs wrk against target served by process pid.
func measureLoad(cfg loadConfig, token, target string, pid int) load {
	before := loadtest.CPUTicks(pid)
	rps, n := wrk(cfg, token, target)
	return load{rps: rps, cpuReq: time.Duration(loadtest.CPUTicks(pid)-before) * loadtest.ClockTick / time.Duration(max(n, 1))}
}

// wrk runs one load and returns its requests per second and count.
func wrk(cfg loadConfig, token, target string) (float64, int64) {
	args := []string{"-t", strconv.Itoa(cfg.threads), "-c", strconv.Itoa(cfg.conns), "-d", cfg.duration.String(),
		"-H", "Authorization: Bearer " + token}
	if cfg.origin != "" {
		args = append(args, "-H", "Origin: "+cfg.origin)
	}
	out, err := exec.Command("wrk", append(args, target)...).CombinedOutput()
	if err != nil {
		log.Fatalf("wrk %s: %v: %s", target, err, out)
	}
	if m := badResp.FindString(string(out)); m != "" {
		log.Fatalf("wrk %s: %s", target, m)
	}
	m := reqPerSec.FindSubmatch(out)
	if m == nil {
		log.Fatalf("wrk %s: no Requests/sec in %s", target, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	check(err)
	n, err := strconv.ParseInt(string(requests.FindSubmatch(out)[1]), 10, 64)
	check(err)
	return v, n
}

// startPlain starts r's plain server (this program again, in a process of
// its own) on r's captures, checks it answers the same, and returns its stop.
func startPlain(r *run, self string, cfg loadConfig) func() {
	raw, err := json.Marshal(r.captures)
	check(err)
	file := filepath.Join(r.dir, "captures.json")
	check(os.WriteFile(file, raw, 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"-plain-serve", file, "-listen", loadtest.FreeAddr()}
	if cfg.plainTimeouts {
		args = append(args, "-plain-timeouts")
	}
	r.plain = exec.CommandContext(ctx, self, args...)
	r.plain.Stderr = os.Stderr
	stdout, err := r.plain.StdoutPipe()
	check(err)
	check(r.plain.Start())
	line := make([]byte, 64)
	n, err := stdout.Read(line)
	check(err)
	r.plainBase = "http://" + strings.TrimSpace(string(line[:n]))
	// The plain server must answer exactly what serve answered.
	for _, c := range r.captures {
		got := fetch(&run{base: r.plainBase, token: r.token}, c.Path, cfg.origin)
		if !bytes.Equal(got.Body, c.Body) || !headersEqual(got.Header, c.Header) {
			log.Fatalf("plain server differs on %s:\n%v %s\n%v %s", c.Path, got.Header, got.Body, c.Header, c.Body)
		}
	}
	return func() { cancel(); _ = r.plain.Wait() }
}

// measure runs the rounds: in each, every mode and endpoint in turn, serve
// and its plain server one after the other (which first alternates).
func measure(runs []*run, cfg loadConfig) {
	type result struct{ serve, plain, ratio, serveCPU, plainCPU []float64 }
	results := make([][]result, len(runs))
	for i, r := range runs {
		results[i] = make([]result, len(r.captures))
	}
	how := "one after the other"
	if cfg.together {
		how = "at the same time"
	}
	fmt.Printf("\n# wrk -t%d -c%d -d%s, %d rounds, Origin %q, serve and plain %s\n", cfg.threads, cfg.conns, cfg.duration, cfg.rounds, cfg.origin, how)
	for round := 0; round < cfg.rounds; round++ {
		for ri, r := range runs {
			for i, c := range r.captures {
				var s, p load
				if cfg.together {
					done := make(chan struct{})
					go func() {
						defer close(done)
						p = measureLoad(cfg, r.token, r.plainBase+c.Path, r.plain.Process.Pid)
					}()
					s = measureLoad(cfg, r.token, r.base+c.Path, r.serve.Process.Pid)
					<-done
				} else if (round+ri+i)%2 == 0 {
					s = measureLoad(cfg, r.token, r.base+c.Path, r.serve.Process.Pid)
					p = measureLoad(cfg, r.token, r.plainBase+c.Path, r.plain.Process.Pid)
				} else {
					p = measureLoad(cfg, r.token, r.plainBase+c.Path, r.plain.Process.Pid)
					s = measureLoad(cfg, r.token, r.base+c.Path, r.serve.Process.Pid)
				}
				res := &results[ri][i]
				res.serve, res.plain = append(res.serve, s.rps), append(res.plain, p.rps)
				res.ratio = append(res.ratio, s.rps/p.rps)
				res.serveCPU = append(res.serveCPU, float64(s.cpuReq)/1e3)
				res.plainCPU = append(res.plainCPU, float64(p.cpuReq)/1e3)
				fmt.Printf("round %d auth %-4s %-11s serve %8.0f req/s %5.1f µs CPU/req  plain %8.0f req/s %5.1f µs CPU/req  ratio %.3f\n",
					round+1, r.mode, r.names[i], s.rps, float64(s.cpuReq)/1e3, p.rps, float64(p.cpuReq)/1e3, s.rps/p.rps)
			}
		}
	}
	for ri, r := range runs {
		fmt.Printf("\n| endpoint (auth %s) | bytes | serve req/s | plain req/s | server CPU µs/req, serve / plain | ratio per round | median ratio |\n|---|---|---|---|---|---|---|\n", r.mode)
		for i, res := range results[ri] {
			ratios := make([]string, len(res.ratio))
			for j, v := range res.ratio {
				ratios[j] = fmt.Sprintf("%.2f", v)
			}
			fmt.Printf("| %s | %d | %.0f | %.0f | %.1f / %.1f | %s | **%.2f** |\n", r.names[i], len(r.captures[i].Body),
				median(res.serve), median(res.plain), median(res.serveCPU), median(res.plainCPU), strings.Join(ratios, ", "), median(res.ratio))
		}
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.SortFunc(s, cmp.Compare)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
