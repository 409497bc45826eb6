package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

const (
	// writeTimeout bounds one write. A socket that cannot take a small frame
	// for this long is as good as dead.
	writeTimeout = 10 * time.Second
	// maxFrameSize bounds one inbound frame; a full 20-level book is ~1 KB.
	maxFrameSize = 1 << 20
)

var (
	errStalled    = errors.New("no frame within the stall timeout")
	errRetired    = errors.New("connection no longer needed")
	errDataSilent = errors.New("no data while instruments should be active")
)

// runSlot is the manager of one connection slot: it dials, serves the
// connection as its only writer, and reconnects with backoff until the
// slot has no subscriptions left or the pool stops.
func (p *Pool) runSlot(ctx context.Context, s *slot) {
	defer p.wg.Done()
	log := p.log.With("conn", s.index)
	attempt := 0          // consecutive failures, for the backoff
	var retryAt time.Time // zero: dial now
	for p.keepRunning(ctx, s) {
		if wait := p.dialDelay(s, retryAt); wait > 0 {
			p.sleep(ctx, s, wait)
			continue
		}
		ws, err := p.dial(ctx, s)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
				log.Error("stream handshake rejected; not retrying", "url", redactURL(p.cfg.URL), "err", err)
				p.fail(fmt.Errorf("%w (connection %d to %s)", err, s.index, redactURL(p.cfg.URL)))
				return
			}
			retryAt = p.afterDialFailure(s, log, err, attempt)
			attempt++
			continue
		}
		up := p.clock.Now()
		err = p.serve(ctx, ws, s, log)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errRetired):
			attempt, retryAt = 0, time.Time{}
		default:
			p.stats.countLost(err)
			if p.clock.Since(up) >= p.cfg.BackoffMax {
				attempt = 0 // it was healthy; start the backoff over
			}
			delay := p.bo.delay(attempt)
			attempt++
			retryAt = p.clock.Now().Add(delay)
			level := slog.LevelWarn
			if errors.Is(err, errDataSilent) {
				level = slog.LevelDebug // the watchdog logged the episode once
			}
			log.Log(ctx, level, "stream connection lost; reconnecting", "err", err, "retry_in", delay.String())
		}
	}
}

// keepRunning reports whether the manager of s should go on. When it should
// not, it releases the slot in the same critical section in which it found
// the slot empty, so a concurrent Subscribe starts a new manager.
func (p *Pool) keepRunning(ctx context.Context, s *slot) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil || (s.nsubs == 0 && !s.probe) {
		s.running, s.state, s.retryAt = false, stateIdle, time.Time{}
		return false
	}
	return true
}

// dialDelay returns how long s must still wait before dialing: until its
// own retry time and until the pool-wide gate that a 423 or 429 sets.
func (p *Pool) dialDelay(s *slot, retryAt time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	until := retryAt
	if p.gate.After(until) {
		until = p.gate
	}
	wait := until.Sub(p.clock.Now())
	if wait > 0 {
		s.state, s.retryAt = stateBackoff, until
		p.settleCapLocked() // a cap decision may have waited for this slot's dial
	} else {
		s.state, s.retryAt = stateDialing, time.Time{}
	}
	return wait
}

// sleep waits d on the pool's clock, until ctx is done, or until the slot
// is kicked (emptied or parked: there may be nothing left to dial for).
func (p *Pool) sleep(ctx context.Context, s *slot, d time.Duration) {
	t := p.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	case <-s.kick:
	}
}

// afterDialFailure logs a failed handshake and returns when to retry. 423
// (too many connections) waits long; it either teaches the pool the
// service's real connection cap, or (with no connection up) holds every
// slot's dials, since another socket would be refused too (shard.go). 429
// holds them for the normal delay. A probe of the cap makes one attempt.
func (p *Pool) afterDialFailure(s *slot, log *slog.Logger, err error, attempt int) time.Time {
	now := p.clock.Now()
	delay := p.bo.delay(attempt)
	status := 0
	if he, ok := errors.AsType[*HandshakeError](err); ok {
		status = he.StatusCode
		if status == http.StatusLocked {
			delay = p.bo.locked()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.state, s.retryAt = stateBackoff, now.Add(delay)
	if s.probe {
		p.probeFailedLocked(s, status, err)
		p.settleCapLocked()
		return now.Add(delay)
	}
	switch status {
	case http.StatusLocked:
		s.refused, s.lockEnd = true, now.Add(delay)
	case http.StatusTooManyRequests:
		p.holdDialsLocked(now.Add(delay))
	}
	log.Warn("stream handshake failed; backing off", "url", redactURL(p.cfg.URL), "status", status,
		"err", err, "retry_in", delay.String())
	p.settleCapLocked()
	return now.Add(delay)
}

// holdDialsLocked stops every slot from dialing before t.
func (p *Pool) holdDialsLocked(t time.Time) {
	if t.After(p.gate) {
		p.gate = t
	}
}

// dial opens the slot's socket. It counts toward Stats.Open from the first
// byte sent: a dial in flight is a connection as far as the cap goes.
func (p *Pool) dial(ctx context.Context, s *slot) (*websocket.Conn, error) {
	p.stats.opened()
	p.stats.dials.Add(1)
	p.mu.Lock()
	s.dials++
	s.state, s.refused = stateDialing, false
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HandshakeTimeout)
	defer cancel()
	ws, resp, err := p.dialer.DialContext(ctx, p.cfg.URL, p.header)
	if err != nil {
		p.stats.closed()
		return nil, p.handshakeError(resp, err)
	}
	return ws, nil
}

// handshakeError turns a failed dial into ErrUnauthorized, ErrForbidden, a
// *HandshakeError with the status and the start of the body, or a plain
// network error.
func (p *Pool) handshakeError(resp *http.Response, err error) error {
	if resp == nil {
		p.stats.handshakeFailed(0)
		return fmt.Errorf("stream: dial %s: %w", redactURL(p.cfg.URL), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	resp.Body.Close()
	p.stats.handshakeFailed(resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	}
	return &HandshakeError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(body))}
}

// conn is one open socket. The manager goroutine (serve) is its only
// writer; readLoop its only reader. Other goroutines hand frames to the
// writer through the outbox.
type conn struct {
	p    *Pool
	slot *slot
	ws   *websocket.Conn
	log  *slog.Logger

	outMu  sync.Mutex
	outbox []wire.StreamRequest
	wake   chan struct{} // the outbox is not empty

	pongs     chan string  // pings to answer; the reader must not write
	lastFrame atomic.Int64 // Clock time of the last inbound frame, unix nanoseconds
	// lastData is the Clock time (unix nanoseconds) of the last data update
	// (not a subscription snapshot, ping or pong), or of the connect, to the
	// millisecond; updated tells whether any update came. The data-silence
	// watchdog reads both; the reader writes them only when they change, so
	// a busy connection pays a comparison per frame, not an atomic write.
	lastData atomic.Int64
	updated  atomic.Bool

	retireOnce  sync.Once
	retired     chan struct{}
	silenceOnce sync.Once
	silenced    chan struct{} // the watchdog found the connection silent

	readDone chan struct{}
	readErr  error // set before readDone closes
}

// send queues a frame for the writer. It never blocks, so it can be called
// with Pool.mu held.
func (c *conn) send(req wire.StreamRequest) {
	c.outMu.Lock()
	c.outbox = append(c.outbox, req)
	c.outMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// retire asks the writer to close the connection: its slot is empty.
func (c *conn) retire() { c.retireOnce.Do(func() { close(c.retired) }) }

// silence asks the writer to close the connection so that it is reopened:
// it delivers no data while it should.
func (c *conn) silence() { c.silenceOnce.Do(func() { close(c.silenced) }) }

// dataUpdate records a data update read at now; stored is the reader's
// copy of lastData.
func (c *conn) dataUpdate(now time.Time, stored *int64) {
	n := now.UnixNano()
	if n-*stored < int64(time.Millisecond) && *stored != 0 {
		return
	}
	if *stored == 0 {
		c.updated.Store(true)
	}
	*stored = n
	c.lastData.Store(n)
}

func (c *conn) lastDataTime() time.Time { return time.Unix(0, c.lastData.Load()) }

// touch records an inbound frame of any kind: it pushes the socket's read
// deadline out and restarts the stall watchdog's quiet period.
func (c *conn) touch() time.Time {
	c.ws.SetReadDeadline(time.Now().Add(c.p.cfg.ReadTimeout))
	now := c.p.clock.Now()
	c.lastFrame.Store(now.UnixNano())
	return now
}

// quiet is how long the connection has gone without an inbound frame.
func (c *conn) quiet() time.Duration {
	return c.p.clock.Now().Sub(time.Unix(0, c.lastFrame.Load()))
}

// serve runs an open connection until it fails, stalls, is retired or ctx
// is done; the caller reconnects. The socket is closed when serve returns.
func (p *Pool) serve(ctx context.Context, ws *websocket.Conn, s *slot, log *slog.Logger) error {
	c := &conn{
		p: p, slot: s, ws: ws, log: log,
		wake: make(chan struct{}, 1), pongs: make(chan string, 1),
		retired: make(chan struct{}), silenced: make(chan struct{}), readDone: make(chan struct{}),
	}
	c.lastData.Store(p.clock.Now().UnixNano())
	defer p.closeConn(c)
	ws.SetReadLimit(maxFrameSize)
	ws.SetPingHandler(func(data string) error {
		c.touch()
		select {
		case c.pongs <- data:
		default: // a pong is already due; one answer is enough
		}
		return nil
	})
	ws.SetPongHandler(func(string) error {
		c.touch()
		p.stats.pongsReceived.Add(1)
		return nil
	})
	// The default close handler echoes the close frame from the reader;
	// here only the writer writes, and closing the socket is reply enough.
	ws.SetCloseHandler(func(int, string) error { return nil })
	c.touch()

	// Arm the timers before the first frame goes out, so a test that sees
	// the replay knows the watchdog is running.
	ping := p.clock.NewTicker(p.cfg.PingInterval)
	defer ping.Stop()
	stall := p.clock.NewTimer(p.cfg.StallTimeout)
	defer stall.Stop()

	n := p.register(c)
	log.Info("stream connected", "url", redactURL(p.cfg.URL), "subscriptions", n)
	go c.readLoop()
	for {
		select {
		case <-ctx.Done():
			c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return ctx.Err()
		case <-c.readDone:
			return readFailure{c.readErr}
		case <-c.retired:
			c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			log.Info("stream connection closed: no subscriptions left")
			return errRetired
		case <-c.silenced:
			c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return errDataSilent
		case <-c.wake:
			if err := c.flush(); err != nil {
				return err
			}
		case data := <-c.pongs:
			if err := c.writeControl(websocket.PongMessage, []byte(data)); err != nil {
				return err
			}
		case <-ping.C():
			if err := c.writeControl(websocket.PingMessage, nil); err != nil {
				return err
			}
			p.stats.pingsSent.Add(1)
		case <-stall.C():
			quiet := c.quiet()
			if quiet >= p.cfg.StallTimeout {
				p.stats.stalls.Add(1)
				log.Warn("stream connection silent; reconnecting", "quiet", quiet.String())
				return errStalled
			}
			stall.Reset(p.cfg.StallTimeout - quiet)
		}
	}
}

// closeConn tears a connection down and waits for its reader.
func (p *Pool) closeConn(c *conn) {
	p.unregister(c)
	c.ws.Close()
	<-c.readDone
	p.stats.closed()
}

// flush writes the queued frames.
func (c *conn) flush() error {
	c.outMu.Lock()
	frames := c.outbox
	c.outbox = nil
	c.outMu.Unlock()
	for _, req := range frames {
		data, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("encode %s: %w", req.Event, err)
		}
		c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
			return fmt.Errorf("write %s: %w", req.Event, err)
		}
	}
	return nil
}

func (c *conn) writeControl(kind int, data []byte) error {
	if err := c.ws.WriteControl(kind, data, time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("write control frame %d: %w", kind, err)
	}
	return nil
}

// readLoop reads frames until the socket fails. Nothing it calls blocks on
// the consumer. A panic while handling outside input ends the connection,
// not the process.
func (c *conn) readLoop() {
	defer close(c.readDone)
	defer func() {
		if r := recover(); r != nil {
			c.readErr = fmt.Errorf("stream: reader panic: %v", r)
			c.log.Error("stream reader panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	dec := newDecoder()
	var f frame
	var buf []byte
	var stored int64 // the lastData this reader stored; 0: no update yet
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.readErr = fmt.Errorf("read: %w", err)
			return
		}
		now := c.touch()
		buf, err = readInto(buf[:0], r)
		if err != nil {
			c.readErr = fmt.Errorf("read frame: %w", err)
			return
		}
		if typ != websocket.TextMessage {
			c.p.badFrame(c.slot.index, buf, errors.New("binary frame"))
			continue
		}
		if c.p.handleFrame(c.slot.index, dec, &f, buf, now) {
			c.dataUpdate(now, &stored)
		}
	}
}

// readInto appends everything from r to buf, reusing buf's capacity.
func readInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// handleFrame decodes one data frame and routes it. now is when it was
// read. It reports whether the frame was a data update of a subscribed
// instrument (not its subscription snapshot), for the silence watchdog.
func (p *Pool) handleFrame(slotIndex int, dec *decoder, f *frame, data []byte, now time.Time) (update bool) {
	if err := dec.decode(data, f); err != nil {
		p.stats.frames[kindUndecodable].Add(1)
		p.badFrame(slotIndex, data, err)
		return false
	}
	p.stats.frames[f.kind].Add(1)
	meta := tvbridge.EventMeta{ServerTime: f.serverTime, Received: now}
	switch f.kind {
	case kindCandle:
		update = p.inst.seen(f.candle.FIGI, kindCandle, now)
		p.out.candle(meta, f.candle)
	case kindOrderBook:
		update = p.inst.seen(f.book.FIGI, kindOrderBook, now)
		p.out.book(meta, &f.book)
	case kindInstrumentInfo:
		update = p.inst.seenStatus(f.info.FIGI, f.info.TradeStatus, now)
		p.out.info(meta, f.info)
	case kindError:
		p.serverError(slotIndex, f, meta)
	default:
		p.stats.unknownEvents.Add(1)
		if ok, held := p.unknownLog.allow(); ok {
			p.log.Warn("unknown stream event ignored", "conn", slotIndex, "event", f.name, "similar_lines_suppressed", held)
		}
	}
	return update
}

// badFrame counts and (rate-limited) logs a frame that did not decode.
func (p *Pool) badFrame(slotIndex int, data []byte, err error) {
	p.stats.badFrames.Add(1)
	if ok, held := p.badFrameLog.allow(); ok {
		p.log.Warn("bad stream frame ignored", "conn", slotIndex, "err", err,
			"frame", snippet(data), "similar_lines_suppressed", held)
	}
}
