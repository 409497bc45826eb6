package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Message kinds of /streaming: the "f" of each line, and 'h' for a heartbeat.
const (
	kindTrade     = 't'
	kindQuote     = 'q'
	kindDaily     = 'd'
	kindAsk       = 'a' // deprecated since 1.2.0
	kindBid       = 'b' // deprecated since 1.2.0
	kindHeartbeat = 'h'
)

// requiredFields lists the numeric fields each kind must carry besides id.
var requiredFields = map[byte][]string{
	kindTrade: {"p", "s", "t"},
	kindQuote: {"t", "ap", "as", "bp", "bs"},
	kindDaily: {"o", "h", "l", "c", "v", "t"},
	kindAsk:   {"p", "s", "t"},
	kindBid:   {"p", "s", "t"},
}

// streamMsg is one parsed /streaming line. Fields a kind does not carry
// are zero.
type streamMsg struct {
	Kind byte
	ID   string
	T    float64 // tick time as sent (Unix seconds when correct)

	P, S           float64 // trade, ask, bid
	AP, AS, BP, BS float64 // quote
	O, H, L, C, V  float64 // daily bar

	Heartbeat int64
}

// parseStreamLine parses one line without its "\n". err means the line is
// not a message at all (not a JSON object, no kind); problems lists each
// missing or mistyped field of an otherwise recognisable message.
func parseStreamLine(line []byte) (streamMsg, []string, error) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(line, &raw); err != nil {
		return streamMsg{}, nil, err
	}
	if raw == nil {
		return streamMsg{}, nil, errors.New("not a JSON object")
	}
	f, hasF := raw["f"]
	if !hasF {
		if hb, ok := raw["heartbeat"]; ok {
			m := streamMsg{Kind: kindHeartbeat}
			t, err := unixValue(hb)
			if err != nil {
				return m, []string{"heartbeat: " + err.Error()}, nil
			}
			m.Heartbeat = t
			return m, nil, nil
		}
		return streamMsg{}, nil, errors.New(`neither "f" nor "heartbeat"`)
	}
	var kind string
	if err := decodeJSON(f, &kind); err != nil || len(kind) != 1 || requiredFields[kind[0]] == nil {
		return streamMsg{}, nil, fmt.Errorf(`"f" is %s, want "t", "q", "d" (or the deprecated "a", "b")`, truncate(string(f), 20))
	}
	m := streamMsg{Kind: kind[0]}
	problems := m.decodeFields(raw)
	return m, problems, nil
}

func (m *streamMsg) decodeFields(raw map[string]json.RawMessage) []string {
	var problems []string
	if id, ok := raw["id"]; !ok {
		problems = append(problems, `"id" is missing`)
	} else if err := decodeJSON(id, &m.ID); err != nil || m.ID == "" {
		problems = append(problems, `"id" is not a non-empty string`)
	}
	for _, name := range requiredFields[m.Kind] {
		v, ok := raw[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%q is missing", name))
			continue
		}
		x, err := floatValue(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%q: %v", name, err))
			continue
		}
		*m.field(name) = x
	}
	return problems
}

// appendCanonical appends a representation of the message that does not
// depend on key order or number spelling, to compare connections.
func (m streamMsg) appendCanonical(dst []byte) []byte {
	dst = append(dst, m.Kind, '|')
	dst = append(dst, m.ID...)
	for _, name := range requiredFields[m.Kind] {
		dst = append(dst, '|')
		dst = append(dst, name...)
		dst = append(dst, '=')
		dst = strconv.AppendFloat(dst, *m.field(name), 'g', -1, 64)
	}
	return append(dst, '\n')
}

// field returns the numeric field of that wire name.
func (m *streamMsg) field(name string) *float64 {
	switch name {
	case "t":
		return &m.T
	case "p":
		return &m.P
	case "s":
		return &m.S
	case "ap":
		return &m.AP
	case "as":
		return &m.AS
	case "bp":
		return &m.BP
	case "bs":
		return &m.BS
	case "o":
		return &m.O
	case "h":
		return &m.H
	case "l":
		return &m.L
	case "c":
		return &m.C
	case "v":
		return &m.V
	}
	panic("streamMsg: no field " + name) // requiredFields names only these
}
