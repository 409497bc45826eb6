package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/tape"
)

// noHistory is an api.History without bars: this test only streams.
type noHistory struct{}

func (noHistory) Minutes(context.Context, string, time.Time, time.Time) ([]tvbridge.Bar, error) {
	return nil, nil
}
func (noHistory) Daily(context.Context, string, time.Time, time.Time) ([]tvbridge.Bar, error) {
	return nil, nil
}
func (noHistory) FirstBar(context.Context, string) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (noHistory) ClosedBefore(string) time.Time { return time.Time{} }

// The real /streaming handler takes its connection over from net/http; over
// TLS it still streams chunked HTTP/1.1, and a shutdown still ends it, with
// the last chunk, through the request context.
func TestAPIStreamingOverTLSEndsOnShutdown(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca := newCA(t)
	ca.writeLeaf(t, certFile, keyFile, 1, t0)
	catalog, err := api.BuildCatalog([]tvbridge.Instrument{{FIGI: "BBG004730N88", Ticker: "SBER", Name: "Sberbank",
		Type: tvbridge.Stock, Currency: "RUB", Lot: 10, MinPriceIncrement: 0.01, Exchange: "MOEX",
		Timezone: "Europe/Moscow", Session: "0950-1850"}}, api.CatalogOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tp := tape.New(tape.Config{})
	h := api.NewHandler(api.Config{Catalog: catalog, History: noHistory{}, Tape: tp, Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, h, Options{TLS: &TLSConfig{CertFile: certFile, KeyFile: keyFile},
			DrainTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() { stop(); <-done })

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/streaming")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Proto != "HTTP/1.1" || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" ||
		resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("proto %s, transfer encoding %v, headers %v", resp.Proto, resp.TransferEncoding, resp.Header)
	}
	// The stream subscribed before its headers went out, so this is delivered.
	tp.Append(tvbridge.Tick{Kind: tvbridge.TickTrade, FIGI: "BBG004730N88", Symbol: "SBER", Time: t0, Price: 250.35, Size: 10})
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != `{"f":"t","id":"SBER","p":250.35,"s":10,"t":`+strconv.FormatInt(t0.Unix(), 10)+"}\n" {
		t.Fatalf("first line %q, %v", line, err)
	}

	stop()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after shutdown: %q, %v; want a clean end of the body", rest, err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	done <- nil // for the cleanup
}
