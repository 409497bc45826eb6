package tinvest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// ArchiveYear downloads and parses the yearly archive of 1-minute candles
// of instrumentID (uid or FIGI): GET {HistoryURL}?instrument_id=...&year=
// YYYY, in the history bucket (30 a minute), 429s waited out like every
// call. A 404 (no data for that year) gives no candles and no error. The
// archive is parsed strictly (wire.ReadArchive). Candles of the current
// UTC day or later are dropped: the archive is published nightly and never
// has the current day complete.
func (c *Client) ArchiveYear(ctx context.Context, figi, instrumentID string, year int) ([]tvbridge.Candle, error) {
	if instrumentID == "" {
		instrumentID = figi
	}
	if instrumentID == "" {
		return nil, errors.New("tinvest: archive: no instrument")
	}
	if year < 1990 || year > 9999 {
		return nil, fmt.Errorf("tinvest: archive: year %d out of range", year)
	}
	if c.history == "" {
		return nil, errors.New("tinvest: archive: no history URL configured")
	}
	q := url.Values{"instrument_id": {instrumentID}, "year": {strconv.Itoa(year)}}
	body, err := c.do(ctx, request{
		name: "GET " + wire.HistoryPath, bucket: BucketHistory, httpMethod: http.MethodGet,
		url: c.history + "?" + q.Encode(), repeatable: true, maxBody: maxArchiveBytes, notFoundOK: true,
	})
	if err == errNotFound404 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := wire.ReadArchive(body, wire.ArchiveLimits{})
	if err != nil {
		c.stats.errors.Add(1)
		return nil, fmt.Errorf("tinvest: archive %s %d: %w", instrumentID, year, err)
	}
	today := c.clock.Now().UTC().Truncate(day)
	yearStart := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	yearEnd := yearStart.AddDate(1, 0, 0)
	if figi == "" {
		figi = instrumentID
	}
	out := make([]tvbridge.Candle, 0, len(rows))
	for _, r := range rows {
		if r.Time.Before(yearStart) || !r.Time.Before(yearEnd) || !r.Time.Before(today) {
			continue
		}
		out = append(out, tvbridge.Candle{
			FIGI: figi, Interval: tvbridge.Interval1Min, Time: r.Time,
			Open: r.Open.Float64(), High: r.High.Float64(), Low: r.Low.Float64(), Close: r.Close.Float64(),
			Volume: float64(r.Volume),
		})
	}
	return out, nil
}
