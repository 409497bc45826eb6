package auth

import (
	"crypto/sha256"
	"slices"
	"sync"
)

// accessCache remembers the access tokens Store.CheckAccess found valid,
// so that TradingView's polling (a few requests a second per trader, each
// with its token) does not read and decode three records per request.
//
// It holds what the database said, never more: an entry is the Grant
// that a read transaction returned for the token's SHA-256 (the raw token
// is not kept, as in the database), and it is used only until its token
// expires (then the database answers again, "expired" or, once swept,
// "unknown") and only while no write could have changed that answer.
// Every write transaction forgets entries after it commits and before it
// returns: a write that may affect any token (users, clients, the sweep,
// and any write not known to be narrower) forgets them all; one that
// changes or deletes token families (refresh, retirement, logout,
// revocation) forgets the entries of those families; one that only adds
// records (a login, a code) forgets nothing. A revoked token therefore
// fails from the moment the revocation returns, as before.
//
// A check that read the database while a write committed must not store
// what it read: put is refused when any forget happened since the check
// began (gen), which closes the race between a reader's transaction and a
// writer's commit.
type accessCache struct {
	mu  sync.RWMutex
	gen uint64
	m   map[[sha256.Size]byte]*Grant // never modified once stored
}

// maxCachedTokens bounds the cache; when full it starts again empty.
const maxCachedTokens = 1 << 16

// get returns the cached grant of key, nil when none; it must not be
// modified.
func (c *accessCache) get(key [sha256.Size]byte) *Grant {
	c.mu.RLock()
	g := c.m[key]
	c.mu.RUnlock()
	return g
}

// generation is read before a check's read transaction starts.
func (c *accessCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores a check's result unless something was forgotten since the
// check began (gen), and returns it as the shared grant it now is.
func (c *accessCache) put(key [sha256.Size]byte, g Grant, gen uint64) *Grant {
	g.Groups = slices.Clip(g.Groups) // see checkAccess
	p := &g
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return p
	}
	if c.m == nil || len(c.m) >= maxCachedTokens {
		c.m = make(map[[sha256.Size]byte]*Grant)
	}
	c.m[key] = p
	return p
}

// forgetAll forgets every entry.
func (c *accessCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// forget forgets the entries of the given token families.
func (c *accessCache) forget(families ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(families) == 0 {
		return
	}
	for k, g := range c.m {
		if slices.Contains(families, g.FamilyID) {
			delete(c.m, k)
		}
	}
}

// len is the number of entries, for tests.
func (c *accessCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
