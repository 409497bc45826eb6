package tape

import (
	"context"
	"sync"
	"sync/atomic"

	"tvbridge"
)

// Reader reads a Tape from where it was created. Next, Poll and PollLines
// must be called from one goroutine at a time; Close and Stats may be called
// from any goroutine.
type Reader struct {
	tape      *Tape
	closed    chan struct{}
	closeOnce sync.Once
	tooSlow   bool // sticky once lapped; touched only by Next

	cursor    atomic.Uint64 // Seq of the last entry consumed (delivered or skipped)
	delivered atomic.Uint64
	skipped   atomic.Uint64
}

var _ tvbridge.TapeReader = (*Reader)(nil)

// ReaderStats are a reader's counters, for metrics.
type ReaderStats struct {
	Cursor    uint64 // Seq of the last entry consumed
	Lag       uint64 // entries on the tape after Cursor
	Delivered uint64 // entries returned by Next
	Skipped   uint64 // superseded quotes skipped while behind
}

// Stats returns the reader's counters.
func (r *Reader) Stats() ReaderStats {
	cursor := r.cursor.Load()
	return ReaderStats{
		Cursor:    cursor,
		Lag:       r.tape.last.Load() - cursor,
		Delivered: r.delivered.Load(),
		Skipped:   r.skipped.Load(),
	}
}

// Cursor is the Seq of the last entry the reader consumed; a new reader's
// is the tape's last entry when it subscribed, so its first entry is
// Cursor()+1.
func (r *Reader) Cursor() uint64 { return r.cursor.Load() }

// Next blocks until entries follow the reader's cursor, then appends as many
// as fit in cap(buf)-len(buf) and returns the extended buffer. The Line of
// each entry stays valid and unchanged forever; do not modify it.
//
// Next returns ctx.Err() once ctx is done, ErrClosed after Close, and
// tvbridge.ErrTooSlow, from then on, once the ring has overwritten an entry
// the reader had not read yet.
func (r *Reader) Next(ctx context.Context, buf []tvbridge.TapeEntry) ([]tvbridge.TapeEntry, error) {
	if len(buf) == cap(buf) {
		return buf, errNoRoom
	}
	for {
		if err := r.check(ctx); err != nil {
			return buf, err
		}
		n, wake := r.tape.read(r, cap(buf)-len(buf), func(s *slot) { buf = append(buf, s.entry) })
		if n > 0 {
			return buf, nil
		}
		if wake == nil {
			continue // lapped; check reports it
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return buf, ctx.Err()
		case <-r.closed:
			return buf, ErrClosed
		}
	}
}

// Poll is Next without waiting: it appends the entries available now. When
// there are none it returns a channel that is closed once entries may have
// arrived, so one goroutine can wait for the tape, timers and its own
// context in one select.
func (r *Reader) Poll(buf []tvbridge.TapeEntry) ([]tvbridge.TapeEntry, <-chan struct{}, error) {
	if len(buf) == cap(buf) {
		return buf, nil, errNoRoom
	}
	if err := r.check(context.Background()); err != nil {
		return buf, nil, err
	}
	n, wake := r.tape.read(r, cap(buf)-len(buf), func(s *slot) { buf = append(buf, s.entry) })
	if n > 0 {
		return buf, nil, nil
	}
	if wake == nil { // lapped
		return buf, nil, r.check(context.Background())
	}
	return buf, wake, nil
}

// PollLines is Poll for a writer that needs only the encoded lines: it
// appends the lines of up to max entries to dst, and returns the extended
// buffer, how many entries it took and the Seq of the last one. A
// /streaming connection sends them as they are, and copying whole entries
// (a tick is some 200 bytes) for a hundred connections cost more than the
// lines themselves.
func (r *Reader) PollLines(dst []byte, max int) (out []byte, n int, last uint64, wake <-chan struct{}, err error) {
	if max <= 0 {
		return dst, 0, 0, nil, errNoRoom
	}
	if err := r.check(context.Background()); err != nil {
		return dst, 0, 0, nil, err
	}
	n, wake = r.tape.read(r, max, func(s *slot) {
		dst = append(dst, s.entry.Line...)
		last = s.entry.Seq
	})
	if n > 0 {
		return dst, n, last, nil, nil
	}
	if wake == nil { // lapped
		return dst, 0, 0, nil, r.check(context.Background())
	}
	return dst, 0, 0, wake, nil
}

func (r *Reader) check(ctx context.Context) error {
	select {
	case <-r.closed:
		return ErrClosed
	default:
	}
	if r.tooSlow {
		return tvbridge.ErrTooSlow
	}
	return ctx.Err()
}

// Close releases the reader and makes a blocked Next return ErrClosed.
func (r *Reader) Close() {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.tape.readers.Add(-1)
	})
}

// read hands up to max entries after r's cursor to take, skipping
// superseded quotes while r is far behind, and says how many it took.
// When it takes none, it returns a channel that a later Append closes;
// when r has been lapped it sets r.tooSlow and returns a nil channel. It
// takes no lock: see publish.
func (t *Tape) read(r *Reader, max int, take func(*slot)) (int, <-chan struct{}) {
	for {
		last := t.last.Load()
		next := r.cursor.Load() + 1
		if next > last {
			// Nothing to deliver: ask the next Append to wake us, then look
			// once more, in case it published before it could see the flag.
			wake := *t.wake.Load()
			t.waiting.Store(true)
			if t.last.Load() < next {
				return 0, wake
			}
			continue
		}
		n, skipped := 0, uint64(0)
		for ; next <= last && n < max; next++ {
			s := t.ring[next&t.mask].Load()
			if s == nil || s.entry.Seq != next {
				// Overwritten by a later lap: what was taken is valid;
				// the next call reports ErrTooSlow.
				r.tooSlow = true
				break
			}
			if t.superseded(s, last) {
				skipped++
				continue
			}
			take(s)
			n++
		}
		r.cursor.Store(next - 1)
		if skipped > 0 {
			r.skipped.Add(skipped)
			t.conflated.Add(skipped)
		}
		if n > 0 {
			r.delivered.Add(uint64(n))
			return n, nil
		}
		if r.tooSlow {
			return 0, nil
		}
		// Everything read was a superseded quote: look again.
	}
}

// superseded reports whether a reader at s, with last the newest Seq it has
// seen, may skip s: it is a quote, the reader is more than conflateAfter
// entries behind, and a newer quote of the same symbol is on the tape.
// Trades and daily bars are never superseded.
func (t *Tape) superseded(s *slot, last uint64) bool {
	return t.conflateAfter != 0 &&
		s.entry.Tick.Kind == tvbridge.TickQuote &&
		last-s.entry.Seq > t.conflateAfter &&
		s.supersededBy.Load() != 0
}
