package stream

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"tvbridge/clock"
)

// The connection cap.
//
// The service allows a user a number of connections (6 for v1) and answers
// the next handshake with 423 Locked. Another client of the same user (or a
// lower limit than documented) can hold part of that quota for good; a pool
// that keeps its instruments on slots that can never connect then leaves
// them without data however long it retries.
//
// So a 423 while some of the pool's connections are up teaches the pool an
// effective cap: the connections up, plus those still reconnecting for
// another reason (after an abrupt drop they have not been refused, and the
// service may not have released their old sockets yet). Every other slot is
// parked: it holds nothing and does not dial. The instruments of the parked
// slots move onto the connections that are up, each to the one carrying the
// fewest, beyond MaxPerConnection if need be: that is the service's advice,
// not a limit, and a live instrument on a fuller connection beats a dead
// one. While the cap is lower, PerConnectionLimit rises so that the
// configured total (MaxConnections x MaxPerConnection) still fits before
// subscriptions wait.
//
// A 423 with no connection up says nothing about the cap (the whole quota
// is held elsewhere): every slot backs off as before. Handshakes in flight
// when a 423 arrives are part of the answer, so the cap is settled when
// none is left in flight; a handshake takes at most HandshakeTimeout.
//
// Then the lowest parked slot dials once, with nothing on it (no instrument
// loses its connection to the test). If the service accepts it, the cap
// rises by one and instruments move onto the new connection from the
// fullest ones until the loads are even; the next slot is tried at once. If
// it is refused again the cap stays and the next try is CapRetry later. The
// first try comes after a 423's usual backoff (BackoffMax/2 to BackoffMax)
// rather than CapRetry: right after the service dropped connections it may
// still count the dropped sockets against the quota for a moment, and a cap
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

// perConnLocked is how many instruments a slot takes before new
// subscriptions wait: MaxPerConnection, raised while the cap is lower so
// that the configured total still fits.
func (p *Pool) perConnLocked() int {
	c := max(p.capLocked(), 1)
	total := p.cfg.MaxConnections * p.cfg.MaxPerConnection
	return max(p.cfg.MaxPerConnection, (total+c-1)/c)
}

// slotForLocked picks the slot for figi: the one already carrying it, else
// the first usable connection in use with room under MaxPerConnection, else
// the first unused usable slot (a new connection, opened lazily), else,
// while the cap is lower, the least loaded connection under the raised
// limit, else nil.
func (p *Pool) slotForLocked(figi string) *slot {
	if s := p.figiSlot[figi]; s != nil {
		return s
	}
	limit := p.perConnLocked()
	var unused, least *slot
	for _, s := range p.slots {
		n := len(s.subs)
		switch {
		case s.parked:
		case n == 0:
			if unused == nil {
				unused = s
			}
		case n < p.cfg.MaxPerConnection:
			return s
		case n < limit && (least == nil || n < len(least.subs)):
			least = s
		}
	}
	if unused != nil {
		return unused
	}
	return least
}

// settleCapLocked acts on the slots refused with 423 once no handshake is
// in flight: with connections up it learns the cap, with none it holds
// every slot's dials for the longest 423 backoff, as the quota is held
// elsewhere.
func (p *Pool) settleCapLocked() {
	up := 0
	var refused []*slot
	for _, s := range p.slots {
		switch {
		case s.conn != nil:
			up++
		case s.state == stateDialing:
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
		return
	}
	p.learnCapLocked(up)
}

// learnCapLocked parks every slot that is neither up nor reconnecting with
// subscriptions (the refused ones, the idle ones), moves the parked slots'
// instruments onto the connections up, and logs the change once.
func (p *Pool) learnCapLocked(up int) {
	before := p.capLocked()
	var parked []*slot
	for _, s := range p.slots {
		if s.conn == nil && !s.parked && (s.refused || s.nsubs == 0) {
			s.parked, s.refused = true, false
			parked = append(parked, s)
		}
	}
	var moved []string
	for _, s := range parked {
		for _, figi := range sortedKeys(s.subs) {
			p.moveLocked(figi, s, p.leastLoadedUpLocked())
			moved = append(moved, figi)
		}
		signal(s.kick) // its manager stops waiting to redial
	}
	p.placePendingLocked()
	p.scheduleCapRetryLocked(p.clock.Now().Add(p.bo.locked()))
	word := "learned"
	if before < p.cfg.MaxConnections {
		word = "lowered"
	}
	p.log.Warn(fmt.Sprintf("stream connection cap %s: the service refused a connection (HTTP 423) while %d were up; "+
		"instruments moved onto the connections up", word, up),
		"cap", p.capLocked(), "configured", p.cfg.MaxConnections, "previous_cap", before,
		"instruments_moved", len(moved), "figis", figiList(moved),
		"per_connection_limit", p.perConnLocked(), "retry_at", p.capRetryAt.UTC().Format(time.RFC3339),
		"then_every", p.cfg.CapRetry.String())
}

// leastLoadedUpLocked returns the connected slot with the fewest
// instruments, the lowest index on a tie.
func (p *Pool) leastLoadedUpLocked() *slot {
	var best *slot
	for _, s := range p.slots {
		if s.conn != nil && !s.parked && (best == nil || len(s.subs) < len(best.subs)) {
			best = s
		}
	}
	return best
}

// moveLocked moves figi's subscriptions from one slot to another: the old
// connection, if up, unsubscribes them, the new one, if up, subscribes
// them (a new candle epoch). The instrument's quiet period restarts; its
// history (when it was added, its typical gap) stays.
func (p *Pool) moveLocked(figi string, from, to *slot) {
	bySub := from.subs[figi]
	subs := sortedSubs(bySub)
	delete(from.subs, figi)
	from.nsubs -= len(subs)
	if from.conn != nil {
		for _, sub := range subs {
			p.sendLocked(from, sub, false)
		}
	}
	for _, sub := range subs {
		bySub[sub] = ""
	}
	to.subs[figi] = bySub
	to.nsubs += len(subs)
	p.figiSlot[figi] = to
	p.inst.track(figi, p.clock.Now())
	if to.conn != nil {
		for _, sub := range subs {
			bySub[sub] = p.sendLocked(to, sub, true)
		}
	}
	p.stats.moved.Add(1)
	p.startSlotLocked(to)
	if from.nsubs == 0 {
		p.emptiedLocked(from)
	}
}

// scheduleCapRetryLocked sets when one more connection is tried.
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

// probeCap starts a probe of one more connection, if one is due.
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
			p.log.Info("trying one more stream connection", "conn", s.index, "cap", p.capLocked(),
				"configured", p.cfg.MaxConnections)
			p.startSlotLocked(s)
			return
		}
	}
	if p.capLocked() < p.cfg.MaxConnections {
		// Every parked slot's manager is still winding down; try later.
		p.scheduleCapRetryLocked(p.clock.Now().Add(p.cfg.CapRetry))
	}
}

// probeFailedLocked ends a probe the service did not accept: the cap stays
// and the next try is CapRetry later.
func (p *Pool) probeFailedLocked(s *slot, status int, err error) {
	s.probe = false
	p.scheduleCapRetryLocked(p.clock.Now().Add(p.cfg.CapRetry))
	reason := "refused again"
	if status != http.StatusLocked {
		reason = "failed"
	}
	p.log.Info("one more stream connection "+reason+"; keeping the connection cap", "conn", s.index,
		"status", status, "err", err, "cap", p.capLocked(), "configured", p.cfg.MaxConnections,
		"retry_at", p.capRetryAt.UTC().Format(time.RFC3339))
}

// capRaisedLocked takes a probe that connected into use: the cap rises by
// one, and instruments move onto it from the fullest connections until the
// loads are even. The next parked slot, if any, is tried at once.
func (p *Pool) capRaisedLocked(s *slot) {
	s.probe, s.parked = false, false
	var moved []string
	for {
		from := p.mostLoadedLocked(s)
		if from == nil || len(from.subs) <= len(s.subs)+1 {
			break
		}
		keys := sortedKeys(from.subs)
		figi := keys[len(keys)-1]
		p.moveLocked(figi, from, s)
		moved = append(moved, figi)
	}
	if s.nsubs == 0 {
		p.emptiedLocked(s) // nothing to carry: close it again, it stays usable
	}
	if p.capLocked() < p.cfg.MaxConnections {
		p.scheduleCapRetryLocked(p.clock.Now())
	} else {
		p.scheduleCapRetryLocked(time.Time{})
	}
	p.log.Warn(fmt.Sprintf("stream connection cap raised to %d: the service accepted one more connection", p.capLocked()),
		"cap", p.capLocked(), "configured", p.cfg.MaxConnections, "conn", s.index,
		"instruments_moved", len(moved), "figis", figiList(moved), "per_connection_limit", p.perConnLocked())
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

// figiListMax bounds the FIGIs a log line names.
const figiListMax = 20

// figiList names up to figiListMax FIGIs for a log line, and how many more.
func figiList(figis []string) string {
	if len(figis) <= figiListMax {
		return strings.Join(figis, ",")
	}
	return strings.Join(slices.Clip(figis[:figiListMax]), ",") + fmt.Sprintf(" and %d more", len(figis)-figiListMax)
}
