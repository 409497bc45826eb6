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
	"tvbridge/clock"
	"tvbridge/tinvest/wire"
)

const (
	writeTimeout = 10 * time.Second
	maxFrameSize = 4 << 20 // a 50-level book is ~6 KB; subscription answers of 300 instruments ~60 KB
)

var (
	errStalled    = errors.New("no frame within the stall timeout")
	errRetired    = errors.New("stream no longer needed")
	errDataSilent = errors.New("no data while instruments should be active")
)

// runSlot is the manager of one stream slot: it dials, serves the socket
// as its only writer, and reconnects with backoff until the slot has no
// subscriptions left or the pool stops.
func (p *Pool) runSlot(ctx context.Context, s *slot) {
	defer p.wg.Done()
	log := p.log.With("conn", s.index)
	attempt := 0
	var retryAt time.Time
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
			if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrPermissionDenied) {
				log.Error("stream handshake refused; not retrying", "url", redactURL(p.url), "err", err)
				p.fail(fmt.Errorf("%w (stream %d to %s)", err, s.index, redactURL(p.url)))
				return
			}
			delay := p.bo.delay(attempt)
			var he *HandshakeError
			if errors.As(err, &he) && he.StatusCode == http.StatusTooManyRequests {
				delay = p.bo.locked()
				p.holdDials(p.clock.Now().Add(delay))
			}
			attempt++
			retryAt = p.clock.Now().Add(delay)
			if p.setBackoff(s, retryAt, err, false) {
				continue // a probe of the stream cap: one attempt only
			}
			log.Warn("stream handshake failed; backing off", "url", redactURL(p.url), "err", err, "retry_in", delay.String())
			continue
		}
		up := p.clock.Now()
		err = p.serve(ctx, ws, s, log)
		if ctx.Err() != nil {
			continue
		}
		if errors.Is(err, errRetired) {
			attempt, retryAt = 0, time.Time{}
			continue
		}
		if p.clock.Since(up) >= p.cfg.BackoffMax {
			attempt = 0 // it was healthy; start the backoff over
		}
		delay := p.bo.delay(attempt)
		level := slog.LevelWarn
		tooMany := false
		var ce *CloseError
		if errors.As(err, &ce) {
			p.stats.count(&p.stats.closes, ce.Code)
			switch {
			case ce.Code == wire.CloseUnauthenticated:
				log.Error("stream closed: the service refused the token (4016); not retrying", "err", err)
				p.fail(fmt.Errorf("stream %d: %w", s.index, ce))
				return
			case strings.Contains(ce.Text, wire.ErrNoActiveSubscriptions):
				// The service closes a stream with no subscriptions; if this
				// one has some again, reconnect at once.
				delay, level = 0, slog.LevelInfo
				attempt = -1
			case ce.Code == wire.CloseResourceExhausted && strings.Contains(ce.Text, wire.ErrTooManyStreams):
				// Too many streams for this token (80001): the stream cap
				// decides (cap.go); no pool-wide hold while others are up.
				delay, tooMany = p.bo.locked(), true
			case ce.Code == wire.CloseResourceExhausted:
				delay = p.bo.locked()
				p.holdDials(p.clock.Now().Add(delay))
			case ce.Code == wire.CloseInvalidArgument:
				level = slog.LevelError // a request this client built was refused: a bug or a protocol change
			}
		} else if errors.Is(err, errDataSilent) {
			level = slog.LevelDebug // the watchdog logged the episode once
		}
		attempt++
		retryAt = p.clock.Now().Add(delay)
		if p.setBackoff(s, retryAt, err, tooMany) {
			continue // a probe of the stream cap: one attempt only
		}
		log.Log(ctx, level, "stream lost; reconnecting", "err", err, "retry_in", delay.String())
	}
}

// keepRunning reports whether the manager of s should go on; when not, it
// releases the slot in the same critical section in which it found it
// empty, so a concurrent Subscribe starts a new manager.
func (p *Pool) keepRunning(ctx context.Context, s *slot) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil || (len(s.subs) == 0 && !s.probe) {
		s.running, s.state, s.retryAt = false, stateIdle, time.Time{}
		if s.probe { // the pool stops
			s.probe = false
		}
		p.settleCapLocked()
		return false
	}
	return true
}

// dialDelay returns how long s must still wait before dialing.
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
		p.settleCapLocked() // a cap decision may have waited for this slot
	} else {
		s.state, s.retryAt = stateDialing, time.Time{}
	}
	return wait
}

// setBackoff puts s in backoff until at after a failed dial or a lost
// stream (err); tooMany says the service refused the stream with 80001.
// The stream cap acts on it (cap.go). It reports whether s was a probe of
// the cap, which makes one attempt only.
func (p *Pool) setBackoff(s *slot, at time.Time, err error, tooMany bool) (probe bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.state, s.retryAt = stateBackoff, at
	if s.probe {
		p.probeFailedLocked(s, tooMany, err)
		p.settleCapLocked()
		return true
	}
	if tooMany {
		s.refused, s.lockEnd = true, at
	}
	p.settleCapLocked()
	return false
}

// holdDials stops every slot from dialing before t.
func (p *Pool) holdDials(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdDialsLocked(t)
}

func (p *Pool) holdDialsLocked(t time.Time) {
	if t.After(p.gate) {
		p.gate = t
	}
}

// sleep waits d on the pool's clock, until ctx is done or s is kicked.
func (p *Pool) sleep(ctx context.Context, s *slot, d time.Duration) {
	t := p.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	case <-s.kick:
	}
}

// dial opens the slot's socket.
func (p *Pool) dial(ctx context.Context, s *slot) (*websocket.Conn, error) {
	p.stats.opened()
	p.stats.dials.Add(1)
	p.mu.Lock()
	s.dials++
	s.state, s.refused = stateDialing, false
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HandshakeTimeout)
	defer cancel()
	ws, resp, err := p.dialer.DialContext(ctx, p.url, p.header)
	if err != nil {
		p.stats.closed()
		return nil, p.handshakeError(resp, err)
	}
	return ws, nil
}

func (p *Pool) handshakeError(resp *http.Response, err error) error {
	if resp == nil {
		p.stats.count(&p.stats.handshake, 0)
		return fmt.Errorf("stream: dial %s: %w", redactURL(p.url), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	resp.Body.Close()
	p.stats.count(&p.stats.handshake, resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w (x-tracking-id %s)", ErrUnauthenticated, resp.Header.Get(wire.HeaderTrackingID))
	case http.StatusForbidden:
		return fmt.Errorf("%w (x-tracking-id %s)", ErrPermissionDenied, resp.Header.Get(wire.HeaderTrackingID))
	}
	return &HandshakeError{StatusCode: resp.StatusCode, TrackingID: resp.Header.Get(wire.HeaderTrackingID),
		Body: strings.TrimSpace(string(body))}
}

// conn is one open socket: serve is its only writer, readLoop its only
// reader.
type conn struct {
	p    *Pool
	slot *slot
	ws   *websocket.Conn
	log  *slog.Logger

	wake  chan struct{} // requests may be due
	pongs chan string

	// sent holds the unanswered requests per kind; guarded by Pool.mu.
	sent map[tvbridge.SubscriptionKind][]*sentRequest
	// accepted: the service answered on this stream (cap.go); guarded by
	// Pool.mu.
	accepted bool

	lastFrame atomic.Int64
	lastData  atomic.Int64
	updated   atomic.Bool

	retireOnce  sync.Once
	retired     chan struct{}
	silenceOnce sync.Once
	silenced    chan struct{}

	readDone chan struct{}
	readErr  error
}

func (c *conn) retire()  { c.retireOnce.Do(func() { close(c.retired) }) }
func (c *conn) silence() { c.silenceOnce.Do(func() { close(c.silenced) }) }

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

func (c *conn) touch() time.Time {
	c.ws.SetReadDeadline(time.Now().Add(c.p.cfg.ReadTimeout))
	now := c.p.clock.Now()
	c.lastFrame.Store(now.UnixNano())
	return now
}

func (c *conn) quiet() time.Duration {
	return c.p.clock.Now().Sub(time.Unix(0, c.lastFrame.Load()))
}

// serve runs an open socket until it fails, stalls, is retired or ctx is
// done. The socket is closed when serve returns.
func (p *Pool) serve(ctx context.Context, ws *websocket.Conn, s *slot, log *slog.Logger) error {
	c := &conn{
		p: p, slot: s, ws: ws, log: log,
		wake: make(chan struct{}, 1), pongs: make(chan string, 1),
		sent:    make(map[tvbridge.SubscriptionKind][]*sentRequest),
		retired: make(chan struct{}), silenced: make(chan struct{}), readDone: make(chan struct{}),
	}
	c.lastData.Store(p.clock.Now().UnixNano())
	defer p.closeConn(c)
	ws.SetReadLimit(maxFrameSize)
	ws.SetPingHandler(func(data string) error {
		c.touch()
		select {
		case c.pongs <- data:
		default:
		}
		return nil
	})
	ws.SetPongHandler(func(string) error { c.touch(); return nil })
	ws.SetCloseHandler(func(int, string) error { return nil })
	c.touch()

	stall := p.clock.NewTimer(p.cfg.StallTimeout)
	defer stall.Stop()
	var retry clock.Timer
	var retryC <-chan time.Time
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()

	// Ask for the ping period before anything else.
	// Then a ping request: its answer tells that the service accepted the
	// stream (over the token's stream limit it closes the stream with 80001
	// right after the upgrade), even on a stream with nothing to subscribe.
	// If a write fails, the service's close frame may be waiting: read it.
	for _, req := range []wire.MarketDataRequest{
		{PingSettings: &wire.PingDelaySettings{PingDelayMs: int32(p.cfg.PingDelay / time.Millisecond)}},
		{Ping: &wire.PingRequest{Time: wire.At(p.clock.Now())}},
	} {
		if err := c.writeJSON(req); err != nil {
			go c.readLoop()
			return c.preferReadErr(err)
		}
	}
	n := p.register(c)
	log.Info("stream connected", "url", redactURL(p.url), "subscriptions", n)
	go c.readLoop()
	signal(c.wake)
	flush := func() error {
		reqs, wait := p.nextRequests(c)
		for _, r := range reqs {
			if err := c.writeJSON(r); err != nil {
				return err
			}
		}
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
		if wait > 0 {
			retry = p.clock.NewTimer(wait)
			retryC = retry.C()
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return ctx.Err()
		case <-c.readDone:
			return c.readErr
		case <-c.retired:
			c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			log.Info("stream closed: no subscriptions left")
			return errRetired
		case <-c.silenced:
			c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return errDataSilent
		case <-c.wake:
			if err := flush(); err != nil {
				return c.preferReadErr(err)
			}
		case <-retryC:
			retry, retryC = nil, nil
			if err := flush(); err != nil {
				return c.preferReadErr(err)
			}
		case data := <-c.pongs:
			if err := c.writeControl(websocket.PongMessage, []byte(data)); err != nil {
				return c.preferReadErr(err)
			}
		case <-stall.C():
			quiet := c.quiet()
			if quiet >= p.cfg.StallTimeout {
				p.stats.stalls.Add(1)
				log.Warn("stream silent (no frame, not even a ping); reconnecting", "quiet", quiet.String())
				return errStalled
			}
			stall.Reset(p.cfg.StallTimeout - quiet)
		}
	}
}

// preferReadErr returns the reader's error instead of a write error when
// the reader saw the service's close frame: a server that closes with a
// code and drops the socket at once can make a write fail first, and the
// close code is what says what happened. The wait is bounded: the socket
// is broken, the reader ends at once.
func (c *conn) preferReadErr(writeErr error) error {
	select {
	case <-c.readDone:
		var ce *CloseError
		if errors.As(c.readErr, &ce) {
			return ce
		}
	case <-time.After(time.Second):
	}
	return writeErr
}

func (p *Pool) closeConn(c *conn) {
	p.unregister(c)
	c.ws.Close()
	<-c.readDone
	p.stats.closed()
}

func (c *conn) writeJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	return nil
}

func (c *conn) writeControl(kind int, data []byte) error {
	if err := c.ws.WriteControl(kind, data, time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("write control frame %d: %w", kind, err)
	}
	return nil
}

// readLoop reads frames until the socket fails. A panic while handling
// outside input ends the connection, not the process.
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
	var stored int64
	answered := false
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.readErr = &CloseError{Code: ce.Code, Text: ce.Text}
			} else {
				c.readErr = fmt.Errorf("read: %w", err)
			}
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
		if !answered {
			answered = true
			c.p.accepted(c)
		}
		if c.p.handleFrame(c, dec, &f, buf, now) {
			c.dataUpdate(now, &stored)
		}
	}
}

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

// handleFrame decodes one frame and routes it; it reports whether the
// frame was a real data update of a subscribed instrument.
func (p *Pool) handleFrame(c *conn, dec *decoder, f *frame, data []byte, now time.Time) (update bool) {
	p.stats.framesRead.Add(1)
	if err := dec.decode(data, f); err != nil {
		p.badFrame(c.slot.index, data, err)
		return false
	}
	meta := tvbridge.EventMeta{ServerTime: f.serverTime, Received: now}
	switch f.kind {
	case kindCandle:
		f.candle.FIGI = p.resolveFIGI(f)
		update = p.inst.seen(f.candle.FIGI, kindCandle, now)
		p.out.candle(meta, f.candle)
	case kindTrade:
		f.trade.FIGI = p.resolveFIGI(f)
		update = p.inst.seen(f.trade.FIGI, kindTrade, now)
		if !p.out.trade(meta, f.trade) {
			p.tradeDropped(f.trade.FIGI)
		}
	case kindOrderBook:
		f.book.FIGI = p.resolveFIGI(f)
		update = p.inst.seen(f.book.FIGI, kindOrderBook, now)
		p.out.book(meta, &f.book)
	case kindTradingStatus:
		figi := p.resolveFIGI(f)
		update = p.inst.seenStatus(figi, f.status, now)
		p.out.info(meta, tvbridge.InstrumentInfo{FIGI: figi, TradeStatus: f.status})
	case kindPing:
		p.stats.pings.Add(1)
	case kindSubscription:
		p.subscriptionResponse(c, &f.sub, meta)
	case kindIgnored:
	default:
		p.stats.unknownEvents.Add(1)
		if ok, held := p.unknownLog.allow(); ok {
			p.log.Warn("unknown stream message ignored", "conn", c.slot.index, "member", f.name, "similar_lines_suppressed", held)
		}
	}
	return update
}

func (p *Pool) badFrame(idx int, data []byte, err error) {
	p.stats.badFrames.Add(1)
	if ok, held := p.badFrameLog.allow(); ok {
		p.log.Warn("bad stream frame ignored", "conn", idx, "err", err, "frame", snippet(data), "similar_lines_suppressed", held)
	}
}
