package tinvest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tvbridge"
	"tvbridge/tinvest/stream"
	"tvbridge/tinvest/wire"
)

// Kind is an instrument list of the catalogue.
type Kind string

// Instrument kinds.
const (
	KindShares     Kind = "shares"
	KindBonds      Kind = "bonds"
	KindETFs       Kind = "etfs"
	KindCurrencies Kind = "currencies"
	KindFutures    Kind = "futures"
)

// AllKinds is every kind, the default catalogue.
var AllKinds = []Kind{KindShares, KindBonds, KindETFs, KindCurrencies, KindFutures}

// Futures is the domain type of futures contracts (the domain's constants
// name the v1 kinds only).
const Futures tvbridge.InstrumentType = "Futures"

// CatalogueEntry is one instrument as the service lists it: the fields
// every kind has, and which list it came from.
type CatalogueEntry struct {
	Kind Kind
	wire.InstrumentFields
}

// Catalogue returns the instruments of the given kinds (nil: all), with
// the given status filter (empty: INSTRUMENT_STATUS_BASE, the instruments
// tradable through the API), one Instruments-bucket request per kind.
func (c *Client) Catalogue(ctx context.Context, kinds []Kind, status wire.InstrumentStatus) ([]CatalogueEntry, error) {
	if kinds == nil {
		kinds = AllKinds
	}
	if status == "" {
		status = wire.InstrumentStatusBase
	}
	req := wire.InstrumentsRequest{InstrumentStatus: status}
	var out []CatalogueEntry
	for _, k := range kinds {
		var fields []wire.InstrumentFields
		switch k {
		case KindShares:
			var r wire.SharesResponse
			if err := c.Call(ctx, wire.MethodShares, req, &r); err != nil {
				return nil, err
			}
			for _, i := range r.Instruments {
				fields = append(fields, i.InstrumentFields)
			}
		case KindBonds:
			var r wire.BondsResponse
			if err := c.Call(ctx, wire.MethodBonds, req, &r); err != nil {
				return nil, err
			}
			for _, i := range r.Instruments {
				fields = append(fields, i.InstrumentFields)
			}
		case KindETFs:
			var r wire.EtfsResponse
			if err := c.Call(ctx, wire.MethodEtfs, req, &r); err != nil {
				return nil, err
			}
			for _, i := range r.Instruments {
				fields = append(fields, i.InstrumentFields)
			}
		case KindCurrencies:
			var r wire.CurrenciesResponse
			if err := c.Call(ctx, wire.MethodCurrencies, req, &r); err != nil {
				return nil, err
			}
			for _, i := range r.Instruments {
				fields = append(fields, i.InstrumentFields)
			}
		case KindFutures:
			var r wire.FuturesResponse
			if err := c.Call(ctx, wire.MethodFutures, req, &r); err != nil {
				return nil, err
			}
			for _, i := range r.Instruments {
				fields = append(fields, i.InstrumentFields)
			}
		default:
			return nil, fmt.Errorf("tinvest: unknown instrument kind %q", k)
		}
		for _, f := range fields {
			out = append(out, CatalogueEntry{Kind: k, InstrumentFields: f})
		}
	}
	return out, nil
}

// InstrumentBy looks one instrument up by FIGI, uid, position uid, or
// ticker (with classCode). An unknown one gives an error for which
// IsNotFound is true.
func (c *Client) InstrumentBy(ctx context.Context, idType wire.InstrumentIDType, classCode, id string) (wire.Instrument, error) {
	if id == "" {
		return wire.Instrument{}, errors.New("tinvest: InstrumentBy: empty id")
	}
	var r wire.InstrumentResponse
	err := c.Call(ctx, wire.MethodGetInstrumentBy, wire.InstrumentRequest{IDType: idType, ClassCode: classCode, ID: id}, &r)
	return r.Instrument, err
}

// TradingSchedules returns the schedules of every exchange (exchange "")
// or one, for [from, to] (at most 14 days).
func (c *Client) TradingSchedules(ctx context.Context, exchange string, from, to time.Time) ([]wire.TradingSchedule, error) {
	var r wire.TradingSchedulesResponse
	err := c.Call(ctx, wire.MethodTradingSchedules, wire.TradingSchedulesRequest{Exchange: exchange, From: wire.At(from), To: wire.At(to)}, &r)
	return r.Exchanges, err
}

// Book depths the service accepts, for REST and the stream.
var bookDepths = []int{1, 10, 20, 30, 40, 50}

// MaxOrderBookDepth is the deepest book the service serves.
const MaxOrderBookDepth = 50

// ServiceDepth maps a requested depth to the nearest allowed one up (1, 10,
// 20, 30, 40, 50): 5 gives 10. Depths outside 1..50 give 0.
func ServiceDepth(depth int) int {
	for _, d := range bookDepths {
		if depth >= 1 && depth <= d {
			return d
		}
	}
	return 0
}

// OrderBook returns a REST snapshot of the book: depth 1..50 is asked at
// the nearest allowed depth up and trimmed back to depth levels. instrumentID
// is a uid or FIGI; the book's FIGI is figi.
func (c *Client) OrderBook(ctx context.Context, figi, instrumentID string, depth int) (tvbridge.OrderBook, error) {
	d := ServiceDepth(depth)
	if d == 0 {
		return tvbridge.OrderBook{}, fmt.Errorf("tinvest: OrderBook: depth %d outside 1..%d", depth, MaxOrderBookDepth)
	}
	if instrumentID == "" {
		instrumentID = figi
	}
	if instrumentID == "" {
		return tvbridge.OrderBook{}, errors.New("tinvest: OrderBook: no instrument")
	}
	var r wire.GetOrderBookResponse
	if err := c.Call(ctx, wire.MethodGetOrderBook, wire.GetOrderBookRequest{InstrumentID: instrumentID, Depth: int32(d)}, &r); err != nil {
		return tvbridge.OrderBook{}, err
	}
	if figi == "" {
		figi = r.FIGI
	}
	book := tvbridge.OrderBook{
		FIGI:       figi,
		Depth:      depth,
		Bids:       levels(r.Bids, depth),
		Asks:       levels(r.Asks, depth),
		LastPrice:  r.LastPrice.Float64(),
		ClosePrice: r.ClosePrice.Float64(),
	}
	return book, nil
}

func levels(in []wire.Order, depth int) []tvbridge.PriceLevel {
	if len(in) > depth {
		in = in[:depth]
	}
	if len(in) == 0 {
		return nil
	}
	out := make([]tvbridge.PriceLevel, len(in))
	for i, o := range in {
		out[i] = tvbridge.PriceLevel{Price: o.Price.Float64(), Quantity: float64(o.Quantity)}
	}
	return out
}

// TradingStatus returns an instrument's trading status, mapped to the
// domain (see stream.TradeStatus), and the service's raw answer.
func (c *Client) TradingStatus(ctx context.Context, instrumentID string) (tvbridge.TradeStatus, wire.GetTradingStatusResponse, error) {
	var r wire.GetTradingStatusResponse
	if err := c.Call(ctx, wire.MethodGetTradingStatus, wire.GetTradingStatusRequest{InstrumentID: instrumentID}, &r); err != nil {
		return tvbridge.StatusUnknown, r, err
	}
	return stream.TradeStatus(r.TradingStatus), r, nil
}

// TradingStatuses returns the statuses of several instruments at once.
func (c *Client) TradingStatuses(ctx context.Context, instrumentIDs []string) ([]wire.GetTradingStatusResponse, error) {
	var r wire.GetTradingStatusesResponse
	err := c.Call(ctx, wire.MethodGetTradingStatuses, wire.GetTradingStatusesRequest{InstrumentID: instrumentIDs}, &r)
	return r.TradingStatuses, err
}

// LastPrices returns the last trade prices of several instruments.
func (c *Client) LastPrices(ctx context.Context, instrumentIDs []string) ([]wire.LastPrice, error) {
	var r wire.GetLastPricesResponse
	err := c.Call(ctx, wire.MethodGetLastPrices, wire.GetLastPricesRequest{InstrumentID: instrumentIDs}, &r)
	return r.LastPrices, err
}

// venueName is the domain's uppercase venue for an instrument: MOEX, SPB,
// OTC or DEALER from its real exchange, else the first word of its
// schedule name ("FORTS_EVENING" gives "FORTS").
func venueName(f wire.InstrumentFields) string {
	switch f.RealExchange {
	case wire.RealExchangeMOEX:
		return "MOEX"
	case wire.RealExchangeRTS:
		return "SPB"
	case wire.RealExchangeOTC:
		return "OTC"
	case wire.RealExchangeDealer:
		return "DEALER"
	}
	name, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(f.Exchange)), "_")
	return name
}

// domainType maps a catalogue kind to the domain's instrument type.
func domainType(k Kind) tvbridge.InstrumentType {
	switch k {
	case KindShares:
		return tvbridge.Stock
	case KindBonds:
		return tvbridge.Bond
	case KindETFs:
		return tvbridge.ETF
	case KindCurrencies:
		return tvbridge.Currency
	case KindFutures:
		return Futures
	}
	return tvbridge.InstrumentType(k)
}

// instrumentFrom converts a catalogue entry, without Timezone and Session
// (see Upstream.Instruments). An entry without a FIGI is keyed by its uid.
func instrumentFrom(e CatalogueEntry) tvbridge.Instrument {
	figi := strings.TrimSpace(e.FIGI)
	if figi == "" {
		figi = e.UID
	}
	return tvbridge.Instrument{
		FIGI:              figi,
		Ticker:            e.Ticker,
		ISIN:              e.ISIN,
		Name:              e.Name,
		Type:              domainType(e.Kind),
		Currency:          strings.ToUpper(e.Currency),
		Lot:               int(e.Lot),
		MinPriceIncrement: e.MinPriceIncrement.Float64(),
		Exchange:          venueName(e.InstrumentFields),
		UID:               e.UID,
		ClassCode:         e.ClassCode,
		FirstMinute:       e.First1MinCandleDate.Time,
	}
}
