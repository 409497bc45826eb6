package tinvest

import (
	"encoding/json"
	"fmt"

	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tvbridge/tinvest/wire"
)

// fakeTrading is a small v2 trading service on loopback sockets: the REST
// trading methods (production and sandbox names) over fakeREST, and
// OrderStateStream over a real WebSocket. It remembers idempotency keys
// per account, as the service does, across venue restarts. Tests drive
// the market by hand: fill, cancelUpstream; and the faults: refuseStream,
// mute, dropStreams, failPolls, postErrors.
type fakeTrading struct {
	*fakeREST
	t testing.TB

	mu          sync.Mutex
	accounts    []wire.Account
	money       map[string][]wire.MoneyValue
	blocked     map[string][]wire.MoneyValue
	portfolio   map[string][]wire.PortfolioPosition
	instruments map[string]fakeInstrument // by uid and by FIGI
	orders      map[string]*fakeOrder     // by order id
	keys        map[string]string         // account + "/" + key -> order id
	seq         int
	rate        float64            // commission per unit of money
	marketPrice map[string]float64 // FIGI -> where market orders fill at once; none: they rest
	stageIDs    bool               // stages carry trade ids (default true)
	noTradeIDs  bool               // stream trades and stages carry no trade id

	refuseStream int               // HTTP status the handshake answers; 0 upgrades
	subError     *wire.ErrorDetail // the subscription is refused with it
	mute         bool              // the stream sends no order states
	duplicate    bool              // the stream sends every order state twice
	failPolls    bool              // GetOrders and GetOrderState answer 503
	postErrors   []fakeError
	cancelErrors []fakeError
	conns        []*fakeConn
	connected    chan struct{} // a stream subscribed
	requests     []wire.OrderStateStreamRequest
}

type fakeInstrument struct {
	figi, uid string
	lot       int64
}

type fakeError struct {
	// afterPlacing: the order is placed, then the error answered (an
	// answer lost on the way back).
	afterPlacing bool
	status       int
	code         wire.Code
	service      string
	message      string
	header       map[string]string
}

type fakeOrder struct {
	wire.OrderState
	account string
	lot     int64
	price   float64
	info    string
	trades  []wire.OrderTrade // units
}

type fakeConn struct {
	mu       sync.Mutex
	ws       *websocket.Conn
	accounts []string
}

func (c *fakeConn) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

const (
	testAccount  = "2000000001"
	testAccount2 = "2000000002"
	figiSBER     = "BBG004730N88"
	uidSBER      = "e6123145-9665-43e0-8413-cd61b8aa9b13"
	figiAAPL     = "BBG000B9XRY4"
	uidAAPL      = "a9eb4238-eba9-488c-b102-b6140fd08e38"
)

func newFakeTrading(t testing.TB) *fakeTrading {
	f := &fakeTrading{
		fakeREST: newFakeREST(t), t: t,
		accounts: []wire.Account{
			{ID: testAccount, Type: wire.AccountTypeTinkoff, Name: "Broker", Status: wire.AccountStatusOpen, AccessLevel: wire.AccessLevelFullAccess},
			{ID: testAccount2, Type: wire.AccountTypeTinkoffIIS, Name: "IIS", Status: wire.AccountStatusOpen, AccessLevel: wire.AccessLevelFullAccess},
		},
		money: map[string][]wire.MoneyValue{
			testAccount:  {money("rub", "1000000"), money("usd", "2500.5")},
			testAccount2: {money("rub", "5000")},
		},
		blocked:     map[string][]wire.MoneyValue{testAccount: {money("rub", "300")}},
		portfolio:   map[string][]wire.PortfolioPosition{},
		instruments: map[string]fakeInstrument{},
		orders:      map[string]*fakeOrder{},
		keys:        map[string]string{},
		rate:        0.0005,
		marketPrice: map[string]float64{},
		stageIDs:    true,
		connected:   make(chan struct{}, 16),
	}
	for _, in := range []fakeInstrument{{figiSBER, uidSBER, 10}, {figiAAPL, uidAAPL, 1}} {
		f.instruments[in.figi], f.instruments[in.uid] = in, in
	}
	both := func(prod, sandbox string, h http.HandlerFunc) {
		f.handle(prod, h)
		f.handle(sandbox, h)
	}
	both(wire.MethodGetAccounts, wire.MethodGetSandboxAccounts, f.getAccounts)
	both(wire.MethodGetPositions, wire.MethodGetSandboxPositions, f.getPositions)
	both(wire.MethodGetPortfolio, wire.MethodGetSandboxPortfolio, f.getPortfolio)
	both(wire.MethodPostOrder, wire.MethodPostSandboxOrder, f.postOrder)
	both(wire.MethodReplaceOrder, wire.MethodReplaceSandboxOrder, f.replaceOrder)
	both(wire.MethodCancelOrder, wire.MethodCancelSandboxOrder, f.cancelOrder)
	both(wire.MethodGetOrderState, wire.MethodGetSandboxOrderState, f.getOrderState)
	both(wire.MethodGetOrders, wire.MethodGetSandboxOrders, f.getOrders)
	f.handle(wire.StreamPath+wire.MethodOrderStateStream, f.stream)
	t.Cleanup(f.dropStreams)
	return f
}

func money(cur, amount string) wire.MoneyValue {
	q, err := wire.ParseQuotation(amount)
	if err != nil {
		panic(err)
	}
	return wire.Money(cur, q)
}

func quotation(f float64) wire.Quotation {
	q, err := wire.QuotationFromFloat(f)
	if err != nil {
		panic(err)
	}
	return q
}

func decode(r *http.Request, v any) {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		panic(err)
	}
}

func (e fakeError) write(w http.ResponseWriter) {
	writeError(w, e.status, e.code, e.service, e.message, e.header)
}

func (f *fakeTrading) getAccounts(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, 200, wire.GetAccountsResponse{Accounts: f.accounts})
}

func (f *fakeTrading) getPositions(w http.ResponseWriter, r *http.Request) {
	var req wire.PositionsRequest
	decode(r, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, 200, wire.PositionsResponse{AccountID: req.AccountID, Money: f.money[req.AccountID], Blocked: f.blocked[req.AccountID]})
}

func (f *fakeTrading) getPortfolio(w http.ResponseWriter, r *http.Request) {
	var req wire.PortfolioRequest
	decode(r, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, 200, wire.PortfolioResponse{AccountID: req.AccountID, Positions: f.portfolio[req.AccountID]})
}

func (f *fakeTrading) nextErrorLocked(list *[]fakeError) (fakeError, bool) {
	if len(*list) == 0 {
		return fakeError{}, false
	}
	e := (*list)[0]
	*list = (*list)[1:]
	return e, true
}

func (f *fakeTrading) postOrder(w http.ResponseWriter, r *http.Request) {
	var req wire.PostOrderRequest
	decode(r, &req)
	f.mu.Lock()
	e, failing := f.nextErrorLocked(&f.postErrors)
	if failing && !e.afterPlacing {
		f.mu.Unlock()
		e.write(w)
		return
	}
	if id, ok := f.keys[req.AccountID+"/"+req.OrderID]; ok {
		resp := f.orders[id].postResponse(f.rate)
		f.mu.Unlock()
		writeJSON(w, 200, resp)
		return
	}
	in, ok := f.instruments[req.InstrumentID]
	if !ok {
		f.mu.Unlock()
		writeError(w, 404, wire.CodeNotFound, "50002", "Instrument not found", nil)
		return
	}
	o := f.newOrderLocked(req.AccountID, req.OrderID, in, req.Direction, req.OrderType, int64(req.Quantity), req.Price)
	if p, ok := f.marketPrice[in.figi]; ok && req.OrderType == wire.OrderTypeMarket {
		o.price = p                             // what the initial commission is estimated at
		f.fillLocked(o, int64(req.Quantity), p) // the stream hears of it before the answer
	}
	resp := o.postResponse(f.rate)
	f.mu.Unlock()
	if failing {
		e.write(w)
		return
	}
	writeJSON(w, 200, resp)
}

func (f *fakeTrading) newOrderLocked(account, key string, in fakeInstrument, dir wire.OrderDirection, typ wire.OrderType,
	lots int64, price *wire.Quotation) *fakeOrder {
	f.seq++
	o := &fakeOrder{account: account, lot: in.lot, OrderState: wire.OrderState{
		OrderID: fmt.Sprintf("EX%04d", f.seq), OrderRequestID: key, ExecutionReportStatus: wire.ExecutionReportStatusNew,
		LotsRequested: wire.Int64(lots), FIGI: in.figi, InstrumentUID: in.uid, Direction: dir, OrderType: typ,
		Currency: "rub", OrderDate: wire.At(t0)}}
	if price != nil {
		o.price = price.Float64()
	}
	amount := o.price * float64(lots*in.lot)
	o.InitialOrderPrice, o.InitialCommission = wire.Money("rub", quotation(amount)), wire.Money("rub", quotation(amount*f.rate))
	f.orders[o.OrderID] = o
	f.keys[account+"/"+key] = o.OrderID
	f.publishLocked(o, nil)
	return o
}

func (o *fakeOrder) postResponse(rate float64) wire.PostOrderResponse {
	amount := o.price * float64(int64(o.LotsRequested)*o.lot)
	return wire.PostOrderResponse{OrderID: o.OrderID, ExecutionReportStatus: o.ExecutionReportStatus,
		LotsRequested: o.LotsRequested, LotsExecuted: o.LotsExecuted, FIGI: o.FIGI, InstrumentUID: o.InstrumentUID,
		Direction: o.Direction, OrderType: o.OrderType, OrderRequestID: o.OrderRequestID,
		InitialOrderPrice: wire.Money("rub", quotation(amount)), InitialCommission: wire.Money("rub", quotation(amount*rate)),
		ExecutedCommission: o.ExecutedCommission}
}

func (f *fakeTrading) replaceOrder(w http.ResponseWriter, r *http.Request) {
	var req wire.ReplaceOrderRequest
	decode(r, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.keys[req.AccountID+"/"+req.IdempotencyKey]; ok {
		writeJSON(w, 200, f.orders[id].postResponse(f.rate))
		return
	}
	old := f.orders[req.OrderID]
	if old == nil || old.ExecutionReportStatus.Final() {
		writeError(w, 400, wire.CodeInvalidArgument, "30059", "Cancel order error: order is not active", nil)
		return
	}
	f.endLocked(old, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_CLIENT")
	in := f.instruments[old.InstrumentUID]
	o := f.newOrderLocked(req.AccountID, req.IdempotencyKey, in, old.Direction, old.OrderType, int64(req.Quantity), req.Price)
	writeJSON(w, 200, o.postResponse(f.rate))
}

// find returns an order by id or key; callers hold f.mu.
func (f *fakeTrading) findLocked(account, id string, idType wire.OrderIDType) *fakeOrder {
	if idType == wire.OrderIDTypeRequest {
		id = f.keys[account+"/"+id]
	}
	o := f.orders[id]
	if o == nil || o.account != account {
		return nil
	}
	return o
}

func (f *fakeTrading) cancelOrder(w http.ResponseWriter, r *http.Request) {
	var req wire.CancelOrderRequest
	decode(r, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.nextErrorLocked(&f.cancelErrors); ok {
		e.write(w)
		return
	}
	o := f.findLocked(req.AccountID, req.OrderID, req.OrderIDType)
	switch {
	case o == nil:
		writeError(w, 404, wire.CodeNotFound, "50005", "Order not found", nil)
	case o.ExecutionReportStatus.Final():
		writeError(w, 400, wire.CodeInvalidArgument, "30059", "Cancel order error: order is already executed", nil)
	default:
		f.endLocked(o, wire.ExecutionReportStatusCancelled, "CAUSE_CANCELLED_BY_CLIENT")
		writeJSON(w, 200, wire.CancelOrderResponse{Time: wire.At(t0)})
	}
}

func (f *fakeTrading) getOrderState(w http.ResponseWriter, r *http.Request) {
	var req wire.GetOrderStateRequest
	decode(r, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPolls {
		writeError(w, 503, wire.CodeUnavailable, "", "unavailable", nil)
		return
	}
	o := f.findLocked(req.AccountID, req.OrderID, req.OrderIDType)
	if o == nil {
		writeError(w, 404, wire.CodeNotFound, "50005", "Order not found", nil)
		return
	}
	writeJSON(w, 200, f.stateLocked(o))
}

func (f *fakeTrading) getOrders(w http.ResponseWriter, r *http.Request) {
	var req wire.GetOrdersRequest
	decode(r, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPolls {
		writeError(w, 503, wire.CodeUnavailable, "", "unavailable", nil)
		return
	}
	var out []wire.OrderState
	for _, o := range f.orders {
		if o.account == req.AccountID && !o.ExecutionReportStatus.Final() {
			out = append(out, f.stateLocked(o))
		}
	}
	slices.SortFunc(out, func(a, b wire.OrderState) int { return strings.Compare(a.OrderID, b.OrderID) })
	writeJSON(w, 200, wire.GetOrdersResponse{Orders: out})
}

// stateLocked is an order as GetOrderState reports it: stages in lots.
func (f *fakeTrading) stateLocked(o *fakeOrder) wire.OrderState {
	st := o.OrderState
	st.Stages = nil
	var amount float64
	var units int64
	for _, tr := range o.trades {
		stage := wire.OrderStage{Price: wire.Money("rub", tr.Price), Quantity: wire.Int64(int64(tr.Quantity) / o.lot),
			ExecutionTime: tr.DateTime}
		if f.stageIDs && !f.noTradeIDs {
			stage.TradeID = tr.TradeID
		}
		st.Stages = append(st.Stages, stage)
		amount += tr.Price.Float64() * float64(tr.Quantity)
		units += int64(tr.Quantity)
	}
	if units > 0 {
		st.AveragePositionPrice = wire.Money("rub", quotation(amount/float64(units)))
	}
	return st
}

// fill executes lots of an order at price: a trade, the new state, and
// a stream frame with that trade.
func (f *fakeTrading) fill(id string, lots int64, price float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[id]
	if o == nil {
		f.t.Fatalf("fake: no order %s", id)
	}
	f.fillLocked(o, lots, price)
}

func (f *fakeTrading) fillLocked(o *fakeOrder, lots int64, price float64) {
	f.seq++
	tr := wire.OrderTrade{DateTime: wire.At(t0.Add(time.Duration(f.seq) * time.Second)), Price: quotation(price),
		Quantity: wire.Int64(lots * o.lot), TradeID: fmt.Sprintf("T%04d", f.seq)}
	o.trades = append(o.trades, tr)
	o.LotsExecuted += wire.Int64(lots)
	var amount float64
	for _, t := range o.trades {
		amount += t.Price.Float64() * float64(t.Quantity)
	}
	o.ExecutedCommission = wire.Money("rub", quotation(round6(amount*f.rate)))
	o.ExecutionReportStatus = wire.ExecutionReportStatusPartiallyFill
	if o.LotsExecuted >= o.LotsRequested {
		o.ExecutionReportStatus = wire.ExecutionReportStatusFill
	}
	f.publishLocked(o, []wire.OrderTrade{tr})
}

// cancelUpstream ends an order on the service's side (the exchange, the
// end of the day).
func (f *fakeTrading) cancelUpstream(id string, status wire.OrderExecutionReportStatus, info string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endLocked(f.orders[id], status, info)
}

func (f *fakeTrading) endLocked(o *fakeOrder, status wire.OrderExecutionReportStatus, info string) {
	o.ExecutionReportStatus, o.info = status, info
	f.publishLocked(o, nil)
}

// publishLocked sends an order state to the streams of its account.
func (f *fakeTrading) publishLocked(o *fakeOrder, trades []wire.OrderTrade) {
	if f.mute {
		return
	}
	if f.noTradeIDs {
		trades = slices.Clone(trades)
		for i := range trades {
			trades[i].TradeID = ""
		}
	}
	frame := wire.OrderStateStreamResponse{OrderState: &wire.StreamOrderState{
		OrderID: o.OrderID, OrderRequestID: o.OrderRequestID, ExecutionReportStatus: o.ExecutionReportStatus,
		StatusInfo: o.info, LotSize: int32(o.lot), Direction: o.Direction, OrderType: o.OrderType, AccountID: o.account,
		LotsRequested: o.LotsRequested, LotsExecuted: o.LotsExecuted, Trades: trades, InstrumentUID: o.InstrumentUID,
		LotsLeft: o.LotsRequested - o.LotsExecuted}}
	for _, c := range f.conns {
		if !slices.Contains(c.accounts, o.account) {
			continue
		}
		for range 1 + btoi(f.duplicate) {
			c.send(frame)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

var upgrader = websocket.Upgrader{Subprotocols: []string{wire.SubprotocolJSON}}

func (f *fakeTrading) stream(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	refuse := f.refuseStream
	f.mu.Unlock()
	if refuse != 0 {
		w.Header().Set(wire.HeaderTrackingID, "trk-ws")
		http.Error(w, http.StatusText(refuse), refuse)
		return
	}
	if r.Header.Get("Authorization") != "Bearer secret-token" {
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	_, data, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return
	}
	var req wire.OrderStateStreamRequest
	if err := json.Unmarshal(data, &req); err != nil {
		ws.Close()
		return
	}
	c := &fakeConn{ws: ws, accounts: req.Accounts}
	f.mu.Lock()
	if e := f.subError; e != nil {
		f.mu.Unlock()
		c.send(wire.OrderStateStreamResponse{Subscription: &wire.SubscriptionResponse{TrackingID: "trk-sub",
			Status: wire.ResultSubscriptionStatusError, Error: e}})
		ws.ReadMessage() // until the client goes
		ws.Close()
		return
	}
	// Subscribed and answered at once: no order state falls between.
	c.send(wire.OrderStateStreamResponse{Subscription: &wire.SubscriptionResponse{TrackingID: "trk-sub",
		Status: wire.ResultSubscriptionStatusOK, StreamID: "s1", Accounts: req.Accounts}})
	f.conns = append(f.conns, c)
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	select {
	case f.connected <- struct{}{}:
	default:
	}
	// Read until the client goes: the stream takes no more requests.
	for {
		if _, _, err := ws.NextReader(); err != nil {
			break
		}
	}
	f.mu.Lock()
	f.conns = slices.DeleteFunc(f.conns, func(x *fakeConn) bool { return x == c })
	f.mu.Unlock()
	ws.Close()
}

// dropStreams closes every stream socket abruptly.
func (f *fakeTrading) dropStreams() {
	f.mu.Lock()
	conns := slices.Clone(f.conns)
	f.conns = nil
	f.mu.Unlock()
	for _, c := range conns {
		c.ws.Close()
	}
}

// closeStreams closes every stream with a close code.
func (f *fakeTrading) closeStreams(code int, text string) {
	f.mu.Lock()
	conns := slices.Clone(f.conns)
	f.conns = nil
	f.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
		c.mu.Unlock()
		c.ws.Close()
	}
}

func (f *fakeTrading) set(fn func(f *fakeTrading)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// orderByKey returns the id of the order placed with key, "" if none.
func (f *fakeTrading) orderByKey(account, key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[account+"/"+key]
}

func (f *fakeTrading) orderCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

// lastOrder returns the newest order's id.
func (f *fakeTrading) lastOrder() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var last string
	for id := range f.orders {
		last = max(last, id)
	}
	return last
}

// waitConnected waits for a stream to subscribe.
func (f *fakeTrading) waitConnected(t *testing.T) {
	t.Helper()
	select {
	case <-f.connected:
	case <-time.After(20 * time.Second):
		t.Fatal("the order stream never subscribed")
	}
}

func (f *fakeTrading) streamRequests() []wire.OrderStateStreamRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}
