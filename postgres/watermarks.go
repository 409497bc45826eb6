package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClosedWatermarks returns, for every instrument with coverage, the end of
// its first covered range: the instant before which its 1-minute bars are
// complete and stored, which is what the ingester uses as /history's
// immutability watermark (ingest.Service.ClosedBefore). Every node of a
// cluster derives the watermark from this one read, so they agree on it
// up to the moment each reads, and none ever runs ahead of the bars it can
// read: a range is covered in the same transaction that writes its bars.
// One index scan per instrument (DISTINCT ON the primary key's order).
func (s *BarStore) ClosedWatermarks(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT DISTINCT ON (figi) figi, to_t FROM `+tableCoverage+` ORDER BY figi, from_t`)
	if err != nil {
		return nil, fmt.Errorf("postgres: closed watermarks: %w", err)
	}
	out := map[string]time.Time{}
	var figi string
	var to time.Time
	if _, err := pgx.ForEachRow(rows, []any{&figi, &to}, func() error {
		out[figi] = to.UTC()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: closed watermarks: %w", err)
	}
	return out, nil
}
