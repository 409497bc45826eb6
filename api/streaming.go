package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tape"
)

// batchSize is how many tape entries one write carries at most.
const batchSize = 256

// serveStreaming answers /streaming: a chunked response that never ends on
// its own, carrying every tick of the tape, one JSON object per line, and a
// heartbeat line after Heartbeat without other output. The connection is
// closed only when the client goes away, falls behind the tape (ErrTooSlow),
// or a write fails or times out; TradingView then reconnects.
func (h *Handler) serveStreaming(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	h.streams.Add(1)
	defer h.streams.Add(-1)
	s := &stream{
		w:       w,
		rc:      http.NewResponseController(w),
		timeout: h.cfg.WriteTimeout,
		window:  h.flushWindow,
		buf:     make([]byte, 0, 32<<10),
	}
	reason, err := s.run(r.Context(), h.cfg.Tape, h.clock, h.cfg.Heartbeat)
	level := slog.LevelWarn // the server cut the stream: TradingView will reconnect
	if r.Context().Err() != nil {
		level = slog.LevelInfo // the client left
	}
	h.log.Log(r.Context(), level, "streaming: connection closed",
		"remote", r.RemoteAddr, "reason", reason, "err", err, "seq", s.seq)
}

// stream is the writing side of one /streaming connection.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	window  func() time.Duration // least time between two tape reads; <= 0 reads at once
	buf     []byte
	seq     uint64 // Seq of the last entry written
}

// run streams until the connection must close and says why. One goroutine
// per connection waits for the tape, its pacing window and its heartbeat in
// one select: with a hundred connections, every extra wake-up per tick
// costs more than the ticks themselves.
//
// Reads are paced: the tape is read at most once per window (wall clock,
// like socket deadlines: it paces syscalls, not market time), and what one
// read returns is written and flushed as one chunk.
func (s *stream) run(ctx context.Context, tp tvbridge.Tape, clk clock.Clock, every time.Duration) (string, error) {
	// Subscribe before the headers go out: once the client sees the
	// stream open, it gets every tick from then on.
	reader := tp.Subscribe()
	defer reader.Close()
	if err := s.flush(); err != nil {
		return "write failed", err
	}
	heartbeat := clk.NewTimer(every)
	defer heartbeat.Stop()
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	defer pace.Stop()

	buf := make([]tvbridge.TapeEntry, 0, batchSize)
	var lastRead time.Time
	for {
		var ready <-chan struct{} // the tape has news
		var paced <-chan time.Time
		if wait := s.window() - time.Since(lastRead); wait > 0 {
			pace.Reset(wait)
			paced = pace.C
		} else {
			entries, wake, err := poll(reader, buf[:0])
			lastRead = time.Now()
			switch {
			case errors.Is(err, tvbridge.ErrTooSlow):
				return "client too slow", err
			case err != nil:
				return "tape failed", err
			case len(entries) > 0:
				if err := s.writeEntries(entries); err != nil {
					return "write failed", err
				}
				if err := s.flush(); err != nil {
					return "write failed", err
				}
				restart(heartbeat, every)
				if len(entries) == cap(buf) {
					lastRead = time.Time{} // a full batch: more is waiting
				}
				continue
			}
			ready = wake
		}
		select {
		case <-ctx.Done():
			return "client gone", ctx.Err()
		case <-ready:
		case <-paced:
		case <-heartbeat.C():
			s.buf = tape.AppendHeartbeat(s.buf[:0], clk.Now())
			if err := s.write(); err != nil {
				return "write failed", err
			}
			if err := s.flush(); err != nil {
				return "write failed", err
			}
			heartbeat.Reset(every)
		}
		if paced != nil && !pace.Stop() {
			select {
			case <-pace.C:
			default:
			}
		}
	}
}

// poll is reader.Poll with a panic turned into an error, so a faulty tape
// implementation closes one connection instead of the process.
func poll(reader tvbridge.TapeReader, buf []tvbridge.TapeEntry) (entries []tvbridge.TapeEntry, wake <-chan struct{}, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tape reader panicked: %v", p)
		}
	}()
	return reader.Poll(buf)
}

// writeEntries writes a batch of lines; the caller decides when to flush.
// The tape encodes each line once for all connections; an entry without one
// is encoded here.
func (s *stream) writeEntries(entries []tvbridge.TapeEntry) error {
	s.buf = s.buf[:0]
	for _, e := range entries {
		if len(e.Line) > 0 {
			s.buf = append(s.buf, e.Line...)
		} else {
			s.buf = tape.AppendLine(s.buf, e.Tick)
		}
	}
	if err := s.write(); err != nil {
		return err
	}
	if len(entries) > 0 {
		s.seq = entries[len(entries)-1].Seq
	}
	return nil
}

// write sends s.buf within the write timeout; it reaches the client at the
// next flush (or sooner, when the response buffer fills). Deadlines on
// sockets are wall-clock time, hence time.Now rather than the clock.
func (s *stream) write() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// flush pushes everything written to the client as one chunk.
func (s *stream) flush() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// restart makes t fire d from now, dropping a tick that is already pending.
func restart(t clock.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C():
		default:
		}
	}
	t.Reset(d)
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
