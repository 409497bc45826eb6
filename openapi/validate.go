package openapi

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

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
