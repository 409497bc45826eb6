package sim

import (
	"math"
	"time"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinkoff/wire"
)

func marketInstrument(in *market.Instrument) wire.MarketInstrument {
	return wire.MarketInstrument{
		FIGI:              in.FIGI,
		Ticker:            in.Ticker,
		ISIN:              in.ISIN,
		MinPriceIncrement: in.MinPriceIncrement,
		Lot:               float64(in.Lot),
		MinQuantity:       float64(in.MinQuantity),
		Currency:          in.Currency,
		Name:              in.Name,
		Type:              string(in.Type),
		Exchange:          in.Exchange,
		Timezone:          in.Timezone,
		Session:           in.Session,
	}
}

func instrumentList(list []*market.Instrument, keep func(*market.Instrument) bool) wire.MarketInstrumentList {
	out := wire.MarketInstrumentList{Instruments: []wire.MarketInstrument{}}
	for _, in := range list {
		if keep(in) {
			out.Instruments = append(out.Instruments, marketInstrument(in))
		}
	}
	out.Total = float64(len(out.Instruments))
	return out
}

// instrumentsOf serves /market/stocks, /bonds, /etfs and /currencies.
func (a *restAPI) instrumentsOf(typ tvbridge.InstrumentType) func(*restCtx) (any, error) {
	return func(*restCtx) (any, error) {
		return instrumentList(a.srv.market.Instruments(), func(in *market.Instrument) bool { return in.Type == typ }), nil
	}
}

// searchByFIGI answers a single instrument; the real payload has no minQuantity.
func (a *restAPI) searchByFIGI(c *restCtx) (any, error) {
	in, err := a.instrumentParam(c)
	if err != nil {
		return nil, err
	}
	mi := marketInstrument(in)
	mi.MinQuantity = 0
	return mi, nil
}

func (a *restAPI) searchByTicker(c *restCtx) (any, error) {
	ticker, err := c.requireQuery("ticker")
	if err != nil {
		return nil, err
	}
	return instrumentList(a.srv.market.ByTicker(ticker), func(*market.Instrument) bool { return true }), nil
}

// instrumentParam resolves the mandatory figi query parameter.
func (a *restAPI) instrumentParam(c *restCtx) (*market.Instrument, error) {
	figi, err := c.requireQuery("figi")
	if err != nil {
		return nil, err
	}
	in, ok := a.srv.market.Instrument(figi)
	if !ok {
		return nil, errorf(codeNotFound, "Instrument not found by figi=%s", figi)
	}
	return in, nil
}

func (a *restAPI) orderbook(c *restCtx) (any, error) {
	in, err := a.instrumentParam(c)
	if err != nil {
		return nil, err
	}
	depth, err := c.queryInt("depth")
	if err != nil {
		return nil, err
	}
	if depth < 1 || depth > maxDepth {
		return nil, errorf(codeValidation, "[depth]: must be between 1 and %d", maxDepth)
	}
	m := a.srv.market
	ob := m.OrderBook(in.FIGI, c.now, depth)
	info := m.Info(in.FIGI, c.now)
	out := wire.Orderbook{
		FIGI:              in.FIGI,
		Depth:             float64(depth),
		Bids:              restLevels(ob.Bids),
		Asks:              restLevels(ob.Asks),
		TradeStatus:       wire.RESTTradeStatus(string(info.TradeStatus)),
		MinPriceIncrement: in.MinPriceIncrement,
		LimitUp:           nonZero(info.LimitUp),
		LimitDown:         nonZero(info.LimitDown),
	}
	if in.Type == tvbridge.Bond {
		out.FaceValue = &in.FaceValue
	}
	if last, ok := m.LastTrade(in.FIGI, c.now); ok {
		out.LastPrice = &last.Price
	}
	// The close price is the last trade before the current local day began.
	dayStart := m.IntervalStart(in.FIGI, tvbridge.IntervalDay, c.now)
	if prev, ok := m.LastTrade(in.FIGI, dayStart.Add(-time.Nanosecond)); ok {
		out.ClosePrice = &prev.Price
	}
	return out, nil
}

func restLevels(levels []tvbridge.PriceLevel) []wire.OrderResponse {
	out := make([]wire.OrderResponse, len(levels))
	for i, l := range levels {
		out[i] = wire.OrderResponse{Price: l.Price, Quantity: math.Round(l.Quantity)}
	}
	return out
}

func nonZero(v float64) *float64 {
	if v == 0 {
		return nil
	}
	return &v
}

// candleRange is the range (to - from) /market/candles allows for an
// interval; months count calendar months.
type candleRange struct {
	min, max             time.Duration
	minMonths, maxMonths int
	text                 string
}

const day = 24 * time.Hour

var candleRanges = map[tvbridge.CandleInterval]candleRange{
	tvbridge.Interval1Min:  {min: time.Minute, max: day, text: "1 minute to 1 day"},
	tvbridge.Interval2Min:  {min: 2 * time.Minute, max: day, text: "2 minutes to 1 day"},
	tvbridge.Interval3Min:  {min: 3 * time.Minute, max: day, text: "3 minutes to 1 day"},
	tvbridge.Interval5Min:  {min: 5 * time.Minute, max: day, text: "5 minutes to 1 day"},
	tvbridge.Interval10Min: {min: 10 * time.Minute, max: day, text: "10 minutes to 1 day"},
	tvbridge.Interval15Min: {min: 15 * time.Minute, max: day, text: "15 minutes to 1 day"},
	tvbridge.Interval30Min: {min: 30 * time.Minute, max: day, text: "30 minutes to 1 day"},
	tvbridge.IntervalHour:  {min: time.Hour, max: 7 * day, text: "1 hour to 7 days"},
	tvbridge.IntervalDay:   {min: day, maxMonths: 12, text: "1 day to 1 year"},
	tvbridge.IntervalWeek:  {min: 7 * day, maxMonths: 24, text: "7 days to 2 years"},
	tvbridge.IntervalMonth: {minMonths: 1, maxMonths: 120, text: "1 month to 10 years"},
}

func (r candleRange) allows(from, to time.Time) bool {
	lo := from.Add(r.min).AddDate(0, r.minMonths, 0)
	hi := from.Add(r.max).AddDate(0, r.maxMonths, 0)
	return !to.Before(lo) && !to.After(hi)
}

// candles serves the closed candles starting in [from, to). The forming
// candle is never included, like on the real service.
func (a *restAPI) candles(c *restCtx) (any, error) {
	in, err := a.instrumentParam(c)
	if err != nil {
		return nil, err
	}
	from, err := c.queryTime("from")
	if err != nil {
		return nil, err
	}
	to, err := c.queryTime("to")
	if err != nil {
		return nil, err
	}
	iv := tvbridge.CandleInterval(c.query.Get("interval"))
	rng, ok := candleRanges[iv]
	if !ok {
		return nil, errorf(codeMalformedQuery, "Invalid format of field 'interval': %s", iv)
	}
	if !rng.allows(from, to) {
		return nil, errorf(codeValidation, "[to]: Bad candle interval: from=%s to=%s expected from %s",
			c.query.Get("from"), c.query.Get("to"), rng.text)
	}
	m := a.srv.market
	out := wire.Candles{FIGI: in.FIGI, Interval: string(iv), Candles: []wire.Candle{}}
	for _, cd := range m.Candles(in.FIGI, iv, from, to, c.now) {
		if intervalEnd(m, in.FIGI, iv, cd.Time).After(c.now) {
			continue // still forming
		}
		out.Candles = append(out.Candles, restCandle(cd))
	}
	return out, nil
}

func restCandle(c tvbridge.Candle) wire.Candle {
	return wire.Candle{
		FIGI:     c.FIGI,
		Interval: string(c.Interval),
		O:        c.Open,
		C:        c.Close,
		H:        c.High,
		L:        c.Low,
		V:        math.Round(c.Volume),
		Time:     c.Time.UTC().Format(wire.TimeLayout),
	}
}
