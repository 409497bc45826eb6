package api

import (
	"testing"

	"tvbridge/openapi/openapitest"
)

// checkSchema validates a JSON body against a named component schema of
// TradingView's OpenAPI spec (see package openapi); without the shared
// reference folder it checks only that the body is JSON.
func checkSchema(t testing.TB, schemaName string, body []byte) {
	t.Helper()
	openapitest.Check(t, schemaName, body)
}
