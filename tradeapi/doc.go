// Package tradeapi serves the trading half of TradingView's Broker REST API
// (spec 1.4.14) on a tvbridge.Broker: /config, /accounts and everything
// under /accounts/{accountId} (instruments, state, orders, positions,
// executions, orders history, order preview, balances), /quotes and /depth
// from the live market, and /mapping.
//
// The handler translates and nothing more: it parses TradingView's form
// bodies strictly, maps instrument names to FIGIs through the api.Catalog,
// calls the Broker as the authenticated principal, and encodes the answer
// in the spec's shapes. Accounts, validation against lots and price steps,
// the order state machine and brackets belong to the Broker.
//
// Errors are HTTP 200 {"s":"error","errmsg":...}, explained in English or,
// with locale=ru, Russian. Trading errors are explained by their Reason
// when they have one (what exactly is wrong, with the instrument under its
// TradingView name), else by their code; their cause is logged and never
// shown.
package tradeapi
