package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tvbridge/sim"
	"tvbridge/sim/market"
)

func TestSimFaultFlags(t *testing.T) {
	other := market.New(market.Config{Seed: 1}).Instruments()[0] // --sim-seed's default
	simco := market.New(market.Config{Seed: 1}).ByTicker("SIMCO")
	if len(simco) != 1 {
		t.Fatalf("SIMCO: %d instruments", len(simco))
	}
	fs := newFlagSet("sim", "", io.Discard)
	opts := simFlags(fs)
	faults := simFaultFlags(fs)
	t.Setenv("TVBRIDGE_FAULT_LATE_FINALS", "2s")
	err := fs.parse([]string{"--fault-candle-throttle", "5s", "--fault-lose-finals", "4", "--fault-duplicate",
		"--fault-reorder", "--fault-connection-cap", "2", "--fault-silence-every", "10m", "--fault-silence-for", "3m",
		"--fault-silence-instruments", "SIMCO, " + other.FIGI})
	if err != nil {
		t.Fatal(err)
	}
	if err := faults.validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, m, err := opts.build(log, faults.configure)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := faults.apply(srv, m, log); err != nil {
		t.Fatal(err)
	}
	figis := []string{simco[0].FIGI, other.FIGI}
	slices.Sort(figis)
	want := sim.FaultSettings{
		Duplicate: true, Reorder: true, StaleAfterFinal: true,
		LateFinals: 2 * time.Second, LoseFinals: 4, ConnectionCap: 2,
		SilenceEvery: 10 * time.Minute, SilenceFor: 3 * time.Minute, SilenceScheduleInstruments: figis,
	}
	if got := srv.Faults().Settings(); !reflect.DeepEqual(got, want) {
		t.Errorf("settings\n got %+v\nwant %+v", got, want)
	}
	if got := srv.Stats().ConnectionCap; got != 2 {
		t.Errorf("connection cap %d", got)
	}
	var cfg sim.Config
	faults.configure(&cfg)
	if cfg.CandleThrottle != 5*time.Second {
		t.Errorf("candle throttle %v", cfg.CandleThrottle)
	}
}

func TestSimFaultFlagsOffByDefault(t *testing.T) {
	fs := newFlagSet("sim", "", io.Discard)
	opts := simFlags(fs)
	faults := simFaultFlags(fs)
	if err := fs.parse(nil); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	srv, m, err := opts.build(logger, faults.configure)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := faults.apply(srv, m, logger); err != nil {
		t.Fatal(err)
	}
	if got := srv.Faults().Settings(); !reflect.DeepEqual(got, sim.FaultSettings{}) {
		t.Errorf("settings %+v", got)
	}
	if strings.Contains(log.String(), "fault") {
		t.Errorf("logged %q", log.String())
	}
}

func TestSimBadFaultFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--fault-silence-every", "1m"}, "go together"},
		{[]string{"--fault-silence-every", "1m", "--fault-silence-for", "1m"}, "want less than"},
		{[]string{"--fault-lose-finals", "-1"}, "--fault-lose-finals -1"},
		{[]string{"--fault-late-finals", "-1s"}, "--fault-late-finals -1s"},
		{[]string{"--fault-connection-cap", "-2"}, "--fault-connection-cap -2"},
		{[]string{"--fault-silence-instruments", "SIMCO"}, "needs --fault-silence-every"},
		{[]string{"--fault-silence-every", "1m", "--fault-silence-for", "10s", "--fault-silence-instruments", "NOPE"},
			`no instrument "NOPE"`},
		{[]string{"--protocol", "v3"}, `--protocol "v3"`},
		{[]string{"--fault-late-trades", "2s"}, "are for --protocol v2"},
		{[]string{"--protocol", "v2", "--fault-late-finals", "2s"}, "are for --protocol v1"},
		{[]string{"--protocol", "v2", "--fault-late-trades", "2m"}, "--fault-late-trades 2m0s"},
		{[]string{"--protocol", "v2", "--fault-rest-429-every", "-1"}, "--fault-rest-429-every -1"},
	} {
		var out bytes.Buffer
		args := append([]string{"sim", "--listen", "127.0.0.1:0"}, tc.args...)
		if code := run(context.Background(), args, io.Discard, &out); code != 1 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 1 and %q", tc.args, code, out.String(), tc.want)
		}
	}
}

func TestSimHelpDocumentsFaultFlags(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"sim", "--help"}, io.Discard, &out); code != 0 {
		t.Fatalf("sim --help exited %d", code)
	}
	fs := newFlagSet("sim", "", io.Discard)
	simFaultFlags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(out.String(), "--"+f.Name) || !strings.Contains(out.String(), "$"+envName(f.Name)) {
			t.Errorf("sim --help does not document --%s and $%s", f.Name, envName(f.Name))
		}
	})
	if n < 9 {
		t.Errorf("%d fault flags", n)
	}
	// They are the standalone simulator's: serve does not take them.
	out.Reset()
	run(context.Background(), []string{"serve", "--help"}, io.Discard, &out)
	if strings.Contains(out.String(), "--fault-") {
		t.Error("serve --help lists fault flags")
	}
}

// The v2 simulator's fault flags reach its Faults.
func TestSimV2FaultFlags(t *testing.T) {
	fs := newFlagSet("sim", "", io.Discard)
	opts := simFlags(fs)
	faults := simFaultFlags(fs)
	if err := fs.parse([]string{"--fault-duplicate", "--fault-late-trades", "2s", "--fault-corrective-candles",
		"--fault-rest-429-every", "7", "--sim-max-connections", "3"}); err != nil {
		t.Fatal(err)
	}
	if err := faults.validateV2(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := opts.startV2(log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	faults.applyV2(srv, log)
	got := srv.Faults().Settings()
	if !got.Duplicate || got.LateTrades != 2*time.Second || !got.CorrectiveCandles || got.REST429Every != 7 {
		t.Errorf("settings %+v", got)
	}
}
