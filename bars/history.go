package bars

import (
	"context"
	"fmt"
	"time"

	"tvbridge"
)

// day is one UTC day: daily bars are stamped 00:00 UTC of their trading day.
const day = 24 * time.Hour

// DailySource is the part of a bar store DailyBars reads: stored daily bars
// and the instrument's first bar.
type DailySource interface {
	Daily(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)
	FirstBar(ctx context.Context, figi string) (t time.Time, ok bool, err error)
}

// MinutesFunc returns an instrument's 1-minute bars with from <= Time < to,
// closed ones and the open one.
type MinutesFunc func(ctx context.Context, figi string, from, to time.Time) ([]tvbridge.Bar, error)

// DailyBars returns the daily bars of figi with from <= Time < to, at now,
// for a history kept depth back: trading days stored in store as they are,
// the others (today, days still being backfilled) built from minutes, so a
// daily bar's open and close always equal its session's first and last
// 1-minute bars. The single process (ingest) and every cluster node
// (replica) answer /history's daily bars with it, so that they agree.
func DailyBars(ctx context.Context, store DailySource, minutes MinutesFunc, sched *tvbridge.Schedule,
	figi string, now time.Time, depth time.Duration, from, to time.Time) ([]tvbridge.Bar, error) {
	lower := later(from, now.Add(-depth-2*day))
	if first, ok, err := store.FirstBar(ctx, figi); err != nil {
		return nil, err
	} else if ok {
		lower = later(from, first.Add(-day))
	}
	upper := to
	if limit := now.Add(2 * day); limit.Before(upper) {
		upper = limit
	}
	if !lower.Before(upper) {
		return nil, nil
	}
	stored, err := store.Daily(ctx, figi, lower.Truncate(day), upper)
	if err != nil {
		return nil, fmt.Errorf("daily bars of %s: %w", figi, err)
	}
	have := make(map[int64]tvbridge.Bar, len(stored))
	for _, b := range stored {
		have[b.Time.Unix()] = b
	}
	var out []tvbridge.Bar
	for d := lower.Truncate(day); d.Before(upper); d = d.Add(day) {
		if d.Before(from) {
			continue
		}
		if b, ok := have[d.Unix()]; ok {
			out = append(out, b)
			continue
		}
		b, ok, err := BuildDaily(ctx, minutes, sched, figi, d)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// BuildDaily aggregates the 1-minute bars of trading day d (00:00 UTC of
// its date); ok is false when the day has none.
func BuildDaily(ctx context.Context, minutes MinutesFunc, sched *tvbridge.Schedule, figi string, d time.Time) (bar tvbridge.Bar, ok bool, err error) {
	periods := sched.Periods(d)
	if len(periods) == 0 {
		return tvbridge.Bar{}, false, nil
	}
	ms, err := minutes(ctx, figi, periods[0].Open, periods[len(periods)-1].Close)
	if err != nil {
		return tvbridge.Bar{}, false, err
	}
	n := 0
	for _, m := range ms {
		if td, ok := sched.TradingDay(m.Time); !ok || !td.Equal(d) {
			continue
		}
		if n == 0 {
			bar = tvbridge.Bar{Time: d, Open: m.Open, High: m.High, Low: m.Low}
		}
		bar.High = max(bar.High, m.High)
		bar.Low = min(bar.Low, m.Low)
		bar.Close = m.Close
		bar.Volume += m.Volume
		n++
	}
	return bar, n > 0, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
