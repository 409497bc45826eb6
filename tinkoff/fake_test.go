package tinkoff

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvbridge/clock"
)

// fakeService mimics the v1 REST service's envelopes on a loopback server:
// handlers are registered per "METHOD /path" (path including /openapi), and
// anything else gets the service's 404 UNDEFINED_ROUTE envelope.
type fakeService struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	requests []recordedRequest
}

// recordedRequest is what the fake saw of one request.
type recordedRequest struct {
	Method      string
	Path        string
	RawQuery    string
	Query       url.Values
	Body        string
	Auth        string
	ContentType string
}

func newFakeService(t testing.TB) *fakeService {
	t.Helper()
	f := &fakeService{t: t, handlers: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recordedRequest{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(),
		Body: string(body), Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"),
	})
	h := f.handlers[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if h == nil {
		writeEnvelope(w, http.StatusNotFound, "trk-404", "Error",
			map[string]string{"code": "UNDEFINED_ROUTE", "message": "Cannot find route"})
		return
	}
	h(w, r)
}

// handle registers h for method and path (the path includes /openapi).
func (f *fakeService) handle(method, path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[method+" "+path] = h
}

// ok registers a handler answering a success envelope with payload.
func (f *fakeService) ok(method, path string, payload any) {
	f.handle(method, path, func(w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, http.StatusOK, "trk-ok", "Ok", payload)
	})
}

// raw registers a handler answering status with a literal body.
func (f *fakeService) raw(method, path string, status int, contentType, body string) {
	f.handle(method, path, func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func (f *fakeService) recorded() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

func (f *fakeService) count(path string) int {
	n := 0
	for _, r := range f.recorded() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func writeEnvelope(w http.ResponseWriter, status int, trackingID, envStatus string, payload any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"trackingId": trackingID, "status": envStatus, "payload": payload})
}

// testClock starts at a fixed instant so tests never depend on the date.
func testClock() *clock.Fake {
	return clock.NewFake(time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC))
}

// clientFor returns a client of the fake at BaseURL srv/openapi (or
// srv/openapi/sandbox when sandbox is set), on a fake clock, with its
// transport wrapped to track bodies.
func (f *fakeService) client(cfg ClientConfig, sandbox bool) (*Client, *bodyTracker) {
	tr := &bodyTracker{base: http.DefaultTransport}
	cfg.BaseURL = f.srv.URL + "/openapi"
	if sandbox {
		cfg.BaseURL += "/sandbox"
	}
	if cfg.Token == "" {
		cfg.Token = "secret-token"
	}
	cfg.HTTPClient = &http.Client{Transport: tr}
	if cfg.Clock == nil {
		cfg.Clock = testClock()
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	return NewClient(cfg), tr
}

// bodyTracker wraps a transport and counts response bodies opened, closed,
// and read to EOF before being closed.
type bodyTracker struct {
	base                    http.RoundTripper
	opened, closed, drained atomic.Int64
}

func (b *bodyTracker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(req)
	if resp != nil {
		b.opened.Add(1)
		resp.Body = &trackedBody{ReadCloser: resp.Body, tracker: b}
	}
	return resp, err
}

// check fails the test unless every body opened was drained and closed.
func (b *bodyTracker) check(t *testing.T) {
	t.Helper()
	o, c, d := b.opened.Load(), b.closed.Load(), b.drained.Load()
	if o == 0 || o != c || o != d {
		t.Errorf("bodies: opened %d, closed %d, drained before close %d", o, c, d)
	}
}

type trackedBody struct {
	io.ReadCloser
	tracker *bodyTracker
	eof     bool
	once    sync.Once
}

func (t *trackedBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

func (t *trackedBody) Close() error {
	t.once.Do(func() {
		t.tracker.closed.Add(1)
		if t.eof {
			t.tracker.drained.Add(1)
		}
	})
	return t.ReadCloser.Close()
}
