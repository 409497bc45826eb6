package tinkoff

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

const day = 24 * time.Hour

// candleRange is the request range (to - from) /market/candles accepts for
// one interval; both bounds are enforced by the service with VALIDATION_ERROR.
type candleRange struct{ min, max time.Duration }

// candleRanges follows the swagger's CandleResolution table. Calendar units
// are replaced by fixed durations on the safe side: a "year" by 365 days
// (never more than a calendar year) and the minimum "month" by 31 days (never
// less than a calendar month). 2hour and 4hour are absent: stream only.
var candleRanges = map[tvbridge.CandleInterval]candleRange{
	tvbridge.Interval1Min:  {time.Minute, day},
	tvbridge.Interval2Min:  {2 * time.Minute, day},
	tvbridge.Interval3Min:  {3 * time.Minute, day},
	tvbridge.Interval5Min:  {5 * time.Minute, day},
	tvbridge.Interval10Min: {10 * time.Minute, day},
	tvbridge.Interval15Min: {15 * time.Minute, day},
	tvbridge.Interval30Min: {30 * time.Minute, day},
	tvbridge.IntervalHour:  {time.Hour, 7 * day},
	tvbridge.IntervalDay:   {day, 365 * day},
	tvbridge.IntervalWeek:  {7 * day, 2 * 365 * day},
	tvbridge.IntervalMonth: {31 * day, 10 * 365 * day},
}

// candleWindow is the [from, to) range of one /market/candles request.
type candleWindow struct{ from, to time.Time }

// splitCandleRange cuts [from, to) into consecutive windows no longer than
// r.max. A window shorter than r.min (only the last can be) is widened
// backwards to r.min; the overlap is removed when the results are merged.
func splitCandleRange(from, to time.Time, r candleRange) []candleWindow {
	var out []candleWindow
	for start := from; start.Before(to); {
		end := start.Add(r.max)
		if end.After(to) {
			end = to
		}
		w := candleWindow{from: start, to: end}
		if end.Sub(start) < r.min {
			w.from = end.Add(-r.min)
		}
		out = append(out, w)
		start = end
	}
	return out
}

// Candles returns the candles that start in [from, to), sorted by time and
// without duplicates. The range is split into as many requests as the
// interval's maximum range needs (one day for minute intervals, seven for
// hours, a year for days, ...), each waiting for the /market rate limit.
// 2hour and 4hour candles exist on the stream only and are refused.
//
// The service may include a candle still forming; Upstream.Candles drops those.
func (c *Client) Candles(ctx context.Context, figi string, from, to time.Time, interval tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	rng, err := checkCandleRequest(figi, from, to, interval)
	if err != nil {
		return nil, err
	}
	windows := splitCandleRange(from, to, rng)
	var all []tvbridge.Candle
	for i, w := range windows {
		part, err := c.candleWindow(ctx, figi, w, interval)
		if err != nil {
			return nil, fmt.Errorf("candles %s %s, request %d of %d [%s, %s): %w", figi, interval, i+1, len(windows),
				w.from.Format(wire.TimeLayout), w.to.Format(wire.TimeLayout), err)
		}
		all = append(all, part...)
	}
	return mergeCandles(all, from, to), nil
}

func checkCandleRequest(figi string, from, to time.Time, interval tvbridge.CandleInterval) (candleRange, error) {
	if figi == "" {
		return candleRange{}, errors.New("tinkoff: candles: empty FIGI")
	}
	if !from.Before(to) {
		return candleRange{}, fmt.Errorf("tinkoff: candles %s: empty range: from %s is not before to %s",
			figi, from.Format(wire.TimeLayout), to.Format(wire.TimeLayout))
	}
	if interval == tvbridge.Interval2Hour || interval == tvbridge.Interval4Hour {
		return candleRange{}, fmt.Errorf("tinkoff: candles %s: interval %q exists on the stream only; REST has no such resolution", figi, interval)
	}
	rng, ok := candleRanges[interval]
	if !ok {
		return candleRange{}, fmt.Errorf("tinkoff: candles %s: unknown interval %q", figi, interval)
	}
	return rng, nil
}

// candleWindow fetches one window. Times keep the caller's offset; url.Values
// escapes the "+" of "+03:00" as %2B, which the service otherwise reads as a
// space and rejects (MALFORMED_QUERY_PARAMETER).
func (c *Client) candleWindow(ctx context.Context, figi string, w candleWindow, interval tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	q := url.Values{
		"figi":     {figi},
		"from":     {w.from.Format(wire.TimeLayout)},
		"to":       {w.to.Format(wire.TimeLayout)},
		"interval": {string(interval)},
	}
	var payload wire.Candles
	if err := c.get(ctx, BucketMarket, "/market/candles", q, &payload); err != nil {
		return nil, err
	}
	return convertCandles(payload.Candles, figi, interval)
}

func convertCandles(in []wire.Candle, figi string, interval tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	out := make([]tvbridge.Candle, 0, len(in))
	for _, r := range in {
		cd, err := candleFrom(r, figi, interval)
		if err != nil {
			return nil, err
		}
		out = append(out, cd)
	}
	return out, nil
}

// mergeCandles keeps the candles starting in [from, to), sorts them by time
// and removes duplicates (overlapping windows, repeated boundary candles),
// keeping the copy fetched last.
func mergeCandles(all []tvbridge.Candle, from, to time.Time) []tvbridge.Candle {
	kept := all[:0]
	for _, cd := range all {
		if !cd.Time.Before(from) && cd.Time.Before(to) {
			kept = append(kept, cd)
		}
	}
	slices.SortStableFunc(kept, func(a, b tvbridge.Candle) int { return a.Time.Compare(b.Time) })
	out := kept[:0]
	for _, cd := range kept {
		if n := len(out); n > 0 && out[n-1].Time.Equal(cd.Time) {
			out[n-1] = cd
			continue
		}
		out = append(out, cd)
	}
	return slices.Clip(out)
}
