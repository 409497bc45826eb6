package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/live"
	"tvbridge/postgres"
	"tvbridge/postgres/pgtest"
	"tvbridge/tape"
)

// Two fronts in cluster mode on one schema: one owns trading, both answer
// it, with the same accounts; /config and /mapping are answered locally.
func TestClusterTradingFronts(t *testing.T) {
	url := pgtest.Schema(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat, err := api.BuildCatalog([]tvbridge.Instrument{{FIGI: "BBG004730N88", Ticker: "SBER", Name: "Sber",
		Type: tvbridge.Stock, Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01, Exchange: "MOEX",
		Session: "24x7", Timezone: "UTC"}}, api.CatalogOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var urls []string
	for _, id := range []string{"n1", "n2"} {
		db, err := postgres.Open(ctx, url, postgres.Options{Logger: log, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + ln.Addr().String()
		o := frontFlags(newFlagSet("serve", "", io.Discard))
		o.cluster = &tradeCluster{DB: db, NodeID: id, AdvertiseURL: base, TTL: time.Second}
		f, err := o.build(t.TempDir(), cat, http.NotFoundHandler(), live.New(), tape.New(tape.Config{}), nil, log)
		if err != nil {
			t.Fatal(err)
		}
		if f.broker != nil || f.tradeOwner == nil || len(f.run) != 1 {
			t.Fatalf("cluster front: broker %v, owner %v, %d loops", f.broker, f.tradeOwner, len(f.run))
		}
		srv := &http.Server{Handler: f.handler}
		go srv.Serve(ln)
		done := make(chan struct{})
		go func() { defer close(done); f.run[0](ctx) }()
		t.Cleanup(func() { cancel(); <-done; srv.Close(); f.Close() })
		urls = append(urls, base)
	}
	get := func(u string) (int, map[string]any) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body
	}
	for _, u := range urls {
		if code, body := get(u + "/config"); code != 200 || body["s"] != "ok" {
			t.Fatalf("/config: %d %v", code, body)
		}
		if code, _ := get(u + "/mapping"); code != 200 {
			t.Fatalf("/mapping: %d", code)
		}
	}
	var ids []any
	for _, u := range urls {
		code, body := get(u + "/accounts") // waits for the owner if needed
		if code != 200 || body["s"] != "ok" {
			t.Fatalf("/accounts: %d %v", code, body)
		}
		ids = append(ids, body["d"].([]any)[0].(map[string]any)["id"])
	}
	if ids[0] != ids[1] {
		t.Fatalf("accounts differ between nodes: %v", ids)
	}
}
