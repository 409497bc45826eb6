package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"tvbridge"
	"tvbridge/tinkoff"
)

// catalogueSource loads the instrument catalogue at start: from the
// upstream, or, when the upstream does not answer within firstTry and an
// earlier run stored one, from the store, so that a restart during an
// upstream outage serves the symbols and their stored history at once.
type catalogueSource struct {
	up    tvbridge.MarketData
	store catalogueStore
	log   *slog.Logger

	mu        sync.Mutex
	fromStore bool      // serving the stored catalogue
	loaded    time.Time // when the catalogue in use was loaded from the upstream
	upToDate  bool      // the upstream answered since the start
	changed   bool      // ... with a catalogue other than the one in use
}

// catalogueStore keeps the last catalogue: the bbolt store, or PostgreSQL
// in cluster mode.
type catalogueStore interface {
	Catalogue(ctx context.Context) ([]tvbridge.Instrument, time.Time, bool, error)
	PutCatalogue(ctx context.Context, insts []tvbridge.Instrument, loaded time.Time) error
}

// firstTry is how long the start waits for the upstream's catalogue before
// it falls back to the stored one.
var firstTry = 10 * time.Second

// load returns the catalogue to serve. With no stored catalogue it waits
// for the upstream as long as it takes: there is nothing to serve without.
func (c *catalogueSource) load(ctx context.Context) ([]tvbridge.Instrument, error) {
	stored, at, ok, err := c.store.Catalogue(ctx)
	if err != nil {
		c.log.Warn("stored instrument catalogue unreadable; waiting for the upstream's", "err", err)
		ok = false
	}
	wait := time.Duration(0) // forever
	if ok {
		wait = firstTry
	}
	insts, err := c.fetch(ctx, wait)
	if err == nil {
		c.mu.Lock()
		c.loaded, c.upToDate = time.Now(), true
		c.mu.Unlock()
		return insts, nil
	}
	if !ok || tinkoff.IsAuth(err) || ctx.Err() != nil {
		return nil, fmt.Errorf("instrument catalogue: %w", err)
	}
	c.mu.Lock()
	c.fromStore, c.loaded = true, at
	c.mu.Unlock()
	c.log.Warn("upstream unavailable at start: serving the stored instrument catalogue and the stored history; "+
		"live data and backfill catch up when it returns",
		"instruments", len(stored), "catalogue_loaded", at.Format(time.RFC3339), "err", err)
	return stored, nil
}

// fetch asks the upstream for the catalogue, retrying with backoff, for at
// most wait (0: until it answers), and stores what it gets.
func (c *catalogueSource) fetch(ctx context.Context, wait time.Duration) ([]tvbridge.Instrument, error) {
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	delay := time.Second
	for {
		insts, err := c.up.Instruments(ctx)
		if err == nil {
			if err := c.store.PutCatalogue(ctx, insts, time.Now()); err != nil {
				c.log.Warn("store the instrument catalogue", "err", err)
			}
			return insts, nil
		}
		if tinkoff.IsAuth(err) {
			return nil, err
		}
		c.log.Warn("instrument catalogue unavailable; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Minute)
	}
}

// stale reports whether the catalogue in use is the stored one.
func (c *catalogueSource) stale() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fromStore
}

// refresh waits for the upstream's catalogue after a start on the stored
// one and says whether it changed meanwhile. Changes are published at the
// next start: symbols come and go with the catalogue, and TradingView
// reads /symbol_info only hourly anyway.
func (c *catalogueSource) refresh(ctx context.Context, inUse []tvbridge.Instrument) {
	insts, err := c.fetch(ctx, 0)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("upstream catalogue", "err", err)
		}
		return
	}
	same := reflect.DeepEqual(insts, inUse)
	c.mu.Lock()
	c.upToDate, c.changed = true, !same
	c.mu.Unlock()
	if same {
		c.log.Info("upstream answers again; its instrument catalogue is the one in use", "instruments", len(insts))
		return
	}
	c.log.Warn("upstream answers again with a changed instrument catalogue; restart tvbridge to publish the changes",
		"instruments_now", len(insts), "instruments_in_use", len(inUse))
}

// report adds the catalogue's state to a /healthz report.
func (c *catalogueSource) report(h map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	src := "upstream"
	if c.fromStore {
		src = "stored"
	}
	h["catalogue"] = src
	h["catalogue_loaded"] = c.loaded.UTC().Format(time.RFC3339)
	switch {
	case !c.upToDate:
		h["catalogue_state"] = "upstream unavailable since the start"
	case c.changed:
		h["catalogue_state"] = "changed upstream; restart to publish"
	}
}
