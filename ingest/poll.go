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

// pollLoop polls one book every minute/BookPolls, round-robin over the
// instruments that need it, and hands it to the event loop.
func (s *Service) pollLoop(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(time.Minute / time.Duration(s.cfg.BookPolls))
	defer t.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		figi, ok := s.nextPoll(&next)
		if !ok {
			continue
		}
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
		if !s.isLiveLocked(figi) && !s.neverConnectedLocked(figi) && s.inSession(figi, now) {
			return figi, true
		}
		if s.silent[figi] && s.inSession(figi, now) {
			return figi, true
		}
	}
	return "", false
}

// neverConnectedLocked reports whether figi's stream has simply not come up
// yet since the start (the pool is still connecting): no reason to poll.
func (s *Service) neverConnectedLocked(figi string) bool {
	if s.unstreamed[figi] {
		return false
	}
	st := s.streams[figi]
	return st.epoch == 0 && !st.live && s.cfg.Clock.Since(s.start) < time.Minute
}
