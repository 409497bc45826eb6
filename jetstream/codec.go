package jetstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"tvbridge"
)

// MinuteUpdate is the hot state of one instrument's 1-minute bar as the
// ingester's bar engine sees it: the open minute as streamed so far (Final
// false), or a minute that just closed (Final true; the bar the ingester
// stores, which never changes afterwards).
type MinuteUpdate struct {
	FIGI  string
	Bar   tvbridge.Bar
	Final bool
}

// Control is an extensible message kind for things that are not market
// data (status, instrument changes, markers). Kind names it (a subject
// token: letters, digits, '-' and '_'); Data is opaque to this package.
type Control struct {
	Kind string
	Data []byte
}

// Batch is one message of the log as a follower receives it: what one
// Publish (or PublishControl) call put on the stream.
type Batch struct {
	Seq       uint64    // stream sequence number
	Epoch     uint64    // publisher's leader epoch (fencing token)
	Node      string    // publisher's node id
	Published time.Time // when the server stored the message

	Ticks   []tvbridge.Tick // in tape order, as one Tape.Append call
	Minutes []MinuteUpdate
	Control *Control
}

// formatVersion is the first byte of every payload. A decoder refuses any
// other version, so a rolling upgrade that changes the format must bump it.
const formatVersion = 1

// ErrFormat is returned for a payload this version cannot decode.
var ErrFormat = errors.New("jetstream: undecodable message")

// Payload layout (version 1), all integers varints unless noted:
//
//	version         byte (1)
//	strings         count, then each: length, bytes   -- FIGIs and symbols, each once per message
//	ticks           count, then each:
//	    kind        byte
//	    figi, sym   string-table indexes
//	    time        unix seconds (signed), nanoseconds
//	    received    unix nanoseconds (signed; 0 = zero time)
//	    trade:  price, size                      float64 little-endian
//	    quote:  bid, bid size, ask, ask size     float64 little-endian
//	    daily:  bar time (seconds, nanos), o h l c v float64 little-endian
//	minutes         count, then each: figi index, bar time (seconds, nanos), o h l c v, final byte
//	control         byte 0, or 1 then kind (length, bytes) and data (length, bytes)
//
// Floats are stored exactly (8 bytes): the follower must rebuild the very
// same /streaming lines and bars, so nothing may be rounded.

// encoder encodes batches, reusing its buffers; not safe for concurrent use.
type encoder struct {
	buf     []byte
	strs    map[string]uint64
	strList []string
}

func (e *encoder) intern(s string) uint64 {
	if i, ok := e.strs[s]; ok {
		return i
	}
	i := uint64(len(e.strList))
	e.strs[s] = i
	e.strList = append(e.strList, s)
	return i
}

// encode returns the payload of a message holding ticks, minutes and c.
// The result is valid until the next call.
func (e *encoder) encode(ticks []tvbridge.Tick, minutes []MinuteUpdate, c *Control) []byte {
	if e.strs == nil {
		e.strs = make(map[string]uint64)
	}
	clear(e.strs)
	e.strList = e.strList[:0]
	for i := range ticks {
		e.intern(ticks[i].FIGI)
		e.intern(ticks[i].Symbol)
	}
	for i := range minutes {
		e.intern(minutes[i].FIGI)
	}

	b := append(e.buf[:0], formatVersion)
	b = binary.AppendUvarint(b, uint64(len(e.strList)))
	for _, s := range e.strList {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(ticks)))
	for i := range ticks {
		t := &ticks[i]
		b = append(b, byte(t.Kind))
		b = binary.AppendUvarint(b, e.strs[t.FIGI])
		b = binary.AppendUvarint(b, e.strs[t.Symbol])
		b = appendTime(b, t.Time)
		var recv int64
		if !t.Received.IsZero() {
			recv = t.Received.UnixNano()
		}
		b = binary.AppendVarint(b, recv)
		switch t.Kind {
		case tvbridge.TickTrade:
			b = appendFloats(b, t.Price, t.Size)
		case tvbridge.TickQuote:
			b = appendFloats(b, t.Bid, t.BidSize, t.Ask, t.AskSize)
		case tvbridge.TickDaily:
			b = appendBar(b, t.Bar)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(minutes)))
	for i := range minutes {
		m := &minutes[i]
		b = binary.AppendUvarint(b, e.strs[m.FIGI])
		b = appendBar(b, m.Bar)
		if m.Final {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	if c == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(c.Kind)))
		b = append(b, c.Kind...)
		b = binary.AppendUvarint(b, uint64(len(c.Data)))
		b = append(b, c.Data...)
	}
	e.buf = b
	clear(e.strs) // drop string references
	clear(e.strList)
	return b
}

// appendTime writes t as signed Unix seconds and nanoseconds. The zero time
// round-trips to the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendUvarint(append(b, 0), zeroNanos) // seconds 0, impossible nanos: "zero"
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

const zeroNanos = 1<<32 - 1

func appendFloats(b []byte, xs ...float64) []byte {
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func appendBar(b []byte, bar tvbridge.Bar) []byte {
	b = appendTime(b, bar.Time)
	return appendFloats(b, bar.Open, bar.High, bar.Low, bar.Close, bar.Volume)
}

// decoder decodes payloads. It interns strings across messages, so the
// FIGIs and symbols of a long stream cost one allocation each, not one per
// message; not safe for concurrent use.
type decoder struct {
	strs  map[string]string
	table []string
	ticks []tvbridge.Tick
	mins  []MinuteUpdate
}

// maxInterned bounds the intern map; past it the map starts over.
const maxInterned = 1 << 16

func (d *decoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if d.strs == nil || len(d.strs) >= maxInterned {
		d.strs = make(map[string]string)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// reader is a cursor over a payload; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or corrupt %s", ErrFormat, what)
	}
	r.b = nil
}

func (r *reader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte(what string) byte {
	if len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) float(what string) float64 {
	if len(r.b) < 8 {
		r.fail(what)
		return 0
	}
	x := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return x
}

func (r *reader) time(what string) time.Time {
	sec := r.varint(what)
	nsec := r.uvarint(what)
	if nsec == zeroNanos && sec == 0 {
		return time.Time{}
	}
	if nsec >= 1e9 {
		r.fail(what)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *reader) bar(what string) tvbridge.Bar {
	return tvbridge.Bar{
		Time:   r.time(what),
		Open:   r.float(what),
		High:   r.float(what),
		Low:    r.float(what),
		Close:  r.float(what),
		Volume: r.float(what),
	}
}

func (r *reader) str(d *decoder, what string) string {
	i := r.uvarint(what)
	if i >= uint64(len(d.table)) {
		r.fail(what)
		return ""
	}
	return d.table[i]
}

// decode fills b.Ticks, b.Minutes and b.Control from payload. The slices
// are reused by the next call.
func (d *decoder) decode(payload []byte, b *Batch) error {
	r := reader{b: payload}
	if v := r.byte("version"); r.err == nil && v != formatVersion {
		return fmt.Errorf("%w: format version %d, this build reads %d", ErrFormat, v, formatVersion)
	}
	n := r.uvarint("string count")
	if n > uint64(len(r.b)) { // every string takes at least one byte
		r.fail("string count")
	}
	d.table = d.table[:0]
	for i := uint64(0); i < n && r.err == nil; i++ {
		d.table = append(d.table, d.intern(r.bytes("string")))
	}
	n = r.uvarint("tick count")
	if n > uint64(len(r.b)) {
		r.fail("tick count")
	}
	d.ticks = d.ticks[:0]
	for i := uint64(0); i < n && r.err == nil; i++ {
		var t tvbridge.Tick
		t.Kind = tvbridge.TickKind(r.byte("tick kind"))
		t.FIGI = r.str(d, "tick figi")
		t.Symbol = r.str(d, "tick symbol")
		t.Time = r.time("tick time")
		if recv := r.varint("tick received"); recv != 0 {
			t.Received = time.Unix(0, recv)
		}
		switch t.Kind {
		case tvbridge.TickTrade:
			t.Price, t.Size = r.float("price"), r.float("size")
		case tvbridge.TickQuote:
			t.Bid, t.BidSize = r.float("bid"), r.float("bid size")
			t.Ask, t.AskSize = r.float("ask"), r.float("ask size")
		case tvbridge.TickDaily:
			t.Bar = r.bar("daily bar")
		}
		d.ticks = append(d.ticks, t)
	}
	n = r.uvarint("minute count")
	if n > uint64(len(r.b)) {
		r.fail("minute count")
	}
	d.mins = d.mins[:0]
	for i := uint64(0); i < n && r.err == nil; i++ {
		var m MinuteUpdate
		m.FIGI = r.str(d, "minute figi")
		m.Bar = r.bar("minute bar")
		m.Final = r.byte("minute final") == 1
		d.mins = append(d.mins, m)
	}
	b.Control = nil
	if r.byte("control flag") == 1 {
		kind := r.bytes("control kind")
		data := r.bytes("control data")
		if r.err == nil {
			b.Control = &Control{Kind: string(kind), Data: append([]byte(nil), data...)}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailer")
	}
	if r.err != nil {
		return r.err
	}
	b.Ticks, b.Minutes = d.ticks, d.mins
	if len(b.Ticks) == 0 {
		b.Ticks = nil
	}
	if len(b.Minutes) == 0 {
		b.Minutes = nil
	}
	return nil
}
