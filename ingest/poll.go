package ingest

import (
	"context"
	"time"

	"tvbridge"
)

// Quotes from REST.
//
// An instrument without a live stream gets its minutes from REST as they
// close (recent.go), but that gives TradingView no quote. So, within a
// share of the REST budget (BookPolls per minute), the books of instruments
// in session without a live stream are polled in turn and fed to the bar
// engine as if streamed: they become quotes (never trades: REST has no
// trades, and trades from candles a minute late would break TradingView's
// 5 s delay rule) and reach the live market view trading fills against.

// pollIdle is how often the poll loop looks for instruments to poll when
// none needed it last time; a stream going down or silent wakes it at once.
const pollIdle = 15 * time.Second

// pollLoop polls one book every minute/BookPolls, round-robin over the
// instruments that need it, and hands it to the event loop. With none to
// poll it sleeps until woken (s.pollKick) or pollIdle.
func (s *Service) pollLoop(ctx context.Context) {
	every := time.Minute / time.Duration(s.cfg.BookPolls)
	next := 0
	wait := every
	for {
		t := s.cfg.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-s.pollKick:
			t.Stop()
		}
		figi, ok := s.nextPoll(&next)
		if !ok {
			wait = pollIdle
			continue
		}
		wait = every
		book, err := s.cfg.Upstream.OrderBook(ctx, figi, s.cfg.BookDepth)
		s.progress.Requests.Add(1)
		if err != nil {
			if ctx.Err() == nil {
				s.warn("book poll", "order book from REST for an instrument without a live stream", "figi", figi, "err", err)
			}
			continue
		}
		book.FIGI = figi
		ev := &tvbridge.OrderBookEvent{EventMeta: tvbridge.EventMeta{Received: s.cfg.Clock.Now()}, Book: book}
		select {
		case s.polled <- ev:
			s.progress.BooksPolled.Add(1)
		case <-ctx.Done():
			return
		}
	}
}

// nextPoll picks the next instrument, from *next on, that is in session and
// has no live stream.
func (s *Service) nextPoll(next *int) (string, bool) {
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for range len(s.order) {
		figi := s.order[*next%len(s.order)]
		*next++
		if !s.isLiveLocked(figi) && !s.connectingLocked(figi, now) && s.inSession(figi, now) {
			return figi, true
		}
		if s.silent[figi] && s.inSession(figi, now) {
			return figi, true
		}
	}
	return "", false
}

// startGrace is how long after the start an instrument whose stream has
// never been up is taken to be still connecting rather than refused.
const startGrace = 10 * time.Second

// connectingLocked reports whether figi's stream has simply not come up
// yet since the start: the pool is still connecting. Callers hold s.mu.
func (s *Service) connectingLocked(figi string, now time.Time) bool {
	return s.neverUpLocked(figi) && now.Sub(s.start) < startGrace
}

// neverUpLocked reports whether figi's stream has never been up (and the
// upstream can tell). Callers hold s.mu.
func (s *Service) neverUpLocked(figi string) bool {
	if _, ok := s.cfg.Upstream.(StreamStater); !ok || s.unstreamed[figi] {
		return false
	}
	st := s.streams[figi]
	return st.epoch == 0 && !st.live
}

// notConnected reports whether figi's stream has never come up although the
// start was more than startGrace ago: its connection is refused, or waits
// for room.
func (s *Service) notConnected(figi string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.neverUpLocked(figi) && now.Sub(s.start) >= startGrace
}

// kickPoll wakes the poll loop (a stream went down or silent); it never blocks.
func (s *Service) kickPoll() {
	select {
	case s.pollKick <- struct{}{}:
	default:
	}
}
