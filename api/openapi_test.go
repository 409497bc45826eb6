package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// This file checks responses against TradingView's OpenAPI spec, read from
// the shared reference folder (never copied into the repository). It holds a
// YAML reader for the block-style subset the spec uses and a validator for
// the JSON-Schema keywords its schemas use: $ref, type, nullable, enum,
// required, properties, additionalProperties:false, items, minItems,
// maxItems, allOf, oneOf and anyOf.
//
// One interpretation is needed: the spec combines SuccessResponse, which has
// additionalProperties:false, with the bar or symbol columns through allOf.
// Read literally, no response could satisfy both, so properties declared by
// any allOf branch are allowed in every branch (what unevaluatedProperties
// would mean).

const specPath = "../../shared/reference/tradingview-broker-api-1.4.14.openapi.yaml"

var (
	specOnce sync.Once
	specDoc  map[string]any
	specErr  error
)

// loadSpec returns the parsed spec, or nil when the shared reference
// folder is absent.
func loadSpec(t testing.TB) map[string]any {
	t.Helper()
	specOnce.Do(func() {
		data, err := os.ReadFile(specPath)
		if errors.Is(err, fs.ErrNotExist) {
			return // no spec: schema checks are skipped
		}
		if err != nil {
			specErr = err
			return
		}
		v, err := parseYAML(string(data))
		if err != nil {
			specErr = err
			return
		}
		specDoc, _ = v.(map[string]any)
	})
	if specErr != nil {
		t.Fatalf("read OpenAPI spec: %v", specErr)
	}
	return specDoc
}

// requireSpec is loadSpec for tests that check nothing else: they skip
// without the spec.
func requireSpec(t testing.TB) map[string]any {
	t.Helper()
	doc := loadSpec(t)
	if doc == nil {
		t.Skipf("OpenAPI spec %s not available; skipping schema validation", specPath)
	}
	return doc
}

// checkSchema validates a JSON body against a named component schema and
// fails the test with every violation found. Without the spec it checks
// only that the body is JSON, and the test's other assertions still run.
func checkSchema(t testing.TB, schemaName string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", schemaName, err, body)
	}
	doc := loadSpec(t)
	if doc == nil {
		return
	}
	if errs := schemaErrors(doc, v, schemaName); len(errs) > 0 {
		t.Fatalf("%s violations:\n  %s\nbody: %.400s", schemaName, strings.Join(errs, "\n  "), body)
	}
}

func schemaErrors(doc map[string]any, v any, schemaName string) []string {
	vd := &validator{doc: doc}
	vd.check(v, map[string]any{"$ref": "#/components/schemas/" + schemaName}, "$", nil)
	return vd.errs
}

type validator struct {
	doc  map[string]any
	errs []string
}

func (vd *validator) fail(path, format string, args ...any) {
	vd.errs = append(vd.errs, path+": "+fmt.Sprintf(format, args...))
}

func (vd *validator) resolve(ref string) map[string]any {
	var node any = vd.doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := node.(map[string]any)
		node = m[part]
	}
	s, ok := node.(map[string]any)
	if !ok {
		vd.fail(ref, "unresolvable $ref")
	}
	return s
}

// check validates v against schema s. extra lists properties that sibling
// allOf branches declare.
func (vd *validator) check(v any, s map[string]any, path string, extra map[string]bool) {
	if s == nil {
		return
	}
	if ref, ok := s["$ref"].(string); ok {
		vd.check(v, vd.resolve(ref), path, extra)
		return
	}
	if v == nil && s["nullable"] == true {
		return
	}
	if all, ok := s["allOf"].([]any); ok {
		names := vd.declared(s, map[string]bool{})
		for k := range extra {
			names[k] = true
		}
		for _, sub := range all {
			vd.check(v, asMap(sub), path, names)
		}
	}
	vd.checkAlternatives(v, s, path, extra)
	vd.checkType(v, s, path)
	vd.checkEnum(v, s, path)
	switch val := v.(type) {
	case map[string]any:
		vd.checkObject(val, s, path, extra)
	case []any:
		vd.checkArray(val, s, path)
	}
}

func (vd *validator) checkAlternatives(v any, s map[string]any, path string, extra map[string]bool) {
	for _, kw := range []string{"oneOf", "anyOf"} {
		alts, ok := s[kw].([]any)
		if !ok {
			continue
		}
		passed := 0
		for _, alt := range alts {
			sub := &validator{doc: vd.doc}
			sub.check(v, asMap(alt), path, extra)
			if len(sub.errs) == 0 {
				passed++
			}
		}
		if passed == 0 || (kw == "oneOf" && passed > 1) {
			vd.fail(path, "%s: %d of %d alternatives match", kw, passed, len(alts))
		}
	}
}

// declared collects the property names a schema and its allOf branches declare.
func (vd *validator) declared(s map[string]any, names map[string]bool) map[string]bool {
	if ref, ok := s["$ref"].(string); ok {
		return vd.declared(vd.resolve(ref), names)
	}
	for k := range asMap(s["properties"]) {
		names[k] = true
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			vd.declared(asMap(sub), names)
		}
	}
	return names
}

func (vd *validator) checkType(v any, s map[string]any, path string) {
	typ, _ := s["type"].(string)
	ok := true
	switch typ {
	case "":
		return
	case "object":
		_, ok = v.(map[string]any)
	case "array":
		_, ok = v.([]any)
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "number":
		_, ok = v.(float64)
	case "integer":
		f, isNum := v.(float64)
		ok = isNum && f == math.Trunc(f)
	}
	if !ok {
		vd.fail(path, "want %s, got %T (%v)", typ, v, v)
	}
}

func (vd *validator) checkEnum(v any, s map[string]any, path string) {
	enum, ok := s["enum"].([]any)
	if !ok {
		return
	}
	for _, e := range enum {
		if fmt.Sprint(e) == fmt.Sprint(v) {
			return
		}
	}
	vd.fail(path, "%v is not one of %v", v, enum)
}

func (vd *validator) checkObject(obj map[string]any, s map[string]any, path string, extra map[string]bool) {
	for _, r := range asSlice(s["required"]) {
		if _, ok := obj[fmt.Sprint(r)]; !ok {
			vd.fail(path, "required property %q missing", r)
		}
	}
	props := asMap(s["properties"])
	for k, val := range obj {
		if sub, ok := props[k]; ok {
			vd.check(val, asMap(sub), path+"."+k, nil)
		} else if s["additionalProperties"] == false && !extra[k] {
			vd.fail(path, "property %q not allowed", k)
		}
	}
}

func (vd *validator) checkArray(arr []any, s map[string]any, path string) {
	if n, ok := s["minItems"].(float64); ok && float64(len(arr)) < n {
		vd.fail(path, "%d items, want at least %v", len(arr), n)
	}
	if n, ok := s["maxItems"].(float64); ok && float64(len(arr)) > n {
		vd.fail(path, "%d items, want at most %v", len(arr), n)
	}
	if items, ok := s["items"].(map[string]any); ok {
		for i, el := range arr {
			vd.check(el, items, path+"["+strconv.Itoa(i)+"]", nil)
		}
	}
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asSlice(v any) []any { s, _ := v.([]any); return s }

// --- a reader for the block-style YAML of the spec ---

type yamlLine struct {
	indent int
	text   string
	num    int
}

type yamlParser struct {
	lines []yamlLine
	pos   int
}

// parseYAML reads block mappings and sequences, plain and quoted scalars and
// block scalars (| and >). Flow collections ([..], {..}), which the spec
// uses only in examples, are kept as their raw text.
func parseYAML(src string) (any, error) {
	p := &yamlParser{}
	for i, raw := range strings.Split(strings.ReplaceAll(src, "\r", ""), "\n") {
		text := strings.TrimLeft(raw, " ")
		if text == "" {
			continue
		}
		p.lines = append(p.lines, yamlLine{indent: len(raw) - len(text), text: text, num: i + 1})
	}
	if len(p.lines) == 0 {
		return nil, nil
	}
	v, err := p.node(p.lines[0].indent)
	if err == nil && p.pos < len(p.lines) {
		err = fmt.Errorf("line %d: unexpected content %q", p.lines[p.pos].num, p.lines[p.pos].text)
	}
	return v, err
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

func (p *yamlParser) node(indent int) (any, error) {
	if isSeqItem(p.lines[p.pos].text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) mapping(indent int) (map[string]any, error) {
	m := map[string]any{}
	for p.pos < len(p.lines) && p.lines[p.pos].indent == indent && !isSeqItem(p.lines[p.pos].text) {
		l := p.lines[p.pos]
		if strings.HasPrefix(l.text, "#") {
			p.pos++
			continue
		}
		key, rest, ok := splitKey(l.text)
		if !ok {
			return nil, fmt.Errorf("line %d: want key: value, got %q", l.num, l.text)
		}
		p.pos++
		v, err := p.value(indent, rest)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.pos].num)
	}
	return m, nil
}

func (p *yamlParser) sequence(indent int) ([]any, error) {
	var out []any
	for p.pos < len(p.lines) && p.lines[p.pos].indent == indent && isSeqItem(p.lines[p.pos].text) {
		l := p.lines[p.pos]
		item := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		if _, _, isMap := splitKey(item); isMap && !strings.HasPrefix(item, "[") && !strings.HasPrefix(item, "{") {
			// "- key: value" starts a mapping indented past the dash.
			p.lines[p.pos] = yamlLine{indent: indent + 2, text: item, num: l.num}
			v, err := p.mapping(indent + 2)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		p.pos++
		v, err := p.value(indent, item)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// value reads the value after "key:" or "-" on a line indented by indent.
func (p *yamlParser) value(indent int, rest string) (any, error) {
	rest = strings.TrimSpace(stripComment(rest))
	switch {
	case rest == "":
		if p.pos >= len(p.lines) {
			return nil, nil
		}
		next := p.lines[p.pos]
		if next.indent > indent {
			if _, _, isKey := splitKey(next.text); isKey || isSeqItem(next.text) {
				return p.node(next.indent)
			}
			return p.continuation(indent, ""), nil
		}
		if next.indent == indent && isSeqItem(next.text) {
			return p.sequence(indent)
		}
		return nil, nil
	case rest[0] == '|' || rest[0] == '>':
		return p.continuation(indent, ""), nil
	case rest[0] == '[' || rest[0] == '{':
		return p.flow(rest), nil
	}
	s := scalar(rest)
	if str, ok := s.(string); ok && p.pos < len(p.lines) && p.lines[p.pos].indent > indent && !isQuoted(rest) {
		return p.continuation(indent, str), nil // a plain scalar folded over lines
	}
	return s, nil
}

// continuation joins the lines indented past indent into one string.
func (p *yamlParser) continuation(indent int, first string) string {
	parts := []string{}
	if first != "" {
		parts = append(parts, first)
	}
	for p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
		parts = append(parts, p.lines[p.pos].text)
		p.pos++
	}
	return strings.Join(parts, "\n")
}

// flow consumes a flow collection, possibly spread over lines, as raw text.
func (p *yamlParser) flow(first string) string {
	text := first
	for depth(text) > 0 && p.pos < len(p.lines) {
		text += " " + p.lines[p.pos].text
		p.pos++
	}
	return text
}

// depth counts unclosed brackets outside quotes.
func depth(s string) int {
	d := 0
	var quote rune
	for _, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[' || c == '{':
			d++
		case c == ']' || c == '}':
			d--
		}
	}
	return d
}

// splitKey splits "key: value" or "key:" outside quotes. Keys never contain
// spaces in this spec, which tells wrapped prose from a key.
func splitKey(text string) (key, rest string, ok bool) {
	if isQuoted(text) {
		q := text[0]
		end := strings.IndexByte(text[1:], q)
		if end < 0 || !strings.HasPrefix(text[end+2:], ":") {
			return "", "", false
		}
		return text[1 : end+1], strings.TrimPrefix(text[end+2:], ":"), true
	}
	i := strings.Index(text, ": ")
	if i < 0 {
		if !strings.HasSuffix(text, ":") {
			return "", "", false
		}
		i = len(text) - 1
	}
	key = text[:i]
	if key == "" || strings.ContainsAny(key, " \t") {
		return "", "", false
	}
	return key, text[i+1:], true
}

func isQuoted(s string) bool { return s != "" && (s[0] == '\'' || s[0] == '"') }

func stripComment(s string) string {
	var quote rune
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

func scalar(s string) any {
	switch {
	case strings.HasPrefix(s, "'") && strings.HasSuffix(s, "'") && len(s) >= 2:
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	case strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2:
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s[1 : len(s)-1]
	case s == "true":
		return true
	case s == "false":
		return false
	case s == "null" || s == "~":
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

// --- tests of the checker itself, so a passing validation means something ---

func TestYAMLReader(t *testing.T) {
	src := `
a:
  b: 'x: y'   # comment
  c: [1, 2,
    3]
  d: |
    text # not a comment
    more
  e:
    - $ref: '#/x'
      title: T
    - plain
  f: 12
  g:
    wrapped prose, with: a colon
    on two lines
  h:
  - 1
`
	v, err := parseYAML(src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": map[string]any{
		"b": "x: y",
		"c": "[1, 2, 3]",
		"d": "text # not a comment\nmore",
		"e": []any{map[string]any{"$ref": "#/x", "title": "T"}, "plain"},
		"f": 12.0,
		"g": "wrapped prose, with: a colon\non two lines",
		"h": []any{1.0},
	}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v\nwant %#v", v, want)
	}
}

func TestSchemaCheckerRejectsViolations(t *testing.T) {
	doc := requireSpec(t)
	cases := []struct {
		schema, body string
		wantErrs     int
	}{
		{"HistorySuccessResponse", `{"s":"ok","t":[1],"o":[1],"h":[1],"l":[1],"c":[1],"v":[1]}`, 0},
		{"HistorySuccessResponse", `{"s":"ok","t":["1"],"o":[1],"h":[1],"l":[1],"c":[1],"v":[1]}`, 1},
		{"HistorySuccessResponse", `{"s":"okay","t":[],"o":[],"h":[],"l":[],"c":[],"v":[]}`, 1},
		{"HistoryEmptyBarResponse", `{"s":"ok","t":[1],"o":[],"h":[],"l":[],"c":[],"v":[]}`, 1},
		{"ErrorResponse", `{"s":"error","errmsg":"x"}`, 0},
		{"ErrorResponse", `{"s":"error"}`, 1},
		{"ErrorResponse", `{"s":"error","errmsg":"x","extra":1}`, 1},
		{"GroupListResponse", `{"s":"ok","d":{"groups":[{"id":"a_b"}]}}`, 0},
		{"GroupListResponse", `{"s":"ok","d":{"groups":[{"name":"a_b"}]}}`, 2},
		{"SymbolInfoResponse", `{"s":"ok","symbol":["A"]}`, 9},
		{"StreamingQuoteResponse", `{"f":"q","id":"A","t":1,"ap":1,"as":1,"bp":1}`, 1},
		{"StreamingTradeResponse", `{"f":"t","id":"A","t":1,"p":1,"s":1}`, 0},
		{"StreamingHeartbeatResponse", `{"heartbeat":1.5}`, 1},
	}
	for _, c := range cases {
		var v any
		if err := json.Unmarshal([]byte(c.body), &v); err != nil {
			t.Fatal(err)
		}
		errs := schemaErrors(doc, v, c.schema)
		if len(errs) != c.wantErrs {
			sort.Strings(errs)
			t.Errorf("%s %s: %d errors, want %d: %v", c.schema, c.body, len(errs), c.wantErrs, errs)
		}
	}
}
