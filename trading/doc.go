// Package trading is the trading core: it implements tvbridge.Broker, the
// trading half of TradingView's Broker API, on any tvbridge.Venue (the
// paper-trading engine or a real broker's order API).
//
// The Manager keeps, per user, the accounts the venue gave them and, per
// account, orders, positions, executions and money. It validates orders
// (lot, price grid, stop direction, bracket sides, funds), runs the order
// state machine (placing -> working/inactive -> filled/cancelled/rejected,
// never out of a final status), and emulates what venues lack: stops,
// stop-limits, brackets (stop loss and take profit, OCO between them and
// OSO with their parent, optionally trailing) are held here and trigger on
// trades from the tape; DAY orders are cancelled at the end of their
// instrument's trading day.
//
// # Money
//
// An account holds cash in the currencies its venue gave it (AccountRecord
// Balances, the account currency first) and trades the instruments quoted
// in them; an instrument in any other currency is refused (ReasonCurrency).
// Each instrument settles in its own currency, as at a brokerage: an order
// is paid for there, and its P/L and commissions are booked there. Per
// currency, the balance is starting cash + realized P/L - commissions;
// positions are valued at the price they would close at (bid for a long,
// ask for a short, else the last trade). There is no leverage and no
// borrowing across currencies: margin used is the value of open positions,
// long or short, plus what working orders would add to it (see reserved),
// and an order that needs more than the margin available in its currency
// is refused (ReasonFunds). State's totals, and positions' UnrealizedPL,
// are in the account currency at Config.Rates' live rates; a currency
// without a rate is left out of the totals, with Rate 0 to say so.
// Accounts stored when an account had one currency load as that currency.
//
// # Idempotency
//
// PlaceOrder is idempotent by RequestID per account: the order keeps the
// validated request that placed it (durably, with the order), and the same
// request again returns that order and places nothing, however often and
// across restarts. The same RequestID with any other parameter (instrument,
// side, type, quantity, prices, duration, brackets) is refused with
// ErrRequestReused naming the first field that differs, as payment APIs
// refuse a reused idempotency key: it is neither a retry nor a new order.
//
// # Durability
//
// Every change (an order placed, modified, triggered, filled, cancelled,
// with its position, execution and balance effects) is staged under the
// account's lock and committed to the Store in one transaction before it
// becomes visible or the method returns. Fills carry the venue's ExecID and
// are applied once. On start New loads everything, re-arms held orders,
// and Run hands the venue orders that were live to Venue.Restore.
//
// # Concurrency
//
// Each account has a read-write lock: reads (Orders, Positions, State)
// copy from memory under the read lock and never touch the disk; changes
// hold the write lock for their commit. Venue calls are made without locks.
// Run's goroutines apply venue events in order, check held orders on each
// trade, and expire DAY orders.
package trading
