package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of FollowerOptions.
const (
	DefaultReadyLag      = 100
	DefaultCheckInterval = 250 * time.Millisecond
)

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	// Where to start. With StartAfter > 0 the follower resumes after that
	// stream sequence (the LastApplied of a previous run). Otherwise, with
	// StartTime set, it starts at the first message stored at or after
	// StartTime (a node starting fresh passes the start of the current
	// trading day, so it rebuilds today's hot state; see README.md).
	// Otherwise it starts at the earliest message the stream retains.
	StartAfter uint64
	StartTime  time.Time
	// MinEpoch drops messages from epochs below it from the start (the
	// HighestEpoch of a previous run, with StartAfter).
	MinEpoch uint64
	// ReadyLag is how many messages behind the stream's end the follower
	// may be and still report Ready; default DefaultReadyLag.
	ReadyLag uint64
	// CheckInterval is how often the follower asks the stream for its last
	// sequence (Lag and Ready need it when no message arrives); default
	// DefaultCheckInterval. Ready turns false when no answer came for
	// 4 intervals (and at least 2 seconds).
	CheckInterval time.Duration
	// Apply is called for every message in stream order, on the goroutine
	// running Run. Its Batch and the slices in it are reused afterwards: keep
	// copies (tape.Append and HotMinutes.Apply copy what they keep). An
	// error stops Run, which returns it.
	Apply func(Batch) error
	// Logger; default the Log's.
	Logger *slog.Logger
}

// FollowerStats are a follower's counters.
type FollowerStats struct {
	LastApplied  uint64 // stream sequence of the last message handled (applied or dropped)
	StreamLast   uint64 // the stream's last sequence as last seen
	HighestEpoch uint64 // highest epoch applied
	Applied      uint64 // messages applied
	Ticks        uint64 // ticks in applied messages
	Stale        uint64 // messages dropped because their epoch was below HighestEpoch
	Lost         uint64 // sequence numbers skipped: messages gone from the stream before they were read
	Resets       uint64 // times the consumer was recreated after an error
}

// Follower applies the stream in order. Create it with Log.NewFollower and
// call Run once.
type Follower struct {
	l    *Log
	opts FollowerOptions
	log  *slog.Logger

	running      atomic.Bool
	lastApplied  atomic.Uint64
	streamLast   atomic.Uint64
	checkedAt    atomic.Int64 // unix nanos of the last successful stream check
	highestEpoch atomic.Uint64
	applied      atomic.Uint64
	ticks        atomic.Uint64
	stale        atomic.Uint64
	lost         atomic.Uint64
	resets       atomic.Uint64
	reset        atomic.Bool // the stream's last sequence went below LastApplied

	// Before the first message is handled, LastApplied says nothing about
	// where the consumer starts (a start time, retention, a stream whose
	// messages all aged out), so Lag comes from the consumer instead.
	handled   atomic.Bool
	cons      atomic.Value // jetstream.Consumer being read, for its info
	undecided atomic.Int64 // before the first message: consumer's pending + delivered; -1 unknown
}

// NewFollower returns a follower; opts.Apply is required.
func (l *Log) NewFollower(opts FollowerOptions) *Follower {
	if opts.ReadyLag == 0 {
		opts.ReadyLag = DefaultReadyLag
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	if opts.Logger == nil {
		opts.Logger = l.log
	}
	f := &Follower{l: l, opts: opts, log: opts.Logger.With("role", "follower")}
	f.lastApplied.Store(opts.StartAfter)
	f.undecided.Store(-1)
	f.highestEpoch.Store(opts.MinEpoch)
	return f
}

// Follow runs a follower from startAfter (see FollowerOptions.StartAfter)
// until ctx is done or apply fails.
func (l *Log) Follow(ctx context.Context, startAfter uint64, apply func(Batch) error) error {
	return l.NewFollower(FollowerOptions{StartAfter: startAfter, Apply: apply}).Run(ctx)
}

// LastApplied is the stream sequence of the last message handled.
func (f *Follower) LastApplied() uint64 { return f.lastApplied.Load() }

// HighestEpoch is the highest leader epoch applied so far.
func (f *Follower) HighestEpoch() uint64 { return f.highestEpoch.Load() }

// Lag is how many messages the stream holds beyond LastApplied, as of the
// last check. Before the first message, it is what the consumer has yet to
// deliver or apply from where it starts.
func (f *Follower) Lag() uint64 {
	if !f.handled.Load() {
		if n := f.undecided.Load(); n >= 0 {
			return uint64(n)
		}
	}
	last, applied := f.streamLast.Load(), f.lastApplied.Load()
	if last <= applied {
		return 0
	}
	return last - applied
}

// Ready reports whether the follower is caught up: Run is running, NATS is
// connected, the stream answered recently, and Lag is at most ReadyLag. A
// node reports not ready while its follower is not.
func (f *Follower) Ready() bool {
	if !f.running.Load() || f.reset.Load() || !f.l.Connected() {
		return false
	}
	stale := max(4*f.opts.CheckInterval, 2*time.Second)
	if time.Since(time.Unix(0, f.checkedAt.Load())) > stale {
		return false
	}
	return f.Lag() <= f.opts.ReadyLag
}

// Stats returns the follower's counters.
func (f *Follower) Stats() FollowerStats {
	return FollowerStats{
		LastApplied:  f.lastApplied.Load(),
		StreamLast:   f.streamLast.Load(),
		HighestEpoch: f.highestEpoch.Load(),
		Applied:      f.applied.Load(),
		Ticks:        f.ticks.Load(),
		Stale:        f.stale.Load(),
		Lost:         f.lost.Load(),
		Resets:       f.resets.Load(),
	}
}

// Run follows the stream until ctx is done (it then returns ctx.Err()) or
// Apply fails or a message cannot be decoded (it returns that error). It
// survives NATS restarts and disconnects by itself: the ordered consumer
// is recreated after the last message handled, so nothing is applied twice
// or skipped.
func (f *Follower) Run(ctx context.Context) error {
	if f.opts.Apply == nil {
		return errors.New("jetstream: follower without Apply")
	}
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("jetstream: follower already running")
	}
	defer f.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.check(ctx)

	var dec decoder
	backoff := 100 * time.Millisecond
	for {
		err := f.consume(ctx, &dec)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			f.log.Error("JetStream follower stopped", "error", fatal.err, "last_applied", f.lastApplied.Load())
			return fatal.err
		}
		f.resets.Add(1)
		f.log.Warn("JetStream follower: consumer failed; recreating it after the last applied message",
			"error", err, "last_applied", f.lastApplied.Load())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// fatalError stops Run.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// consumerConfig starts after the last message handled, or where the
// options say when nothing was handled yet.
func (f *Follower) consumerConfig() jetstream.OrderedConsumerConfig {
	cfg := jetstream.OrderedConsumerConfig{InactiveThreshold: time.Minute}
	switch after := f.lastApplied.Load(); {
	case after > 0:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	case !f.opts.StartTime.IsZero():
		t := f.opts.StartTime
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &t
	default:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	return cfg
}

// consume creates an ordered consumer and applies its messages until an
// error.
func (f *Follower) consume(ctx context.Context, dec *decoder) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := f.l.stream.OrderedConsumer(cctx, f.consumerConfig())
	cancel()
	if err != nil {
		return fmt.Errorf("creating the ordered consumer: %w", err)
	}
	f.cons.Store(cons)
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("starting to consume: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	var b Batch
	for {
		msg, err := it.Next()
		if err != nil {
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		if err := f.handle(msg, meta, dec, &b); err != nil {
			return &fatalError{err}
		}
	}
}

// handle applies one message. Only fatal errors are returned.
func (f *Follower) handle(msg jetstream.Msg, meta *jetstream.MsgMetadata, dec *decoder, b *Batch) error {
	seq := meta.Sequence.Stream
	f.handled.Store(true)
	storeMax(&f.streamLast, seq+meta.NumPending)
	last := f.lastApplied.Load()
	switch {
	case last > 0 && seq <= last:
		return nil // already handled (cannot happen with an ordered consumer; be safe)
	case last > 0 && seq > last+1:
		f.lost.Add(seq - last - 1)
		f.log.Error("JetStream follower: messages lost; the stream no longer holds them (retention) - hot state may be incomplete",
			"from_seq", last+1, "to_seq", seq-1)
	}
	h := msg.Headers()
	epoch := headerEpoch(h)
	if high := f.highestEpoch.Load(); epoch < high {
		f.stale.Add(1)
		f.log.Warn("JetStream follower: dropping a message from a stale leader",
			"seq", seq, "epoch", epoch, "highest_epoch", high, "node", h.Get(HeaderNode))
		f.lastApplied.Store(seq)
		return nil
	}
	*b = Batch{Seq: seq, Epoch: epoch, Node: h.Get(HeaderNode), Published: meta.Timestamp}
	if err := dec.decode(msg.Data(), b); err != nil {
		return fmt.Errorf("jetstream: message %d (epoch %d, node %s): %w", seq, epoch, b.Node, err)
	}
	if err := f.opts.Apply(*b); err != nil {
		return fmt.Errorf("jetstream: applying message %d: %w", seq, err)
	}
	if high := f.highestEpoch.Load(); epoch > high {
		if high > 0 {
			f.log.Info("JetStream follower: a new leader publishes", "epoch", epoch, "node", b.Node, "seq", seq)
		}
		f.highestEpoch.Store(epoch)
	}
	f.applied.Add(1)
	f.ticks.Add(uint64(len(b.Ticks)))
	f.lastApplied.Store(seq)
	return nil
}

// check asks the stream for its last sequence every CheckInterval, for Lag
// and Ready, and logs when the follower becomes ready or falls behind.
func (f *Follower) check(ctx context.Context) {
	t := time.NewTicker(f.opts.CheckInterval)
	defer t.Stop()
	wasReady := false
	for {
		// Read what was applied before asking: messages applied while the
		// answer travels are not a sign of a reset stream.
		applied := f.lastApplied.Load()
		cctx, cancel := context.WithTimeout(ctx, max(f.opts.CheckInterval, time.Second))
		info, err := f.l.stream.Info(cctx)
		cancel()
		if err == nil {
			last := info.State.LastSeq
			if last < applied {
				if !f.reset.Swap(true) {
					f.log.Error("JetStream follower: the stream's last sequence is below the last applied one; was the stream deleted or purged? Not ready until restarted",
						"stream_last", last, "last_applied", applied)
				}
			}
			storeMax(&f.streamLast, last)
			if !f.handled.Load() {
				err = f.checkConsumer(ctx)
			}
			if err == nil {
				f.checkedAt.Store(time.Now().UnixNano())
			}
		}
		if ready := f.Ready(); ready != wasReady {
			if ready {
				f.log.Info("JetStream follower caught up: ready", "last_applied", f.lastApplied.Load())
			} else {
				f.log.Warn("JetStream follower not ready", "lag", f.Lag(), "connected", f.l.Connected(),
					"check_error", err)
			}
			wasReady = ready
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// storeMax raises v to x unless it is already higher.
func storeMax(v *atomic.Uint64, x uint64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// checkConsumer records, before the first message, how many messages the
// consumer has yet to deliver plus those it delivered (none is applied yet).
func (f *Follower) checkConsumer(ctx context.Context) error {
	cons, ok := f.cons.Load().(jetstream.Consumer)
	if !ok {
		return errors.New("consumer not created yet")
	}
	cctx, cancel := context.WithTimeout(ctx, max(f.opts.CheckInterval, time.Second))
	defer cancel()
	info, err := cons.Info(cctx)
	if err != nil {
		return err
	}
	f.undecided.Store(int64(info.NumPending + info.Delivered.Consumer))
	return nil
}
