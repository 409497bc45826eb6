package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge/postgres"
)

// openDB opens (and migrates) the schema of url; closed at cleanup.
func openDB(t testing.TB, url string) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, url, postgres.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// gate wraps an elector's lease API: while paused, every call blocks until
// resumed or its ctx ends (a process whose database calls hang), and it
// records when the last successful Acquire or Renew was sent.
type gate struct {
	inner leaseAPI

	mu     sync.Mutex
	paused chan struct{} // non-nil while paused
	lastOK time.Time     // send time of the last successful Acquire/Renew
}

func (g *gate) Pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused == nil {
		g.paused = make(chan struct{})
	}
}

func (g *gate) Resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused != nil {
		close(g.paused)
		g.paused = nil
	}
}

func (g *gate) LastOK() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastOK
}

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.paused
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) ok(sent time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sent.After(g.lastOK) {
		g.lastOK = sent
	}
}

func (g *gate) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (int64, bool, error) {
	if err := g.wait(ctx); err != nil {
		return 0, false, err
	}
	sent := time.Now()
	e, ok, err := g.inner.Acquire(ctx, name, holder, ttl)
	if err == nil && ok {
		g.ok(sent)
	}
	return e, ok, err
}

func (g *gate) Renew(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) error {
	if err := g.wait(ctx); err != nil {
		return err
	}
	sent := time.Now()
	err := g.inner.Renew(ctx, name, holder, epoch, ttl)
	if err == nil {
		g.ok(sent)
	}
	return err
}

func (g *gate) Release(ctx context.Context, name, holder string, epoch int64) error {
	if err := g.wait(ctx); err != nil {
		return err
	}
	return g.inner.Release(ctx, name, holder, epoch)
}

func (g *gate) Holder(ctx context.Context, name string) (string, int64, time.Time, error) {
	if err := g.wait(ctx); err != nil {
		return "", 0, time.Time{}, err
	}
	return g.inner.Holder(ctx, name)
}

// logSink is a slog.Handler that keeps every message (with its attributes)
// and forwards it to the test log.
type logSink struct {
	t     testing.TB
	mu    *sync.Mutex
	lines *[]string
	attrs string
}

func newLogSink(t testing.TB) *logSink {
	return &logSink{t: t, mu: new(sync.Mutex), lines: new([]string)}
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s", r.Level, r.Message, s.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	s.mu.Lock()
	*s.lines = append(*s.lines, b.String())
	s.mu.Unlock()
	s.t.Logf("%s %s", r.Time.Format("15:04:05.000"), b.String())
	return nil
}

func (s *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	c := *s
	for _, a := range as {
		c.attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return &c
}

func (s *logSink) WithGroup(string) slog.Handler { return s }

// Count returns how many messages start with prefix.
func (s *logSink) Count(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range *s.lines {
		_, msg, _ := strings.Cut(l, " ")
		if strings.HasPrefix(msg, prefix) {
			n++
		}
	}
	return n
}

// start makes an elector on db's leases (through a gate), runs it until
// the test ends, and returns it with its gate and log.
func start(t testing.TB, db *postgres.DB, cfg Config) (*Elector, *gate, *logSink) {
	t.Helper()
	sink := newLogSink(t)
	cfg.Leases = db.Leases()
	cfg.Logger = slog.New(sink)
	e, err := NewElector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{inner: e.leases}
	e.leases = g
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		g.Resume()
		cancel()
		select {
		case err := <-done:
			if err != context.Canceled {
				t.Errorf("%s: Run = %v, want context.Canceled", cfg.NodeID, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: Run did not return", cfg.NodeID)
		}
	})
	return e, g, sink
}

// waitFor polls cond until it holds; the deadline is a safety net.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxy is a TCP proxy to PostgreSQL that a test can cut: Cut closes every
// connection and then holds new ones open without answering (a network
// partition, not a refused port); Restore forwards again.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // held open, never answered
		}
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		s.Close()
		return // c stays held
	}
	p.conns[s] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close(); c.Close() }()
	go func() { _, _ = io.Copy(c, s); s.Close(); c.Close() }()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Cut breaks every connection and blackholes new ones.
func (p *proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.closeAll()
}

// Restore closes the blackholed connections and forwards new ones.
func (p *proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
	p.closeAll()
}

// proxied starts a proxy to the server of dsn (a postgres:// URL) and
// returns it with dsn rewritten to go through it.
func proxied(t testing.TB, dsn string) (*proxy, string) {
	t.Helper()
	u, err := neturl.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("cannot route %q through a proxy: want a postgres:// URL with a host (%v)", dsn, err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}
