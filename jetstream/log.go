// Package jetstream carries tvbridge's tape between cluster nodes on a NATS
// JetStream stream (issue 13, cluster mode).
//
// One node, the ingester, holds the upstream and a leader lease whose epoch
// (a number that grows with every new holder) is the fencing token. It
// publishes every batch of ticks the bar engine produces, together with the
// hot state of the open minutes, through a Publisher. Every node, the
// ingester included, runs a Follower that applies the stream in order to its
// local in-process tape (TapeFeeder) and hot state (HotMinutes), so that
// /streaming connections on different nodes carry the same lines.
//
// The design, message format, retention, fencing and failure modes are in
// README.md beside this file.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Options.
const (
	DefaultStream     = "TVBRIDGE_TAPE"
	DefaultSubject    = "tvbridge.tape"
	DefaultMaxAge     = 24 * time.Hour
	DefaultMaxBytes   = 2 << 30 // 2 GiB
	DefaultDuplicates = 2 * time.Minute
)

// Message headers. Nats-Msg-Id (jetstream.MsgIDHeader) is set as well.
const (
	HeaderEpoch = "Tvb-Epoch" // leader epoch of the publisher, decimal
	HeaderNode  = "Tvb-Node"  // publisher's node id
)

// Options configure Open. Zero values select the defaults.
type Options struct {
	// Stream is the stream's name; default DefaultStream.
	Stream string
	// Subject is the subject prefix; the stream holds Subject+".>". Tick
	// batches go to Subject+".data", control messages to
	// Subject+".control.<kind>". Default DefaultSubject.
	Subject string

	// Retention. The stream keeps messages for MaxAge (default 24h: a node
	// started at any time of the trading day can rebuild today's hot state)
	// and at most MaxBytes (default 2 GiB), discarding the oldest first.
	// Storage is always file storage. Duplicates is the window within
	// which a re-sent message with the same Nats-Msg-Id is stored only once
	// (default 2 minutes).
	MaxAge     time.Duration
	MaxBytes   int64
	Duplicates time.Duration
	// Replicas of the stream in a NATS cluster; default 1.
	Replicas int

	// NodeID identifies this node in the headers of what it publishes;
	// default "<hostname>:<pid>".
	NodeID string
	// ReconnectWait is the pause between reconnect attempts; default 1s.
	// The connection retries forever, also when the first connect fails.
	ReconnectWait time.Duration
	// Logger for connection events and warnings; default slog.Default().
	Logger *slog.Logger
	// NATS are extra connection options (credentials, TLS, ...).
	NATS []nats.Option
}

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Duplicates <= 0 {
		o.Duplicates = DefaultDuplicates
	}
	if o.Duplicates > o.MaxAge {
		o.Duplicates = o.MaxAge
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.NodeID == "" {
		host, _ := os.Hostname()
		o.NodeID = host + ":" + strconv.Itoa(os.Getpid())
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Log is a connection to the tape's stream. It is safe for concurrent use.
type Log struct {
	opts   Options
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
}

// Open connects to the NATS server at url (a comma-separated list for a
// cluster) and creates the stream, or updates its configuration to opts.
// The connection reconnects forever and logs every disconnect, reconnect
// and close. If the server cannot be reached, Open keeps trying until ctx
// is done.
func Open(ctx context.Context, url string, opts Options) (*Log, error) {
	opts.setDefaults()
	l := &Log{opts: opts, log: opts.Logger.With("component", "jetstream", "stream", opts.Stream)}
	nopts := []nats.Option{
		nats.Name("tvbridge " + opts.NodeID),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(opts.ReconnectWait),
		nats.ConnectHandler(func(nc *nats.Conn) {
			l.log.Info("NATS connected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil && nc.IsClosed() {
				return // our own Close; the closed handler says so
			}
			l.log.Warn("NATS disconnected: reconnecting; the tape is not published or followed until then",
				"error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted(),
				"reconnects", nc.Stats().Reconnects)
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			l.log.Info("NATS connection closed")
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			l.log.Warn("NATS asynchronous error", "error", err, "subject", subject)
		}),
	}
	nc, err := nats.Connect(url, append(nopts, opts.NATS...)...)
	if err != nil {
		return nil, fmt.Errorf("jetstream: connecting to %s: %w", url, err)
	}
	l.nc = nc
	l.js, err = jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := l.ensureStream(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return l, nil
}

// StreamConfig is the stream configuration Open applies for opts.
func StreamConfig(opts Options) jetstream.StreamConfig {
	opts.setDefaults()
	return jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "tvbridge tape: tick batches and hot state published by the ingester",
		Subjects:    []string{opts.Subject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      opts.MaxAge,
		MaxBytes:    opts.MaxBytes,
		MaxMsgs:     -1,
		MaxMsgSize:  -1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		Duplicates:  opts.Duplicates,
	}
}

// ensureStream creates or updates the stream, retrying while the server is
// unreachable.
func (l *Log) ensureStream(ctx context.Context) error {
	cfg := StreamConfig(l.opts)
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := l.js.CreateOrUpdateStream(actx, cfg)
		cancel()
		if err == nil {
			l.stream = s
			info := s.CachedInfo()
			l.log.Info("JetStream stream ready", "subjects", cfg.Subjects,
				"max_age", cfg.MaxAge, "max_bytes", cfg.MaxBytes, "duplicates", cfg.Duplicates,
				"messages", info.State.Msgs, "first_seq", info.State.FirstSeq, "last_seq", info.State.LastSeq)
			return nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			// The server answered: retrying will not change its mind
			// (e.g. a subject overlap or a storage type that cannot change).
			return fmt.Errorf("jetstream: creating or updating stream %s: %w", cfg.Name, err)
		}
		if attempt%5 == 0 {
			l.log.Warn("JetStream stream not reachable yet; retrying", "error", err, "attempt", attempt+1)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream: creating or updating stream %s: %w (last error: %v)", cfg.Name, ctx.Err(), err)
		case <-time.After(l.opts.ReconnectWait):
		}
	}
}

// Close closes the connection. Publishers and followers stop working.
func (l *Log) Close() { l.nc.Close() }

// Conn is the underlying NATS connection.
func (l *Log) Conn() *nats.Conn { return l.nc }

// JetStream is the underlying JetStream context.
func (l *Log) JetStream() jetstream.JetStream { return l.js }

// Options returns the options in effect (defaults filled in).
func (l *Log) Options() Options { return l.opts }

// Connected reports whether the connection to NATS is up.
func (l *Log) Connected() bool { return l.nc.IsConnected() }

// DataSubject is the subject of tick batches.
func (l *Log) DataSubject() string { return l.opts.Subject + ".data" }

// ControlSubject is the subject of control messages of kind.
func (l *Log) ControlSubject(kind string) string { return l.opts.Subject + ".control." + kind }

// Info returns the stream's current configuration and state.
func (l *Log) Info(ctx context.Context) (*jetstream.StreamInfo, error) {
	return l.stream.Info(ctx)
}

// LastSeq returns the stream's last sequence number (0 when nothing was
// ever published).
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}
