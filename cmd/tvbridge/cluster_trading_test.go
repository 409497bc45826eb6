package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/jetstream/natstest"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
)

// traderClient is a TradingView client of one node with a bearer token.
type traderClient struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

// call sends a request and decodes {"s":"ok","d":...} into d; it returns
// an error for a transport failure, an HTTP status other than 200 or an
// "s":"error" answer.
func (c *traderClient) call(method, path string, form url.Values, d any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, raw)
	}
	var env struct {
		S      string          `json:"s"`
		Errmsg string          `json:"errmsg"`
		D      json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %v: %s", method, path, err, raw)
	}
	if env.S != "ok" {
		return fmt.Errorf("%s %s: %s", method, path, env.Errmsg)
	}
	if d != nil {
		return json.Unmarshal(env.D, d)
	}
	return nil
}

type clusterOrder struct {
	ID         string  `json:"id"`
	Instrument string  `json:"instrument"`
	Qty        float64 `json:"qty"`
	Status     string  `json:"status"`
}

func (c *traderClient) orders(acct string) []clusterOrder {
	c.t.Helper()
	var out []clusterOrder
	if err := c.call(http.MethodGet, "/accounts/"+acct+"/orders", nil, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// place places a limit buy with requestId and returns the order id.
func (c *traderClient) place(acct string, inst clusterInstrument, price float64, requestID string) (string, error) {
	var d struct {
		OrderID string `json:"orderId"`
	}
	form := url.Values{"instrument": {inst.Name}, "qty": {inst.qty()}, "side": {"buy"}, "type": {"limit"},
		"limitPrice": {strconv.FormatFloat(price, 'f', -1, 64)}, "requestId": {requestID}}
	err := c.call(http.MethodPost, "/accounts/"+acct+"/orders", form, &d)
	return d.OrderID, err
}

// TestClusterTrading: three nodes with authentication on, users and
// trading in PostgreSQL. A token issued by one node works on every node;
// an order placed through one node is listed at once by the others
// (read-your-writes); one requestId sent to all three nodes at the same
// moment places one order; and when the trading owner is killed with
// SIGKILL while orders are being placed through the other nodes, another
// node owns trading within 15 s, every acknowledged order and the position
// are still there, and no order was placed twice.
func TestClusterTrading(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four processes")
	}
	pgURL := pgtest.Schema(t)
	natsURL := natstest.URL(t)
	names := natstest.Stream(t, natsURL)
	const login, password = "trader", "cluster-trader-password"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	add := startProc(t, "auth", "auth", "user", "add", "--login", login, "--password-file", pwFile, "--postgres-url", pgURL)
	<-add.done
	if add.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("auth user add: %s", add.logs)
	}
	sim := startProc(t, "sim", "sim", "--listen", "127.0.0.1:0") // the default universe: SIMCO trades around the clock
	rest := sim.waitLog(t, simRESTLine, 30*time.Second)
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = startNode(t, i+1, pgURL, names, natsURL, rest, "--auth", "on", "--data-public")
	}
	waitLeader(t, nodes, 0, 30*time.Second) // the market flows

	db, err := postgres.Open(context.Background(), pgURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	owner, epoch := waitTradingOwner(t, db, nodes, 0, 30*time.Second)

	// One login, on the first node; the token works on the others.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c0 := &traderClient{t: t, base: nodes[0].base, hc: &http.Client{Timeout: 30 * time.Second}}
	if err := c0.call(http.MethodPost, "/authorize", url.Values{"login": {login}, "password": {password}}, &tok); err != nil {
		t.Fatal(err)
	}
	clients := make([]*traderClient, len(nodes))
	for i, n := range nodes {
		clients[i] = &traderClient{t: t, base: n.base, token: tok.AccessToken, hc: &http.Client{Timeout: 30 * time.Second}}
	}
	var accounts []struct{ ID string }
	if err := clients[1].call(http.MethodGet, "/accounts", nil, &accounts); err != nil || len(accounts) == 0 {
		t.Fatalf("accounts on node2 with node1's token: %v %v", accounts, err)
	}
	acct := accounts[0].ID
	inst, bid := liveInstrument(t, clients[2], acct)
	price := roundDown(bid*0.8, inst.MinTick) // rests: far below the market

	// Read-your-writes: placed through node3, listed at once by the others.
	id1, err := clients[2].place(acct, inst, price, "ryw-1")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if !hasOrder(c.orders(acct), id1) {
			t.Errorf("node%d does not list order %s placed through node3 a moment ago", i+1, id1)
		}
	}
	// One requestId on three nodes at once: one order.
	ids := make([]string, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if ids[i], err = c.place(acct, inst, price, "dup-1"); err != nil {
				t.Errorf("node%d: %v", i+1, err)
			}
		}()
	}
	wg.Wait()
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("one requestId on three nodes gave orders %v", ids)
	}
	if n := len(clients[0].orders(acct)); n != 2 {
		t.Fatalf("%d orders after one order and one duplicated request, want 2", n)
	}
	// A position, from a market buy.
	var mkt struct {
		OrderID string `json:"orderId"`
	}
	if err := clients[1].call(http.MethodPost, "/accounts/"+acct+"/orders", url.Values{"instrument": {inst.Name}, "qty": {inst.qty()},
		"side": {"buy"}, "type": {"market"}, "requestId": {"market-1"}}, &mkt); err != nil {
		t.Fatal(err)
	}
	posBefore := waitPosition(t, clients[0], acct, inst.Name, 0, 10*time.Second)

	// Orders through the two other nodes while the owner is killed: each
	// request is sent again, with its requestId, until it is answered.
	var others []*traderClient
	for i, n := range nodes {
		if n != owner {
			others = append(others, clients[i])
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	acked := map[string]string{} // requestId -> order id
	var mu sync.Mutex
	for k, c := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ctx.Err() == nil; j++ {
				rid := fmt.Sprintf("load-%d-%d", k, j)
				deadline := time.Now().Add(30 * time.Second)
				for {
					id, err := c.place(acct, inst, price, rid)
					if err == nil {
						mu.Lock()
						acked[rid] = id
						mu.Unlock()
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("%s: no answer to %s within 30 s: %v", c.base, rid, err)
						return
					}
					time.Sleep(20 * time.Millisecond) // a client's pause before sending again
				}
			}
		}()
	}
	waitAcked := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d orders acknowledged, want %d", got, n)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	waitAcked(10)
	killed := time.Now()
	owner.kill9()
	var survivors []*node
	for _, n := range nodes {
		if n != owner {
			survivors = append(survivors, n)
		}
	}
	next, _ := waitTradingOwner(t, db, survivors, epoch, 15*time.Second)
	took := time.Since(killed)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	waitAcked(before + 10) // orders flow again through the new owner
	cancel()
	wg.Wait()
	t.Logf("trading failover: %s owns trading %v after the kill (lease TTL 2s); %d orders acknowledged under load",
		next.name, took.Round(time.Millisecond), len(acked))

	for _, c := range others {
		list := c.orders(acct)
		seen := map[string]int{}
		for _, o := range list {
			seen[o.ID]++
		}
		for rid, id := range acked {
			if seen[id] != 1 {
				t.Errorf("%s: acknowledged order %s (%s) listed %d times", c.base, id, rid, seen[id])
			}
		}
		// ryw-1, dup-1, market-1 and one order per acknowledged request:
		// nothing was placed twice.
		if want := 3 + len(acked); len(list) != want {
			t.Errorf("%s lists %d orders, want %d", c.base, len(list), want)
		}
		if q := waitPosition(t, c, acct, inst.Name, 0, 5*time.Second); q != posBefore {
			t.Errorf("%s: position %v after the failover, %v before", c.base, q, posBefore)
		}
	}
}

// waitTradingOwner waits for one of nodes to hold the trading lease at an
// epoch above min.
func waitTradingOwner(t *testing.T, db *postgres.DB, nodes []*node, min int64, within time.Duration) (*node, int64) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		holder, epoch, expires, err := db.Leases().Holder(context.Background(), "trading")
		if err == nil && epoch > min && time.Until(expires) > -time.Second {
			id, _, _ := strings.Cut(holder, "#")
			for _, n := range nodes {
				if n.name == id {
					return n, epoch
				}
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("no node owned trading (epoch > %d) within %v", min, within)
	return nil, 0
}

type clusterInstrument struct {
	Name    string  `json:"name"`
	MinTick float64 `json:"minTick"`
	MinQty  float64 `json:"minQty"`
}

// qty is the smallest quantity of the instrument.
func (in clusterInstrument) qty() string {
	if in.MinQty > 0 {
		return strconv.FormatFloat(in.MinQty, 'f', -1, 64)
	}
	return "1"
}

// liveInstrument is the cheapest instrument trading now with a two-sided
// quote whose smallest order costs at most 10,000 (the test places many
// orders: they must not run out of funds; SIMCO and SIMETF trade around
// the clock), and its bid.
func liveInstrument(t *testing.T, c *traderClient, acct string) (clusterInstrument, float64) {
	t.Helper()
	var insts []clusterInstrument
	if err := c.call(http.MethodGet, "/accounts/"+acct+"/instruments", nil, &insts); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(insts))
	for i, in := range insts {
		names[i] = in.Name
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var quotes []struct {
			S string `json:"s"`
			N string `json:"n"`
			V struct {
				Bid, Ask float64
				Halted   bool
			} `json:"v"`
		}
		if err := c.call(http.MethodGet, "/quotes?accountId="+acct+"&symbols="+url.QueryEscape(strings.Join(names, ",")), nil, &quotes); err != nil {
			t.Fatal(err)
		}
		best, bid, cost := -1, 0.0, math.Inf(1)
		for i, q := range quotes {
			if q.S != "ok" || q.V.Bid <= 0 || q.V.Ask <= 0 || q.V.Halted || i >= len(insts) || q.N != insts[i].Name {
				continue
			}
			qty, _ := strconv.ParseFloat(insts[i].qty(), 64)
			// Cheap enough for hundreds of orders on the paper account.
			if c := q.V.Ask * qty; c < cost && c <= 10_000 {
				best, bid, cost = i, q.V.Bid, c
			}
		}
		if best >= 0 {
			return insts[best], bid
		}
		if time.Now().Add(200 * time.Millisecond).After(deadline) {
			t.Fatalf("no instrument of %d is trading with a live quote costing at most 10,000: %+v", len(insts), quotes)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	t.Fatalf("no instrument of %d is trading with a live quote", len(insts))
	return clusterInstrument{}, 0
}

func roundDown(p, tick float64) float64 {
	if tick <= 0 {
		return p
	}
	v := math.Floor(p/tick) * tick
	return math.Round(v*1e9) / 1e9
}

func hasOrder(list []clusterOrder, id string) bool {
	for _, o := range list {
		if o.ID == id {
			return true
		}
	}
	return false
}

// waitPosition waits until the account holds more than above of
// instrument and returns the quantity.
func waitPosition(t *testing.T, c *traderClient, acct, instrument string, above float64, within time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var list []struct {
			Instrument string  `json:"instrument"`
			Qty        float64 `json:"qty"`
		}
		if err := c.call(http.MethodGet, "/accounts/"+acct+"/positions", nil, &list); err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			if p.Instrument == instrument && p.Qty > above {
				return p.Qty
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no position in %s within %v", c.base, instrument, within)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
