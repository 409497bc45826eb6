package ingest

import (
	"sync"
	"time"
)

// warnEvery bounds how often one kind of per-instrument warning is logged:
// when the upstream is down, every instrument fails the same way on every
// pass, and a hundred identical lines a minute hide everything else.
const warnEvery = time.Minute

// limitedWarner logs a warning of a kind at most once per warnEvery (on the
// service's clock), with the number of similar warnings held back since.
type limitedWarner struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

// warn logs msg unless one of the same kind was logged less than warnEvery ago.
func (s *Service) warn(kind, msg string, args ...any) {
	w := &s.warner
	now := s.cfg.Clock.Now()
	w.mu.Lock()
	if w.last == nil {
		w.last, w.held = make(map[string]time.Time), make(map[string]int)
	}
	if last, ok := w.last[kind]; ok && now.Sub(last) < warnEvery {
		w.held[kind]++
		w.mu.Unlock()
		return
	}
	held := w.held[kind]
	w.last[kind], w.held[kind] = now, 0
	w.mu.Unlock()
	if held > 0 {
		args = append(args, "similar_warnings_held_back", held)
	}
	s.log.Warn(msg, args...)
}
