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
	window  func() time.Duration // flush coalescing window; <= 0 flushes every write
	buf     []byte
	seq     uint64 // Seq of the last entry written

	lastFlush time.Time // wall clock: flushing is socket I/O pacing
	dirty     bool      // written but not yet flushed
}

// batch is one result of TapeReader.Next, handed from the reading goroutine
// to the writing one.
type batch struct {
	entries []tvbridge.TapeEntry
	err     error
}

// run streams until the connection must close and says why.
func (s *stream) run(ctx context.Context, tp tvbridge.Tape, clk clock.Clock, every time.Duration) (string, error) {
	// Subscribe before the headers go out: once the client sees the
	// stream open, it gets every tick from then on.
	feed := startFeed(ctx, tp, s.window)
	defer feed.stop()
	if err := s.flush(); err != nil {
		return "write failed", err
	}
	heartbeat := clk.NewTimer(every)
	defer heartbeat.Stop()
	// The flush timer runs on the wall clock, like socket deadlines: it
	// paces syscalls, it does not decide anything about market time.
	flushTimer := time.NewTimer(time.Hour)
	flushTimer.Stop()
	var flushDue <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return "client gone", ctx.Err()
		case b := <-feed.batches:
			if errors.Is(b.err, tvbridge.ErrTooSlow) {
				return "client too slow", b.err
			}
			if b.err != nil {
				return "tape failed", b.err
			}
			err := s.writeEntries(b.entries)
			feed.free <- b.entries[:0]
			if err != nil {
				return "write failed", err
			}
			if wait := s.flushWait(); wait <= 0 {
				if err := s.flush(); err != nil {
					return "write failed", err
				}
			} else if flushDue == nil {
				flushTimer.Reset(wait)
				flushDue = flushTimer.C
			}
			restart(heartbeat, every)
		case <-flushDue:
			flushDue = nil
			if err := s.flush(); err != nil {
				return "write failed", err
			}
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
	}
}

// flushWait is how long written lines may wait before the next flush.
func (s *stream) flushWait() time.Duration {
	w := s.window()
	if w <= 0 {
		return 0
	}
	return w - time.Since(s.lastFlush)
}

// tapeFeed reads the tape in its own goroutine, so that the writer can wait
// for ticks and for the heartbeat at once. One entry buffer circulates:
// the feed fills it, the writer writes it and hands it back on free.
type tapeFeed struct {
	batches chan batch
	free    chan []tvbridge.TapeEntry
	cancel  context.CancelFunc
	done    chan struct{}
}

// startFeed subscribes to the tape at its live end and starts reading,
// at most once per window: with a hundred connections, waking every reader
// on every tick would cost more than the ticks themselves.
func startFeed(ctx context.Context, tp tvbridge.Tape, window func() time.Duration) *tapeFeed {
	ctx, cancel := context.WithCancel(ctx)
	f := &tapeFeed{
		batches: make(chan batch),
		free:    make(chan []tvbridge.TapeEntry, 1),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	reader := tp.Subscribe()
	go func() {
		defer close(f.done)
		defer reader.Close() // only once Next has returned
		f.pump(ctx, reader, window)
	}()
	return f
}

// stop ends the feed and waits until its reader is closed.
func (f *tapeFeed) stop() {
	f.cancel()
	<-f.done
}

// pump hands over one batch at a time, reading the tape at most once per
// window (wall clock: this paces goroutine wake-ups, not market time). It
// stops after an error or when ctx is done.
func (f *tapeFeed) pump(ctx context.Context, reader tvbridge.TapeReader, window func() time.Duration) {
	buf := make([]tvbridge.TapeEntry, 0, batchSize)
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	defer pace.Stop()
	for {
		entries, err := next(ctx, reader, buf)
		read := time.Now()
		select {
		case f.batches <- batch{entries, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		select {
		case buf = <-f.free:
		case <-ctx.Done():
			return
		}
		if wait := window() - time.Since(read); wait > 0 {
			pace.Reset(wait)
			select {
			case <-pace.C:
			case <-ctx.Done():
				return
			}
		}
	}
}

// next is reader.Next with a panic turned into an error, so a faulty tape
// implementation closes one connection instead of the process.
func next(ctx context.Context, reader tvbridge.TapeReader, buf []tvbridge.TapeEntry) (entries []tvbridge.TapeEntry, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tape reader panicked: %v", p)
		}
	}()
	return reader.Next(ctx, buf)
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
	s.dirty = true
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
	s.lastFlush = time.Now()
	s.dirty = false
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

// flushWindow is the configured window, or the adaptive one: 1ms plus 40µs
// per open /streaming connection, at most 5ms.
func (h *Handler) flushWindow() time.Duration {
	if h.cfg.FlushWindow != 0 {
		return h.cfg.FlushWindow
	}
	return min(time.Millisecond+time.Duration(h.streams.Load())*40*time.Microsecond, 5*time.Millisecond)
}
