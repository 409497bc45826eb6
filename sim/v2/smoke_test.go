package v2sim

import (
	"context"
	"testing"

	"tvbridge/tinvest"
	"tvbridge/tinvest/wire"
)

func TestSmoke(t *testing.T) {
	h := newHarness(t, testStart, nil)
	c := h.client(nil)
	cat, err := c.Catalogue(context.Background(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instruments", len(cat))
	ws := h.dialMD()
	ws.send(wire.MarketDataRequest{SubscribeTradesRequest: &wire.SubscribeTradesRequest{SubscriptionAction: wire.SubscriptionActionSubscribe,
		Instruments: []wire.InstrumentRef{{InstrumentID: uidOf(h, sber)}}}})
	ws.waitCount(1)
	h.steps(10e9, 1e9)
	for _, f := range ws.synced(h) {
		t.Logf("%s", f)
	}
	_ = tinvest.KindShares
}
