package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tvbridge/check"
	"tvbridge/openapi"
)

// errChecksFailed is runCheck's error when the run found failures: the
// report says which, the exit status says that there were some.
var errChecksFailed = errors.New("checks failed")

type checkOptions struct {
	url, login, password, passwordFile, token, tokenFile                *string
	jwtKey, jwtCert, jwtTokenURL, jwtGrantType, jwtClientID, jwtSecret  *string
	jwtUserID, jwtAppURL                                                *string
	symbols, left, only, skip, spec, logLevel, tradingAcct, tradingInst *string
	duration, timeout                                                   *time.Duration
	connections, concurrency                                            *int
	json, list, trading                                                 *bool
}

func checkFlags(fs *flagSet) checkOptions {
	return checkOptions{
		url:          fs.String("url", "http://127.0.0.1:8080", "base URL of the server's Broker REST API (endpoints are appended, e.g. https://broker.example/api)"),
		login:        fs.String("login", "", "login for POST /authorize; with --password the server is checked as requiring auth"),
		password:     fs.String("password", "", "password for POST /authorize (prefer $TVBRIDGE_PASSWORD or --password-file over the command line)"),
		passwordFile: fs.String("password-file", "", "file holding the password"),
		token:        fs.String("token", "", "bearer token for the data requests, used as given (prefer $TVBRIDGE_TOKEN or --token-file)"),
		tokenFile:    fs.String("token-file", "", "file holding the bearer token"),
		jwtKey:       fs.String("jwt-key", "", "PEM RSA private key: check the JWT-assertion token exchange (ServerOAuth2Bearer) with it"),
		jwtCert:      fs.String("jwt-cert", "", "PEM certificate of --jwt-key, for the x5t header"),
		jwtTokenURL:  fs.String("jwt-token-url", "", "token URL receiving the assertion (default: --url + /authorize/token)"),
		jwtGrantType: fs.String("jwt-grant-type", "", "the broker's grant_type URN, e.g. urn:your-broker:oauth:grant-type:personal-jwt"),
		jwtClientID:  fs.String("jwt-client-id", "", "client_id (the JWT's iss)"),
		jwtSecret:    fs.String("jwt-client-secret", "", "client_secret (prefer $TVBRIDGE_JWT_CLIENT_SECRET)"),
		jwtUserID:    fs.String("jwt-user-id", "", "the JWT's sub: the user the token is for"),
		jwtAppURL:    fs.String("jwt-app-url", "", "the JWT's spurl claim (default: --url)"),
		duration:     fs.Duration("duration", 2*time.Minute, "how long /streaming is read; stream-vs-history needs one whole minute covered, which 2m5s guarantees"),
		connections:  fs.Int("connections", 4, "parallel /streaming connections (TradingView opens up to 4)"),
		symbols:      fs.String("symbols", "5", "symbols for the /history tests: a comma-separated list, or a number N to pick N active ones"),
		left:         fs.String("left", "", "declared left boundary of the data (YYYY-MM-DD or Unix seconds): no bar may precede it"),
		only:         fs.String("only", "", "run only these checks: comma-separated names, prefixes (history, auth/401) or globs (streaming/*)"),
		skip:         fs.String("skip", "", "skip these checks (same syntax as --only)"),
		trading:      fs.Bool("trading", false, "run the trading smoke scenario (places and cancels orders; demo accounts only)"),
		tradingAcct:  fs.String("trading-account", "", "account id for --trading (default: the first demo account)"),
		tradingInst:  fs.String("trading-instrument", "", "instrument for --trading (default: the account's first with a live quote, else its first)"),
		spec:         fs.String("spec", "", "TradingView OpenAPI spec (YAML) for the schema checks (default: ../shared/reference next to the working directory or the executable)"),
		json:         fs.Bool("json", false, "write the report as JSON"),
		list:         fs.Bool("list", false, "list every check with what it verifies, and exit"),
		concurrency:  fs.Int("concurrency", 4, "requests in flight at most, streams aside"),
		timeout:      fs.Duration("request-timeout", 30*time.Second, "timeout of each request"),
		logLevel:     fs.String("log-level", "info", "progress log level on stderr: debug, info, warn or error"),
	}
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "Runs TradingView's data-integration acceptance tests (and optionally a trading\n"+
		"smoke scenario) against a server implementing the Broker REST API, and reports\n"+
		"every failure with the request and response that show it. Exits 1 if any check fails.", stderr).withConfig(stdout)
	o := checkFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if *o.list {
		for _, c := range check.Catalogue() {
			fmt.Fprintf(stdout, "%-34s %s\n", c.Name, c.Doc)
		}
		return nil
	}
	var status *statusLine
	logOut := stderr
	if isTerminal(stderr) {
		status = &statusLine{w: stderr}
		logOut = status
	}
	log, err := newLogger(*o.logLevel, logOut)
	if err != nil {
		return err
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	cfg.Logger = log
	stopProgress := func() {}
	if status != nil {
		cp := &checkProgress{s: status, started: time.Now()}
		cfg.Progress = cp.update
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); cp.run(pctx) }()
		stopProgress = func() { stop(); <-done }
	}
	rep, err := check.Run(ctx, cfg)
	stopProgress() // the line goes before the report is printed
	if rep == nil {
		return err
	}
	write := rep.WriteText
	if *o.json {
		write = rep.WriteJSON
	}
	if werr := write(stdout); werr != nil {
		return werr
	}
	switch {
	case err != nil:
		return fmt.Errorf("interrupted: %w", err)
	case rep.Failed():
		return fmt.Errorf("%w: %d of %d", errChecksFailed, rep.Summary.Fail, len(rep.Results))
	}
	return nil
}

// config turns the flags into a check.Config, reading the files they name.
func (o checkOptions) config() (check.Config, error) {
	cfg := check.Config{
		URL: *o.url, Login: *o.login, Duration: *o.duration, Connections: *o.connections,
		Only: check.SplitList(*o.only), Skip: check.SplitList(*o.skip),
		Concurrency: *o.concurrency, RequestTimeout: *o.timeout,
	}
	var err error
	if cfg.Password, err = secret(*o.password, *o.passwordFile, "password"); err != nil {
		return cfg, err
	}
	if cfg.Token, err = secret(*o.token, *o.tokenFile, "token"); err != nil {
		return cfg, err
	}
	if n, err := strconv.Atoi(*o.symbols); err == nil {
		cfg.Sample = n
	} else {
		cfg.Symbols = check.SplitList(*o.symbols)
	}
	if cfg.Left, err = parseLeft(*o.left); err != nil {
		return cfg, err
	}
	if *o.trading {
		cfg.Trading = &check.Trading{Account: *o.tradingAcct, Instrument: *o.tradingInst}
	}
	if cfg.JWT, err = o.jwt(); err != nil {
		return cfg, err
	}
	cfg.Spec, cfg.SpecMissing, err = loadSpec(*o.spec)
	return cfg, err
}

func (o checkOptions) jwt() (*check.JWT, error) {
	if *o.jwtKey == "" {
		return nil, nil
	}
	pemKey, err := os.ReadFile(*o.jwtKey)
	if err != nil {
		return nil, fmt.Errorf("--jwt-key: %w", err)
	}
	key, err := check.ParseRSAKey(pemKey)
	if err != nil {
		return nil, fmt.Errorf("--jwt-key: %w", err)
	}
	j := &check.JWT{Key: key, TokenURL: *o.jwtTokenURL, GrantType: *o.jwtGrantType, ClientID: *o.jwtClientID,
		ClientSecret: *o.jwtSecret, UserID: *o.jwtUserID, AppURL: *o.jwtAppURL}
	if *o.jwtCert != "" {
		pemCert, err := os.ReadFile(*o.jwtCert)
		if err != nil {
			return nil, fmt.Errorf("--jwt-cert: %w", err)
		}
		if j.Cert, err = check.ParseCertificate(pemCert); err != nil {
			return nil, fmt.Errorf("--jwt-cert: %w", err)
		}
	}
	return j, nil
}

// secret returns a value given directly or in a file (trimmed).
func secret(value, file, what string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("give the %s directly or by file, not both", what)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s file: %w", what, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// parseLeft reads --left: a date (00:00 UTC) or Unix seconds.
func parseLeft(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--left %q: want YYYY-MM-DD or Unix seconds", v)
	}
	return t, nil
}

// loadSpec loads --spec, or looks for the shared reference next to the
// working directory and the executable. Without one the schema checks
// are skipped with the returned reason; every other check still runs.
func loadSpec(path string) (*openapi.Spec, string, error) {
	if path == "" {
		var dirs []string
		if wd, err := os.Getwd(); err == nil {
			dirs = append(dirs, wd)
		}
		if exe, err := os.Executable(); err == nil {
			dirs = append(dirs, filepath.Dir(exe))
		}
		for _, d := range dirs {
			if path = openapi.Find(d); path != "" {
				break
			}
		}
	}
	if path == "" {
		return nil, "no OpenAPI spec found (../shared/reference/" + openapi.SpecFile + " next to the working directory or the executable): give --spec PATH", nil
	}
	spec, err := openapi.Load(path)
	if err != nil {
		return nil, "", fmt.Errorf("--spec: %w", err)
	}
	return spec, "", nil
}
