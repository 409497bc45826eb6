package trading

import (
	"context"

	"tvbridge"
)

// Hooks for the synchronous tests (the property test drives the Manager
// without Run, so every step is complete when the call returns).

// ApplyEventForTest applies a venue event as Run's event loop would.
func (m *Manager) ApplyEventForTest(ev tvbridge.VenueEvent) { m.applyEvent(ev) }

// TradeForTest checks held orders against a trade, as Run's tape loop
// would, and waits for the venue submissions it started.
func (m *Manager) TradeForTest(figi string, price float64) {
	m.onTrade(figi, price, 0)
	m.bgWG.Wait()
}

// ExpireForTest runs the DAY expiry as of now and waits for its venue calls.
func (m *Manager) ExpireForTest() {
	m.expireDue(context.Background())
	m.bgWG.Wait()
}

// WaitBackgroundForTest waits for background venue calls.
func (m *Manager) WaitBackgroundForTest() { m.bgWG.Wait() }
