package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// symbolTable is a parsed /symbol_info answer: columns keyed by name, each
// either one value per symbol or one scalar for all.
type symbolTable struct {
	n    int
	cols map[string]json.RawMessage
}

// parseSymbolInfo parses the columnar /symbol_info answer. It checks the
// envelope and the symbol column; the other columns are decoded on demand
// by the typed accessors, so one bad column does not hide the others.
func parseSymbolInfo(body []byte) (*symbolTable, error) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(body, &raw); err != nil {
		return nil, err
	}
	var s string
	if err := field(raw, "s", &s); err != nil {
		return nil, err
	}
	if s != "ok" {
		var msg string
		_ = field(raw, "errmsg", &msg)
		return nil, fmt.Errorf("s is %q (errmsg %q), want \"ok\"", s, msg)
	}
	delete(raw, "s")
	var symbols []json.RawMessage
	if err := field(raw, "symbol", &symbols); err != nil {
		return nil, err
	}
	if symbols == nil {
		return nil, errors.New(`"symbol" is not an array`)
	}
	return &symbolTable{n: len(symbols), cols: raw}, nil
}

// columns returns the column names, sorted.
func (t *symbolTable) columns() []string {
	names := make([]string, 0, len(t.cols))
	for k := range t.cols {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (t *symbolTable) has(col string) bool {
	_, ok := t.cols[col]
	return ok
}

// cells returns one raw value per symbol: the column's items, or its
// scalar repeated. A missing column gives nil cells (all null).
func (t *symbolTable) cells(col string) ([]json.RawMessage, error) {
	raw, ok := t.cols[col]
	if !ok {
		return make([]json.RawMessage, t.n), nil
	}
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if err := decodeJSON(raw, &items); err != nil {
			return nil, fmt.Errorf("column %q: %w", col, err)
		}
		if len(items) != t.n {
			return nil, fmt.Errorf("column %q has %d values for %d symbols", col, len(items), t.n)
		}
		return items, nil
	}
	items = make([]json.RawMessage, t.n)
	for i := range items {
		items[i] = raw
	}
	return items, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// strings returns a string column; nil entries are null or absent.
func (t *symbolTable) strings(col string) ([]*string, error) {
	cells, err := t.cells(col)
	if err != nil {
		return nil, err
	}
	out := make([]*string, t.n)
	for i, c := range cells {
		if isNull(c) {
			continue
		}
		var s string
		if err := decodeJSON(c, &s); err != nil {
			return nil, fmt.Errorf("column %q, symbol #%d: %s is not a string", col, i, truncate(string(c), 40))
		}
		out[i] = &s
	}
	return out, nil
}

// numbers returns a number column; nil entries are null or absent.
func (t *symbolTable) numbers(col string) ([]*float64, error) {
	cells, err := t.cells(col)
	if err != nil {
		return nil, err
	}
	out := make([]*float64, t.n)
	for i, c := range cells {
		if isNull(c) {
			continue
		}
		v, err := floatValue(c)
		if err != nil {
			return nil, fmt.Errorf("column %q, symbol #%d: %w", col, i, err)
		}
		out[i] = &v
	}
	return out, nil
}

// bools returns a boolean column; nil entries are null or absent.
func (t *symbolTable) bools(col string) ([]*bool, error) {
	cells, err := t.cells(col)
	if err != nil {
		return nil, err
	}
	out := make([]*bool, t.n)
	for i, c := range cells {
		if isNull(c) {
			continue
		}
		var b bool
		if err := decodeJSON(c, &b); err != nil {
			return nil, fmt.Errorf("column %q, symbol #%d: %s is not a boolean", col, i, truncate(string(c), 40))
		}
		out[i] = &b
	}
	return out, nil
}

// str returns the string or "" for null.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
