package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tvbridge"
	"tvbridge/clock"
	"tvbridge/tinkoff/stream"
)

// subKinds and subStates are every value of the subscriptions family's
// labels: each combination is exported, zeros included, so a series does
// not vanish when its count drops to nothing.
var (
	subKinds  = []tvbridge.SubscriptionKind{tvbridge.SubCandle, tvbridge.SubOrderBook, tvbridge.SubInstrumentInfo}
	subStates = []string{stream.SubLive, stream.SubConnecting, stream.SubWaiting}
)

// classOf names an instrument type as the class label spells it.
func classOf(t tvbridge.InstrumentType) string {
	switch t {
	case tvbridge.Stock, tvbridge.Bond, tvbridge.ETF, tvbridge.Currency:
		return strings.ToLower(string(t))
	}
	return "other"
}

func poolCollector(p Pool, insts []tvbridge.Instrument, clk clock.Clock) prometheus.Collector {
	if !present(p) {
		return nil
	}
	class := make(map[string]string, len(insts))
	for _, in := range insts {
		class[in.FIGI] = classOf(in.Type)
	}
	var b builder
	up := b.gauge("tvbridge_upstream_stream_connections_up", "Upstream stream connections open and serving.")
	desired := b.gauge("tvbridge_upstream_stream_connections_desired", "Upstream stream connections the pool wants open: slots holding subscriptions.")
	capacity := b.gauge("tvbridge_upstream_stream_connection_cap", "Connections the pool may use: the configured maximum, or fewer once the service answered 423.")
	silentConns := b.gauge("tvbridge_upstream_stream_connections_silent", "Connections in a data-silence episode: reopened for silence, no update since.")
	subs := b.gauge("tvbridge_upstream_stream_subscriptions", "Desired upstream subscriptions by kind and state (live: on a connection up; connecting: on one not up; waiting: no room).", "kind", "state")
	frames := b.counter("tvbridge_upstream_stream_frames_total", "Data frames read from the upstream stream, by kind; rate() gives frames per second.", "kind")
	decodeErrors := b.counter("tvbridge_upstream_stream_decode_errors_total", "Upstream frames that did not decode (non-JSON, truncated, bad values, binary).")
	reconnects := b.counter("tvbridge_upstream_stream_reconnects_total", "Upstream stream connections re-established after a loss.")
	lost := b.counter("tvbridge_upstream_stream_disconnects_total", "Upstream stream connections lost, by cause.", "cause")
	handshakes := b.counter("tvbridge_upstream_stream_handshake_failures_total", "Refused or failed stream handshakes by HTTP status (0: no HTTP answer).", "status")
	stalls := b.counter("tvbridge_upstream_stream_stalls_total", "Connections closed after the stall timeout without any frame.")
	silences := b.counter("tvbridge_upstream_stream_data_silences_total", "Connections reopened because they delivered no data while instruments on them should have been active.")
	instStalls := b.counter("tvbridge_upstream_stream_instrument_resubscriptions_total", "Instruments resubscribed because they went quiet while they should have been active.")
	silentInsts := b.gauge("tvbridge_upstream_stream_instruments_silent", "Instruments in a silence episode now.")
	moved := b.counter("tvbridge_upstream_stream_instruments_moved_total", "Instruments moved to another connection to follow the learned connection cap.")
	queued := b.gauge("tvbridge_upstream_stream_events_queued", "Upstream events waiting for ingest beyond the channel's buffer.")
	dups := b.counter("tvbridge_upstream_stream_duplicates_total", "Upstream events suppressed as identical to the last one delivered.")
	coalesced := b.counter("tvbridge_upstream_stream_coalesced_total", "Upstream events replaced by a newer one while ingest lagged.")
	serverErrors := b.counter("tvbridge_upstream_stream_server_errors_total", "Error events the upstream stream sent.")
	refused := b.counter("tvbridge_upstream_stream_subscriptions_refused_total", "Subscriptions the upstream refused, removed from the desired set.")
	age := b.gauge("tvbridge_upstream_last_frame_age_seconds", "Time since the newest upstream data frame of any instrument of the class (an instrument type: stock, bond, etf, currency).", "class")
	return b.done(func(ch chan<- prometheus.Metric) {
		st := p.Stats()
		nUp, nDesired := 0, 0
		for _, c := range st.Connections {
			if c.State == "up" {
				nUp++
			}
			if c.Subscriptions > 0 {
				nDesired++
			}
		}
		up.emit(ch, float64(nUp))
		desired.emit(ch, float64(nDesired))
		capacity.emit(ch, float64(st.ConnectionCap))
		silentConns.emit(ch, float64(st.SilentConnections))
		emitSubscriptions(ch, subs, p.Subscriptions())
		f := st.Frames
		for kind, n := range map[string]int64{"candle": f.Candle, "orderbook": f.OrderBook, "instrument_info": f.InstrumentInfo,
			"error": f.Error, "unknown": f.Unknown, "undecodable": f.Undecodable} {
			frames.emit(ch, float64(n), kind)
		}
		decodeErrors.emit(ch, float64(st.BadFrames))
		reconnects.emit(ch, float64(st.Reconnects))
		l := st.Lost
		for cause, n := range map[string]int64{"stall": l.Stall, "data_silence": l.DataSilence, "server_close": l.ServerClose,
			"read_timeout": l.ReadTimeout, "read_error": l.ReadError, "write_error": l.WriteError} {
			lost.emit(ch, float64(n), cause)
		}
		for status, n := range st.HandshakeFailures {
			handshakes.emit(ch, float64(n), strconv.Itoa(status))
		}
		stalls.emit(ch, float64(st.Stalls))
		silences.emit(ch, float64(st.DataSilences))
		instStalls.emit(ch, float64(st.InstrumentStalls))
		silentInsts.emit(ch, float64(st.SilentInstruments))
		moved.emit(ch, float64(st.Moved))
		queued.emit(ch, float64(st.Queued))
		dups.emit(ch, float64(st.Duplicates))
		coalesced.emit(ch, float64(st.Coalesced))
		serverErrors.emit(ch, float64(st.ServerErrors))
		refused.emit(ch, float64(st.Refused))
		now := clk.Now()
		for c, last := range newestFrames(p, class) {
			age.emit(ch, max(now.Sub(last), 0).Seconds(), c)
		}
	})
}

func emitSubscriptions(ch chan<- prometheus.Metric, f family, counts []stream.SubscriptionCount) {
	n := map[[2]string]int{}
	for _, c := range counts {
		n[[2]string{string(c.Kind), c.State}] += c.N
	}
	for _, kind := range subKinds {
		for _, state := range subStates {
			f.emit(ch, float64(n[[2]string{string(kind), state}]), string(kind), state)
		}
	}
}

// newestFrames is the time of the newest frame per instrument class.
func newestFrames(p Pool, class map[string]string) map[string]time.Time {
	newest := map[string]time.Time{}
	p.LastFrames(func(figi string, last time.Time) {
		c, ok := class[figi]
		if !ok {
			c = "other"
		}
		if last.After(newest[c]) {
			newest[c] = last
		}
	})
	return newest
}

func restCollector(r REST) prometheus.Collector {
	if !present(r) {
		return nil
	}
	var b builder
	requests := b.counter("tvbridge_upstream_rest_requests_total", "Upstream REST requests sent, retries included, by endpoint path.", "endpoint")
	limited := b.counter("tvbridge_upstream_rest_rate_limited_total", "Upstream REST answers 429 (or 421), by endpoint path.", "endpoint")
	errs := b.counter("tvbridge_upstream_rest_errors_total", "Upstream REST calls that failed, after retries, by endpoint path.", "endpoint")
	retries := b.counter("tvbridge_upstream_rest_retries_total", "Upstream REST requests repeated after a 429.")
	used := b.gauge("tvbridge_upstream_rest_budget_used", "Upstream REST requests granted in the rate-limit bucket's current one-minute window.", "bucket")
	limit := b.gauge("tvbridge_upstream_rest_budget_limit", "Upstream REST requests the bucket allows per one-minute window.", "bucket")
	waiting := b.gauge("tvbridge_upstream_rest_budget_waiting", "Upstream REST calls queued for a slot in the bucket.", "bucket")
	return b.done(func(ch chan<- prometheus.Metric) {
		for _, e := range r.Endpoints() {
			requests.emit(ch, float64(e.Requests), e.Endpoint)
			limited.emit(ch, float64(e.RateLimited), e.Endpoint)
			errs.emit(ch, float64(e.Errors), e.Endpoint)
		}
		retries.emit(ch, float64(r.Stats().Retries))
		for _, bk := range r.Budgets() {
			used.emit(ch, float64(bk.Used), bk.Bucket)
			limit.emit(ch, float64(bk.Limit), bk.Bucket)
			waiting.emit(ch, float64(bk.Waiting), bk.Bucket)
		}
	})
}
