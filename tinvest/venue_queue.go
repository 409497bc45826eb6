package tinvest

import (
	"context"
	"sync"

	"tvbridge"
)

// eventQueue is an unbounded FIFO in front of the events channel: the
// stream reader and the poller push without ever blocking on a slow
// consumer, and no event is dropped.
type eventQueue struct {
	out   chan tvbridge.VenueEvent // unbuffered; fed by pump
	ready chan struct{}            // signalled when items go from empty to not
	mu    sync.Mutex
	items []tvbridge.VenueEvent
}

func newEventQueue() *eventQueue {
	return &eventQueue{out: make(chan tvbridge.VenueEvent), ready: make(chan struct{}, 1)}
}

// push appends events; it never blocks.
func (q *eventQueue) push(events ...tvbridge.VenueEvent) {
	if len(events) == 0 {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, events...)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop removes the oldest event.
func (q *eventQueue) pop() (tvbridge.VenueEvent, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return tvbridge.VenueEvent{}, false
	}
	ev := q.items[0]
	q.items[0] = tvbridge.VenueEvent{}
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go after a burst
	}
	return ev, true
}

// unpop puts an event back at the front, for a pump stopped mid-delivery.
func (q *eventQueue) unpop(ev tvbridge.VenueEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append([]tvbridge.VenueEvent{ev}, q.items...)
}

// pump delivers queued events to out, in order, until ctx ends. Events not
// delivered by then stay queued for the next pump.
func (q *eventQueue) pump(ctx context.Context) {
	for {
		ev, ok := q.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.ready:
				continue
			}
		}
		select {
		case q.out <- ev:
		case <-ctx.Done():
			q.unpop(ev)
			return
		}
	}
}
