package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"tvbridge"
)

// maxDepth is the deepest order book the stream serves.
const maxDepth = 20

// clientRequest is a client frame as the server reads it. Depth stays raw
// because its JSON type matters: the real service rejects a quoted depth.
// Unknown fields, such as the Java SDK's camelCase "requestId", are ignored,
// as the real service ignored them (and so never echoed them).
type clientRequest struct {
	Event     string          `json:"event"`
	FIGI      string          `json:"figi"`
	Interval  string          `json:"interval"`
	Depth     json.RawMessage `json:"depth"`
	RequestID string          `json:"request_id"`
}

// request is a validated client request.
type request struct {
	sub       tvbridge.Subscription
	subscribe bool // else unsubscribe
}

// handleRequest applies one client frame, answering an error event when it
// is invalid. Success is silent: the protocol has no acknowledgement.
func (s *Server) handleRequest(c *streamConn, data []byte) {
	req, requestID, errMsg := s.parseRequest(data)
	now := s.clock.Now()
	if errMsg != "" {
		if s.faults.silenceAt(now).all {
			s.stats.silenced.Add(1)
			return
		}
		c.send(errorFrame(appendTime(nil, now), errMsg, requestID))
		return
	}
	if req.subscribe {
		s.em.subscribe(c, req.sub, now)
	} else {
		s.em.unsubscribe(c, req.sub)
	}
}

// parseRequest validates a client frame. On failure it returns the error
// text, worded like the real service's ("Subscription <event>. <reason>").
func (s *Server) parseRequest(data []byte) (req request, requestID, errMsg string) {
	var cr clientRequest
	if err := json.Unmarshal(data, &cr); err != nil {
		if cr.Event != "" {
			return req, cr.RequestID, fmt.Sprintf("Subscription %s. Invalid format: %s", cr.Event, clip(data))
		}
		return req, cr.RequestID, fmt.Sprintf("Invalid format: %s", clip(data))
	}
	prefix := "Subscription " + cr.Event + ". "
	kind, action, _ := strings.Cut(cr.Event, ":")
	switch action {
	case "subscribe":
		req.subscribe = true
	case "unsubscribe":
	default:
		return req, cr.RequestID, prefix + "Unknown event type"
	}
	req.sub = tvbridge.Subscription{Kind: tvbridge.SubscriptionKind(kind), FIGI: cr.FIGI}
	switch req.sub.Kind {
	case tvbridge.SubCandle:
		req.sub.Interval = tvbridge.CandleInterval(cr.Interval)
		if !req.sub.Interval.Valid() {
			return req, cr.RequestID, prefix + fmt.Sprintf("Invalid interval %s", cr.Interval)
		}
	case tvbridge.SubOrderBook:
		depth, ok := parseDepth(cr.Depth)
		if !ok {
			return req, cr.RequestID, prefix + "Invalid format: " + clip(data)
		}
		if depth < 1 || depth > maxDepth {
			// Sic: the real service says "< 20" yet accepts 20.
			return req, cr.RequestID, prefix + fmt.Sprintf("Invalid depth %d. Should be 0 < x < 20", depth)
		}
		req.sub.Depth = depth
	case tvbridge.SubInstrumentInfo:
	default:
		return req, cr.RequestID, prefix + "Unknown event type"
	}
	if _, ok := s.market.Instrument(cr.FIGI); !ok {
		return req, cr.RequestID, prefix + fmt.Sprintf("FIGI %s not found", cr.FIGI)
	}
	return req, cr.RequestID, ""
}

// parseDepth accepts only a bare JSON integer; a missing or null depth is 0.
func parseDepth(raw json.RawMessage) (int, bool) {
	text := string(raw)
	if text == "" || text == "null" {
		return 0, true
	}
	n, err := strconv.Atoi(text)
	return n, err == nil
}

// clip shortens client input quoted back in an error message.
func clip(data []byte) string {
	const limit = 512
	if len(data) > limit {
		return string(data[:limit]) + "..."
	}
	return string(data)
}
