package main

import (
	"context"
	"fmt"
	"time"

	"tvbridge"
	"tvbridge/admin"
	"tvbridge/metrics"
	"tvbridge/paper"
	"tvbridge/tinkoff"
	"tvbridge/tinvest"
	"tvbridge/tinvest/wire"
)

// marketUpstream is the upstream serve runs on: the Tinkoff v1 OpenAPI
// (package tinkoff) or T-Invest API v2 (package tinvest). Besides the
// domain's MarketData it tells the console and the metrics how its stream
// and its REST budget are doing.
type marketUpstream interface {
	tvbridge.MarketData
	Run(ctx context.Context) error
	StreamState(figi string) (epoch uint64, live bool)
	// Protocol is "v1" or "v2".
	Protocol() string
	// Streams describes the stream connections; FIGIs, not symbols.
	Streams() streamSummary
	// REST is the REST budget of the market-data calls and the totals.
	REST() admin.RESTBudget
	// Metrics adds the upstream's sources to the metrics.
	Metrics(src *metrics.Sources)
}

// streamSummary is the stream side of an upstream, for the console and
// /readyz.
type streamSummary struct {
	Cap         int
	Connections []admin.Connection // Instruments hold FIGIs
}

// up counts the connections carrying instruments and those up.
func (s streamSummary) up() (up, used int) {
	for _, c := range s.Connections {
		if len(c.Instruments) == 0 {
			continue
		}
		used++
		if c.State == "up" {
			up++
		}
	}
	return up, used
}

// v1Upstream is the Tinkoff v1 OpenAPI.
type v1Upstream struct {
	*tinkoff.Upstream
	perMinute int // the /market budget
}

func (u *v1Upstream) Protocol() string { return "v1" }

func (u *v1Upstream) Streams() streamSummary {
	st := u.Pool().Stats()
	s := streamSummary{Cap: st.ConnectionCap}
	for _, c := range st.Connections {
		s.add(c.Index, c.State, c.LastData, c.RetryAt, c.Silent, c.Dials)
	}
	s.place(u.Pool().ConnectionFIGIs())
	return s
}

// add appends one stream connection; place then lists its instruments.
func (s *streamSummary) add(index int, state string, lastData, retryAt time.Time, silent bool, dials int64) {
	s.Connections = append(s.Connections, admin.Connection{Index: index, State: state, LastData: lastData,
		RetryAt: retryAt, Silent: silent, Reconnects: max(dials-1, 0)})
}

// place sets each connection's instruments from the FIGIs per connection
// index.
func (s *streamSummary) place(figis [][]string) {
	for i := range s.Connections {
		if c := &s.Connections[i]; c.Index < len(figis) {
			c.Instruments = figis[c.Index]
		}
	}
}

func (u *v1Upstream) REST() admin.RESTBudget {
	rest := u.Client().Stats()
	b := admin.RESTBudget{PerMinute: u.perMinute, Requests: uint64(rest.Requests),
		RateLimited: uint64(rest.RateLimited), Errors: uint64(rest.Errors)}
	for _, bs := range u.Client().Budgets() {
		if bs.Bucket == tinkoff.BucketMarket { // the one the data side uses
			b.UsedMinute, b.Queued = bs.Used, bs.Waiting
		}
	}
	return b
}

func (u *v1Upstream) Metrics(src *metrics.Sources) {
	src.Pool, src.REST = u.Pool(), u.Client()
}

// v2Upstream is T-Invest API v2.
type v2Upstream struct {
	*tinvest.Upstream
	perMinute int  // the MarketData bucket
	embedded  bool // the embedded simulator
	sandbox   bool // a sandbox (the embedded simulator's, or Tinkoff's)
}

// accounts lists the token's open accounts for the embedded simulator's
// demo user; a sandbox without one gets one, with money to trade.
func (u *v2Upstream) accounts(ctx context.Context) ([]string, error) {
	list, err := u.Client().Accounts(ctx, wire.AccountStatusOpen)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	if len(ids) > 0 {
		return ids, nil
	}
	id, err := u.Client().OpenSandboxAccount(ctx, "tvbridge demo")
	if err != nil {
		return nil, fmt.Errorf("no account, and opening a sandbox account failed: %w", err)
	}
	// The paper accounts' starting cash, so the demo trades the same
	// instruments (BTC_RUB costs some 6 million) on either upstream.
	for _, m := range []wire.MoneyValue{{Currency: "rub", Units: paper.DefaultStartingCash}, {Currency: "usd", Units: paper.DefaultUSDCash}} {
		if _, err := u.Client().SandboxPayIn(ctx, id, m); err != nil {
			return nil, fmt.Errorf("sandbox pay-in: %w", err)
		}
	}
	return []string{id}, nil
}

func (u *v2Upstream) Protocol() string { return "v2" }

func (u *v2Upstream) Streams() streamSummary {
	st := u.Pool().Stats()
	s := streamSummary{Cap: len(st.Streams)}
	for _, c := range st.Streams {
		s.add(c.Index, c.State, c.LastData, c.RetryAt, c.Silent, c.Dials)
	}
	s.place(u.Pool().ConnectionFIGIs())
	return s
}

func (u *v2Upstream) REST() admin.RESTBudget {
	rest := u.Client().Stats()
	b := admin.RESTBudget{PerMinute: u.perMinute, Requests: rest.Requests,
		RateLimited: rest.RateLimited, Errors: rest.Errors}
	for _, bs := range u.Client().Budgets() {
		if bs.Bucket == tinvest.BucketMarketData { // the one the data side uses
			b.UsedMinute, b.Queued = bs.Used, bs.Waiting
		}
	}
	return b
}

func (u *v2Upstream) Metrics(src *metrics.Sources) {
	src.V2Pool, src.V2REST = u.Pool(), u.Client()
}
