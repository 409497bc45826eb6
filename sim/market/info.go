package market

import (
	"time"

	"tvbridge"
)

// Status returns the trading status at t: StatusUnknown for an unknown
// FIGI, not_available_for_trading outside the session and before listing.
func (m *Market) Status(figi string, t time.Time) tvbridge.TradeStatus {
	md, ok := m.model(figi)
	if !ok {
		return tvbridge.StatusUnknown
	}
	return md.statusAt(toNanos(t))
}

// Info returns the instrument_info at t: status, increment and lot; for
// bonds the accrued coupon interest per bond; for MOEX stocks, ETFs and
// currencies limit_up and limit_down at ±20% of the previous day's close.
// An unknown FIGI gives only the FIGI and StatusUnknown.
func (m *Market) Info(figi string, t time.Time) tvbridge.InstrumentInfo {
	info := tvbridge.InstrumentInfo{FIGI: figi}
	md, ok := m.model(figi)
	if !ok {
		return info
	}
	ns := toNanos(t)
	info.TradeStatus = md.statusAt(ns)
	info.MinPriceIncrement = md.inst.MinPriceIncrement
	info.Lot = float64(md.inst.Lot)
	if md.inst.Type == tvbridge.Bond {
		info.AccruedInterest = md.accruedInterest(ns)
	}
	if md.limits {
		if ref, ok := m.previousClose(md, ns); ok {
			info.LimitDown, info.LimitUp = md.priceLimits(ref)
		}
	}
	return info
}

// Coupons: every bond pays twice a year, on its own schedule.
const (
	couponDays = 182
	epochDay   = 16436 // 2015-01-01 as a Unix day number
)

// kopeck rounds money to 0.01.
var kopeck = mustPriceStep(0.01)

// accruedInterest is the coupon interest accrued per bond since the last
// coupon date, on an actual/365 basis, rounded to 0.01: it grows day by day
// and drops to zero on each coupon date.
func (md *model) accruedInterest(ns int64) float64 {
	days := md.day(ns).dayNum - md.couponAnchor
	days -= floorDiv(days, couponDays) * couponDays
	return kopeck.round(faceValue * md.coupon * float64(days) / 365)
}
