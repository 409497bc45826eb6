package paper

import (
	"context"
	"sync"

	"tvbridge"
)

// queue is an unbounded FIFO of events between the goroutines that match
// orders, which must never wait for a consumer, and the one pump goroutine
// that feeds the Events channel, which may wait as long as it likes.
type queue struct {
	mu    sync.Mutex
	items []tvbridge.VenueEvent
	head  int           // items[:head] were delivered
	ready chan struct{} // holds a token when items may be waiting
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

// push appends events without ever blocking on the consumer.
func (q *queue) push(evs ...tvbridge.VenueEvent) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, evs...)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // a token is already waiting
	}
}

func (q *queue) peek() (tvbridge.VenueEvent, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return tvbridge.VenueEvent{}, false
	}
	return q.items[q.head], true
}

// pop drops the event peek returned. Only the pump pops, so the event is
// still the head.
func (q *queue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items[q.head] = tvbridge.VenueEvent{}
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && q.head*2 >= len(q.items):
		// Reclaim the delivered prefix of a long backlog.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// pump delivers events to out, in order, until ctx ends. An event is popped
// only once out took it, so none is lost when ctx ends mid-send: the next
// pump delivers it.
func (q *queue) pump(ctx context.Context, out chan<- tvbridge.VenueEvent) {
	for {
		ev, ok := q.peek()
		if !ok {
			select {
			case <-q.ready:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case out <- ev:
			q.pop()
		case <-ctx.Done():
			return
		}
	}
}
