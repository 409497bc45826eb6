package tinkoff

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"tvbridge/tinkoff/wire"

	"tvbridge"
)

// Stocks returns the stock catalogue.
func (c *Client) Stocks(ctx context.Context) ([]tvbridge.Instrument, error) {
	return c.catalogue(ctx, "/market/stocks")
}

// Bonds returns the bond catalogue.
func (c *Client) Bonds(ctx context.Context) ([]tvbridge.Instrument, error) {
	return c.catalogue(ctx, "/market/bonds")
}

// ETFs returns the ETF catalogue.
func (c *Client) ETFs(ctx context.Context) ([]tvbridge.Instrument, error) {
	return c.catalogue(ctx, "/market/etfs")
}

// Currencies returns the currency catalogue.
func (c *Client) Currencies(ctx context.Context) ([]tvbridge.Instrument, error) {
	return c.catalogue(ctx, "/market/currencies")
}

// Instruments returns the whole catalogue: stocks, bonds, ETFs and currencies.
func (c *Client) Instruments(ctx context.Context) ([]tvbridge.Instrument, error) {
	var all []tvbridge.Instrument
	for _, list := range []func(context.Context) ([]tvbridge.Instrument, error){c.Stocks, c.Bonds, c.ETFs, c.Currencies} {
		part, err := list(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, part...)
	}
	return all, nil
}

// InstrumentByFIGI looks one instrument up. An unknown FIGI gives an error
// for which IsNotFound is true.
func (c *Client) InstrumentByFIGI(ctx context.Context, figi string) (tvbridge.Instrument, error) {
	if figi == "" {
		return tvbridge.Instrument{}, errors.New("tinkoff: InstrumentByFIGI: empty FIGI")
	}
	var r wire.MarketInstrument
	if err := c.get(ctx, BucketMarket, "/market/search/by-figi", url.Values{"figi": {figi}}, &r); err != nil {
		return tvbridge.Instrument{}, err
	}
	if r.FIGI == "" {
		// An Ok envelope without an instrument: treat it like the service's NOT_FOUND.
		return tvbridge.Instrument{}, &APIError{Method: "GET", Path: "/market/search/by-figi", HTTPStatus: 200,
			Code: CodeNotFound, Message: "empty instrument for FIGI " + strconv.Quote(figi)}
	}
	inst := instrumentFrom(r)
	if err := newVenueFiller(c.venues, c.log).fill(&inst); err != nil {
		return tvbridge.Instrument{}, fmt.Errorf("tinkoff: InstrumentByFIGI: %w", err)
	}
	return inst, nil
}

// InstrumentsByTicker returns every instrument with this ticker: a ticker is
// unique only within one venue, so several may come back.
func (c *Client) InstrumentsByTicker(ctx context.Context, ticker string) ([]tvbridge.Instrument, error) {
	if ticker == "" {
		return nil, errors.New("tinkoff: InstrumentsByTicker: empty ticker")
	}
	return c.instrumentList(ctx, "/market/search/by-ticker", url.Values{"ticker": {ticker}})
}

func (c *Client) catalogue(ctx context.Context, path string) ([]tvbridge.Instrument, error) {
	return c.instrumentList(ctx, path, nil)
}

func (c *Client) instrumentList(ctx context.Context, path string, q url.Values) ([]tvbridge.Instrument, error) {
	var list wire.MarketInstrumentList
	if err := c.get(ctx, BucketMarket, path, q, &list); err != nil {
		return nil, err
	}
	return convertInstruments(list.Instruments, newVenueFiller(c.venues, c.log))
}

// convertInstruments converts catalogue entries and fills their venues.
// Entries without a FIGI cannot be subscribed or charted and are skipped.
func convertInstruments(in []wire.MarketInstrument, venues *venueFiller) ([]tvbridge.Instrument, error) {
	out := make([]tvbridge.Instrument, 0, len(in))
	for _, r := range in {
		if strings.TrimSpace(r.FIGI) == "" {
			continue
		}
		inst := instrumentFrom(r)
		if err := venues.fill(&inst); err != nil {
			return nil, fmt.Errorf("tinkoff: catalogue: %w", err)
		}
		out = append(out, inst)
	}
	return out, nil
}

// MaxOrderBookDepth is the deepest book the service serves.
const MaxOrderBookDepth = 20

// OrderBook returns a REST snapshot of the book, depth 1..20. Its CamelCase
// tradeStatus is mapped to the domain's snake_case constant.
func (c *Client) OrderBook(ctx context.Context, figi string, depth int) (tvbridge.OrderBook, error) {
	if figi == "" {
		return tvbridge.OrderBook{}, errors.New("tinkoff: OrderBook: empty FIGI")
	}
	if depth < 1 || depth > MaxOrderBookDepth {
		return tvbridge.OrderBook{}, fmt.Errorf("tinkoff: OrderBook: depth %d outside 1..%d", depth, MaxOrderBookDepth)
	}
	q := url.Values{"figi": {figi}, "depth": {strconv.Itoa(depth)}}
	var r wire.Orderbook
	if err := c.get(ctx, BucketMarket, "/market/orderbook", q, &r); err != nil {
		return tvbridge.OrderBook{}, err
	}
	return bookFrom(r, figi, depth), nil
}
