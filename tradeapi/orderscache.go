package tradeapi

import (
	"context"
	"sync"
)

// ordersVersioner is a Broker that can tell whether its order list has
// changed (trading.Manager): /orders, polled every second or so by every
// trader and mostly unchanged between polls, is then answered with the
// response encoded last time.
type ordersVersioner interface {
	// OrdersVersion identifies the list Orders returns: the same version
	// and count mean the same orders.
	OrdersVersion(ctx context.Context, user, accountID string) (version uint64, listed int, err error)
}

// ordersCache keeps the last /orders response per user, account and
// language, with the version and count it was made at.
type ordersCache struct {
	mu sync.RWMutex
	m  map[ordersKey]ordersEntry
}

type ordersKey struct {
	user, account string
	lang          lang
}

type ordersEntry struct {
	version uint64
	listed  int
	body    []byte // a complete response; never modified
}

// maxCachedOrderLists bounds the cache; when full it starts again empty.
const maxCachedOrderLists = 1 << 14

func (c *ordersCache) get(k ordersKey) (ordersEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	return e, ok
}

func (c *ordersCache) put(k ordersKey, e ordersEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedOrderLists {
		c.m = make(map[ordersKey]ordersEntry)
	}
	c.m[k] = e
}

// cachedOrders answers /orders from the cache while the broker's list is
// unchanged, else as getOrders does, keeping the answer when the list did
// not move while it was made. Any error is left to getOrders.
func (h *Handler) cachedOrders(c *call, v ordersVersioner) (any, bool) {
	version, listed, err := v.OrdersVersion(c.ctx(), c.user(), c.account)
	if err != nil {
		return nil, false
	}
	k := ordersKey{c.user(), c.account, c.lang}
	if e, ok := h.orders.get(k); ok && e.version == version && e.listed == listed {
		return rawBody(e.body), true
	}
	list, err := h.listOrders(c)
	if err != nil {
		return nil, false
	}
	e := &encoder{b: make([]byte, 0, 64+200*len(list))}
	e.raw(`{"s":"ok","d":`)
	list.appendJSON(e)
	if e.err != nil {
		return nil, false // getOrders reports it
	}
	e.raw("}\n")
	// Kept only if nothing changed meanwhile: the list is then the one the
	// version and count name.
	if v2, n2, err := v.OrdersVersion(c.ctx(), c.user(), c.account); err == nil && v2 == version && n2 == listed && len(list) == listed {
		h.orders.put(k, ordersEntry{version: version, listed: listed, body: e.b})
	}
	return rawBody(e.b), true
}
