package tinkoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"tvbridge/tinkoff/wire"
)

// Operation is an order side as the service spells it.
type Operation string

// Order sides.
const (
	Buy  Operation = "Buy"
	Sell Operation = "Sell"
)

func (op Operation) valid() bool { return op == Buy || op == Sell }

// Orders returns the account's active orders. An empty accountID means the
// main brokerage account, here and in every account-scoped call below.
func (c *Client) Orders(ctx context.Context, accountID string) ([]wire.Order, error) {
	var orders []wire.Order
	if err := c.get(ctx, BucketOrders, "/orders", accountQuery(accountID), &orders); err != nil {
		return nil, err
	}
	return orders, nil
}

// LimitOrder places a limit order of lots lots at price. The service wants
// price to be a multiple of the instrument's minPriceIncrement.
func (c *Client) LimitOrder(ctx context.Context, accountID, figi string, lots int, op Operation, price float64) (wire.PlacedOrder, error) {
	if err := checkOrder(figi, lots, op); err != nil {
		return wire.PlacedOrder{}, fmt.Errorf("tinkoff: limit order: %w", err)
	}
	if price <= 0 || math.IsInf(price, 0) || math.IsNaN(price) {
		return wire.PlacedOrder{}, fmt.Errorf("tinkoff: limit order: invalid price %v", price)
	}
	q := accountQuery(accountID)
	q.Set("figi", figi)
	body := wire.LimitOrderRequest{Lots: lots, Operation: string(op), Price: price}
	var placed wire.PlacedOrder
	if err := c.post(ctx, BucketLimitOrder, "/orders/limit-order", q, body, &placed); err != nil {
		return wire.PlacedOrder{}, err
	}
	return placed, nil
}

// MarketOrder places a market order of lots lots.
func (c *Client) MarketOrder(ctx context.Context, accountID, figi string, lots int, op Operation) (wire.PlacedOrder, error) {
	if err := checkOrder(figi, lots, op); err != nil {
		return wire.PlacedOrder{}, fmt.Errorf("tinkoff: market order: %w", err)
	}
	q := accountQuery(accountID)
	q.Set("figi", figi)
	body := wire.MarketOrderRequest{Lots: lots, Operation: string(op)}
	var placed wire.PlacedOrder
	if err := c.post(ctx, BucketMarketOrder, "/orders/market-order", q, body, &placed); err != nil {
		return wire.PlacedOrder{}, err
	}
	return placed, nil
}

func checkOrder(figi string, lots int, op Operation) error {
	switch {
	case figi == "":
		return errors.New("empty FIGI")
	case lots <= 0:
		return fmt.Errorf("lots must be positive, got %d", lots)
	case !op.valid():
		return fmt.Errorf("operation %q is neither Buy nor Sell", op)
	}
	return nil
}

// CancelOrder cancels an order. Cancelling one already cancelled is an
// *APIError with code ORDER_ERROR.
func (c *Client) CancelOrder(ctx context.Context, accountID, orderID string) error {
	if orderID == "" {
		return errors.New("tinkoff: cancel order: empty order id")
	}
	q := accountQuery(accountID)
	q.Set("orderId", orderID)
	return c.post(ctx, BucketCancel, "/orders/cancel", q, nil, nil)
}

// Portfolio returns the account's positions (currency cash included, as
// positions of type Currency).
func (c *Client) Portfolio(ctx context.Context, accountID string) (wire.Portfolio, error) {
	var p wire.Portfolio
	err := c.get(ctx, BucketPortfolio, "/portfolio", accountQuery(accountID), &p)
	return p, err
}

// PortfolioCurrencies returns the account's currency balances.
func (c *Client) PortfolioCurrencies(ctx context.Context, accountID string) (wire.Currencies, error) {
	var cur wire.Currencies
	err := c.get(ctx, BucketPortfolio, "/portfolio/currencies", accountQuery(accountID), &cur)
	return cur, err
}

// Operations returns the account's operations in [from, to], optionally
// only those of one FIGI. The service fails large ranges with HTTP 500;
// callers should ask for weeks, not years.
func (c *Client) Operations(ctx context.Context, accountID string, from, to time.Time, figi string) ([]wire.Operation, error) {
	if !from.Before(to) {
		return nil, fmt.Errorf("tinkoff: operations: from %s is not before to %s",
			from.Format(wire.TimeLayout), to.Format(wire.TimeLayout))
	}
	q := accountQuery(accountID)
	q.Set("from", from.Format(wire.TimeLayout))
	q.Set("to", to.Format(wire.TimeLayout))
	if figi != "" {
		q.Set("figi", figi)
	}
	var ops wire.Operations
	if err := c.get(ctx, BucketOperations, "/operations", q, &ops); err != nil {
		return nil, err
	}
	return ops.Operations, nil
}

// Accounts returns the user's brokerage accounts (the main one and the IIS;
// v1 shows no others).
func (c *Client) Accounts(ctx context.Context) ([]wire.UserAccount, error) {
	var acc wire.UserAccounts
	if err := c.get(ctx, BucketUser, "/user/accounts", nil, &acc); err != nil {
		return nil, err
	}
	return acc.Accounts, nil
}

// The sandbox management calls are all POSTs under "/sandbox/", relative to
// a sandbox BaseURL (so the full path repeats the segment:
// /openapi/sandbox/sandbox/register). brokerAccountId goes in the query
// string as the swagger says, not in the body as the official SDK sent it.

// SandboxRegister creates the sandbox account; accountType is "Tinkoff",
// "TinkoffIis", or empty for the service's default.
func (c *Client) SandboxRegister(ctx context.Context, accountType string) (wire.SandboxAccount, error) {
	var body any
	if accountType != "" {
		body = wire.SandboxRegisterRequest{BrokerAccountType: accountType}
	}
	var acc wire.SandboxAccount
	err := c.post(ctx, BucketSandbox, "/sandbox/register", nil, body, &acc)
	return acc, err
}

// SandboxSetCurrencyBalance sets the account's balance in currency (e.g. "USD").
func (c *Client) SandboxSetCurrencyBalance(ctx context.Context, accountID, currency string, balance float64) error {
	if currency == "" {
		return errors.New("tinkoff: sandbox currency balance: empty currency")
	}
	body := wire.SandboxSetCurrencyBalanceRequest{Currency: currency, Balance: balance}
	return c.post(ctx, BucketSandbox, "/sandbox/currencies/balance", accountQuery(accountID), body, nil)
}

// SandboxSetPositionBalance sets the account's position in figi.
func (c *Client) SandboxSetPositionBalance(ctx context.Context, accountID, figi string, balance float64) error {
	if figi == "" {
		return errors.New("tinkoff: sandbox position balance: empty FIGI")
	}
	body := wire.SandboxSetPositionBalanceRequest{FIGI: figi, Balance: balance}
	return c.post(ctx, BucketSandbox, "/sandbox/positions/balance", accountQuery(accountID), body, nil)
}

// SandboxRemove deletes the sandbox account.
func (c *Client) SandboxRemove(ctx context.Context, accountID string) error {
	return c.post(ctx, BucketSandbox, "/sandbox/remove", accountQuery(accountID), nil, nil)
}

// SandboxClear removes every position of the sandbox account.
func (c *Client) SandboxClear(ctx context.Context, accountID string) error {
	return c.post(ctx, BucketSandbox, "/sandbox/clear", accountQuery(accountID), nil, nil)
}
