package tinkoff

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// Error codes of the order API that the venue tells apart (doc 2.1).
const (
	codeNotEnoughBalance = "NOT_ENOUGH_BALANCE"
	codeInstrumentError  = "INSTRUMENT_ERROR" // e.g. "Instrument is disabled for trading"
	codeOrderError       = "ORDER_ERROR"      // e.g. cancelling an order that is already final
)

// orderError maps a failed limit-order or market-order call to what a
// trader can act on. The upstream's message is the Detail.
func orderError(err error) *tvbridge.TradingError {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		// No answer: the request may or may not have reached the exchange,
		// and v1 has no client order id to find out by.
		return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Err: err,
			Detail: "no answer from Tinkoff; the order may have been placed, check the account"}
	}
	te := &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: upstreamMessage(apiErr), Err: err}
	switch {
	case strings.EqualFold(apiErr.Code, codeNotEnoughBalance):
		te.Code = tvbridge.ErrInsufficientFunds
	case strings.EqualFold(apiErr.Code, codeInstrumentError):
		te.Code = tvbridge.ErrMarketClosed
	case errors.Is(apiErr, ErrNotFound):
		// The only thing an order names that can be missing is the FIGI.
		te.Code, te.Field = tvbridge.ErrUnknownInstrument, "instrument"
	}
	return te
}

// rejectedError is an order the upstream answered with status Rejected.
func rejectedError(p wire.PlacedOrder) *tvbridge.TradingError {
	detail := "Tinkoff rejected the order"
	for _, s := range []string{p.RejectReason, p.Message} {
		if s = strings.TrimSpace(s); s != "" {
			detail += ": " + s
		}
	}
	return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: detail}
}

// venueError maps a failed call other than placing an order.
func venueError(action string, err error) *tvbridge.TradingError {
	detail := action + ": no answer from Tinkoff"
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		detail = action + ": " + upstreamMessage(apiErr)
	}
	return &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: detail, Err: err}
}

// upstreamMessage is the upstream's own words, or the status when the body
// had none (a 429 or an empty 500).
func upstreamMessage(e *APIError) string {
	if msg := strings.TrimSpace(e.Message); msg != "" {
		return msg
	}
	msg := fmt.Sprintf("HTTP %d %s", e.HTTPStatus, http.StatusText(e.HTTPStatus))
	if e.Code != "" {
		msg += " " + e.Code
	}
	return msg
}

// isOrderFinalError reports whether a cancel failed only because the order
// is already filled, cancelled or gone.
func isOrderFinalError(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return strings.EqualFold(apiErr.Code, codeOrderError) || errors.Is(apiErr, ErrNotFound)
}
