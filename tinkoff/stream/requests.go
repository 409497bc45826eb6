package stream

import (
	"strings"

	"tvbridge"
)

// requestLogSize is how many recent requests can be matched to an error
// event. The service answers within milliseconds; this covers the replay of
// a full pool (6 x 30 instruments with several subscriptions each) with room
// to spare.
const requestLogSize = 4096

// request is a subscribe or unsubscribe frame that was sent.
type request struct {
	id        string
	slot      int
	sub       tvbridge.Subscription
	subscribe bool
	reported  bool // an error event was already delivered for it
}

// requestLog remembers the last requestLogSize requests, by id and in order.
// It is guarded by Pool.mu.
type requestLog struct {
	byID map[string]*request
	ring []*request
	next int // ring index of the oldest entry, overwritten next
}

func newRequestLog(size int) requestLog {
	return requestLog{byID: make(map[string]*request, size), ring: make([]*request, size)}
}

func (l *requestLog) add(r *request) {
	if old := l.ring[l.next]; old != nil {
		delete(l.byID, old.id)
	}
	l.ring[l.next] = r
	l.byID[r.id] = r
	l.next = (l.next + 1) % len(l.ring)
}

// match finds the request an error event answers: by request_id when the
// event echoes a known one, else from the text, which follows the pattern
// "Subscription <kind>:<action>. <reason>" and usually names the FIGI. A
// text match takes the oldest request on the same connection that fits and
// has no error yet, since the service answers in order. nil: no match.
func (l *requestLog) match(slot int, id, text string) *request {
	if r := l.byID[id]; id != "" && r != nil {
		return r
	}
	kind, subscribe, ok := parseErrorText(text)
	if !ok {
		return nil
	}
	for i := range l.ring {
		r := l.ring[(l.next+i)%len(l.ring)]
		if r != nil && r.slot == slot && !r.reported && r.sub.Kind == kind &&
			r.subscribe == subscribe && containsWord(text, r.sub.FIGI) {
			return r
		}
	}
	return nil
}

// parseErrorText extracts the request kind and action from an error text
// like "Subscription instrument_info:subscribe. FIGI X not found".
func parseErrorText(text string) (kind tvbridge.SubscriptionKind, subscribe, ok bool) {
	rest, ok := strings.CutPrefix(text, "Subscription ")
	if !ok {
		return "", false, false
	}
	name, _, _ := strings.Cut(rest, " ")
	name = strings.TrimSuffix(name, ".")
	k, action, ok := strings.Cut(name, ":")
	if !ok || (action != "subscribe" && action != "unsubscribe") {
		return "", false, false
	}
	switch kind = tvbridge.SubscriptionKind(k); kind {
	case tvbridge.SubCandle, tvbridge.SubOrderBook, tvbridge.SubInstrumentInfo:
		return kind, action == "subscribe", true
	}
	return "", false, false
}

// containsWord reports whether word occurs in text delimited by characters
// that cannot be part of a FIGI, so that FIGI "A" does not match "BAD".
func containsWord(text, word string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isFIGIChar(text[start-1])) && (end == len(text) || !isFIGIChar(text[end])) {
			return true
		}
		i = start + 1
	}
}

func isFIGIChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-'
}
