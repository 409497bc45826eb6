package v2sim

import (
	"cmp"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge/tinvest/wire"
)

const (
	// maxClientFrame bounds what a client may send in one frame; a request
	// for 300 instruments is about 30 KB.
	maxClientFrame = 1 << 20
	// writeWait bounds one socket write. Socket deadlines are wall-clock by
	// nature; this is I/O hygiene, not simulated time.
	writeWait = 10 * time.Second
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4 << 10,
	WriteBufferSize: 16 << 10,
	// "json" gives camelCase names, "json-proto" the proto field names; the
	// token may come as a second subprotocol, which is never chosen.
	Subprotocols: []string{wire.SubprotocolJSON, wire.SubprotocolJSONProto},
	// The simulator serves tools and tests, not browsers on other sites.
	CheckOrigin: func(*http.Request) bool { return true },
}

// streamAuth finds a stream handshake's token: the Authorization header,
// or the second WebSocket subprotocol.
func streamAuth(r *http.Request) (string, bool) {
	if token, ok := bearer(r); ok {
		return token, true
	}
	protos := websocket.Subprotocols(r)
	if len(protos) == 2 && (protos[0] == wire.SubprotocolJSON || protos[0] == wire.SubprotocolJSONProto) && protos[1] != "" {
		return protos[1], true
	}
	return "", false
}

// outFrame is one entry of a socket's send queue: a WebSocket message type
// and its payload.
type outFrame struct {
	typ  int
	data []byte
}

// wsConn is the socket side shared by both streams: a bounded send queue
// drained by one writer goroutine, so the emission loop never blocks on a
// socket, and an abrupt or polite close.
type wsConn struct {
	srv       *Server
	ws        *websocket.Conn
	proto     bool // json-proto: proto field names
	out       chan outFrame
	done      chan struct{}
	closeOnce sync.Once
	queued    atomic.Uint64 // text frames queued
}

func newWSConn(s *Server, ws *websocket.Conn) *wsConn {
	return &wsConn{srv: s, ws: ws, proto: ws.Subprotocol() == wire.SubprotocolJSONProto,
		out: make(chan outFrame, s.cfg.SendQueue), done: make(chan struct{})}
}

// writeLoop drains the queue onto the socket; a close frame ends it.
func (c *wsConn) writeLoop() {
	defer c.abort()
	for {
		var f outFrame
		select {
		case <-c.done:
			return
		case f = <-c.out:
		}
		c.ws.SetWriteDeadline(time.Now().Add(writeWait))
		if err := c.ws.WriteMessage(f.typ, f.data); err != nil {
			return
		}
		if f.typ == websocket.TextMessage {
			c.srv.stats.framesSent.Add(1)
		}
		if f.typ == websocket.CloseMessage {
			// Give the client a moment to read the close frame before the
			// TCP connection goes.
			time.AfterFunc(time.Second, func() { c.abort() })
			return
		}
	}
}

// enqueue queues a frame without blocking. A client whose queue is full is
// too slow and is dropped without a close frame.
func (c *wsConn) enqueue(f outFrame) {
	if c.isClosed() {
		return
	}
	if f.typ == websocket.TextMessage && c.proto {
		f.data = protoNames(f.data)
	}
	select {
	case c.out <- f:
		if f.typ == websocket.TextMessage {
			c.queued.Add(1)
			c.srv.stats.framesQueued.Add(1)
		}
	default:
		if c.abort() {
			c.srv.stats.slowDrops.Add(1)
			c.srv.log.Warn("dropping slow stream reader: send queue full", "queue", cap(c.out))
		}
	}
}

func (c *wsConn) send(data []byte) { c.enqueue(outFrame{typ: websocket.TextMessage, data: data}) }

// closeWith sends a close frame with a v2 close code (4000 + gRPC code)
// and a text naming the service code, then drops the connection.
func (c *wsConn) closeWith(code int, text string) {
	c.enqueue(outFrame{typ: websocket.CloseMessage, data: websocket.FormatCloseMessage(code, text)})
}

// abort closes the TCP connection at once, with no close frame, and
// reports whether this call closed it.
func (c *wsConn) abort() bool {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.done)
		c.ws.NetConn().Close()
	})
	return first
}

func (c *wsConn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// mdConn is one MarketDataStream socket. Its subscription fields are
// guarded by the emitter's lock.
type mdConn struct {
	*wsConn
	id       uint64
	token    string
	streamID string

	subs       map[subKey]*connSub
	weight     int // candle, book and trade subscriptions
	pingEvery  time.Duration
	lastPing   time.Time
	emptySince time.Time
	closing    bool
}

// serveMarketData authenticates the handshake, upgrades, and runs the
// stream. A bad token gets HTTP 401 with the v2 error body (40003); a token
// over its stream limit gets the upgrade and then close 4008 (80001).
func (s *Server) serveMarketData(w http.ResponseWriter, r *http.Request) {
	token, ok := streamAuth(r)
	if s.closed.Load() {
		s.writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "", "shutting down")
		return
	}
	if !ok || !s.acceptToken(token) {
		s.stats.refuse(http.StatusUnauthorized)
		s.writeError(w, http.StatusUnauthorized, wire.CodeUnauthenticated, wire.ErrUnauthenticated,
			"authentication token is missing or invalid")
		return
	}
	if s.faults.refuseDue() {
		s.stats.refuse(http.StatusTooManyRequests)
		s.writeError(w, http.StatusTooManyRequests, wire.CodeResourceExhausted, wire.ErrRequestLimit, "injected fault")
		return
	}
	ws, err := upgrader.Upgrade(w, r, http.Header{wire.HeaderTrackingID: {s.trackingID()}})
	if err != nil {
		s.log.Debug("stream upgrade failed", "err", err)
		return
	}
	now := s.clock.Now()
	c := &mdConn{wsConn: newWSConn(s, ws), token: token, streamID: derivedUUID("stream", s.trackingID()),
		subs: make(map[subKey]*connSub), pingEvery: DefaultPingDelay, lastPing: now, emptySince: now}
	go c.writeLoop()
	if !s.conns.reserve(token, s.cfg.MaxStreams) {
		s.stats.tooManyStreams.Add(1)
		c.closeWith(wire.CloseResourceExhausted, wire.ErrTooManyStreams+": too many market data streams for this token")
		c.drain()
		return
	}
	defer s.conns.release(token)
	s.conns.add(c)
	defer s.conns.remove(c)
	s.em.addConn(c)
	defer s.em.removeConn(c)
	if s.closed.Load() {
		c.abort()
	}
	c.readLoop()
	c.abort()
}

// drain reads until the socket closes, so a close frame gets its answer.
func (c *mdConn) drain() {
	c.ws.SetReadDeadline(time.Now().Add(writeWait))
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			c.abort()
			return
		}
	}
}

// readLoop reads requests until the socket fails. A panic while handling
// one ends this connection only.
func (c *mdConn) readLoop() {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("stream request handler panicked", "conn", c.id, "panic", r)
		}
	}()
	c.ws.SetReadLimit(maxClientFrame)
	c.ws.SetPingHandler(func(data string) error {
		c.enqueue(outFrame{typ: websocket.PongMessage, data: []byte(data)})
		return nil
	})
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage && typ != websocket.BinaryMessage {
			continue
		}
		c.srv.handleMarketDataRequest(c, data)
	}
}

// connRegistry holds the open market-data streams, for the per-token limit,
// faults and stats.
type connRegistry struct {
	mu       sync.Mutex
	seq      uint64
	open     map[uint64]*mdConn
	perToken map[string]int
	maxSeen  int
}

func (r *connRegistry) init() {
	r.open = make(map[uint64]*mdConn)
	r.perToken = make(map[string]int)
}

// reserve takes one of the token's stream slots, or reports false.
func (r *connRegistry) reserve(token string, limit int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perToken[token] >= limit {
		return false
	}
	r.perToken[token]++
	return true
}

func (r *connRegistry) release(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perToken[token]--; r.perToken[token] <= 0 {
		delete(r.perToken, token)
	}
}

func (r *connRegistry) add(c *mdConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	c.id = r.seq
	r.open[c.id] = c
	r.maxSeen = max(r.maxSeen, len(r.open))
}

func (r *connRegistry) remove(c *mdConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, c.id)
}

// list returns the open streams, oldest first.
func (r *connRegistry) list() []*mdConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*mdConn, 0, len(r.open))
	for _, c := range r.open {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *mdConn) int { return cmp.Compare(a.id, b.id) })
	return out
}
