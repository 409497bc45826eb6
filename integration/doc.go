// Package integration holds end-to-end tests of the whole bridge: the
// simulated exchange, the upstream client, the ingest pipeline with its bar
// engine, store and tape, and TradingView's data endpoints, over loopback
// sockets on one fake clock.
package integration
