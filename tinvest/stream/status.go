package stream

import (
	"tvbridge"
	"tvbridge/tinvest/wire"
)

// tradeStatuses maps v2's SECURITY_TRADING_STATUS_* names to the domain's
// statuses (the v1 spelling). The names match one to one except:
//
//   - DARK_POOL_AUCTION (the auction for large blocks) has no domain
//     counterpart; it becomes StatusDiscreteAuction, the closest status in
//     which trades are expected (Trading() is true), so the silence
//     watchdogs and quotes treat the instrument as trading;
//   - OPENING_AUCTION_PERIOD is StatusOpeningAuction;
//   - DEALER_NOT_AVAILABLE_FOR_TRADING is StatusDealerNotAvailable;
//   - UNSPECIFIED and any name this client does not know are
//     StatusUnknown, which is not Trading(): an unrecognised status must
//     never look like permission to trade.
var tradeStatuses = map[string]tvbridge.TradeStatus{
	string(wire.TradingStatusNotAvailableForTrading):       tvbridge.StatusNotAvailableForTrading,
	string(wire.TradingStatusOpeningPeriod):                tvbridge.StatusOpeningPeriod,
	string(wire.TradingStatusClosingPeriod):                tvbridge.StatusClosingPeriod,
	string(wire.TradingStatusBreakInTrading):               tvbridge.StatusBreakInTrading,
	string(wire.TradingStatusNormalTrading):                tvbridge.StatusNormalTrading,
	string(wire.TradingStatusClosingAuction):               tvbridge.StatusClosingAuction,
	string(wire.TradingStatusDarkPoolAuction):              tvbridge.StatusDiscreteAuction,
	string(wire.TradingStatusDiscreteAuction):              tvbridge.StatusDiscreteAuction,
	string(wire.TradingStatusOpeningAuctionPeriod):         tvbridge.StatusOpeningAuction,
	string(wire.TradingStatusTradingAtClosingAuctionPrice): tvbridge.StatusTradingAtClosingAuction,
	string(wire.TradingStatusSessionAssigned):              tvbridge.StatusSessionAssigned,
	string(wire.TradingStatusSessionClose):                 tvbridge.StatusSessionClose,
	string(wire.TradingStatusSessionOpen):                  tvbridge.StatusSessionOpen,
	string(wire.TradingStatusDealerNormalTrading):          tvbridge.StatusDealerNormalTrading,
	string(wire.TradingStatusDealerBreakInTrading):         tvbridge.StatusDealerBreakInTrading,
	string(wire.TradingStatusDealerNotAvailableForTrading): tvbridge.StatusDealerNotAvailable,
}

// TradeStatus maps a v2 trading status to the domain's (see tradeStatuses
// for the mapping).
func TradeStatus(s wire.SecurityTradingStatus) tvbridge.TradeStatus {
	return tradeStatuses[string(s)]
}

// tradeStatusBytes is TradeStatus without allocating.
func tradeStatusBytes(b []byte) tvbridge.TradeStatus { return tradeStatuses[string(b)] }
