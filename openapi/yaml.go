package openapi

import (
	"fmt"
	"strconv"
	"strings"
)

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
