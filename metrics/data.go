package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

func ingestCollector(s Ingest) prometheus.Collector {
	if !present(s) {
		return nil
	}
	var b builder
	insts := b.gauge("tvbridge_backfill_instruments", "Instruments whose history is kept complete (the catalogue).")
	instsDone := b.gauge("tvbridge_backfill_instruments_done", "Instruments whose initial backfill has finished.")
	window := b.gauge("tvbridge_backfill_window_seconds", "History to keep complete: the backfill depth times the instruments (each minute is 60 s).")
	uncovered := b.gauge("tvbridge_backfill_uncovered_seconds", "Part of the backfill window not yet known complete, as each instrument's latest backfill pass measured it (an instrument not examined yet counts whole).")
	done := b.gauge("tvbridge_backfill_done_seconds", "Part of the backfill window known complete: window minus uncovered.")
	requests := b.counter("tvbridge_backfill_requests_total", "REST candle requests made by the backfill.")
	bars := b.counter("tvbridge_backfill_bars_total", "1-minute bars stored from REST by the backfill.")
	gaps := b.counter("tvbridge_backfill_gaps_filled_total", "Uncovered ranges the backfill filled.")
	errs := b.counter("tvbridge_backfill_errors_total", "Backfill passes over an instrument that failed (retried on the next pass).")
	recent := b.counter("tvbridge_ingest_recent_bars_total", "1-minute bars fetched ahead of the REST lag for minutes TradingView asks for first.")
	flushed := b.counter("tvbridge_ingest_bars_flushed_total", "Closed 1-minute bars committed to the store by the flusher.")
	flushErrors := b.counter("tvbridge_ingest_flush_errors_total", "Flushes of closed bars that failed.")
	lastFlush := b.gauge("tvbridge_ingest_last_flush_duration_seconds", "Duration of the latest flush of closed bars (store commit included).")
	conflicts := b.counter("tvbridge_ingest_store_conflicts_total", "Bars the store kept although a later write carried another value (first write wins).")
	unstreamed := b.gauge("tvbridge_ingest_instruments_unstreamed", "Instruments whose candle stream the upstream refused: served from REST.")
	silences := b.counter("tvbridge_ingest_silences_total", "Times an instrument in session went silent on a live stream.")
	holes := b.counter("tvbridge_history_holes_cut_total", "/history answers cut short before a recent minute REST could not provide in time.")
	books := b.counter("tvbridge_ingest_books_polled_total", "Order books polled from REST for instruments without a live stream.")
	audited := b.counter("tvbridge_history_audited_bars_total", "Streamed 1-minute bars compared with the upstream's final REST candles.")
	differ := b.counter("tvbridge_history_exchange_differing_bars_total", "1-minute bars whose /history bar differed from the exchange's final candle.")
	differFinal := b.counter("tvbridge_history_exchange_differing_final_bars_total", "Of those, bars whose final state the stream had carried: defects, should stay 0.")
	replaced := b.counter("tvbridge_history_exchange_replaced_bars_total", "Bars replaced (or removed) to follow the exchange (--history-follows exchange).")
	return b.done(func(ch chan<- prometheus.Metric) {
		p := s.Progress()
		insts.emit(ch, float64(p.Instruments.Load()))
		instsDone.emit(ch, float64(p.InitialDone.Load()))
		w, u := p.WindowMinutes.Load(), p.UncoveredMinutes.Load()
		window.emit(ch, float64(w*60))
		uncovered.emit(ch, float64(u*60))
		done.emit(ch, float64(max(w-u, 0)*60))
		requests.emit(ch, float64(p.Requests.Load()))
		bars.emit(ch, float64(p.BarsBackfilled.Load()))
		gaps.emit(ch, float64(p.GapsFilled.Load()))
		errs.emit(ch, float64(p.Errors.Load()))
		recent.emit(ch, float64(p.RecentBars.Load()))
		flushed.emit(ch, float64(p.MinutesFlushed.Load()))
		flushErrors.emit(ch, float64(p.FlushErrors.Load()))
		lastFlush.emit(ch, float64(p.LastFlushMillis.Load())/1000)
		conflicts.emit(ch, float64(p.StoreConflicts.Load()))
		unstreamed.emit(ch, float64(p.Unstreamed.Load()))
		silences.emit(ch, float64(p.Silences.Load()))
		holes.emit(ch, float64(p.HolesCut.Load()))
		books.emit(ch, float64(p.BooksPolled.Load()))
		audited.emit(ch, float64(p.AuditedMinutes.Load()))
		differ.emit(ch, float64(p.ExchangeDiffers.Load()))
		differFinal.emit(ch, float64(p.ExchangeDiffersFinal.Load()))
		replaced.emit(ch, float64(p.ExchangeReplaced.Load()))
	})
}

func engineCollector(e Engine) prometheus.Collector {
	if !present(e) {
		return nil
	}
	var b builder
	updates := b.counter("tvbridge_bars_candle_updates_total", "1-minute candle updates of known instruments handled by the bar engine.")
	outcomes := b.counter("tvbridge_bars_candle_updates_by_outcome_total", "Candle updates that streamed nothing or waited, by outcome: duplicate, stale, out_of_order, inconsistent, pending (no volume), deferred (ahead of our clock), invalid, unknown_instrument, other_interval.", "outcome")
	corrections := b.counter("tvbridge_bars_corrections_total", "Updates for closed minutes that would have changed a served bar: stream-vs-history corrections, never applied.")
	ticks := b.counter("tvbridge_bars_ticks_total", "Ticks the bar engine put on the tape, by kind.", "kind")
	closed := b.counter("tvbridge_bars_closed_total", "1-minute bars closed by the bar engine.")
	outOfSession := b.counter("tvbridge_bars_out_of_session_total", "Closed 1-minute bars outside every session period (attached to no trading day).")
	books := b.counter("tvbridge_bars_books_ignored_total", "Order books that made no quote, by reason: stale, rejected (empty side, bad level, crossed), closed (outside the session).", "reason")
	panics := b.counter("tvbridge_bars_panics_total", "Panics recovered in the bar engine (bugs).")
	return b.done(func(ch chan<- prometheus.Metric) {
		s := e.Stats()
		updates.emit(ch, float64(s.Updates))
		for outcome, n := range map[string]uint64{"duplicate": s.Duplicates, "stale": s.Stale, "out_of_order": s.OutOfOrder,
			"inconsistent": s.Inconsistent, "pending": s.Pending, "deferred": s.Deferred, "invalid": s.Invalid,
			"unknown_instrument": s.Unknown, "other_interval": s.IgnoredCandles} {
			outcomes.emit(ch, float64(n), outcome)
		}
		corrections.emit(ch, float64(s.Corrections))
		ticks.emit(ch, float64(s.Trades), "trade")
		ticks.emit(ch, float64(s.Quotes), "quote")
		ticks.emit(ch, float64(s.Dailies), "daily")
		closed.emit(ch, float64(s.MinutesClosed))
		outOfSession.emit(ch, float64(s.OutOfSession))
		books.emit(ch, float64(s.BooksStale), "stale")
		books.emit(ch, float64(s.BooksRejected), "rejected")
		books.emit(ch, float64(s.BooksClosed), "closed")
		panics.emit(ch, float64(s.Panics))
	})
}

func tapeCollector(t Tape) prometheus.Collector {
	if !present(t) {
		return nil
	}
	var b builder
	appended := b.counter("tvbridge_tape_entries_appended_total", "Entries appended to the tape (its newest sequence number).")
	readers := b.gauge("tvbridge_tape_readers", "Open tape readers: /streaming connections and internal consumers.")
	dropped := b.counter("tvbridge_tape_dropped_total", "Ticks the tape could not encode and dropped.")
	conflated := b.counter("tvbridge_tape_conflated_quotes_total", "Quotes skipped by readers that were behind, because a newer quote of the symbol was already on the tape.")
	return b.done(func(ch chan<- prometheus.Metric) {
		s := t.Stats()
		appended.emit(ch, float64(s.LastSeq))
		readers.emit(ch, float64(s.Readers))
		dropped.emit(ch, float64(s.Dropped))
		conflated.emit(ch, float64(s.Conflated))
	})
}

func apiCollector(a API) prometheus.Collector {
	if !present(a) {
		return nil
	}
	var b builder
	open := b.gauge("tvbridge_streaming_connections", "/streaming connections open.")
	opened := b.counter("tvbridge_streaming_connections_opened_total", "/streaming connections opened.")
	lines := b.counter("tvbridge_streaming_lines_total", "Lines written to /streaming clients: ticks and heartbeats.")
	bytes := b.counter("tvbridge_streaming_written_bytes_total", "Bytes of /streaming lines written, without the HTTP chunk framing.")
	closes := b.counter("tvbridge_streaming_closed_total", "/streaming connections ended, by reason: client_gone (or shutdown), too_slow and write_failed (slow consumers cut off), tape_failed.", "reason")
	historyRequests := b.counter("tvbridge_history_requests_total", "/history requests by resolution (TradingView's usual ones by name; other; invalid).", "resolution")
	history := b.histogram("tvbridge_history_request_duration_seconds", "/history latency by resolution, the whole request as the HTTP middleware times it.", "resolution")
	return b.done(func(ch chan<- prometheus.Metric) {
		s := a.Stats()
		open.emit(ch, float64(s.StreamsOpen))
		opened.emit(ch, float64(s.StreamsOpened))
		lines.emit(ch, float64(s.StreamLines))
		bytes.emit(ch, float64(s.StreamBytes))
		c := s.StreamCloses
		closes.emit(ch, float64(c.ClientGone), "client_gone")
		closes.emit(ch, float64(c.TooSlow), "too_slow")
		closes.emit(ch, float64(c.WriteFailed), "write_failed")
		closes.emit(ch, float64(c.TapeFailed), "tape_failed")
		for _, h := range s.History {
			historyRequests.emit(ch, float64(h.Requests), h.Resolution)
			history.emit(ch, h.Latency, h.Resolution)
		}
	})
}

func storeCollector(s Store) prometheus.Collector {
	if !present(s) {
		return nil
	}
	var b builder
	size := b.gauge("tvbridge_store_size_bytes", "Size of the bar store's file.")
	commits := b.histogram("tvbridge_store_commit_duration_seconds", "Bar store write transactions (flushes, backfills, coverage), fsync included.")
	return b.done(func(ch chan<- prometheus.Metric) {
		st := s.Stats()
		size.emit(ch, float64(st.SizeBytes))
		commits.emit(ch, st.Commits)
	})
}
