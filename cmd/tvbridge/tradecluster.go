package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/live"
	"tvbridge/postgres"
	"tvbridge/tradeapi"
	"tvbridge/tradeowner"
	"tvbridge/trading"
)

// tradeCluster is what cluster mode gives the front for trading. The serve
// wiring sets frontOptions.cluster to it (it is not a flag) before
// frontOptions.build; build then runs trading through package tradeowner
// instead of a process-local broker on the bolt store.
type tradeCluster struct {
	DB           *postgres.DB // the cluster's database (trading state, leases, node directory)
	NodeID       string       // --node-id
	AdvertiseURL string       // --advertise-url: where the other nodes reach this node's API
	// TTL of the "trading" lease (0: cluster.DefaultTTL, 9 s) and the
	// longest a request waits for an owner before 503 (0: TTL + TTL/3 + 3 s).
	TTL, MaxWait time.Duration
	// Shared is the market-data log the node's tape follows: a new owner
	// replays the trades its predecessor did not evaluate (nil: it checks
	// held orders at the last prices only).
	Shared trading.SharedTape
}

// clusterTrade is cluster-mode trading, built by clusterTrading.
type clusterTrade struct {
	node *tradeowner.Node
	// handler serves the trading API on every node: /accounts...,
	// /quotes and /depth go to the trading owner (served here when this
	// node is the owner, else forwarded to it); /config and unknown paths
	// are answered here, behind protect like the rest.
	handler http.Handler
	// console is the console's trading API: the owner serves it; other
	// nodes answer 503 naming the owner.
	console http.Handler
	// mapping is /mapping, answered on every node without a token.
	mapping http.Handler
	// run campaigns for the trading lease and runs the trading core while
	// this node owns it, until ctx ends.
	run func(context.Context) error
}

// clusterTrading builds cluster-mode trading: the forwarding trading
// handler and the owner elector of package tradeowner, in place of the
// single-process broker. Every time this node becomes the trading owner it
// builds the venue and the trading manager (tradingManager, as the
// single-process mode does) on the fenced PostgreSQL store, with this
// node's live market and tape (fed from JetStream on every node) for held
// stops, brackets and paper fills. protect is the trading endpoints'
// authentication (auth.Trading, or the --auth none demo user); the owner
// applies it to forwarded requests, which keep the client's Authorization
// header, so tokens must be valid on every node (auth in PostgreSQL).
//
// The venues: paper, and tinvest (T-Invest API v2's orders) on up, the
// upstream client every node builds at start and never runs for market
// data (that is the ingester's own): the owner uses its REST client and
// order-state stream, and the idempotency-key namespace is the cluster's,
// in PostgreSQL. tinkoff (v1, switched off by Tinkoff in 2023) is refused.
func (o frontOptions) clusterTrading(c tradeCluster, catalog *api.Catalog, market *live.Market, rates tvbridge.Rates,
	tp tvbridge.Tape, up marketUpstream, log *slog.Logger, protect func(http.Handler) http.Handler) (*clusterTrade, error) {
	if *o.tradingBackend == "tinkoff" {
		return nil, errors.New("--trading-backend tinkoff: cluster mode trades paper or tinvest (T-Invest API v2) accounts")
	}
	if c.DB == nil {
		return nil, errors.New("cluster trading: no database")
	}
	start := func(_ context.Context, store trading.Store) (*tradeowner.Reign, error) {
		m, err := o.tradingManager("", catalog, market, rates, tp, c.Shared, up, log, store)
		if err != nil {
			return nil, err
		}
		// A new tradeapi handler per reign: its /orders cache is keyed by
		// the manager's change counter, which starts again with each one.
		trade := tradeapi.New(tradeapi.Config{Broker: m, Catalog: catalog, Market: market, Rates: rates, Logger: log})
		return &tradeowner.Reign{Handler: protect(trade), Console: trade, Run: m.Run, Close: m.Close}, nil
	}
	node, err := tradeowner.New(tradeowner.Config{DB: c.DB, NodeID: c.NodeID, AdvertiseURL: c.AdvertiseURL,
		Start: start, TTL: c.TTL, MaxWait: c.MaxWait, Logger: log})
	if err != nil {
		return nil, err
	}
	// /config, /mapping and 404s need no broker: a handler without one
	// answers them on every node, also during a failover.
	static := tradeapi.New(tradeapi.Config{Broker: noBroker{}, Catalog: catalog, Market: market, Rates: rates, Logger: log})
	local := protect(static)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ownerPath(r.URL.Path) {
			node.ServeHTTP(w, r)
			return
		}
		local.ServeHTTP(w, r)
	})
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ownerPath(r.URL.Path) {
			node.ConsoleHandler().ServeHTTP(w, r)
			return
		}
		static.ServeHTTP(w, r)
	})
	return &clusterTrade{node: node, handler: handler, console: console, mapping: static.Mapping(), run: node.Run}, nil
}

// ownerPath reports whether the trading owner answers path: every trading
// endpoint that calls the broker (/accounts..., and /quotes and /depth,
// which check the account). /config and /mapping are the same everywhere.
func ownerPath(path string) bool {
	return path != "/config" && tradingPath(path)
}

// noBroker is the broker of the handler that answers /config, /mapping
// and unknown paths on every node in cluster mode; those never call it.
// Should a route reach it anyway, it refuses, and nothing is done.
type noBroker struct{}

var errNoBroker = &tvbridge.TradingError{Code: tvbridge.ErrVenue, Detail: "cluster mode: trading is served by the trading owner"}

func (noBroker) Accounts(context.Context, string) ([]tvbridge.Account, error) {
	return nil, errNoBroker
}
func (noBroker) State(context.Context, string, string) (tvbridge.AccountState, error) {
	return tvbridge.AccountState{}, errNoBroker
}
func (noBroker) Orders(context.Context, string, string) ([]tvbridge.Order, error) {
	return nil, errNoBroker
}
func (noBroker) OrdersHistory(context.Context, string, string, int) ([]tvbridge.Order, error) {
	return nil, errNoBroker
}
func (noBroker) PlaceOrder(context.Context, string, string, tvbridge.OrderRequest) (tvbridge.Order, error) {
	return tvbridge.Order{}, errNoBroker
}
func (noBroker) ModifyOrder(context.Context, string, string, string, tvbridge.OrderRequest) (tvbridge.Order, error) {
	return tvbridge.Order{}, errNoBroker
}
func (noBroker) CancelOrder(context.Context, string, string, string) error { return errNoBroker }
func (noBroker) PreviewOrder(context.Context, string, string, tvbridge.OrderRequest) (tvbridge.OrderPreview, error) {
	return tvbridge.OrderPreview{}, errNoBroker
}
func (noBroker) Positions(context.Context, string, string) ([]tvbridge.Position, error) {
	return nil, errNoBroker
}
func (noBroker) ModifyPosition(context.Context, string, string, string, tvbridge.Brackets) (tvbridge.Position, error) {
	return tvbridge.Position{}, errNoBroker
}
func (noBroker) ReversePosition(context.Context, string, string, string) error { return errNoBroker }
func (noBroker) ClosePosition(context.Context, string, string, string, float64) error {
	return errNoBroker
}
func (noBroker) Executions(context.Context, string, string, string, int) ([]tvbridge.Execution, error) {
	return nil, errNoBroker
}
