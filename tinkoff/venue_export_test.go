package tinkoff

import "tvbridge"

// DrainVenueEvents returns the events queued so far, for tests that call
// Poll themselves instead of running the venue.
func DrainVenueEvents(v *OrderVenue) []tvbridge.VenueEvent {
	var out []tvbridge.VenueEvent
	for {
		ev, ok := v.queue.Pop()
		if !ok {
			return out
		}
		out = append(out, ev)
	}
}

// TrackedVenueOrders returns how many orders the venue follows.
func TrackedVenueOrders(v *OrderVenue) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, a := range v.accounts {
		n += len(a.orders)
	}
	return n
}
