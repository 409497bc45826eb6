package trading

import (
	"context"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// expiryRetry is how long after asking the venue to cancel an expired
// order the Manager asks again, if the venue has not confirmed by then.
const expiryRetry = time.Minute

// expiryClock tells the expiry loop when the earliest DAY order expires.
// note is called for every order committed with an expiry; it wakes the
// loop only when the new expiry is earlier than the one it waits for, so
// placing orders does not make the loop rescan all accounts.
type expiryClock struct {
	mu    sync.Mutex
	armed time.Time // the deadline the loop waits for; zero: none
	wake  chan struct{}
}

func newExpiryClock() expiryClock { return expiryClock{wake: make(chan struct{}, 1)} }

func (e *expiryClock) note(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.armed.IsZero() && !t.Before(e.armed) {
		return
	}
	e.armed = t
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *expiryClock) arm(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.armed = t
}

// expiryLoop cancels DAY orders at the end of their trading day.
func (m *Manager) expiryLoop(ctx context.Context) {
	for {
		next := m.expireDue(ctx)
		m.expiry.arm(next)
		var timer clock.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = m.clk.NewTimer(max(next.Sub(m.clk.Now()), 0))
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-m.expiry.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// expireDue cancels the orders whose expiry has passed and returns when to
// look again (zero: nothing left to expire).
func (m *Manager) expireDue(ctx context.Context) time.Time {
	defer m.recoverPanic("order expiry")
	now := m.clk.Now()
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, a := range m.allAccounts() {
		if retry := m.expireAccount(ctx, a, now, earliest); retry {
			earliest(now.Add(expiryRetry))
		}
	}
	return next
}

// expireAccount expires a's due orders and reports later ones to earliest.
// It reports whether it asked the venue to cancel something, which must be
// checked again later.
func (m *Manager) expireAccount(ctx context.Context, a *account, now time.Time, earliest func(time.Time)) bool {
	a.mu.Lock()
	t := m.begin(a)
	asked := false
	for _, o := range a.open {
		if o.ExpiresAt.IsZero() {
			continue
		}
		if now.Before(o.ExpiresAt) {
			earliest(o.ExpiresAt)
			continue
		}
		if o.VenueLive {
			// The venue holds it: its cancel event finishes the order.
			t.cancelAtVenue(o.ID)
			asked = true
			continue
		}
		t.cancelOrder(t.order(o.ID), "information", "expired at the end of the trading day")
	}
	err := t.commit(ctx)
	a.mu.Unlock()
	t.finish()
	if err != nil {
		m.log.Error("expiring DAY orders failed", "account", a.id, "err", err)
		return true
	}
	return asked
}

// allAccounts returns every account, for scans.
func (m *Manager) allAccounts() []*account {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*account, 0, len(m.accounts))
	for _, a := range m.accounts {
		out = append(out, a)
	}
	return out
}

// schedule returns the instrument's parsed trading schedule, cached. An
// instrument without a usable session trades 24x7 in UTC, so its trading
// day ends at midnight UTC.
func (m *Manager) schedule(figi string) *tvbridge.Schedule {
	m.schedMu.Lock()
	defer m.schedMu.Unlock()
	if s := m.schedules[figi]; s != nil {
		return s
	}
	inst, ok := m.cfg.Instrument(figi)
	s, err := tvbridge.ParseSchedule(inst.Session, inst.Timezone)
	if !ok || err != nil {
		m.log.Warn("no usable trading session; using 24x7 UTC", "figi", figi, "err", err)
		s = tvbridge.MustSchedule("24x7", "UTC")
	}
	m.schedules[figi] = s
	return s
}

// dayEnd returns the end of the trading day that t belongs to, or of the
// next one when t is outside trading hours; zero when none is in sight.
func (m *Manager) dayEnd(figi string, t time.Time) time.Time {
	s := m.schedule(figi)
	day, ok := s.TradingDay(t)
	if !ok {
		open, found := s.NextChange(t)
		if !found {
			return time.Time{}
		}
		if day, ok = s.TradingDay(open); !ok {
			return time.Time{}
		}
	}
	var end time.Time
	for _, p := range s.Periods(day) {
		if p.Close.After(end) {
			end = p.Close
		}
	}
	return end
}

// listUntil is how long an order that became final at t stays in Orders:
// the rest of its trading day, and at least FinalOrderRetention.
func (m *Manager) listUntil(figi string, t time.Time) time.Time {
	until := t.Add(m.cfg.FinalOrderRetention)
	if m.schedule(figi).InSession(t) {
		if end := m.dayEnd(figi, t); end.After(until) {
			until = end
		}
	}
	return until
}
