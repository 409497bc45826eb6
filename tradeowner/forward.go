package tradeowner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"tvbridge/clock"
	"tvbridge/postgres"
)

// maxBody bounds the request bodies a node buffers to forward (and to
// repeat when that is safe): tradeapi refuses larger ones anyway.
const maxBody = 64 << 10

// NewTransport is the default Config.Transport: keep-alive connections
// pooled per owner (a busy node forwards every trader's polls over a few
// connections), a short dial timeout (a dead owner is found out fast) and
// no proxy from the environment (this is node-to-node traffic).
func NewTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q: want http(s)://host:port[/prefix]", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: a base URL has no query or fragment", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// ServeHTTP answers a trading request: the owner serves it; any other node
// forwards it to the owner, waiting up to MaxWait for one (HTTP 503
// after that). A request forwarded here by another node is never
// forwarded again: if this node is not the owner it answers 421 with
// HeaderNotOwner, and the sender looks the owner up again.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n.serveLocal(w, r, false) {
		return
	}
	if r.Header.Get(HeaderForwarded) != "" {
		n.serveForwarded(w, r)
		return
	}
	n.forward(w, r)
}

// ConsoleHandler serves the operator console's trading requests (the
// reign's Console handler, without authentication) on the owner; on any
// other node it answers 503 naming the owner, since the console's
// principal cannot be forwarded.
func (n *Node) ConsoleHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.serveLocal(w, r, true) {
			return
		}
		o, err := n.lookup(r.Context(), 0)
		msg := "trading is served by the trading owner; open its console"
		switch {
		case err != nil:
			msg += fmt.Sprintf(" (looking it up failed: %v)", err)
		case o.Live:
			msg += fmt.Sprintf(": node %s at %s", o.NodeID, o.URL)
		default:
			msg += " (none right now: failover in progress)"
		}
		writeError(w, http.StatusServiceUnavailable, msg)
	})
}

// serveLocal serves r if this node serves trading now.
func (n *Node) serveLocal(w http.ResponseWriter, r *http.Request, console bool) bool {
	l, _ := n.current()
	if l == nil {
		return false
	}
	h := l.handler
	if console {
		if h = l.console; h == nil {
			writeError(w, http.StatusNotFound, "the trading core has no console handler")
			return true
		}
	}
	if !l.serve(h, w, r) {
		return false
	}
	n.stats.local.Add(1)
	return true
}

// serveForwarded handles a request another node forwarded here: serve it
// as the owner, waiting while this node is elected but still loading;
// otherwise refuse it, unprocessed, with 421 and HeaderNotOwner.
func (n *Node) serveForwarded(w http.ResponseWriter, r *http.Request) {
	deadline := n.clk.NewTimer(n.cfg.MaxWait)
	defer deadline.Stop()
	for {
		l, changed := n.current()
		if l != nil && n.serveLocal(w, r, false) {
			return
		}
		if _, leading := n.elector.Leader(); !leading {
			break
		}
		// Elected, the core still loading: wait for it.
		if !n.pause(r.Context(), changed, deadline) {
			break
		}
	}
	if r.Context().Err() != nil {
		return
	}
	n.stats.misrouted.Add(1)
	w.Header().Set(HeaderNotOwner, n.instance)
	writeError(w, http.StatusMisdirectedRequest, "this node does not serve trading (not the trading owner)")
}

// pause waits one Poll, or until the local reign changes, the deadline
// fires (false) or ctx ends (false).
func (n *Node) pause(ctx context.Context, changed <-chan struct{}, deadline clock.Timer) bool {
	t := n.clk.NewTimer(n.cfg.Poll)
	defer t.Stop()
	select {
	case <-changed:
		return true
	case <-t.C():
		return true
	case <-deadline.C():
		return false
	case <-ctx.Done():
		return false
	}
}

// ownerView is a look-up of the lease's owner and when it was made.
type ownerView struct {
	postgres.LeaseOwner
	at time.Time
}

// lookup returns the trading lease's owner, from a look-up at most maxAge
// old (0: a new one). Concurrent callers share one database query.
func (n *Node) lookup(ctx context.Context, maxAge time.Duration) (postgres.LeaseOwner, error) {
	fresh := func() (postgres.LeaseOwner, bool) {
		v := n.owner.Load()
		if v == nil || maxAge <= 0 || n.clk.Since(v.at) >= maxAge {
			return postgres.LeaseOwner{}, false
		}
		return v.LeaseOwner, true
	}
	if o, ok := fresh(); ok {
		return o, nil
	}
	began := n.clk.Now()
	n.ownerMu.Lock()
	defer n.ownerMu.Unlock()
	// Someone else looked it up while we waited for the lock: use theirs.
	if v := n.owner.Load(); v != nil && !v.at.Before(began) {
		return v.LeaseOwner, nil
	}
	if o, ok := fresh(); ok {
		return o, nil
	}
	qctx, cancel := context.WithTimeout(ctx, max(n.cfg.Poll*5, time.Second))
	defer cancel()
	o, err := n.nodes.LeaseOwner(qctx, LeaseName)
	if err != nil {
		return postgres.LeaseOwner{}, err
	}
	n.owner.Store(&ownerView{LeaseOwner: o, at: n.clk.Now()})
	return o, nil
}

// forget drops the cached owner if it is still o, so that the next
// request looks the owner up again.
func (n *Node) forget(o postgres.LeaseOwner) {
	if v := n.owner.Load(); v != nil && v.Holder == o.Holder && v.Epoch == o.Epoch {
		n.owner.CompareAndSwap(v, nil)
	}
}

// Outcomes of a forward attempt.
type outcome int

const (
	answered  outcome = iota // the owner answered; the response went to the client
	notSent                  // the request did not reach an owner: repeating it is safe
	uncertain                // it may have been processed: repeat only if retrySafe
	gone                     // the client went away
)

// forward sends r to the owner, looking it up and waiting for one as
// needed, and repeating the request only when that cannot do anything
// twice (see retrySafe).
func (n *Node) forward(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		} else if r.Context().Err() == nil {
			writeError(w, http.StatusBadRequest, "could not read the request body")
		}
		return
	}
	safe := retrySafe(r, body)
	deadline := n.clk.NewTimer(n.cfg.MaxWait)
	defer deadline.Stop()
	maxAge := n.cfg.OwnerCache
	why := "no trading owner"
	for attempt := 0; ; attempt++ {
		// Each attempt gets a fresh body; the previous one was consumed.
		r.Body, r.ContentLength = bodyReader(body), int64(len(body))
		_, changed := n.current()
		if n.serveLocal(w, r, false) {
			return
		}
		o, err := n.lookup(r.Context(), maxAge)
		maxAge = n.cfg.Poll // while waiting, look again every Poll
		switch {
		case r.Context().Err() != nil:
			return
		case err != nil:
			why = "the trading owner cannot be looked up: " + err.Error()
		case !o.Live:
			why = "no trading owner (failover in progress)"
		case o.Holder == n.instance:
			why = "this node was elected trading owner and is still loading"
		case o.URL == "":
			why = fmt.Sprintf("the trading owner %s has no registered URL", o.NodeID)
		default:
			if attempt > 0 {
				n.stats.retried.Add(1)
			}
			res, err := n.proxy.attempt(w, r, o)
			switch res {
			case answered:
				n.stats.forwarded.Add(1)
				return
			case gone:
				return
			case uncertain:
				if !safe {
					n.stats.unknown.Add(1)
					n.log.Warn("trading owner failed during a request that is not safe to repeat; its outcome is unknown",
						"method", r.Method, "path", r.URL.Path, "owner", o.Holder, "err", err)
					writeError(w, http.StatusBadGateway, "the trading server failed while handling this request; "+
						"it may or may not have been carried out: check your orders and positions before trying again")
					return
				}
			}
			n.forget(o)
			why = fmt.Sprintf("the trading owner %s did not take the request: %v", o.NodeID, err)
		}
		if !n.pause(r.Context(), changed, deadline) {
			break
		}
	}
	if r.Context().Err() != nil {
		return
	}
	n.stats.noOwner.Add(1)
	n.log.Warn("no trading owner answered in time", "waited", n.cfg.MaxWait, "last", why, "method", r.Method, "path", r.URL.Path)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(n.cfg.RenewEvery/time.Second))))
	writeError(w, http.StatusServiceUnavailable, "trading is temporarily unavailable (the trading server is changing over); try again in a few seconds")
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	defer r.Body.Close()
	return io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
}

func bodyReader(b []byte) io.ReadCloser {
	if len(b) == 0 {
		return http.NoBody
	}
	return io.NopCloser(bytes.NewReader(b))
}

// retrySafe reports whether sending r again, after an attempt whose
// outcome is unknown (the owner failed after the request may have reached
// it), cannot do anything twice:
//
//   - reads: GET, HEAD, OPTIONS;
//   - POST /accounts/{id}/previewOrder, which changes nothing;
//   - POST /accounts/{id}/orders with a requestId (query or form body): the
//     trading Manager places one order per (account, requestId), durably,
//     and answers a repeat with that order, also on a new owner after a
//     failover (it loads the orders with their requests).
//
// Everything else (an order without requestId, modify, cancel, closing or
// reversing a position, bracket changes) is not repeated: the client gets
// 502 and decides, having seen its orders.
func retrySafe(r *http.Request, body []byte) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPost:
	default:
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/accounts/")
	if !ok {
		return false
	}
	_, endpoint, ok := strings.Cut(rest, "/")
	switch {
	case !ok:
		return false
	case endpoint == "previewOrder":
		return true
	case endpoint != "orders":
		return false
	}
	if id := r.URL.Query().Get("requestId"); id != "" {
		return true
	}
	form, err := url.ParseQuery(string(body))
	return err == nil && form.Get("requestId") != ""
}

// proxy forwards single attempts with httputil.ReverseProxy.
type proxy struct {
	n  *Node
	rp *httputil.ReverseProxy
}

// try is one attempt in flight: where to, and how it ended.
type try struct {
	target *url.URL
	err    error
	wrote  bool
}

type tryKey struct{}

var errNotOwner = errors.New("the node answered that it is not the trading owner")

func newProxy(n *Node, transport http.RoundTripper) *proxy {
	p := &proxy{n: n}
	p.rp = &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(tryKey{}).(*try)
			pr.SetURL(t.target)
			pr.SetXForwarded()
			h := pr.Out.Header
			h.Set(HeaderForwarded, n.cfg.NodeID)
			// CORS is this node's business: the owner must not add its
			// own Access-Control-* headers to the ones this node sends.
			h.Del("Origin")
			h.Del("Access-Control-Request-Method")
			h.Del("Access-Control-Request-Headers")
		},
		ModifyResponse: func(res *http.Response) error {
			if res.StatusCode == http.StatusMisdirectedRequest && res.Header.Get(HeaderNotOwner) != "" {
				return errNotOwner
			}
			for k := range res.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					delete(res.Header, k)
				}
			}
			res.Header.Del("Vary") // only ever "Origin" (CORS), which this node sets
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// Called before anything was written: record the error and let
			// forward decide between repeating and answering.
			r.Context().Value(tryKey{}).(*try).err = err
		},
		ErrorLog:   slog.NewLogLogger(n.cfg.Logger.Handler(), slog.LevelWarn),
		BufferPool: copyBuffers{},
	}
	return p
}

// copyBuffers pools the proxy's response-copy buffers: without one it
// allocates 32 KB per forwarded request, which a profile of a forwarding
// node under polling put at 3.4 % of its CPU.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *copyBufferPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { copyBufferPool.Put(&b) }

// attempt forwards r once to o's URL.
func (p *proxy) attempt(w http.ResponseWriter, r *http.Request, o postgres.LeaseOwner) (outcome, error) {
	target, err := parseBase(o.URL)
	if err != nil {
		return notSent, fmt.Errorf("bad URL registered: %w", err)
	}
	t := &try{target: target}
	rw := &watchWriter{ResponseWriter: w, wrote: &t.wrote}
	p.rp.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), tryKey{}, t)))
	switch {
	case t.err == nil:
		return answered, nil
	case t.wrote:
		return answered, t.err // a response started; nothing more to do
	case r.Context().Err() != nil:
		return gone, t.err
	case errors.Is(t.err, errNotOwner), notDelivered(t.err):
		return notSent, t.err
	default:
		return uncertain, t.err
	}
}

// notDelivered reports whether err means the request never reached the
// node: no connection could be made (refused, unreachable, no route, name
// not found, dial timeout).
func notDelivered(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// watchWriter records whether a response was started.
type watchWriter struct {
	http.ResponseWriter
	wrote *bool
}

func (w *watchWriter) WriteHeader(code int) {
	*w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *watchWriter) Write(b []byte) (int, error) {
	*w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *watchWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeError answers with TradingView's error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		S      string `json:"s"`
		Errmsg string `json:"errmsg"`
	}{"error", msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
