package ingest

import (
	"context"
	"time"
)

// summaryLoop logs the pipeline's counters every SummaryInterval, so an
// operator reading the log sees how the data is doing without a metrics
// system: what was streamed, stored and backfilled, and how /history
// compares with the exchange.
func (s *Service) summaryLoop(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(s.cfg.SummaryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.logSummary()
		}
	}
}

func (s *Service) logSummary() {
	p, e := &s.progress, s.engine.Stats()
	s.log.Info("ingest summary",
		"trades", e.Trades, "quotes", e.Quotes, "minutes_closed", e.MinutesClosed,
		"corrections", e.Corrections, "inconsistent", e.Inconsistent,
		"minutes_flushed", p.MinutesFlushed.Load(), "bars_backfilled", p.BarsBackfilled.Load(),
		"rest_requests", p.Requests.Load(), "errors", p.Errors.Load(),
		"audited_minutes", p.AuditedMinutes.Load(),
		"minutes_differing_from_exchange", p.ExchangeDiffers.Load(),
		"of_which_final_streamed", p.ExchangeDiffersFinal.Load(),
		"history_follows", string(s.cfg.HistoryFollows), "replaced", p.ExchangeReplaced.Load(),
		"since", s.start.Format(time.RFC3339))
}
