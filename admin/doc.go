// Package admin serves tvbridge's admin listener: the operator's side of
// the bridge, on its own address, never on the port TradingView uses.
//
//   - /healthz: the process is alive ({"s":"ok"}), always cheap.
//   - /readyz: the Config.Checks (catalogue loaded, store open, upstream
//     stream connected and fresh, trading venue answers...), 200 when all
//     pass, 503 otherwise, with each check's result and why it fails.
//     StreamCheck builds the stream check from thresholds.
//   - /metrics: Config.Metrics, the Prometheus exposition.
//   - /api/status: the console's JSON snapshot (Status), with the recent
//     warnings and errors that a LogRing keeps.
//   - /, /chart and /static/: the web console, plain HTML, CSS and
//     hand-written JavaScript embedded in the binary, with TradingView's
//     Lightweight Charts vendored under static/vendor.
//   - /tv/: Config.API, the TradingView data and trading API the console
//     reads, on the same origin; /tv/streaming stays a live chunked
//     response (the handler never wraps or buffers the ResponseWriter).
//
// With Config.Token or Config.Password set, every route but the probes
// asks for credentials (bearer token or basic auth, compared in constant
// time). README.md in this directory is the operator's guide.
package admin
