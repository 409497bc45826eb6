package market

import (
	"math/big"
	"strconv"
	"testing"
	"time"

	"tvbridge"
)

// testMarket is shared by read-only tests: New is cheap but its caches
// make repeated queries fast.
var testMarket = New(Config{Seed: 42})

// msk and nyc are the venues' timezones.
var (
	msk = mustLoad("Europe/Moscow")
	nyc = mustLoad("America/New_York")
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// figi returns the FIGI of the first instrument with this ticker.
func figi(t testing.TB, m *Market, ticker string) string {
	t.Helper()
	insts := m.ByTicker(ticker)
	if len(insts) == 0 {
		t.Fatalf("no instrument with ticker %s", ticker)
	}
	return insts[0].FIGI
}

// isMultiple reports whether price is exactly k×inc for an integer k, both
// read as the shortest decimals that round-trip, as a client would print them.
func isMultiple(price, inc float64) bool {
	p, ok1 := new(big.Rat).SetString(strconv.FormatFloat(price, 'f', -1, 64))
	i, ok2 := new(big.Rat).SetString(strconv.FormatFloat(inc, 'f', -1, 64))
	if !ok1 || !ok2 || i.Sign() == 0 {
		return false
	}
	return new(big.Rat).Quo(p, i).IsInt()
}

// candleOf aggregates trades the way TradingView builds a bar from them.
func candleOf(figi string, interval tvbridge.CandleInterval, start time.Time, trades []Trade) (tvbridge.Candle, bool) {
	if len(trades) == 0 {
		return tvbridge.Candle{}, false
	}
	c := tvbridge.Candle{FIGI: figi, Interval: interval, Time: start.UTC(),
		Open: trades[0].Price, High: trades[0].Price, Low: trades[0].Price}
	for _, t := range trades {
		c.High = max(c.High, t.Price)
		c.Low = min(c.Low, t.Price)
		c.Close = t.Price
		c.Volume += float64(t.Lots)
	}
	return c, true
}

// tradesBetween collects the trades in [from, to) minute by minute.
func tradesBetween(m *Market, figi string, from, to time.Time) []Trade {
	var out []Trade
	for min := from.Truncate(time.Minute); min.Before(to); min = min.Add(time.Minute) {
		for _, tr := range m.MinuteTrades(figi, min) {
			if !tr.Time.Before(from) && tr.Time.Before(to) {
				out = append(out, tr)
			}
		}
	}
	return out
}

// mergeCandles folds candles (in time order) into one stamped start.
func mergeCandles(interval tvbridge.CandleInterval, start time.Time, cs []tvbridge.Candle) tvbridge.Candle {
	out := cs[0]
	out.Interval, out.Time = interval, start.UTC()
	out.Volume = 0
	for _, c := range cs {
		out.High = max(out.High, c.High)
		out.Low = min(out.Low, c.Low)
		out.Close = c.Close
		out.Volume += c.Volume
	}
	return out
}

// sampleFIGIs is one instrument of each behaviour in the default universe.
var sampleTickers = []string{"SBER", "USD000UTSTOM", "AAPL", "SU26238RMFS4", "TMOS", "BTC_RUB", "LSRG", "BTC_USD", "VTBR", "TRNFP"}
