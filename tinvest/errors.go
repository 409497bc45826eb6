package tinvest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tvbridge/tinvest/wire"
)

// Sentinel errors; an *APIError matches them with errors.Is.
var (
	// ErrUnauthenticated: the token is missing, invalid or expired (HTTP
	// 401, gRPC UNAUTHENTICATED, service code 40003). Retrying cannot help.
	ErrUnauthenticated = errors.New("tinvest: unauthenticated: the token is missing, invalid, revoked or expired " +
		"(tokens expire 3 months after their last use); issue a new one in the T-Invest settings")
	// ErrPermissionDenied: the token may not do this (HTTP 403, gRPC
	// PERMISSION_DENIED, service codes 40002 and 40004), e.g. a read-only
	// token placing an order or an account the token does not cover.
	ErrPermissionDenied = errors.New("tinvest: permission denied: the token lacks the rights for this call or account")
	// ErrNotFound: gRPC NOT_FOUND or a 50xxx service code.
	ErrNotFound = errors.New("tinvest: not found")
	// ErrRateLimited: RESOURCE_EXHAUSTED (HTTP 429) still answered after
	// the retries.
	ErrRateLimited = errors.New("tinvest: rate limited")
	// ErrUnavailable: 5xx / UNAVAILABLE / INTERNAL / DEADLINE_EXCEEDED
	// still answered after the retries.
	ErrUnavailable = errors.New("tinvest: service unavailable")
	// ErrInvalidArgument: gRPC INVALID_ARGUMENT (30xxx service codes).
	ErrInvalidArgument = errors.New("tinvest: invalid argument")
	// ErrPeriodTooLong: service code 30014, a candle range too long for
	// the interval. Also matches ErrInvalidArgument.
	ErrPeriodTooLong = errors.New("tinvest: candle period too long for the interval (30014)")
	// ErrUndefinedRoute: HTTP 404 without a gRPC body: a wrong base URL or
	// method path, not a missing object.
	ErrUndefinedRoute = errors.New("tinvest: no such route (check the base URL)")
)

// APIError is an error answer of the REST gateway.
type APIError struct {
	Method      string    // full method name, or "GET /history-data"
	HTTPStatus  int       // 0 when the answer had no status (never for APIError)
	Code        wire.Code // gRPC code from the body; derived from the status when the body had none
	Message     string    // the body's message
	Description string    // the body's description
	ServiceCode string    // the five-digit service code ("30014"), "" when none
	TrackingID  string    // x-tracking-id, for the broker's support
	RetryAfter  time.Duration
	Attempts    int  // requests sent for this call
	bodyHadCode bool // the body was a gRPC error body
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("tinvest: ")
	if e.Method != "" {
		fmt.Fprintf(&b, "%s: ", wire.MethodName(e.Method))
	}
	fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	fmt.Fprintf(&b, " %s", e.Code)
	if e.ServiceCode != "" {
		fmt.Fprintf(&b, " %s", e.ServiceCode)
	}
	for _, s := range []string{e.Message, e.Description} {
		if s != "" && s != e.ServiceCode {
			fmt.Fprintf(&b, ": %s", s)
		}
	}
	switch {
	case e.isAuth():
		b.WriteString(" (the token is missing, invalid, revoked or expired: tokens expire 3 months after their " +
			"last use; issue a new one in the T-Invest settings)")
	case e.isPermission():
		b.WriteString(" (the token lacks the rights for this call or account)")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.TrackingID != "" {
		fmt.Fprintf(&b, " (x-tracking-id %s)", e.TrackingID)
	}
	return b.String()
}

func (e *APIError) isAuth() bool {
	return e.Code == wire.CodeUnauthenticated || e.ServiceCode == wire.ErrUnauthenticated ||
		(e.HTTPStatus == http.StatusUnauthorized && !e.bodyHadCode)
}

func (e *APIError) isPermission() bool {
	return e.Code == wire.CodePermissionDenied || e.ServiceCode == wire.ErrPermissionDenied ||
		e.ServiceCode == wire.ErrPermissionDeniedAcct || (e.HTTPStatus == http.StatusForbidden && !e.bodyHadCode)
}

// Is matches the sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthenticated:
		return e.isAuth()
	case ErrPermissionDenied:
		return e.isPermission()
	case ErrNotFound:
		return e.Code == wire.CodeNotFound || strings.HasPrefix(e.ServiceCode, "5")
	case ErrRateLimited:
		return e.Code == wire.CodeResourceExhausted || e.HTTPStatus == http.StatusTooManyRequests
	case ErrUnavailable:
		return retryableCode(e.Code) || e.HTTPStatus >= 500
	case ErrInvalidArgument:
		return e.Code == wire.CodeInvalidArgument
	case ErrPeriodTooLong:
		return e.ServiceCode == wire.ErrPeriodTooLong
	case ErrUndefinedRoute:
		return e.HTTPStatus == http.StatusNotFound && !e.bodyHadCode
	}
	return false
}

// IsAuth reports whether err means the token is refused (unauthenticated
// or permission denied): fatal, retrying cannot help.
func IsAuth(err error) bool {
	return errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrPermissionDenied)
}

// IsNotFound reports whether err means the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsRateLimited reports whether err is a rate limit that outlasted the retries.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// codeFromStatus is the gRPC code an HTTP status stands for, for answers
// without a gRPC body (a proxy's 502, an empty 429).
func codeFromStatus(status int) wire.Code {
	switch status {
	case http.StatusBadRequest:
		return wire.CodeInvalidArgument
	case http.StatusUnauthorized:
		return wire.CodeUnauthenticated
	case http.StatusForbidden:
		return wire.CodePermissionDenied
	case http.StatusNotFound:
		return wire.CodeUnimplemented // a route, not an object
	case http.StatusTooManyRequests:
		return wire.CodeResourceExhausted
	case http.StatusNotImplemented:
		return wire.CodeUnimplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return wire.CodeUnavailable
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return wire.CodeDeadlineExceeded
	}
	if status >= 500 {
		return wire.CodeInternal
	}
	return wire.CodeUnknown
}

// retryableCode: the service did not do the work and may do it later.
func retryableCode(c wire.Code) bool {
	return c == wire.CodeUnavailable || c == wire.CodeInternal || c == wire.CodeDeadlineExceeded
}

// errorsIs is errors.Is for an *APIError known to be non-nil.
func errorsIs(e *APIError, target error) bool { return e.Is(target) }
