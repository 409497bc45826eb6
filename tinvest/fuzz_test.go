package tinvest

import (
	"errors"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// FuzzDecodeResponse feeds arbitrary bodies to the REST decoding of every
// answer the client reads, and to the error parser: nothing panics, error
// statuses always give an *APIError with that status, and what decodes
// converts to sane domain values.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"candles":[{"open":{"units":"195","nano":200000000},"high":{"units":"195","nano":300000000},"low":{"units":"195"},"close":{"units":"195","nano":200000000},"volume":"7","time":"2026-02-01T00:00:00Z","isComplete":true}]}`},
		{200, `{"instruments":[{"figi":"F","ticker":"T","lot":10,"currency":"rub","uid":"u","minPriceIncrement":{"nano":10000000},"first1minCandleDate":"2018-03-07T18:33:00Z"}]}`},
		{200, `{"figi":"F","depth":10,"bids":[{"price":{"units":"1"},"quantity":"2"}],"lastPrice":{"units":"1","nano":5}}`},
		{200, `{"exchanges":[{"exchange":"MOEX","days":[{"date":"2026-03-02T00:00:00Z","isTradingDay":true,"startTime":"2026-03-02T07:00:00Z","endTime":"2026-03-02T15:40:00Z"}]}]}`},
		{200, `{"orders":[{"orderId":"1","executionReportStatus":"EXECUTION_REPORT_STATUS_NEW","lotsRequested":"2","initialOrderPrice":{"currency":"rub","units":"390","nano":400000000}}]}`},
		{200, `{"money":[{"currency":"rub","units":"100"}],"securities":[{"figi":"F","balance":"10"}]}`},
		{200, `{"hasNext":true,"nextCursor":"c","items":[{"id":"1","type":"OPERATION_TYPE_BUY","payment":{"currency":"rub","units":"-1"}}]}`},
		{200, `{"candles":[{"open":{"units":"1","nano":-1}}]}`}, {200, `{"candles":[{"volume":1.5}]}`}, {200, `[]`}, {200, ``},
		{400, `{"code":3,"message":"30014","description":"period"}`}, {401, `{"code":16,"message":"40003"}`},
		{429, ``}, {500, `<html>`}, {503, `{"code":"14"}`}, {404, `404 page not found`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		status = 100 + (status%500+500)%500
		if status < 200 || status > 299 {
			e := parseError("m", status, nil, body)
			if e.HTTPStatus != status || e.Error() == "" {
				t.Fatalf("%+v", e)
			}
			var target *APIError
			if !errors.As(error(e), &target) {
				t.Fatal("not an APIError")
			}
			return
		}
		var cr wire.GetCandlesResponse
		if decodeBody(body, &cr) == nil {
			var cs []tvbridge.Candle
			for _, hc := range cr.Candles {
				if c, err := candleFrom(hc, "F", tvbridge.Interval1Min); err == nil {
					if c.Volume < 0 || c.Time.Location() != time.UTC {
						t.Fatalf("insane candle %+v", c)
					}
					cs = append(cs, c)
				}
			}
			from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
			m := mergeCandles(cs, from, from.Add(day))
			for i := 1; i < len(m); i++ {
				if !m[i-1].Time.Before(m[i].Time) {
					t.Fatal("merge not sorted and unique")
				}
			}
		}
		var sr wire.SharesResponse
		if decodeBody(body, &sr) == nil {
			for _, s := range sr.Instruments {
				instrumentFrom(CatalogueEntry{Kind: KindShares, InstrumentFields: s.InstrumentFields})
			}
		}
		var br wire.GetOrderBookResponse
		if decodeBody(body, &br) == nil {
			levels(br.Bids, 10)
		}
		var ts wire.TradingSchedulesResponse
		if decodeBody(body, &ts) == nil {
			for _, s := range ts.Exchanges {
				if sess, ok := SessionFromSchedule(s.Days, time.UTC); ok {
					if _, err := tvbridge.ParseSchedule(sess, "UTC"); err != nil {
						t.Fatalf("session %q: %v", sess, err)
					}
				}
			}
		}
		decodeBody(body, &wire.GetOrdersResponse{})
		decodeBody(body, &wire.PositionsResponse{})
		decodeBody(body, &wire.PortfolioResponse{})
		decodeBody(body, &wire.GetOperationsByCursorResponse{})
		decodeBody(body, &wire.PostOrderResponse{})
		decodeBody(body, &wire.GetStopOrdersResponse{})
		decodeBody(body, &wire.GetAccountsResponse{})
		decodeBody(body, &wire.GetTradingStatusResponse{})
		decodeBody(body, &wire.GetLastPricesResponse{})
	})
}
