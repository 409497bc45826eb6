package trading

import (
	"context"
	"time"

	"tvbridge"
)

// Restore backoff bounds.
const (
	restoreMinBackoff = time.Second
	restoreMaxBackoff = 30 * time.Second
)

// restoreVenue hands the venue the orders that were live when the state
// was loaded, retrying failed accounts with backoff until ctx ends. Orders
// that were still being placed count as placed once the venue has them.
func (m *Manager) restoreVenue(ctx context.Context) {
	pending := m.restore
	m.restore = nil
	backoff := restoreMinBackoff
	for len(pending) > 0 {
		for a, orders := range pending {
			if err := m.restoreAccount(ctx, a, orders); err != nil {
				m.log.Error("venue restore failed; retrying", "account", a.id, "orders", len(orders), "err", err, "in", backoff)
				continue
			}
			delete(pending, a)
		}
		if len(pending) == 0 || !m.sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, restoreMaxBackoff)
	}
}

func (m *Manager) restoreAccount(ctx context.Context, a *account, orders []tvbridge.VenueOrder) error {
	vctx, cancel := context.WithTimeout(ctx, m.cfg.VenueTimeout)
	err := m.cfg.Venue.Restore(vctx, a.venueAccount, orders)
	cancel()
	if err != nil {
		return err
	}
	m.log.Info("venue orders restored", "account", a.id, "orders", len(orders))
	a.mu.Lock()
	t := m.begin(a)
	for _, vo := range orders {
		id, gen := parseVenueID(vo.ID)
		if o := t.peek(id); o != nil && o.Gen == gen && o.Status == tvbridge.OrderPlacing {
			t.setStatus(t.order(id), tvbridge.OrderWorking, "", "")
		}
	}
	err = t.commit(ctx)
	a.mu.Unlock()
	t.finish()
	return err
}

// sleep waits d on the Manager's clock; false if ctx ended first.
func (m *Manager) sleep(ctx context.Context, d time.Duration) bool {
	timer := m.clk.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
		return true
	}
}
