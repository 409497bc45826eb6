package tinkoff

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. A *APIError matches them with errors.Is, so callers can
// write errors.Is(err, tinkoff.ErrNotFound) without knowing the HTTP details.
var (
	// ErrNotFound: error code NOT_FOUND (e.g. search by an unknown FIGI), or
	// an HTTP 404 that is not UNDEFINED_ROUTE.
	ErrNotFound = errors.New("tinkoff: not found")
	// ErrUndefinedRoute: HTTP 404 with code UNDEFINED_ROUTE, i.e. a wrong
	// path or method. It means a misconfigured BaseURL, not a missing
	// instrument, which is why it does not match ErrNotFound.
	ErrUndefinedRoute = errors.New("tinkoff: undefined route (check BaseURL and method)")
	// ErrUnauthorized: HTTP 401, the token is missing or not accepted.
	ErrUnauthorized = errors.New("tinkoff: unauthorized")
	// ErrForbidden: HTTP 403, the token is invalid.
	ErrForbidden = errors.New("tinkoff: forbidden")
	// ErrRateLimited: HTTP 429 (or 421 "too many connections") still
	// answered after MaxRetries429 retries.
	ErrRateLimited = errors.New("tinkoff: rate limited")
)

// Error codes of the REST error envelope that the client interprets.
const (
	CodeNotFound       = "NOT_FOUND"
	CodeUndefinedRoute = "UNDEFINED_ROUTE"
)

// APIError is an error answer of the REST service: either an error envelope
// ({"status":"Error","payload":{"code","message"}}) or a non-2xx status whose
// body was empty or not an envelope (then Code is empty and Message says what
// the body looked like).
type APIError struct {
	Method     string
	Path       string // request path relative to BaseURL, without the query
	HTTPStatus int
	Code       string // e.g. VALIDATION_ERROR; empty when the body had none
	Message    string
	TrackingID string // for the broker's support; empty when the body had none
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("tinkoff: ")
	if e.Method != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	}
	fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	if text := http.StatusText(e.HTTPStatus); text != "" {
		fmt.Fprintf(&b, " %s", text)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.TrackingID != "" {
		fmt.Fprintf(&b, " (trackingId %s)", e.TrackingID)
	}
	return b.String()
}

// Is lets errors.Is match the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return strings.EqualFold(e.Code, CodeNotFound) ||
			(e.HTTPStatus == http.StatusNotFound && !strings.EqualFold(e.Code, CodeUndefinedRoute))
	case ErrUndefinedRoute:
		return strings.EqualFold(e.Code, CodeUndefinedRoute)
	case ErrUnauthorized:
		return e.HTTPStatus == http.StatusUnauthorized
	case ErrForbidden:
		return e.HTTPStatus == http.StatusForbidden
	case ErrRateLimited:
		return retryableStatus(e.HTTPStatus)
	}
	return false
}

// IsNotFound reports whether err means that the requested object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAuth reports whether err is a 401 or 403: retrying will not help.
func IsAuth(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden)
}

// IsRateLimited reports whether err is a 429 that outlasted the retries.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// retryableStatus reports whether a response status means "slow down and try
// again": 429, and 421 which the v1 FAQ says comes with IP-level throttling.
// Neither was processed by the service, so retrying is safe even for orders.
func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusMisdirectedRequest
}
