package trading

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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
		info := a.info
		info.Currencies = slices.Clone(info.Currencies)
		out = append(out, info)
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
			Balances:     balancesOf(va),
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
		a.version = m.versions.Add(1)
		m.accounts[a.id] = a
		accts = append(accts, a)
	}
	m.users[user] = accts
	m.log.Info("trading accounts opened", "user", user, "accounts", len(accts))
	return accts, nil
}

// balancesOf is the starting money of a venue account, the account
// currency first, each currency once.
func balancesOf(va tvbridge.VenueAccount) []CashRecord {
	out := []CashRecord{{Currency: va.Currency}}
	for _, cash := range va.Cash {
		i := slices.IndexFunc(out, func(c CashRecord) bool { return c.Currency == cash.Currency })
		if i < 0 {
			out = append(out, CashRecord{Currency: cash.Currency})
			i = len(out) - 1
		}
		out[i].Deposit += cash.Amount
	}
	return out
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

// instrument looks figi up and checks the account holds cash in its
// currency: an order is paid for, and its P/L booked, in the instrument's
// currency, so the account must have a balance there to trade it.
func (m *Manager) instrument(a *account, figi string) (tvbridge.Instrument, error) {
	if figi == "" {
		return tvbridge.Instrument{}, tvbridge.Errorf(tvbridge.ErrInvalidRequest, "instrument", "instrument is required")
	}
	inst, ok := m.cfg.Instrument(figi)
	if !ok {
		return tvbridge.Instrument{}, tvbridge.Errorf(tvbridge.ErrUnknownInstrument, "instrument", "unknown instrument %q", figi)
	}
	// An account without a currency (none named by its venue) trades any.
	if inst.Currency != "" && a.info.Currency != "" && !slices.Contains(a.info.Currencies, inst.Currency) {
		return tvbridge.Instrument{}, tvbridge.Refusef(tvbridge.ErrUnsupported, tvbridge.ReasonCurrency, "instrument",
			tvbridge.ErrorParams{FIGI: figi, Currency: inst.Currency},
			"%s trades in %s; this account holds %v", figi, inst.Currency, a.info.Currencies)
	}
	return inst, nil
}

// currencyOf is the currency figi settles in: the instrument's, or the
// account's for an instrument without one (or no longer known).
func (m *Manager) currencyOf(a *account, figi string) string {
	if inst, ok := m.cfg.Instrument(figi); ok && inst.Currency != "" {
		return inst.Currency
	}
	return a.info.Currency
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
