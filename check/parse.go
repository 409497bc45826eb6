package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// This file holds the parsers of server output. Each is strict about what
// TradingView relies on and returns a precise error for anything else; none
// panics on any input (see the fuzz targets).

// bar is one /history bar.
type bar struct {
	T          int64
	O, H, L, C float64
	V          float64
}

func (b bar) String() string {
	return fmt.Sprintf("o=%g h=%g l=%g c=%g v=%g", b.O, b.H, b.L, b.C, b.V)
}

// history is a parsed /history answer.
type history struct {
	Status string // "ok", "no_data" or "error"
	Errmsg string
	NB     *int64 // legacy no_data: time of the closest earlier bar
	Bars   []bar
}

var historyColumns = [...]string{"t", "o", "h", "l", "c", "v"}

// parseHistory parses a /history body: {"s":"ok", six parallel arrays},
// the legacy {"s":"no_data"[,"nb":t]}, or {"s":"error","errmsg":...}.
func parseHistory(body []byte) (history, error) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(body, &raw); err != nil {
		return history{}, err
	}
	var h history
	if err := field(raw, "s", &h.Status); err != nil {
		return h, err
	}
	switch h.Status {
	case "ok":
		bars, err := parseBarColumns(raw)
		h.Bars = bars
		return h, err
	case "no_data":
		if _, ok := raw["nb"]; ok {
			nb, err := unixField(raw["nb"], "nb")
			if err != nil {
				return h, err
			}
			h.NB = &nb
		}
		return h, nil
	case "error":
		if err := field(raw, "errmsg", &h.Errmsg); err != nil {
			return h, err
		}
		return h, nil
	}
	return h, fmt.Errorf(`"s" is %q, want "ok", "no_data" or "error"`, h.Status)
}

func parseBarColumns(raw map[string]json.RawMessage) ([]bar, error) {
	var cols [len(historyColumns)][]json.RawMessage
	for i, name := range historyColumns {
		v, ok := raw[name]
		if !ok {
			return nil, fmt.Errorf("column %q is missing", name)
		}
		if err := decodeJSON(v, &cols[i]); err != nil || cols[i] == nil {
			return nil, fmt.Errorf("column %q is not an array", name)
		}
		if len(cols[i]) != len(cols[0]) {
			return nil, fmt.Errorf("column %q has %d values, t has %d", name, len(cols[i]), len(cols[0]))
		}
	}
	bars := make([]bar, len(cols[0]))
	for i := range bars {
		t, err := unixValue(cols[0][i])
		if err != nil {
			return nil, fmt.Errorf("t[%d]: %w", i, err)
		}
		bars[i].T = t
		for c, dst := range []*float64{&bars[i].O, &bars[i].H, &bars[i].L, &bars[i].C, &bars[i].V} {
			if *dst, err = floatValue(cols[c+1][i]); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", historyColumns[c+1], i, err)
			}
		}
	}
	return bars, nil
}

// numberToken returns a JSON number literal, rejecting strings, null and
// everything else (encoding/json would accept "1" for a json.Number).
func numberToken(raw json.RawMessage) (string, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return "", fmt.Errorf("%s is not a number", truncate(s, 40))
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "", fmt.Errorf("%s is not a finite number", truncate(s, 40))
	}
	return s, nil
}

func floatValue(raw json.RawMessage) (float64, error) {
	s, err := numberToken(raw)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(s, 64)
}

// unixValue parses an integer number of Unix seconds.
func unixValue(raw json.RawMessage) (int64, error) {
	s, err := numberToken(raw)
	if err != nil {
		return 0, err
	}
	t, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer number of Unix seconds", s)
	}
	return t, nil
}

func unixField(raw json.RawMessage, name string) (int64, error) {
	t, err := unixValue(raw)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", name, err)
	}
	return t, nil
}

// decodeJSON decodes exactly one JSON value; numbers are read from raw
// tokens by numberToken, so the decoder never rounds one.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

// field decodes a required object member.
func field(raw map[string]json.RawMessage, name string, v any) error {
	m, ok := raw[name]
	if !ok {
		return fmt.Errorf("%q is missing", name)
	}
	if err := decodeJSON(m, v); err != nil {
		return fmt.Errorf("%q: %w", name, err)
	}
	return nil
}

// envelope is a trading or authorize answer: {"s":"ok","d":...} or
// {"s":"error","errmsg":...}.
type envelope struct {
	S      string
	Errmsg string
	D      json.RawMessage
}

func parseEnvelope(body []byte) (envelope, error) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(body, &raw); err != nil {
		return envelope{}, err
	}
	var e envelope
	if err := field(raw, "s", &e.S); err != nil {
		return e, err
	}
	switch e.S {
	case "ok":
		e.D = raw["d"]
	case "error":
		if err := field(raw, "errmsg", &e.Errmsg); err != nil {
			return e, err
		}
	default:
		return e, fmt.Errorf(`"s" is %q, want "ok" or "error"`, e.S)
	}
	return e, nil
}

// okData parses an envelope that must be ok and decodes its d into v.
func okData(body []byte, v any) error {
	e, err := parseEnvelope(body)
	if err != nil {
		return err
	}
	if e.S != "ok" {
		return fmt.Errorf("s:error, errmsg %q", e.Errmsg)
	}
	if v == nil {
		return nil
	}
	if e.D == nil {
		return errors.New(`"d" is missing`)
	}
	if err := decodeJSON(e.D, v); err != nil {
		return fmt.Errorf(`"d": %w`, err)
	}
	return nil
}

// accessToken is a parsed /authorize answer.
type accessToken struct {
	Token      string
	Expiration int64 // Unix seconds
}

// parseAuthorize parses {"s":"ok","d":{"access_token":...,"expiration":...}}.
func parseAuthorize(body []byte) (accessToken, error) {
	var d map[string]json.RawMessage
	if err := okData(body, &d); err != nil {
		return accessToken{}, err
	}
	var at accessToken
	if err := field(d, "access_token", &at.Token); err != nil {
		return at, err
	}
	if at.Token == "" {
		return at, errors.New("access_token is empty")
	}
	raw, ok := d["expiration"]
	if !ok {
		return at, errors.New(`"expiration" is missing`)
	}
	exp, err := unixField(raw, "expiration")
	if err != nil {
		return at, err
	}
	at.Expiration = exp
	return at, nil
}

// tokenResponse is a parsed OAuth2 token endpoint answer.
type tokenResponse struct {
	Token     string
	ExpiresIn int64
	Type      string
}

// parseTokenResponse parses {"access_token":...,"expires_in":...,
// "token_type":...}, the answer to a JWT assertion.
func parseTokenResponse(body []byte) (tokenResponse, error) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(body, &raw); err != nil {
		return tokenResponse{}, err
	}
	var tr tokenResponse
	if err := field(raw, "access_token", &tr.Token); err != nil {
		return tr, err
	}
	if tr.Token == "" {
		return tr, errors.New("access_token is empty")
	}
	if v, ok := raw["expires_in"]; ok {
		n, err := unixField(v, "expires_in")
		if err != nil {
			return tr, err
		}
		tr.ExpiresIn = n
	}
	if v, ok := raw["token_type"]; ok {
		if err := decodeJSON(v, &tr.Type); err != nil {
			return tr, fmt.Errorf(`"token_type": %w`, err)
		}
	}
	return tr, nil
}

// groupList is a parsed /groups answer.
func parseGroups(body []byte) ([]string, error) {
	var d struct {
		Groups *[]struct {
			ID *string `json:"id"`
		} `json:"groups"`
	}
	if err := okData(body, &d); err != nil {
		return nil, err
	}
	if d.Groups == nil {
		return nil, errors.New(`"d.groups" is missing`)
	}
	ids := make([]string, 0, len(*d.Groups))
	for i, g := range *d.Groups {
		if g.ID == nil {
			return nil, fmt.Errorf("groups[%d] has no id", i)
		}
		ids = append(ids, *g.ID)
	}
	return ids, nil
}

// finite reports whether every value is an ordinary number.
func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
