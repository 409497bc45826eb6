package api

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"tvbridge"
)

// Symbol is one TradingView symbol, derived from one upstream instrument.
type Symbol struct {
	Name   string // [A-Z0-9._], unique, stable across restarts
	Ticker string // id in /history and /streaming; == Name unless the upstream ticker differs
	Group  string // group id, e.g. "tvbridge_stocks"

	Instrument tvbridge.Instrument

	// PriceScale is a power of ten and MinMovement an integer, so that the
	// tick MinMovement/PriceScale equals the instrument's MinPriceIncrement.
	PriceScale, MinMovement int

	// PriceDefaults reports that the increment was unknown and PriceScale and
	// MinMovement are the documented defaults.
	PriceDefaults bool

	Type         string // TradingView SymbolType: stock, bond or forex
	BaseCurrency string // forex only; "" when unknown
	Exchange     string // uppercase venue, used for exchange-listed and -traded
	Timezone     string // from TradingView's timezone enum
	Session      string // session-regular: breaks merged, one range per weekday

	// Schedule is Session parsed in Timezone. /history aligns multi-minute
	// bars to its period opens.
	Schedule *tvbridge.Schedule
}

// CatalogOptions tune how instruments become symbols.
type CatalogOptions struct {
	// GroupPrefix starts every group id; lowercase letters and "_" only,
	// ending in "_". Default "tvbridge_".
	GroupPrefix string
	// Defaults for instruments whose upstream left the field empty. An
	// instrument still missing a timezone or session is skipped.
	DefaultExchange, DefaultTimezone, DefaultSession string
	// Logger receives a warning per skipped instrument. Default slog.Default().
	Logger *slog.Logger
	// Names are the names published before, by FIGI (see Catalog.Names).
	// TradingView forbids renaming a symbol, so an instrument keeps its name
	// even when a newer instrument would now claim it; the newcomer gets the
	// next candidate instead.
	Names map[string]string
}

// Skipped is an instrument BuildCatalog could not publish, and why.
type Skipped struct {
	FIGI, Ticker, Reason string
}

// Catalog is the immutable set of symbols the data endpoints publish. Its
// /symbol_info and /groups responses are encoded once, when it is built.
type Catalog struct {
	symbols []*Symbol          // sorted by Name
	byID    map[string]*Symbol // Name and Ticker -> symbol
	byFIGI  map[string]*Symbol // FIGI -> symbol
	groups  []string           // sorted group ids with at least one symbol
	skipped []Skipped

	allInfo   []byte            // /symbol_info
	groupInfo map[string][]byte // /symbol_info?group=id
	groupList []byte            // /groups
}

// typeRule maps an upstream instrument type to a TradingView symbol type and
// the suffix of its group. TradingView 1.4.14 has no "fund" type, so ETFs are
// published as stocks, in their own group.
type typeRule struct{ symbolType, group string }

var typeRules = map[tvbridge.InstrumentType]typeRule{
	tvbridge.Stock:    {"stock", "stocks"},
	tvbridge.Bond:     {"bond", "bonds"},
	tvbridge.ETF:      {"stock", "etfs"},
	tvbridge.Currency: {"forex", "currencies"},
}

// BuildCatalog turns the upstream catalogue into TradingView symbols.
//
// Names are the upper-cased ticker with every character outside [A-Z0-9._]
// replaced by "_". When several instruments share a name, each becomes
// EXCHANGE_NAME, and if that still collides, EXCHANGE_NAME_FIGI. The result
// depends only on the instruments, not on their order, so names are stable
// across restarts. Instruments that cannot be published (unknown type,
// unusable session or timezone) are skipped, logged and listed by Skipped;
// only a broken option or a duplicate FIGI fails the whole catalog.
func BuildCatalog(insts []tvbridge.Instrument, opts CatalogOptions) (*Catalog, error) {
	if opts.GroupPrefix == "" {
		opts.GroupPrefix = "tvbridge_"
	}
	if !validGroupPrefix(opts.GroupPrefix) {
		return nil, fmt.Errorf("group prefix %q: want lowercase letters and '_', ending in '_'", opts.GroupPrefix)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Catalog{byID: make(map[string]*Symbol), byFIGI: make(map[string]*Symbol)}
	seen := make(map[string]bool)
	for _, inst := range insts {
		if inst.FIGI != "" && seen[inst.FIGI] {
			return nil, fmt.Errorf("instrument %s (%s) listed twice", inst.FIGI, inst.Ticker)
		}
		seen[inst.FIGI] = true
		sym, err := newSymbol(inst, opts)
		if err != nil {
			opts.Logger.Warn("symbol_info: instrument skipped", "figi", inst.FIGI, "ticker", inst.Ticker, "reason", err)
			c.skipped = append(c.skipped, Skipped{FIGI: inst.FIGI, Ticker: inst.Ticker, Reason: err.Error()})
			continue
		}
		c.symbols = append(c.symbols, sym)
	}
	assignNames(c.symbols, opts.Names)
	assignTickers(c.symbols)
	sort.Slice(c.symbols, func(i, j int) bool { return c.symbols[i].Name < c.symbols[j].Name })
	for _, s := range c.symbols {
		c.byID[s.Name] = s
		c.byID[s.Ticker] = s
		c.byFIGI[s.Instrument.FIGI] = s
	}
	if err := c.encode(); err != nil {
		return nil, fmt.Errorf("encode symbol_info: %w", err)
	}
	return c, nil
}

// newSymbol derives everything but Name and Ticker from one instrument.
func newSymbol(inst tvbridge.Instrument, opts CatalogOptions) (*Symbol, error) {
	rule, ok := typeRules[inst.Type]
	if !ok {
		return nil, fmt.Errorf("instrument type %q has no TradingView symbol type", inst.Type)
	}
	if inst.FIGI == "" {
		return nil, fmt.Errorf("no FIGI")
	}
	exchange := sanitizeName(orDefault(inst.Exchange, opts.DefaultExchange))
	if exchange == "" {
		return nil, fmt.Errorf("no exchange")
	}
	tz, err := tradingViewZone(orDefault(inst.Timezone, opts.DefaultTimezone))
	if err != nil {
		return nil, err
	}
	session := orDefault(inst.Session, opts.DefaultSession)
	if _, err := tvbridge.ParseSchedule(session, tz); err != nil {
		return nil, err
	}
	merged, err := MergeSession(session)
	if err != nil {
		return nil, err
	}
	sched, err := tvbridge.ParseSchedule(merged, tz)
	if err != nil {
		return nil, fmt.Errorf("merged session: %w", err)
	}
	scale, move, exact := PriceScale(inst.MinPriceIncrement)
	s := &Symbol{
		Group:         opts.GroupPrefix + rule.group,
		Instrument:    inst,
		PriceScale:    scale,
		MinMovement:   move,
		PriceDefaults: !exact,
		Type:          rule.symbolType,
		Exchange:      exchange,
		Timezone:      tz,
		Session:       merged,
		Schedule:      sched,
	}
	if inst.Type == tvbridge.Currency {
		s.BaseCurrency = baseCurrency(inst)
	}
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// baseCurrency guesses the first currency of a currency pair from its ticker:
// the Moscow Exchange spells them USD000UTSTOM or EUR_RUB__TOM.
func baseCurrency(inst tvbridge.Instrument) string {
	t := inst.Ticker
	if len(t) < 3 {
		return ""
	}
	for _, c := range t[:3] {
		if c < 'A' || c > 'Z' {
			return ""
		}
	}
	if t[:3] == inst.Currency {
		return ""
	}
	return t[:3]
}

// sanitizeName upper-cases v and replaces what TradingView forbids in a
// symbol name (anything outside [A-Z0-9._]) with "_".
func sanitizeName(v string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(v) {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// assignNames gives every symbol a unique name; see BuildCatalog. Names
// published before are kept first.
func assignNames(syms []*Symbol, published map[string]string) {
	base := func(s *Symbol) string {
		return sanitizeName(orDefault(s.Instrument.Ticker, s.Instrument.FIGI))
	}
	candidates := []func(*Symbol) string{
		base,
		func(s *Symbol) string { return s.Exchange + "_" + base(s) },
		func(s *Symbol) string { return s.Exchange + "_" + base(s) + "_" + sanitizeName(s.Instrument.FIGI) },
	}
	pending := keepPublished(syms, published)
	for i, name := range candidates {
		counts := make(map[string]int)
		for _, s := range syms {
			if s.Name != "" {
				counts[s.Name]++
			}
		}
		for _, s := range pending {
			counts[name(s)]++
		}
		var clash []*Symbol
		for _, s := range pending {
			if counts[name(s)] == 1 || i == len(candidates)-1 {
				s.Name = name(s)
			} else {
				clash = append(clash, s)
			}
		}
		pending = clash
	}
}

// keepPublished names the symbols that have a valid, unique published name
// and returns the others.
func keepPublished(syms []*Symbol, published map[string]string) []*Symbol {
	claims := make(map[string]int)
	for _, s := range syms {
		if n := published[s.Instrument.FIGI]; n != "" {
			claims[n]++
		}
	}
	var pending []*Symbol
	for _, s := range syms {
		n := published[s.Instrument.FIGI]
		if n != "" && claims[n] == 1 && sanitizeName(n) == n {
			s.Name = n
		} else {
			pending = append(pending, s)
		}
	}
	return pending
}

// assignTickers keeps the upstream ticker as the data id where it is usable:
// unique, free of commas (TradingView's tests reject them) and not another
// symbol's name. Otherwise the ticker is the name.
func assignTickers(syms []*Symbol) {
	names := make(map[string]bool, len(syms))
	tickers := make(map[string]int, len(syms))
	for _, s := range syms {
		names[s.Name] = true
		tickers[s.Instrument.Ticker]++
	}
	for _, s := range syms {
		t := s.Instrument.Ticker
		usable := t != "" && tickers[t] == 1 && !strings.Contains(t, ",") && (t == s.Name || !names[t])
		if usable {
			s.Ticker = t
		} else {
			s.Ticker = s.Name
		}
	}
}

func validGroupPrefix(p string) bool {
	if !strings.HasSuffix(p, "_") {
		return false
	}
	for _, c := range p {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// Lookup finds a symbol by name or ticker.
func (c *Catalog) Lookup(id string) (*Symbol, bool) {
	s, ok := c.byID[id]
	return s, ok
}

// ByFIGI finds the symbol of an instrument, e.g. for the bar engine to set
// Tick.Symbol to the symbol's Ticker, the id /streaming uses.
func (c *Catalog) ByFIGI(figi string) (*Symbol, bool) {
	s, ok := c.byFIGI[figi]
	return s, ok
}

// Names returns every symbol's name by FIGI, to be kept for the next
// BuildCatalog (CatalogOptions.Names).
func (c *Catalog) Names() map[string]string {
	names := make(map[string]string, len(c.symbols))
	for _, s := range c.symbols {
		names[s.Instrument.FIGI] = s.Name
	}
	return names
}

// Instrument returns the instrument behind a FIGI with the timezone and
// session the catalogue published for it, the schedule trading follows.
func (c *Catalog) Instrument(figi string) (tvbridge.Instrument, bool) {
	s, ok := c.byFIGI[figi]
	if !ok {
		return tvbridge.Instrument{}, false
	}
	inst := s.Instrument
	inst.Timezone, inst.Session = s.Timezone, s.Session
	return inst, true
}

// Symbols returns the symbols sorted by name. The slice must not be modified.
func (c *Catalog) Symbols() []*Symbol { return c.symbols }

// Groups returns the ids of the groups that have symbols, sorted.
func (c *Catalog) Groups() []string { return c.groups }

// Skipped returns the instruments left out of the catalog.
func (c *Catalog) Skipped() []Skipped { return c.skipped }
