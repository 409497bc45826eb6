package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/jetstream/natstest"
	"tvbridge/postgres/pgtest"
)

// outage is a TCP proxy in front of a service that the test can take
// down (every connection closed, new ones closed at once: what clients see
// of a restarting server) and bring back.
type outage struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func startOutageProxy(t *testing.T, target string) *outage {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outage{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *outage) addr() string { return p.ln.Addr().String() }

func (p *outage) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go p.forward(c)
	}
}

func (p *outage) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		s.Close()
		c.Close()
		return
	}
	p.conns[s] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close(); c.Close() }()
	go func() { _, _ = io.Copy(c, s); s.Close(); c.Close() }()
}

// setDown takes the service down (closing every connection) or brings it
// back.
func (p *outage) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// viaProxy is rawURL with its host and port replaced by addr.
func viaProxy(t *testing.T, rawURL, addr string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// ready is the node's /readyz status code (0 when it does not answer).
func (n *node) ready() int {
	resp, err := http.Get(n.admin + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func waitReady(t *testing.T, what string, nodes []*node, want bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		all := true
		for _, n := range nodes {
			if (n.ready() == http.StatusOK) != want {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz not %v on every node within %v", what, map[bool]string{true: "ready", false: "failing"}[want], within)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// TestClusterOutages: two nodes reach PostgreSQL and NATS through proxies
// the test takes down and brings back, as a restart of either looks to its
// clients. While one is down every node's /readyz fails and its log says
// what is happening; once it is back the nodes reconnect by themselves,
// /readyz passes again, an ingester leads, and /streaming connections
// opened before the outages still carry the market.
func TestClusterOutages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes")
	}
	pgURL := pgtest.Schema(t)
	natsURL := natstest.URL(t)
	names := natstest.Stream(t, natsURL)
	pg := startOutageProxy(t, hostOf(t, pgURL))
	nats := startOutageProxy(t, hostOf(t, natsURL))
	sim := startProc(t, "sim", "sim", "--listen", "127.0.0.1:0", "--sim-instruments", "10")
	rest := sim.waitLog(t, simRESTLine, 30*time.Second)
	nodes := make([]*node, 2)
	for i := range nodes {
		nodes[i] = startNode(t, i+1, viaProxy(t, pgURL, pg.addr()), names, viaProxy(t, natsURL, nats.addr()), rest)
	}
	waitLeader(t, nodes, 0, 30*time.Second)
	waitReady(t, "at start", nodes, true, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := record(t, ctx, nodes[1].base)

	for _, o := range []struct {
		name  string
		proxy *outage
		down  *regexp.Regexp
	}{
		{"NATS", nats, regexp.MustCompile(`NATS disconnected`)},
		{"PostgreSQL", pg, regexp.MustCompile(`postgres unreachable|the bar store does not answer`)},
	} {
		began := time.Now()
		o.proxy.setDown(true)
		waitReady(t, o.name+" down", nodes, false, 30*time.Second)
		noticed := time.Since(began)
		for _, n := range nodes {
			n.waitLog(t, regexp.MustCompile(`(`+o.down.String()+`)`), 30*time.Second)
		}
		// A restart takes a few seconds: longer than the lease TTL (2 s),
		// so a PostgreSQL outage costs the ingester its lease.
		time.Sleep(time.Until(began.Add(3 * time.Second))) // the outage's length, not synchronisation
		back := time.Now()
		o.proxy.setDown(false)
		waitReady(t, o.name+" back", nodes, true, 60*time.Second)
		t.Logf("%s down: /readyz failing on both nodes after %v; back: ready again after %v",
			o.name, noticed.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
		// Every outage a node logged, it logs the end of.
		for _, n := range nodes {
			logs := n.logs.String()
			for _, pair := range [][2]string{
				{"NATS disconnected", "NATS reconnected"},
				{"postgres unreachable for the ingester lease", "postgres reconnected for the ingester lease"},
				{"postgres unreachable for the trading lease", "postgres reconnected for the trading lease"},
				{"history watermarks: the bar store does not answer", "history watermarks: the bar store answers again"},
			} {
				if strings.Count(logs, pair[0]) > strings.Count(logs, pair[1]) {
					n.waitLog(t, regexp.MustCompile(`(`+regexp.QuoteMeta(pair[1])+`)`), 30*time.Second)
				}
			}
		}
		waitLeader(t, nodes, 0, 30*time.Second)
	}
	// The stream opened before the outages carries the market again.
	lines, _, err := rec.snapshot()
	if err != nil {
		t.Fatalf("/streaming opened before the outages ended: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, _, err := rec.snapshot()
		if err != nil {
			t.Fatalf("/streaming ended: %v", err)
		}
		if len(now) > len(lines) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/streaming carried nothing new within 30 s after the outages (%d lines before)", len(lines))
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}
