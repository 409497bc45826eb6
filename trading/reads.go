package trading

import (
	"context"
	"slices"

	"tvbridge"
)

// Orders lists the account's orders in creation order: every order not yet
// final, and final ones for the rest of their trading day and at least
// FinalOrderRetention after they ended.
func (m *Manager) Orders(ctx context.Context, user, accountID string) ([]tvbridge.Order, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return nil, err
	}
	now := m.clk.Now()
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]tvbridge.Order, 0, len(a.recent))
	for _, o := range a.recent {
		if !o.Status.Final() || now.Before(o.ListUntil) {
			out = append(out, o.Order)
		}
	}
	return out, nil
}

// OrdersVersion identifies the list Orders returns, for callers that keep
// what they make of it: Orders lists the same orders, unchanged, whenever
// OrdersVersion returns the same version and count. The version changes
// with every committed change to the account; the count is how many orders
// are listed now, which tells apart the lists of one version (final
// orders leave the list as time passes, never come back).
func (m *Manager) OrdersVersion(ctx context.Context, user, accountID string) (version uint64, listed int, err error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return 0, 0, err
	}
	now := m.clk.Now()
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, o := range a.recent {
		if !o.Status.Final() || now.Before(o.ListUntil) {
			listed++
		}
	}
	return a.version, listed, nil
}

// OrdersHistory lists final orders, the most recently ended first, at most
// maxCount (<= 0: all kept in memory, see Config.MaxHistory).
func (m *Manager) OrdersHistory(ctx context.Context, user, accountID string, maxCount int) ([]tvbridge.Order, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := len(a.finals)
	if maxCount > 0 {
		n = min(n, maxCount)
	}
	out := make([]tvbridge.Order, 0, n)
	for i := len(a.finals) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, a.finals[i].Order)
	}
	return out, nil
}

// Executions lists fills, newest first, of one instrument (figi "" for
// all), at most maxCount (<= 0: all kept in memory, see
// Config.MaxExecutions).
func (m *Manager) Executions(ctx context.Context, user, accountID, figi string, maxCount int) ([]tvbridge.Execution, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []tvbridge.Execution
	for i := len(a.execs) - 1; i >= 0; i-- {
		if maxCount > 0 && len(out) >= maxCount {
			break
		}
		if e := a.execs[i]; figi == "" || e.FIGI == figi {
			out = append(out, e.Execution)
		}
	}
	if out == nil {
		out = []tvbridge.Execution{}
	}
	return out, nil
}

// ValuationVersion identifies what State and Positions return for the
// account, for callers that keep what they make of it (the HTTP layer
// keeps the encoded answer): both return the same, unchanged, whenever
// ValuationVersion returns the same version. It combines the account's
// version (every committed change) with the live market's version of every
// instrument the valuation reads: the positions', the working orders' and
// the currency pairs' that convert the totals: version is {the account's
// committed changes, the market's updates of those instruments}. ok is
// false when the market or the rates cannot tell their version; nothing
// can be kept then.
func (m *Manager) ValuationVersion(ctx context.Context, user, accountID string) (version [2]uint64, ok bool, err error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return version, false, err
	}
	market, ok := m.cfg.Market.(marketVersioner)
	if !ok {
		return version, false, nil
	}
	a.mu.RLock()
	version[0] = a.version
	valued := a.valued.Load()
	if valued == nil || valued.version != a.version {
		var pairs []string
		if m.cfg.Rates != nil {
			r, ok := m.cfg.Rates.(interface{ FIGIs() []string })
			if !ok {
				a.mu.RUnlock()
				return version, false, nil
			}
			pairs = r.FIGIs()
		}
		figis := make([]string, 0, len(a.posList)+len(a.open)+len(pairs))
		for _, p := range a.posList {
			figis = append(figis, p.FIGI)
		}
		for _, o := range a.open {
			figis = append(figis, o.FIGI)
		}
		slices.Sort(figis)
		figis = append(slices.Compact(figis), pairs...)
		valued = &valuedFIGIs{version: a.version, market: market.VersionOf(figis)}
		a.valued.Store(valued)
	}
	a.mu.RUnlock()
	version[1] = valued.market()
	return version, true, nil
}

// valuedFIGIs is what ValuationVersion keeps per account version: the
// market version of the instruments the valuation reads.
type valuedFIGIs struct {
	version uint64
	market  func() uint64
}

// marketVersioner is a LiveMarket that versions its instruments' state
// (live.Market).
type marketVersioner interface {
	// VersionOf returns what tells the version of figis' state: the same
	// number means none of them changed.
	VersionOf(figis []string) func() uint64
}
