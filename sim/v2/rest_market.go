package v2sim

import (
	"time"

	"tvbridge"
	"tvbridge/sim/market"
	"tvbridge/tinvest/wire"
)

func (a *restAPI) marketRoutes(r map[string]handler) {
	r[wire.MethodShares] = unary(a.shares)
	r[wire.MethodBonds] = unary(a.bonds)
	r[wire.MethodEtfs] = unary(a.etfs)
	r[wire.MethodCurrencies] = unary(a.currencies)
	r[wire.MethodFutures] = unary(a.futures)
	r[wire.MethodGetInstrumentBy] = unary(a.instrumentBy)
	r[wire.MethodTradingSchedules] = unary(a.tradingSchedules)
	r[wire.MethodGetCandles] = unary(a.getCandles)
	r[wire.MethodGetOrderBook] = unary(a.getOrderBook)
	r[wire.MethodGetTradingStatus] = unary(a.getTradingStatus)
	r[wire.MethodGetTradingStatuses] = unary(a.getTradingStatuses)
	r[wire.MethodGetLastPrices] = unary(a.getLastPrices)
	r[wire.MethodGetLastTrades] = unary(a.getLastTrades)
}

// ofKind lists the catalogue's instruments of one kind.
func (a *restAPI) ofKind(kind wire.InstrumentType) []*instrument {
	var out []*instrument
	for _, in := range a.srv.cat.list {
		if in.kind == kind {
			out = append(out, in)
		}
	}
	return out
}

func (a *restAPI) shares(rc *restCtx, _ *wire.InstrumentsRequest) (any, error) {
	r := wire.SharesResponse{Instruments: []wire.Share{}}
	for _, in := range a.ofKind(wire.InstrumentTypeShare) {
		r.Instruments = append(r.Instruments, wire.Share{InstrumentFields: in.fields(a.srv.market, rc.now),
			ShareType: "SHARE_TYPE_COMMON", Sector: "other", Nominal: money(in.Currency, 1)})
	}
	return r, nil
}

func (a *restAPI) bonds(rc *restCtx, _ *wire.InstrumentsRequest) (any, error) {
	r := wire.BondsResponse{Instruments: []wire.Bond{}}
	for _, in := range a.ofKind(wire.InstrumentTypeBond) {
		r.Instruments = append(r.Instruments, wire.Bond{InstrumentFields: in.fields(a.srv.market, rc.now),
			Nominal: money(in.Currency, in.FaceValue), Sector: "government"})
	}
	return r, nil
}

func (a *restAPI) etfs(rc *restCtx, _ *wire.InstrumentsRequest) (any, error) {
	r := wire.EtfsResponse{Instruments: []wire.Etf{}}
	for _, in := range a.ofKind(wire.InstrumentTypeETF) {
		r.Instruments = append(r.Instruments, wire.Etf{InstrumentFields: in.fields(a.srv.market, rc.now), FocusType: "equity"})
	}
	return r, nil
}

func (a *restAPI) currencies(rc *restCtx, _ *wire.InstrumentsRequest) (any, error) {
	r := wire.CurrenciesResponse{Instruments: []wire.Currency{}}
	for _, in := range a.ofKind(wire.InstrumentTypeCurrency) {
		r.Instruments = append(r.Instruments, wire.Currency{InstrumentFields: in.fields(a.srv.market, rc.now)})
	}
	return r, nil
}

// futures: the model lists none.
func (a *restAPI) futures(*restCtx, *wire.InstrumentsRequest) (any, error) {
	return wire.FuturesResponse{Instruments: []wire.Future{}}, nil
}

func (a *restAPI) instrumentBy(rc *restCtx, req *wire.InstrumentRequest) (any, error) {
	if req.ID == "" {
		return nil, invalid(codeBadRequest, "id is required")
	}
	if req.IDType == wire.InstrumentIDTypeTicker && req.ClassCode == "" {
		return nil, invalid(codeBadRequest, "classCode is required with INSTRUMENT_ID_TYPE_TICKER")
	}
	in, ok := a.srv.cat.by(req.IDType, req.ClassCode, req.ID)
	if !ok {
		return nil, notFound(codeInstrumentNotFound, "instrument not found: %s %s", req.IDType, req.ID)
	}
	return wire.InstrumentResponse{Instrument: wire.Instrument{InstrumentFields: in.fields(a.srv.market, rc.now),
		InstrumentType: in.typeName, InstrumentKind: in.kind}}, nil
}

// maxScheduleRange is TradingSchedules' longest range.
const maxScheduleRange = 14 * 24 * time.Hour

// tradingSchedules answers the schedules of one exchange or all, for the
// local calendar dates from..to. Defaults: from today, to from + 7 days.
func (a *restAPI) tradingSchedules(rc *restCtx, req *wire.TradingSchedulesRequest) (any, error) {
	from, to := req.From.Time, req.To.Time
	if from.IsZero() {
		from = rc.now
	}
	if to.IsZero() {
		to = from.Add(7 * 24 * time.Hour)
	}
	if to.Before(from) || to.Sub(from) > maxScheduleRange+24*time.Hour {
		return nil, invalid(codeScheduleRange, "the range must be at most 14 days and not reversed")
	}
	groups := a.srv.cat.schedules
	if req.Exchange != "" {
		g, ok := a.srv.cat.byName[req.Exchange]
		if !ok {
			return nil, notFound("50001", "exchange not found: %s", req.Exchange)
		}
		groups = []*scheduleGroup{g}
	}
	r := wire.TradingSchedulesResponse{Exchanges: []wire.TradingSchedule{}}
	for _, g := range groups {
		r.Exchanges = append(r.Exchanges, a.schedule(g, from, to))
	}
	return r, nil
}

// schedule lists g's trading days between the local dates of from and to.
func (a *restAPI) schedule(g *scheduleGroup, from, to time.Time) wire.TradingSchedule {
	loc := g.schedule.Location()
	out := wire.TradingSchedule{Exchange: g.name}
	fy, fm, fd := from.In(loc).Date()
	last := to.In(loc)
	ly, lm, ld := last.Date()
	end := time.Date(ly, lm, ld, 0, 0, 0, 0, time.UTC)
	for date := time.Date(fy, fm, fd, 0, 0, 0, 0, time.UTC); !date.After(end); date = date.AddDate(0, 0, 1) {
		out.Days = append(out.Days, a.tradingDay(g, date))
	}
	return out
}

// tradingDay describes one date: the first period is the main session
// (with its auctions when the model has them), the second the evening
// session, further ones named intervals.
func (a *restAPI) tradingDay(g *scheduleGroup, date time.Time) wire.TradingDay {
	d := wire.TradingDay{Date: wire.At(date)}
	periods := g.schedule.Periods(date)
	if len(periods) == 0 {
		return d
	}
	d.IsTradingDay = true
	m, figi := a.srv.market, g.sample.FIGI
	for i, p := range periods {
		switch i {
		case 0:
			d.StartTime, d.EndTime = wire.At(p.Open), wire.At(p.Close)
			if m.Status(figi, p.Open) == tvbridge.StatusOpeningAuction {
				d.OpeningAuctionStartTime, d.OpeningAuctionEndTime = wire.At(p.Open), wire.At(p.Open.Add(10*time.Minute))
			}
			if m.Status(figi, p.Close.Add(-time.Nanosecond)) == tvbridge.StatusClosingAuction {
				d.ClosingAuctionStartTime, d.ClosingAuctionEndTime = wire.At(p.Close.Add(-10*time.Minute)), wire.At(p.Close)
			}
		case 1:
			d.EveningStartTime, d.EveningEndTime = wire.At(p.Open), wire.At(p.Close)
		default:
			d.Intervals = append(d.Intervals, wire.TradingInterval{Type: "regular_trading_session",
				Interval: wire.TimeInterval{StartTS: wire.At(p.Open), EndTS: wire.At(p.Close)}})
		}
	}
	return d
}

// candleRule is what GetCandles accepts for an interval.
type candleRule struct {
	interval tvbridge.CandleInterval // "" for the sub-minute ones
	sub      time.Duration           // the sub-minute length
	maxRange func(from time.Time) time.Time
	limit    int32
}

func after(d time.Duration) func(time.Time) time.Time {
	return func(t time.Time) time.Time { return t.Add(d) }
}

func afterDate(y, m, d int) func(time.Time) time.Time {
	return func(t time.Time) time.Time { return t.AddDate(y, m, d) }
}

// candleRules follows the docs' table of ranges and limits.
var candleRules = map[wire.CandleInterval]candleRule{
	wire.CandleInterval5Sec:        {sub: 5 * time.Second, maxRange: after(200 * time.Minute), limit: 2500},
	wire.CandleInterval10Sec:       {sub: 10 * time.Second, maxRange: after(200 * time.Minute), limit: 1250},
	wire.CandleInterval30Sec:       {sub: 30 * time.Second, maxRange: after(20 * time.Hour), limit: 2500},
	wire.CandleInterval1Min:        {interval: tvbridge.Interval1Min, maxRange: afterDate(0, 0, 1), limit: 2400},
	wire.CandleInterval2Min:        {interval: tvbridge.Interval2Min, maxRange: afterDate(0, 0, 1), limit: 1200},
	wire.CandleInterval3Min:        {interval: tvbridge.Interval3Min, maxRange: afterDate(0, 0, 1), limit: 750},
	wire.CandleInterval5Min:        {interval: tvbridge.Interval5Min, maxRange: afterDate(0, 0, 7), limit: 2400},
	wire.CandleInterval10Min:       {interval: tvbridge.Interval10Min, maxRange: afterDate(0, 0, 7), limit: 1200},
	wire.CandleInterval15Min:       {interval: tvbridge.Interval15Min, maxRange: afterDate(0, 0, 21), limit: 2400},
	wire.CandleInterval30Min:       {interval: tvbridge.Interval30Min, maxRange: afterDate(0, 0, 21), limit: 1200},
	wire.CandleIntervalHour:        {interval: tvbridge.IntervalHour, maxRange: afterDate(0, 3, 0), limit: 2400},
	wire.CandleInterval2Hour:       {interval: tvbridge.Interval2Hour, maxRange: afterDate(0, 3, 0), limit: 2400},
	wire.CandleInterval4Hour:       {interval: tvbridge.Interval4Hour, maxRange: afterDate(0, 3, 0), limit: 700},
	wire.CandleIntervalDay:         {interval: tvbridge.IntervalDay, maxRange: afterDate(6, 0, 0), limit: 2400},
	wire.CandleIntervalWeek:        {interval: tvbridge.IntervalWeek, maxRange: afterDate(5, 0, 0), limit: 300},
	wire.CandleIntervalMonth:       {interval: tvbridge.IntervalMonth, maxRange: afterDate(10, 0, 0), limit: 120},
	wire.CandleIntervalUnspecified: {},
}

// getCandles returns the candles starting in [from, to), at most limit,
// the earliest first; the one still forming has isComplete false. A range
// longer than the interval allows is refused with 30014, a limit above its
// maximum with 30013.
func (a *restAPI) getCandles(rc *restCtx, req *wire.GetCandlesRequest) (any, error) {
	in, ok := a.srv.cat.lookup(req.InstrumentID)
	if !ok {
		return nil, notFound(codeInstrumentNotFound, "instrument not found: %q", req.InstrumentID)
	}
	rule, ok := candleRules[req.Interval]
	if !ok || rule.maxRange == nil {
		return nil, invalid(codeBadRequest, "interval %q is not supported", req.Interval)
	}
	from, to := req.From.Time, req.To.Time
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return nil, invalid(codeBadRequest, "from and to are required and from must be before to")
	}
	if to.After(rule.maxRange(from)) {
		return nil, invalid(wire.ErrPeriodTooLong, "the requested period is too long for interval %s", req.Interval)
	}
	limit := req.Limit
	switch {
	case limit < 0 || limit > rule.limit:
		return nil, invalid(codeLimitTooLarge, "limit %d is above the maximum %d for interval %s", limit, rule.limit, req.Interval)
	case limit == 0:
		limit = rule.limit
	}
	var candles []wire.HistoricCandle
	if rule.sub > 0 {
		candles = a.subMinuteCandles(in, rule.sub, from, to, rc.now, int(limit))
	} else {
		candles = a.candles(in, rule.interval, from, to, rc.now, int(limit))
	}
	return wire.GetCandlesResponse{Candles: candles}, nil
}

// candles reads the model's candles; for daily ones the time of day of
// from and to is ignored, as the service does.
func (a *restAPI) candles(in *instrument, iv tvbridge.CandleInterval, from, to, now time.Time, limit int) []wire.HistoricCandle {
	m := a.srv.market
	if iv == tvbridge.IntervalDay {
		from = m.IntervalStart(in.FIGI, iv, from)
		if start := m.IntervalStart(in.FIGI, iv, to); !start.Equal(to) {
			to = m.IntervalStart(in.FIGI, iv, to.Add(26*time.Hour))
		}
	}
	out := []wire.HistoricCandle{}
	for _, c := range m.Candles(in.FIGI, iv, from, to, now) {
		if len(out) == limit {
			break
		}
		end := intervalEnd(m, in.FIGI, iv, c.Time)
		out = append(out, historic(in, c, !end.After(now)))
	}
	return out
}

// subMinuteCandles aggregates the model's trades into 5, 10 or 30 s candles.
func (a *restAPI) subMinuteCandles(in *instrument, d time.Duration, from, to, now time.Time, limit int) []wire.HistoricCandle {
	out := []wire.HistoricCandle{}
	var cur tvbridge.Candle
	has := false
	flush := func() {
		if has && len(out) < limit {
			out = append(out, historic(in, cur, !cur.Time.Add(d).After(now)))
		}
		has = false
	}
	end := earlier(to, now)
	for minute := from.Truncate(time.Minute); minute.Before(end) && len(out) < limit; minute = minute.Add(time.Minute) {
		for _, tr := range a.srv.market.MinuteTrades(in.FIGI, minute) {
			if tr.Time.Before(from) || !tr.Time.Before(end) {
				continue
			}
			start := tr.Time.Truncate(d)
			if has && !start.Equal(cur.Time) {
				flush()
			}
			if !has {
				cur, has = tvbridge.Candle{Time: start, Open: tr.Price, High: tr.Price, Low: tr.Price}, true
			}
			addTrade(&cur, tr)
		}
	}
	flush()
	return out
}

// addTrade folds a trade into a candle that has its open set.
func addTrade(c *tvbridge.Candle, tr market.Trade) {
	c.High = max(c.High, tr.Price)
	c.Low = min(c.Low, tr.Price)
	c.Close = tr.Price
	c.Volume += float64(tr.Lots)
}

func historic(in *instrument, c tvbridge.Candle, complete bool) wire.HistoricCandle {
	return wire.HistoricCandle{
		Open: in.price(c.Open), High: in.price(c.High), Low: in.price(c.Low), Close: in.price(c.Close),
		Volume: wire.Int64(c.Volume), Time: wire.At(c.Time), IsComplete: complete,
		CandleSource: wire.CandleSourceExchange,
	}
}

// intervalEnd is the end of the interval that starts at start: calendar
// intervals vary in length, so the model is asked for the start of an
// instant surely inside the next one.
func intervalEnd(m *market.Market, figi string, iv tvbridge.CandleInterval, start time.Time) time.Time {
	if d := iv.Duration(); d > 0 {
		return start.Add(d)
	}
	probe := 26 * time.Hour // a local day lasts 23 to 25 hours
	switch iv {
	case tvbridge.IntervalWeek:
		probe = 7*24*time.Hour + 2*time.Hour
	case tvbridge.IntervalMonth:
		probe = 32 * 24 * time.Hour
	}
	return m.IntervalStart(figi, iv, start.Add(probe))
}

// bookDepths are the depths the service serves.
var bookDepths = map[int32]bool{1: true, 10: true, 20: true, 30: true, 40: true, 50: true}

func (a *restAPI) getOrderBook(rc *restCtx, req *wire.GetOrderBookRequest) (any, error) {
	in, ok := a.srv.cat.lookup(req.InstrumentID)
	if !ok {
		return nil, notFound(codeInstrumentNotFound, "instrument not found: %q", req.InstrumentID)
	}
	if !bookDepths[req.Depth] {
		return nil, invalid(codeDepthInvalid, "depth %d is not one of 1, 10, 20, 30, 40, 50", req.Depth)
	}
	m := a.srv.market
	ob := m.OrderBook(in.FIGI, rc.now, int(req.Depth))
	info := m.Info(in.FIGI, rc.now)
	r := wire.GetOrderBookResponse{
		FIGI: in.FIGI, Depth: req.Depth, Bids: levels(in, ob.Bids), Asks: levels(in, ob.Asks),
		LastPrice: in.price(ob.LastPrice), ClosePrice: in.price(ob.ClosePrice),
		LimitUp: in.price(info.LimitUp), LimitDown: in.price(info.LimitDown),
		OrderbookTS: wire.At(rc.now), InstrumentUID: in.uid,
	}
	if tr, ok := m.LastTrade(in.FIGI, rc.now); ok {
		r.LastPriceTS = wire.At(tr.Time)
	}
	return r, nil
}

func levels(in *instrument, ls []tvbridge.PriceLevel) []wire.Order {
	if len(ls) == 0 {
		return nil
	}
	out := make([]wire.Order, len(ls))
	for i, l := range ls {
		out[i] = wire.Order{Price: in.price(l.Price), Quantity: wire.Int64(l.Quantity)}
	}
	return out
}

func (a *restAPI) tradingStatus(in *instrument, now time.Time) wire.GetTradingStatusResponse {
	st := a.srv.market.Status(in.FIGI, now)
	return wire.GetTradingStatusResponse{
		FIGI: in.FIGI, TradingStatus: v2Status(st),
		LimitOrderAvailableFlag:  st.Trading(),
		MarketOrderAvailableFlag: st == tvbridge.StatusNormalTrading,
		APITradeAvailableFlag:    true, InstrumentUID: in.uid,
		BestpriceOrderAvailableFlag: st == tvbridge.StatusNormalTrading,
	}
}

func (a *restAPI) getTradingStatus(rc *restCtx, req *wire.GetTradingStatusRequest) (any, error) {
	in, ok := a.srv.cat.lookup(req.InstrumentID)
	if !ok {
		return nil, notFound(codeInstrumentNotFound, "instrument not found: %q", req.InstrumentID)
	}
	return a.tradingStatus(in, rc.now), nil
}

func (a *restAPI) getTradingStatuses(rc *restCtx, req *wire.GetTradingStatusesRequest) (any, error) {
	r := wire.GetTradingStatusesResponse{TradingStatuses: []wire.GetTradingStatusResponse{}}
	for _, id := range req.InstrumentID {
		in, ok := a.srv.cat.lookup(id)
		if !ok {
			return nil, notFound(codeInstrumentNotFound, "instrument not found: %q", id)
		}
		r.TradingStatuses = append(r.TradingStatuses, a.tradingStatus(in, rc.now))
	}
	return r, nil
}

// getLastPrices answers the listed instruments, or every one when none is
// listed; instruments that never traded are left out.
func (a *restAPI) getLastPrices(rc *restCtx, req *wire.GetLastPricesRequest) (any, error) {
	list := a.srv.cat.list
	if len(req.InstrumentID) > 0 {
		list = nil
		for _, id := range req.InstrumentID {
			in, ok := a.srv.cat.lookup(id)
			if !ok {
				return nil, notFound(codeInstrumentNotFound, "instrument not found: %q", id)
			}
			list = append(list, in)
		}
	}
	r := wire.GetLastPricesResponse{LastPrices: []wire.LastPrice{}}
	for _, in := range list {
		if tr, ok := a.srv.market.LastTrade(in.FIGI, rc.now); ok {
			r.LastPrices = append(r.LastPrices, lastPrice(in, tr))
		}
	}
	return r, nil
}

func lastPrice(in *instrument, tr market.Trade) wire.LastPrice {
	return wire.LastPrice{FIGI: in.FIGI, Price: in.price(tr.Price), Time: wire.At(tr.Time), InstrumentUID: in.uid,
		LastPriceType: wire.LastPriceExchange}
}

// getLastTrades answers the trades of the last hour in [from, to).
func (a *restAPI) getLastTrades(rc *restCtx, req *wire.GetLastTradesRequest) (any, error) {
	in, ok := a.srv.cat.lookup(req.InstrumentID)
	if !ok {
		return nil, notFound(codeInstrumentNotFound, "instrument not found: %q", req.InstrumentID)
	}
	from, to := req.From.Time, req.To.Time
	if from.IsZero() {
		from = rc.now.Add(-time.Hour)
	}
	if to.IsZero() || to.After(rc.now) {
		to = rc.now
	}
	if from.Before(rc.now.Add(-time.Hour)) || to.Before(from) {
		return nil, invalid(codeLastTradesRange, "trades are served for the last hour only")
	}
	r := wire.GetLastTradesResponse{Trades: []wire.Trade{}}
	for minute := from.Truncate(time.Minute); minute.Before(to); minute = minute.Add(time.Minute) {
		trades := a.srv.market.MinuteTrades(in.FIGI, minute)
		for i, tr := range trades {
			if !tr.Time.Before(from) && tr.Time.Before(to) {
				r.Trades = append(r.Trades, tradeWire(in, tr, direction(trades, i)))
			}
		}
	}
	return r, nil
}

func tradeWire(in *instrument, tr market.Trade, dir wire.TradeDirection) wire.Trade {
	return wire.Trade{FIGI: in.FIGI, Direction: dir, Price: in.price(tr.Price), Quantity: wire.Int64(tr.Lots),
		Time: wire.At(tr.Time), InstrumentUID: in.uid, TradeSource: wire.TradeSourceExchange}
}

// direction is the aggressor side of trades[i] by the tick rule against the
// minute's previous trade; a first or unchanged price takes the parity of
// its microsecond, so REST and the stream name every trade alike.
func direction(trades []market.Trade, i int) wire.TradeDirection {
	if i > 0 {
		switch p, q := trades[i].Price, trades[i-1].Price; {
		case p > q:
			return wire.TradeDirectionBuy
		case p < q:
			return wire.TradeDirectionSell
		}
	}
	if trades[i].Time.UnixMicro()&1 == 0 {
		return wire.TradeDirectionBuy
	}
	return wire.TradeDirectionSell
}
