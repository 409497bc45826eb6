package tinkoff

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinkoff/wire"
)

// FuzzDecodeResponse feeds arbitrary statuses and bodies through the
// response decoding entry point and every payload conversion: nothing may
// panic, non-2xx statuses always come back as *APIError with that status,
// and converted candles always lie in the requested range, sorted.
func FuzzDecodeResponse(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{200, `{"trackingId":"a","status":"Ok","payload":{"figi":"F","interval":"1min","candles":[{"o":1.2E+2,"c":1,"h":1,"l":1,"v":12.0,"time":"2021-03-01T07:00:00Z"}]}}`},
		{200, `{"trackingId":"a","status":"OK","payload":{"figi":"F","depth":2,"bids":[{"price":1,"quantity":2.0}],"asks":[],"tradeStatus":"NormalTrading","minPriceIncrement":0.01}}`},
		{200, `{"trackingId":"a","status":"ok","payload":{"total":1,"instruments":[{"figi":"F","ticker":"T","lot":1E1,"currency":"RUB","name":"n","type":"Stock","timezone":"Europe/Moscow","session":"0950-1850:23456"}]}}`},
		{200, `{"trackingId":"a","status":"Ok","payload":[{"orderId":"1","figi":"F","operation":"Buy","status":"New","requestedLots":1,"executedLots":0,"type":"Limit","price":1}]}`},
		{200, `{"trackingId":"a","status":"Error","payload":{"code":"INTERNAL_ERROR","message":"m"}}`},
		{200, `{"status":"Ok","payload":null}`},
		{200, `{"status":"Ok","payload":{"candles":[{"time":"2021-13-01T00:00:00Z"}]}}`},
		{200, `{"status":"Ok","payload":{"instruments":[{"figi":"F","session":"2500-0100:9","timezone":"Nowhere/Land"}]}}`},
		{200, ``},
		{200, `[`},
		{500, `{"trackingId":"b","status":"Error","payload":{"code":"VALIDATION_ERROR","message":"bad"}}`},
		{404, `{"trackingId":"c","status":"Error","payload":{"code":"UNDEFINED_ROUTE","message":"Cannot find route"}}`},
		{429, ``},
		{429, `Too Many Requests`},
		{500, "<html>\x00\xff</html>"},
		{401, `{"payload":"not an object"}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	log := slog.New(slog.DiscardHandler)
	from := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(day)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		status = 100 + (status%500+500)%500 // 100..599
		var candles wire.Candles
		_, err := decodeResponse(status, body, &candles)
		checkStatusError(t, status, err)
		if err == nil {
			if cs, err := convertCandles(candles.Candles, "F", tvbridge.Interval1Min); err == nil {
				merged := mergeCandles(cs, from, to)
				for i, c := range merged {
					if c.Time.Before(from) || !c.Time.Before(to) || (i > 0 && !merged[i-1].Time.Before(c.Time)) {
						t.Fatalf("merged candles out of range or order: %v", merged)
					}
				}
			}
		}
		var book wire.Orderbook
		if _, err := decodeResponse(status, body, &book); err == nil {
			bookFrom(book, "F", 20)
		}
		var list wire.MarketInstrumentList
		if _, err := decodeResponse(status, body, &list); err == nil {
			convertInstruments(list.Instruments, newVenueFiller(DefaultVenueRules(), log))
		}
		var orders []wire.Order
		decodeResponse(status, body, &orders)
		decodeResponse(status, body, nil)
	})
}

func checkStatusError(t *testing.T, status int, err error) {
	if status >= 200 && status <= 299 {
		return
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != status {
		t.Fatalf("status %d gave %v, want *APIError with that status", status, err)
	}
	if apiErr.Error() == "" {
		t.Fatal("empty error text")
	}
}

// FuzzParseTradeStatus: any input maps to a known status or StatusUnknown.
func FuzzParseTradeStatus(f *testing.F) {
	for _, s := range []string{"NormalTrading", "normal_trading", "NotAvailableForTrading", "", "ÄÖÜ", "A_B_", "__X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if st := ParseTradeStatus(s); st != tvbridge.StatusUnknown && !knownStatuses[st] {
			t.Fatalf("ParseTradeStatus(%q) = %q, not a known status", s, st)
		}
	})
}
