package check

import (
	"fmt"
	"path"
	"strings"
)

// Check describes one named rule of the catalogue.
type Check struct {
	Name string
	Doc  string
}

// catalogue lists every check in report order. Names are stable: brokers
// put them in --only and --skip, and CI greps for them.
var catalogue = []Check{
	{"auth/authorize", "POST /authorize (--login/--password): HTTP 200 JSON, s:ok, a non-empty access_token, an integer expiration in the future"},
	{"auth/authorize-new-token", "ten /authorize calls in a row return ten different tokens"},
	{"auth/jwt", "JWT-assertion token request (--jwt-key): access_token, integer expires_in > 0, token_type Bearer"},
	{"auth/jwt-new-token", "ten JWT-assertion token requests return ten different tokens"},
	{"auth/401/symbol_info", "/symbol_info without a token, and with an invalid one, answers HTTP 401"},
	{"auth/401/history", "/history without a token, and with an invalid one, answers HTTP 401"},
	{"auth/401/streaming", "/streaming without a token, and with an invalid one, answers HTTP 401"},
	{"auth/401/groups", "/groups without a token, and with an invalid one, answers HTTP 401"},

	{"groups/response", "/groups: HTTP 200, JSON content type, s:ok, d.groups a list of {id}"},
	{"groups/ids", "group ids are lowercase Latin letters and _ only, and share one prefix ending in _"},
	{"groups/limits", "at most 10 groups, at most 10 000 symbols per group, each symbol in one group, together all of /symbol_info"},

	{"symbol_info/response", "/symbol_info: HTTP 200, JSON content type, s:ok, every column an array of one entry per symbol or a scalar"},
	{"symbol_info/required-columns", "symbol, description, currency, exchange-listed, exchange-traded, minmovement, pricescale, timezone, type, session-regular are present"},
	{"symbol_info/symbol-names", "symbol names use only [A-Z0-9._] and are unique"},
	{"symbol_info/tickers", "tickers contain no commas and are unique"},
	{"symbol_info/exchanges", "exchange-listed and exchange-traded are non-empty and UPPERCASE"},
	{"symbol_info/minmovement", "minmovement is a positive integer"},
	{"symbol_info/pricescale", "pricescale is an integer power of ten"},
	{"symbol_info/timezone", "timezone is a valid IANA zone from TradingView's list"},
	{"symbol_info/session", "session strings parse, with one range per weekday (no breaks, no overlaps)"},
	{"symbol_info/type", "type is one of TradingView's symbol types"},
	{"symbol_info/currency", "currency is present for every symbol"},
	{"symbol_info/enums", "bar-source, bar-transform and volume-type use their allowed values"},
	{"symbol_info/naming", "names follow TradingView's conventions (FX BASEQUOTE, futures ROOT+month code+year)"},

	{"history/format", "every /history answer: s ok|no_data|error, six parallel numeric arrays, integer Unix-second times"},
	{"history/bar-times", "bar times strictly increase and are aligned: whole minutes, daily bars at 00:00 UTC"},
	{"history/from-equals-to", "from == to returns exactly the bar at that time"},
	{"history/window-50", "a 50-minute window returns at most 50 bars and includes the bars on both boundaries"},
	{"history/repeatability", "the same request twice returns the same bars"},
	{"history/short-queries-equal-large", "ten 20-minute requests stitched together equal one 200-minute request"},
	{"history/future-to-minutes", "1-minute request with to in the future: no bar in the future, the open bar present"},
	{"history/future-to-daily", "daily request with to in the future: no bar after the current trading day"},
	{"history/closed-bars-unchanged", "closed bars are the same before and after new data arrives"},
	{"history/daily-matches-minutes", "a daily bar's open and close equal the first and last 1-minute bar of its session"},
	{"history/daily-time", "daily bars are stamped 00:00 UTC of a trading day of session-regular"},
	{"history/countback", "countback N returns exactly the N bars ending at to"},
	{"history/left-boundary", "before the data's left boundary, and on 1800-01-01 where TradingView's walk back ends: empty ok arrays, or legacy no_data without nb"},
	{"history/gap", "inside a gap: empty ok arrays, or legacy no_data with nb = the previous bar"},

	{"streaming/response", "/streaming answers HTTP 200 on every parallel connection"},
	{"streaming/chunked", "Transfer-Encoding: chunked (skipped under HTTP/2)"},
	{"streaming/permanent-connection", "the server keeps every connection open for the whole run"},
	{"streaming/fields", "each line is one JSON object ending in \\n with the fields and types of its message type"},
	{"streaming/time-unit", "tick times are Unix seconds (not milliseconds), near the current time"},
	{"streaming/time-never-decreases", "tick time never decreases per symbol and message type"},
	{"streaming/delay", "delay from tick time to receipt: error above 5 s, warning above 1 s"},
	{"streaming/heartbeat", "the stream is never silent for long: a heartbeat every 5 s when there is nothing else"},
	{"streaming/heartbeat-interval", "a heartbeat at least every 5 s (7 s with slack) on every connection, also while ticks flow"},
	{"streaming/tick-kinds", "trades, bids and asks (quotes count as both) all appear"},
	{"streaming/known-symbols", "every tick's symbol is a symbol or ticker of /symbol_info"},
	{"streaming/every-symbol-ticks", "every symbol in session during the run ticks (cross-checked with /history)"},
	{"streaming/daily-bars", "daily-bar (\"d\") updates appear (optional: a warning only)"},
	{"streaming/parallel-identical", "parallel connections carry identical data"},
	{"streaming/history-equality", "1-minute bars built from streamed trades equal /history: at most 5 % mismatched, every mismatch listed"},

	{"trading/config", "GET /config: s:ok with a Config object"},
	{"trading/accounts", "GET /accounts: s:ok with at least one account; the chosen account is a demo account"},
	{"trading/instruments", "GET /accounts/{id}/instruments: s:ok with the chosen instrument"},
	{"trading/state", "GET /accounts/{id}/state: s:ok with balance and unrealizedPl"},
	{"trading/quotes", "GET /quotes: bid and ask of the chosen instrument"},
	{"trading/place-modify-cancel", "a far limit order is placed, listed as working, modified and cancelled, as /orders shows"},
	{"trading/market-order", "a market order fills and shows in /orders, /positions and /executions; then it is flattened"},

	{"schema/authorize", "/authorize and token responses match the OpenAPI spec"},
	{"schema/groups", "/groups responses match GroupListResponse"},
	{"schema/symbol_info", "/symbol_info responses match SymbolInfoResponse"},
	{"schema/history", "/history responses match HistorySuccessResponse or HistoryEmptyBarResponse"},
	{"schema/streaming", "/streaming messages match their Streaming*Response schema"},
	{"schema/trading", "trading responses match their spec schemas"},
}

// Catalogue returns every check in report order.
func Catalogue() []Check {
	return append([]Check(nil), catalogue...)
}

// selection decides which checks run, from --only and --skip patterns.
type selection struct {
	only, skip []string
}

// newSelection validates the patterns: one that matches no check is a typo,
// and running everything instead would hide it.
func newSelection(only, skip []string) (selection, error) {
	for _, list := range [][]string{only, skip} {
		for _, p := range list {
			if _, err := path.Match(p, ""); err != nil {
				return selection{}, fmt.Errorf("bad pattern %q: %w", p, err)
			}
			if !matchesAny(p) {
				return selection{}, fmt.Errorf("pattern %q matches no check; see --list", p)
			}
		}
	}
	return selection{only: only, skip: skip}, nil
}

func matchesAny(pattern string) bool {
	for _, c := range catalogue {
		if matches(pattern, c.Name) {
			return true
		}
	}
	return false
}

// matches reports whether a pattern selects a check: the exact name, a
// prefix of whole name segments ("history", "auth/401"), or a glob
// ("history/*", "*/delay").
func matches(pattern, name string) bool {
	pattern = strings.TrimSuffix(pattern, "/")
	if pattern == name || strings.HasPrefix(name, pattern+"/") {
		return true
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// enabled reports whether the check runs.
func (s selection) enabled(name string) bool {
	if len(s.only) > 0 && !anyMatch(s.only, name) {
		return false
	}
	return !anyMatch(s.skip, name)
}

// anyEnabled reports whether some check under the prefix runs.
func (s selection) anyEnabled(prefix string) bool {
	for _, c := range catalogue {
		if matches(prefix, c.Name) && s.enabled(c.Name) {
			return true
		}
	}
	return false
}

func anyMatch(patterns []string, name string) bool {
	for _, p := range patterns {
		if matches(p, name) {
			return true
		}
	}
	return false
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
