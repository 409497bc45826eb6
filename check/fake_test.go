package check

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/clock"
)

// This file is the reference server of the tests: a small, correct
// implementation of TradingView's data endpoints over a deterministic
// market, with switches that each introduce one defect the checker must
// catch. It runs on the fake clock the checker uses; the driver (see
// driver_test.go) advances that clock and makes the streams emit.

// defects are the switches; the zero value is the correct server.
type defects struct {
	msTimes          bool   // stream t in milliseconds
	backwards        bool   // a quote stamped 3 s in the past now and then
	historyDrift     bool   // /history closes one tick off the stream
	noChunked        string // "content-length" or "http10"
	authOptional     bool   // data endpoints answer 200 without a token
	badPriceScale    bool   // a pricescale of 50
	closedBarChanges bool   // bars are restated for 5 minutes after they close
	sameToken        bool   // /authorize returns the same token every time
	legacyNoData     bool   // empty ranges answer the pre-1.3.26 no_data (correct, older form)
	wrongNB          bool   // legacy no_data with nb one minute off
	ignoreCountback  bool   // countback is ignored
	connSkew         bool   // odd connections drop some quotes
	lowercaseExch    bool   // an exchange in lowercase
	dropSymbol       bool   // NYS never streams, though it trades
	extraSymbol      bool   // ticks for a symbol /symbol_info does not list
	idleHeartbeat    bool   // a heartbeat only after 5 s without other lines
}

type fakeSymbol struct {
	name, ticker, typ, tz, session, exchange, group string
	base, tick                                      float64
	pricescale                                      int
	every                                           int64 // a trade every n seconds
	sched                                           *tvbridge.Schedule
}

type fakeServer struct {
	d      defects
	clk    *clock.Fake
	led    *ledger
	syms   []*fakeSymbol
	first  int64 // the first second with data: the left boundary
	quiet  int64 // before it, two minutes in every 97 have no trades (gaps)
	auth   bool  // tokens required
	jwtKey *rsa.PublicKey

	mu      sync.Mutex
	tokens  map[string]bool
	streams map[int]*fakeStream
	nextID  int
	minutes map[int]map[int64]bar // closed minute bars per symbol

	hs     *httptest.Server
	closed chan struct{} // closed when the test ends, for hijacked streams
}

// fakeStart is a Tuesday, 11:00 in New York: every symbol is in session.
var fakeStart = time.Date(2026, 3, 10, 15, 0, 7, 0, time.UTC)

func newFakeServer(t testing.TB, d defects, clk *clock.Fake, led *ledger) *fakeServer {
	f := &fakeServer{
		d: d, clk: clk, led: led,
		first:   fakeStart.Unix() - fakeStart.Unix()%secondsPerDay - 10*secondsPerDay,
		quiet:   fakeStart.Unix() - 3600,
		tokens:  map[string]bool{},
		streams: map[int]*fakeStream{},
		minutes: map[int]map[int64]bar{},
		closed:  make(chan struct{}),
	}
	f.syms = []*fakeSymbol{
		{name: "AAA", ticker: "AAA", typ: "stock", tz: "Etc/UTC", session: "24x7", exchange: "FAKEX", group: "fake_stocks",
			base: 100, tick: 0.01, pricescale: 100, every: 1},
		{name: "CCCUSD", ticker: "CCC/USD", typ: "spot", tz: "Europe/Moscow", session: "24x7", exchange: "FAKEX", group: "fake_crypto",
			base: 2500, tick: 0.5, pricescale: 10, every: 2},
		{name: "NYS", ticker: "NYS", typ: "stock", tz: "America/New_York", session: "0930-1600:23456", exchange: "NYSE", group: "fake_stocks",
			base: 40, tick: 0.01, pricescale: 100, every: 3},
	}
	if d.badPriceScale {
		f.syms[1].pricescale = 50
	}
	if d.lowercaseExch {
		f.syms[2].exchange = "nyse"
	}
	for i, s := range f.syms {
		s.sched = tvbridge.MustSchedule(s.session, s.tz)
		f.minutes[i] = map[int64]bar{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", f.serveAuthorize)
	mux.HandleFunc("/authorize/token", f.serveJWTToken)
	mux.HandleFunc("/groups", f.guard(f.serveGroups))
	mux.HandleFunc("/symbol_info", f.guard(f.serveSymbolInfo))
	mux.HandleFunc("/history", f.guard(f.serveHistory))
	mux.HandleFunc("/streaming", f.guard(f.serveStreaming))
	f.hs = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(f.closed)
		f.hs.CloseClientConnections()
		f.hs.Close()
	})
	return f
}

// --- the market ---

func mix(a, b uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 + b
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// minuteOpen reports whether symbol i can trade in minute m.
func (f *fakeServer) minuteOpen(i int, m int64) bool {
	if m < f.first || !f.syms[i].sched.InSession(time.Unix(m, 0)) {
		return false
	}
	gap := (m / 60) % 97
	return m >= f.quiet || (gap != 13 && gap != 14)
}

// price is symbol i's price at second s (traded or not).
func (f *fakeServer) price(i int, s int64) float64 {
	sym := f.syms[i]
	h := mix(uint64(i)+1, uint64(s))
	return sym.base + sym.tick*float64((s/13+int64(i)*7)%40) + sym.tick*float64(h%3)
}

// trade returns the trade of symbol i at second s, if one happens; open
// is minuteOpen of the second's minute.
func (f *fakeServer) trade(i int, s int64, open bool) (p, size float64, ok bool) {
	if !open || s%f.syms[i].every != 0 {
		return 0, 0, false
	}
	return f.price(i, s), float64(1 + mix(uint64(i)+7, uint64(s))%5), true
}

// minuteBar aggregates the trades of minute m up to second upTo.
func (f *fakeServer) minuteBar(i int, m, upTo int64) (bar, bool) {
	closed := m+59 <= upTo
	if closed {
		f.mu.Lock()
		b, ok := f.minutes[i][m]
		f.mu.Unlock()
		if ok {
			return b, b.V > 0
		}
	}
	var b bar
	open := f.minuteOpen(i, m)
	for s := m; s < m+60 && s <= upTo; s++ {
		p, size, ok := f.trade(i, s, open)
		if !ok {
			continue
		}
		if b.V == 0 {
			b = bar{T: m, O: p, H: p, L: p, C: p}
		}
		b.H, b.L, b.C, b.V = math.Max(b.H, p), math.Min(b.L, p), p, b.V+size
	}
	if closed {
		f.mu.Lock()
		f.minutes[i][m] = b
		f.mu.Unlock()
	}
	return b, b.V > 0
}

// servedMinute is minuteBar as /history serves it, defects included.
func (f *fakeServer) servedMinute(i int, m, now int64) (bar, bool) {
	b, ok := f.minuteBar(i, m, now)
	if !ok {
		return b, false
	}
	if f.d.historyDrift {
		b.C += f.syms[i].tick
		b.H = math.Max(b.H, b.C)
	}
	if f.d.closedBarChanges && m+60 <= now && now < m+60+300 {
		b.V++ // restated later
	}
	return b, true
}

// dayBar aggregates the trading day stamped day (00:00 UTC) up to upTo.
func (f *fakeServer) dayBar(i int, day, upTo int64) (bar, bool) {
	var d bar
	for _, p := range f.syms[i].sched.Periods(time.Unix(day, 0).UTC()) {
		for m := p.Open.Unix(); m < p.Close.Unix() && m <= upTo; m += 60 {
			b, ok := f.minuteBar(i, m, upTo)
			if !ok {
				continue
			}
			if d.V == 0 {
				d = bar{T: day, O: b.O, H: b.H, L: b.L}
			}
			d.H, d.L, d.C, d.V = math.Max(d.H, b.H), math.Min(d.L, b.L), b.C, d.V+b.V
		}
	}
	return d, d.V > 0
}

// --- auth ---

func (f *fakeServer) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.auth {
			hdr := r.Header.Get("Authorization")
			f.mu.Lock()
			ok := f.tokens[strings.TrimPrefix(hdr, "Bearer ")]
			f.mu.Unlock()
			if !ok && !(f.d.authOptional && hdr == "") {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintln(w, `{"s":"error","errmsg":"unauthorized"}`)
				return
			}
		}
		h(w, r)
	}
}

func (f *fakeServer) newToken() string {
	if f.d.sameToken {
		return "the-one-token"
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *fakeServer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.FormValue("login") != "user" || r.FormValue("password") != "secret-pass" {
		writeJSONBody(w, `{"s":"error","errmsg":"bad credentials"}`)
		return
	}
	tok := f.newToken()
	f.mu.Lock()
	f.tokens[tok] = true
	f.mu.Unlock()
	writeJSONBody(w, fmt.Sprintf(`{"s":"ok","d":{"access_token":%q,"expiration":%d}}`, tok, f.clk.Now().Unix()+3600))
}

func (f *fakeServer) serveJWTToken(w http.ResponseWriter, r *http.Request) {
	if err := verifyJWT(f.jwtKey, r.FormValue("assertion")); err != nil || r.FormValue("grant_type") != "urn:fake:jwt" {
		w.WriteHeader(http.StatusBadRequest)
		writeJSONBody(w, fmt.Sprintf(`{"error":"invalid_grant","error_description":%q}`, fmt.Sprint(err)))
		return
	}
	tok := f.newToken()
	f.mu.Lock()
	f.tokens[tok] = true
	f.mu.Unlock()
	writeJSONBody(w, fmt.Sprintf(`{"access_token":%q,"expires_in":1200,"token_type":"Bearer"}`, tok))
}

func writeJSONBody(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, body)
}

// --- /groups and /symbol_info ---

func (f *fakeServer) serveGroups(w http.ResponseWriter, _ *http.Request) {
	writeJSONBody(w, `{"s":"ok","d":{"groups":[{"id":"fake_crypto"},{"id":"fake_stocks"}]}}`)
}

func (f *fakeServer) serveSymbolInfo(w http.ResponseWriter, r *http.Request) {
	group := r.URL.Query().Get("group")
	cols := map[string][]any{}
	add := func(k string, v any) { cols[k] = append(cols[k], v) }
	for _, s := range f.syms {
		if group != "" && s.group != group {
			continue
		}
		add("symbol", s.name)
		add("ticker", s.ticker)
		add("description", s.name+" Inc")
		add("type", s.typ)
		add("currency", "USD")
		add("exchange-listed", s.exchange)
		add("exchange-traded", s.exchange)
		add("minmovement", 1)
		add("pricescale", s.pricescale)
		add("timezone", s.tz)
		add("session-regular", s.session)
		add("has-intraday", true)
		add("has-daily", true)
		add("bar-source", "trade")
	}
	body := map[string]any{"s": "ok"}
	for k, v := range cols {
		body[k] = v
	}
	out, _ := json.Marshal(body)
	writeJSONBody(w, string(out))
}

// --- /history ---

func (f *fakeServer) symbol(id string) int {
	for i, s := range f.syms {
		if s.name == id || s.ticker == id {
			return i
		}
	}
	return -1
}

func (f *fakeServer) serveHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	i := f.symbol(q.Get("symbol"))
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	countback, _ := strconv.Atoi(q.Get("countback"))
	res := q.Get("resolution")
	if i < 0 || err1 != nil || err2 != nil || (res != "1" && res != "1D" && res != "D") {
		writeJSONBody(w, `{"s":"error","errmsg":"bad request"}`)
		return
	}
	if f.d.ignoreCountback {
		countback = 0
	}
	now := f.clk.Now().Unix()
	var bars []bar
	if res == "1" {
		bars = f.minuteRange(i, from, to, countback, now)
	} else {
		bars = f.dayRange(i, from, to, countback, now)
	}
	if len(bars) == 0 && (f.d.legacyNoData || f.d.wrongNB) {
		writeJSONBody(w, f.noData(i, res, from, now))
		return
	}
	writeJSONBody(w, encodeBars(bars))
}

func (f *fakeServer) minuteRange(i int, from, to int64, countback int, now int64) []bar {
	to = min(to, now)
	var bars []bar
	if countback > 0 {
		for m := to - to%60; m >= f.first && len(bars) < countback; m -= 60 {
			if b, ok := f.servedMinute(i, m, now); ok {
				bars = append([]bar{b}, bars...)
			}
		}
		return bars
	}
	for m := from + (60-from%60)%60; m <= to; m += 60 {
		if b, ok := f.servedMinute(i, m, now); ok {
			bars = append(bars, b)
		}
	}
	return bars
}

func (f *fakeServer) dayRange(i int, from, to int64, countback int, now int64) []bar {
	to = min(to, now+secondsPerDay)
	var bars []bar
	if countback > 0 {
		from = to - int64(countback+20)*secondsPerDay
	}
	for day := max(from, f.first-secondsPerDay) / secondsPerDay * secondsPerDay; day <= to; day += secondsPerDay {
		if day < from {
			continue
		}
		if b, ok := f.dayBar(i, day, now); ok {
			bars = append(bars, b)
		}
	}
	if countback > 0 && len(bars) > countback {
		bars = bars[len(bars)-countback:]
	}
	return bars
}

// noData is the legacy empty answer: nb is the closest earlier bar.
func (f *fakeServer) noData(i int, res string, from, now int64) string {
	if res != "1" || from <= f.first {
		return `{"s":"no_data"}`
	}
	for m := from - from%60 - 60; m >= f.first; m -= 60 {
		if _, ok := f.servedMinute(i, m, now); ok {
			if f.d.wrongNB {
				m -= 60
			}
			return fmt.Sprintf(`{"s":"no_data","nb":%d}`, m)
		}
	}
	return `{"s":"no_data"}`
}

func encodeBars(bars []bar) string {
	var cols [6][]string
	for _, b := range bars {
		for c, v := range []float64{float64(b.T), b.O, b.H, b.L, b.C, b.V} {
			cols[c] = append(cols[c], strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	return fmt.Sprintf(`{"s":"ok","t":[%s],"o":[%s],"h":[%s],"l":[%s],"c":[%s],"v":[%s]}`,
		strings.Join(cols[0], ","), strings.Join(cols[1], ","), strings.Join(cols[2], ","),
		strings.Join(cols[3], ","), strings.Join(cols[4], ","), strings.Join(cols[5], ","))
}

// --- /streaming ---

// fakeStream is one open /streaming connection, emitting when told.
type fakeStream struct {
	id       int
	next     int64 // the next second to emit
	lastLine int64 // the second of the last line written, for idleHeartbeat
	emit     chan int64
	done     chan struct{}
	gone     chan struct{}
}

func (f *fakeServer) register() *fakeStream {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	now := f.clk.Now().Unix()
	st := &fakeStream{id: f.nextID, next: now, lastLine: now, emit: make(chan int64), done: make(chan struct{}), gone: make(chan struct{})}
	f.streams[st.id] = st
	f.led.open(st.id)
	return st
}

func (f *fakeServer) unregister(st *fakeStream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.streams, st.id)
	close(st.gone)
}

// emitAll makes every open stream write its lines up to second s.
func (f *fakeServer) emitAll(s int64) {
	f.mu.Lock()
	streams := make([]*fakeStream, 0, len(f.streams))
	for _, st := range f.streams {
		streams = append(streams, st)
	}
	f.mu.Unlock()
	for _, st := range streams {
		select {
		case st.emit <- s:
			select {
			case <-st.done:
			case <-st.gone:
			}
		case <-st.gone:
		}
	}
}

func (f *fakeServer) serveStreaming(w http.ResponseWriter, r *http.Request) {
	st := f.register()
	defer f.unregister(st)
	switch f.d.noChunked {
	case "content-length":
		body := f.lines(st, st.next)
		w.Header().Set("X-Fake-Conn", strconv.Itoa(st.id))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		n, _ := w.Write(body)
		f.led.wrote(st.id, n)
		return
	case "http10":
		f.serveHTTP10(w, st)
		return
	}
	w.Header().Set("X-Fake-Conn", strconv.Itoa(st.id))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case upTo := <-st.emit:
			n, err := w.Write(f.lines(st, upTo))
			w.(http.Flusher).Flush()
			f.led.wrote(st.id, n)
			st.done <- struct{}{}
			if err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// serveHTTP10 answers like an old proxy: HTTP/1.0, no length, the body
// delimited by closing the connection.
func (f *fakeServer) serveHTTP10(w http.ResponseWriter, st *fakeStream) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nX-Fake-Conn: %d\r\n\r\n", st.id)
	if buf.Flush() != nil {
		return
	}
	for {
		select {
		case upTo := <-st.emit:
			n, err := conn.Write(f.lines(st, upTo))
			f.led.wrote(st.id, n)
			st.done <- struct{}{}
			if err != nil {
				return
			}
		case <-f.closed:
			return
		}
	}
}

// lines renders the messages of seconds st.next..upTo.
func (f *fakeServer) lines(st *fakeStream, upTo int64) []byte {
	var b []byte
	for s := st.next; s <= upTo; s++ {
		b = f.appendSecond(b, st, s)
	}
	st.next = upTo + 1
	return b
}

func (f *fakeServer) appendSecond(b []byte, st *fakeStream, s int64) []byte {
	ts := func(t int64) int64 {
		if f.d.msTimes {
			return t * 1000
		}
		return t
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	start := len(b)
	if f.d.extraSymbol && s%30 == 0 {
		b = fmt.Appendf(b, `{"f":"q","id":"ZZZ","t":%d,"ap":2,"as":1,"bp":1,"bs":1}`+"\n", ts(s))
	}
	for i, sym := range f.syms {
		if f.d.dropSymbol && sym.name == "NYS" {
			continue
		}
		open := f.minuteOpen(i, s-s%60)
		if p, size, ok := f.trade(i, s, open); ok {
			b = fmt.Appendf(b, `{"f":"t","id":%q,"p":%s,"s":%s,"t":%d}`+"\n", sym.ticker, num(p), num(size), ts(s))
		}
		if !open {
			continue
		}
		p := f.price(i, s)
		if !(f.d.connSkew && st.id%2 == 0 && s%7 == 0) {
			b = fmt.Appendf(b, `{"f":"q","id":%q,"t":%d,"ap":%s,"as":10,"bp":%s,"bs":12}`+"\n", sym.ticker, ts(s), num(p+sym.tick), num(p-sym.tick))
		}
		if f.d.backwards && i == 0 && s%10 == 5 {
			b = fmt.Appendf(b, `{"f":"q","id":%q,"t":%d,"ap":%s,"as":10,"bp":%s,"bs":12}`+"\n", sym.ticker, ts(s-3), num(p+sym.tick), num(p-sym.tick))
		}
		if s%10 == 0 {
			day, _ := sym.sched.TradingDay(time.Unix(s, 0))
			if d, ok := f.dayBar(i, day.Unix(), s); ok {
				b = fmt.Appendf(b, `{"f":"d","id":%q,"o":%s,"h":%s,"l":%s,"c":%s,"v":%s,"t":%d}`+"\n",
					sym.ticker, num(d.O), num(d.H), num(d.L), num(d.C), num(d.V), ts(day.Unix()))
			}
		}
	}
	switch {
	case f.d.idleHeartbeat && len(b) > start:
		st.lastLine = s
	case f.d.idleHeartbeat && s-st.lastLine >= 5, !f.d.idleHeartbeat && s%5 == 0:
		b = fmt.Appendf(b, `{"heartbeat":%d}`+"\n", ts(s))
		st.lastLine = s
	}
	return b
}
