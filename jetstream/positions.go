package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tvbridge"
)

// A position names one tick of the stream the same way on every node: the
// stream sequence of its message in the high bits, its index in the
// message's ticks in the low PositionBits. A node's local tape numbers its
// entries its own way (from wherever it started following), so positions
// are what nodes can agree on: the trading owner records how far along the
// stream it evaluated held orders, and its successor replays the trades
// after that (tvbridge/trading, cluster mode).
const PositionBits = 24

// Position is the position of tick i of the message at stream sequence seq.
func Position(seq uint64, i int) uint64 { return seq<<PositionBits | uint64(i) }

// PositionSeq is the stream sequence of the message holding position pos.
func PositionSeq(pos uint64) uint64 { return pos >> PositionBits }

// DefaultPositionBatches is how many messages a Positions index remembers
// by default: at least as many as a default tape (64 Ki entries) can hold,
// since every message with ticks adds an entry or more.
const DefaultPositionBatches = 1 << 16

// Positions maps the local tape's entry numbers to stream positions for the
// recent messages a TapeFeeder applied. Safe for concurrent use.
type Positions struct {
	// Keep is how many messages it remembers; default
	// DefaultPositionBatches.
	Keep int

	mu      sync.RWMutex
	batches []fedBatch // ascending by first
	inexact uint64     // messages whose ticks the tape did not all number
}

// fedBatch is one message's ticks on the local tape: entries first..last.
// exact is false when the tape dropped some of the message's ticks (it
// numbers only encodable ones), so which entry is which tick is unknown.
type fedBatch struct {
	seq         uint64
	first, last uint64
	exact       bool
}

// add records that the message at stream sequence seq with n ticks became
// local entries first..last. Called with mu held (by TapeFeeder.Apply).
func (p *Positions) add(seq uint64, n int, first, last uint64) {
	if last < first {
		return // nothing numbered
	}
	exact := last-first+1 == uint64(n) && n <= 1<<PositionBits
	if !exact {
		p.inexact++
	}
	keep := p.Keep
	if keep <= 0 {
		keep = DefaultPositionBatches
	}
	if len(p.batches) >= keep {
		// Drop the oldest half at once, so adding stays cheap on average.
		drop := len(p.batches) - keep/2
		p.batches = append(p.batches[:0], p.batches[drop:]...)
	}
	p.batches = append(p.batches, fedBatch{seq: seq, first: first, last: last, exact: exact})
}

// Of returns the stream position of the local tape entry seq; false when
// the entry is older than what the index remembers, was not fed from the
// stream, or belongs to a message whose ticks the tape did not all number.
func (p *Positions) Of(seq uint64) (uint64, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	i := sort.Search(len(p.batches), func(i int) bool { return p.batches[i].last >= seq })
	if i == len(p.batches) || p.batches[i].first > seq || !p.batches[i].exact {
		return 0, false
	}
	b := p.batches[i]
	return Position(b.seq, int(seq-b.first)), true
}

// Inexact counts the messages whose ticks the local tape did not all
// number (unencodable ticks): their entries have no position.
func (p *Positions) Inexact() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.inexact
}

// ErrTradesLost is returned by Trades, after delivering what the stream
// still holds, when messages after the start position are gone from the
// stream (retention).
var ErrTradesLost = errors.New("jetstream: the stream no longer holds some of the messages to replay")

// Trades calls fn, in stream order, with every trade tick at a position
// after `after` and up to and including `through`. It reads the stream with
// its own ordered consumer and does not touch any tape. Messages of a
// lower epoch than one already seen (a fenced leader's) are skipped, as
// followers skip them.
func (l *Log) Trades(ctx context.Context, after, through uint64, fn func(pos uint64, t tvbridge.Tick)) error {
	if through <= after {
		return nil
	}
	start := max(PositionSeq(after), 1)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := l.stream.OrderedConsumer(cctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("jetstream: replaying trades: creating a consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("jetstream: replaying trades: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	var (
		dec       decoder
		b         Batch
		lost      bool
		highEpoch uint64
		first     = true
	)
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("jetstream: replaying trades: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("jetstream: replaying trades: message metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		if first && seq > start && after > 0 {
			lost = true
		}
		first = false
		if seq > PositionSeq(through) {
			break
		}
		if epoch := headerEpoch(msg.Headers()); epoch < highEpoch {
			continue
		} else {
			highEpoch = epoch
		}
		b = Batch{Seq: seq}
		if err := dec.decode(msg.Data(), &b); err != nil {
			return fmt.Errorf("jetstream: replaying trades: message %d: %w", seq, err)
		}
		for i, t := range b.Ticks {
			pos := Position(seq, i)
			if pos > after && pos <= through && t.Kind == tvbridge.TickTrade {
				fn(pos, t)
			}
		}
		if seq >= PositionSeq(through) {
			break
		}
	}
	if lost {
		return ErrTradesLost
	}
	return nil
}

// SharedTape is the log as a trading owner sees it (trading.SharedTape):
// the positions of the node's tape entries, the log's end, and its trades.
type SharedTape struct {
	Log       *Log
	Positions *Positions
}

// Position is Positions.Of.
func (s SharedTape) Position(seq uint64) (uint64, bool) { return s.Positions.Of(seq) }

// End is the last position the stream's last message can hold.
func (s SharedTape) End(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	last, err := s.Log.LastSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: reading the end of the stream: %w", err)
	}
	return Position(last+1, 0) - 1, nil
}

// Trades is Log.Trades, with ErrTradesLost as lost.
func (s SharedTape) Trades(ctx context.Context, after, through uint64, fn func(uint64, tvbridge.Tick)) (lost bool, err error) {
	err = s.Log.Trades(ctx, after, through, fn)
	if errors.Is(err, ErrTradesLost) {
		return true, nil
	}
	return false, err
}
