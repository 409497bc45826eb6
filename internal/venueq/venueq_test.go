package venueq

import (
	"context"
	"strconv"
	"testing"

	"tvbridge"
)

func TestQueueNeverBlocksAndKeepsOrder(t *testing.T) {
	q := New()
	const n = 100_000
	for i := range n {
		q.Push(tvbridge.VenueEvent{ExecID: strconv.Itoa(i)}) // nobody reads yet
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Pump(ctx) }()
	for i := range n / 2 {
		if ev := <-q.Out(); ev.ExecID != strconv.Itoa(i) {
			t.Fatalf("event %d is %q", i, ev.ExecID)
		}
	}
	cancel()
	<-done
	// What was not delivered is still there, in order, for the next pump.
	if got := q.Len(); got != n/2 {
		t.Fatalf("%d events left, want %d", got, n/2)
	}
	if ev, _ := q.Pop(); ev.ExecID != strconv.Itoa(n/2) {
		t.Fatalf("next event %q", ev.ExecID)
	}
}
