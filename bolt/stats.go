package bolt

import (
	"go.etcd.io/bbolt"

	"tvbridge/internal/hist"
)

// StoreStats describe the bar store, for metrics.
type StoreStats struct {
	SizeBytes int64 // the file's size as the latest transaction sees it
	// Commits is the latency of every write transaction, fsync included:
	// the flush of closed minutes, backfills, coverage and watermarks.
	Commits hist.Snapshot
}

// Stats returns the store's size and commit latencies. It opens one read
// transaction.
func (s *Store) Stats() StoreStats {
	st := StoreStats{Commits: s.commits.Snapshot()}
	_ = s.db.View(func(tx *bbolt.Tx) error {
		st.SizeBytes = tx.Size()
		return nil
	})
	return st
}
