// Package tape is the in-process tvbridge.Tape: one ordered, sequence-numbered
// stream of ticks, encoded once and fanned out to every /streaming connection.
//
// Producers call Append; each /streaming connection owns a Reader and polls
// it (PollLines, or Poll and Next for whole entries). Entries live in a ring
// of Config.Capacity immutable slots that readers read without a lock. A reader
// that is lapped by the ring gets tvbridge.ErrTooSlow instead of silently
// losing trades; a reader that is merely behind skips quotes that a newer
// quote of the same symbol already supersedes ("latest wins" for quotes).
//
// Memory: the ring holds Capacity entries. Encoded lines are packed into
// append-only chunks of lineChunk bytes that are never written again once a
// line is in them, so a reader may keep the Line slices it was given for as
// long as it likes; a chunk is freed by the garbage collector once no ring
// slot and no reader refers to it. This costs one small allocation per
// chunk (hundreds of lines) instead of a copy per line per reader, and it
// needs no reasoning about which reader still holds which slot.
package tape

import (
	"errors"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"

	"tvbridge"
)

// Defaults and sizes.
const (
	DefaultCapacity = 1 << 16
	lineChunk       = 64 << 10 // bytes per chunk of encoded lines
	slabSlots       = 32       // slots per allocation; a slab is freed once the ring has moved past all of them
)

// ErrClosed is returned by Next after the reader was closed.
var ErrClosed = errors.New("tape: reader closed")

// errNoRoom is returned by Next for a buffer without spare capacity: it could
// never receive an entry, so blocking would hang and returning nothing would
// make the caller spin.
var errNoRoom = errors.New("tape: Next needs a buffer with spare capacity")

// Config configures a Tape. The zero value is usable.
type Config struct {
	// Capacity is how many entries the ring retains; rounded up to a power
	// of two. Default DefaultCapacity.
	Capacity int
	// Encode encodes the /streaming line of a tick by appending to dst. It is
	// called once per tick, never concurrently. It appends nothing for a
	// tick that cannot be streamed; such ticks are dropped and counted.
	// nil means AppendLine.
	Encode func(dst []byte, t tvbridge.Tick) []byte
	// ConflateAfter is how many entries behind the end of the tape a reader
	// must be before it skips quotes superseded by a newer quote with the
	// same Symbol (the streamed id). 0 means Capacity/4; a negative value
	// disables skipping; values from Capacity up never take effect, because
	// such a reader has already been lapped.
	ConflateAfter int
}

// Stats describes the tape as a whole.
type Stats struct {
	LastSeq uint64 // newest sequence number
	Readers int    // open readers
	Dropped uint64 // ticks the encoder could not encode
	// Conflated counts quotes skipped by readers that were behind, because
	// a newer quote of the same symbol was already on the tape, summed over
	// every reader ever opened.
	Conflated uint64
}

// Tape is the in-process tvbridge.Tape. It is safe for concurrent use.
type Tape struct {
	encode        func(dst []byte, t tvbridge.Tick) []byte
	mask          uint64 // capacity-1
	conflateAfter uint64 // 0 when conflation is disabled

	// appendMu serialises producers. It guards the encoding state below and
	// the producer's side of publication; readers never take it.
	appendMu sync.Mutex
	scratch  []byte               // reused encoder output
	chunk    []byte               // current line chunk; bytes before len are immutable
	pending  []tvbridge.TapeEntry // encoded entries waiting to be published
	slab     []slot               // unused slots, allocated slabSlots at a time
	dropped  atomic.Uint64

	conflated atomic.Uint64 // see Stats.Conflated; added to only when a reader skips

	// What readers see. The single producer holding appendMu stores each
	// entry as an immutable slot, then advances last; readers take no lock
	// at all. With a lock, a reader descheduled while copying stalled the
	// producer, and every /streaming line behind it (the 104-connection
	// tail was such stalls, not work).
	ring        []atomic.Pointer[slot]
	latestQuote map[string]*slot              // symbol -> its newest quote; under appendMu
	wake        atomic.Pointer[chan struct{}] // closed and replaced when entries arrive
	last        atomic.Uint64                 // newest published Seq
	waiting     atomic.Bool                   // a reader is about to wait on wake

	readers atomic.Int64
}

var _ tvbridge.Tape = (*Tape)(nil)

// New returns an empty tape.
func New(cfg Config) *Tape {
	capacity := uint64(DefaultCapacity)
	if cfg.Capacity > 0 {
		capacity = ceilPow2(uint64(cfg.Capacity))
	}
	encode := cfg.Encode
	if encode == nil {
		encode = AppendLine
	}
	t := &Tape{
		encode:      encode,
		mask:        capacity - 1,
		ring:        make([]atomic.Pointer[slot], capacity),
		latestQuote: make(map[string]*slot),
	}
	wake := make(chan struct{})
	t.wake.Store(&wake)
	switch {
	case cfg.ConflateAfter == 0:
		t.conflateAfter = max(capacity/4, 1)
	case cfg.ConflateAfter > 0:
		t.conflateAfter = uint64(cfg.ConflateAfter)
	}
	return t
}

func ceilPow2(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len64(n-1)
}

// Capacity is the number of entries the ring retains.
func (t *Tape) Capacity() int { return int(t.mask + 1) }

// LastSeq is the sequence number of the newest entry (0 when empty).
func (t *Tape) LastSeq() uint64 { return t.last.Load() }

// Stats returns counters for metrics.
func (t *Tape) Stats() Stats {
	return Stats{
		LastSeq:   t.last.Load(),
		Readers:   int(t.readers.Load()),
		Dropped:   t.dropped.Load(),
		Conflated: t.conflated.Load(),
	}
}

// Append encodes the ticks, gives them consecutive sequence numbers and
// wakes waiting readers. The ticks of one call are contiguous on the tape
// even with several producers.
func (t *Tape) Append(ticks ...tvbridge.Tick) {
	t.appendMu.Lock()
	defer t.appendMu.Unlock()

	t.pending = t.pending[:0]
	for _, tick := range ticks {
		line, ok := t.encodeLine(tick)
		if !ok {
			t.dropped.Add(1)
			slog.Warn("tape: dropping a tick that cannot be encoded",
				"kind", tick.Kind, "figi", tick.FIGI, "symbol", tick.Symbol)
			continue
		}
		t.pending = append(t.pending, tvbridge.TapeEntry{Tick: tick, Line: line})
	}
	if len(t.pending) > 0 {
		t.publish(t.pending)
	}
	clear(t.pending) // drop references to lines and strings
}

// encodeLine encodes tick and stores the line in the current chunk. The
// returned slice has no spare capacity, so a reader appending to it cannot
// overwrite the next line.
func (t *Tape) encodeLine(tick tvbridge.Tick) ([]byte, bool) {
	t.scratch = t.encode(t.scratch[:0], tick)
	n := len(t.scratch)
	if n == 0 {
		return nil, false
	}
	if cap(t.chunk)-len(t.chunk) < n {
		t.chunk = make([]byte, 0, max(lineChunk, n))
	}
	start := len(t.chunk)
	t.chunk = append(t.chunk, t.scratch...)
	return t.chunk[start : start+n : start+n], true
}

// slot is one published entry. Only supersededBy changes after publication.
type slot struct {
	entry        tvbridge.TapeEntry
	supersededBy atomic.Uint64 // Seq of the next quote of the same symbol; 0 while none
}

// publish assigns sequence numbers to entries, stores them in the ring and
// wakes readers. Callers hold appendMu, so there is one publisher at a time.
//
// Ordering is what makes this safe without a lock: a slot is complete
// before its pointer is stored, and last moves only after the pointers, so
// a reader that sees last also sees every slot up to it. A reader that
// finds a slot holding a later Seq than it asked for has been lapped.
func (t *Tape) publish(entries []tvbridge.TapeEntry) {
	seq := t.last.Load()
	for i := range entries {
		seq++
		if len(t.slab) == 0 {
			t.slab = make([]slot, slabSlots)
		}
		s := &t.slab[0]
		t.slab = t.slab[1:]
		s.entry = entries[i]
		s.entry.Seq = seq
		t.ring[seq&t.mask].Store(s)
		if s.entry.Tick.Kind == tvbridge.TickQuote {
			if prev := t.latestQuote[s.entry.Tick.Symbol]; prev != nil {
				prev.supersededBy.Store(seq)
			}
			t.latestQuote[s.entry.Tick.Symbol] = s
		}
		if seq&t.mask == 0 {
			t.pruneQuotes(seq)
		}
	}
	t.last.Store(seq)
	// A reader sets waiting before it checks last one final time, so
	// either it sees this Seq or this Swap sees its flag.
	if t.waiting.Swap(false) {
		next := make(chan struct{})
		close(*t.wake.Swap(&next))
	}
}

// pruneQuotes forgets symbols whose newest quote has left the ring: such a
// quote supersedes nothing a reader can still see. Run once per lap, it keeps
// the map bounded by the symbols seen in the last two laps. Callers hold
// appendMu.
func (t *Tape) pruneQuotes(seq uint64) {
	capacity := t.mask + 1
	if seq < capacity {
		return
	}
	for sym, s := range t.latestQuote {
		if s.entry.Seq <= seq-capacity {
			delete(t.latestQuote, sym)
		}
	}
}

// Subscribe returns a reader positioned at the live end of the tape.
func (t *Tape) Subscribe() tvbridge.TapeReader { return t.NewReader() }

// NewReader is Subscribe with the concrete type, for callers that want
// reader Stats.
func (t *Tape) NewReader() *Reader {
	t.readers.Add(1)
	r := &Reader{tape: t, closed: make(chan struct{})}
	r.cursor.Store(t.last.Load())
	return r
}
