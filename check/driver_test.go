package check

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"tvbridge/clock"
)

// The checker stamps each /streaming line with its clock when it reads it.
// With a fake clock, a test must not move time while lines are on their
// way, or the measured delays would depend on scheduling. The driver
// therefore moves time in steps: advance one second, let every stream
// write that second's lines, and wait until the checker has read all of
// them (its reader is blocked in Read again with nothing left). It only
// advances while someone waits on the clock, so the checker's own work
// between waits happens at a fixed simulated time.

// ledger counts, per stream connection, the body bytes the server wrote
// and the checker read.
type ledger struct {
	mu    sync.Mutex
	cond  *sync.Cond
	conns map[int]*ledgerConn
}

type ledgerConn struct {
	written, read int64
	blocked       bool // the reader is inside Read
	closed        bool // the reader closed the body
}

func newLedger() *ledger {
	l := &ledger{conns: map[int]*ledgerConn{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *ledger) conn(id int) *ledgerConn {
	c := l.conns[id]
	if c == nil {
		c = &ledgerConn{}
		l.conns[id] = c
	}
	return c
}

func (l *ledger) update(id int, f func(*ledgerConn)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l.conn(id))
	l.cond.Broadcast()
}

func (l *ledger) open(id int)         { l.update(id, func(*ledgerConn) {}) }
func (l *ledger) wrote(id int, n int) { l.update(id, func(c *ledgerConn) { c.written += int64(n) }) }

// waitDrained blocks until every connection's reader has consumed all
// that was written and waits for more, or has closed its body.
func (l *ledger) waitDrained() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.drained() {
		l.cond.Wait()
	}
}

func (l *ledger) drained() bool {
	for _, c := range l.conns {
		if !c.closed && !(c.blocked && c.read == c.written) {
			return false
		}
	}
	return true
}

// countingTransport wraps the bodies of the fake's streams (marked by an
// X-Fake-Conn header) to feed the ledger.
type countingTransport struct {
	base http.RoundTripper
	led  *ledger
}

func (ct *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ct.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if id, err := strconv.Atoi(resp.Header.Get("X-Fake-Conn")); err == nil {
		resp.Body = &countedBody{rc: resp.Body, led: ct.led, id: id}
	}
	return resp, nil
}

type countedBody struct {
	rc  io.ReadCloser
	led *ledger
	id  int
}

func (b *countedBody) Read(p []byte) (int, error) {
	b.led.update(b.id, func(c *ledgerConn) { c.blocked = true })
	n, err := b.rc.Read(p)
	b.led.update(b.id, func(c *ledgerConn) { c.blocked, c.read = false, c.read+int64(n) })
	return n, err
}

func (b *countedBody) Close() error {
	b.led.update(b.id, func(c *ledgerConn) { c.closed = true })
	return b.rc.Close()
}

// driver moves the fake clock for a checker run against a fake server.
type driver struct {
	clk  *clock.Fake
	emit func(second int64) // makes the streams write a second's lines; may be nil
	led  *ledger            // nil when there are no streams
	mu   sync.Mutex
	stop bool
	done chan struct{}
}

func startDriver(t testing.TB, clk *clock.Fake, emit func(int64), led *ledger) {
	d := &driver{clk: clk, emit: emit, led: led, done: make(chan struct{})}
	go d.run()
	t.Cleanup(func() {
		d.mu.Lock()
		d.stop = true
		d.mu.Unlock()
		wake := clk.NewTimer(time.Hour) // releases BlockUntil
		<-d.done
		wake.Stop()
	})
}

func (d *driver) stopped() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stop
}

func (d *driver) run() {
	defer close(d.done)
	for {
		d.clk.BlockUntil(1) // someone waits for time to pass
		if d.stopped() {
			return
		}
		d.clk.Advance(time.Second)
		if d.emit != nil {
			d.emit(d.clk.Now().Unix())
			d.led.waitDrained()
		}
	}
}

// harness is a fake server, its clock and driver, and the client the
// checker must use.
type harness struct {
	clk *clock.Fake
	srv *fakeServer
	hc  *http.Client
}

func newHarness(t testing.TB, d defects) *harness {
	clk := clock.NewFake(fakeStart)
	led := newLedger()
	srv := newFakeServer(t, d, clk, led)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	startDriver(t, clk, srv.emitAll, led)
	return &harness{clk: clk, srv: srv, hc: &http.Client{Transport: &countingTransport{base: tr, led: led}}}
}

// config is a checker configuration for the harness.
func (h *harness) config() Config {
	return Config{
		URL:         h.srv.hs.URL,
		Duration:    2*time.Minute + 15*time.Second,
		Connections: 2,
		HTTPClient:  h.hc,
		Clock:       h.clk,
	}
}
