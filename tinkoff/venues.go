package tinkoff

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"tvbridge"
)

// Venue is where and when an instrument trades: the fields the v1 catalogue
// lacks and TradingView needs.
type Venue struct {
	Exchange string // uppercase venue name
	Timezone string // IANA timezone of Session
	Session  string // TradingView session string, see tvbridge.ParseSchedule
}

// VenueRule assigns a venue to instruments by type and currency; an empty
// Type or Currency matches any.
type VenueRule struct {
	Type     tvbridge.InstrumentType
	Currency string
	Venue    Venue
}

func (r VenueRule) matches(typ tvbridge.InstrumentType, currency string) bool {
	return (r.Type == "" || r.Type == typ) && (r.Currency == "" || strings.EqualFold(r.Currency, currency))
}

// VenueRules is the table that fills Exchange/Timezone/Session for catalogue
// entries that do not carry them (the real v1 service never did; the
// simulator does). The first matching rule wins, else Fallback.
type VenueRules struct {
	Rules    []VenueRule
	Fallback Venue
}

// Sessions of the default rules, as the venues ran in the v1 era (2021-2022).
const (
	// MOEX equities, bonds and ETFs: opening auction at 09:50, main session
	// to 18:40, closing auction to 18:50, Monday to Friday.
	SessionMOEXMain = "0950-1850:23456"
	// MOEX FX market (USD000UTSTOM and friends): 07:00 to 23:50.
	SessionMOEXFX = "0700-2350:23456"
	// SPB Exchange, foreign shares: 07:00 to 01:45 the next morning, Moscow
	// time. Moscow has no DST, so this is exactly 04:00-22:45 UTC; written in
	// UTC the session does not cross midnight and each trading day is the
	// weekday it opens on, which is also how the upstream dates its day
	// candles. Written in Moscow time it would be an overnight session that
	// TradingView (and tvbridge.Schedule) date by the day it closes.
	SessionSPB = "0400-2245:23456"
)

// DefaultVenueRules returns the built-in table:
//
//	Currency (any)              MOEX  Europe/Moscow  0700-2350:23456
//	any RUB instrument          MOEX  Europe/Moscow  0950-1850:23456
//	Stock in USD, EUR or HKD    SPB   Etc/UTC        0400-2245:23456
//	Etf or Bond in any currency MOEX  Europe/Moscow  0950-1850:23456
//	anything else (fallback)    TINKOFF Europe/Moscow 24x7
//
// Foreign-currency ETFs (FinEx, Tinkoff's own) and eurobonds traded on MOEX.
// The fallback is 24x7 on purpose: for a venue we cannot name, a too-wide
// session only shows quiet hours, whereas a guessed narrow one would hide
// real trades outside it.
func DefaultVenueRules() VenueRules {
	moex := Venue{Exchange: "MOEX", Timezone: "Europe/Moscow", Session: SessionMOEXMain}
	spb := Venue{Exchange: "SPB", Timezone: "Etc/UTC", Session: SessionSPB}
	return VenueRules{
		Rules: []VenueRule{
			{Type: tvbridge.Currency, Venue: Venue{Exchange: "MOEX", Timezone: "Europe/Moscow", Session: SessionMOEXFX}},
			{Currency: "RUB", Venue: moex},
			{Type: tvbridge.Stock, Currency: "USD", Venue: spb},
			{Type: tvbridge.Stock, Currency: "EUR", Venue: spb},
			{Type: tvbridge.Stock, Currency: "HKD", Venue: spb},
			{Type: tvbridge.ETF, Venue: moex},
			{Type: tvbridge.Bond, Venue: moex},
		},
		Fallback: Venue{Exchange: "TINKOFF", Timezone: "Europe/Moscow", Session: "24x7"},
	}
}

func (v VenueRules) isZero() bool { return len(v.Rules) == 0 && v.Fallback == (Venue{}) }

// Lookup returns the venue for an instrument type and currency.
func (v VenueRules) Lookup(typ tvbridge.InstrumentType, currency string) Venue {
	for _, r := range v.Rules {
		if r.matches(typ, currency) {
			return r.Venue
		}
	}
	return v.Fallback
}

// Validate checks every rule and the fallback: an exchange name, a known
// timezone, and a session tvbridge.ParseSchedule accepts.
func (v VenueRules) Validate() error {
	var errs []error
	for i, r := range v.Rules {
		if err := r.Venue.validate(); err != nil {
			errs = append(errs, fmt.Errorf("venue rule %d (%s/%s): %w", i, r.Type, r.Currency, err))
		}
	}
	if err := v.Fallback.validate(); err != nil {
		errs = append(errs, fmt.Errorf("fallback venue: %w", err))
	}
	return errors.Join(errs...)
}

func (v Venue) validate() error {
	if v.Exchange == "" {
		return errors.New("empty exchange")
	}
	if _, err := tvbridge.ParseSchedule(v.Session, v.Timezone); err != nil {
		return err
	}
	return nil
}

// venueFiller fills the venue fields of a batch of instruments, validating
// each distinct (session, timezone) pair once: time.LoadLocation reads a
// file on every call, and a catalogue has thousands of entries.
type venueFiller struct {
	rules   VenueRules
	log     *slog.Logger
	checked map[[2]string]error
}

func newVenueFiller(rules VenueRules, log *slog.Logger) *venueFiller {
	return &venueFiller{rules: rules, log: log, checked: make(map[[2]string]error)}
}

func (f *venueFiller) valid(session, timezone string) error {
	key := [2]string{session, timezone}
	err, ok := f.checked[key]
	if !ok {
		_, err = tvbridge.ParseSchedule(session, timezone)
		f.checked[key] = err
	}
	return err
}

// fill completes inst's Exchange/Timezone/Session. Fields the upstream sent
// are kept and missing ones come from the matching rule; if the resulting
// session does not parse, the rule's timezone and session replace the
// upstream's (logged). An invalid rule is a configuration error.
func (f *venueFiller) fill(inst *tvbridge.Instrument) error {
	rule := f.rules.Lookup(inst.Type, inst.Currency)
	if inst.Exchange == "" {
		inst.Exchange = strings.ToUpper(rule.Exchange)
	}
	if inst.Timezone == "" {
		inst.Timezone = rule.Timezone
	}
	if inst.Session == "" {
		inst.Session = rule.Session
	}
	err := f.valid(inst.Session, inst.Timezone)
	if err == nil {
		return nil
	}
	if inst.Session == rule.Session && inst.Timezone == rule.Timezone {
		return fmt.Errorf("instrument %s: venue rule for %s/%s: %w", inst.FIGI, inst.Type, inst.Currency, err)
	}
	f.log.Warn("tinkoff: invalid session from upstream, using the venue rule", "figi", inst.FIGI,
		"session", inst.Session, "timezone", inst.Timezone, "err", err)
	inst.Timezone, inst.Session = rule.Timezone, rule.Session
	if err := f.valid(inst.Session, inst.Timezone); err != nil {
		return fmt.Errorf("instrument %s: venue rule for %s/%s: %w", inst.FIGI, inst.Type, inst.Currency, err)
	}
	return nil
}
