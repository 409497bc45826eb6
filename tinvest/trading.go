package tinvest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"tvbridge/tinvest/wire"
)

// Trading calls. They return the service's messages (package wire), whose
// prices are exact decimals: the trading venue built on them converts what
// it needs. Prices sent are float64 in the domain and go out as exact
// decimals: converted with wire.QuotationFromFloat and, when the caller
// gives the instrument's tick, checked to lie on it (so the service never
// answers 30078 for a price that was on the tick before the conversion).
//
// With Config.Sandbox set, the order, stop-order, portfolio, positions and
// operations calls go to the SandboxService equivalents.

// IdempotencyKey derives an order's idempotency key (the service's
// orderId: at most 36 characters, unique per account) from stable parts
// such as a TradingView requestId and the account: the same parts always
// give the same key, so a retried request, even across a restart, can never
// place a second order. The key is a SHA-256 of the parts in UUID form.
func IdempotencyKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	b := h.Sum(nil)
	b[6] = b[6]&0x0f | 0x50 // version 5-like
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Price converts a domain price to the exact decimal the service takes;
// with tick > 0 it must lie on the tick.
func Price(price, tick float64) (wire.Quotation, error) {
	q, err := wire.QuotationFromFloat(price)
	if err != nil {
		return q, err
	}
	if tick > 0 {
		t, err := wire.QuotationFromFloat(tick)
		if err != nil {
			return q, err
		}
		if !wire.OnTick(q, t) {
			return q, fmt.Errorf("tinvest: price %s is not a multiple of the tick %s", q, t)
		}
	}
	return q, nil
}

func (c *Client) pick(prod, sandbox string) string {
	if c.cfg.Sandbox {
		return sandbox
	}
	return prod
}

// Accounts returns the token's accounts (open ones with status "" ).
func (c *Client) Accounts(ctx context.Context, status wire.AccountStatus) ([]wire.Account, error) {
	var r wire.GetAccountsResponse
	err := c.Call(ctx, c.pick(wire.MethodGetAccounts, wire.MethodGetSandboxAccounts), wire.GetAccountsRequest{Status: status}, &r)
	return r.Accounts, err
}

// OrderParams describe an order in domain terms.
type OrderParams struct {
	AccountID    string
	InstrumentID string // uid or FIGI
	Lots         int64
	Direction    wire.OrderDirection
	Type         wire.OrderType
	Price        float64 // limit orders; ignored for market orders
	Tick         float64 // the instrument's tick; > 0 checks that Price lies on it
	TimeInForce  wire.TimeInForceType
	// Key is the idempotency key (see IdempotencyKey): the same key again
	// returns the existing order.
	Key string
}

// PostOrder places an order. Repeating it with the same Key returns the
// existing order, which is why the client may retry it after a 5xx.
func (c *Client) PostOrder(ctx context.Context, p OrderParams) (wire.PostOrderResponse, error) {
	var r wire.PostOrderResponse
	if p.Key == "" || len(p.Key) > 36 {
		return r, errors.New("tinvest: PostOrder: the idempotency key must have 1..36 characters")
	}
	if p.Lots <= 0 {
		return r, fmt.Errorf("tinvest: PostOrder: %d lots", p.Lots)
	}
	req := wire.PostOrderRequest{
		InstrumentID: p.InstrumentID, Quantity: wire.Int64(p.Lots), Direction: p.Direction, AccountID: p.AccountID,
		OrderType: p.Type, OrderID: p.Key, TimeInForce: p.TimeInForce,
	}
	if p.Type != wire.OrderTypeMarket && p.Type != wire.OrderTypeBestPrice {
		q, err := Price(p.Price, p.Tick)
		if err != nil {
			return r, err
		}
		req.Price = &q
	}
	err := c.Call(ctx, c.pick(wire.MethodPostOrder, wire.MethodPostSandboxOrder), req, &r)
	return r, err
}

// ReplaceOrder changes an order's quantity and price; key is the new
// idempotency key.
func (c *Client) ReplaceOrder(ctx context.Context, accountID, orderID, key string, lots int64, price, tick float64) (wire.PostOrderResponse, error) {
	var r wire.PostOrderResponse
	q, err := Price(price, tick)
	if err != nil {
		return r, err
	}
	err = c.Call(ctx, c.pick(wire.MethodReplaceOrder, wire.MethodReplaceSandboxOrder), wire.ReplaceOrderRequest{
		AccountID: accountID, OrderID: orderID, IdempotencyKey: key, Quantity: wire.Int64(lots), Price: &q,
	}, &r)
	return r, err
}

// CancelOrder cancels an order by its exchange id (idType "") or by its
// idempotency key (wire.OrderIDTypeRequest).
func (c *Client) CancelOrder(ctx context.Context, accountID, orderID string, idType wire.OrderIDType) (time.Time, error) {
	var r wire.CancelOrderResponse
	err := c.Call(ctx, c.pick(wire.MethodCancelOrder, wire.MethodCancelSandboxOrder),
		wire.CancelOrderRequest{AccountID: accountID, OrderID: orderID, OrderIDType: idType}, &r)
	return r.Time.Time, err
}

// OrderState returns one order's state, by exchange id or idempotency key.
func (c *Client) OrderState(ctx context.Context, accountID, orderID string, idType wire.OrderIDType) (wire.OrderState, error) {
	var r wire.OrderState
	err := c.Call(ctx, c.pick(wire.MethodGetOrderState, wire.MethodGetSandboxOrderState),
		wire.GetOrderStateRequest{AccountID: accountID, OrderID: orderID, OrderIDType: idType}, &r)
	return r, err
}

// Orders returns the account's active orders (the freshest view).
func (c *Client) Orders(ctx context.Context, accountID string) ([]wire.OrderState, error) {
	var r wire.GetOrdersResponse
	err := c.Call(ctx, c.pick(wire.MethodGetOrders, wire.MethodGetSandboxOrders), wire.GetOrdersRequest{AccountID: accountID}, &r)
	return r.Orders, err
}

// PostStopOrder places a stop order; req.OrderID is its idempotency key.
func (c *Client) PostStopOrder(ctx context.Context, req wire.PostStopOrderRequest) (wire.PostStopOrderResponse, error) {
	var r wire.PostStopOrderResponse
	err := c.Call(ctx, c.pick(wire.MethodPostStopOrder, wire.MethodPostSandboxStopOrder), req, &r)
	return r, err
}

// StopOrders lists stop orders (status "": active ones).
func (c *Client) StopOrders(ctx context.Context, accountID string, status wire.StopOrderStatusOption) ([]wire.StopOrder, error) {
	var r wire.GetStopOrdersResponse
	err := c.Call(ctx, c.pick(wire.MethodGetStopOrders, wire.MethodGetSandboxStopOrders),
		wire.GetStopOrdersRequest{AccountID: accountID, Status: status}, &r)
	return r.StopOrders, err
}

// CancelStopOrder cancels a stop order.
func (c *Client) CancelStopOrder(ctx context.Context, accountID, stopOrderID string) (time.Time, error) {
	var r wire.CancelStopOrderResponse
	err := c.Call(ctx, c.pick(wire.MethodCancelStopOrder, wire.MethodCancelSandboxStopOrder),
		wire.CancelStopOrderRequest{AccountID: accountID, StopOrderID: stopOrderID}, &r)
	return r.Time.Time, err
}

// Portfolio returns the account's portfolio.
func (c *Client) Portfolio(ctx context.Context, accountID string) (wire.PortfolioResponse, error) {
	var r wire.PortfolioResponse
	err := c.Call(ctx, c.pick(wire.MethodGetPortfolio, wire.MethodGetSandboxPortfolio), wire.PortfolioRequest{AccountID: accountID}, &r)
	return r, err
}

// Positions returns the account's money and security balances.
func (c *Client) Positions(ctx context.Context, accountID string) (wire.PositionsResponse, error) {
	var r wire.PositionsResponse
	err := c.Call(ctx, c.pick(wire.MethodGetPositions, wire.MethodGetSandboxPositions), wire.PositionsRequest{AccountID: accountID}, &r)
	return r, err
}

// Operations returns the account's operations in [from, to).
func (c *Client) Operations(ctx context.Context, accountID string, from, to time.Time) ([]wire.Operation, error) {
	var r wire.OperationsResponse
	err := c.Call(ctx, c.pick(wire.MethodGetOperations, wire.MethodGetSandboxOperations),
		wire.OperationsRequest{AccountID: accountID, From: wire.At(from), To: wire.At(to)}, &r)
	return r.Operations, err
}

// OperationsByCursor returns one page of operations; pass the answer's
// NextCursor while HasNext.
func (c *Client) OperationsByCursor(ctx context.Context, req wire.GetOperationsByCursorRequest) (wire.GetOperationsByCursorResponse, error) {
	var r wire.GetOperationsByCursorResponse
	err := c.Call(ctx, c.pick(wire.MethodGetOperationsByCursor, wire.MethodGetSandboxOperationsByCursor), req, &r)
	return r, err
}

// OpenSandboxAccount opens a sandbox account and returns its id. It is
// never retried after a 5xx (it would open a second one).
func (c *Client) OpenSandboxAccount(ctx context.Context, name string) (string, error) {
	var r wire.OpenSandboxAccountResponse
	err := c.Call(ctx, wire.MethodOpenSandboxAccount, wire.OpenSandboxAccountRequest{Name: name}, &r)
	return r.AccountID, err
}

// CloseSandboxAccount closes a sandbox account.
func (c *Client) CloseSandboxAccount(ctx context.Context, accountID string) error {
	return c.Call(ctx, wire.MethodCloseSandboxAccount, wire.CloseSandboxAccountRequest{AccountID: accountID}, nil)
}

// SandboxPayIn credits a sandbox account (roubles) and returns the balance.
// It is never retried after a 5xx (it would pay twice).
func (c *Client) SandboxPayIn(ctx context.Context, accountID string, amount wire.MoneyValue) (wire.MoneyValue, error) {
	var r wire.SandboxPayInResponse
	err := c.Call(ctx, wire.MethodSandboxPayIn, wire.SandboxPayInRequest{AccountID: accountID, Amount: amount}, &r)
	return r.Balance, err
}
