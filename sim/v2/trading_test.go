package v2sim

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge"
	"tvbridge/tinvest"
	"tvbridge/tinvest/wire"
)

func tradingHarness(t *testing.T) (*harness, *tinvest.Client, string) {
	h := newHarness(t, testStart, func(c *Config) { c.Commission = 0.0005 })
	c := h.client(nil)
	accs, err := c.Accounts(context.Background(), "")
	if err != nil || len(accs) != 1 || accs[0].AccessLevel != wire.AccessLevelFullAccess {
		t.Fatalf("accounts %+v %v", accs, err)
	}
	return h, c, accs[0].ID
}

func serviceCode(err error) string {
	var ae *tinvest.APIError
	if errors.As(err, &ae) {
		return ae.ServiceCode
	}
	return ""
}

func TestMarketOrderIdempotentAndPositions(t *testing.T) {
	h, c, acc := tradingHarness(t)
	ctx := context.Background()
	before, err := c.Positions(ctx, acc)
	if err != nil || len(before.Money) != 2 || before.Money[0].Currency != "rub" || before.Money[0].Units != 1_000_000 {
		t.Fatalf("opening positions %+v %v", before, err)
	}
	p := tinvest.OrderParams{AccountID: acc, InstrumentID: uidOf(h, sber), Lots: 2, Direction: wire.OrderDirectionBuy,
		Type: wire.OrderTypeMarket, Key: tinvest.IdempotencyKey("test", "1")}
	r1, err := c.PostOrder(ctx, p)
	if err != nil || r1.ExecutionReportStatus != wire.ExecutionReportStatusFill || r1.LotsExecuted != 2 || r1.OrderRequestID != p.Key {
		t.Fatalf("market order %+v %v", r1, err)
	}
	r2, err := c.PostOrder(ctx, p)
	if err != nil || r2.OrderID != r1.OrderID {
		t.Fatalf("the same key placed another order: %+v %v", r2, err)
	}
	st, err := c.OrderState(ctx, acc, p.Key, wire.OrderIDTypeRequest)
	if err != nil || st.OrderID != r1.OrderID || len(st.Stages) == 0 || st.ExecutedCommission.Quotation().IsZero() {
		t.Fatalf("state %+v %v", st, err)
	}
	var amount float64
	var lots int64
	for _, s := range st.Stages {
		amount += s.Price.Float64() * float64(s.Quantity) * 10
		lots += int64(s.Quantity)
	}
	pos, _ := c.Positions(ctx, acc)
	fee := cents(0.0005 * round6(amount))
	if lots != 2 || len(pos.Securities) != 1 || pos.Securities[0].Balance != 20 ||
		round6(pos.Money[0].Float64()) != round6(1_000_000-amount-fee) || st.ExecutedCommission.Float64() != fee {
		t.Fatalf("after buying 20 for %v + %v: %+v, commission %v", amount, fee, pos, st.ExecutedCommission)
	}
	pf, err := c.Portfolio(ctx, acc)
	if err != nil || pf.Positions[0].FIGI != sber || pf.Positions[0].Quantity.Units != 20 {
		t.Fatalf("portfolio %+v %v", pf, err)
	}
	ops, err := c.Operations(ctx, acc, testStart.Add(-time.Hour), testStart.Add(time.Hour))
	if err != nil || len(ops) != 4 || ops[0].OperationType != wire.OperationTypeBrokerFee || ops[1].OperationType != wire.OperationTypeBuy ||
		len(ops[1].Trades) != len(st.Stages) || ops[3].OperationType != wire.OperationTypeInput {
		t.Fatalf("operations %+v %v", ops, err)
	}
	// What the service refuses, with its codes.
	for _, tc := range []struct {
		p    tinvest.OrderParams
		code string
	}{
		{tinvest.OrderParams{InstrumentID: sber, Lots: 1, Type: wire.OrderTypeLimit, Price: 300.005}, wire.ErrPriceNotOnTick},
		{tinvest.OrderParams{InstrumentID: sber, Lots: 100000, Type: wire.OrderTypeMarket}, codeNotEnoughMargin},
		{tinvest.OrderParams{InstrumentID: aapl, Lots: 1, Type: wire.OrderTypeMarket}, codeNotAvailable},
		{tinvest.OrderParams{InstrumentID: "BBG000NOTHERE", Lots: 1, Type: wire.OrderTypeMarket}, codeInstrumentNotFound},
		{tinvest.OrderParams{InstrumentID: sber, Lots: 3, Type: wire.OrderTypeMarket, Direction: wire.OrderDirectionSell}, codeNotEnoughMargin},
	} {
		tc.p.AccountID, tc.p.Key = acc, tinvest.IdempotencyKey(tc.code, tc.p.InstrumentID)
		if tc.p.Direction == "" {
			tc.p.Direction = wire.OrderDirectionBuy
		}
		if _, err := c.PostOrder(ctx, tc.p); serviceCode(err) != tc.code {
			t.Errorf("%+v: %v, want %s", tc.p, err, tc.code)
		}
	}
	if _, err := c.Positions(ctx, "2999999999"); serviceCode(err) != codeAccountNotFound {
		t.Errorf("unknown account: %v", err)
	}
}

// orderStream opens OrderStateStream for the account and waits for its
// subscription.
func orderStream(t *testing.T, h *harness, acc string) *wsClient {
	ws, _, err := h.dial(wire.MethodOrderStateStream, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.send(wire.OrderStateStreamRequest{Accounts: []string{acc}, PingDelayMillis: 5000})
	frames := ws.waitCount(1)
	var f wire.OrderStateStreamResponse
	if json.Unmarshal(frames[0], &f) != nil || f.Subscription == nil || f.Subscription.Status != wire.ResultSubscriptionStatusOK {
		t.Fatalf("subscription %s", frames[0])
	}
	return ws
}

func orderStates(t *testing.T, frames [][]byte) (states []wire.StreamOrderState, pings int) {
	for _, b := range frames {
		var f wire.OrderStateStreamResponse
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		if f.OrderState != nil {
			states = append(states, *f.OrderState)
		}
		if f.Ping != nil {
			pings++
		}
	}
	return states, pings
}

// restingBuyPrice finds a limit price below the ask now that a later trade
// within the next minutes trades through.
func restingBuyPrice(t *testing.T, h *harness, figi string) float64 {
	now := h.clk.Now()
	ask := h.m.OrderBook(figi, now, 1).Asks[0].Price
	lowest := ask
	for m := now.Truncate(time.Minute); m.Before(now.Add(10 * time.Minute)); m = m.Add(time.Minute) {
		for _, tr := range h.m.MinuteTrades(figi, m) {
			if tr.Time.After(now.Add(5*time.Second)) && tr.Price < lowest {
				lowest = tr.Price
			}
		}
	}
	inst, _ := h.m.Instrument(figi)
	price, _ := wire.SnapFloat(lowest+inst.MinPriceIncrement, inst.MinPriceIncrement)
	if price >= ask {
		t.Fatalf("no resting price: lowest %v, ask %v", lowest, ask)
	}
	return price
}

func TestLimitOrderRestsFillsAndCancels(t *testing.T) {
	h, c, acc := tradingHarness(t)
	ctx := context.Background()
	ws := orderStream(t, h, acc)
	price := restingBuyPrice(t, h, sber)
	p := tinvest.OrderParams{AccountID: acc, InstrumentID: uidOf(h, sber), Lots: 1, Direction: wire.OrderDirectionBuy,
		Type: wire.OrderTypeLimit, Price: price, Tick: 0.01, TimeInForce: wire.TimeInForceDay, Key: "limit-1"}
	r, err := c.PostOrder(ctx, p)
	if err != nil || r.ExecutionReportStatus != wire.ExecutionReportStatusNew {
		t.Fatalf("limit order %+v %v", r, err)
	}
	far := p
	far.Key, far.Price = "limit-far", 200
	rf, err := c.PostOrder(ctx, far)
	if err != nil {
		t.Fatal(err)
	}
	active, err := c.Orders(ctx, acc)
	if err != nil || len(active) != 2 || active[0].OrderID != r.OrderID {
		t.Fatalf("active orders %+v %v", active, err)
	}
	pos, _ := c.Positions(ctx, acc)
	if len(pos.Blocked) != 1 || pos.Blocked[0].Float64() <= 0 {
		t.Fatalf("resting buys block no cash: %+v", pos)
	}
	for i := 0; i < 600; i++ {
		h.advance(time.Second)
		if st, _ := c.OrderState(ctx, acc, r.OrderID, ""); st.ExecutionReportStatus == wire.ExecutionReportStatusFill {
			break
		}
	}
	if _, err := c.CancelOrder(ctx, acc, rf.OrderID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelOrder(ctx, acc, rf.OrderID, ""); serviceCode(err) != codeCancelError {
		t.Fatalf("cancelling a cancelled order: %v", err)
	}
	if _, err := c.CancelOrder(ctx, acc, "123", ""); !tinvest.IsNotFound(err) {
		t.Fatalf("cancelling an unknown order: %v", err)
	}
	if active, _ := c.Orders(ctx, acc); len(active) != 0 {
		t.Fatalf("still active: %+v", active)
	}
	// The stream told it all: both placed, fills in units at the limit, the
	// cancel with its cause.
	frames := ws.waitFor("the cancel", func(f [][]byte, _ *websocket.CloseError) bool {
		sts, _ := orderStates(t, f)
		return len(sts) > 0 && sts[len(sts)-1].ExecutionReportStatus == wire.ExecutionReportStatusCancelled
	})
	sts, pings := orderStates(t, frames)
	var filled int64
	var final wire.StreamOrderState
	for _, s := range sts {
		if s.OrderID == r.OrderID {
			for _, tr := range s.Trades {
				filled += int64(tr.Quantity)
				if tr.Price.Float64() != price || tr.TradeID == "" {
					t.Errorf("fill %+v at %v", tr, price)
				}
			}
			final = s
		}
	}
	if filled != 10 || final.ExecutionReportStatus != wire.ExecutionReportStatusFill || final.LotSize != 10 || pings == 0 {
		t.Fatalf("stream: %d units filled, final %+v, %d pings", filled, final, pings)
	}
	if last := sts[len(sts)-1]; last.OrderID != rf.OrderID || last.StatusInfo != "CAUSE_CANCELLED_BY_CLIENT" || last.LotsCancelled != 1 {
		t.Fatalf("cancel state %+v", last)
	}
	// Replace: the old order is cancelled, the new one rests under the new key.
	old, _ := c.PostOrder(ctx, tinvest.OrderParams{AccountID: acc, InstrumentID: sber, Lots: 1, Direction: wire.OrderDirectionBuy,
		Type: wire.OrderTypeLimit, Price: 200, Key: "to-replace"})
	nr, err := c.ReplaceOrder(ctx, acc, old.OrderID, "replaced", 2, 201, 0.01)
	if err != nil || nr.OrderID == old.OrderID || nr.LotsRequested != 2 || nr.OrderRequestID != "replaced" {
		t.Fatalf("replace %+v %v", nr, err)
	}
	if st, _ := c.OrderState(ctx, acc, old.OrderID, ""); st.ExecutionReportStatus != wire.ExecutionReportStatusCancelled {
		t.Fatalf("replaced order %+v", st)
	}
}

func TestSandbox(t *testing.T) {
	h := newHarness(t, testStart, nil)
	c := h.client(func(cfg *tinvest.Config) { cfg.Sandbox = true })
	ctx := context.Background()
	id, err := c.OpenSandboxAccount(ctx, "test")
	if err != nil || id == "" {
		t.Fatal(err)
	}
	bal, err := c.SandboxPayIn(ctx, id, wire.MoneyValue{Currency: "rub", Units: 50_000})
	if err != nil || bal.Units != 50_000 {
		t.Fatalf("pay-in %+v %v", bal, err)
	}
	accs, err := c.Accounts(ctx, "")
	if err != nil || len(accs) != 1 || accs[0].ID != id {
		t.Fatalf("sandbox accounts %+v %v", accs, err)
	}
	r, err := c.PostOrder(ctx, tinvest.OrderParams{AccountID: id, InstrumentID: sber, Lots: 1, Direction: wire.OrderDirectionBuy,
		Type: wire.OrderTypeMarket, Key: "sb-1"})
	if err != nil || r.ExecutionReportStatus != wire.ExecutionReportStatusFill {
		t.Fatalf("sandbox order %+v %v", r, err)
	}
	if _, err := c.PostOrder(ctx, tinvest.OrderParams{AccountID: id, InstrumentID: sber, Lots: 100, Direction: wire.OrderDirectionBuy,
		Type: wire.OrderTypeMarket, Key: "sb-2"}); serviceCode(err) != codeNotEnoughBalance {
		t.Fatalf("too large a sandbox order: %v", err)
	}
	pos, err := c.Positions(ctx, id)
	if err != nil || len(pos.Securities) != 1 || pos.Securities[0].Balance != 10 {
		t.Fatalf("sandbox positions %+v %v", pos, err)
	}
	if pf, err := c.Portfolio(ctx, id); err != nil || len(pf.Positions) != 2 {
		t.Fatalf("sandbox portfolio %+v %v", pf, err)
	}
	if ops, err := c.Operations(ctx, id, time.Time{}, time.Time{}); err != nil || len(ops) != 3 {
		t.Fatalf("sandbox operations %+v %v", ops, err)
	}
	if st, err := c.OrderState(ctx, id, "sb-1", wire.OrderIDTypeRequest); err != nil || st.LotsExecuted != 1 {
		t.Fatalf("sandbox order state %+v %v", st, err)
	}
	// The sandbox methods reach sandbox accounts only.
	prod := h.client(nil)
	paccs, _ := prod.Accounts(ctx, "")
	if _, err := c.Positions(ctx, paccs[0].ID); serviceCode(err) != codeAccountNotFound {
		t.Fatalf("sandbox call on a production account: %v", err)
	}
	if err := c.CloseSandboxAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	if accs, _ := c.Accounts(ctx, ""); len(accs) != 0 {
		t.Fatalf("closed account still listed: %+v", accs)
	}
}

// TestVenue runs tinvest.Venue against the simulator: a market order's
// fill comes over OrderStateStream, a resting order is cancelled.
func TestVenue(t *testing.T) {
	h, c, acc := tradingHarness(t)
	insts := map[string]tvbridge.Instrument{}
	for _, in := range h.srv.cat.list {
		ti := in.Instrument.Instrument
		ti.UID = in.uid
		insts[in.FIGI] = ti
	}
	v, err := tinvest.NewVenue(tinvest.VenueConfig{Client: c, Users: map[string][]string{"alice": {acc}},
		Instrument:   func(figi string) (tvbridge.Instrument, bool) { i, ok := insts[figi]; return i, ok },
		KeyNamespace: "sim-test", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUntil(t, h, "the order stream", v.StreamUp)
	accounts, err := v.Accounts(ctx, "alice")
	if err != nil || len(accounts) != 1 || accounts[0].Cash[0].Amount != 1_000_000 {
		t.Fatalf("venue accounts %+v %v", accounts, err)
	}
	ref, err := v.Submit(ctx, acc, tvbridge.VenueOrder{ID: "1", FIGI: sber, Side: tvbridge.Buy, Type: tvbridge.MarketOrder, Qty: 20})
	if err != nil || ref == "" {
		t.Fatalf("submit %q %v", ref, err)
	}
	var qty, commission float64
	for qty < 20 {
		ev := nextEvent(t, v)
		if ev.Kind != tvbridge.VenueFill || ev.OrderID != "1" || ev.ExecID == "" {
			t.Fatalf("event %+v", ev)
		}
		qty += ev.Qty
		commission += ev.Commission
	}
	if commission <= 0 {
		t.Fatalf("fills booked without commission")
	}
	limit := tvbridge.VenueOrder{ID: "2", FIGI: sber, Side: tvbridge.Buy, Type: tvbridge.LimitOrder, Qty: 10, Limit: 200}
	if limit.VenueRef, err = v.Submit(ctx, acc, limit); err != nil {
		t.Fatal(err)
	}
	if err := v.Cancel(ctx, acc, limit); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, v); ev.Kind != tvbridge.VenueCancelled || ev.OrderID != "2" {
		t.Fatalf("cancel event %+v", ev)
	}
	hold, err := v.Holdings(ctx, acc)
	if err != nil || len(hold.Position) != 1 || hold.Position[0].Qty != 20 {
		t.Fatalf("holdings %+v %v", hold, err)
	}
}

func waitUntil(t *testing.T, h *harness, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for !ok() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(time.Millisecond):
		}
	}
}

func nextEvent(t *testing.T, v *tinvest.Venue) tvbridge.VenueEvent {
	t.Helper()
	select {
	case ev := <-v.Events():
		return ev
	case <-time.After(waitLimit):
		t.Fatal("no venue event")
	}
	return tvbridge.VenueEvent{}
}
