package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/auth"
	"tvbridge/bolt"
	"tvbridge/paper"
	"tvbridge/tradeapi"
	"tvbridge/trading"
)

// BenchmarkTradingPolling measures what TradingView's trading panel costs:
// 1,000 users, each with 20 working orders and one position, polling
// /orders, /positions and /state every 500 ms over real loopback HTTP
// through auth, the trading API and the manager (target p99 <= 5 ms). It
// also reports the process's CPU share of the 2 cores (clients included:
// they run in this process) and, unloaded, the latency from placing a
// marketable order to its fill being committed.
//
//	go test -run '^$' -bench TradingPolling -benchtime 1x ./integration/
func BenchmarkTradingPolling(b *testing.B) {
	const (
		users   = 1000
		orders  = 20
		period  = 500 * time.Millisecond
		measure = 10 * time.Second
	)
	// The bridge's process runs with tvbridge serve's --gc-percent default.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	for n := 0; n < b.N; n++ {
		start := time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)
		ex := newExchange(b, start, 0)
		dir := b.TempDir()
		br := startBridge(b, ex, dir, time.Hour)
		sym, _ := br.catalog.Lookup("SBER")
		figi, lot := sym.Instrument.FIGI, float64(sym.Instrument.Lot)
		for i := 0; i < 3000; i++ {
			if _, _, ok := br.market.Book(figi); ok {
				break
			}
			ex.clk.Advance(100 * time.Millisecond)
			time.Sleep(2 * time.Millisecond) // lets the loopback stream deliver; the book is the condition
		}
		book, _, ok := br.market.Book(figi)
		if !ok {
			b.Fatal("no book")
		}

		fills := make(chan string, 1024)
		log := quietLog()
		lookup := br.catalog.Instrument
		venue := paper.New(paper.Config{Market: br.market, Tape: br.tape, Instrument: lookup, Clock: ex.clk, Logger: log,
			StartingCash: 1e9})
		// NoSync only speeds up placing the 20,000 setup orders; polls
		// read memory and never touch the file.
		store, err := bolt.OpenTrading(filepath.Join(dir, "trading.db"), bolt.Options{Logger: log, NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		mgr, err := trading.New(trading.Config{Venue: venue, Market: br.market, Tape: br.tape, Store: store,
			Instrument: lookup, Clock: ex.clk, Logger: log,
			OnChange: func(acc string) {
				select {
				case fills <- acc:
				default:
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go mgr.Run(ctx)
		users0, err := auth.OpenStore(filepath.Join(dir, "auth.db"),
			auth.StoreOptions{NoSync: true, Logger: log, KDF: auth.KDF{Memory: 64, Time: 1, Threads: 1}})
		if err != nil {
			b.Fatal(err)
		}
		svc, err := auth.New(auth.Config{Store: users0, Clock: ex.clk, Logger: log, MaxFailuresPerAddress: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		mux := http.NewServeMux()
		svc.Register(mux)
		mux.Handle("/", svc.Protect(auth.Trading, tradeapi.New(tradeapi.Config{Broker: mgr, Catalog: br.catalog,
			Market: br.market, Clock: ex.clk, Logger: log})))
		srv := httptest.NewUnstartedServer(mux)
		var conns atomic.Int64
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: users, MaxIdleConns: users}}

		// Setup: users, tokens, a position and 20 resting orders each.
		type session struct{ token, acc string }
		sessions := make([]session, users)
		inc := sym.Instrument.MinPriceIncrement
		far := math.Round(book.Bids[0].Price*0.5/inc) * inc
		for u := range sessions {
			name := fmt.Sprintf("user%04d", u)
			if err := users0.AddUser(name, []byte("pw-"+name), nil); err != nil {
				b.Fatal(err)
			}
			tok := authorize(b, client, srv.URL, name, "pw-"+name)
			accs, err := mgr.Accounts(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			sessions[u] = session{tok, accs[0].ID}
			for try := 0; ; try++ {
				_, err := mgr.PlaceOrder(ctx, name, accs[0].ID, tvbridge.OrderRequest{FIGI: figi, Side: tvbridge.Buy,
					Type: tvbridge.MarketOrder, Qty: lot, Duration: tvbridge.OrderDuration{Type: tvbridge.DurationDay}})
				if err == nil {
					break
				}
				if try > 1000 {
					b.Fatal(err)
				}
				// Paper orders share a book snapshot's liquidity: wait for the next one.
				ex.clk.Advance(100 * time.Millisecond)
				time.Sleep(time.Millisecond)
			}
			for i := 0; i < orders; i++ {
				p := math.Round((far-float64(i)*inc)/inc) * inc
				if _, err := mgr.PlaceOrder(ctx, name, accs[0].ID, tvbridge.OrderRequest{FIGI: figi, Side: tvbridge.Buy,
					Type: tvbridge.LimitOrder, Qty: lot, LimitPrice: p,
					Duration: tvbridge.OrderDuration{Type: tvbridge.DurationGTC}}); err != nil {
					b.Fatal(err)
				}
			}
		}

		// Place to fill, unloaded: POST a market order, wait for the
		// manager to commit its fill.
		var placeFill []time.Duration
		s0 := sessions[0]
		for i := 0; i < 200; i++ {
			for len(fills) > 0 {
				<-fills
			}
			// A fresh snapshot each time, so the order has liquidity.
			ex.clk.Advance(time.Second)
			time.Sleep(5 * time.Millisecond) // lets the loopback stream deliver the book
			for len(fills) > 0 {
				<-fills
			}
			began := time.Now()
			id := postOrder(b, client, srv.URL, s0.token, s0.acc, url.Values{"instrument": {sym.Name},
				"qty": {fmt.Sprint(lot)}, "side": {[]string{"buy", "sell"}[i%2]}, "type": {"market"}})
			if strings.HasPrefix(id, "error: ") {
				b.Fatalf("place order %d: %s", i, id)
			}
			for {
				<-fills
				o, err := mgr.Orders(ctx, "user0000", s0.acc)
				if err != nil {
					b.Fatal(err)
				}
				if i := slices.IndexFunc(o, func(o tvbridge.Order) bool { return o.ID == id }); i >= 0 && o[i].Status == tvbridge.OrderFilled {
					break
				}
			}
			placeFill = append(placeFill, time.Since(began))
		}

		// The polling load.
		var mu sync.Mutex
		lat := map[string][]time.Duration{}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		measuring := make(chan struct{})
		for u, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(u) * period / users) // staggers the polls, as real users are
				tick := time.NewTicker(period)
				defer tick.Stop()
				// Each user is a browser of its own, with its own connection:
				// one shared Transport would measure its idle-pool lock.
				own := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
				defer own.CloseIdleConnections()
				var mine [][2]any
				for {
					for _, ep := range []string{"orders", "positions", "state"} {
						began := time.Now()
						get(b, own, srv.URL+"/accounts/"+s.acc+"/"+ep, s.token)
						select {
						case <-measuring:
							mine = append(mine, [2]any{ep, time.Since(began)})
						default:
						}
					}
					select {
					case <-stop:
						mu.Lock()
						for _, m := range mine {
							lat[m[0].(string)] = append(lat[m[0].(string)], m[1].(time.Duration))
						}
						mu.Unlock()
						return
					case <-tick.C:
					}
				}
			}()
		}
		time.Sleep(period * 2) // load-generator warm-up, not synchronisation
		cpu0, wall0 := cpuTime(), time.Now()
		close(measuring)
		b.ResetTimer()
		time.Sleep(measure)
		close(stop)
		b.StopTimer()
		cpu, wall := cpuTime()-cpu0, time.Since(wall0)
		wg.Wait()

		var all []time.Duration
		for ep, ds := range lat {
			slices.Sort(ds)
			b.ReportMetric(float64(pctl(ds, 0.99).Microseconds()), ep+"_p99_µs")
			all = append(all, ds...)
		}
		slices.Sort(all)
		slices.Sort(placeFill)
		b.ReportMetric(float64(pctl(all, 0.5).Microseconds()), "poll_p50_µs")
		b.ReportMetric(float64(pctl(all, 0.99).Microseconds()), "poll_p99_µs")
		b.ReportMetric(float64(len(all))/wall.Seconds(), "polls/s")
		b.ReportMetric(float64(conns.Load()), "connections_opened")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds()/float64(runtime.NumCPU()), "cpu_%_of_machine")
		b.ReportMetric(float64(pctl(placeFill, 0.5).Microseconds()), "place_to_fill_p50_µs")
		b.ReportMetric(float64(pctl(placeFill, 0.99).Microseconds()), "place_to_fill_p99_µs")

		srv.Close()
		cancel()
		mgr.Close()
		svc.Close()
		users0.Close()
		store.Close()
		br.stop(b)
	}
}

func pctl(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[int(float64(len(ds)-1)*p)]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func authorize(b *testing.B, c *http.Client, base, login, password string) string {
	resp, err := c.PostForm(base+"/authorize", url.Values{"login": {login}, "password": {password}})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		D struct {
			Token string `json:"access_token"`
		} `json:"d"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.D.Token == "" {
		b.Fatalf("authorize %s: %v", login, err)
	}
	return v.D.Token
}

func postOrder(b *testing.B, c *http.Client, base, token, acc string, form url.Values) string {
	req, _ := http.NewRequest("POST", base+"/accounts/"+acc+"/orders", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		S   string `json:"s"`
		Msg string `json:"errmsg"`
		D   struct {
			ID string `json:"orderId"`
		} `json:"d"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		b.Fatalf("place order: %v", err)
	}
	if v.S != "ok" {
		return "error: " + v.Msg
	}
	return v.D.ID
}

func get(b *testing.B, c *http.Client, u, token string) {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
}
