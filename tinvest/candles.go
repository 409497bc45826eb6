package tinvest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

const day = 24 * time.Hour

// candleSpec is what GetCandles accepts for one interval: the longest
// range of one request and the largest limit. Calendar units are replaced
// by fixed durations on the safe side: 3 months by 89 days (the shortest
// three consecutive months), 6, 5 and 10 years by 365-day years.
type candleSpec struct {
	interval wire.CandleInterval
	maxRange time.Duration
	limit    int32
}

// candleSpecs follows the service's table (shared/docs, "GetCandles ranges").
var candleSpecs = map[tvbridge.CandleInterval]candleSpec{
	tvbridge.Interval1Min:  {wire.CandleInterval1Min, day, 2400},
	tvbridge.Interval2Min:  {wire.CandleInterval2Min, day, 1200},
	tvbridge.Interval3Min:  {wire.CandleInterval3Min, day, 750},
	tvbridge.Interval5Min:  {wire.CandleInterval5Min, 7 * day, 2400},
	tvbridge.Interval10Min: {wire.CandleInterval10Min, 7 * day, 1200},
	tvbridge.Interval15Min: {wire.CandleInterval15Min, 21 * day, 2400},
	tvbridge.Interval30Min: {wire.CandleInterval30Min, 21 * day, 1200},
	tvbridge.IntervalHour:  {wire.CandleIntervalHour, 89 * day, 2400},
	tvbridge.Interval2Hour: {wire.CandleInterval2Hour, 89 * day, 2400},
	tvbridge.Interval4Hour: {wire.CandleInterval4Hour, 89 * day, 700},
	tvbridge.IntervalDay:   {wire.CandleIntervalDay, 6 * 365 * day, 2400},
	tvbridge.IntervalWeek:  {wire.CandleIntervalWeek, 5 * 365 * day, 300},
	tvbridge.IntervalMonth: {wire.CandleIntervalMonth, 10 * 365 * day, 120},
}

// candleWindow is the [from, to) of one request.
type candleWindow struct{ from, to time.Time }

// splitRange cuts [from, to) into consecutive windows of at most maxRange.
func splitRange(from, to time.Time, maxRange time.Duration) []candleWindow {
	var out []candleWindow
	for start := from; start.Before(to); {
		end := start.Add(maxRange)
		if end.After(to) {
			end = to
		}
		out = append(out, candleWindow{start, end})
		start = end
	}
	return out
}

// maxHalvings bounds how often a window refused with 30014 is halved.
const maxHalvings = 6

// Candles returns the candles of instrumentID (uid or FIGI) that start in
// [from, to), sorted and without duplicates, with FIGI set to figi. The
// range is split by the interval's maximum range; a window that returns
// `limit` candles is continued after its last candle; a window the service
// still finds too long (30014) is halved and retried. Each request waits for
// the MarketData bucket (600 a minute), by the priority in ctx. Candles the
// service marks incomplete are kept (Upstream.Candles drops them).
func (c *Client) Candles(ctx context.Context, figi, instrumentID string, from, to time.Time, interval tvbridge.CandleInterval) ([]tvbridge.Candle, error) {
	spec, err := checkCandles(figi, instrumentID, from, to, interval)
	if err != nil {
		return nil, err
	}
	if instrumentID == "" {
		instrumentID = figi
	}
	var all []tvbridge.Candle
	windows := splitRange(from, to, spec.maxRange)
	for i, w := range windows {
		part, err := c.candleWindow(ctx, figi, instrumentID, w, interval, spec, 0)
		if err != nil {
			return nil, fmt.Errorf("candles %s %s, window %d of %d [%s, %s): %w", figi, interval, i+1, len(windows),
				w.from.UTC().Format(time.RFC3339), w.to.UTC().Format(time.RFC3339), err)
		}
		all = append(all, part...)
	}
	return mergeCandles(all, from, to), nil
}

func checkCandles(figi, instrumentID string, from, to time.Time, interval tvbridge.CandleInterval) (candleSpec, error) {
	if figi == "" && instrumentID == "" {
		return candleSpec{}, errors.New("tinvest: candles: no instrument")
	}
	if !from.Before(to) {
		return candleSpec{}, fmt.Errorf("tinvest: candles %s: empty range [%s, %s)", figi, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	spec, ok := candleSpecs[interval]
	if !ok {
		return candleSpec{}, fmt.Errorf("tinvest: candles %s: unknown interval %q", figi, interval)
	}
	return spec, nil
}

// candleWindow fetches one window, paging by limit and halving on 30014.
func (c *Client) candleWindow(ctx context.Context, figi, id string, w candleWindow, interval tvbridge.CandleInterval, spec candleSpec, halvings int) ([]tvbridge.Candle, error) {
	var out []tvbridge.Candle
	for start := w.from; start.Before(w.to); {
		var r wire.GetCandlesResponse
		err := c.Call(ctx, wire.MethodGetCandles, wire.GetCandlesRequest{
			InstrumentID: id, From: wire.At(start), To: wire.At(w.to), Interval: spec.interval,
			CandleSourceType: c.cfg.CandleSource, Limit: spec.limit,
		}, &r)
		if errors.Is(err, ErrPeriodTooLong) && halvings < maxHalvings && w.to.Sub(start) > time.Minute {
			mid := start.Add(w.to.Sub(start) / 2).Truncate(time.Second)
			c.log.Warn("tinvest candles: the service found the range too long (30014); halving it",
				"figi", figi, "interval", string(interval), "from", start, "to", w.to)
			a, err := c.candleWindow(ctx, figi, id, candleWindow{start, mid}, interval, spec, halvings+1)
			if err != nil {
				return nil, err
			}
			b, err := c.candleWindow(ctx, figi, id, candleWindow{mid, w.to}, interval, spec, halvings+1)
			if err != nil {
				return nil, err
			}
			return append(append(out, a...), b...), nil
		}
		if err != nil {
			return nil, err
		}
		last := start
		for _, hc := range r.Candles {
			cd, err := candleFrom(hc, figi, interval)
			if err != nil {
				return nil, err
			}
			out = append(out, cd)
			if cd.Time.After(last) {
				last = cd.Time
			}
		}
		if len(r.Candles) < int(spec.limit) || !last.After(start) {
			break
		}
		start = last.Add(time.Nanosecond) // the page was full: go on after its last candle
	}
	return out, nil
}

// candleFrom converts a REST candle.
func candleFrom(hc wire.HistoricCandle, figi string, interval tvbridge.CandleInterval) (tvbridge.Candle, error) {
	if hc.Time.IsZero() {
		return tvbridge.Candle{}, errors.New("candle without a time")
	}
	if hc.Volume < 0 {
		return tvbridge.Candle{}, fmt.Errorf("candle %s: negative volume %d", hc.Time.Format(time.RFC3339), hc.Volume)
	}
	return tvbridge.Candle{
		FIGI: figi, Interval: interval, Time: hc.Time.UTC(),
		Open: hc.Open.Float64(), High: hc.High.Float64(), Low: hc.Low.Float64(), Close: hc.Close.Float64(),
		Volume: float64(hc.Volume),
	}, nil
}

// mergeCandles keeps the candles starting in [from, to), sorts them and
// removes duplicates, keeping the copy fetched last.
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

// candleEnd is when a candle's interval ends.
func candleEnd(c tvbridge.Candle) time.Time {
	switch c.Interval {
	case tvbridge.IntervalDay:
		return c.Time.Add(day)
	case tvbridge.IntervalWeek:
		return c.Time.Add(7 * day)
	case tvbridge.IntervalMonth:
		return c.Time.AddDate(0, 1, 0)
	}
	return c.Time.Add(c.Interval.Duration())
}
