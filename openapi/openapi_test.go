package openapi

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"
)

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
	spec := requireSpec(t)
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
		errs := spec.Validate(c.schema, v)
		if len(errs) != c.wantErrs {
			sort.Strings(errs)
			t.Errorf("%s %s: %d errors, want %d: %v", c.schema, c.body, len(errs), c.wantErrs, errs)
		}
	}
}

// requireSpec loads the shared spec or skips (openapitest imports this
// package, so it cannot be used here).
func requireSpec(t *testing.T) *Spec {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	p := Find(wd)
	if p == "" {
		t.Skip("OpenAPI spec (../shared/reference) not available")
	}
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFindLocatesSharedReference(t *testing.T) {
	requireSpec(t) // skips outside the workplace
	if Find("/") != "" {
		t.Fatal("Find from / should find nothing")
	}
}
