package sim

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// maxClientFrame bounds what a client may send in one frame; requests
	// are a few hundred bytes.
	maxClientFrame = 64 << 10
	// writeWait bounds one socket write. Socket deadlines are wall-clock by
	// nature; this is I/O hygiene, not simulated time.
	writeWait = 10 * time.Second
)

var upgrader = websocket.Upgrader{
	ReadBufferSize: 4 << 10,
	// Frames are written by frameWriter, not through gorilla's buffer.
	WriteBufferSize: 256,
	// The simulator serves tools and tests, not browsers on other sites.
	CheckOrigin: func(*http.Request) bool { return true },
}

// outFrame is one entry of a connection's send queue: a WebSocket opcode
// (opText, opPing, ...) and its payload.
type outFrame struct {
	op   byte
	data []byte
}

// streamConn is one stream connection. The handler goroutine reads client
// requests; a writer goroutine drains the bounded send queue, so the emission
// loop never blocks on a socket.
type streamConn struct {
	id    uint64
	token string
	srv   *Server
	ws    *websocket.Conn
	out   chan outFrame

	done       chan struct{} // closed by abort
	writerDone chan struct{} // closed when the writer goroutine exits
	closeOnce  sync.Once
	peerClosed bool // the client sent a close frame (reader goroutine only)
}

// serveStream authenticates the handshake, upgrades, and runs the connection.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	token, status := s.authorizeStream(r)
	if status != 0 {
		s.stats.refuse(status)
		http.Error(w, http.StatusText(status), status)
		return
	}
	defer s.conns.release(token)
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has already answered the client with an HTTP error.
		s.log.Debug("stream upgrade failed", "err", err)
		return
	}
	c := &streamConn{
		token:      token,
		srv:        s,
		ws:         ws,
		out:        make(chan outFrame, s.cfg.SendQueue),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	s.conns.add(c)
	s.em.addConn(c)
	if s.closed.Load() {
		// Close ran between authorization and registration.
		c.abort()
	}
	s.log.Debug("stream connected", "conn", c.id, "remote", r.RemoteAddr)
	go c.writeLoop()
	c.readLoop()
	c.finish()
	s.em.removeConn(c)
	s.conns.remove(c)
	s.log.Debug("stream disconnected", "conn", c.id)
}

// authorizeStream decides a handshake: the token, or the HTTP status that
// refuses it. On success the token holds a connection slot.
func (s *Server) authorizeStream(r *http.Request) (string, int) {
	if s.closed.Load() {
		return "", http.StatusServiceUnavailable
	}
	token, ok := bearer(r)
	if !ok {
		return "", http.StatusUnauthorized
	}
	if !s.acceptToken(token) {
		return "", http.StatusForbidden
	}
	if take(&s.faults.refuse429) {
		s.stats.refused429.Add(1)
		return "", http.StatusTooManyRequests
	}
	if !s.conns.reserve(token, s.connectionCap()) {
		return "", http.StatusLocked
	}
	return token, 0
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (s *Server) acceptToken(token string) bool {
	return len(s.tokens) == 0 || s.tokens[token]
}

// readLoop reads client requests until the connection fails. A panic while
// handling a request ends this connection only.
func (c *streamConn) readLoop() {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("stream request handler panicked", "conn", c.id, "panic", r)
		}
	}()
	c.ws.SetReadLimit(maxClientFrame)
	// Control frames are answered through the send queue, so that only the
	// writer goroutine writes to the socket.
	c.ws.SetPingHandler(func(data string) error {
		c.enqueue(outFrame{op: opPong, data: []byte(data)})
		return nil
	})
	c.ws.SetCloseHandler(func(int, string) error {
		c.peerClosed = true
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
		c.srv.handleRequest(c, data)
	}
}

// finish ends the connection once reading stopped. A client that closed
// politely gets the close frame echoed after what was queued before it;
// otherwise the TCP connection just closes.
func (c *streamConn) finish() {
	if c.peerClosed && !c.isClosed() && !c.srv.faults.stall.Load() {
		c.enqueue(outFrame{op: opClose, data: websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")})
		select {
		case <-c.writerDone:
		case <-time.After(writeWait):
		}
	}
	c.abort()
}

// writeLoop drains the send queue onto the socket, one flush per burst.
func (c *streamConn) writeLoop() {
	defer close(c.writerDone)
	defer c.abort()
	fw := newFrameWriter(c.ws.NetConn())
	for {
		var f outFrame
		select {
		case <-c.done:
			return
		case f = <-c.out:
		}
		if err := c.writeBurst(fw, f); err != nil {
			c.srv.log.Debug("stream write failed", "conn", c.id, "err", err)
			return
		}
		if f.op == opClose {
			return
		}
	}
}

// writeBurst writes f and everything queued behind it, then flushes. A
// close frame ends the burst: nothing may follow it.
func (c *streamConn) writeBurst(fw *frameWriter, f outFrame) error {
	if err := c.ws.NetConn().SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
		return err
	}
	for {
		if err := fw.write(f.op, f.data); err != nil {
			return err
		}
		c.count(f.op)
		if f.op == opClose || len(c.out) == 0 {
			return fw.flush()
		}
		f = <-c.out
	}
}

func (c *streamConn) count(op byte) {
	switch op {
	case opText:
		c.srv.stats.framesSent.Add(1)
	case opPing:
		c.srv.stats.pingsSent.Add(1)
	}
}

// enqueue queues a frame without blocking. A client whose queue is full is
// too slow: like the real service, the server drops it without a close frame.
// While the Stall fault is on, frames are discarded instead.
func (c *streamConn) enqueue(f outFrame) {
	if c.isClosed() {
		return
	}
	if c.srv.faults.stall.Load() {
		c.srv.stats.withheld.Add(1)
		return
	}
	select {
	case c.out <- f:
		if f.op == opText {
			c.srv.stats.framesQueued.Add(1)
		}
	default:
		if c.abort() {
			c.srv.stats.slowDrops.Add(1)
			c.srv.log.Warn("dropping slow stream reader: send queue full", "conn", c.id, "queue", cap(c.out))
		}
	}
}

func (c *streamConn) send(data []byte) { c.enqueue(outFrame{op: opText, data: data}) }

// abort closes the TCP connection at once, with no close frame, and reports
// whether this call was the one that closed it.
func (c *streamConn) abort() bool {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.done)
		c.ws.NetConn().Close()
	})
	return first
}

// isClosed reports whether the connection was aborted.
func (c *streamConn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
