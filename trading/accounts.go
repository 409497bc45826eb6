package trading

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"tvbridge"
)

// errUnknownAccount is the answer for an account that does not exist and
// for one that belongs to someone else: the two must look the same.
func errUnknownAccount(id string) error {
	return tvbridge.Errorf(tvbridge.ErrUnknownAccount, "accountId", "no account %q", id)
}

// Accounts returns the user's accounts, opening them at the venue on the
// user's first call.
func (m *Manager) Accounts(ctx context.Context, user string) ([]tvbridge.Account, error) {
	accts, err := m.userAccounts(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]tvbridge.Account, 0, len(accts))
	for _, a := range accts {
		out = append(out, a.info)
	}
	return out, nil
}

// userAccounts returns the user's accounts. The first call for a user asks
// the venue for them and commits them, with the user as their owner.
func (m *Manager) userAccounts(ctx context.Context, user string) ([]*account, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if user == "" {
		return nil, tvbridge.Errorf(tvbridge.ErrUnknownAccount, "", "no user")
	}
	if accts, ok := m.knownUser(user); ok {
		return accts, nil
	}
	// One venue call per user, however many requests arrive at once.
	lock := m.userLock(user)
	lock.Lock()
	defer lock.Unlock()
	if accts, ok := m.knownUser(user); ok {
		return accts, nil
	}
	return m.openAccounts(ctx, user)
}

func (m *Manager) knownUser(user string) ([]*account, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	accts, ok := m.users[user]
	return accts, ok
}

func (m *Manager) userLock(user string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.userLocks[user]
	if l == nil {
		l = &sync.Mutex{}
		m.userLocks[user] = l
	}
	return l
}

// openAccounts asks the venue for the user's accounts and commits them.
func (m *Manager) openAccounts(ctx context.Context, user string) ([]*account, error) {
	vctx, cancel := context.WithTimeout(ctx, m.cfg.VenueTimeout)
	defer cancel()
	venueAccts, err := m.cfg.Venue.Accounts(vctx, user)
	if err != nil {
		return nil, asTradingError(err, "the venue could not list the accounts")
	}
	if len(venueAccts) == 0 {
		return nil, nil // asked again next time: the venue may open one later
	}
	var c Change
	for _, va := range venueAccts {
		c.Accounts = append(c.Accounts, AccountRecord{
			Account: tvbridge.Account{
				ID:       "A" + strconv.FormatUint(m.nextSeq(), 10),
				Owner:    user,
				Name:     va.Name,
				Type:     va.Type,
				Currency: va.Currency,
			},
			VenueAccount: va.ID,
			Cash:         va.Cash,
		})
	}
	c.Seq = m.seq.Load()
	if err := m.cfg.Store.Commit(ctx, c); err != nil {
		return nil, fmt.Errorf("trading: commit accounts of %q: %w", user, err)
	}
	accts := make([]*account, 0, len(c.Accounts))
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rec := range c.Accounts {
		a := newAccount(rec)
		m.accounts[a.id] = a
		accts = append(accts, a)
	}
	m.users[user] = accts
	m.log.Info("trading accounts opened", "user", user, "accounts", len(accts))
	return accts, nil
}

// owned returns the account if user owns it, and ErrUnknownAccount
// otherwise, whether or not it exists.
func (m *Manager) owned(ctx context.Context, user, accountID string) (*account, error) {
	accts, err := m.userAccounts(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, a := range accts {
		if a.id == accountID {
			return a, nil
		}
	}
	return nil, errUnknownAccount(accountID)
}

// instrument looks figi up and checks it trades in the account's currency:
// an account keeps one balance, so P/L in another currency cannot be added
// to it.
func (m *Manager) instrument(a *account, figi string) (tvbridge.Instrument, error) {
	if figi == "" {
		return tvbridge.Instrument{}, tvbridge.Errorf(tvbridge.ErrInvalidRequest, "instrument", "instrument is required")
	}
	inst, ok := m.cfg.Instrument(figi)
	if !ok {
		return tvbridge.Instrument{}, tvbridge.Errorf(tvbridge.ErrUnknownInstrument, "instrument", "unknown instrument %q", figi)
	}
	if a.info.Currency != "" && inst.Currency != "" && !strings.EqualFold(a.info.Currency, inst.Currency) {
		return tvbridge.Instrument{}, tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonCurrency, "instrument",
			tvbridge.ErrorParams{FIGI: figi, Currency: inst.Currency},
			"%s trades in %s; this account holds %s", figi, inst.Currency, a.info.Currency)
	}
	return inst, nil
}

// State returns the account's money, consistent with its positions.
func (m *Manager) State(ctx context.Context, user, accountID string) (tvbridge.AccountState, error) {
	a, err := m.owned(ctx, user, accountID)
	if err != nil {
		return tvbridge.AccountState{}, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return m.stateLocked(a, nil), nil
}

// stateLocked computes the account state; with extra, as if that order
// were also working. Callers hold a.mu.
//
// Balance is cash: starting cash + realized P/L - commissions. Positions are
// valued at the price they would close at (bid for longs, ask for shorts).
// Margin used is the value of open positions, longs and shorts alike (no
// leverage: a short needs margin equal to its value), plus what working
// orders would add to that value if they filled (see reserved).
func (m *Manager) stateLocked(a *account, extra *OrderRecord) tvbridge.AccountState {
	rec := a.rec
	balance := rec.Cash + rec.RealizedPL - rec.Commissions
	var upl, value float64
	for _, p := range a.posList {
		if p.Qty == 0 {
			continue
		}
		mark := m.quote(p.FIGI).mark(p.Qty > 0)
		if mark <= 0 {
			mark = p.AvgPrice
		}
		upl += (mark - p.AvgPrice) * p.Qty
		value += mark * abs(p.Qty)
	}
	used := value + m.reserved(a, extra)
	equity := balance + upl
	return tvbridge.AccountState{
		Balance:         round9(balance),
		UnrealizedPL:    round9(upl),
		Equity:          round9(equity),
		RealizedPL:      round9(rec.RealizedPL),
		Commissions:     round9(rec.Commissions),
		MarginUsed:      round9(used),
		MarginAvailable: round9(equity - used),
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
