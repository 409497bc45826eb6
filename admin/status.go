package admin

import "time"

// Status is the snapshot /api/status serves to the console. The wiring
// fills it from the running services each time Config.Status is called
// (the console polls it every 2 seconds); leave out what does not apply:
// every list may be nil and every section zero.
type Status struct {
	// Time is when the snapshot was taken; zero means now.
	Time time.Time `json:"time"`
	// Version of the binary (e.g. from debug.ReadBuildInfo) and when the
	// process started.
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Flags are the settings in effect, as --print-config shows them:
	// secrets redacted by the wiring, never passed here in clear.
	Flags []Flag `json:"flags"`

	Upstream Upstream `json:"upstream"`
	// Backfill is the progress of each background task that fills history
	// (the initial backfill, the recent minutes, gaps), as progress bars.
	Backfill []Progress `json:"backfill"`
	REST     RESTBudget `json:"rest"`
	// Stale lists instruments in session whose data is not live (no stream,
	// a silent stream, or an update older than the readiness threshold).
	Stale []StaleInstrument `json:"stale"`
	// Streaming is the TradingView /streaming connections open now.
	Streaming int `json:"streaming_connections"`
	// Facts are other figures worth a look, shown as a table in this
	// order: e.g. minutes differing from the exchange, store size, the
	// catalogue's age.
	Facts []Fact `json:"facts"`

	// Log holds recent warnings and errors, oldest first. Left nil, it is
	// filled from Config.Log.
	Log []LogEntry `json:"log"`
}

// Flag is one setting in effect.
type Flag struct {
	Name  string `json:"name"`  // without dashes, e.g. "listen"
	Value string `json:"value"` // "<redacted>" for secrets
}

// Fact is one named figure, already formatted.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Upstream is the state of the market-data stream.
type Upstream struct {
	// State is "ok" (every instrument streams), "degraded" (some do not)
	// or "down" (none does), as ingest's health says.
	State string `json:"state"`
	// Catalogue is where the instrument catalogue came from: "upstream"
	// or "stored".
	Catalogue   string `json:"catalogue"`
	Instruments int    `json:"instruments"` // in the catalogue
	Streaming   int    `json:"streaming"`   // with a live stream
	// ConnectionCap is how many stream connections the upstream allows
	// (the configured count until the upstream shows it accepts fewer).
	ConnectionCap int          `json:"connection_cap"`
	Connections   []Connection `json:"connections"`
}

// Connection is one upstream stream connection slot.
type Connection struct {
	Index int `json:"index"`
	// State is "up", "dialing", "backoff", "idle" or "parked" (beyond
	// the connection cap).
	State       string    `json:"state"`
	Instruments []string  `json:"instruments"`         // symbols subscribed on it
	LastData    time.Time `json:"last_data,omitzero"`  // its last data update
	RetryAt     time.Time `json:"retry_at,omitzero"`   // next dial while in backoff
	Silent      bool      `json:"silent,omitempty"`    // reopened for silence, no data since
	Reconnects  int64     `json:"reconnects,omitzero"` // dials after the first
}

// Progress is one task's advance: Done of Total Units.
type Progress struct {
	Name  string `json:"name"`  // e.g. "initial backfill"
	Done  int64  `json:"done"`  // <= Total
	Total int64  `json:"total"` // 0: unknown
	Unit  string `json:"unit"`  // e.g. "instruments", "minutes"
}

// RESTBudget is the upstream REST rate limit and its use.
type RESTBudget struct {
	PerMinute   int    `json:"per_minute"`   // requests allowed per minute
	UsedMinute  int    `json:"used_minute"`  // requests made in the last minute
	Queued      int    `json:"queued"`       // requests waiting for budget
	Requests    uint64 `json:"requests"`     // since start
	RateLimited uint64 `json:"rate_limited"` // 429 answers since start
	Errors      uint64 `json:"errors"`       // failed calls since start
}

// StaleInstrument is an instrument in session whose data is not live.
type StaleInstrument struct {
	Symbol     string    `json:"symbol"`
	LastUpdate time.Time `json:"last_update,omitzero"` // zero: none since start
	Reason     string    `json:"reason"`               // e.g. "silent", "refused", "no stream"
}

// LogEntry is one log record at warning level or above.
type LogEntry struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // "WARN", "ERROR"
	Message string    `json:"msg"`
	Attrs   []Attr    `json:"attrs,omitempty"`
}

// Attr is one attribute of a LogEntry, its value as slog's text handler
// would print it.
type Attr struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}
