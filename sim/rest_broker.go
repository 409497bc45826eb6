package sim

import (
	"tvbridge/tinkoff/wire"
)

// The REST handlers of orders, portfolio, operations, user and sandbox:
// parse the request, then run the broker under its lock.

func (c *restCtx) space() spaceKey { return spaceKey{token: c.token, sandbox: c.sandbox} }

// onAccount runs f on the account named by brokerAccountId.
func (a *restAPI) onAccount(c *restCtx, f func(*account) (any, error)) (any, error) {
	return a.srv.broker.withAccount(c.space(), c.query.Get("brokerAccountId"), c.now, f)
}

func (a *restAPI) orders(c *restCtx) (any, error) {
	return a.onAccount(c, func(acc *account) (any, error) { return activeOrders(acc), nil })
}

func (a *restAPI) limitOrder(c *restCtx) (any, error) {
	figi, err := c.requireQuery("figi")
	if err != nil {
		return nil, err
	}
	var body wire.LimitOrderRequest
	if err := c.decodeBody(&body); err != nil {
		return nil, err
	}
	b := a.srv.broker
	return a.onAccount(c, func(acc *account) (any, error) {
		req, err := b.validateOrder(figi, body.Lots, body.Operation, c.now)
		if err != nil {
			return nil, err
		}
		req.price = body.Price
		o, err := b.placeLimit(acc, req, c.now)
		if err != nil {
			return nil, err
		}
		return placedOrder(o), nil
	})
}

func (a *restAPI) marketOrder(c *restCtx) (any, error) {
	figi, err := c.requireQuery("figi")
	if err != nil {
		return nil, err
	}
	var body wire.MarketOrderRequest
	if err := c.decodeBody(&body); err != nil {
		return nil, err
	}
	b := a.srv.broker
	return a.onAccount(c, func(acc *account) (any, error) {
		req, err := b.validateOrder(figi, body.Lots, body.Operation, c.now)
		if err != nil {
			return nil, err
		}
		o, err := b.placeMarket(acc, req, c.now)
		if err != nil {
			return nil, err
		}
		return placedOrder(o), nil
	})
}

func (a *restAPI) cancelOrder(c *restCtx) (any, error) {
	id, err := c.requireQuery("orderId")
	if err != nil {
		return nil, err
	}
	return a.onAccount(c, func(acc *account) (any, error) {
		return struct{}{}, a.srv.broker.cancel(acc, id)
	})
}

func (a *restAPI) portfolio(c *restCtx) (any, error) {
	return a.onAccount(c, func(acc *account) (any, error) { return a.srv.broker.portfolio(acc, c.now), nil })
}

func (a *restAPI) portfolioCurrencies(c *restCtx) (any, error) {
	return a.onAccount(c, func(acc *account) (any, error) { return a.srv.broker.currencies(acc), nil })
}

func (a *restAPI) operations(c *restCtx) (any, error) {
	from, err := c.queryTime("from")
	if err != nil {
		return nil, err
	}
	to, err := c.queryTime("to")
	if err != nil {
		return nil, err
	}
	figi := c.query.Get("figi")
	return a.onAccount(c, func(acc *account) (any, error) {
		return a.srv.broker.operations(acc, from, to, figi), nil
	})
}

func (a *restAPI) userAccounts(c *restCtx) (any, error) {
	return a.srv.broker.accounts(c.space(), c.now), nil
}

func (a *restAPI) sandboxRegister(c *restCtx) (any, error) {
	var body wire.SandboxRegisterRequest
	if err := c.decodeOptionalBody(&body); err != nil {
		return nil, err
	}
	return a.srv.broker.register(c.token, body.BrokerAccountType)
}

func (a *restAPI) sandboxCurrencyBalance(c *restCtx) (any, error) {
	var body wire.SandboxSetCurrencyBalanceRequest
	if err := c.decodeBody(&body); err != nil {
		return nil, err
	}
	if !sandboxCurrencies[body.Currency] {
		return nil, errorf(codeValidation, "[currency]: unknown currency %q", body.Currency)
	}
	if body.Balance < 0 || body.Balance > 1e15 {
		return nil, errorf(codeValidation, "[balance]: must be between 0 and 1e15")
	}
	b := a.srv.broker
	return a.onAccount(c, func(acc *account) (any, error) {
		b.setCash(acc, body.Currency, body.Balance, c.now)
		return struct{}{}, nil
	})
}

func (a *restAPI) sandboxPositionBalance(c *restCtx) (any, error) {
	var body wire.SandboxSetPositionBalanceRequest
	if err := c.decodeBody(&body); err != nil {
		return nil, err
	}
	in, ok := a.srv.market.Instrument(body.FIGI)
	if !ok {
		return nil, errorf(codeNotFound, "Instrument not found by figi=%s", body.FIGI)
	}
	b := a.srv.broker
	return a.onAccount(c, func(acc *account) (any, error) {
		return struct{}{}, b.setPosition(acc, in, body.Balance, c.now)
	})
}

func (a *restAPI) sandboxRemove(c *restCtx) (any, error) {
	return struct{}{}, a.srv.broker.remove(c.space(), c.query.Get("brokerAccountId"), c.now)
}

func (a *restAPI) sandboxClear(c *restCtx) (any, error) {
	return a.onAccount(c, func(acc *account) (any, error) {
		a.srv.broker.clear(acc)
		return struct{}{}, nil
	})
}
