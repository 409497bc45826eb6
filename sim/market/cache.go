package market

import "sync"

// cacheKey identifies one cached value: an instrument and a time index
// (a minute, an hour or a day number, depending on the cache).
type cacheKey struct {
	id  uint32
	idx int64
}

// cache is a bounded map safe for concurrent use with low contention.
//
// It is split into shards, each guarded by its own mutex. A shard keeps two
// generations of entries: hits in the old generation are promoted to the new
// one, and when the new generation is full the old one is dropped whole. That
// approximates LRU without per-entry bookkeeping. Values must be immutable
// once stored: readers share them.
type cache[V any] struct {
	shards []cacheShard[V]
	perGen int
}

type cacheShard[V any] struct {
	mu       sync.Mutex
	cur, old map[cacheKey]V
	_        [40]byte // keeps neighbouring shards' mutexes off one cache line
}

const cacheShards = 64 // a power of two

// newCache returns a cache holding about capacity entries (up to twice that
// while a generation is being replaced).
func newCache[V any](capacity int) *cache[V] {
	per := capacity / cacheShards
	if per < 1 {
		per = 1
	}
	// Maps start empty and grow: most markets never fill their caches.
	c := &cache[V]{shards: make([]cacheShard[V], cacheShards), perGen: per}
	for i := range c.shards {
		c.shards[i].cur = make(map[cacheKey]V)
	}
	return c
}

func (c *cache[V]) shard(k cacheKey) *cacheShard[V] {
	h := hash2(uint64(k.id), uint64(k.idx))
	return &c.shards[h&(cacheShards-1)]
}

func (c *cache[V]) get(k cacheKey) (V, bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[k]; ok {
		return v, true
	}
	v, ok := s.old[k]
	if ok {
		s.insert(k, v, c.perGen)
	}
	return v, ok
}

func (c *cache[V]) put(k cacheKey, v V) {
	s := c.shard(k)
	s.mu.Lock()
	s.insert(k, v, c.perGen)
	s.mu.Unlock()
}

func (s *cacheShard[V]) insert(k cacheKey, v V, perGen int) {
	if len(s.cur) >= perGen {
		s.old = s.cur
		s.cur = make(map[cacheKey]V, perGen)
	}
	s.cur[k] = v
}
