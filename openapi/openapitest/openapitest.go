// Package openapitest validates responses against TradingView's OpenAPI
// spec in tests. Tests skip schema checks cleanly when the shared reference
// folder is absent (a clone outside the workplace).
package openapitest

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"tvbridge/openapi"
)

var (
	once    sync.Once
	spec    *openapi.Spec
	loadErr error
)

// Spec returns the shared spec, or nil when it is not available.
func Spec(t testing.TB) *openapi.Spec {
	t.Helper()
	once.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			loadErr = err
			return
		}
		if p := openapi.Find(wd); p != "" {
			spec, loadErr = openapi.Load(p)
		}
	})
	if loadErr != nil {
		t.Fatalf("OpenAPI spec: %v", loadErr)
	}
	return spec
}

// Require is Spec for tests that check nothing else: they skip without it.
func Require(t testing.TB) *openapi.Spec {
	t.Helper()
	s := Spec(t)
	if s == nil {
		t.Skip("OpenAPI spec (../shared/reference) not available; skipping schema validation")
	}
	return s
}

// Check validates a JSON body against a named component schema and fails
// the test with every violation. Without the spec it checks only that the
// body is JSON, and the test's other assertions still run.
func Check(t testing.TB, schemaName string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", schemaName, err, body)
	}
	s := Spec(t)
	if s == nil {
		return
	}
	if errs := s.Validate(schemaName, v); len(errs) > 0 {
		t.Fatalf("%s violations:\n  %s\nbody: %.400s", schemaName, strings.Join(errs, "\n  "), body)
	}
}
