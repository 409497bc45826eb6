package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"tvbridge/tinvest"
	v2stream "tvbridge/tinvest/stream"
)

// The T-Invest API v2 upstream exports the same families as v1 where they
// mean the same (connections, frames, reconnects, silences, REST requests),
// so a dashboard works whichever upstream runs; only one of the two
// collectors is ever registered. v2's REST client counts per call, not per
// endpoint, so its endpoint label is "all".

type (
	// V2Pool is the v2 market-data stream pool (*tinvest/stream.Pool).
	V2Pool interface{ Stats() v2stream.Stats }
	// V2REST is the v2 REST client (*tinvest.Client).
	V2REST interface{ Stats() tinvest.ClientStats }
)

func v2PoolCollector(p V2Pool) prometheus.Collector {
	if !present(p) {
		return nil
	}
	var b builder
	up := b.gauge("tvbridge_upstream_stream_connections_up", "Upstream stream connections open and serving.")
	desired := b.gauge("tvbridge_upstream_stream_connections_desired", "Upstream stream connections the pool wants open: slots holding subscriptions.")
	silentConns := b.gauge("tvbridge_upstream_stream_connections_silent", "Connections in a data-silence episode: reopened for silence, no update since.")
	subs := b.gauge("tvbridge_upstream_stream_subscriptions", "Desired upstream subscriptions by state (v2: live = confirmed by the service; connecting = placed, not confirmed; waiting = no room).", "kind", "state")
	frames := b.counter("tvbridge_upstream_stream_frames_total", "Data frames read from the upstream stream, by kind; rate() gives frames per second.", "kind")
	decodeErrors := b.counter("tvbridge_upstream_stream_decode_errors_total", "Upstream frames that did not decode (non-JSON, truncated, bad values, binary).")
	reconnects := b.counter("tvbridge_upstream_stream_reconnects_total", "Upstream stream connections re-established after a loss.")
	handshakes := b.counter("tvbridge_upstream_stream_handshake_failures_total", "Refused or failed stream handshakes by HTTP status (0: no HTTP answer).", "status")
	closes := b.counter("tvbridge_upstream_stream_close_codes_total", "Streams the service closed, by WebSocket close code (v2: 4003, 4004, 4008, 4016).", "code")
	stalls := b.counter("tvbridge_upstream_stream_stalls_total", "Connections closed after the stall timeout without any frame.")
	silences := b.counter("tvbridge_upstream_stream_data_silences_total", "Connections reopened because they delivered no data while instruments on them should have been active.")
	instStalls := b.counter("tvbridge_upstream_stream_instrument_resubscriptions_total", "Instruments resubscribed because they went quiet while they should have been active.")
	silentInsts := b.gauge("tvbridge_upstream_stream_instruments_silent", "Instruments in a silence episode now.")
	moved := b.counter("tvbridge_upstream_stream_instruments_moved_total", "Instruments moved to another connection.")
	queued := b.gauge("tvbridge_upstream_stream_events_queued", "Upstream events waiting for ingest beyond the channel's buffer.")
	dups := b.counter("tvbridge_upstream_stream_duplicates_total", "Upstream events suppressed as identical to the last one delivered.")
	coalesced := b.counter("tvbridge_upstream_stream_coalesced_total", "Upstream events replaced by a newer one while ingest lagged.")
	dropped := b.counter("tvbridge_upstream_stream_trades_dropped_total", "Trades dropped because ingest was stuck (v2; the minute falls back to its candle updates).")
	refused := b.counter("tvbridge_upstream_stream_subscriptions_refused_total", "Subscriptions the upstream refused (any status but SUCCESS).")
	requests := b.counter("tvbridge_upstream_stream_subscription_requests_total", "Subscribe and unsubscribe requests sent (v2 allows 100 a minute per stream).")
	return b.done(func(ch chan<- prometheus.Metric) {
		st := p.Stats()
		nUp, nDesired := 0, 0
		for _, s := range st.Streams {
			if s.State == "up" {
				nUp++
			}
			if s.Subscriptions+s.Info > 0 {
				nDesired++
			}
		}
		up.emit(ch, float64(nUp))
		desired.emit(ch, float64(nDesired))
		silentConns.emit(ch, float64(st.SilentConnections))
		subs.emit(ch, float64(st.Live), "all", "live")
		subs.emit(ch, float64(max(st.Subscriptions-st.Live, 0)), "all", "connecting")
		subs.emit(ch, float64(st.Pending), "all", "waiting")
		frames.emit(ch, float64(st.FramesRead), "all")
		decodeErrors.emit(ch, float64(st.BadFrames))
		reconnects.emit(ch, float64(st.Reconnects))
		for status, n := range st.HandshakeFailures {
			handshakes.emit(ch, float64(n), strconv.Itoa(status))
		}
		for code, n := range st.CloseCodes {
			closes.emit(ch, float64(n), strconv.Itoa(code))
		}
		stalls.emit(ch, float64(st.Stalls))
		silences.emit(ch, float64(st.DataSilences))
		instStalls.emit(ch, float64(st.InstrumentStalls))
		silentInsts.emit(ch, float64(st.SilentInstruments))
		moved.emit(ch, float64(st.Moved))
		queued.emit(ch, float64(st.Queued))
		dups.emit(ch, float64(st.Duplicates))
		coalesced.emit(ch, float64(st.Coalesced))
		dropped.emit(ch, float64(st.DroppedTrades))
		refused.emit(ch, float64(st.Refused))
		requests.emit(ch, float64(st.Requests))
	})
}

func v2RESTCollector(r V2REST) prometheus.Collector {
	if !present(r) {
		return nil
	}
	var b builder
	requests := b.counter("tvbridge_upstream_rest_requests_total", "Upstream REST requests sent, retries included, by endpoint path.", "endpoint")
	limited := b.counter("tvbridge_upstream_rest_rate_limited_total", "Upstream REST answers 429 (or 421), by endpoint path.", "endpoint")
	errs := b.counter("tvbridge_upstream_rest_errors_total", "Upstream REST calls that failed, after retries, by endpoint path.", "endpoint")
	retries := b.counter("tvbridge_upstream_rest_retries_total", "Upstream REST requests repeated after a 429.")
	return b.done(func(ch chan<- prometheus.Metric) {
		st := r.Stats()
		requests.emit(ch, float64(st.Requests), "all")
		limited.emit(ch, float64(st.RateLimited), "all")
		errs.emit(ch, float64(st.Errors), "all")
		retries.emit(ch, float64(st.Retries))
	})
}
