package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tape"
)

// batchSize is how many tape entries one write carries at most.
const batchSize = 256

// serveStreaming answers /streaming: a chunked response that never ends on
// its own, carrying every tick of the tape, one JSON object per line, and a
// heartbeat line every Heartbeat, however busy the stream. The connection is
// closed only when the client goes away, falls behind the tape (ErrTooSlow),
// or a write fails or times out; TradingView then reconnects.
func (h *Handler) serveStreaming(w http.ResponseWriter, r *http.Request, _ url.Values) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	h.streams.Add(1)
	defer h.streams.Add(-1)
	h.stats.streamsOpened.Add(1)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s := &stream{
		timeout: h.cfg.WriteTimeout,
		window:  h.flushWindow,
		buf:     make([]byte, chunkHeadroom, 32<<10),
		stats:   h.stats,
	}
	// Subscribe before the headers go out: once the client sees the
	// stream open, it gets every tick from then on.
	reader := h.cfg.Tape.Subscribe()
	if err := s.open(w, r, cancel); err != nil {
		reader.Close()
		s.close(false)
		h.log.Warn("streaming: cannot start", "remote", r.RemoteAddr, "err", err)
		return
	}
	reason, err := s.run(ctx, reader, h.clock, h.cfg.Heartbeat)
	reader.Close()
	shutdown := r.Context().Err() != nil
	h.stats.closed(reason)
	level := slog.LevelWarn // the server cut the stream: TradingView will reconnect
	if shutdown || reason == reasonClientGone {
		level = slog.LevelInfo
	}
	h.log.Log(ctx, level, "streaming: connection closed",
		"remote", r.RemoteAddr, "reason", reason, "err", err, "seq", s.seq)
	// End the body properly where the stream did not break: the server
	// shuts down, or it cut a client that is too slow.
	s.close(shutdown || (reason != reasonWriteFailed && reason != reasonClientGone))
}

// Why a stream ends, as run reports it.
const (
	reasonClientGone  = "client gone"
	reasonTooSlow     = "client too slow"
	reasonTapeFailed  = "tape failed"
	reasonWriteFailed = "write failed"
)

// stream is the writing side of one /streaming connection.
//
// Over HTTP/1.1 it takes the connection over from net/http and frames the
// chunks itself: each flush is then one chunk in one write syscall and one
// copy of the lines, where the ResponseWriter's two buffers cost a second
// copy and, for a chunk over 4 KB, a second syscall. At a hundred
// connections those writes are most of the server's CPU. Where there is
// no connection to take (an HTTP/1.0 client, a test recorder) it writes
// through the ResponseWriter.
type stream struct {
	conn    net.Conn                 // the taken-over connection, or nil
	w       http.ResponseWriter      // when conn is nil
	rc      *http.ResponseController // when conn is nil
	timeout time.Duration
	window  func() time.Duration // least time between two tape reads; <= 0 reads at once
	buf     []byte               // chunkHeadroom bytes, then the lines of the next chunk
	seq     uint64               // Seq of the last entry written
	stats   *stats               // the handler's; nil in tests that build a stream alone
}

// chunkHeadroom is the room kept in front of a chunk's data for its size
// line: up to 16 hex digits and CRLF.
const chunkHeadroom = 18

// open sends the response headers. gone is called when the client closes
// a taken-over connection, which net/http no longer watches.
func (s *stream) open(w http.ResponseWriter, r *http.Request, gone func()) error {
	rc := http.NewResponseController(w)
	if r.ProtoAtLeast(1, 1) {
		conn, brw, err := rc.Hijack()
		switch {
		case err == nil:
			s.conn = conn
			go func() {
				// A client says nothing after its request; reading only
				// learns when it leaves. Ends when close closes conn.
				_, _ = io.Copy(io.Discard, brw.Reader)
				gone()
			}()
			return s.writeHeader(w.Header())
		case !errors.Is(err, http.ErrNotSupported):
			return fmt.Errorf("take over connection: %w", err)
		}
	}
	s.w, s.rc = w, rc
	w.WriteHeader(http.StatusOK)
	return s.flush()
}

// writeHeader writes the status line and headers of a chunked response.
func (s *stream) writeHeader(h http.Header) error {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	h = h.Clone()
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Connection", "close") // the stream ends only with the connection
	if err := h.Write(&b); err != nil {
		return err
	}
	b.WriteString("\r\n")
	return s.writeConn(b.Bytes())
}

// close ends a taken-over connection, with the final empty chunk when
// complete is set, so the client sees a whole response. (net/http ends the
// other kind when the handler returns.)
func (s *stream) close(complete bool) {
	if s.conn == nil {
		return
	}
	if complete {
		_ = s.writeConn([]byte("0\r\n\r\n"))
	}
	s.conn.Close()
}

// run streams until the connection must close and says why.
//
// Reads are paced: the tape is read at most once per window (wall clock,
// like socket deadlines: it paces syscalls, not market time), and what one
// read returns goes out as one chunk. While lines flow the goroutine only
// sleeps out the rest of each window: with a hundred connections a timer
// reset and a select per chunk cost more than the lines, and a client that
// left is noticed at most one window late. Only an idle stream waits in a
// select, for the tape, its heartbeat or its context.
//
// A heartbeat goes out every `every` whatever else flows: TradingView asks
// for one every 5 s, not only when the stream is quiet. A busy stream
// appends it to the chunk that is due anyway, so it costs one clock read
// per chunk and no extra write; the timer only wakes an idle stream.
func (s *stream) run(ctx context.Context, reader tvbridge.TapeReader, clk clock.Clock, every time.Duration) (string, error) {
	beats := newHeartbeats(clk, every)
	defer beats.timer.Stop()
	read := s.reader(reader)
	var lastRead time.Time
	for {
		select {
		case <-ctx.Done():
			return reasonClientGone, context.Cause(ctx) // the server's cause on shutdown
		default:
		}
		if wait := s.window() - time.Since(lastRead); wait > 0 {
			time.Sleep(wait)
		}
		n, wake, err := read()
		lastRead = time.Now()
		switch {
		case errors.Is(err, tvbridge.ErrTooSlow):
			return reasonTooSlow, err
		case err != nil:
			return reasonTapeFailed, err
		case n > 0:
			lines, before := n, len(s.buf)
			if s.buf = beats.appendDue(s.buf); len(s.buf) > before {
				lines++ // the heartbeat
			}
			if err := s.send(lines); err != nil {
				return reasonWriteFailed, err
			}
			if n == batchSize {
				lastRead = time.Time{} // a full batch: more is waiting
			}
			continue
		}
		select {
		case <-ctx.Done():
			return reasonClientGone, context.Cause(ctx)
		case <-wake:
		case <-beats.timer.C():
			// The timer may be early: a busy stream sent the beat it was
			// armed for with a chunk. Then this sends nothing and re-arms.
			s.buf = beats.appendDue(s.buf[:chunkHeadroom])
			if err := s.send(1); err != nil {
				return reasonWriteFailed, err
			}
			beats.rearm()
		}
	}
}

// heartbeats schedules a stream's heartbeat lines on the clock: one every
// interval, stamped with the clock's Unix seconds.
type heartbeats struct {
	clk   clock.Clock
	every time.Duration
	next  time.Time   // when the next heartbeat is due
	timer clock.Timer // set for next or earlier: it wakes an idle stream
}

func newHeartbeats(clk clock.Clock, every time.Duration) *heartbeats {
	// next is taken first, so the timer never fires before it.
	b := &heartbeats{clk: clk, every: every, next: clk.Now().Add(every)}
	b.timer = clk.NewTimer(every)
	return b
}

// appendDue appends a heartbeat line to dst when one is due.
func (b *heartbeats) appendDue(dst []byte) []byte {
	now := b.clk.Now()
	if now.Before(b.next) {
		return dst
	}
	b.next = now.Add(b.every)
	return tape.AppendHeartbeat(dst, now)
}

// rearm sets the fired timer for the next heartbeat.
func (b *heartbeats) rearm() {
	b.timer.Reset(b.next.Sub(b.clk.Now()))
}

// lineReader is what the in-process tape's readers offer besides Poll:
// the lines alone, appended straight to the chunk being built.
type lineReader interface {
	PollLines(dst []byte, max int) (out []byte, n int, last uint64, wake <-chan struct{}, err error)
}

// reader returns the function that reads the next batch of lines into
// s.buf (after the headroom) and says how many entries it took, or when
// there were none, what to wait on. A panic in the tape becomes an error,
// so a faulty implementation closes one connection, not the process.
func (s *stream) reader(reader tvbridge.TapeReader) func() (int, <-chan struct{}, error) {
	lr, lines := reader.(lineReader)
	var entries []tvbridge.TapeEntry // for a tape without PollLines
	if !lines {
		entries = make([]tvbridge.TapeEntry, 0, batchSize)
	}
	return func() (n int, wake <-chan struct{}, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("tape reader panicked: %v", p)
			}
		}()
		s.buf = s.buf[:chunkHeadroom]
		if lines {
			var last uint64
			if s.buf, n, last, wake, err = lr.PollLines(s.buf, batchSize); n > 0 {
				s.seq = last
			}
			return n, wake, err
		}
		got, wake, err := reader.Poll(entries[:0])
		for _, e := range got {
			if len(e.Line) > 0 {
				s.buf = append(s.buf, e.Line...)
			} else {
				s.buf = tape.AppendLine(s.buf, e.Tick) // a tape that does not encode
			}
			s.seq = e.Seq
		}
		return len(got), wake, err
	}
}

// send delivers the lines in s.buf after the headroom as one chunk, within
// the write timeout, and counts them once written.
func (s *stream) send(lines int) error {
	body := s.buf[chunkHeadroom:]
	if len(body) == 0 {
		return nil
	}
	if err := s.write(body); err != nil {
		return err
	}
	if s.stats != nil {
		s.stats.wrote(lines, len(body))
	}
	return nil
}

// write sends body, which lies in s.buf after the headroom, as one chunk.
func (s *stream) write(body []byte) error {
	if s.conn == nil {
		if err := s.deadline(); err != nil {
			return err
		}
		if _, err := s.w.Write(body); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return s.flush()
	}
	var size [chunkHeadroom]byte
	line := append(strconv.AppendUint(size[:0], uint64(len(body)), 16), '\r', '\n')
	start := chunkHeadroom - len(line)
	copy(s.buf[start:], line)
	s.buf = append(s.buf, '\r', '\n')
	return s.writeConn(s.buf[start:])
}

// writeConn writes p to the taken-over connection within the write timeout.
// Deadlines on sockets are wall-clock time, hence time.Now rather than the
// clock.
func (s *stream) writeConn(p []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if _, err := s.conn.Write(p); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// deadline sets the ResponseWriter's write deadline; a writer without
// deadlines (a test recorder) goes without.
func (s *stream) deadline() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("set write deadline: %w", err)
	}
	return nil
}

// flush pushes what was written through the ResponseWriter to the client.
func (s *stream) flush() error {
	if err := s.deadline(); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// flushWindow is the configured window, or the adaptive one: 1ms plus 10µs
// per open /streaming connection, at most 2ms. The cap keeps the latency a
// window adds (half of it on average, all of it at worst) well inside the
// 5ms budget; below it, fewer connections flush more often.
func (h *Handler) flushWindow() time.Duration {
	if h.cfg.FlushWindow != 0 {
		return h.cfg.FlushWindow
	}
	return min(time.Millisecond+time.Duration(h.streams.Load())*10*time.Microsecond, 2*time.Millisecond)
}
