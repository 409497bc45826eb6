// Package metrics is tvbridge's Prometheus adapter. The domain packages keep
// cheap lock-free counters and expose snapshots of them (stream.Pool.Stats,
// tinkoff.Client.Stats, ingest.Service.Progress, bars.Engine.Stats,
// tape.Tape.Stats, api.Handler.Stats, bolt.Store.Stats,
// trading.Manager.Stats, auth.Service.Stats); none of them imports
// Prometheus. This package reads those snapshots at scrape time and turns
// them into const metrics on its own registry, adds the Go runtime and
// process collectors, and measures the TradingView-facing HTTP handler with
// a middleware (http.go).
//
// Every family is listed, with its type, labels and meaning, in README.md.
// Label values are bounded by construction: route patterns, not paths; REST
// endpoint paths from the client's own constants; instrument classes, not
// symbols; never a user.
//
// Wiring, in cmd/tvbridge: build the domain objects, then
//
//	reg := metrics.New(metrics.Sources{Pool: up.Pool(), REST: up.Client(), ...})
//	front := reg.HTTP(front)                 // the TradingView-facing handler
//	admin.Handle("/metrics", reg.Handler())  // on the admin listener
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tvbridge"
	"tvbridge/api"
	"tvbridge/auth"
	"tvbridge/bars"
	"tvbridge/bolt"
	"tvbridge/clock"
	"tvbridge/ingest"
	"tvbridge/tape"
	"tvbridge/tinkoff"
	"tvbridge/tinkoff/stream"
	"tvbridge/trading"
)

// The sources metrics reads, as small interfaces: the domain types satisfy
// them (*stream.Pool, *tinkoff.Client, ...), and tests can fake them.
type (
	// Pool is the upstream stream pool (*stream.Pool).
	Pool interface {
		Stats() stream.Stats
		Subscriptions() []stream.SubscriptionCount
		LastFrames(func(figi string, last time.Time))
	}
	// REST is the upstream REST client (*tinkoff.Client).
	REST interface {
		Stats() tinkoff.ClientStats
		Endpoints() []tinkoff.EndpointStats
		Budgets() []tinkoff.BucketStats
	}
	// Ingest is the ingest service (*ingest.Service).
	Ingest interface{ Progress() *ingest.Progress }
	// Engine is the bar engine (*bars.Engine, from ingest.Service.Engine).
	Engine interface{ Stats() bars.Stats }
	// Tape is the tape (*tape.Tape).
	Tape interface{ Stats() tape.Stats }
	// API is the data endpoints' handler (*api.Handler).
	API interface{ Stats() api.Stats }
	// Store is the bar store (*bolt.Store).
	Store interface{ Stats() bolt.StoreStats }
	// Trading is the trading core (*trading.Manager).
	Trading interface{ Stats() trading.Stats }
	// Auth is the authentication service (*auth.Service).
	Auth interface{ Stats() auth.Stats }
)

// Sources are what the registry exports. A nil source is simply not
// exported: trading off, authentication none, a test without an upstream.
type Sources struct {
	Pool    Pool
	REST    REST
	Ingest  Ingest
	Engine  Engine
	Tape    Tape
	API     API
	Store   Store
	Trading Trading
	Auth    Auth
	// V2Pool and V2REST are the T-Invest API v2 upstream's, in place of
	// Pool and REST (set one pair, not both).
	V2Pool V2Pool
	V2REST V2REST

	// Venue names the trading venue in the trading families' venue label:
	// "paper" or "tinkoff". Default "paper".
	Venue string
	// Instruments is the catalogue, for the instrument class (its type) of
	// each FIGI in tvbridge_upstream_last_frame_age_seconds.
	Instruments []tvbridge.Instrument
	// Clock measures ages (the last frame's); default clock.Real{}. The
	// pool stamps frames on its own clock, which should be this one.
	Clock clock.Clock
	// NoRuntime leaves out the Go runtime and process collectors (for
	// tests that compare expositions).
	NoRuntime bool
}

// Registry is tvbridge's metrics: its own Prometheus registry (never the
// global one) with the collectors of the sources, and the HTTP middleware's
// counters.
type Registry struct {
	reg  *prometheus.Registry
	http *httpMetrics
	own  []prometheus.Collector // the tvbridge_ collectors, for the README test
}

// New builds the registry over src. It panics if two families collide,
// which is a programming error found by the first test that runs it.
func New(src Sources) *Registry {
	if src.Clock == nil {
		src.Clock = clock.Real{}
	}
	if src.Venue == "" {
		src.Venue = "paper"
	}
	r := &Registry{reg: prometheus.NewRegistry(), http: newHTTPMetrics()}
	for _, c := range []prometheus.Collector{r.http.collector(),
		poolCollector(src.Pool, src.Instruments, src.Clock), restCollector(src.REST),
		ingestCollector(src.Ingest), engineCollector(src.Engine), tapeCollector(src.Tape),
		apiCollector(src.API), storeCollector(src.Store),
		tradingCollector(src.Trading, src.Venue), authCollector(src.Auth),
		v2PoolCollector(src.V2Pool), v2RESTCollector(src.V2REST),
	} {
		if c != nil {
			r.reg.MustRegister(c)
			r.own = append(r.own, c)
		}
	}
	if !src.NoRuntime {
		r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			collectors.NewBuildInfoCollector())
	}
	return r
}

// Handler serves the registry in the Prometheus text format (or another
// format the scraper asks for). It is meant for the admin listener, never
// the TradingView-facing one.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Registerer lets other packages (the admin listener, say) add their own
// collectors to the same registry.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// Gatherer reads the registry, for tests and the console.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }
