// Package api serves TradingView's data integration over HTTP: /symbol_info,
// /groups, /history and /streaming from the Broker REST API spec (1.4.14),
// plus /healthz for operators. Mount the Handler under the integration's
// base URL, e.g. http.StripPrefix("/api", h).
//
// The package reads the instrument catalogue (Catalog, built once from
// tvbridge.Instrument), bars (History) and live ticks (tvbridge.Tape) through
// interfaces, so it runs unchanged against the embedded store and tape or,
// later, a shared database and log.
//
// # /symbol_info and /groups
//
// BuildCatalog derives stable symbol names, pricescale/minmovement, merged
// session strings and accepted timezones, and encodes both responses once.
// Every /symbol_info column is an array.
//
// # /history
//
// Timestamps are Unix seconds and from/to are inclusive. Resolutions:
//   - "1": 1-minute bars as stored.
//   - "n" (2..1440): n-minute bars aggregated from 1-minute bars, aligned to
//     the open of each trading period of session-regular (TradingView's
//     rule), the last bar of a period cut short by the close.
//   - "D"/"1D": daily bars as stored, stamped 00:00 UTC of the trading day.
//   - "nD", "W"/"nW", "M"/"nM": aggregated from daily bars by calendar blocks
//     (n days from 1970-01-01, ISO weeks, months), stamped with the first
//     trading day in the block: a monthly bar carries 00:00 UTC of the
//     month's first trading day.
//
// Bars never lie in the future, zero-volume bars are never served, and an
// empty range answers empty ok arrays, or with Config.LegacyNoData the
// pre-1.3.26 {"s":"no_data"[,"nb":t]}. A range entirely before the first bar
// is answered without reading storage. Request errors are HTTP 200
// {"s":"error","errmsg":...}; a panic is logged and answered the same way.
//
// Closed bars never change, which the caching relies on: 1-minute bars of
// each UTC day are encoded once into column fragments with per-bar offsets,
// so any range is assembled by copying slices; only bars after
// History.ClosedBefore are read and encoded per request. A closed range
// asked for twice is also kept as exact response bytes.
//
// # /streaming
//
// A chunked response that carries every tick of the tape as one JSON line,
// written in batches with a flush after each, plus {"heartbeat":t} every
// Config.Heartbeat, however busy the stream. Each write has a deadline; a client that
// falls behind the tape or stalls a write is disconnected and reconnects.
package api
