package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tvbridge"
	"tvbridge/admin"
	"tvbridge/api"
	"tvbridge/bars"
	"tvbridge/cluster"
	"tvbridge/ingest"
	"tvbridge/jetstream"
	"tvbridge/live"
	"tvbridge/metrics"
	"tvbridge/postgres"
	"tvbridge/replica"
	"tvbridge/tape"
	"tvbridge/tradeowner"
)

// Cluster mode (issue 13): serve with --postgres-url and --nats-url runs one
// node of a cluster of identical nodes. Every node follows the market-data
// tape on NATS JetStream into its own in-process tape (/streaming), hot
// minutes (/history's open and unflushed minutes) and live market
// (trading's quotes), and serves /history from the bars in PostgreSQL. One
// node at a time, the holder of the "ingester" lease (package cluster),
// runs the upstream and the ingest: it writes bars to PostgreSQL with
// fenced writes and publishes the tape through a bounded queue. The leader
// serves what its follower reads back, like every other node, so all
// nodes carry the same data. The design is in the README's "Running a
// cluster" and in cluster/, postgres/, jetstream/ and replica/.

type clusterOptions struct {
	postgresURL, natsURL, nodeID, advertiseURL *string
	natsStream, natsSubject                    *string
	leaseTTL                                   *time.Duration
}

func clusterFlags(fs *flagSet) clusterOptions {
	return clusterOptions{
		postgresURL: fs.String("postgres-url", "", "cluster mode: PostgreSQL URL of the shared bars, catalogue and leases, e.g.\n"+
			"      postgres://tvbridge@db:5432/tvbridge (with --nats-url; a password belongs in $PGPASSWORD or ~/.pgpass)"),
		natsURL: fs.String("nats-url", "", "cluster mode: NATS server URL(s) with JetStream, comma-separated, e.g. nats://nats:4222\n"+
			"      (with --postgres-url; neither: the embedded single-process mode)"),
		nodeID: fs.String("node-id", "", "cluster mode: this node's name in logs, leases and the tape's headers (empty: the host name)"),
		advertiseURL: fs.String("advertise-url", "", "cluster mode: the base URL at which the other nodes reach this node's TradingView API\n"+
			"      (empty: http(s)://<--listen>, the host name in place of an unspecified address)"),
		natsStream:  fs.String("nats-stream", jetstream.DefaultStream, "cluster mode: name of the JetStream stream holding the tape"),
		natsSubject: fs.String("nats-subject", jetstream.DefaultSubject, "cluster mode: subject prefix of the tape; the stream holds <prefix>.>"),
		leaseTTL: fs.Duration("lease-ttl", cluster.DefaultTTL, "cluster mode: the ingester lease's time to live: a dead ingester is replaced within\n"+
			"      about 4/3 of it (a shorter one fails over faster and steps down on shorter database stalls)"),
	}
}

// enabled reports whether the flags ask for cluster mode.
func (c clusterOptions) enabled() (bool, error) {
	pg, nats := *c.postgresURL != "", *c.natsURL != ""
	switch {
	case pg && nats:
		if *c.leaseTTL < time.Second/2 {
			return false, fmt.Errorf("--lease-ttl %v: want at least 500ms", *c.leaseTTL)
		}
		return true, nil
	case pg:
		return false, errors.New("--postgres-url without --nats-url: cluster mode needs both (the tape travels on NATS JetStream)")
	case nats:
		return false, errors.New("--nats-url without --postgres-url: cluster mode needs both (bars and leases live in PostgreSQL)")
	}
	return false, nil
}

// clusterStart is what runServe has already set up.
type clusterStart struct {
	fs      *flagSet
	log     *slog.Logger
	ring    *admin.LogRing
	started time.Time
	follows ingest.Follow
	audit   time.Duration
}

// clusterNode is one running node: its shared stores, its followed state
// and its part in the election.
type clusterNode struct {
	o   serveOptions
	log *slog.Logger

	// ID names the node (--node-id, default the host name).
	ID string
	// AdvertiseURL is the base URL (scheme://host:port, no trailing slash)
	// at which other nodes reach this node's TradingView API
	// (--advertise-url, else derived from the listener): the address a node
	// forwards a request to when this node owns what it is about (trading
	// accounts). Set once the listener is open.
	AdvertiseURL string

	db   *postgres.DB
	bars *postgres.BarStore // unfenced: reads
	log2 *jetstream.Log
	tape *tape.Tape
	// positions places the tape's entries in the JetStream log, for the
	// trading owner's replay (jetstream.SharedTape).
	positions *jetstream.Positions
	market    *live.Market
	hot       *jetstream.HotMinutes
	follower  *jetstream.Follower
	elector   *cluster.Elector
	history   *replica.History
	trade     *tradeowner.Node // cluster-mode trading (nil with --trading-backend off)

	sessions *sessionIndex
	follows  ingest.Follow
	audit    time.Duration

	// specs is the catalogue the node serves, set once; ready is closed
	// then, so that a leader elected earlier starts its ingest on it.
	specs []bars.InstrumentSpec
	ready chan struct{}

	leading atomic.Pointer[reign] // the running reign, nil on a standby
}

// reign is one term as the ingester, for the console and metrics.
type reign struct {
	epoch  int64
	svc    atomic.Pointer[ingest.Service]
	outbox atomic.Pointer[replica.Outbox]
}

// serveCluster is runServe in cluster mode.
func (o serveOptions) serveCluster(ctx context.Context, st clusterStart) error {
	if *o.restURL == "" && *o.wsURL == "" {
		return errors.New("cluster mode needs a shared upstream: set --upstream-rest-url (Tinkoff, or a 'tvbridge sim' every node reaches);\n" +
			"an embedded simulator per node would give each ingester a different market")
	}
	log := st.log
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// An upstream client built first so that a bad upstream setting fails
	// the start, not each election (the ingester builds and runs its own).
	// The front takes it for the tinvest trading venue, which uses its REST
	// client (see tradecluster.go); its market-data streams never run.
	up, stopUp, err := o.upstream(log, (&sessionIndex{}).inSession)
	if err != nil {
		return err
	}
	defer stopUp()
	n, err := o.openNode(ctx, st, log)
	if err != nil {
		return err
	}
	defer n.close()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	goRun := func(what string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", what, err))
			}
		}()
	}
	goRun("tape follower", n.follower.Run)
	goRun("ingester election", n.elector.Run)

	insts, err := n.waitCatalogue(ctx)
	if err != nil {
		return errors.Join(err, context.Cause(ctx))
	}
	catalog, err := buildCatalog(ctx, insts, n.bars, *o.groupPrefix, log)
	if err != nil {
		return err
	}
	n.specs = instrumentSpecs(catalog)
	n.sessions.set(n.specs)
	n.history, err = replica.New(replica.Config{Store: n.bars, Hot: n.hot, Instruments: n.specs,
		BackfillDepth: time.Duration(*o.backfillDays) * 24 * time.Hour, Logger: log})
	if err != nil {
		return err
	}
	close(n.ready)
	wg.Add(1)
	go func() { defer wg.Done(); n.history.Run(ctx, time.Second) }()
	return n.serve(ctx, cancel, st, catalog, insts, up, &wg)
}

// openNode connects to PostgreSQL and NATS and builds the follower and the
// elector.
func (o serveOptions) openNode(ctx context.Context, st clusterStart, log *slog.Logger) (*clusterNode, error) {
	n := &clusterNode{o: o, log: log, ID: *o.cluster.nodeID, sessions: &sessionIndex{}, follows: st.follows,
		audit: st.audit, ready: make(chan struct{}), tape: tape.New(tape.Config{}), market: live.New(), hot: &jetstream.HotMinutes{}}
	if n.ID == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--node-id: the host name is unknown (%w); set --node-id", err)
		}
		n.ID = host
	}
	log.Info("cluster mode: connecting to PostgreSQL and NATS", "node", n.ID)
	db, err := postgres.Open(ctx, *o.cluster.postgresURL, postgres.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--postgres-url: %w", err)
	}
	n.db, n.bars = db, db.Bars(nil)
	n.log2, err = jetstream.Open(ctx, *o.cluster.natsURL, jetstream.Options{Stream: *o.cluster.natsStream,
		Subject: *o.cluster.natsSubject, NodeID: n.ID, Logger: log})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("--nats-url: %w", err)
	}
	n.positions = &jetstream.Positions{}
	feed := &jetstream.TapeFeeder{Tape: n.tape, Next: n.applyHot, Positions: n.positions}
	n.follower = n.log2.NewFollower(jetstream.FollowerOptions{StartTime: startOfDay(time.Now()), Apply: feed.Apply, Logger: log})
	n.elector, err = cluster.NewElector(cluster.Config{Leases: db.Leases(), NodeID: n.ID, TTL: *o.cluster.leaseTTL,
		Logger: log, OnElected: n.lead})
	if err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// caughtUp waits (a few seconds at most) until the follower has applied
// everything the stream holds, the previous ingester's last messages and
// this one's claim included, so that the hot state is what every node
// streamed.
func (n *clusterNode) caughtUp(ctx context.Context, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	last, err := n.log2.LastSeq(ctx)
	if err == nil {
		err = waitUntil(ctx, 20*time.Millisecond, func() bool { return n.follower.LastApplied() >= last })
	}
	if err != nil {
		log.Warn("the tape follower is behind the stream; the forming minutes start over and their trades may reach /streaming twice",
			"err", err, "applied", n.follower.LastApplied(), "stream_last", last)
		return false
	}
	return true
}

// waitUntil polls cond every interval until it holds or ctx ends.
func waitUntil(ctx context.Context, interval time.Duration, cond func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (n *clusterNode) close() {
	n.log2.Close()
	n.db.Close()
}

// startOfDay is where a fresh node starts reading the tape: the start of
// the UTC day, which covers the hot state of every instrument's current
// trading day for sessions that start after 00:00 UTC (MOEX's do); the
// open minute, unflushed minutes and the daily bar of a session that began
// earlier come back with its next update.
func startOfDay(now time.Time) time.Time { return now.UTC().Truncate(24 * time.Hour) }

// applyHot applies a followed batch to the hot minutes and, for market
// control messages, to the live market.
func (n *clusterNode) applyHot(b jetstream.Batch) error {
	if err := n.hot.Apply(b); err != nil {
		return err
	}
	if c := b.Control; c != nil && c.Kind == replica.ControlMarket {
		return replica.ApplyMarket(c.Data, n.market.Observe)
	}
	return nil
}

// waitCatalogue reads the catalogue the ingester stored in PostgreSQL,
// waiting for it on a fresh cluster.
func (n *clusterNode) waitCatalogue(ctx context.Context) ([]tvbridge.Instrument, error) {
	logged := false
	for {
		insts, at, ok, err := n.bars.Catalogue(ctx)
		switch {
		case err == nil && ok:
			n.log.Info("instrument catalogue read from PostgreSQL", "instruments", len(insts), "loaded", at.Format(time.RFC3339))
			return insts, nil
		case !logged && err != nil:
			n.log.Warn("instrument catalogue unreadable in PostgreSQL; retrying", "err", err)
		case !logged:
			n.log.Info("waiting for the ingester to store the instrument catalogue in PostgreSQL")
		}
		logged = true
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("instrument catalogue: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// serve runs the front and admin listeners until ctx ends.
func (n *clusterNode) serve(ctx context.Context, cancel context.CancelCauseFunc, st clusterStart, catalog *api.Catalog,
	insts []tvbridge.Instrument, up marketUpstream, wg *sync.WaitGroup) error {
	o, log := n.o, n.log
	// Listening first gives the advertised URL, which trading needs: the
	// other nodes forward trading requests to the owner's.
	ln, err := net.Listen("tcp", *o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	scheme := "http://"
	if *o.front.tlsCert != "" {
		scheme = "https://"
	}
	n.AdvertiseURL = advertiseURL(*o.cluster.advertiseURL, scheme, ln.Addr().String())
	o.front.cluster = &tradeCluster{DB: n.db, NodeID: n.ID, AdvertiseURL: n.AdvertiseURL, TTL: *o.cluster.leaseTTL,
		Shared: jetstream.SharedTape{Log: n.log2, Positions: n.positions}}
	dataCfg := o.dataConfig(catalog, n.history, n.tape, log)
	dataCfg.Health = n.health
	data := api.NewHandler(dataCfg)
	fr, err := o.front.build(*o.dataDir, catalog, data, n.market, n.tape, up, log)
	if err != nil {
		return err
	}
	n.trade = fr.tradeOwner
	src := metrics.Sources{Tape: n.tape, API: data, Venue: *o.front.tradingBackend, Instruments: insts}
	if t, ok := fr.broker.(metrics.Trading); ok {
		src.Trading = t
	}
	if fr.auth != nil {
		src.Auth = fr.auth
	}
	reg := metrics.New(src)
	n.registerMetrics(reg.Registerer())
	fr.handler = reg.HTTP(fr.handler)
	adminCfg, err := n.adminConfig(st, catalog, fr, reg.Handler(), func() int { return int(data.Stats().StreamsOpen) })
	if err != nil {
		fr.Close()
		return err
	}
	stop, err := startBackground(ctx, cancel, wg, fr, *o.admin.listen, adminCfg, log)
	if err != nil {
		return err
	}
	defer stop()
	log.Info("tvbridge serving TradingView's API", "url", scheme+ln.Addr().String(),
		"symbols", len(catalog.Symbols()), "node", n.ID, "advertise", n.AdvertiseURL, "mode", "cluster",
		"auth", *o.front.authMode, "trading", *o.front.tradingBackend)
	err = serveFront(ctx, ln, fr, log)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// advertiseURL is --advertise-url, or scheme + the listener's address with
// the host name in place of an unspecified IP.
func advertiseURL(flag, scheme, addr string) string {
	if flag != "" {
		return flag
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	u := url.URL{Scheme: scheme[:len(scheme)-3], Host: net.JoinHostPort(host, port)}
	return u.String()
}

// health is the data API's /healthz report in cluster mode.
func (n *clusterNode) health() map[string]any {
	st := n.elector.Status()
	fs := n.follower.Stats()
	h := map[string]any{
		"mode": "cluster", "node": n.ID, "role": "standby", "ingester": st.Holder, "epoch": st.Epoch,
		"tape_ready": n.follower.Ready(), "tape_lag": n.follower.Lag(), "tape_applied_seq": fs.LastApplied,
		"postgres_reachable": !st.Unreachable, "nats_connected": n.log2.Connected(),
	}
	if st.Leader {
		h["role"] = "ingester"
	}
	if r := n.leading.Load(); r != nil {
		if svc := r.svc.Load(); svc != nil {
			for k, v := range svc.Health() {
				h["ingest_"+k] = v
			}
		}
	}
	return h
}

// lead is the elector's OnElected: this node is the ingester until ctx
// ends or something fails (a fenced write or publish, a full queue).
func (n *clusterNode) lead(ctx context.Context, fence postgres.Fence) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	log := n.log.With("role", "ingester", "epoch", fence.Epoch)
	r := &reign{epoch: fence.Epoch}
	n.leading.Store(r)
	defer n.leading.Store(nil)

	pub, err := n.log2.NewPublisher(ctx, uint64(fence.Epoch))
	if err != nil {
		return fmt.Errorf("tape publisher: %w", err)
	}
	if err := pub.Claim(ctx); err != nil {
		return fmt.Errorf("claim the tape: %w", err)
	}
	store := &fencedBars{BarStore: n.db.Bars(&fence), onFenced: func(err error) {
		log.Error("a bar write was fenced: another node leads; stopping the upstream", "err", err)
		cancel(err)
	}}
	up, stop, err := n.o.upstream(log, n.sessions.inSession)
	if err != nil {
		return err
	}
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	run := func(what string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", what, err))
			}
		}()
	}
	run("upstream stream", up.Run)
	if err := n.storeCatalogue(ctx, up, store, log); err != nil {
		return errors.Join(err, context.Cause(ctx))
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	rec := &replica.MarketRecorder{}
	ob := replica.NewOutbox(replica.OutboxConfig{Publisher: pub, Local: n.tape, Market: rec, OnFail: cancel, Logger: log})
	cfg := n.o.ingestConfig(up, store, ob, n.specs, rec.Observe, n.follows, n.audit, log)
	cfg.MinutesClosed = ob.MinutesClosed
	if n.caughtUp(ctx, log) {
		// Every node has streamed the previous ingester's trades of the
		// forming minutes: continue them rather than stream them again.
		cfg.ResumeOpen = n.hot.OpenMinute
	}
	svc, err := ingest.New(cfg)
	if err != nil {
		return err
	}
	ob.SetOpenMinute(svc.Engine().OpenMinute)
	r.svc.Store(svc)
	r.outbox.Store(ob)
	run("tape publisher", ob.Run)
	run("ingest", svc.Run)
	log.Info("ingesting: upstream streams to the tape, bars to PostgreSQL", "instruments", len(n.specs))
	<-ctx.Done()
	wg.Wait()
	log.Info("ingester stopped", "why", context.Cause(ctx), "published", ob.Published(), "dropped", ob.Dropped())
	return context.Cause(ctx)
}

// storeCatalogue loads the catalogue from the upstream, retrying until it
// answers, and stores it for every node.
func (n *clusterNode) storeCatalogue(ctx context.Context, up marketUpstream, store *fencedBars, log *slog.Logger) error {
	src := &catalogueSource{up: up, store: store, log: log}
	insts, err := src.fetch(ctx, 0)
	if err != nil {
		return err
	}
	log.Info("instrument catalogue loaded from the upstream and stored in PostgreSQL", "instruments", len(insts))
	return nil
}

// fencedBars is the ingester's bar store: every write is fenced by the
// lease's epoch, and the first write refused as fenced ends the reign (the
// ingest service itself would only log it and retry).
type fencedBars struct {
	*postgres.BarStore
	onFenced func(error)
}

func (s *fencedBars) check(err error) error {
	if errors.Is(err, postgres.ErrFenced) {
		s.onFenced(err)
	}
	return err
}

func (s *fencedBars) PutMinutes(ctx context.Context, figi string, b []tvbridge.Bar, covered []tvbridge.Range) (int, error) {
	n, err := s.BarStore.PutMinutes(ctx, figi, b, covered)
	return n, s.check(err)
}

func (s *fencedBars) PutMinutesBatch(ctx context.Context, b map[string][]tvbridge.Bar, covered map[string][]tvbridge.Range) (int, error) {
	n, err := s.BarStore.PutMinutesBatch(ctx, b, covered)
	return n, s.check(err)
}

func (s *fencedBars) PutDaily(ctx context.Context, figi string, b []tvbridge.Bar) (int, error) {
	n, err := s.BarStore.PutDaily(ctx, figi, b)
	return n, s.check(err)
}

func (s *fencedBars) PutFetched(ctx context.Context, figi string, b []tvbridge.Bar, fetched tvbridge.Range) (int, error) {
	n, err := s.BarStore.PutFetched(ctx, figi, b, fetched)
	return n, s.check(err)
}

func (s *fencedBars) ReplaceMinutes(ctx context.Context, figi string, b []tvbridge.Bar, within []tvbridge.Range) (int, int, error) {
	r, c, err := s.BarStore.ReplaceMinutes(ctx, figi, b, within)
	return r, c, s.check(err)
}

func (s *fencedBars) SetFirstBar(ctx context.Context, figi string, t time.Time) error {
	return s.check(s.BarStore.SetFirstBar(ctx, figi, t))
}

func (s *fencedBars) PutCatalogue(ctx context.Context, insts []tvbridge.Instrument, loaded time.Time) error {
	return s.check(s.BarStore.PutCatalogue(ctx, insts, loaded))
}

// registerMetrics adds the cluster's gauges.
func (n *clusterNode) registerMetrics(reg prometheus.Registerer) {
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("tvbridge_cluster_leader", "1 while this node is the ingester (holds the upstream), else 0.", func() float64 {
		if n.elector.Status().Leader {
			return 1
		}
		return 0
	})
	gauge("tvbridge_cluster_epoch", "The ingester lease's epoch as this node last saw it.", func() float64 {
		return float64(n.elector.Status().Epoch)
	})
	gauge("tvbridge_cluster_tape_lag_messages", "Messages of the JetStream tape this node has not applied yet.", func() float64 {
		return float64(n.follower.Lag())
	})
	gauge("tvbridge_cluster_tape_ready", "1 while this node's tape follower is caught up and connected.", func() float64 {
		if n.follower.Ready() {
			return 1
		}
		return 0
	})
	gauge("tvbridge_cluster_publish_queue", "Entries the ingester's tape queue holds for NATS (0 on a standby).", func() float64 {
		if r := n.leading.Load(); r != nil {
			if ob := r.outbox.Load(); ob != nil {
				return float64(ob.Queued())
			}
		}
		return 0
	})
}

// adminConfig is the admin listener in cluster mode: /readyz checks
// PostgreSQL and the tape follower instead of a local store and upstream.
func (n *clusterNode) adminConfig(st clusterStart, catalog *api.Catalog, fr *front, metricsHandler http.Handler,
	streams func() int) (admin.Config, error) {
	o := n.o.admin
	token, err := secretFile(*o.tokenFile, "--admin-token-file")
	if err != nil {
		return admin.Config{}, err
	}
	password, err := secretFile(*o.passwordFile, "--admin-password-file")
	if err != nil {
		return admin.Config{}, err
	}
	parts := adminParts{fs: st.fs}
	cfg := admin.Config{
		Status: func() admin.Status {
			s := admin.Status{Version: version(), Started: st.started, Flags: parts.flags(), Facts: n.facts(),
				Upstream: admin.Upstream{State: n.role(), Catalogue: "postgres", Instruments: len(catalog.Symbols())}}
			s.Streaming = streams()
			return s
		},
		Log: st.ring, API: asUser(*o.consoleUser, fr.console), Token: token, User: *o.user, Password: password,
		Checks: n.checks(catalog),
	}
	cfg.Metrics = metricsHandler
	if *o.listen != "" && !admin.IsLoopback(*o.listen) && !cfg.Protected() {
		return admin.Config{}, errors.New("--admin-listen off loopback needs --admin-token-file or --admin-password-file")
	}
	return cfg, nil
}

func (n *clusterNode) role() string {
	if n.elector.Status().Leader {
		return "ingester"
	}
	return "standby"
}

// facts are the console's cluster figures.
func (n *clusterNode) facts() []admin.Fact {
	st, fs := n.elector.Status(), n.follower.Stats()
	f := func(name string, v any) admin.Fact { return admin.Fact{Name: name, Value: fmt.Sprint(v)} }
	facts := []admin.Fact{
		f("node", n.ID), f("advertised URL", n.AdvertiseURL), f("role", n.role()),
		f("ingester (lease holder)", st.Holder), f("lease epoch", st.Epoch), f("terms led", st.Terms),
		f("tape: last applied sequence", fs.LastApplied), f("tape: lag (messages)", n.follower.Lag()),
		f("tape: messages lost to retention", fs.Lost), f("hot minutes conflicting", n.hot.Conflicts()),
	}
	if n.trade != nil {
		ts := n.trade.Status()
		role := "forwards to the owner"
		if ts.Serves {
			role = "owner"
		}
		facts = append(facts, f("trading", role), f("trading owner (lease holder)", ts.Lease.Holder),
			f("trading lease epoch", ts.Lease.Epoch), f("trading requests served here", ts.Stats.Local),
			f("trading requests forwarded", ts.Stats.Forwarded))
	}
	return facts
}

// checks are /readyz's in cluster mode: the catalogue, PostgreSQL (the
// elector's view and a read) and the tape follower.
func (n *clusterNode) checks(catalog *api.Catalog) []admin.Check {
	return []admin.Check{
		{Name: "catalogue", Run: func(context.Context) error {
			if len(catalog.Symbols()) == 0 {
				return errors.New("no symbols")
			}
			return nil
		}},
		{Name: "postgres", Run: func(ctx context.Context) error {
			if err := n.db.Pool().Ping(ctx); err != nil {
				return fmt.Errorf("PostgreSQL does not answer: %w", err)
			}
			return nil
		}},
		{Name: "tape", Run: func(context.Context) error {
			switch {
			case !n.log2.Connected():
				return errors.New("NATS is not connected")
			case !n.follower.Ready():
				return fmt.Errorf("the tape follower is not caught up (%d messages behind) or the stream does not answer", n.follower.Lag())
			}
			return nil
		}},
	}
}
