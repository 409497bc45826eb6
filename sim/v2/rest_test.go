package v2sim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tinvest"
	"tvbridge/tinvest/wire"
)

func TestCatalogueAndSessions(t *testing.T) {
	h := newHarness(t, testStart, nil)
	up := tinvest.NewUpstream(tinvest.UpstreamConfig{
		REST:      tinvest.Config{BaseURL: h.restURL(), Token: testToken, Clock: h.clk, Logger: quiet},
		Timezones: h.srv.ScheduleTimezones(),
	})
	insts, err := up.Instruments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != len(h.m.Instruments()) {
		t.Fatalf("%d instruments, the model has %d", len(insts), len(h.m.Instruments()))
	}
	for _, got := range insts {
		mi, ok := h.m.Instrument(got.FIGI)
		if !ok {
			t.Fatalf("unknown FIGI %s", got.FIGI)
		}
		if got.Ticker != mi.Ticker || got.Lot != mi.Lot || got.MinPriceIncrement != mi.MinPriceIncrement ||
			got.Currency != mi.Currency || got.Type != mi.Type || got.UID == "" || got.ClassCode == "" {
			t.Errorf("%s: got %+v, model %+v", got.FIGI, got, mi.Instrument)
		}
		// The sessions derived from TradingSchedules are the model's.
		if got.Session != mi.Session || got.Timezone != mi.Timezone {
			t.Errorf("%s %s: session %q in %s, model %q in %s", got.FIGI, got.Ticker, got.Session, got.Timezone, mi.Session, mi.Timezone)
		}
		if got.Exchange != mi.Exchange {
			t.Errorf("%s: venue %q, model %q", got.Ticker, got.Exchange, mi.Exchange)
		}
		if !got.FirstMinute.Equal(mi.Listed) {
			t.Errorf("%s: first minute %v, listed %v", got.Ticker, got.FirstMinute, mi.Listed)
		}
	}
	c := up.Client()
	sb := h.srv.cat.byFIGI[sber]
	for _, q := range []struct {
		typ        wire.InstrumentIDType
		class, id  string
		wantTicker string
	}{
		{wire.InstrumentIDTypeFIGI, "", sber, "SBER"},
		{wire.InstrumentIDTypeUID, "", sb.uid, "SBER"},
		{wire.InstrumentIDTypePositionUID, "", sb.positionUID, "SBER"},
		{wire.InstrumentIDTypeTicker, "TQBR", "SBER", "SBER"},
	} {
		in, err := c.InstrumentBy(context.Background(), q.typ, q.class, q.id)
		if err != nil || in.Ticker != q.wantTicker || in.InstrumentKind != wire.InstrumentTypeShare {
			t.Errorf("InstrumentBy %s %s: %+v, %v", q.typ, q.id, in, err)
		}
	}
	if _, err := c.InstrumentBy(context.Background(), wire.InstrumentIDTypeFIGI, "", "BBG000NOTHERE"); !tinvest.IsNotFound(err) {
		t.Errorf("unknown instrument: %v, want not found", err)
	}
}

func TestCandlesAcrossRanges(t *testing.T) {
	h := newHarness(t, testStart, nil)
	c := h.client(nil)
	ctx := context.Background()
	now := h.clk.Now()
	for _, tc := range []struct {
		iv   tvbridge.CandleInterval
		from time.Time
	}{
		{tvbridge.Interval1Min, now.Add(-50 * time.Hour)}, // three requests of at most a day
		{tvbridge.Interval5Min, now.Add(-9 * 24 * time.Hour)},
		{tvbridge.IntervalHour, now.AddDate(0, 0, -92)}, // two of at most 89 days
		{tvbridge.IntervalDay, now.AddDate(0, -1, 0)},
	} {
		got, err := c.Candles(ctx, sber, uidOf(h, sber), tc.from, now, tc.iv)
		if err != nil {
			t.Fatalf("%s: %v", tc.iv, err)
		}
		want := h.m.Candles(sber, tc.iv, tc.from, now, now)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%s: %d candles, the model has %d", tc.iv, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if !g.Time.Equal(w.Time) || g.Open != w.Open || g.High != w.High || g.Low != w.Low || g.Close != w.Close || g.Volume != w.Volume {
				t.Fatalf("%s candle %d: got %+v, model %+v", tc.iv, i, g, w)
			}
		}
	}
	// The service's own checks: a range too long (30014), a limit too large.
	var ae *tinvest.APIError
	err := c.Call(ctx, wire.MethodGetCandles, wire.GetCandlesRequest{InstrumentID: sber, From: wire.At(now.Add(-25 * time.Hour)),
		To: wire.At(now), Interval: wire.CandleInterval1Min}, nil)
	if !errors.Is(err, tinvest.ErrPeriodTooLong) || !errors.As(err, &ae) || ae.HTTPStatus != 400 || ae.TrackingID == "" {
		t.Errorf("25 hours of minutes: %v, want 30014", err)
	}
	err = c.Call(ctx, wire.MethodGetCandles, wire.GetCandlesRequest{InstrumentID: sber, From: wire.At(now.Add(-time.Hour)),
		To: wire.At(now), Interval: wire.CandleInterval1Min, Limit: 2401}, nil)
	if !errors.As(err, &ae) || ae.ServiceCode != codeLimitTooLarge || ae.Code != wire.CodeInvalidArgument {
		t.Errorf("limit 2401: %v", err)
	}
	// limit caps the answer, earliest first; the forming candle is incomplete.
	r := call[wire.GetCandlesResponse](t, c, wire.MethodGetCandles, wire.GetCandlesRequest{InstrumentID: sber,
		From: wire.At(now.Add(-time.Hour)), To: wire.At(now.Add(time.Hour)), Interval: wire.CandleInterval1Min, Limit: 5})
	if len(r.Candles) != 5 || !r.Candles[0].Time.Equal(now.Add(-time.Hour)) || !r.Candles[4].IsComplete {
		t.Errorf("limit 5: %+v", r.Candles)
	}
	h.advance(30 * time.Second)
	r = call[wire.GetCandlesResponse](t, c, wire.MethodGetCandles, wire.GetCandlesRequest{InstrumentID: sber,
		From: wire.At(now), To: wire.At(now.Add(time.Hour)), Interval: wire.CandleInterval1Min})
	if len(r.Candles) != 1 || r.Candles[0].IsComplete {
		t.Errorf("forming candle: %+v", r.Candles)
	}
	// Sub-minute candles aggregate the same trades.
	r = call[wire.GetCandlesResponse](t, c, wire.MethodGetCandles, wire.GetCandlesRequest{InstrumentID: sber,
		From: wire.At(now.Add(-10 * time.Minute)), To: wire.At(now.Add(-9 * time.Minute)), Interval: wire.CandleInterval10Sec})
	var vol int64
	for _, cd := range r.Candles {
		vol += int64(cd.Volume)
	}
	if m, _ := h.m.Candle(sber, tvbridge.Interval1Min, now.Add(-10*time.Minute), now); vol != int64(m.Volume) || len(r.Candles) == 0 {
		t.Errorf("10 s candles of a minute have volume %d, the minute %v", vol, m.Volume)
	}
}

func TestArchive(t *testing.T) {
	// Early in a year, so the current year's archive is small.
	start := time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)
	h := newHarness(t, start, nil)
	up := tinvest.NewUpstream(tinvest.UpstreamConfig{
		REST: tinvest.Config{BaseURL: h.restURL(), Token: testToken, Clock: h.clk, Logger: quiet},
	})
	if _, err := up.Instruments(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := up.Archive(context.Background(), sber, 2024)
	if err != nil {
		t.Fatal(err)
	}
	today := start.Truncate(24 * time.Hour)
	want := h.m.Candles(sber, tvbridge.Interval1Min, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), today, start)
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("archive has %d candles, the model %d", len(got), len(want))
	}
	for i := range want {
		if g, w := got[i], want[i]; !g.Time.Equal(w.Time) || g.Open != w.Open || g.High != w.High || g.Low != w.Low ||
			g.Close != w.Close || g.Volume != w.Volume {
			t.Fatalf("candle %d: %+v, model %+v", i, g, w)
		}
	}
	// Before the listing: 404, which the client reads as no data.
	if got, err := up.Archive(context.Background(), sber, 2010); err != nil || got != nil {
		t.Errorf("2010: %d candles, %v", len(got), err)
	}
	// Its own limit: 30 a minute (two used above).
	url := h.hs.URL + wire.HistoryPath + "?instrument_id=" + sber + "&year=2010"
	var last *http.Response
	for range 29 {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get(wire.HeaderRateLimitRemaining) != "0" {
		t.Errorf("31st archive request: %d %v", last.StatusCode, last.Header)
	}
}

func TestAuthAndErrors(t *testing.T) {
	h := newHarness(t, testStart, nil)
	c := h.client(func(cfg *tinvest.Config) { cfg.Token = "t.wrong" })
	_, err := c.Accounts(context.Background(), "")
	var ae *tinvest.APIError
	if !tinvest.IsAuth(err) || !errors.As(err, &ae) || ae.HTTPStatus != 401 || ae.ServiceCode != wire.ErrUnauthenticated ||
		ae.Code != wire.CodeUnauthenticated || ae.TrackingID == "" {
		t.Fatalf("bad token: %v", err)
	}
	// Every error has the gRPC body and a tracking id.
	for _, tc := range []struct {
		token, method, body string
		status              int
		code                wire.Code
	}{
		{"", wire.MethodShares, `{}`, 401, wire.CodeUnauthenticated},
		{testToken, wire.ServicePrefix + "Nothing/Here", `{}`, 404, wire.CodeNotFound},
		{testToken, wire.MethodGetCandles, `[1]`, 400, wire.CodeInvalidArgument},
		{testToken, wire.MethodGetCandles, `{"instrumentId":"` + sber + `","from":1}`, 400, wire.CodeInvalidArgument},
		{testToken, wire.MethodGetOrderBook, `{"instrumentId":"` + sber + `","depth":5}`, 400, wire.CodeInvalidArgument},
		{testToken, wire.MethodGetTradingStatus, `{"instrumentId":"nope"}`, 404, wire.CodeNotFound},
	} {
		status, hdr, body := h.post(tc.token, tc.method, tc.body)
		var eb wire.ErrorBody
		if status != tc.status || json.Unmarshal(body, &eb) != nil || wire.Code(eb.Code) != tc.code || hdr.Get(wire.HeaderTrackingID) == "" {
			t.Errorf("%s %s: %d %s", wire.MethodName(tc.method), tc.body, status, body)
		}
	}
}

func TestRESTRateLimit(t *testing.T) {
	h := newHarness(t, testStart, func(c *Config) { c.RESTRateLimit = 2 })
	for i := range 3 {
		status, hdr, body := h.post(testToken, wire.MethodGetLastPrices, `{"instrumentId":["`+sber+`"]}`)
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		var eb wire.ErrorBody
		json.Unmarshal(body, &eb)
		if status != want || hdr.Get(wire.HeaderRateLimitLimit) != "2" ||
			hdr.Get(wire.HeaderRateLimitRemaining) != strconv.Itoa(max(0, 1-i)) || hdr.Get(wire.HeaderRateLimitReset) != "60" {
			t.Fatalf("request %d: %d %v %s", i, status, hdr, body)
		}
		if i == 2 && (eb.Code != int(wire.CodeResourceExhausted) || eb.TrackingCode() != wire.ErrRequestLimit) {
			t.Fatalf("429 body %s", body)
		}
	}
	// Another service has its own window; the next minute a new one.
	if status, _, _ := h.post(testToken, wire.MethodShares, `{}`); status != http.StatusOK {
		t.Fatalf("another service: %d", status)
	}
	h.advance(time.Minute)
	if status, _, _ := h.post(testToken, wire.MethodGetLastPrices, `{}`); status != http.StatusOK {
		t.Fatalf("next minute: %d", status)
	}
}

// TestClientWaitsOut429 has the client meet a 429 and succeed after
// waiting x-ratelimit-reset on the clock.
func TestClientWaitsOut429(t *testing.T) {
	h := newHarness(t, testStart, nil)
	c := h.client(nil)
	h.srv.Faults().REST429(1)
	done := make(chan error, 1)
	go func() {
		_, err := c.LastPrices(context.Background(), []string{sber})
		done <- err
	}()
	deadline := time.After(waitLimit)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if st := c.Stats(); st.RateLimited != 1 || st.Retries != 1 {
				t.Fatalf("client stats %+v", st)
			}
			if h.srv.Stats().Faults.REST429 != 1 {
				t.Fatalf("server stats %+v", h.srv.Stats().Faults)
			}
			return
		case <-deadline:
			t.Fatal("the client never got through")
		case <-time.After(time.Millisecond):
			h.advance(time.Second) // the client waits for the reset on this clock
		}
	}
}

func TestMarketDataREST(t *testing.T) {
	h := newHarness(t, testStart, nil)
	c := h.client(nil)
	ctx := context.Background()
	now := h.clk.Now()
	book, err := c.OrderBook(ctx, sber, uidOf(h, sber), 5)
	want := h.m.OrderBook(sber, now, 10)
	if err != nil || len(book.Bids) != 5 || book.Bids[0] != want.Bids[0] || book.Asks[4] != want.Asks[4] || book.LastPrice != want.LastPrice {
		t.Fatalf("book %+v, %v; model %+v", book, err, want)
	}
	st, raw, err := c.TradingStatus(ctx, uidOf(h, sber))
	if err != nil || st != tvbridge.StatusNormalTrading || !raw.APITradeAvailableFlag || !raw.MarketOrderAvailableFlag {
		t.Fatalf("status %v %+v %v", st, raw, err)
	}
	sts, err := c.TradingStatuses(ctx, []string{sber, aapl})
	if err != nil || len(sts) != 2 || sts[1].TradingStatus != wire.TradingStatusNotAvailableForTrading {
		t.Fatalf("statuses %+v %v", sts, err) // New York is closed at 04:00
	}
	lps, err := c.LastPrices(ctx, nil)
	last, _ := h.m.LastTrade(sber, now)
	if err != nil || len(lps) != len(h.m.Instruments()) || lps[0].FIGI != sber || lps[0].Price.Float64() != last.Price {
		t.Fatalf("last prices %+v %v", lps, err)
	}
	trades := call[wire.GetLastTradesResponse](t, c, wire.MethodGetLastTrades, wire.GetLastTradesRequest{InstrumentID: sber,
		From: wire.At(now.Add(-time.Minute)), To: wire.At(now)})
	if n := len(h.m.MinuteTrades(sber, now.Add(-time.Minute))); len(trades.Trades) != n || n == 0 {
		t.Fatalf("%d last trades, the model %d", len(trades.Trades), n)
	}
	scheds, err := c.TradingSchedules(ctx, "MOEX", now, now.Add(3*24*time.Hour))
	if err != nil || len(scheds) != 1 || len(scheds[0].Days) != 4 || !scheds[0].Days[0].IsTradingDay ||
		scheds[0].Days[3].IsTradingDay || scheds[0].Days[0].OpeningAuctionStartTime.IsZero() {
		t.Fatalf("schedules %+v %v", scheds, err) // Wednesday to Saturday
	}
	if _, err := c.TradingSchedules(ctx, "", now, now.Add(20*24*time.Hour)); !errors.Is(err, tinvest.ErrInvalidArgument) {
		t.Fatalf("20 days of schedules: %v", err)
	}
}
