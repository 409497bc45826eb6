package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Int64 is a proto int64: a JSON string of decimal digits on the wire
// ("quantity":"200"). Decoding also takes a JSON integer (200) or null (0);
// it refuses fractions, exponents, spaces, a plus sign and overflow.
type Int64 int64

// MarshalJSON writes the value as a quoted decimal.
func (v Int64) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(v), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a quoted or bare decimal integer.
func (v *Int64) UnmarshalJSON(data []byte) error {
	n, err := ParseIntJSON(data, 64)
	if err != nil {
		return err
	}
	*v = Int64(n)
	return nil
}

// ParseIntJSON parses a JSON integer value of the given bit size: a number
// without fraction or exponent, the same digits in a string, or null (0).
func ParseIntJSON(data []byte, bits int) (int64, error) {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return 0, nil
	}
	digits := data
	if len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' {
		digits = data[1 : len(data)-1]
	}
	if !isJSONInteger(digits) {
		return 0, fmt.Errorf("wire: %s is not an integer", snippet(data))
	}
	n, err := strconv.ParseInt(string(digits), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("wire: integer %s out of range for int%d", snippet(data), bits)
	}
	return n, nil
}

// isJSONInteger reports whether b is -?(0|[1-9][0-9]*).
func isJSONInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func snippet(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q...", b[:40])
	}
	return fmt.Sprintf("%q", b)
}

type quotationJSON struct {
	Units Int64 `json:"units"`
	Nano  int32 `json:"nano"`
}

type moneyJSON struct {
	Currency string `json:"currency,omitempty"`
	Units    Int64  `json:"units"`
	Nano     int32  `json:"nano"`
}

// MarshalJSON writes {"units":"195","nano":200000000}.
func (q Quotation) MarshalJSON() ([]byte, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("wire: encode quotation: %w", err)
	}
	return q.appendJSON(make([]byte, 0, 40)), nil
}

// appendJSON appends {"units":"U","nano":N}, byte for byte what
// encoding/json makes of quotationJSON, without its reflection (books of
// 20 levels are the most frequent frames a simulator writes).
func (q Quotation) appendJSON(b []byte) []byte {
	b = append(b, `{"units":"`...)
	b = strconv.AppendInt(b, q.Units, 10)
	b = append(b, `","nano":`...)
	b = strconv.AppendInt(b, int64(q.Nano), 10)
	return append(b, '}')
}

// UnmarshalJSON reads a Quotation strictly: units an Int64, nano a JSON
// integer within int32, the nano range and sign rule checked; missing
// fields are zero, null is zero, unknown members are ignored.
func (q *Quotation) UnmarshalJSON(data []byte) error {
	var raw struct {
		Units json.RawMessage `json:"units"`
		Nano  json.RawMessage `json:"nano"`
	}
	if err := decodeObject(data, &raw); err != nil {
		return fmt.Errorf("wire: quotation: %w", err)
	}
	v, err := parseAmount(raw.Units, raw.Nano)
	if err != nil {
		return fmt.Errorf("wire: quotation: %w", err)
	}
	*q = v
	return nil
}

// MarshalJSON writes {"currency":"rub","units":"195","nano":200000000}.
func (m MoneyValue) MarshalJSON() ([]byte, error) {
	if err := m.Quotation().Validate(); err != nil {
		return nil, fmt.Errorf("wire: encode money value: %w", err)
	}
	return json.Marshal(moneyJSON{Currency: m.Currency, Units: Int64(m.Units), Nano: m.Nano})
}

// UnmarshalJSON reads a MoneyValue as strictly as a Quotation.
func (m *MoneyValue) UnmarshalJSON(data []byte) error {
	var raw struct {
		Currency *string         `json:"currency"`
		Units    json.RawMessage `json:"units"`
		Nano     json.RawMessage `json:"nano"`
	}
	if err := decodeObject(data, &raw); err != nil {
		return fmt.Errorf("wire: money value: %w", err)
	}
	v, err := parseAmount(raw.Units, raw.Nano)
	if err != nil {
		return fmt.Errorf("wire: money value: %w", err)
	}
	*m = MoneyValue{Units: v.Units, Nano: v.Nano}
	if raw.Currency != nil {
		m.Currency = *raw.Currency
	}
	return nil
}

// decodeObject decodes a JSON object (or null, which leaves dst zero).
func decodeObject(data []byte, dst any) error {
	t := bytes.TrimSpace(data)
	if string(t) == "null" {
		return nil
	}
	if len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("%s is not an object", snippet(t))
	}
	return json.Unmarshal(t, dst)
}

func parseAmount(unitsRaw, nanoRaw json.RawMessage) (Quotation, error) {
	var q Quotation
	if len(unitsRaw) > 0 {
		u, err := ParseIntJSON(unitsRaw, 64)
		if err != nil {
			return q, fmt.Errorf("units: %w", err)
		}
		q.Units = u
	}
	if len(nanoRaw) > 0 {
		t := bytes.TrimSpace(nanoRaw)
		if len(t) > 0 && t[0] == '"' {
			return q, errors.New("nano is a string, want a number")
		}
		n, err := ParseIntJSON(t, 32)
		if err != nil {
			return q, fmt.Errorf("nano: %w", err)
		}
		q.Nano = int32(n)
	}
	return q, q.Validate()
}

// Timestamp is a protobuf Timestamp: an RFC 3339 string in UTC with up to
// nine fractional digits ("2023-05-16T08:44:27.432487Z"). The zero value is
// absent (null or left out).
type Timestamp struct{ time.Time }

// TimeLayout is how timestamps are written: UTC, Z suffix, fractional
// digits only as many as needed.
const TimeLayout = "2006-01-02T15:04:05.999999999Z07:00"

// At wraps t (any location) as a Timestamp.
func At(t time.Time) Timestamp { return Timestamp{t} }

// MarshalJSON writes the time in UTC, or null for the zero time.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.Time.IsZero() {
		return []byte("null"), nil
	}
	u := t.Time.UTC()
	if y := u.Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("wire: timestamp %v outside years 1..9999", u)
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = u.AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads an RFC 3339 string (Z or a numeric offset, up to nine
// fractional digits) into UTC; null is the zero time.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	d := bytes.TrimSpace(data)
	if string(d) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if len(d) == 0 || d[0] != '"' {
		return fmt.Errorf("wire: timestamp %s is not a string", snippet(d))
	}
	if err := json.Unmarshal(d, &s); err != nil {
		return fmt.Errorf("wire: timestamp: %w", err)
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// ParseTime parses an RFC 3339 timestamp into UTC. More than nine
// fractional digits are refused.
func ParseTime(s string) (time.Time, error) {
	if len(s) > 20 && s[19] == '.' {
		n := 20
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n-20 > 9 {
			return time.Time{}, fmt.Errorf("wire: timestamp %q has more than 9 fractional digits", s)
		}
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("wire: timestamp %q: %w", s, err)
	}
	return v.UTC(), nil
}
