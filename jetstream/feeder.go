package jetstream

import (
	"sort"
	"sync"
	"time"

	"tvbridge"
)

// TapeFeeder applies followed batches to a local tape: the ticks of each
// message go to Tape.Append in one call, as the ingester's bar engine
// passed them to its own sink. The in-process tape numbers entries
// deterministically (consecutive numbers for the encodable ticks, in order),
// so two nodes that follow the same stream range into empty tapes hold the
// same entries under the same numbers and the same /streaming lines. A node
// that started later numbers differently, which /streaming never shows: its
// lines are the same.
type TapeFeeder struct {
	Tape tvbridge.Tape
	// Next, when set, is called after the tape with every batch (for
	// example HotMinutes.Apply); its error is returned.
	Next func(Batch) error
	// Positions, when set, records which local entries each message's
	// ticks became. Nothing else may append to Tape then.
	Positions *Positions
}

// Apply is a FollowerOptions.Apply.
func (f *TapeFeeder) Apply(b Batch) error {
	if len(b.Ticks) > 0 {
		f.append(b)
	}
	if f.Next != nil {
		return f.Next(b)
	}
	return nil
}

// append puts b's ticks on the tape. With Positions it holds the index's
// lock across the append, so that an entry a reader already sees always has
// its position recorded by the time the reader asks for it.
func (f *TapeFeeder) append(b Batch) {
	p := f.Positions
	if p == nil {
		f.Tape.Append(b.Ticks...)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	before := f.Tape.LastSeq()
	f.Tape.Append(b.Ticks...)
	p.add(b.Seq, len(b.Ticks), before+1, f.Tape.LastSeq())
}

// DefaultKeepClosed is how many closed minutes per instrument HotMinutes
// keeps by default: enough to cover the ingester's flush interval to the
// bar store many times over.
const DefaultKeepClosed = 30

// HotMinutes is the hot state a node rebuilds from the stream for /history:
// each instrument's open minute, its recently closed minutes (which the
// ingester may not have written to the bar store yet) and its current
// trading day's bar. It is safe for concurrent use: Apply runs on the
// follower's goroutine while HTTP handlers read.
type HotMinutes struct {
	// KeepClosed is how many closed minutes per instrument are kept;
	// default DefaultKeepClosed.
	KeepClosed int

	mu     sync.RWMutex
	open   map[string]tvbridge.Bar
	closed map[string][]tvbridge.Bar // ascending
	daily  map[string]tvbridge.Bar
	// Conflicts counts final minutes that arrived for a minute already
	// closed with a different bar (the first one is kept: closed bars
	// never change).
	conflicts int
}

// Apply records the minute updates and the daily bars of b.
func (h *HotMinutes) Apply(b Batch) error {
	if len(b.Minutes) == 0 && !hasDaily(b.Ticks) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open == nil {
		h.open = make(map[string]tvbridge.Bar)
		h.closed = make(map[string][]tvbridge.Bar)
		h.daily = make(map[string]tvbridge.Bar)
	}
	keep := h.KeepClosed
	if keep <= 0 {
		keep = DefaultKeepClosed
	}
	for _, m := range b.Minutes {
		if !m.Final {
			if cur, ok := h.open[m.FIGI]; !ok || !m.Bar.Time.Before(cur.Time) {
				h.open[m.FIGI] = m.Bar
			}
			continue
		}
		if cur, ok := h.open[m.FIGI]; ok && !cur.Time.After(m.Bar.Time) {
			delete(h.open, m.FIGI)
		}
		bars := h.closed[m.FIGI]
		i := sort.Search(len(bars), func(i int) bool { return !bars[i].Time.Before(m.Bar.Time) })
		if i < len(bars) && bars[i].Time.Equal(m.Bar.Time) {
			if !sameBar(bars[i], m.Bar) {
				h.conflicts++
			}
			continue
		}
		bars = append(bars, tvbridge.Bar{})
		copy(bars[i+1:], bars[i:])
		bars[i] = m.Bar
		if len(bars) > keep {
			bars = append(bars[:0], bars[len(bars)-keep:]...)
		}
		h.closed[m.FIGI] = bars
	}
	for i := range b.Ticks {
		t := &b.Ticks[i]
		if t.Kind != tvbridge.TickDaily {
			continue
		}
		if cur, ok := h.daily[t.FIGI]; !ok || !t.Bar.Time.Before(cur.Time) {
			h.daily[t.FIGI] = t.Bar
		}
	}
	return nil
}

func hasDaily(ticks []tvbridge.Tick) bool {
	for i := range ticks {
		if ticks[i].Kind == tvbridge.TickDaily {
			return true
		}
	}
	return false
}

// OpenMinute returns the instrument's forming minute as streamed so far,
// like bars.Engine.OpenMinute on the ingester.
func (h *HotMinutes) OpenMinute(figi string) (tvbridge.Bar, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	b, ok := h.open[figi]
	return b, ok && b.Volume > 0
}

// Closed returns the kept closed minutes with from <= Time < to, ascending.
func (h *HotMinutes) Closed(figi string, from, to time.Time) []tvbridge.Bar {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []tvbridge.Bar
	for _, b := range h.closed[figi] {
		if !b.Time.Before(from) && b.Time.Before(to) {
			out = append(out, b)
		}
	}
	return out
}

// Daily returns the bar of the newest trading day streamed for figi.
func (h *HotMinutes) Daily(figi string) (tvbridge.Bar, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	b, ok := h.daily[figi]
	return b, ok
}

// Conflicts counts final minutes that contradicted an already closed one.
func (h *HotMinutes) Conflicts() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.conflicts
}

func sameBar(a, b tvbridge.Bar) bool {
	return a.Time.Equal(b.Time) && a.Open == b.Open && a.High == b.High && a.Low == b.Low &&
		a.Close == b.Close && a.Volume == b.Volume
}
