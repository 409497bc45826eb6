package tinvest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge/tinvest/wire"
)

// The OrderStateStream client: one WebSocket for all configured accounts,
// {"accounts": [...], "pingDelayMillis": ...} as its only request, then
// subscription, ping and orderState frames. While it is not subscribed the
// poller polls every PollInterval; every (re)subscription is followed by a
// full poll, for the states missed meanwhile.

const (
	orderStreamMaxFrame = 4 << 20
	orderStreamWrite    = 10 * time.Second
	// readSlack is added to StallTimeout for the socket's read deadline,
	// which the OS enforces in real time.
	readSlack = 15 * time.Second
)

var errStreamStalled = errors.New("order stream silent (no frame, not even a ping)")

// runStream keeps the order stream open until ctx ends (nil) or the
// service refuses the token (the error).
func (v *Venue) runStream(ctx context.Context) error {
	attempt := 0
	for {
		started := v.clock.Now()
		err := v.streamOnce(ctx)
		v.setStreamUp(false)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrPermissionDenied) {
			return err
		}
		if v.clock.Since(started) >= v.cfg.BackoffMax {
			attempt = 0 // it was healthy: start the backoff over
		}
		delay := v.streamBackoff(attempt)
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == wire.CloseResourceExhausted {
			delay = v.cfg.BackoffMax
		}
		attempt++
		v.log.Warn("order stream lost; polling meanwhile and reconnecting", "err", err, "retry_in", delay.String())
		t := v.clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// streamBackoff draws the wait before reconnect number attempt (0 is the
// first): uniform in [0, ceiling], the ceiling doubling from BackoffMin to
// BackoffMax.
func (v *Venue) streamBackoff(attempt int) time.Duration {
	ceil := v.cfg.BackoffMin
	for i := 0; i < attempt && ceil < v.cfg.BackoffMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, v.cfg.BackoffMax)
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// setStreamUp records the stream's state; a new subscription asks for a
// full poll.
func (v *Venue) setStreamUp(up bool) {
	if v.streamUp.Swap(up) != up && up {
		v.requestFull()
	}
}

// streamOnce opens the stream and serves it until it fails.
func (v *Venue) streamOnce(ctx context.Context) error {
	dialer := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: v.cfg.HandshakeTimeout,
		Subprotocols: []string{wire.SubprotocolJSON}}
	header := http.Header{}
	if tok := v.client.cfg.Token; tok != "" {
		header.Set("Authorization", "Bearer "+tok)
	}
	if app := v.client.cfg.AppName; app != "" {
		header.Set(wire.HeaderAppName, app)
	}
	hctx, cancel := context.WithTimeout(ctx, v.cfg.HandshakeTimeout)
	ws, resp, err := dialer.DialContext(hctx, v.url, header)
	cancel()
	if err != nil {
		return orderStreamHandshakeError(v.url, resp, err)
	}
	defer ws.Close()
	ws.SetReadLimit(orderStreamMaxFrame)

	accounts := make([]string, 0, len(v.owner))
	for id := range v.owner {
		accounts = append(accounts, id)
	}
	slices.Sort(accounts)
	req, err := json.Marshal(wire.OrderStateStreamRequest{Accounts: accounts,
		PingDelayMillis: int32(v.cfg.PingDelay / time.Millisecond)})
	if err != nil {
		return err
	}
	ws.SetWriteDeadline(time.Now().Add(orderStreamWrite))
	if err := ws.WriteMessage(websocket.TextMessage, req); err != nil {
		return fmt.Errorf("order stream: write request: %w", err)
	}

	// The watchdog closes a silent socket (measured on the venue's clock)
	// and the socket at the end of ctx.
	var last atomic.Int64
	var stalled atomic.Bool
	touch := func() {
		last.Store(v.clock.Now().UnixNano())
		ws.SetReadDeadline(time.Now().Add(v.cfg.StallTimeout + readSlack))
	}
	touch()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		timer := v.clock.NewTimer(v.cfg.StallTimeout)
		defer timer.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
					time.Now().Add(time.Second))
				ws.Close()
				return
			case <-timer.C():
				quiet := v.clock.Now().Sub(time.Unix(0, last.Load()))
				if quiet >= v.cfg.StallTimeout {
					stalled.Store(true)
					ws.Close()
					return
				}
				timer.Reset(v.cfg.StallTimeout - quiet)
			}
		}
	}()

	v.log.Info("order stream connected", "url", redactStreamURL(v.url), "accounts", len(accounts))
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			return v.streamReadError(err, stalled.Load())
		}
		touch()
		if typ != websocket.TextMessage {
			continue
		}
		var f wire.OrderStateStreamResponse
		if err := json.Unmarshal(data, &f); err != nil {
			v.log.Warn("bad order stream frame ignored", "err", err, "frame", snippet(data))
			continue
		}
		switch {
		case f.Subscription != nil:
			if err := v.subscribed(f.Subscription); err != nil {
				return err
			}
		case f.OrderState != nil:
			v.setStreamUp(true)
			v.onStreamState(f.OrderState)
		case f.Ping != nil:
			v.setStreamUp(true)
		}
	}
}

// subscribed handles the service's answer to the stream's request.
func (v *Venue) subscribed(s *wire.SubscriptionResponse) error {
	if s.Status != wire.ResultSubscriptionStatusError {
		v.log.Info("order stream subscribed", "stream", s.StreamID, "accounts", len(s.Accounts), "tracking_id", s.TrackingID)
		v.setStreamUp(true)
		return nil
	}
	var code, msg string
	if s.Error != nil {
		code, msg = s.Error.Code, s.Error.Message
	}
	err := fmt.Errorf("order stream subscription refused: %s %s (tracking id %s)", code, msg, s.TrackingID)
	switch code {
	case wire.ErrUnauthenticated:
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	case wire.ErrPermissionDenied, wire.ErrPermissionDeniedAcct:
		v.log.Error("the token may not follow the orders of the configured accounts; polling them instead "+
			"(check the token's rights and the account list)", "err", err)
	}
	return err
}

// onStreamState applies one order state from the stream.
func (v *Venue) onStreamState(s *wire.StreamOrderState) {
	if s.AccountID != "" {
		if _, ok := v.owner[s.AccountID]; !ok {
			return
		}
	}
	now := v.clock.Now()
	v.mu.Lock()
	t := v.lookupLocked(s.OrderRequestID, s.OrderID)
	if t == nil || (s.AccountID != "" && t.account != s.AccountID) {
		_, doneKey := v.done[s.OrderRequestID]
		_, doneID := v.done[s.OrderID]
		v.mu.Unlock()
		if !doneKey && !doneID {
			v.log.Debug("order state of an order tvbridge does not follow", "tinvest_order", s.OrderID, "account", s.AccountID)
		}
		return
	}
	need := v.applyLocked(t, streamView(s), now)
	if need {
		v.urgent[t.key] = true
	}
	v.mu.Unlock()
	if need {
		v.kickPoll()
	}
}

// streamReadError explains why the socket ended.
func (v *Venue) streamReadError(err error, stalled bool) error {
	var ce *websocket.CloseError
	switch {
	case stalled:
		return errStreamStalled
	case errors.As(err, &ce) && ce.Code == wire.CloseUnauthenticated:
		return fmt.Errorf("%w (order stream closed with %d: %s)", ErrUnauthenticated, ce.Code, ce.Text)
	case errors.As(err, &ce):
		return fmt.Errorf("order stream closed by the service: %d %s: %w", ce.Code, wire.Code(ce.Code-4000), err)
	}
	return fmt.Errorf("order stream: read: %w", err)
}

// orderStreamHandshakeError explains a refused upgrade: 401 and 403 are
// token errors, retrying cannot help.
func orderStreamHandshakeError(u string, resp *http.Response, err error) error {
	if resp == nil {
		return fmt.Errorf("order stream: dial %s: %w", redactStreamURL(u), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	resp.Body.Close()
	tracking := resp.Header.Get(wire.HeaderTrackingID)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w (order stream handshake: HTTP 401, x-tracking-id %s)", ErrUnauthenticated, tracking)
	case http.StatusForbidden:
		return fmt.Errorf("%w (order stream handshake: HTTP 403, x-tracking-id %s): the token may not follow orders; "+
			"issue a full-access token", ErrPermissionDenied, tracking)
	}
	return fmt.Errorf("order stream: handshake refused: HTTP %d %s (x-tracking-id %s)", resp.StatusCode,
		strings.TrimSpace(string(body)), tracking)
}

// redactStreamURL drops user info, query and fragment, for logs.
func redactStreamURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
