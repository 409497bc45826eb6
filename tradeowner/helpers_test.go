package tradeowner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/live"
	"tvbridge/paper"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
	"tvbridge/tape"
	"tvbridge/tradeapi"
	"tvbridge/trading"
)

const (
	sberFIGI = "BBG004730N88"
	// Short leases keep failover tests fast; the elector needs
	// RenewEvery < TTL - TTL/10.
	testTTL   = time.Second
	testRenew = 250 * time.Millisecond
)

func instruments() []tvbridge.Instrument {
	return []tvbridge.Instrument{{FIGI: sberFIGI, Ticker: "SBER", Name: "Сбер Банк", Type: tvbridge.Stock,
		Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01, Exchange: "MOEX", Session: "24x7", Timezone: "UTC"}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLogger logs to the test log (visible with -v or on failure).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// testCluster is several in-process nodes on one fresh schema.
type testCluster struct {
	t     *testing.T
	url   string
	cat   *api.Catalog
	nodes []*testNode
	js    *jsLog // withJetStream: tapes fed from a JetStream stream
}

// testNode is one node: its own database pool (through a pausable TCP
// proxy), market, tape, Node and HTTP server.
type testNode struct {
	c      *testCluster
	name   string
	db     *postgres.DB
	pg     *pgProxy
	market *live.Market
	tape   *tape.Tape
	shared trading.SharedTape // withJetStream
	node   *Node
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	reigns []reignRec // every reign this node started
}

type reignRec struct {
	store   trading.Store
	manager *trading.Manager
}

func newCluster(t *testing.T) *testCluster {
	t.Helper()
	cat, err := api.BuildCatalog(instruments(), api.CatalogOptions{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, url: pgtest.Schema(t), cat: cat}
	// Migrate once, before nodes start at once.
	db, err := postgres.Open(context.Background(), c.url, postgres.Options{Logger: quiet(), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return c
}

// holdLease makes holder the trading lease's holder for a minute, and
// registers its node at url (unless "").
func (c *testCluster) holdLease(holder, url string) {
	c.t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, c.url, postgres.Options{Logger: quiet(), MaxConns: 2})
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	if url != "" {
		if err := db.Nodes().Register(ctx, postgres.HolderNode(holder), url, holder); err != nil {
			c.t.Fatal(err)
		}
	}
	if _, ok, err := db.Leases().Acquire(ctx, LeaseName, holder, time.Minute); err != nil || !ok {
		c.t.Fatalf("Acquire = %v, %v", ok, err)
	}
}

// nodeOpts adjusts a node's Config.
type nodeOpts func(*Config)

// add starts a node; it runs until the test ends or stop.
func (c *testCluster) add(name string, opts ...nodeOpts) *testNode {
	t := c.t
	t.Helper()
	n := &testNode{c: c, name: name, market: live.New(), tape: tape.New(tape.Config{}), done: make(chan error, 1)}
	if c.js != nil {
		n.shared = c.js.follow(t, name, n.tape)
	}
	n.pg = newPGProxy(t, c.url)
	db, err := postgres.Open(context.Background(), n.pg.url, postgres.Options{Logger: quiet(), MaxConns: 6,
		IdleInTransactionTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n.db = db
	n.setBook(100)
	var h atomic.Pointer[Node]
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().ServeHTTP(w, r)
	}))
	cfg := Config{
		DB: db, NodeID: name, AdvertiseURL: n.srv.URL, Start: n.start,
		TTL: testTTL, RenewEvery: testRenew, MaxWait: 5 * time.Second, Poll: 20 * time.Millisecond,
		HeartbeatEvery: time.Second, Drain: time.Second,
		Logger: testLogger(t).With("test_node", name),
	}
	for _, o := range opts {
		o(&cfg)
	}
	node, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Store(node)
	n.node = node
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- node.Run(ctx) }()
	t.Cleanup(func() {
		n.pg.Resume()
		n.stop()
		n.srv.Close()
		db.Close()
	})
	c.nodes = append(c.nodes, n)
	return n
}

// stop ends the node's Run (a clean shutdown: it releases the lease).
func (n *testNode) stop() {
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			n.c.t.Errorf("%s: Run = %v", n.name, err)
		}
		n.done <- err // later stops see it too
	case <-time.After(20 * time.Second):
		n.c.t.Errorf("%s: Run did not return", n.name)
	}
}

// start is the node's StartFunc: a paper venue and a trading manager on
// the node's market and tape, and tradeapi behind a test authentication
// ("Authorization: Bearer <user>").
func (n *testNode) start(_ context.Context, store trading.Store) (*Reign, error) {
	lookup := n.c.cat.Instrument
	log := quiet()
	venue := paper.New(paper.Config{Market: n.market, Tape: n.tape, TradesFromCore: n.shared != nil, Instrument: lookup, Logger: log})
	m, err := trading.New(trading.Config{Venue: venue, Market: n.market, Tape: n.tape, Shared: n.shared, Store: store,
		Instrument: lookup, Logger: testLogger(n.c.t).With("test_node", n.name)})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.reigns = append(n.reigns, reignRec{store: store, manager: m})
	n.mu.Unlock()
	api := tradeapi.New(tradeapi.Config{Broker: m, Catalog: n.c.cat, Market: n.market, Logger: log})
	return &Reign{Handler: bearerAuth(api), Console: api, Run: m.Run, Close: m.Close}, nil
}

func (n *testNode) lastReign() reignRec {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.reigns) == 0 {
		return reignRec{}
	}
	return n.reigns[len(n.reigns)-1]
}

// bearerAuth takes the user from "Authorization: Bearer <user>".
func bearerAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && user != "" {
			r = r.WithContext(tvbridge.WithPrincipal(r.Context(), tvbridge.Principal{User: user, Scheme: "test"}))
		}
		next.ServeHTTP(w, r)
	})
}

// setBook puts a fresh book around price on the node's market.
func (n *testNode) setBook(price float64) {
	now := time.Now()
	n.market.Observe(&tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: now}, Book: tvbridge.OrderBook{
		FIGI: sberFIGI, Depth: 1, TradeStatus: tvbridge.StatusNormalTrading,
		Bids: []tvbridge.PriceLevel{{Price: price - 0.1, Quantity: 1000}},
		Asks: []tvbridge.PriceLevel{{Price: price + 0.1, Quantity: 1000}}}})
	n.market.Observe(&tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: now}, Candle: tvbridge.Candle{
		FIGI: sberFIGI, Interval: tvbridge.Interval1Min, Time: now.Truncate(time.Minute),
		Open: price, High: price, Low: price, Close: price, Volume: 1}})
}

// trade moves the market to price on every node (as JetStream would feed
// every node's tape and market) and puts a trade on every tape.
func (c *testCluster) trade(price float64) {
	tick := tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: sberFIGI, Symbol: "SBER", Time: time.Now(), Price: price, Size: 1}
	if c.js != nil {
		c.js.publish(c.t, tick)
	}
	for _, n := range c.nodes {
		n.setBook(price)
		if c.js == nil {
			n.tape.Append(tick)
		}
	}
}

// waitOwner waits until exactly one of nodes serves trading at an epoch
// above after, and returns it.
func (c *testCluster) waitOwner(after int64, nodes ...*testNode) (*testNode, int64) {
	c.t.Helper()
	if len(nodes) == 0 {
		nodes = c.nodes
	}
	var owner *testNode
	var epoch int64
	eventually(c.t, 15*time.Second, func() error {
		owner = nil
		for _, n := range nodes {
			if e, ok := n.node.Owner(); ok && e > after {
				if owner != nil {
					return fmt.Errorf("two owners: %s and %s", owner.name, n.name)
				}
				owner, epoch = n, e
			}
		}
		if owner == nil {
			return fmt.Errorf("no owner above epoch %d yet", after)
		}
		return nil
	})
	return owner, epoch
}

// others returns the nodes but n.
func (c *testCluster) others(n *testNode) []*testNode {
	var out []*testNode
	for _, m := range c.nodes {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		<-tick.C
	}
}

// reply is a decoded answer.
type reply struct {
	Status int
	Header http.Header
	S      string          `json:"s"`
	D      json.RawMessage `json:"d"`
	Errmsg string          `json:"errmsg"`
}

// call sends a request to the node as user (form: a form body).
func (n *testNode) call(t testing.TB, method, path, user string, form neturl.Values, hdr ...string) reply {
	t.Helper()
	r, err := n.do(method, path, user, form, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do is call for goroutines other than the test's: it returns errors.
func (n *testNode) do(method, path, user string, form neturl.Values, hdr ...string) (reply, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, n.srv.URL+path, body)
	if err != nil {
		return reply{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+user)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s on %s: %w", method, path, n.name, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{Status: res.StatusCode, Header: res.Header}
	if err := json.Unmarshal(raw, &r); err != nil {
		return reply{}, fmt.Errorf("%s %s on %s: %d %q: %w", method, path, n.name, res.StatusCode, raw, err)
	}
	r.Status, r.Header = res.StatusCode, res.Header
	return r, nil
}

// ok checks an {"s":"ok"} answer and decodes d into v (if not nil).
func (r reply) ok(t testing.TB, v any) {
	t.Helper()
	if r.Status != http.StatusOK || r.S != "ok" {
		t.Fatalf("answer %d %s: %s", r.Status, r.S, r.Errmsg)
	}
	if v != nil {
		if err := json.Unmarshal(r.D, v); err != nil {
			t.Fatalf("decode %s: %v", r.D, err)
		}
	}
}

type orderJSON struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	Type   string  `json:"type"`
	Side   string  `json:"side"`
	Qty    float64 `json:"qty"`
}

type positionJSON struct {
	ID   string  `json:"id"`
	Qty  float64 `json:"qty"`
	Side string  `json:"side"`
}

// account returns user's (first) account id, through n.
func (n *testNode) account(t testing.TB, user string) string {
	t.Helper()
	var accts []struct {
		ID string `json:"id"`
	}
	n.call(t, "GET", "/accounts", user, nil).ok(t, &accts)
	if len(accts) == 0 {
		t.Fatal("no account")
	}
	return accts[0].ID
}

func (n *testNode) orders(t testing.TB, user, acct string) map[string]orderJSON {
	t.Helper()
	var list []orderJSON
	n.call(t, "GET", "/accounts/"+acct+"/orders", user, nil).ok(t, &list)
	out := map[string]orderJSON{}
	for _, o := range list {
		out[o.ID] = o
	}
	return out
}

func (n *testNode) positions(t testing.TB, user, acct string) []positionJSON {
	t.Helper()
	var list []positionJSON
	n.call(t, "GET", "/accounts/"+acct+"/positions", user, nil).ok(t, &list)
	return list
}

// place places an order through n and returns its id.
func (n *testNode) place(t testing.TB, user, acct string, fields ...string) string {
	t.Helper()
	form := neturl.Values{"instrument": {"SBER"}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	var d struct {
		OrderID string `json:"orderId"`
	}
	n.call(t, "POST", "/accounts/"+acct+"/orders", user, form).ok(t, &d)
	if d.OrderID == "" {
		t.Fatal("no order id")
	}
	return d.OrderID
}

// pgProxy is a TCP proxy to PostgreSQL that can be paused: while paused it
// forwards nothing in either direction (a node whose database calls hang,
// as when its process or its network stalls).
type pgProxy struct {
	url string
	ln  net.Listener

	mu     sync.Mutex
	paused chan struct{}
}

func newPGProxy(t testing.TB, raw string) *pgProxy {
	t.Helper()
	u, err := neturl.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("the test PostgreSQL address must be a URL: %q", raw)
	}
	upstream := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	p := &pgProxy{url: u.String(), ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, upstream)
		}
	}()
	return p
}

func (p *pgProxy) serve(c net.Conn, upstream string) {
	defer c.Close()
	s, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { p.pipe(s, c); done <- struct{}{} }()
	go func() { p.pipe(c, s); done <- struct{}{} }()
	<-done
}

func (p *pgProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			p.wait()
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *pgProxy) wait() {
	p.mu.Lock()
	ch := p.paused
	p.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (p *pgProxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == nil {
		p.paused = make(chan struct{})
	}
}

func (p *pgProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
}

// buyTen buys 10 SBER at market through n and waits until the position
// shows it.
func (n *testNode) buyTen(t testing.TB, user, acct string) {
	t.Helper()
	n.place(t, user, acct, "qty", "10", "side", "buy", "type", "market")
	eventually(t, 5*time.Second, func() error {
		if ps := n.positions(t, user, acct); len(ps) != 1 || ps[0].Qty != 10 {
			return fmt.Errorf("positions %+v", ps)
		}
		return nil
	})
}
