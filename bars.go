package tvbridge

import (
	"context"
	"errors"
	"time"
)

// Bar is an OHLCV bar. Time is the bar's start for intraday bars, and
// 00:00 UTC of the trading day for daily bars.
type Bar struct {
	Time   time.Time
	Open   float64
	High   float64
	Low    float64
	Close  float64
	Volume float64
}

// TickKind is the kind of a tick on the tape; each maps to one TradingView
// /streaming message type.
type TickKind uint8

// Tick kinds.
const (
	TickTrade TickKind = iota + 1 // "t"
	TickQuote                     // "q"
	TickDaily                     // "d"
)

// Tick is one market event as TradingView receives it. Time is whole Unix
// seconds; it never goes backwards per instrument and kind, and is never in
// the future.
type Tick struct {
	Kind   TickKind
	FIGI   string
	Symbol string // TradingView id: the symbol's ticker, or its name
	Time   time.Time

	Price, Size float64 // TickTrade

	Bid, BidSize, Ask, AskSize float64 // TickQuote

	Bar Bar // TickDaily: the trading day's bar so far

	// Received is when the upstream frame that caused this tick was read;
	// it is not streamed, it measures latency.
	Received time.Time
}

// TapeEntry is a tick with its sequence number on the tape and its encoded
// /streaming line (JSON object plus "\n"), encoded once for every connection.
type TapeEntry struct {
	Seq  uint64
	Tick Tick
	Line []byte
}

// Tape is the one ordered, sequence-numbered stream of ticks that every
// /streaming connection reads. The in-process implementation can later be
// replaced by a distributed log without touching producers or readers.
type Tape interface {
	// Append assigns consecutive sequence numbers and publishes the ticks.
	// A tick that cannot be encoded (NaN, unknown kind) is dropped and logged
	// before it gets a number, so the sequence has no holes.
	Append(ticks ...Tick)
	// Subscribe returns a reader positioned at the live end of the tape.
	Subscribe() TapeReader
	// LastSeq is the sequence number of the newest entry (0 when empty).
	LastSeq() uint64
}

// TapeReader reads the tape in order from where it was created.
type TapeReader interface {
	// Next blocks until entries are available or ctx is done, then appends
	// up to cap(buf)-len(buf) of them to buf (a buf with no spare capacity is
	// an error). It returns ErrTooSlow, on this and every later call, once the
	// reader has fallen so far behind that trades would be lost. Entry lines
	// are read-only and stay valid for as long as they are referenced.
	Next(ctx context.Context, buf []TapeEntry) ([]TapeEntry, error)
	// Poll is Next without waiting: with nothing to read it returns a
	// channel that is closed once entries may have arrived.
	Poll(buf []TapeEntry) ([]TapeEntry, <-chan struct{}, error)
	Close()
}

// ErrTooSlow is returned to a tape reader that can no longer keep up.
var ErrTooSlow = errors.New("tape reader too slow: fell behind the retained window")

// Range is a half-open time range [From, To).
type Range struct {
	From, To time.Time
}

// BarStore durably keeps closed bars per instrument. Closed bars are
// immutable: writing a bar for a time that already has one keeps the stored
// bar and reports it as a conflict.
type BarStore interface {
	// PutMinutes stores closed 1-minute bars (any order) and marks the
	// minutes of covered as complete, atomically and durably: when it
	// returns nil the data survives a kill -9. covered may be empty.
	// It returns how many bars conflicted with already stored ones.
	PutMinutes(ctx context.Context, figi string, bars []Bar, covered []Range) (conflicts int, err error)
	// Minutes returns the stored 1-minute bars with from <= Time < to, ascending.
	Minutes(ctx context.Context, figi string, from, to time.Time) ([]Bar, error)
	// PutDaily stores the bars of closed trading days.
	PutDaily(ctx context.Context, figi string, bars []Bar) (conflicts int, err error)
	// Daily returns stored daily bars with from <= Time < to, ascending.
	Daily(ctx context.Context, figi string, from, to time.Time) ([]Bar, error)
	// Covered returns the parts of [from, to) known to be complete
	// (streamed live or backfilled), merged and ascending.
	Covered(ctx context.Context, figi string, from, to time.Time) ([]Range, error)
	// FirstBar is the watermark: the time of the instrument's first bar ever
	// (not just the first stored). ok is false when it is not known yet.
	FirstBar(ctx context.Context, figi string) (t time.Time, ok bool, err error)
	SetFirstBar(ctx context.Context, figi string, t time.Time) error
	Close() error
}
