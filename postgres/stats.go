package postgres

import (
	"context"
	"time"

	"tvbridge/internal/hist"
)

// StoreStats describe the bar store, for metrics: the fields of
// bolt.StoreStats plus row counts.
type StoreStats struct {
	// SizeBytes is the on-disk size of the bar tables with their indexes
	// and TOAST (pg_total_relation_size), the counterpart of the bbolt
	// file's size.
	SizeBytes int64
	// Commits is the latency of every write transaction of this process's
	// bar stores, commit (WAL flush) included.
	Commits hist.Snapshot
	// Row counts: PostgreSQL's live-tuple estimates (pg_stat_user_tables),
	// cheap to read at every scrape, exact after an ANALYZE or VACUUM and
	// close in between.
	MinuteRows, DailyRows, CoverageRows, FetchedRows, Instruments int64
}

// statsTimeout bounds the query Stats makes.
const statsTimeout = 2 * time.Second

// Stats returns the store's size, row estimates and commit latencies. It
// makes one query; when that fails the sizes stay zero and the failure is
// logged at debug level (a scrape must not fail on it).
func (s *BarStore) Stats() StoreStats {
	st := StoreStats{Commits: s.db.barCommits.Snapshot()}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	err := s.db.pool.QueryRow(ctx, `
		SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint,
			coalesce(sum(s.n_live_tup) FILTER (WHERE c.relname = 'tvbridge_minutes'), 0)::bigint,
			coalesce(sum(s.n_live_tup) FILTER (WHERE c.relname = 'tvbridge_daily'), 0)::bigint,
			coalesce(sum(s.n_live_tup) FILTER (WHERE c.relname = 'tvbridge_coverage'), 0)::bigint,
			coalesce(sum(s.n_live_tup) FILTER (WHERE c.relname = 'tvbridge_fetched'), 0)::bigint,
			coalesce(sum(s.n_live_tup) FILTER (WHERE c.relname = 'tvbridge_instruments'), 0)::bigint
		FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
		WHERE c.oid IN ('tvbridge_minutes'::regclass, 'tvbridge_daily'::regclass, 'tvbridge_coverage'::regclass,
			'tvbridge_fetched'::regclass, 'tvbridge_instruments'::regclass)`).
		Scan(&st.SizeBytes, &st.MinuteRows, &st.DailyRows, &st.CoverageRows, &st.FetchedRows, &st.Instruments)
	if err != nil {
		s.db.log.Debug("postgres bar store stats", "err", err)
	}
	return st
}
