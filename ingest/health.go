package ingest

import "time"

// Health reports the state of the upstream stream and of the data, for
// /healthz: "upstream" is "ok" when every instrument has a live stream,
// "degraded" when some have not (they are served from REST), "down" when
// none has; the instruments without a live stream are named (at most 20).
func (s *Service) Health() map[string]any {
	now := s.cfg.Clock.Now()
	var notLive []string
	silent, refused := 0, 0
	s.mu.Lock()
	for _, figi := range s.order {
		switch {
		case s.unstreamed[figi]:
			refused++
		case s.silent[figi]:
			silent++
		case s.isLiveLocked(figi):
			continue
		}
		notLive = append(notLive, s.specs[figi].Instrument.Ticker)
	}
	restFailing := 0
	for _, at := range s.fetchFailed {
		if now.Sub(at) < time.Minute {
			restFailing++
		}
	}
	s.mu.Unlock()
	state := "ok"
	switch {
	case len(s.order) > 0 && len(notLive) == len(s.order):
		state = "down"
	case len(notLive) > 0 || restFailing > 0:
		state = "degraded"
	}
	p := &s.progress
	h := map[string]any{
		"upstream":                        state,
		"instruments":                     len(s.order),
		"instruments_streaming":           len(s.order) - len(notLive),
		"instruments_silent":              silent,
		"instruments_refused":             refused,
		"rest_failing_instruments":        restFailing,
		"initial_backfill_done":           p.InitialDone.Load(),
		"minutes_differing_from_exchange": p.ExchangeDiffers.Load(),
	}
	if len(notLive) > 0 {
		if len(notLive) > 20 {
			notLive = notLive[:20]
		}
		h["not_streaming"] = notLive
	}
	return h
}
