package api

import (
	"io"
	"log/slog"
	"reflect"
	"testing"

	"tvbridge"
)

func TestCurrencyPairs(t *testing.T) {
	moex := func(figi, ticker, cur string, typ tvbridge.InstrumentType) tvbridge.Instrument {
		return tvbridge.Instrument{FIGI: figi, Ticker: ticker, Type: typ, Currency: cur, Lot: 1, MinPriceIncrement: 0.01,
			Exchange: "MOEX", Timezone: "Europe/Moscow", Session: "0700-2350:23456"}
	}
	cat, err := BuildCatalog([]tvbridge.Instrument{
		moex("F1", "USD000UTSTOM", "RUB", tvbridge.Currency),
		moex("F2", "USDRUB_TMS", "RUB", tvbridge.Currency), // the same pair again
		moex("F3", "EUR_RUB__TOM", "RUB", tvbridge.Currency),
		moex("F4", "SBER", "RUB", tvbridge.Stock),
		moex("F5", "BTC_USD", "USD", tvbridge.Currency),
	}, CatalogOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	want := []tvbridge.CurrencyPair{{Base: "BTC", Quote: "USD", FIGI: "F5"}, {Base: "EUR", Quote: "RUB", FIGI: "F3"},
		{Base: "USD", Quote: "RUB", FIGI: "F1"}}
	if got := cat.CurrencyPairs(); !reflect.DeepEqual(got, want) {
		t.Errorf("pairs %+v, want %+v", got, want)
	}
}
