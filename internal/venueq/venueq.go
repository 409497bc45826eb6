// Package venueq is the event queue of the upstream trading venues (the v1
// and v2 Tinkoff venues): an unbounded FIFO in front of a venue's events
// channel, so the stream reader and the poller push without ever blocking
// on a slow consumer, and no event is dropped.
package venueq

import (
	"context"
	"sync"

	"tvbridge"
)

// Queue is an unbounded FIFO of venue events, delivered in order on Out
// while Pump runs.
type Queue struct {
	out   chan tvbridge.VenueEvent // unbuffered; fed by Pump
	ready chan struct{}            // signalled when items go from empty to not
	mu    sync.Mutex
	items []tvbridge.VenueEvent
}

// New returns an empty queue.
func New() *Queue {
	return &Queue{out: make(chan tvbridge.VenueEvent), ready: make(chan struct{}, 1)}
}

// Out is the channel Pump delivers on: the venue's Events.
func (q *Queue) Out() <-chan tvbridge.VenueEvent { return q.out }

// Push appends events; it never blocks.
func (q *Queue) Push(events ...tvbridge.VenueEvent) {
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

// Pop removes the oldest event.
func (q *Queue) Pop() (tvbridge.VenueEvent, bool) {
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
func (q *Queue) unpop(ev tvbridge.VenueEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append([]tvbridge.VenueEvent{ev}, q.items...)
}

// Len returns the number of queued events.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Pump delivers queued events to Out, in order, until ctx ends. Events not
// delivered by then stay queued for the next Pump.
func (q *Queue) Pump(ctx context.Context) {
	for {
		ev, ok := q.Pop()
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
