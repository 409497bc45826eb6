package tradeapi

import (
	"context"
	"sync"
)

// TradingView's browser client polls /orders, /positions and /state every
// second or so per trader; between polls they mostly have not changed. A
// Broker that can tell (trading.Manager) has each answer kept, encoded,
// with the version it was made at, and answered again while the version
// stands: the same bytes it would encode anew.

// ordersVersioner is a Broker that can tell whether its order list has
// changed.
type ordersVersioner interface {
	// OrdersVersion identifies the list Orders returns: the same version
	// and count mean the same orders.
	OrdersVersion(ctx context.Context, user, accountID string) (version uint64, listed int, err error)
}

// valuationVersioner is a Broker that can tell whether State and
// Positions would return anything new: they depend on the account and on
// the live prices of what it holds and of the currency pairs.
type valuationVersioner interface {
	// ValuationVersion identifies what State and Positions return: the
	// same version means the same answers.
	ValuationVersion(ctx context.Context, user, accountID string) (version [2]uint64, ok bool, err error)
}

// kept is a bounded map of kept responses, safe for concurrent use: when
// full it starts again empty (a response is only ever made again).
type kept[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// maxCachedBodies bounds each cache.
const maxCachedBodies = 1 << 15

func (c *kept[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *kept[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedBodies {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}

// bodyCache keeps the last response per endpoint, user, account and
// language, with the version it was made at.
type bodyCache = kept[bodyKey, bodyEntry]

type bodyKind uint8

const (
	ordersBody bodyKind = iota
	positionsBody
	stateBody
)

type bodyKey struct {
	kind          bodyKind
	user, account string
	lang          lang
}

// bodyEntry is a kept response: version identifies what it was made from.
type bodyEntry struct {
	version [2]uint64
	body    []byte // a complete response; never modified
}

// encodeOK encodes a complete {"s":"ok","d":...} response into a new
// slice, as ok would write it.
func encodeOK(d jsonAppender, size int) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, size)}
	e.raw(`{"s":"ok","d":`)
	d.appendJSON(e)
	if e.err != nil {
		return nil, e.err
	}
	e.raw("}\n")
	return e.b, nil
}

// cached answers from the cache while version() returns what it returned
// when the answer was kept; else it makes the payload with build, encodes
// it and keeps it if the version did not move meanwhile (the payload is
// then the one the version names). ok is false when there is no version
// or anything failed: the caller then answers as without a cache, and
// reports any error itself.
func (h *Handler) cached(c *call, kind bodyKind, version func() ([2]uint64, bool), build func() (jsonAppender, int, error)) (rawBody, bool) {
	v, ok := version()
	if !ok {
		return nil, false
	}
	k := bodyKey{kind, c.user(), c.account, c.lang}
	if e, ok := h.bodies.get(k); ok && e.version == v {
		return e.body, true
	}
	d, size, err := build()
	if err != nil {
		return nil, false
	}
	body, err := encodeOK(d, size)
	if err != nil {
		return nil, false
	}
	if v2, ok := version(); ok && v2 == v {
		h.bodies.put(k, bodyEntry{version: v, body: body})
	}
	return body, true
}

// cachedOrders answers /orders from the cache while the broker's list is
// unchanged. The count tells apart the lists of one version (final orders
// leave the list as time passes).
func (h *Handler) cachedOrders(c *call, v ordersVersioner) (rawBody, bool) {
	return h.cached(c, ordersBody, func() ([2]uint64, bool) {
		version, listed, err := v.OrdersVersion(c.ctx(), c.user(), c.account)
		return [2]uint64{version, uint64(listed)}, err == nil
	}, func() (jsonAppender, int, error) {
		list, err := h.listOrders(c)
		return list, 64 + 200*len(list), err
	})
}

// cachedValuation answers /positions or /state from the cache while the
// account and the prices it is valued at are unchanged.
func (h *Handler) cachedValuation(c *call, kind bodyKind, v valuationVersioner, build func() (jsonAppender, int, error)) (rawBody, bool) {
	return h.cached(c, kind, func() ([2]uint64, bool) {
		version, ok, err := v.ValuationVersion(c.ctx(), c.user(), c.account)
		return version, ok && err == nil
	}, build)
}

// marketVersioner is a LiveMarket that versions its instruments' prices
// (live.Market): the same version of a set of instruments means none of
// their prices or statuses changed.
type marketVersioner interface {
	// VersionOf returns what tells the version of figis' state.
	VersionOf(figis []string) func() uint64
}

// quotesCache keeps the last /quotes response per user, account, symbol
// list and groups, with the market version of the instruments it was made
// from. An entry exists only once the account was found to be the
// user's (which never changes), so a hit needs no broker call.
type quotesCache = kept[quotesKey, quotesEntry]

type quotesKey struct {
	user, account, symbols string
	groups                 string // the principal's groups, "" when unrestricted
}

type quotesEntry struct {
	market  func() uint64 // the market version of the instruments it read
	version uint64        // market() when it was made
	body    []byte        // a complete response; never modified
}
