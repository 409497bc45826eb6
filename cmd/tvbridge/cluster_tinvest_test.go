package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tvbridge/jetstream/natstest"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
	"tvbridge/tinvest"
	"tvbridge/tinvest/wire"
)

// TestClusterTradingTinvest: a cluster trades a T-Invest API v2 account
// (the v2 simulator's): an order placed through one node is at the
// upstream once and listed by the other; the trading owner is killed; the
// next owner, on another node, has the order, answers the same requestId
// with it without placing it again (the idempotency-key namespace is the
// cluster's), and cancels it at the upstream.
func TestClusterTradingTinvest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes")
	}
	pgURL := pgtest.Schema(t)
	natsURL := natstest.URL(t)
	names := natstest.Stream(t, natsURL)
	sim := startProc(t, "sim", "sim", "--protocol", "v2", "--listen", "127.0.0.1:0")
	rest := sim.waitLog(t, simRESTLine, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := tinvest.NewClient(tinvest.Config{BaseURL: rest, Token: "cluster-test"}) // the nodes' TINKOFF_TOKEN
	accts, err := up.Accounts(ctx, wire.AccountStatusOpen)
	if err != nil || len(accts) == 0 {
		t.Fatalf("the simulator's accounts: %v, %v", accts, err)
	}
	upAcct := accts[0].ID

	nodes := make([]*node, 2)
	for i := range nodes {
		nodes[i] = startNode(t, i+1, pgURL, names, natsURL, rest, "--upstream", "v2",
			"--trading-backend", "tinvest", "--tinvest-accounts", "demo="+upAcct)
	}
	waitLeader(t, nodes, 0, 30*time.Second)
	db, err := postgres.Open(ctx, pgURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	owner, epoch := waitTradingOwner(t, db, nodes, 0, 30*time.Second)
	other := nodes[0]
	if other == owner {
		other = nodes[1]
	}
	client := func(n *node) *traderClient {
		return &traderClient{t: t, base: n.base, hc: &http.Client{Timeout: 30 * time.Second}}
	}
	c := client(other)
	var accounts []struct{ ID string }
	if err := c.call(http.MethodGet, "/accounts", nil, &accounts); err != nil || len(accounts) != 1 {
		t.Fatalf("accounts through the other node: %v %v", accounts, err)
	}
	acct := accounts[0].ID
	inst := instrumentNamed(t, c, acct, "SIMCO") // trades around the clock
	var bid float64
	for deadline := time.Now().Add(30 * time.Second); bid <= 0; {
		var quotes []struct {
			V struct{ Bid float64 } `json:"v"`
		}
		if err := c.call(http.MethodGet, "/quotes?accountId="+acct+"&symbols="+url.QueryEscape(inst.Name), nil, &quotes); err != nil {
			t.Fatal(err)
		}
		if len(quotes) == 1 {
			bid = quotes[0].V.Bid
		}
		if bid <= 0 && time.Now().After(deadline) {
			t.Fatalf("no quote of %s: %+v", inst.Name, quotes)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	price := roundDown(bid*0.8, inst.MinTick) // rests: far below the market
	id, err := c.place(acct, inst, price, "tv-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if !hasOrder(client(n).orders(acct), id) {
			t.Fatalf("%s does not list order %s", n.name, id)
		}
	}
	upstreamOrders := func() []wire.OrderState {
		t.Helper()
		list, err := up.Orders(ctx, upAcct)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if n := len(upstreamOrders()); n != 1 {
		t.Fatalf("%d orders at the upstream, want 1", n)
	}

	owner.kill9()
	next, _ := waitTradingOwner(t, db, []*node{other}, epoch, 15*time.Second)
	c = client(next)
	again, err := c.place(acct, inst, price, "tv-1")
	if err != nil || again != id {
		t.Fatalf("the same requestId on the new owner: %q, %v; first was %s", again, err, id)
	}
	if n := len(upstreamOrders()); n != 1 {
		t.Fatalf("%d orders at the upstream after the repeated request, want 1", n)
	}
	if err := c.call(http.MethodDelete, "/accounts/"+acct+"/orders/"+id, nil, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(upstreamOrders()) != 0 { // GetOrders lists active orders only
		if time.Now().After(deadline) {
			t.Fatal("the order is still active at the upstream after the cancel")
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// instrumentNamed is the account's instrument whose name ends with ticker.
func instrumentNamed(t *testing.T, c *traderClient, acct, ticker string) clusterInstrument {
	t.Helper()
	var insts []clusterInstrument
	if err := c.call(http.MethodGet, "/accounts/"+acct+"/instruments", nil, &insts); err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		if strings.HasSuffix(in.Name, ticker) {
			return in
		}
	}
	t.Fatalf("no instrument %s among %d", ticker, len(insts))
	return clusterInstrument{}
}
