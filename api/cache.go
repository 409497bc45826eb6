package api

import (
	"container/list"
	"sync"
)

// lru is a size-bounded least-recently-used cache, safe for concurrent use.
// /history keeps immutable data in it: closed bars never change, so an entry
// never needs invalidating, only evicting.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int64
	used  int64
	order *list.List // front = most recently used; values are *lruEntry
	items map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key  K
	val  V
	size int64
}

func newLRU[K comparable, V any](maxBytes int64) *lru[K, V] {
	return &lru[K, V]{max: maxBytes, order: list.New(), items: make(map[K]*list.Element)}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry[K, V]).val, true
}

// put stores v under k, replacing an older value, and evicts the least
// recently used entries beyond the budget. A value larger than the whole
// budget is not kept.
func (c *lru[K, V]) put(k K, v V, size int64) {
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.removeLocked(e)
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v, size: size})
	c.used += size
	for c.used > c.max {
		c.removeLocked(c.order.Back())
	}
}

func (c *lru[K, V]) removeLocked(e *list.Element) {
	ent := c.order.Remove(e).(*lruEntry[K, V])
	delete(c.items, ent.key)
	c.used -= ent.size
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
