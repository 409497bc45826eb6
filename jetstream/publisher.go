package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tvbridge"
)

// ErrFenced is returned by a Publisher once the stream shows that a leader
// with a higher epoch has published (or that the stream was reset under
// it). It is permanent for that Publisher: the node must stop acting as the
// ingester; a node that wins the lease again creates a new Publisher.
var ErrFenced = errors.New("jetstream: fenced: a newer leader owns the tape")

// ErrUncertain is returned by Publish when it gave up (ctx done) without
// learning whether the message was stored. The next Publish first finds
// out (the message is then either on the stream exactly once, or not at
// all), so callers may simply go on.
var ErrUncertain = errors.New("jetstream: publish outcome unknown")

// attemptTimeout bounds one publish round trip before it is retried.
const attemptTimeout = 2 * time.Second

// Publisher publishes the ingester's tape. It is created with the leader
// epoch of the lease the node holds; see README.md for the fencing
// protocol. It is safe for concurrent use; calls are serialised, because
// each message names the sequence it expects to follow.
type Publisher struct {
	l      *Log
	epoch  uint64
	node   string
	prefix string // Nats-Msg-Id prefix: epoch, a random nonce
	log    *slog.Logger

	mu      sync.Mutex
	enc     encoder
	last    uint64 // stream's last sequence as this publisher knows it
	counter uint64
	fenced  error  // sticky, wraps ErrFenced
	pending string // Nats-Msg-Id of a message whose outcome is unknown
	epochS  string
}

// NewPublisher returns a publisher for a leader holding epoch. It reads the
// stream's last message: if that was published with a higher epoch, this
// leader is already stale and NewPublisher returns ErrFenced. Otherwise the
// publisher continues from the stream's current last sequence.
func (l *Log) NewPublisher(ctx context.Context, epoch uint64) (*Publisher, error) {
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	p := &Publisher{
		l:      l,
		epoch:  epoch,
		node:   l.opts.NodeID,
		prefix: strconv.FormatUint(epoch, 10) + "." + hex.EncodeToString(nonce[:]) + ".",
		log:    l.log.With("epoch", epoch),
		epochS: strconv.FormatUint(epoch, 10),
	}
	last, err := l.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetstream: new publisher: reading the stream: %w", err)
	}
	if last > 0 {
		m, err := l.stream.GetMsg(ctx, last)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			// Aged out: nothing retained to compare with.
		case err != nil:
			return nil, fmt.Errorf("jetstream: new publisher: reading message %d: %w", last, err)
		default:
			if e := headerEpoch(m.Header); e > epoch {
				return nil, fmt.Errorf("%w: the stream's last message %d has epoch %d > %d (node %s)",
					ErrFenced, last, e, epoch, m.Header.Get(HeaderNode))
			} else if e == epoch && m.Header.Get(HeaderNode) != p.node {
				return nil, fmt.Errorf("%w: epoch %d was already used by node %s", ErrFenced, epoch, m.Header.Get(HeaderNode))
			}
		}
	}
	p.last = last
	p.log.Info("JetStream publisher ready", "after_seq", last)
	return p, nil
}

// ControlLeader is the kind of the control message Claim publishes.
const ControlLeader = "leader"

// Claim publishes a control message of kind ControlLeader (data: the node
// id) so that the previous leader is fenced at once, not only when this
// one first has market data to publish. A new leader calls it right after
// NewPublisher.
func (p *Publisher) Claim(ctx context.Context) error {
	return p.PublishControl(ctx, Control{Kind: ControlLeader, Data: []byte(p.node)})
}

// Epoch is the publisher's leader epoch.
func (p *Publisher) Epoch() uint64 { return p.epoch }

// LastSeq is the stream sequence of the last message this publisher stored
// or adopted.
func (p *Publisher) LastSeq() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Fenced returns the error (wrapping ErrFenced) once the publisher is
// fenced, nil before.
func (p *Publisher) Fenced() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fenced
}

// Publish stores one message holding ticks (exactly as passed to one
// Tape.Append call) and minute updates on the stream, after the last
// message this publisher knows of. It returns nil once the message is
// stored exactly once; ErrFenced when a newer leader has published; an
// error wrapping ErrUncertain when ctx ended before the outcome was known.
// A batch with neither ticks nor minutes publishes nothing.
func (p *Publisher) Publish(ctx context.Context, ticks []tvbridge.Tick, minutes []MinuteUpdate) error {
	if len(ticks) == 0 && len(minutes) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.publishLocked(ctx, p.l.DataSubject(), p.enc.encode(ticks, minutes, nil))
}

// PublishControl stores a control message, fenced like Publish. Its kind
// becomes the last token of the subject.
func (p *Publisher) PublishControl(ctx context.Context, c Control) error {
	if !validKind(c.Kind) {
		return fmt.Errorf("jetstream: control kind %q: want letters, digits, '-' or '_'", c.Kind)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.publishLocked(ctx, p.l.ControlSubject(c.Kind), p.enc.encode(nil, nil, &c))
}

func validKind(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (p *Publisher) publishLocked(ctx context.Context, subject string, payload []byte) error {
	if p.fenced != nil {
		return p.fenced
	}
	if p.pending != "" {
		// The previous call gave up without knowing; settle it first, so
		// that this message's expected sequence is right.
		stored, err := p.resync(ctx, p.pending)
		if err != nil {
			return fmt.Errorf("%w: settling the previous publish: %w", ErrUncertain, err)
		}
		if stored {
			p.log.Info("JetStream: the previous publish whose outcome was unknown is stored", "seq", p.last)
		} else {
			p.log.Warn("JetStream: the previous publish whose outcome was unknown was not stored; its batch is lost")
		}
		p.pending = ""
		if p.fenced != nil {
			return p.fenced
		}
	}
	p.counter++
	id := p.prefix + strconv.FormatUint(p.counter, 10)
	msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}
	msg.Header.Set(HeaderEpoch, p.epochS)
	msg.Header.Set(HeaderNode, p.node)

	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		ack, err := p.l.js.PublishMsg(actx, msg,
			jetstream.WithMsgID(id),
			jetstream.WithExpectStream(p.l.opts.Stream),
			jetstream.WithExpectLastSequence(p.last))
		cancel()
		if err == nil {
			if ack.Duplicate {
				p.log.Info("JetStream: publish retry was a duplicate; stored once", "seq", ack.Sequence)
			}
			if ack.Sequence > p.last {
				p.last = ack.Sequence
			}
			return nil
		}
		if isWrongLastSeq(err) {
			stored, rerr := p.resync(ctx, id)
			switch {
			case rerr != nil:
				err = rerr // outcome unknown: keep trying
			case stored:
				return nil // even if fenced now: this message made it before the newer leader
			case p.fenced != nil:
				return p.fenced
			default:
				continue // adopted a stale leader's message; try again after it
			}
		} else if isRefused(err) {
			return fmt.Errorf("jetstream: publish refused: %w", err)
		}
		// Outcome unknown (timeout, disconnect, no responders): retry with
		// the same id and expected sequence; a copy that did get stored
		// shows up as a duplicate or a wrong last sequence that resync
		// recognises as ours.
		if attempt == 1 || attempt%10 == 0 {
			p.log.Warn("JetStream publish failed; retrying", "error", err, "attempt", attempt)
		}
		select {
		case <-ctx.Done():
			p.pending = id
			return fmt.Errorf("%w: %w (last error: %v)", ErrUncertain, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// resync compares the stream with this publisher's view after a wrong last
// sequence or an unknown outcome of the message with Nats-Msg-Id id. It
// reports whether that message is stored, moves p.last to the stream's end
// when the messages after p.last come from an older epoch (a stale leader
// that published just before this one took over), and sets p.fenced when a
// newer leader has published or the stream was reset. An error means the
// stream could not be read.
func (p *Publisher) resync(ctx context.Context, id string) (stored bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	last, err := p.l.LastSeq(rctx)
	if err != nil {
		return false, err
	}
	if last < p.last {
		p.fenced = fmt.Errorf("%w: the stream's last sequence went back from %d to %d (stream reset?)", ErrFenced, p.last, last)
		p.log.Error("JetStream publisher fenced", "reason", p.fenced)
		return false, nil
	}
	if last == p.last {
		return false, nil
	}
	next, err := p.l.stream.GetMsg(rctx, p.last+1)
	switch {
	case err == nil:
		if next.Header.Get(jetstream.MsgIDHeader) == id {
			stored = true
			p.last++
			if last == p.last {
				return true, nil
			}
		}
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return false, err
	}
	m := next
	if last != p.last+1 || m == nil || stored {
		m, err = p.l.stream.GetMsg(rctx, last)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			p.fenced = fmt.Errorf("%w: message %d after %d is gone (purged?); cannot prove leadership", ErrFenced, last, p.last)
			p.log.Error("JetStream publisher fenced", "reason", p.fenced)
			return stored, nil
		}
		if err != nil {
			return stored, err
		}
	}
	e, node := headerEpoch(m.Header), m.Header.Get(HeaderNode)
	switch {
	case e > p.epoch:
		p.fenced = fmt.Errorf("%w: message %d has epoch %d > %d (node %s)", ErrFenced, last, e, p.epoch, node)
		p.log.Error("JetStream publisher fenced: a newer leader has published", "seq", last, "their_epoch", e, "their_node", node)
	case e == p.epoch && node != p.node:
		p.fenced = fmt.Errorf("%w: message %d has our epoch %d but node %s", ErrFenced, last, e, node)
		p.log.Error("JetStream publisher fenced: two nodes publish with one epoch", "seq", last, "their_node", node)
	default:
		// An older leader's late messages (or our own from a call that
		// gave up): they precede our first message; continue after them.
		p.log.Warn("JetStream publisher: continuing after messages of an older epoch",
			"from_seq", p.last+1, "to_seq", last, "their_epoch", e, "their_node", node)
		p.last = last
	}
	return stored, nil
}

// isWrongLastSeq reports a refused expected-last-sequence.
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// isRefused reports an error the server answered with: the message was
// not stored and retrying the same message would not help.
func isRefused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr)
}

// headerEpoch parses the epoch header; 0 when absent or malformed.
func headerEpoch(h nats.Header) uint64 {
	e, _ := strconv.ParseUint(h.Get(HeaderEpoch), 10, 64)
	return e
}
