package stream

import (
	"strings"

	"tvbridge"
)

// tradeStatuses maps both spellings of every trade status to the domain
// constant: the stream's snake_case ("normal_trading") and REST's CamelCase
// ("NormalTrading"), which the official Go SDK compares stream data against
// (its bug 3.4 #8). Built once; lookups with a []byte key do not allocate.
var tradeStatuses = func() map[string]tvbridge.TradeStatus {
	all := []tvbridge.TradeStatus{
		tvbridge.StatusBreakInTrading, tvbridge.StatusNormalTrading,
		tvbridge.StatusNotAvailableForTrading, tvbridge.StatusClosingAuction,
		tvbridge.StatusClosingPeriod, tvbridge.StatusDiscreteAuction,
		tvbridge.StatusOpeningPeriod, tvbridge.StatusTradingAtClosingAuction,
		tvbridge.StatusDealerNormalTrading, tvbridge.StatusDealerBreakInTrading,
		tvbridge.StatusDealerNotAvailable, tvbridge.StatusOpeningAuction,
		tvbridge.StatusSessionAssigned, tvbridge.StatusSessionClose,
		tvbridge.StatusSessionOpen,
	}
	m := make(map[string]tvbridge.TradeStatus, 2*len(all))
	for _, st := range all {
		m[string(st)] = st
		m[snakeToCamel(string(st))] = st
	}
	return m
}()

// parseTradeStatus returns the domain status for either spelling, and
// StatusUnknown (which is not Trading) for anything else: an unrecognised
// status must never look like permission to trade.
func parseTradeStatus(b []byte) tvbridge.TradeStatus {
	return tradeStatuses[string(b)]
}

// snakeToCamel turns "not_available_for_trading" into "NotAvailableForTrading".
func snakeToCamel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
