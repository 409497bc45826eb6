package admin

import (
	"context"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// LogRing is a slog.Handler that passes every record on to the next
// handler and keeps the last records at slog.LevelWarn and above for the
// console's /api/status. It is safe for concurrent use; records below
// Warn cost one comparison more than the next handler alone.
//
// Put it in front of the process's handler:
//
//	ring := admin.NewLogRing(slog.NewTextHandler(os.Stderr, nil), 100)
//	log := slog.New(ring)
//
// Handlers derived with WithAttrs and WithGroup share the ring.
type LogRing struct {
	next   slog.Handler
	ring   *ring
	attrs  []Attr // from WithAttrs, keys qualified by their groups
	prefix string // the open groups, "g1.g2."
}

// DefaultLogRingSize is the records a LogRing keeps when asked for 0.
const DefaultLogRingSize = 100

// Bounds of one kept record: a runaway message or attribute must not make
// /api/status megabytes long.
const (
	maxEntryText  = 1024
	maxEntryAttrs = 32
)

// NewLogRing returns a LogRing that keeps the last n warnings and errors
// (DefaultLogRingSize when n <= 0) and passes every record to next.
func NewLogRing(next slog.Handler, n int) *LogRing {
	if n <= 0 {
		n = DefaultLogRingSize
	}
	return &LogRing{next: next, ring: &ring{buf: make([]LogEntry, n)}}
}

// Enabled reports whether the next handler wants the level, or whether
// the ring does (Warn and above).
func (h *LogRing) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

// Handle keeps r when it is a warning or an error and passes it on when
// the next handler is enabled for its level.
func (h *LogRing) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.ring.add(h.entry(r))
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler whose records carry attrs, on the same ring.
func (h *LogRing) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = h.attrs[:len(h.attrs):len(h.attrs)] // append copies
	for _, a := range attrs {
		c.attrs = appendAttr(c.attrs, h.prefix, a)
	}
	return &c
}

// WithGroup returns a handler that qualifies later attributes with name,
// on the same ring.
func (h *LogRing) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// Entries returns the kept records, oldest first.
func (h *LogRing) Entries() []LogEntry { return h.ring.entries() }

func (h *LogRing) entry(r slog.Record) LogEntry {
	e := LogEntry{Time: r.Time, Level: r.Level.String(), Message: clip(r.Message)}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Attrs = append(make([]Attr, 0, len(h.attrs)+r.NumAttrs()), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		e.Attrs = appendAttr(e.Attrs, h.prefix, a)
		return len(e.Attrs) < maxEntryAttrs
	})
	if len(e.Attrs) > maxEntryAttrs {
		e.Attrs = e.Attrs[:maxEntryAttrs]
	}
	return e
}

// appendAttr appends a, its groups flattened into dotted keys as slog's
// text handler writes them; empty attributes are left out as slog does.
func appendAttr(dst []Attr, prefix string, a slog.Attr) []Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range v.Group() {
			dst = appendAttr(dst, prefix, g)
		}
		return dst
	}
	if a.Key == "" && v.Any() == nil {
		return dst
	}
	return append(dst, Attr{Key: prefix + a.Key, Value: clip(v.String())})
}

// clip cuts s to maxEntryText bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxEntryText {
		return s
	}
	cut := maxEntryText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ring is a fixed-size buffer of the latest entries.
type ring struct {
	mu   sync.Mutex
	buf  []LogEntry
	next int  // where the next entry goes
	full bool // buf has wrapped
}

func (r *ring) add(e LogEntry) {
	r.mu.Lock()
	r.buf[r.next] = e
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *ring) entries() []LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]LogEntry(nil), r.buf[:r.next]...)
	}
	out := make([]LogEntry, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
