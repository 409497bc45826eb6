package trading

import (
	"errors"

	"tvbridge"
)

// requestDiffers compares a request with the validated one that placed an
// order under the same RequestID and returns the form field of the first
// difference, or "" when req is a retry of it. req is normalised the way
// placing normalised the first (lots, price grid, DAY for no duration), so
// that spelling the same order differently is still a retry. With prev nil
// (an order stored before requests were kept) every request is a retry.
func (m *Manager) requestDiffers(prev *tvbridge.OrderRequest, req tvbridge.OrderRequest) string {
	if prev == nil {
		return ""
	}
	if req.FIGI != prev.FIGI {
		return "instrument"
	}
	inst, ok := m.cfg.Instrument(req.FIGI)
	if !ok {
		return "instrument"
	}
	if err := normalize(&req, inst); err != nil {
		// The first request was valid, so this one differs where it is not.
		var te *tvbridge.TradingError
		if errors.As(err, &te) && te.Field != "" {
			return te.Field
		}
		return "instrument"
	}
	return firstDifference(prev, &req)
}

// firstDifference names the first field in which two normalised requests
// differ, in the order of TradingView's order ticket; "" if none.
func firstDifference(a, b *tvbridge.OrderRequest) string {
	differ := func(x, y float64) bool { return abs(x-y) > eps }
	switch {
	case a.Side != b.Side:
		return "side"
	case a.Type != b.Type:
		return "type"
	case differ(a.Qty, b.Qty):
		return "qty"
	case differ(a.LimitPrice, b.LimitPrice):
		return "limitPrice"
	case differ(a.StopPrice, b.StopPrice):
		return "stopPrice"
	case a.Duration.Type != b.Duration.Type:
		return "durationType"
	case !a.Duration.Until.Equal(b.Duration.Until):
		return "durationDateTime"
	case differ(a.Brackets.StopLoss, b.Brackets.StopLoss):
		return "stopLoss"
	case differ(a.Brackets.TakeProfit, b.Brackets.TakeProfit):
		return "takeProfit"
	case differ(a.Brackets.TrailingStopPips, b.Brackets.TrailingStopPips):
		return "trailingStopPips"
	}
	return ""
}
