package sim

import (
	"cmp"
	"slices"
	"sync"
)

// connRegistry holds the open stream connections, for per-token limits,
// fault injection and stats.
type connRegistry struct {
	mu       sync.Mutex
	seq      uint64
	open     map[uint64]*streamConn
	perToken map[string]int
	reserved int // connection slots taken, over all tokens
	max      int // most slots ever taken at once
}

func (r *connRegistry) init() {
	r.open = make(map[uint64]*streamConn)
	r.perToken = make(map[string]int)
}

// reserve takes one of the token's connection slots, or reports false when
// all limit slots are taken.
func (r *connRegistry) reserve(token string, limit int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perToken[token] >= limit {
		return false
	}
	r.perToken[token]++
	r.reserved++
	r.max = max(r.max, r.reserved)
	return true
}

func (r *connRegistry) release(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.perToken[token]--
	r.reserved--
	if r.perToken[token] <= 0 {
		delete(r.perToken, token)
	}
}

func (r *connRegistry) add(c *streamConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	c.id = r.seq
	r.open[c.id] = c
}

func (r *connRegistry) remove(c *streamConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, c.id)
}

// list returns the open connections, oldest first.
func (r *connRegistry) list() []*streamConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*streamConn, 0, len(r.open))
	for _, c := range r.open {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *streamConn) int { return cmp.Compare(a.id, b.id) })
	return out
}

// counts returns the connections accepted and not yet finished, and the
// most there ever were at once.
func (r *connRegistry) counts() (open, maxSeen int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reserved, r.max
}
