package ingest

import (
	"context"
	"fmt"
	"time"

	"tvbridge"
)

// The audit: history against the exchange.
//
// The stream can only carry what the upstream sent on it. When a minute's
// last trades reached the upstream's REST candles but never the stream (the
// connection dropped at the turn of the minute, or the upstream never sent
// the minute's final state), the bar TradingView built from /streaming and
// the exchange's candle cannot both be matched by /history: either /history
// keeps what was streamed (stream and history agree, the chart differs from
// every other vendor's for that minute), or it follows the exchange (the
// minute counts as a mismatch in TradingView's stream-vs-history test, which
// tolerates 5 %). Config.HistoryFollows chooses.
//
// Either way the audit finds those minutes: once REST is final for them
// (RESTLag), every AuditInterval, it fetches each instrument's candles for
// the minutes its stream covered since the last pass (one request per
// instrument and UTC day) and compares them with /history minute by minute.
// It counts each differing minute, and separately those whose final state
// the stream did carry (bars.Closed.Final), which should never differ: a
// non-zero count there is a defect to report. Following the stream, the
// audit only counts; following the exchange, the stream's minutes are not
// made immutable (covered) by the stream at all: the audit replaces the
// differing bars with the exchange's and marks the minutes covered in the
// same transaction (bolt.Store.ReplaceMinutes), and the gap backfill does
// the same for the minutes around reconnects. A crash loses only the
// audit's queue: those minutes are then uncovered, and the gap backfill
// fills them the same way.

// Follow names the source /history follows for minutes where the stream and
// the exchange differ.
type Follow string

// The choices of Config.HistoryFollows.
const (
	FollowStream   Follow = "stream"   // keep what was streamed (the default)
	FollowExchange Follow = "exchange" // replace it with the upstream's REST candles
)

// ReplacingStore is a Store that can replace uncovered minutes, which
// following the exchange needs.
type ReplacingStore interface {
	ReplaceMinutes(ctx context.Context, figi string, bars []tvbridge.Bar, within []tvbridge.Range) (replaced, conflicts int, err error)
}

// noteClosedLocked remembers, until audited, whether a streamed minute's
// final state reached the stream. Callers hold s.mu.
func (s *Service) noteClosedLocked(figi string, minute time.Time, final bool) {
	if s.cfg.AuditInterval <= 0 {
		return
	}
	m := s.finals[figi]
	if m == nil {
		m = make(map[int64]bool)
		s.finals[figi] = m
	}
	m[minute.Unix()] = final
}

// queueAuditLocked adds the stream's ranges of figi to the audit's queue.
func (s *Service) queueAuditLocked(figi string, rs []tvbridge.Range) {
	if s.cfg.AuditInterval <= 0 || len(rs) == 0 {
		return
	}
	s.auditQueue[figi] = append(s.auditQueue[figi], rs...)
}

// takeAuditLocked removes and returns figi's queued ranges (parts) that end
// at or before limit.
func (s *Service) takeAuditLocked(figi string, limit time.Time) []tvbridge.Range {
	var due, rest []tvbridge.Range
	for _, r := range s.auditQueue[figi] {
		switch {
		case !r.To.After(limit):
			due = append(due, r)
		case r.From.Before(limit):
			due = append(due, tvbridge.Range{From: r.From, To: limit})
			rest = append(rest, tvbridge.Range{From: limit, To: r.To})
		default:
			rest = append(rest, r)
		}
	}
	if len(rest) == 0 {
		delete(s.auditQueue, figi)
	} else {
		s.auditQueue[figi] = rest
	}
	return due
}

// auditLoop runs an audit pass every AuditInterval.
func (s *Service) auditLoop(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(s.cfg.AuditInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.auditPass(ctx)
		}
	}
}

// auditPass audits every instrument's queued minutes for which REST is final.
func (s *Service) auditPass(ctx context.Context) {
	limit := s.cfg.Clock.Now().Add(-s.cfg.RESTLag).Truncate(time.Minute)
	before := s.progress.ExchangeDiffers.Load()
	complete := true
	defer func() {
		if complete && ctx.Err() == nil {
			s.mu.Lock()
			s.auditedTo = maxTime(s.auditedTo, limit)
			s.mu.Unlock()
		}
	}()
	for _, figi := range s.order {
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		due := s.takeAuditLocked(figi, limit)
		s.mu.Unlock()
		if len(due) == 0 {
			continue
		}
		if left, err := s.audit(ctx, figi, due); err != nil {
			if ctx.Err() == nil {
				s.progress.Errors.Add(1)
				s.warn("audit", "audit against the exchange's candles", "figi", figi, "err", err)
			}
			s.mu.Lock()
			s.auditQueue[figi] = append(left, s.auditQueue[figi]...) // retried next pass
			s.mu.Unlock()
			complete = false
		}
	}
	if n := s.progress.ExchangeDiffers.Load() - before; n > 0 {
		s.log.Warn("history differs from the exchange's final candles in some minutes",
			"minutes", n, "total", s.progress.ExchangeDiffers.Load(),
			"with_final_streamed", s.progress.ExchangeDiffersFinal.Load(),
			"history_follows", string(s.cfg.HistoryFollows), "replaced", s.progress.ExchangeReplaced.Load())
	}
}

// audit compares figi's history with the exchange over ranges (sorted,
// within the REST lag), one REST request per UTC day. On an error it
// returns the ranges not audited yet.
func (s *Service) audit(ctx context.Context, figi string, ranges []tvbridge.Range) ([]tvbridge.Range, error) {
	var pieces []tvbridge.Range
	for _, r := range ranges {
		pieces = append(pieces, splitDays(r)...)
	}
	for len(pieces) > 0 {
		day := pieces[0].From.Truncate(24 * time.Hour)
		n := 1
		for n < len(pieces) && pieces[n].From.Truncate(24*time.Hour).Equal(day) {
			n++
		}
		if err := s.auditDay(ctx, figi, pieces[:n]); err != nil {
			return pieces, err
		}
		pieces = pieces[n:]
	}
	return nil, nil
}

// auditDay audits ranges that lie within one UTC day.
func (s *Service) auditDay(ctx context.Context, figi string, ranges []tvbridge.Range) error {
	hull := tvbridge.Range{From: ranges[0].From, To: ranges[len(ranges)-1].To}
	history, err := s.minutes(ctx, figi, hull.From, hull.To)
	if err != nil {
		return err
	}
	var candles []tvbridge.Candle
	if _, trading := s.sessionHull(figi, hull); trading || len(history) > 0 {
		// Out of session with nothing streamed there is nothing to compare:
		// no request.
		candles, err = s.cfg.Upstream.Candles(ctx, figi, hull.From, hull.To, tvbridge.Interval1Min)
		s.progress.Requests.Add(1)
		if err != nil {
			return fmt.Errorf("candles %s..%s: %w", hull.From.Format(time.RFC3339), hull.To.Format(time.RFC3339), err)
		}
	}
	exchange := make(map[int64]tvbridge.Bar, len(candles))
	var keep []tvbridge.Bar
	for _, c := range candles {
		if c.Volume > 0 && inRanges(ranges, c.Time) {
			b := candleBar(c)
			exchange[c.Time.Unix()] = b
			keep = append(keep, b)
		}
	}
	served := make(map[int64]tvbridge.Bar, len(history))
	for _, b := range history {
		if inRanges(ranges, b.Time) {
			served[b.Time.Unix()] = b
		}
	}
	s.mu.Lock()
	finals := s.finals[figi]
	s.mu.Unlock()
	checked, differ, withFinal := 0, 0, 0
	for _, r := range ranges {
		for m := r.From; m.Before(r.To); m = m.Add(time.Minute) {
			checked++
			e, inExchange := exchange[m.Unix()]
			h, inHistory := served[m.Unix()]
			if inExchange == inHistory && (!inExchange || sameBar(e, h)) {
				continue
			}
			differ++
			s.mu.Lock()
			final := finals[m.Unix()]
			s.mu.Unlock()
			if final {
				withFinal++
				s.log.Warn("a streamed minute with its final state differs from the exchange's candle",
					"figi", figi, "minute", m, "history", h, "exchange", e)
			}
		}
	}
	s.progress.AuditedMinutes.Add(int64(checked))
	s.progress.ExchangeDiffers.Add(int64(differ))
	s.progress.ExchangeDiffersFinal.Add(int64(withFinal))
	if s.cfg.HistoryFollows == FollowExchange {
		if err := s.replace(ctx, figi, keep, ranges); err != nil {
			return err
		}
	}
	s.mu.Lock()
	for m := range finals {
		if m < hull.To.Unix() {
			delete(finals, m)
		}
	}
	s.mu.Unlock()
	return nil
}

// replace makes figi's history over ranges exactly bars (the exchange's) and
// marks the ranges covered.
func (s *Service) replace(ctx context.Context, figi string, bars []tvbridge.Bar, ranges []tvbridge.Range) error {
	replaced, _, err := s.cfg.Store.(ReplacingStore).ReplaceMinutes(ctx, figi, bars, ranges)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.progress.ExchangeReplaced.Add(int64(replaced))
	return s.refreshClosed(ctx, figi)
}

func inRanges(rs []tvbridge.Range, t time.Time) bool {
	for _, r := range rs {
		if !t.Before(r.From) && t.Before(r.To) {
			return true
		}
	}
	return false
}

func candleBar(c tvbridge.Candle) tvbridge.Bar {
	return tvbridge.Bar{Time: c.Time.UTC(), Open: c.Open, High: c.High, Low: c.Low, Close: c.Close, Volume: c.Volume}
}

func sameBar(a, b tvbridge.Bar) bool {
	return a.Time.Equal(b.Time) && a.Open == b.Open && a.High == b.High && a.Low == b.Low &&
		a.Close == b.Close && a.Volume == b.Volume
}

// AuditedUntil is the end of the last audit pass that compared every
// instrument's queued minutes: everything the stream had covered before it
// has been audited. Zero before the first complete pass.
func (s *Service) AuditedUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auditedTo
}
