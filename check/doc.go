// Package check runs TradingView's data-integration acceptance tests, and
// optionally a trading smoke scenario, against any server implementing the
// Broker REST API, and reports every failure with its evidence. It is the
// engine of `tvbridge check` (see README.md).
//
// Run performs one run, configured by Config:
//
//  1. auth: the logins (/authorize, JWT assertion) and the token the data
//     requests carry;
//  2. /streaming: Connections parallel connections are opened first and read
//     for Duration while everything else runs (stream.go);
//  3. /groups and /symbol_info: every column rule (symbols.go), then HTTP 401
//     without a token (auth.go);
//  4. /history: a sample of symbols, each with a reference day of closed
//     1-minute bars the other requests are compared with (sample.go,
//     history.go, history_daily.go, closedbars.go);
//  5. the trading scenario (trading.go);
//  6. when the streams end: what they carried (stream_checks.go) and the
//     1-minute bars built from their trades against /history (equality.go);
//  7. rules over every response: /history format and bar times, and the
//     OpenAPI schemas (observe.go).
//
// Each check has a stable name (catalogue.go) and one Result: pass, fail,
// warn or skip with a reason. A tally gathers the findings of one check over
// many subjects; a failure keeps the first offending request and response.
//
// Time comes from Config.Clock: the tests run the checker against a fake
// server on a fake clock, in lockstep (driver_test.go), so that delays and
// waits are deterministic. Parsers of server output live in parse*.go and
// are fuzzed; nothing a server sends can panic the checker.
package check
