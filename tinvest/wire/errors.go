package wire

import "strconv"

// ErrorBody is the REST gateway's error answer:
// {"code": <gRPC code>, "message": "...", "description": "..."}.
// The service's five-digit error code ("30014") is in message or in
// description depending on the service's version; TrackingCode finds it.
type ErrorBody struct {
	Code        int    `json:"code"`
	Message     string `json:"message,omitempty"`
	Description string `json:"description,omitempty"`
}

// TrackingCode returns the five-digit service error code the body carries
// in its message or description ("" when neither is one).
func (e ErrorBody) TrackingCode() string {
	for _, s := range []string{e.Description, e.Message} {
		if IsServiceCode(s) {
			return s
		}
	}
	return ""
}

// IsServiceCode reports whether s is a five-digit service error code.
func IsServiceCode(s string) bool {
	if len(s) != 5 {
		return false
	}
	_, err := strconv.Atoi(s)
	return err == nil && s[0] >= '1' && s[0] <= '9'
}

// Code is a gRPC status code, as the error body and the WebSocket close
// codes (4000 + code) carry it.
type Code int

// gRPC status codes.
const (
	CodeOK                 Code = 0
	CodeCanceled           Code = 1
	CodeUnknown            Code = 2
	CodeInvalidArgument    Code = 3
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeAlreadyExists      Code = 6
	CodePermissionDenied   Code = 7
	CodeResourceExhausted  Code = 8
	CodeFailedPrecondition Code = 9
	CodeAborted            Code = 10
	CodeOutOfRange         Code = 11
	CodeUnimplemented      Code = 12
	CodeInternal           Code = 13
	CodeUnavailable        Code = 14
	CodeDataLoss           Code = 15
	CodeUnauthenticated    Code = 16
)

var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// WebSocket close codes: 4000 plus the gRPC code.
const (
	CloseInvalidArgument   = 4003
	CloseDeadlineExceeded  = 4004
	CloseResourceExhausted = 4008
	CloseUnauthenticated   = 4016
)

// Service error codes (the "tracking codes" of the docs) the client acts on.
const (
	ErrPeriodTooLong         = "30014" // candle request range too long for the interval
	ErrDuplicateOrder        = "30057"
	ErrPriceNotOnTick        = "30078"
	ErrWeekend               = "30092"
	ErrPermissionDenied      = "40002"
	ErrUnauthenticated       = "40003" // token missing, invalid or expired
	ErrPermissionDeniedAcct  = "40004"
	ErrTooManyStreams        = "80001"
	ErrRequestLimit          = "80002"
	ErrNoActiveSubscriptions = "80004" // a stream with no subscriptions is closed
	ErrStreamLifetime        = "80005"
)
