package check

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBody bounds what is read of one response: /symbol_info of 10 000
// symbols is a few MiB.
const maxBody = 64 << 20

// reportBody is how much of a response body a report shows.
const reportBody = 1000

// exchange is one request and its response, kept as evidence.
type exchange struct {
	method, url string
	form        string // request body, secrets redacted
	status      int
	proto       string
	header      http.Header
	body        []byte
	err         error // transport error, when there is no response
}

// authMode says what Authorization header a request carries.
type authMode int

const (
	withToken    authMode = iota // the run's token, if there is one
	withoutToken                 // none, to check for 401
	withBadToken                 // an invalid token, to check for 401
)

// badToken is what withBadToken sends; no server should accept it.
const badToken = "tvbridge-check-invalid-token"

// client sends the checker's requests: bounded concurrency, a timeout per
// request, the bearer token, and a record of secrets to keep out of reports.
type client struct {
	base    string
	http    *http.Client
	sem     chan struct{}
	timeout time.Duration

	mu      sync.Mutex
	token   string
	secrets []string
}

func newClient(base string, hc *http.Client, concurrency int, timeout time.Duration) *client {
	return &client{
		base:    strings.TrimRight(base, "/"),
		http:    hc,
		sem:     make(chan struct{}, concurrency),
		timeout: timeout,
	}
}

// setToken makes t the bearer token of later requests.
func (c *client) setToken(t string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = t
	c.secrets = append(c.secrets, t)
}

func (c *client) currentToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// addSecret keeps s (a password, a token) out of every report.
func (c *client) addSecret(s string) {
	if len(s) < 4 {
		return // too short to redact without mangling reports
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A form body carries it URL-encoded.
	c.secrets = append(c.secrets, s, url.QueryEscape(s))
}

func (c *client) redact(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, secret := range c.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "<redacted>")
		}
	}
	return s
}

func (c *client) endpoint(path string, q url.Values) string {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// get is send for a GET without a body.
func (c *client) get(ctx context.Context, path string, q url.Values, mode authMode) *exchange {
	return c.send(ctx, http.MethodGet, path, q, nil, mode)
}

// send makes one request with a form body (nil for none) and reads the
// whole response. A transport error is kept in the exchange, so callers
// report it like any other bad answer.
func (c *client) send(ctx context.Context, method, path string, q, form url.Values, mode authMode) *exchange {
	return c.sendURL(ctx, method, c.endpoint(path, q), form, mode)
}

func (c *client) sendURL(ctx context.Context, method, target string, form url.Values, mode authMode) *exchange {
	ex := &exchange{method: method, url: target}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		ex.err = ctx.Err()
		return ex
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(ctx, method, target, form, mode)
	if err != nil {
		ex.err = err
		return ex
	}
	if form != nil {
		ex.form = form.Encode()
	}
	resp, err := c.http.Do(req)
	if err != nil {
		ex.err = err
		return ex
	}
	defer resp.Body.Close()
	ex.status, ex.proto, ex.header = resp.StatusCode, resp.Proto, resp.Header
	ex.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		ex.err = fmt.Errorf("read response: %w", err)
	case len(ex.body) > maxBody:
		ex.err = fmt.Errorf("response larger than %d MiB", maxBody>>20)
	}
	return ex
}

// status makes a GET and reads only the status line and headers (and a
// short error body): /streaming never ends, so its body is not read.
func (c *client) status(ctx context.Context, path string, q url.Values, mode authMode) *exchange {
	ex := &exchange{method: http.MethodGet, url: c.endpoint(path, q)}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, ex.url, nil, mode)
	if err != nil {
		ex.err = err
		return ex
	}
	resp, err := c.http.Do(req)
	if err != nil {
		ex.err = err
		return ex
	}
	defer resp.Body.Close()
	ex.status, ex.proto, ex.header = resp.StatusCode, resp.Proto, resp.Header
	if resp.StatusCode != http.StatusOK {
		ex.body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
	}
	return ex
}

func (c *client) newRequest(ctx context.Context, method, target string, form url.Values, mode authMode) (*http.Request, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tvbridge-check")
	switch mode {
	case withToken:
		if t := c.currentToken(); t != "" {
			req.Header.Set("Authorization", "Bearer "+t)
		}
	case withBadToken:
		req.Header.Set("Authorization", "Bearer "+badToken)
	}
	return req, nil
}

// failed reports a transport error or a non-200 status, the way a check
// words it.
func (ex *exchange) failed() error {
	switch {
	case ex.err != nil:
		return ex.err
	case ex.status != http.StatusOK:
		return fmt.Errorf("HTTP %d", ex.status)
	}
	return nil
}

// jsonContentType reports whether the response says it is JSON.
func (ex *exchange) jsonContentType() bool {
	return strings.Contains(strings.ToLower(ex.header.Get("Content-Type")), "json")
}

// evidence renders the exchange for a report, redacted and truncated.
func (c *client) evidence(ex *exchange) (request, response string) {
	if ex == nil {
		return "", ""
	}
	request = ex.method + " " + ex.url
	if ex.form != "" {
		request += " body: " + ex.form
	}
	switch {
	case ex.status == 0 && ex.err != nil:
		response = "error: " + ex.err.Error()
	default:
		response = fmt.Sprintf("%s %d", ex.proto, ex.status)
		if ct := ex.header.Get("Content-Type"); ct != "" {
			response += " (" + ct + ")"
		}
		response += " " + truncate(string(ex.body), reportBody)
		if ex.err != nil {
			response += " [" + ex.err.Error() + "]"
		}
	}
	return c.redact(request), c.redact(response)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}
