// Package openapi reads TradingView's OpenAPI spec and validates JSON
// against its component schemas. The spec is read at run time from the
// shared reference folder (or a path the operator gives); it is never copied
// into the repository.
//
// It holds a YAML reader for the block-style subset the spec uses and a
// validator for the JSON-Schema keywords its schemas use: $ref, type,
// nullable, enum, required, properties, additionalProperties:false, items,
// minItems, maxItems, allOf, oneOf and anyOf.
//
// One interpretation is needed: the spec combines SuccessResponse, which has
// additionalProperties:false, with the bar or symbol columns through allOf.
// Read literally, no response could satisfy both, so properties declared by
// any allOf branch are allowed in every branch (what unevaluatedProperties
// would mean).
package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SpecFile is the spec's file name in the shared reference folder.
const SpecFile = "tradingview-broker-api-1.4.14.openapi.yaml"

// Spec is a parsed OpenAPI document.
type Spec struct {
	doc map[string]any
}

// Load reads and parses the spec at path.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read OpenAPI spec: %w", err)
	}
	return Parse(data)
}

// Parse parses a spec document.
func Parse(data []byte) (*Spec, error) {
	v, err := parseYAML(string(data))
	if err != nil {
		return nil, fmt.Errorf("parse OpenAPI spec: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parse OpenAPI spec: top level is not a mapping")
	}
	return &Spec{doc: doc}, nil
}

// Find looks for the shared reference spec in ../shared/reference (and the
// same below each parent directory of dir), the layout of a workplace
// checkout. It returns "" when there is none.
func Find(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "..", "shared", "reference", SpecFile)
		if _, err := os.Stat(p); err == nil {
			return filepath.Clean(p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// HasSchema reports whether the spec defines a component schema of that name.
func (s *Spec) HasSchema(name string) bool {
	schemas := asMap(asMap(s.doc["components"])["schemas"])
	_, ok := schemas[name]
	return ok
}

// Validate checks v (as decoded by encoding/json into any) against the named
// component schema and returns every violation, each prefixed by its JSON path.
func (s *Spec) Validate(schemaName string, v any) []string {
	vd := &validator{doc: s.doc}
	if !s.HasSchema(schemaName) {
		return []string{"$: no schema " + schemaName + " in the spec"}
	}
	vd.check(v, map[string]any{"$ref": "#/components/schemas/" + schemaName}, "$", nil)
	return vd.errs
}

// ValidateJSON is Validate for a JSON document.
func (s *Spec) ValidateJSON(schemaName string, body []byte) []string {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{"$: not JSON: " + err.Error()}
	}
	return s.Validate(schemaName, v)
}
