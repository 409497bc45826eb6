package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tvbridge"
	"tvbridge/bars"
	"tvbridge/jetstream"
)

// Publisher is the fenced tape publisher (jetstream.Publisher).
type Publisher interface {
	Publish(ctx context.Context, ticks []tvbridge.Tick, minutes []jetstream.MinuteUpdate) error
	PublishControl(ctx context.Context, c jetstream.Control) error
}

// Defaults of OutboxConfig.
const (
	DefaultOutboxCapacity = 1 << 16
	DefaultMaxBatchTicks  = 512
	DefaultMarketEvery    = 50 * time.Millisecond
)

// ErrOutboxFull is the cause an Outbox gives OnFail when its queue
// overflowed: the tape would have a hole, so the ingester must step down.
var ErrOutboxFull = errors.New("replica: tape publish queue full")

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	Publisher Publisher
	// Local is the node's own tape, which Subscribe and LastSeq read: the
	// Outbox is the ingester's tvbridge.Tape, but what the node serves is
	// its follower's tape, fed from the stream like every other node's.
	Local tvbridge.Tape
	// Market, when set, is published every MarketEvery when it changed.
	Market      *MarketRecorder
	MarketEvery time.Duration // default DefaultMarketEvery
	// Capacity is how many Append/MinutesClosed calls may wait for NATS;
	// default DefaultOutboxCapacity. Beyond it OnFail is called.
	Capacity int
	// MaxBatchTicks bounds the ticks coalesced into one message.
	MaxBatchTicks int
	// OnFail is called once, with ErrOutboxFull or an error wrapping
	// jetstream.ErrFenced, when the ingester must stop.
	OnFail func(error)
	Logger *slog.Logger
}

// Outbox is the ingester's tape: Append (on ingest's event loop) and
// MinutesClosed never block; a goroutine (Run) publishes what they queue,
// coalescing what waits into messages of up to MaxBatchTicks ticks, so a
// slow or absent NATS never stalls the upstream. When the queue is full the
// Outbox does not drop silently: it logs an error and calls OnFail, and
// the ingester steps down (another node, or this one later, takes over and
// backfills the bars; the ticks in between never reach /streaming).
type Outbox struct {
	cfg     OutboxConfig
	ch      chan item
	open    atomic.Pointer[func(string) (tvbridge.Bar, bool)]
	failed  atomic.Bool
	dropped atomic.Uint64
	once    sync.Once

	published atomic.Uint64 // messages
}

type item struct {
	ticks   []tvbridge.Tick
	minutes []jetstream.MinuteUpdate
}

// NewOutbox returns an Outbox; call Run.
func NewOutbox(cfg OutboxConfig) *Outbox {
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultOutboxCapacity
	}
	if cfg.MaxBatchTicks <= 0 {
		cfg.MaxBatchTicks = DefaultMaxBatchTicks
	}
	if cfg.MarketEvery <= 0 {
		cfg.MarketEvery = DefaultMarketEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Outbox{cfg: cfg, ch: make(chan item, cfg.Capacity)}
}

// SetOpenMinute sets the bar engine's OpenMinute, which Append reads to
// publish each touched instrument's forming minute with its ticks.
func (o *Outbox) SetOpenMinute(f func(figi string) (tvbridge.Bar, bool)) { o.open.Store(&f) }

// Append queues ticks, with the open minute of each instrument they touch.
// It is called by the bar engine without instrument locks held.
func (o *Outbox) Append(ticks ...tvbridge.Tick) {
	if len(ticks) == 0 {
		return
	}
	it := item{ticks: append([]tvbridge.Tick(nil), ticks...)}
	if f := o.open.Load(); f != nil {
		seen := map[string]bool{}
		for i := range ticks {
			figi := ticks[i].FIGI
			if seen[figi] {
				continue
			}
			seen[figi] = true
			if b, ok := (*f)(figi); ok {
				it.minutes = append(it.minutes, jetstream.MinuteUpdate{FIGI: figi, Bar: b})
			}
		}
	}
	o.put(it)
}

// MinutesClosed queues closed minutes (ingest.Config.MinutesClosed).
func (o *Outbox) MinutesClosed(figi string, closed []bars.Closed) {
	it := item{minutes: make([]jetstream.MinuteUpdate, len(closed))}
	for i, c := range closed {
		it.minutes[i] = jetstream.MinuteUpdate{FIGI: figi, Bar: c.Bar, Final: true}
	}
	o.put(it)
}

func (o *Outbox) put(it item) {
	if o.failed.Load() {
		o.dropped.Add(1)
		return
	}
	select {
	case o.ch <- it:
	default:
		o.dropped.Add(1)
		o.fail(fmt.Errorf("%w: %d entries waiting for NATS", ErrOutboxFull, cap(o.ch)))
	}
}

func (o *Outbox) fail(err error) {
	o.once.Do(func() {
		o.failed.Store(true)
		o.cfg.Logger.Error("ingester stops publishing the tape: stepping down", "err", err)
		if o.cfg.OnFail != nil {
			o.cfg.OnFail(err)
		}
	})
}

// Subscribe reads the node's local tape.
func (o *Outbox) Subscribe() tvbridge.TapeReader { return o.cfg.Local.Subscribe() }

// LastSeq is the node's local tape's.
func (o *Outbox) LastSeq() uint64 { return o.cfg.Local.LastSeq() }

// Queued is how many entries wait for NATS.
func (o *Outbox) Queued() int { return len(o.ch) }

// Dropped counts entries not queued because the Outbox had failed or was full.
func (o *Outbox) Dropped() uint64 { return o.dropped.Load() }

// Published counts messages stored on the stream.
func (o *Outbox) Published() uint64 { return o.published.Load() }

// Run publishes until ctx ends or publishing is fenced.
func (o *Outbox) Run(ctx context.Context) error {
	t := time.NewTicker(o.cfg.MarketEvery)
	defer t.Stop()
	var b item
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it := <-o.ch:
			b = o.coalesce(b, it)
			if err := o.publish(ctx, b.ticks, b.minutes); err != nil {
				return err
			}
			b = item{ticks: b.ticks[:0], minutes: b.minutes[:0]}
		case <-t.C:
			if err := o.publishMarket(ctx); err != nil {
				return err
			}
		}
	}
}

// coalesce appends it and whatever else waits, up to MaxBatchTicks ticks.
func (o *Outbox) coalesce(b, it item) item {
	b.ticks, b.minutes = append(b.ticks, it.ticks...), append(b.minutes, it.minutes...)
	for len(b.ticks) < o.cfg.MaxBatchTicks {
		select {
		case it := <-o.ch:
			b.ticks, b.minutes = append(b.ticks, it.ticks...), append(b.minutes, it.minutes...)
		default:
			return b
		}
	}
	return b
}

func (o *Outbox) publish(ctx context.Context, ticks []tvbridge.Tick, minutes []jetstream.MinuteUpdate) error {
	err := o.cfg.Publisher.Publish(ctx, ticks, minutes)
	return o.settle(ctx, err)
}

func (o *Outbox) publishMarket(ctx context.Context) error {
	if o.cfg.Market == nil {
		return nil
	}
	data, err := o.cfg.Market.Take()
	if err != nil || data == nil {
		return err
	}
	return o.settle(ctx, o.cfg.Publisher.PublishControl(ctx, jetstream.Control{Kind: ControlMarket, Data: data}))
}

// settle counts a stored message, or turns a fenced one into OnFail.
func (o *Outbox) settle(ctx context.Context, err error) error {
	switch {
	case err == nil:
		o.published.Add(1)
		return nil
	case errors.Is(err, jetstream.ErrFenced):
		o.fail(err)
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("replica: publish: %w", err)
}
