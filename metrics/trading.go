package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

func tradingCollector(t Trading, venue string) prometheus.Collector {
	if !present(t) {
		return nil
	}
	var b builder
	placed := b.counter("tvbridge_trading_orders_placed_total", "Orders placed (closing orders included, brackets not), by venue.", "venue")
	filled := b.counter("tvbridge_trading_orders_filled_total", "Orders filled, by venue.", "venue")
	cancelled := b.counter("tvbridge_trading_orders_cancelled_total", "Orders cancelled (by the trader, OCO, expiry or the venue), by venue.", "venue")
	rejected := b.counter("tvbridge_trading_orders_rejected_total", "Orders the venue rejected, by venue.", "venue")
	refused := b.counter("tvbridge_trading_orders_refused_total", "Placements refused before any order existed (invalid, no funds, requestId reused), by venue.", "venue")
	brackets := b.counter("tvbridge_trading_brackets_created_total", "Stop-loss and take-profit orders created with their parent, by venue.", "venue")
	triggered := b.counter("tvbridge_trading_stops_triggered_total", "Held stops, stop-limits and brackets triggered by a trade, by venue.", "venue")
	ack := b.histogram("tvbridge_trading_place_to_ack_seconds", "Latency from an order placement to its answer: committed and, for market and limit orders, acknowledged by the venue.", "venue")
	return b.done(func(ch chan<- prometheus.Metric) {
		s := t.Stats()
		placed.emit(ch, float64(s.Placed), venue)
		filled.emit(ch, float64(s.Filled), venue)
		cancelled.emit(ch, float64(s.Cancelled), venue)
		rejected.emit(ch, float64(s.Rejected), venue)
		refused.emit(ch, float64(s.Refused), venue)
		brackets.emit(ch, float64(s.Brackets), venue)
		triggered.emit(ch, float64(s.Triggered), venue)
		ack.emit(ch, s.PlaceToAck, venue)
	})
}

func authCollector(a Auth) prometheus.Collector {
	if !present(a) {
		return nil
	}
	var b builder
	logins := b.counter("tvbridge_auth_logins_total", "Password logins (/authorize and the OAuth login page) by result: ok, failed, locked_out (refused unchecked after too many failures).", "result")
	issued := b.counter("tvbridge_auth_tokens_issued_total", "Access tokens issued, by grant: password, authorization_code, refresh_token, jwt_bearer.", "grant")
	revoked := b.counter("tvbridge_auth_revocations_total", "Logins (token families) revoked: logout, OAuth logout, a reused code or refresh token.")
	unauthorized := b.counter("tvbridge_auth_unauthorized_total", "Requests refused with 401, by reason: no_token, invalid (malformed, unknown, revoked, wrong kind), expired (or replaced), error (the check failed).", "reason")
	return b.done(func(ch chan<- prometheus.Metric) {
		s := a.Stats()
		logins.emit(ch, float64(s.LoginsOK), "ok")
		logins.emit(ch, float64(s.LoginsFailed), "failed")
		logins.emit(ch, float64(s.LoginsLocked), "locked_out")
		issued.emit(ch, float64(s.IssuedPassword), "password")
		issued.emit(ch, float64(s.IssuedCode), "authorization_code")
		issued.emit(ch, float64(s.IssuedRefresh), "refresh_token")
		issued.emit(ch, float64(s.IssuedJWT), "jwt_bearer")
		revoked.emit(ch, float64(s.Revoked))
		unauthorized.emit(ch, float64(s.UnauthorizedNoToken), "no_token")
		unauthorized.emit(ch, float64(s.UnauthorizedInvalid), "invalid")
		unauthorized.emit(ch, float64(s.UnauthorizedExpired), "expired")
		unauthorized.emit(ch, float64(s.UnauthorizedError), "error")
	})
}
