// Package replica serves a cluster node's market data from shared state:
// /history from the bar store in PostgreSQL plus the hot state the node
// follows on the JetStream tape (History), the live market that trading
// reads (MarketRecorder on the ingester, ApplyMarket on every node), and
// the ingester's bounded queue to the tape (Outbox). It knows the store and
// the tape only through small interfaces, so it is tested without either.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/bars"
	"tvbridge/clock"
)

const day = 24 * time.Hour

// Store is the read side of the shared bar store.
type Store interface {
	Minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)
	Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)
	FirstBar(ctx context.Context, figi string) (time.Time, bool, error)
	// ClosedWatermarks gives, per instrument, the end of its first covered
	// range (postgres.BarStore.ClosedWatermarks).
	ClosedWatermarks(ctx context.Context) (map[string]time.Time, error)
}

// Hot is the hot state followed from the tape (jetstream.HotMinutes).
type Hot interface {
	OpenMinute(figi string) (tvbridge.Bar, bool)
	Closed(figi string, from, to time.Time) []tvbridge.Bar
}

// Config configures a History.
type Config struct {
	Store       Store
	Hot         Hot
	Instruments []bars.InstrumentSpec
	// BackfillDepth bounds daily reads of instruments without a known first
	// bar, as the ingester's does; it must be the same on every node.
	BackfillDepth time.Duration
	Clock         clock.Clock  // default clock.Real{}
	Logger        *slog.Logger // default slog.Default()
}

// History implements api.History for a cluster node. Closed 1-minute and
// daily bars come from the store; the minutes the ingester closed but may
// not have written yet, and the open minute, come from the hot state.
// ClosedBefore, the immutability watermark the /history cache relies on,
// is derived from the store's coverage (Refresh): every node reads the same
// table, so two nodes never cache different bytes for a closed range, and
// a node never caches a range whose bars it cannot read yet.
type History struct {
	cfg   Config
	specs map[string]bars.InstrumentSpec

	mu     sync.RWMutex
	closed map[string]time.Time

	outage time.Time // when the last Refresh failed first; zero: it works
}

// New returns a History; call Refresh (or Run) to set the watermarks.
func New(cfg Config) (*History, error) {
	if cfg.Store == nil || cfg.Hot == nil {
		return nil, errors.New("replica: Store and Hot are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BackfillDepth <= 0 {
		cfg.BackfillDepth = 30 * day
	}
	h := &History{cfg: cfg, specs: map[string]bars.InstrumentSpec{}, closed: map[string]time.Time{}}
	for _, s := range cfg.Instruments {
		h.specs[s.Instrument.FIGI] = s
	}
	return h, nil
}

// Refresh reads the watermarks from the store once. A watermark never
// moves backwards (a backfill that adds an earlier range must not shrink
// what was already served as closed) and never passes now.
func (h *History) Refresh(ctx context.Context) error {
	marks, err := h.cfg.Store.ClosedWatermarks(ctx)
	if err != nil {
		return err
	}
	now := h.cfg.Clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for figi, t := range marks {
		if _, ok := h.specs[figi]; !ok {
			continue
		}
		if t.After(now) {
			t = now
		}
		if t.After(h.closed[figi]) {
			h.closed[figi] = t
		}
	}
	return nil
}

// Run refreshes the watermarks every interval until ctx ends, logging a
// store outage once when it begins and once when it ends.
func (h *History) Run(ctx context.Context, every time.Duration) {
	t := h.cfg.Clock.NewTicker(every)
	defer t.Stop()
	for {
		h.refreshLogged(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (h *History) refreshLogged(ctx context.Context) {
	err := h.Refresh(ctx)
	switch {
	case err != nil && ctx.Err() == nil && h.outage.IsZero():
		h.outage = h.cfg.Clock.Now()
		h.cfg.Logger.Error("history watermarks: the bar store does not answer; /history keeps the last ones", "err", err)
	case err == nil && !h.outage.IsZero():
		h.cfg.Logger.Info("history watermarks: the bar store answers again", "outage", h.cfg.Clock.Since(h.outage).Round(time.Millisecond))
		h.outage = time.Time{}
	}
}

// ClosedBefore is the instrument's immutability watermark.
func (h *History) ClosedBefore(figi string) time.Time {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed[figi]
}

// FirstBar is the store's first-bar watermark.
func (h *History) FirstBar(ctx context.Context, figi string) (time.Time, bool, error) {
	return h.cfg.Store.FirstBar(ctx, figi)
}

// Minutes returns the stored 1-minute bars with from <= Time < to, the hot
// closed minutes the store lacks, and the open minute.
func (h *History) Minutes(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	// Hot state before the store: a minute written in between is then seen
	// at least once (the store wins on equal times).
	open, hasOpen := h.cfg.Hot.OpenMinute(figi)
	mem := h.cfg.Hot.Closed(figi, from, to)
	stored, err := h.cfg.Store.Minutes(ctx, figi, from, to)
	if err != nil {
		return nil, fmt.Errorf("minutes of %s: %w", figi, err)
	}
	if hasOpen && !open.Time.Before(from) && open.Time.Before(to) && open.Volume > 0 {
		mem = append(mem, open)
	}
	return mergeBars(stored, mem), nil
}

// mergeBars merges two bar lists by time; on equal times the first list
// (the store, authoritative for closed bars) wins.
func mergeBars(primary, extra []tvbridge.Bar) []tvbridge.Bar {
	if len(extra) == 0 {
		return primary
	}
	seen := make(map[int64]bool, len(primary)+len(extra))
	out := append([]tvbridge.Bar(nil), primary...)
	for _, b := range primary {
		seen[b.Time.Unix()] = true
	}
	for _, b := range extra {
		if !seen[b.Time.Unix()] {
			seen[b.Time.Unix()] = true
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Daily returns the daily bars with from <= Time < to, as the ingester's
// ingest.Service.Daily does (bars.DailyBars): stored days, and the others
// (today, days still being backfilled) built from this History's 1-minute
// bars, so a daily bar always agrees with its minutes on every node.
func (h *History) Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error) {
	spec, ok := h.specs[figi]
	if !ok || spec.Schedule == nil {
		return nil, fmt.Errorf("daily bars of %s: unknown instrument", figi)
	}
	return bars.DailyBars(ctx, h.cfg.Store, h.Minutes, spec.Schedule, figi, h.cfg.Clock.Now(), h.cfg.BackfillDepth, from, to)
}
