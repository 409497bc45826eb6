package tape

import (
	"context"
	"sync"
	"sync/atomic"

	"tvbridge"
)

// Reader reads a Tape from where it was created. Next must be called from
// one goroutine at a time; Close and Stats may be called from any goroutine.
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
		n := len(buf)
		var wake <-chan struct{}
		buf, wake = r.tape.read(r, buf)
		if len(buf) > n {
			r.delivered.Add(uint64(len(buf) - n))
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
	n := len(buf)
	buf, wake := r.tape.read(r, buf)
	if len(buf) > n {
		r.delivered.Add(uint64(len(buf) - n))
		return buf, nil, nil
	}
	if wake == nil { // lapped
		return buf, nil, r.check(context.Background())
	}
	return buf, wake, nil
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

// read copies the entries after r's cursor into buf, skipping superseded
// quotes while r is far behind. When it copies nothing, it returns a
// channel that a later Append closes; when r has been lapped it sets
// r.tooSlow and returns a nil channel. It takes no lock: see publish.
func (t *Tape) read(r *Reader, buf []tvbridge.TapeEntry) ([]tvbridge.TapeEntry, <-chan struct{}) {
	for {
		last := t.last.Load()
		next := r.cursor.Load() + 1
		if next > last {
			// Nothing to deliver: ask the next Append to wake us, then look
			// once more, in case it published before it could see the flag.
			wake := *t.wake.Load()
			t.waiting.Store(true)
			if t.last.Load() < next {
				return buf, wake
			}
			continue
		}
		n, skipped := len(buf), uint64(0)
		for ; next <= last && len(buf) < cap(buf); next++ {
			s := t.ring[next&t.mask].Load()
			if s == nil || s.entry.Seq != next { // overwritten by a later lap
				r.tooSlow = true
				return buf[:n], nil
			}
			if t.superseded(s, last) {
				skipped++
				continue
			}
			buf = append(buf, s.entry)
		}
		r.cursor.Store(next - 1)
		if skipped > 0 {
			r.skipped.Add(skipped)
		}
		if len(buf) > n {
			return buf, nil
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
