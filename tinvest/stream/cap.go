package stream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// The stream cap.
//
// The service allows a token MaxStreams market-data streams (16, more at
// higher tariffs) and closes the next one with 4008 RESOURCE_EXHAUSTED,
// service code 80001, right after the upgrade. Another client of the same
// token (or a lower tariff than configured) can hold part of that quota
// for good; a pool that keeps its instruments on slots whose streams are
// always refused leaves them without data however long it retries. This is
// package tinkoff/stream's connection cap (shard.go there), with v2's
// differences.
//
// A refusal while some of the pool's streams are up teaches the pool an
// effective cap: the streams up, plus those still reconnecting for another
// reason (after an abrupt drop they have not been refused, and the service
// may not have released their old streams yet). A stream is up once the
// service answered anything on it: the pool sends a ping request right
// after pingSettings, so an accepted stream is known at once, while a
// refused one is closed before any answer. Every other slot is parked: it
// holds nothing and does not dial. The instruments of the parked slots
// move onto the streams up, each to the one carrying the fewest
// subscriptions among those it fits on. Unlike v1's advisory limit,
// MaxSubscriptionsPerStream is the service's hard limit (beyond it the
// service answers LIMIT_IS_EXCEEDED), so an instrument that fits nowhere
// waits in the pending list (Stats.Pending) until room frees or the cap
// rises; StreamState says it is not live, so package ingest fills its
// minutes from REST. Trading-status subscriptions weigh nothing and always
// fit. SpareStreams are outside the slots and stay unused as before: the
// cap counts slots.
//
// A refusal with no stream up says nothing about the cap (the whole quota
// is held elsewhere): every slot's dials wait a long backoff (BackoffMax/2
// to BackoffMax), as for any other 4008. Handshakes and streams not yet
// answered when a refusal arrives are part of the answer, so the cap is
// settled when none is left in flight.
//
// Then the lowest parked slot dials once, with nothing on it (no
// instrument loses its stream to the test). If the service accepts it, the
// cap rises by one: the waiting subscriptions are placed first, then
// instruments move onto the new stream from the fullest ones until the
// loads are even; the next slot is tried at once. If it is refused again
// the cap stays and the next try is CapRetry later. The first try comes
// after a refusal's usual backoff rather than CapRetry: right after the
// service dropped streams it may still count the dropped ones against the
// quota for a moment (it refreshes its count every 2 minutes), and a cap
// learned from those ghosts must not last.

// capLocked is the number of slots the pool may use.
func (p *Pool) capLocked() int {
	n := 0
	for _, s := range p.slots {
		if !s.parked {
			n++
		}
	}
	return n
}

// upLocked tells whether s has a stream the service accepted.
func upLocked(s *slot) bool { return s.conn != nil && s.conn.accepted }

// accepted records that the service answered on c: the stream is up as far
// as the cap goes. A probe that gets here raised the cap.
func (p *Pool) accepted(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.accepted = true
	s := c.slot
	if s.conn != c {
		return
	}
	if s.probe {
		p.capRaisedLocked(s)
	}
	p.settleCapLocked()
}

// settleCapLocked acts on the slots refused with 80001 once nothing is in
// flight: with streams up it learns the cap, with none it holds every
// slot's dials until the end of the refusals' backoff.
func (p *Pool) settleCapLocked() {
	up := 0
	var refused []*slot
	for _, s := range p.slots {
		switch {
		case upLocked(s):
			up++
		case s.conn != nil, s.running && s.state == stateDialing:
			return // its outcome is part of the answer
		case s.refused && !s.parked:
			refused = append(refused, s)
		}
	}
	if len(refused) == 0 {
		return
	}
	if up == 0 {
		for _, s := range refused {
			s.refused = false
			p.holdDialsLocked(s.lockEnd)
		}
		p.log.Warn("the service refuses every stream for this token (4008, 80001: too many streams) with none of ours up: "+
			"another client holds them all; every stream waits", "refused", len(refused), "until", p.gate.UTC().Format(time.RFC3339))
		return
	}
	p.learnCapLocked(up)
}

// learnCapLocked parks every slot that is neither up nor reconnecting with
// subscriptions (the refused ones, the idle ones), moves the parked slots'
// instruments onto the streams up where they fit, puts the rest in the
// pending list, and logs the change once.
func (p *Pool) learnCapLocked(up int) {
	before := p.capLocked()
	var parked []*slot
	for _, s := range p.slots {
		if s.conn == nil && !s.parked && (s.refused || len(s.subs) == 0) {
			s.parked, s.refused = true, false
			parked = append(parked, s)
		}
	}
	var moved, waiting []string
	for _, s := range parked {
		for _, figi := range sortedKeys(s.subs) {
			if to := p.leastLoadedUpLocked(weights(s.subs[figi])); to != nil {
				p.moveLocked(figi, s, to)
				moved = append(moved, figi)
			} else {
				p.unplaceLocked(s, figi)
				waiting = append(waiting, figi)
			}
		}
		signal(s.kick) // its manager stops waiting to redial
	}
	p.placePendingLocked()
	p.scheduleCapRetryLocked(p.clock.Now().Add(p.bo.locked()))
	word := "learned"
	if before < len(p.slots) {
		word = "lowered"
	}
	p.log.Warn(fmt.Sprintf("stream cap %s: the service refused a stream (4008, 80001: too many streams for the token) "+
		"while %d were up; instruments moved onto the streams up, those that do not fit wait", word, up),
		"cap", p.capLocked(), "slots", len(p.slots), "max_streams", p.cfg.MaxStreams, "previous_cap", before,
		"instruments_moved", len(moved), "figis", figiList(moved),
		"instruments_waiting", len(waiting), "waiting_figis", figiList(waiting), "pending_subscriptions", len(p.pending),
		"retry_at", p.capRetryAt.UTC().Format(time.RFC3339), "then_every", p.cfg.CapRetry.String())
}

// leastLoadedUpLocked returns the stream up with the fewest subscriptions
// among those with room for need more, the lowest index on a tie; nil if
// none has room.
func (p *Pool) leastLoadedUpLocked(need int) *slot {
	var best *slot
	for _, s := range p.slots {
		if upLocked(s) && !s.parked && s.nsubs+need <= p.capOf(s) && (best == nil || s.nsubs < best.nsubs) {
			best = s
		}
	}
	return best
}

// unplaceLocked takes figi's subscriptions off s into the pending list:
// they stay desired and are placed when room frees or the cap rises.
func (p *Pool) unplaceLocked(s *slot, figi string) {
	bySub := s.subs[figi]
	subs := make([]tvbridge.Subscription, 0, len(bySub))
	for sub, st := range bySub {
		p.countLocked(s, sub, -1)
		if s.conn != nil && (st.phase == phaseSent || st.phase == phaseLive) {
			s.unsubs = append(s.unsubs, sub)
		}
		subs = append(subs, sub)
	}
	slices.SortFunc(subs, func(a, b tvbridge.Subscription) int { return strings.Compare(a.String(), b.String()) })
	p.pending = append(p.pending, subs...)
	delete(s.subs, figi)
	delete(p.figiSlot, figi)
	p.inst.untrack(figi)
	p.wakeLocked(s)
	if len(s.subs) == 0 {
		p.emptiedLocked(s)
	}
}

// scheduleCapRetryLocked sets when one more stream is tried.
func (p *Pool) scheduleCapRetryLocked(at time.Time) {
	p.capRetryAt = at
	signal(p.capWake)
}

// watchCap runs the cap retries.
func (p *Pool) watchCap(ctx context.Context) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		at := p.capRetryAt
		p.mu.Unlock()
		var timer clock.Timer
		var fired <-chan time.Time
		if !at.IsZero() {
			timer = p.clock.NewTimer(max(at.Sub(p.clock.Now()), 0))
			fired = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-p.capWake:
		case <-fired:
			p.probeCap()
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// probeCap starts a probe of one more stream, if one is due.
func (p *Pool) probeCap() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.capRetryAt.IsZero() || p.capRetryAt.After(p.clock.Now()) {
		return
	}
	p.capRetryAt = time.Time{}
	for _, s := range p.slots {
		if s.parked && !s.running && !s.probe {
			s.probe = true
			p.log.Info("trying one more stream", "conn", s.index, "cap", p.capLocked(), "slots", len(p.slots))
			p.startSlotLocked(s)
			return
		}
	}
	if p.capLocked() < len(p.slots) {
		// Every parked slot's manager is still winding down; try later.
		p.scheduleCapRetryLocked(p.clock.Now().Add(p.cfg.CapRetry))
	}
}

// probeFailedLocked ends a probe the service did not accept: the cap stays
// and the next try is CapRetry later.
func (p *Pool) probeFailedLocked(s *slot, refused bool, err error) {
	s.probe = false
	p.scheduleCapRetryLocked(p.clock.Now().Add(p.cfg.CapRetry))
	reason := "refused again (80001)"
	if !refused {
		reason = "failed"
	}
	p.log.Info("one more stream "+reason+"; keeping the stream cap", "conn", s.index, "err", err,
		"cap", p.capLocked(), "slots", len(p.slots), "retry_at", p.capRetryAt.UTC().Format(time.RFC3339))
}

// capRaisedLocked takes a probe the service accepted into use: the cap
// rises by one, the waiting subscriptions are placed, and instruments move
// onto it from the fullest streams until the loads are even. The next
// parked slot, if any, is tried at once.
func (p *Pool) capRaisedLocked(s *slot) {
	s.probe, s.parked = false, false
	pending := len(p.pending)
	p.placePendingLocked()
	var moved []string
	for {
		from := p.mostLoadedLocked(s)
		if from == nil || len(from.subs) <= len(s.subs)+1 {
			break
		}
		keys := sortedKeys(from.subs)
		figi := keys[len(keys)-1]
		if s.nsubs+weights(from.subs[figi]) > p.capOf(s) {
			break
		}
		p.moveLocked(figi, from, s)
		moved = append(moved, figi)
	}
	if len(s.subs) == 0 {
		p.emptiedLocked(s) // nothing to carry: close it again, it stays usable
	}
	if p.capLocked() < len(p.slots) {
		p.scheduleCapRetryLocked(p.clock.Now())
	} else {
		p.scheduleCapRetryLocked(time.Time{})
	}
	p.log.Warn(fmt.Sprintf("stream cap raised to %d: the service accepted one more stream", p.capLocked()),
		"cap", p.capLocked(), "slots", len(p.slots), "conn", s.index, "instruments_moved", len(moved),
		"figis", figiList(moved), "subscriptions_placed", pending-len(p.pending), "pending_subscriptions", len(p.pending))
}

// mostLoadedLocked returns the usable slot other than except with the most
// instruments, the lowest index on a tie.
func (p *Pool) mostLoadedLocked(except *slot) *slot {
	var best *slot
	for _, s := range p.slots {
		if s != except && !s.parked && (best == nil || len(s.subs) > len(best.subs)) {
			best = s
		}
	}
	return best
}
