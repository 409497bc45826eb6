package tinvest

import (
	"errors"
	"fmt"
	"strings"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// Service error codes the venue tells apart (src/docs/errors.md of the
// contract repository); the wire package names the ones the client acts on.
const (
	codeNotEnoughBalance   = "30034" // sandbox: not enough balance
	codeNotEnoughMargin    = "30042" // not enough assets for a margin trade
	codeForbiddenForAPI    = "30052" // instrument forbidden for trading by API
	codeCancelError        = "30059" // cancel order error: %s (e.g. already executed)
	codeOnlyLimit          = "30068"
	codeOTC                = "30077"
	codeNotAvailable       = "30079" // instrument is not available for trading
	codeQtyPositive        = "30080"
	codeAccountClosed      = "30081"
	codeAccountBlocked     = "30082"
	codeOptions            = "30094"
	codeWrongSession       = "30097" // inappropriate trading session
	codeNoTradingNow       = "30098" // no trading on this instrument now
	codeOutsideLimits      = "30099"
	codePricePositive      = "30100"
	codeNeedsTest          = "30101"
	codeOnlyBestPrice      = "30103"
	codeAmountTooLarge     = "30109"
	codeQtyMissing         = "30015"
	codeQtyInvalid         = "30016"
	codeInstrumentNotFound = "50002"
	codeAccountNotFound    = "50004"
	codeOrderNotFound      = "50005"
	codeNeedConfirmation   = "90001"
	codeQualifiedOnly      = "90002"
	codePriceTooHigh       = "90003"
)

// hasServiceCode reports whether err is a service error with this code.
func hasServiceCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.ServiceCode == code
}

// placeError maps a failed PostOrder or ReplaceOrder to what a trader can
// act on; maybePlaced says that the order may exist nonetheless (no
// answer, a server error, or a key the service knows without its report),
// so the venue keeps looking for it by its idempotency key. The service's
// words and the x-tracking-id are in the Detail.
func placeError(err error, o tvbridge.VenueOrder, inst tvbridge.Instrument) (te *tvbridge.TradingError, maybePlaced bool) {
	var ae *APIError
	if !errors.As(err, &ae) {
		return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Err: err,
			Detail: "no answer from T-Invest; the order may have been placed: tvbridge looks for it by its idempotency key"}, true
	}
	te = &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: upstreamMessage(ae), Err: err}
	switch ae.ServiceCode {
	case codeNotEnoughBalance, codeNotEnoughMargin:
		te.Code = tvbridge.ErrInsufficientFunds
	case wire.ErrWeekend, codeWrongSession, codeNoTradingNow, codeNotAvailable:
		te.Code = tvbridge.ErrMarketClosed
		if o.Type == tvbridge.MarketOrder {
			te.Reason, te.Params = tvbridge.ReasonMarketClosed, tvbridge.ErrorParams{FIGI: o.FIGI}
		}
	case wire.ErrPriceNotOnTick:
		te.Code, te.Field, te.Reason = tvbridge.ErrInvalidPrice, "limitPrice", tvbridge.ReasonPriceStep
		te.Params = tvbridge.ErrorParams{FIGI: o.FIGI, Value: o.Limit, Step: inst.MinPriceIncrement}
	case codePricePositive:
		te.Code, te.Field, te.Reason = tvbridge.ErrInvalidPrice, "limitPrice", tvbridge.ReasonPricePositive
	case codeOutsideLimits:
		te.Code, te.Field = tvbridge.ErrInvalidPrice, "limitPrice"
		te.Detail = "the price is outside the exchange's limits for the instrument: " + te.Detail
	case codeQtyMissing, codeQtyInvalid, codeQtyPositive:
		te.Code, te.Field = tvbridge.ErrInvalidQty, "qty"
	case codeAmountTooLarge, codePriceTooHigh:
		te.Code, te.Field = tvbridge.ErrInvalidQty, "qty"
		te.Detail = "the order is too large for T-Invest; split it into smaller ones: " + te.Detail
	case codeForbiddenForAPI, codeOTC, codeOptions, codeNeedsTest, codeQualifiedOnly:
		te.Code, te.Field = tvbridge.ErrUnsupported, "instrument"
		te.Detail = "T-Invest does not let this account trade the instrument through the API: " + te.Detail
	case codeOnlyLimit, codeOnlyBestPrice:
		te.Code, te.Field = tvbridge.ErrUnsupported, "type"
	case codeInstrumentNotFound:
		te.Code, te.Field = tvbridge.ErrUnknownInstrument, "instrument"
	case codeAccountNotFound:
		te.Code = tvbridge.ErrUnknownAccount
	case codeAccountClosed, codeAccountBlocked:
		te.Detail = "the T-Invest account is closed or blocked: " + te.Detail
	case wire.ErrDuplicateOrder:
		te.Detail = "T-Invest knows this order's idempotency key but has no report of the order; " +
			"tvbridge keeps looking for it: check the account: " + te.Detail
		return te, true
	case codeNeedConfirmation:
		te.Detail = "T-Invest asks for the order to be confirmed (in its app, or turn the confirmation off): " + te.Detail
	default:
		switch {
		case errors.Is(ae, ErrUnauthenticated):
			te.Detail = "T-Invest refused the token (missing, revoked or expired: tokens expire 3 months after " +
				"their last use); the broker must issue a new one: " + te.Detail
		case errors.Is(ae, ErrPermissionDenied):
			te.Detail = "the token may not place orders on this account (a read-only token, or an account it " +
				"does not cover): " + te.Detail
		case errors.Is(ae, ErrRateLimited):
			te.Detail = "T-Invest's request limit is spent; try again in a minute: " + te.Detail
		case errors.Is(ae, ErrUnavailable):
			te.Detail = "T-Invest failed; the order may have been placed: tvbridge looks for it by its idempotency key: " + te.Detail
			return te, true
		}
	}
	return te, false
}

// venueError maps a failed call other than placing an order.
func venueError(action string, err error) *tvbridge.TradingError {
	var ae *APIError
	if !errors.As(err, &ae) {
		return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: action + ": no answer from T-Invest", Err: err}
	}
	detail := action + ": " + upstreamMessage(ae)
	switch {
	case errors.Is(ae, ErrUnauthenticated):
		detail = action + ": T-Invest refused the token (missing, revoked or expired); the broker must issue a new one: " +
			upstreamMessage(ae)
	case errors.Is(ae, ErrRateLimited):
		detail = action + ": T-Invest's request limit is spent; try again in a minute: " + upstreamMessage(ae)
	}
	return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: detail, Err: err}
}

// upstreamMessage is the service's own words with its code and the
// x-tracking-id its support asks for.
func upstreamMessage(e *APIError) string {
	var parts []string
	for _, s := range []string{e.Message, e.Description} {
		if s = strings.TrimSpace(s); s != "" && s != e.ServiceCode && !strings.HasPrefix(s, "unexpected body") {
			parts = append(parts, s)
		}
	}
	msg := strings.Join(parts, ": ")
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", e.HTTPStatus, e.Code)
	}
	if e.ServiceCode != "" {
		msg += " (" + e.ServiceCode + ")"
	}
	if e.TrackingID != "" {
		msg += " (x-tracking-id " + e.TrackingID + ")"
	}
	return msg
}

// cancelMayBeFinal reports whether a cancel failed in a way that may only
// mean the order is already filled, cancelled or unknown.
func cancelMayBeFinal(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return IsNotFound(err) || ae.ServiceCode == codeCancelError || ae.ServiceCode == codeOrderNotFound ||
		ae.Code == wire.CodeFailedPrecondition
}
