package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configure Serve.
type Options struct {
	// TLS serves HTTPS with these certificate files; nil serves plain HTTP
	// (behind a TLS-terminating proxy, or for local use).
	TLS *TLSConfig
	// Logger receives server errors (bad handshakes, broken connections);
	// default slog.Default().
	Logger *slog.Logger
	// DrainTimeout is how long shutdown lets requests in flight finish
	// before it cancels the contexts of those left (the never-ending
	// /streaming responses) and, after as long again, closes their
	// connections; default 5 seconds.
	DrainTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (slowloris);
	// default 10 seconds. There is no write timeout: streams are endless.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections; default 2 minutes.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers; default
	// DefaultMaxHeaderBytes. A request over it is answered 431 with
	// TradingView's error body, up to 4 times the limit; a request larger
	// still is cut off by net/http, which answers its own plain-text 431
	// before any handler runs.
	MaxHeaderBytes int
}

// errShutdown is the cause of the request contexts shutdown cancels.
var errShutdown = errors.New("web: server shutting down")

// Serve serves h on ln until ctx ends, then shuts down gracefully: it
// stops accepting, lets requests in flight finish for DrainTimeout,
// cancels the request contexts of the rest (so streams end) and closes
// what is left. It returns nil after a shutdown, or the error that stopped
// the listener.
//
// Only HTTP/1.1 is offered, over TLS too (ALPN "http/1.1"): TradingView's
// /streaming is a chunked HTTP/1.1 response and its tests skip HTTP/2, the
// broker's clients make few requests each, and one protocol keeps proxies
// and debugging simple.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opts Options) error {
	opts.setDefaults()
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelBase(nil)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Handler:           limitHeaders(opts.MaxHeaderBytes, h),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    headerReadFactor * opts.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
		Protocols:         &protocols,
	}
	if opts.TLS != nil {
		tc := *opts.TLS
		if tc.Logger == nil {
			tc.Logger = opts.Logger
		}
		cfg, err := NewTLS(tc)
		if err != nil {
			return err
		}
		srv.TLSConfig = cfg
		ln = tls.NewListener(ln, cfg)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	err := shutdown(srv, cancelBase, opts.DrainTimeout)
	<-served // http.ErrServerClosed
	return err
}

func shutdown(srv *http.Server, cancelBase context.CancelCauseFunc, drain time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(ctx)
	// What is still running does not end by itself: streams, including
	// those that took their connection over (Shutdown does not wait for
	// those at all).
	cancelBase(errShutdown)
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), drain)
	defer cancel2()
	if err := srv.Shutdown(ctx2); err != nil {
		return srv.Close()
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
}
