package v2sim

import (
	"strings"

	"tvbridge/tinvest/wire"
)

// tradingRoutes registers the users, orders, operations and sandbox
// methods. The OrdersService and OperationsService methods reach every
// account of the token; their SandboxService mirrors the sandbox ones only.
func (a *restAPI) tradingRoutes(r map[string]handler) {
	r[wire.MethodGetAccounts] = unary(a.getAccounts(false))
	r[wire.MethodGetInfo] = unary(a.getInfo)
	r[wire.MethodGetSandboxAccounts] = unary(a.getAccounts(true))
	for _, sandbox := range []bool{false, true} {
		pick := func(prod, sb string) string {
			if sandbox {
				return sb
			}
			return prod
		}
		r[pick(wire.MethodPostOrder, wire.MethodPostSandboxOrder)] = unary(a.postOrder(sandbox))
		r[pick(wire.MethodReplaceOrder, wire.MethodReplaceSandboxOrder)] = unary(a.replaceOrder(sandbox))
		r[pick(wire.MethodCancelOrder, wire.MethodCancelSandboxOrder)] = unary(a.cancelOrder(sandbox))
		r[pick(wire.MethodGetOrderState, wire.MethodGetSandboxOrderState)] = unary(a.getOrderState(sandbox))
		r[pick(wire.MethodGetOrders, wire.MethodGetSandboxOrders)] = unary(a.getOrders(sandbox))
		r[pick(wire.MethodGetPositions, wire.MethodGetSandboxPositions)] = unary(a.getPositions(sandbox))
		r[pick(wire.MethodGetPortfolio, wire.MethodGetSandboxPortfolio)] = unary(a.getPortfolio(sandbox))
		r[pick(wire.MethodGetOperations, wire.MethodGetSandboxOperations)] = unary(a.getOperations(sandbox))
	}
	r[wire.MethodOpenSandboxAccount] = unary(a.openSandboxAccount)
	r[wire.MethodCloseSandboxAccount] = unary(a.closeSandboxAccount)
	r[wire.MethodSandboxPayIn] = unary(a.sandboxPayIn)
}

func (a *restAPI) getAccounts(sandbox bool) func(*restCtx, *wire.GetAccountsRequest) (any, error) {
	return func(rc *restCtx, req *wire.GetAccountsRequest) (any, error) {
		list := a.srv.broker.accounts(rc.token, sandbox, rc.now)
		if req.Status == wire.AccountStatusClosed || req.Status == wire.AccountStatusNew {
			list = []wire.Account{} // every simulated account is open
		}
		return wire.GetAccountsResponse{Accounts: list}, nil
	}
}

func (a *restAPI) getInfo(*restCtx, *wire.Empty) (any, error) {
	return wire.GetInfoResponse{Tariff: "investor", QualifiedForWorkWith: []string{}, RiskLevelCode: "low"}, nil
}

func (a *restAPI) postOrder(sandbox bool) func(*restCtx, *wire.PostOrderRequest) (any, error) {
	return func(rc *restCtx, req *wire.PostOrderRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			o, err := b.post(acc, req, rc.now)
			if err != nil {
				return nil, err
			}
			return o.postResponse(b.commission, rc.tracking, rc.now), nil
		})
	}
}

func (a *restAPI) replaceOrder(sandbox bool) func(*restCtx, *wire.ReplaceOrderRequest) (any, error) {
	return func(rc *restCtx, req *wire.ReplaceOrderRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			o, err := b.replace(acc, req, rc.now)
			if err != nil {
				return nil, err
			}
			return o.postResponse(b.commission, rc.tracking, rc.now), nil
		})
	}
}

func (a *restAPI) cancelOrder(sandbox bool) func(*restCtx, *wire.CancelOrderRequest) (any, error) {
	return func(rc *restCtx, req *wire.CancelOrderRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			if err := b.cancel(acc, req.OrderID, req.OrderIDType, rc.now); err != nil {
				return nil, err
			}
			return wire.CancelOrderResponse{Time: wire.At(rc.now)}, nil
		})
	}
}

func (a *restAPI) getOrderState(sandbox bool) func(*restCtx, *wire.GetOrderStateRequest) (any, error) {
	return func(rc *restCtx, req *wire.GetOrderStateRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			o := acc.find(req.OrderID, req.OrderIDType)
			if o == nil {
				return nil, notFound(codeOrderNotFound, "order %s not found", req.OrderID)
			}
			return o.state(b.commission), nil
		})
	}
}

func (a *restAPI) getOrders(sandbox bool) func(*restCtx, *wire.GetOrdersRequest) (any, error) {
	return func(rc *restCtx, req *wire.GetOrdersRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			r := wire.GetOrdersResponse{Orders: []wire.OrderState{}}
			for _, o := range acc.orders {
				if o.active() {
					r.Orders = append(r.Orders, o.state(b.commission))
				}
			}
			return r, nil
		})
	}
}

func (a *restAPI) getPositions(sandbox bool) func(*restCtx, *wire.PositionsRequest) (any, error) {
	return func(rc *restCtx, req *wire.PositionsRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			return b.positions(acc), nil
		})
	}
}

func (a *restAPI) getPortfolio(sandbox bool) func(*restCtx, *wire.PortfolioRequest) (any, error) {
	return func(rc *restCtx, req *wire.PortfolioRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			return b.portfolio(acc, rc.now), nil
		})
	}
}

func (a *restAPI) getOperations(sandbox bool) func(*restCtx, *wire.OperationsRequest) (any, error) {
	return func(rc *restCtx, req *wire.OperationsRequest) (any, error) {
		b := a.srv.broker
		return b.with(rc.token, req.AccountID, sandbox, rc.now, func(acc *account) (any, error) {
			r := b.operations(acc, req.From.Time, req.To.Time, req.FIGI)
			if req.State != "" && req.State != wire.OperationStateUnspecified {
				kept := r.Operations[:0]
				for _, op := range r.Operations {
					if op.State == req.State {
						kept = append(kept, op)
					}
				}
				r.Operations = kept
			}
			return r, nil
		})
	}
}

func (a *restAPI) openSandboxAccount(rc *restCtx, req *wire.OpenSandboxAccountRequest) (any, error) {
	return wire.OpenSandboxAccountResponse{AccountID: a.srv.broker.openSandbox(rc.token, req.Name, rc.now)}, nil
}

func (a *restAPI) closeSandboxAccount(rc *restCtx, req *wire.CloseSandboxAccountRequest) (any, error) {
	if err := a.srv.broker.closeSandbox(rc.token, req.AccountID, rc.now); err != nil {
		return nil, err
	}
	return wire.Empty{}, nil
}

// sandboxPayIn credits a sandbox account (roubles when no currency is
// given) and answers the currency's balance.
func (a *restAPI) sandboxPayIn(rc *restCtx, req *wire.SandboxPayInRequest) (any, error) {
	if req.Amount.Quotation().Sign() <= 0 {
		return nil, invalid(codeBadRequest, "the amount must be positive")
	}
	cur := strings.ToUpper(req.Amount.Currency)
	if cur == "" {
		cur = "RUB"
	}
	b := a.srv.broker
	return b.with(rc.token, req.AccountID, true, rc.now, func(acc *account) (any, error) {
		b.payInLocked(acc, cur, req.Amount.Float64(), rc.now)
		return wire.SandboxPayInResponse{Balance: money(cur, acc.cash[cur])}, nil
	})
}
