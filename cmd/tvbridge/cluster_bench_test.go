package main

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvbridge/jetstream/natstest"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
)

// Environment of TestClusterFailoverTimes.
const (
	envBenchFailover     = "TVBRIDGE_BENCH_FAILOVER"      // "1" runs it
	envBenchFailoverTTLs = "TVBRIDGE_BENCH_FAILOVER_TTLS" // lease TTLs, comma-separated; default "9s,2s"
	envBenchFailoverRuns = "TVBRIDGE_BENCH_FAILOVER_RUNS" // kills of each kind per TTL; default 10
)

// TestClusterFailoverTimes measures failover times for BENCHMARKS.md
// (issue 13): for each lease TTL, one simulator and three nodes, then N
// times: kill -9 the ingester, time until another node reports itself the
// ingester at a higher epoch (tvbridge_cluster_leader and
// tvbridge_cluster_epoch on its /metrics, polled every 50 ms), start the
// killed node again; then N times the same for the trading owner (the
// "trading" lease's holder in PostgreSQL). It prints every run and the
// median and worst. Each kill comes at a random moment (uniform over a
// TTL) after the previous failover. Opt-in, it takes minutes:
//
//	TVBRIDGE_BENCH_FAILOVER=1 go test -run TestClusterFailoverTimes -v -timeout 60m ./cmd/tvbridge/
func TestClusterFailoverTimes(t *testing.T) {
	if os.Getenv(envBenchFailover) != "1" {
		t.Skipf("a measurement of several minutes: set %s=1", envBenchFailover)
	}
	runs := 10
	if v := os.Getenv(envBenchFailoverRuns); v != "" {
		var err error
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("%s=%q", envBenchFailoverRuns, v)
		}
	}
	ttls := "9s,2s"
	if v := os.Getenv(envBenchFailoverTTLs); v != "" {
		ttls = v
	}
	for _, s := range strings.Split(ttls, ",") {
		ttl, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		t.Run("ttl="+ttl.String(), func(t *testing.T) { failoverTimes(t, ttl, runs) })
	}
}

func failoverTimes(t *testing.T, ttl time.Duration, runs int) {
	pgURL := pgtest.Schema(t)
	natsURL := natstest.URL(t)
	names := natstest.Stream(t, natsURL)
	sim := startProc(t, "sim", "sim", "--listen", "127.0.0.1:0", "--sim-instruments", "10")
	rest := sim.waitLog(t, simRESTLine, 30*time.Second)
	extra := []string{"--lease-ttl", ttl.String()} // the later flag wins over startNode's 2s
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = startNode(t, i+1, pgURL, names, natsURL, rest, extra...)
	}
	db, err := postgres.Open(context.Background(), pgURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bound := 2*ttl + 10*time.Second // well beyond TTL + RenewEvery: a failure, not a slow run
	waitLeader(t, nodes, 0, 60*time.Second)
	waitTradingOwner(t, db, nodes, 0, 60*time.Second)

	// restart starts node i again (same id, fresh data dir) in place of the
	// killed one and waits for it to serve.
	restart := func(killed *node) {
		for i, n := range nodes {
			if n == killed {
				nodes[i] = startNode(t, i+1, pgURL, names, natsURL, rest, extra...)
				return
			}
		}
		t.Fatalf("%s is not a node", killed.name)
	}
	others := func(killed *node) []*node {
		var out []*node
		for _, n := range nodes {
			if n != killed {
				out = append(out, n)
			}
		}
		return out
	}

	var ingester, trading []time.Duration
	var ingesterAfter, tradingAfter []time.Duration // from the lease's expiry to the takeover
	for run := 1; run <= runs; run++ {
		leader := waitLeader(t, nodes, 0, bound)
		epoch := leader.metric("tvbridge_cluster_epoch")
		time.Sleep(rand.N(ttl)) // a random moment of the lease's term
		left := leaseLeft(t, db, "ingester")
		killed := time.Now()
		leader.kill9()
		next := waitLeader(t, others(leader), epoch, bound)
		took := time.Since(killed)
		ingester, ingesterAfter = append(ingester, took), append(ingesterAfter, took-left)
		t.Logf("ttl %v, ingester run %d: %s killed with its lease %v from expiry, %s leads after %v", ttl, run, leader.name,
			left.Round(time.Millisecond), next.name, took.Round(time.Millisecond))
		restart(leader)
	}
	for run := 1; run <= runs; run++ {
		owner, epoch := waitTradingOwner(t, db, nodes, 0, bound)
		time.Sleep(rand.N(ttl))
		left := leaseLeft(t, db, "trading")
		killed := time.Now()
		owner.kill9()
		next, _ := waitTradingOwner(t, db, others(owner), epoch, bound)
		took := time.Since(killed)
		trading, tradingAfter = append(trading, took), append(tradingAfter, took-left)
		t.Logf("ttl %v, trading run %d: %s killed with its lease %v from expiry, %s owns trading after %v", ttl, run, owner.name,
			left.Round(time.Millisecond), next.name, took.Round(time.Millisecond))
		restart(owner)
	}
	t.Logf("RESULT ttl %v: ingester failover median %v worst %v (%d runs: %v); after the lease's expiry: median %v worst %v", ttl,
		medianDuration(ingester), slices.Max(ingester).Round(time.Millisecond), runs, roundAll(ingester),
		medianDuration(ingesterAfter), slices.Max(ingesterAfter).Round(time.Millisecond))
	t.Logf("RESULT ttl %v: trading failover median %v worst %v (%d runs: %v); after the lease's expiry: median %v worst %v", ttl,
		medianDuration(trading), slices.Max(trading).Round(time.Millisecond), runs, roundAll(trading),
		medianDuration(tradingAfter), slices.Max(tradingAfter).Round(time.Millisecond))
}

// leaseLeft is how long the lease has until it expires, as its row says
// (the database's clock and this machine's are the same here).
func leaseLeft(t *testing.T, db *postgres.DB, name string) time.Duration {
	t.Helper()
	_, _, expires, err := db.Leases().Holder(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return time.Until(expires)
}

func medianDuration(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2].Round(time.Millisecond)
	}
	return ((s[len(s)/2-1] + s[len(s)/2]) / 2).Round(time.Millisecond)
}

func roundAll(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, v := range d {
		out[i] = v.Round(time.Millisecond)
	}
	return out
}
