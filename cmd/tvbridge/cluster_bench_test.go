package main

import (
	"context"
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
// median and worst. Opt-in, it takes minutes:
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
	for run := 1; run <= runs; run++ {
		leader := waitLeader(t, nodes, 0, bound)
		epoch := leader.metric("tvbridge_cluster_epoch")
		killed := time.Now()
		leader.kill9()
		next := waitLeader(t, others(leader), epoch, bound)
		took := time.Since(killed)
		ingester = append(ingester, took)
		t.Logf("ttl %v, ingester run %d: %s killed, %s leads after %v", ttl, run, leader.name, next.name, took.Round(time.Millisecond))
		restart(leader)
	}
	for run := 1; run <= runs; run++ {
		owner, epoch := waitTradingOwner(t, db, nodes, 0, bound)
		killed := time.Now()
		owner.kill9()
		next, _ := waitTradingOwner(t, db, others(owner), epoch, bound)
		took := time.Since(killed)
		trading = append(trading, took)
		t.Logf("ttl %v, trading run %d: %s killed, %s owns trading after %v", ttl, run, owner.name, next.name, took.Round(time.Millisecond))
		restart(owner)
	}
	t.Logf("RESULT ttl %v: ingester failover median %v worst %v (%d runs: %v)", ttl,
		medianDuration(ingester), slices.Max(ingester).Round(time.Millisecond), runs, roundAll(ingester))
	t.Logf("RESULT ttl %v: trading failover median %v worst %v (%d runs: %v)", ttl,
		medianDuration(trading), slices.Max(trading).Round(time.Millisecond), runs, roundAll(trading))
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
