package tinvest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"
)

// pollLogEvery bounds how often a failing poll is logged at warning level.
const pollLogEvery = time.Minute

// runPolls polls at once, then every PollInterval and whenever kicked,
// until ctx ends (nil) or the service refuses the token (the error).
func (v *Venue) runPolls(ctx context.Context) error {
	ticker := v.clock.NewTicker(v.cfg.PollInterval)
	defer ticker.Stop()
	v.requestFull()
	var lastLogged time.Time
	for {
		err := v.Poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrUnauthenticated):
			return err
		case err != nil:
			if now := v.clock.Now(); now.Sub(lastLogged) >= pollLogEvery {
				lastLogged = now
				v.log.Warn("order poll failed; retrying", "err", err, "stream_up", v.streamUp.Load())
			} else {
				v.log.Debug("order poll failed; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		case <-v.kick:
		}
	}
}

// kickPoll asks the poller for a round without waiting for the ticker.
func (v *Venue) kickPoll() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// requestFull makes the next round reconcile every account.
func (v *Venue) requestFull() {
	v.mu.Lock()
	v.full = true
	v.mu.Unlock()
	v.kickPoll()
}

// Poll makes one round now: a full reconcile of every account that has
// orders being followed when one is due (always while the order stream is
// down, every ReconcileInterval while it is up, and after it reconnects),
// and the state of each order flagged for an immediate look (placed with
// fills already, cancelled, restored, or ended on the stream with fills
// missing). Run calls it; rounds never overlap. Errors are per account or
// order: the rest are still polled, and the failed ones again next round.
func (v *Venue) Poll(ctx context.Context) (err error) {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	defer func() {
		// Upstream data drives this code: a bug must not kill the poller.
		if p := recover(); p != nil {
			v.log.Error("order poll panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("tinvest venue: poll panicked: %v", p)
		}
	}()
	now := v.clock.Now()
	v.mu.Lock()
	full := v.full || !v.streamUp.Load() || now.Sub(v.lastFull) >= v.cfg.ReconcileInterval
	var accounts []string
	if full {
		v.full, v.lastFull = false, now
		seen := map[string]bool{}
		for _, t := range v.orders {
			if !seen[t.account] {
				seen[t.account] = true
				accounts = append(accounts, t.account)
			}
		}
		slices.Sort(accounts)
	}
	urgent := make([]*tracked, 0, len(v.urgent))
	for key := range v.urgent {
		if t := v.orders[key]; t != nil {
			urgent = append(urgent, t)
		}
	}
	clear(v.urgent)
	for id, f := range v.done {
		if now.Sub(f.at) > doneRetention {
			delete(v.done, id)
		}
	}
	v.mu.Unlock()
	slices.SortFunc(urgent, func(a, b *tracked) int { return cmp.Compare(a.seq, b.seq) })

	var errs []error
	fetched := map[*tracked]bool{}
	for _, acc := range accounts {
		if err := v.reconcileAccount(ctx, acc, fetched); err != nil {
			errs = append(errs, err)
			v.mu.Lock()
			v.full = true // again next round
			v.mu.Unlock()
		}
	}
	for _, t := range urgent {
		if fetched[t] {
			continue
		}
		if err := v.fetch(ctx, t); err != nil {
			errs = append(errs, err)
			v.mu.Lock()
			if v.orders[t.key] == t {
				v.urgent[t.key] = true // again next round
			}
			v.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// reconcileAccount reads the account's active orders (GetOrders, with
// their fills) and the state of each followed order no longer among them
// (GetOrderState): filled, cancelled, rejected, or unknown.
func (v *Venue) reconcileAccount(ctx context.Context, account string, fetched map[*tracked]bool) error {
	v.mu.Lock()
	var list []*tracked
	for _, t := range v.orders {
		if t.account == account {
			list = append(list, t)
		}
	}
	v.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	slices.SortFunc(list, func(a, b *tracked) int { return cmp.Compare(a.seq, b.seq) })
	active, err := v.client.Orders(ctx, account)
	if err != nil {
		v.logErr("reading active orders failed", err, "account", account)
		return fmt.Errorf("tinvest venue: account %s: active orders: %w", account, err)
	}
	now := v.clock.Now()
	var missing []*tracked
	v.mu.Lock()
	for _, st := range active {
		t := v.lookupLocked(st.OrderRequestID, st.OrderID)
		if t == nil || t.account != account {
			continue // not an order of tvbridge's
		}
		fetched[t] = true
		if v.applyLocked(t, stateView(st), now) {
			v.urgent[t.key] = true
		}
	}
	for _, t := range list {
		if !fetched[t] && v.orders[t.key] == t && t.inflight == 0 {
			missing = append(missing, t)
		}
	}
	v.mu.Unlock()
	var errs []error
	for _, t := range missing {
		fetched[t] = true
		if err := v.fetch(ctx, t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fetch reads one order's state (GetOrderState) and applies it.
func (v *Venue) fetch(ctx context.Context, t *tracked) error {
	v.mu.Lock()
	if v.orders[t.key] != t {
		v.mu.Unlock()
		return nil // finished meanwhile
	}
	id, idType := t.ids()
	account, orderID := t.account, t.order.ID
	v.mu.Unlock()
	st, err := v.client.OrderState(ctx, account, id, idType)
	now := v.clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.orders[t.key] != t {
		return nil
	}
	if err != nil {
		if IsNotFound(err) {
			v.notFoundLocked(t, now)
			return nil
		}
		v.logErr("reading an order's state failed", err, "order", orderID, "account", account, "tinvest_order", id)
		return fmt.Errorf("tinvest venue: order %s: state: %w", orderID, err)
	}
	if v.applyLocked(t, stateView(st), now) {
		v.urgent[t.key] = true
	}
	return nil
}
