package ingest

import (
	"context"
	"slices"
	"sync"
	"time"

	"tvbridge"
)

// Archiver is an upstream that also serves whole years of closed 1-minute
// candles in one request (T-Invest API v2's yearly archive). The deep
// backfill takes every day before today from it, which makes a backfill of
// a year practical: one request per instrument-year in place of one
// GetCandles per trading day. Days the archive does not hold (today, or a
// year it answers empty for) still come from Candles.
type Archiver interface {
	Archive(ctx context.Context, figi string, year int) ([]tvbridge.Candle, error)
}

// archiveLag is how many days before today are taken from Candles even
// with an archive.
const archiveLag = 2 * 24 * time.Hour

// archiveYear is one downloaded instrument-year, sorted by time.
type archiveYear struct {
	figi    string
	year    int
	candles []tvbridge.Candle
	failed  bool // the download failed: Candles for this year, this pass
}

// archiveCache keeps the last instrument-year: the backfill goes instrument
// by instrument and day by day, so one entry serves a whole year's chunks
// and memory stays at one year of one instrument (about 130,000 candles).
type archiveCache struct {
	mu   sync.Mutex
	last *archiveYear
}

// archiveCandles returns the archive's candles in q, or ok false when the
// archive cannot answer for q (no archive, today's minutes, a failed
// download, or a year without data) and Candles must.
func (s *Service) archiveCandles(ctx context.Context, figi string, q tvbridge.Range) (candles []tvbridge.Candle, ok bool, err error) {
	arch, isArchiver := s.cfg.Upstream.(Archiver)
	// The archive holds days before today; the last two are left to
	// Candles too, in case the archive is published late.
	horizon := s.cfg.Clock.Now().UTC().Truncate(24 * time.Hour).Add(-archiveLag)
	if !isArchiver || s.cfg.NoArchive || q.To.After(horizon) || q.From.Year() != q.To.Add(-time.Nanosecond).Year() {
		return nil, false, nil
	}
	y, err := s.archive.year(ctx, arch, figi, q.From.Year(), s)
	if err != nil || y.failed || len(y.candles) == 0 {
		return nil, false, err
	}
	lo, _ := slices.BinarySearchFunc(y.candles, q.From, func(c tvbridge.Candle, t time.Time) int { return c.Time.Compare(t) })
	hi, _ := slices.BinarySearchFunc(y.candles, q.To, func(c tvbridge.Candle, t time.Time) int { return c.Time.Compare(t) })
	return y.candles[lo:hi], true, nil
}

// year returns figi's archive of year, downloading it when it is not the
// cached one. A failed download is logged and remembered for the entry's
// life, so the year's chunks fall back to Candles without retrying it for
// each day; a cancelled context is returned as an error.
func (c *archiveCache) year(ctx context.Context, arch Archiver, figi string, year int, s *Service) (*archiveYear, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.last.figi == figi && c.last.year == year {
		return c.last, nil
	}
	c.last = nil // release the previous year before downloading the next
	candles, err := arch.Archive(ctx, figi, year)
	s.progress.Requests.Add(1)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	y := &archiveYear{figi: figi, year: year}
	if err != nil {
		s.progress.Errors.Add(1)
		s.warn("archive", "yearly archive unavailable; backfilling the year day by day", "figi", figi, "year", year, "err", err)
		y.failed = true
	} else {
		slices.SortFunc(candles, func(a, b tvbridge.Candle) int { return a.Time.Compare(b.Time) })
		y.candles = candles
		s.progress.ArchiveYears.Add(1)
	}
	c.last = y
	return y, nil
}
