package v2sim

import (
	"crypto/sha256"
	"fmt"
	"math"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinvest/wire"
)

// instrument is a model instrument with the identities v2 gives it: uid,
// position and asset uids, class code, the trading schedule it follows and
// its tick as an exact decimal. The model knows FIGIs only; the rest is
// derived from the FIGI, so it is the same on every run and for every seed.
type instrument struct {
	*market.Instrument
	uid, positionUID, assetUID string
	classCode                  string
	schedule                   *scheduleGroup
	kind                       wire.InstrumentType
	typeName                   string // "share", "bond", ... as GetInstrumentBy and GetPortfolio spell it
	tick                       wire.Quotation
	realExchange               wire.RealExchange
}

// scheduleGroup is one trading schedule of TradingSchedules: the
// instruments of one venue, session and timezone.
type scheduleGroup struct {
	name     string // the instruments' "exchange"
	schedule *tvbridge.Schedule
	tz       string
	sample   *instrument // whose statuses tell the auctions
}

// catalog indexes the model's instruments by every id v2 names them by.
type catalog struct {
	m         *market.Market
	list      []*instrument
	byFIGI    map[string]*instrument
	byUID     map[string]*instrument
	byPosUID  map[string]*instrument
	byTicker  map[string][]*instrument
	schedules []*scheduleGroup
	byName    map[string]*scheduleGroup
}

func newCatalog(m *market.Market) *catalog {
	c := &catalog{
		m:        m,
		byFIGI:   make(map[string]*instrument),
		byUID:    make(map[string]*instrument),
		byPosUID: make(map[string]*instrument),
		byTicker: make(map[string][]*instrument),
		byName:   make(map[string]*scheduleGroup),
	}
	groups := map[string]*scheduleGroup{} // by venue|session|timezone
	perVenue := map[string]int{}
	for _, mi := range m.Instruments() {
		in := newInstrument(mi)
		key := mi.Exchange + "|" + mi.Session + "|" + mi.Timezone
		g := groups[key]
		if g == nil {
			// The first schedule of a venue takes its name; later ones get
			// a suffix, so the venue (the name's first word) stays the same.
			perVenue[mi.Exchange]++
			name := strings.ToUpper(mi.Exchange)
			if n := perVenue[mi.Exchange]; n > 1 {
				name = fmt.Sprintf("%s_%d", name, n)
			}
			g = &scheduleGroup{name: name, schedule: mi.Schedule, tz: mi.Timezone, sample: in}
			groups[key] = g
			c.schedules = append(c.schedules, g)
			c.byName[name] = g
		}
		in.schedule = g
		c.list = append(c.list, in)
		c.byFIGI[in.FIGI] = in
		c.byUID[in.uid] = in
		c.byPosUID[in.positionUID] = in
		c.byTicker[in.Ticker] = append(c.byTicker[in.Ticker], in)
	}
	return c
}

func newInstrument(mi *market.Instrument) *instrument {
	in := &instrument{
		Instrument:  mi,
		uid:         derivedUUID("uid", mi.FIGI),
		positionUID: derivedUUID("position", mi.FIGI),
		assetUID:    derivedUUID("asset", mi.FIGI),
	}
	tick, err := wire.QuotationFromFloat(mi.MinPriceIncrement)
	if err != nil || tick.Sign() <= 0 {
		tick = wire.Quotation{Nano: 1} // never for the model's instruments
	}
	in.tick = tick
	switch mi.Type {
	case tvbridge.Bond:
		in.kind, in.typeName, in.classCode = wire.InstrumentTypeBond, "bond", "TQOB"
	case tvbridge.ETF:
		in.kind, in.typeName, in.classCode = wire.InstrumentTypeETF, "etf", "TQTF"
	case tvbridge.Currency:
		in.kind, in.typeName, in.classCode = wire.InstrumentTypeCurrency, "currency", "CETS"
	default:
		in.kind, in.typeName, in.classCode = wire.InstrumentTypeShare, "share", "TQBR"
	}
	switch mi.Exchange {
	case "MOEX":
		in.realExchange = wire.RealExchangeMOEX
	case "SPB":
		in.realExchange, in.classCode = wire.RealExchangeRTS, "SPBXM"
	default:
		in.realExchange, in.classCode = wire.RealExchangeUnspecified, strings.ToUpper(mi.Exchange)
	}
	return in
}

// derivedUUID is a stable UUID-shaped id of a FIGI (SHA-256, version 5
// bits set), so uids survive restarts like the model's data does.
func derivedUUID(what, figi string) string {
	b := sha256.Sum256([]byte("tvbridge sim v2|" + what + "|" + figi))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// lookup finds an instrument by uid or FIGI, as instrumentId fields name
// them.
func (c *catalog) lookup(id string) (*instrument, bool) {
	if in, ok := c.byUID[id]; ok {
		return in, true
	}
	in, ok := c.byFIGI[id]
	return in, ok
}

// by answers GetInstrumentBy's id types.
func (c *catalog) by(idType wire.InstrumentIDType, classCode, id string) (*instrument, bool) {
	switch idType {
	case wire.InstrumentIDTypeFIGI:
		in, ok := c.byFIGI[id]
		return in, ok
	case wire.InstrumentIDTypeUID:
		in, ok := c.byUID[id]
		return in, ok
	case wire.InstrumentIDTypePositionUID:
		in, ok := c.byPosUID[id]
		return in, ok
	case wire.InstrumentIDTypeTicker:
		for _, in := range c.byTicker[id] {
			if in.classCode == classCode {
				return in, true
			}
		}
	}
	return nil, false
}

// fields is the instrument's common v2 description at now.
func (in *instrument) fields(m *market.Market, now time.Time) wire.InstrumentFields {
	f := wire.InstrumentFields{
		FIGI: in.FIGI, Ticker: in.Ticker, ClassCode: in.classCode, ISIN: in.ISIN, Lot: int32(in.Lot),
		Currency: strings.ToLower(in.Currency), Name: in.Name, Exchange: in.schedule.name,
		CountryOfRisk: "RU", TradingStatus: v2Status(m.Status(in.FIGI, now)), MinPriceIncrement: in.tick,
		BuyAvailableFlag: true, SellAvailableFlag: true, APITradeAvailableFlag: true,
		UID: in.uid, PositionUID: in.positionUID, AssetUID: in.assetUID, RealExchange: in.realExchange,
		WeekendFlag: in.Session == "24x7",
		// No trade happens before the listing day's local midnight, so
		// history starts there at the earliest.
		First1MinCandleDate: wire.At(in.Listed), First1DayCandleDate: wire.At(in.Listed),
	}
	if in.Currency == "USD" {
		f.CountryOfRisk = "US"
	}
	return f
}

// price is a model price (a multiple of the tick) as the exact decimal.
func (in *instrument) price(p float64) wire.Quotation {
	q, err := wire.SnapToTick(p, in.tick)
	if err != nil {
		return amount(p)
	}
	return q
}

// amount is a money amount as a decimal, rounded to nine digits.
func amount(x float64) wire.Quotation {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return wire.Quotation{}
	}
	q, err := wire.QuotationFromFloat(x)
	if err != nil {
		return wire.Quotation{}
	}
	return q
}

// money is an amount in a currency, as MoneyValue spells currencies.
func money(currency string, x float64) wire.MoneyValue {
	return wire.Money(strings.ToLower(currency), amount(x))
}

// v2Statuses maps the model's trading statuses to v2's names.
var v2Statuses = map[tvbridge.TradeStatus]wire.SecurityTradingStatus{
	tvbridge.StatusNotAvailableForTrading:  wire.TradingStatusNotAvailableForTrading,
	tvbridge.StatusOpeningPeriod:           wire.TradingStatusOpeningPeriod,
	tvbridge.StatusClosingPeriod:           wire.TradingStatusClosingPeriod,
	tvbridge.StatusBreakInTrading:          wire.TradingStatusBreakInTrading,
	tvbridge.StatusNormalTrading:           wire.TradingStatusNormalTrading,
	tvbridge.StatusClosingAuction:          wire.TradingStatusClosingAuction,
	tvbridge.StatusDiscreteAuction:         wire.TradingStatusDiscreteAuction,
	tvbridge.StatusOpeningAuction:          wire.TradingStatusOpeningAuctionPeriod,
	tvbridge.StatusTradingAtClosingAuction: wire.TradingStatusTradingAtClosingAuctionPrice,
	tvbridge.StatusSessionAssigned:         wire.TradingStatusSessionAssigned,
	tvbridge.StatusSessionClose:            wire.TradingStatusSessionClose,
	tvbridge.StatusSessionOpen:             wire.TradingStatusSessionOpen,
	tvbridge.StatusDealerNormalTrading:     wire.TradingStatusDealerNormalTrading,
	tvbridge.StatusDealerBreakInTrading:    wire.TradingStatusDealerBreakInTrading,
	tvbridge.StatusDealerNotAvailable:      wire.TradingStatusDealerNotAvailableForTrading,
}

func v2Status(s tvbridge.TradeStatus) wire.SecurityTradingStatus {
	if v, ok := v2Statuses[s]; ok {
		return v
	}
	return wire.TradingStatusUnspecified
}
