// Command tvbridge connects TradingView to a broker: it serves TradingView's
// Broker REST API on top of the broker's own API (Tinkoff Invest OpenAPI v1),
// or on a built-in simulated exchange that speaks the same protocol.
//
// Usage:
//
//	tvbridge serve [flags]   run the bridge (embedded simulator by default)
//	tvbridge sim [flags]     run the simulated exchange alone
//	tvbridge auth ...        manage users and OAuth clients
//	tvbridge check --url URL run TradingView's acceptance tests against a server
//
// Every flag has an environment variable; `tvbridge CMD --help` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"tvbridge/admin"
)

type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"serve", "run the bridge: TradingView's API on an upstream (embedded simulator by default)", runServe},
	{"sim", "run the simulated exchange alone, speaking Tinkoff Invest OpenAPI v1", runSim},
	{"auth", "manage users and OAuth clients (stop serve first)", runAuth},
	{"check", "run TradingView's acceptance tests against a Broker REST API server", runCheck},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil, errors.Is(err, flag.ErrHelp), errors.Is(err, errPrinted):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(stderr, "tvbridge %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "tvbridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: tvbridge COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nRun 'tvbridge COMMAND --help' for the flags of a command.")
}

// errUsage marks a bad command line; the flag package has already said why.
var errUsage = errors.New("usage")

// flagSet builds a FlagSet whose flags each have an environment variable
// (TVBRIDGE_ + upper-cased name with '-' as '_'); a flag given on the
// command line wins over the environment.
type flagSet struct {
	*flag.FlagSet
	envs    map[string]string
	sources map[string]string // where each flag's value came from (config.go)

	// With withConfig: --config and --print-config.
	config      *string
	printConfig *bool
	stdout      io.Writer
}

func newFlagSet(name, summary string, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), envs: map[string]string{}, sources: map[string]string{}}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tvbridge %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", name, summary)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s  [$%s]%s\n      %s\n", f.Name, fs.envs[f.Name], def, f.Usage)
		})
	}
	return fs
}

func envName(flagName string) string {
	b := []byte("TVBRIDGE_")
	for _, c := range flagName {
		switch {
		case c == '-':
			b = append(b, '_')
		case c >= 'a' && c <= 'z':
			b = append(b, byte(c-'a'+'A'))
		default:
			b = append(b, byte(c))
		}
	}
	return string(b)
}

func (fs *flagSet) String(name, def, usage string) *string {
	fs.envs[name] = envName(name)
	return fs.FlagSet.String(name, def, usage)
}

func (fs *flagSet) Int(name string, def int, usage string) *int {
	fs.envs[name] = envName(name)
	return fs.FlagSet.Int(name, def, usage)
}

func (fs *flagSet) Int64(name string, def int64, usage string) *int64 {
	fs.envs[name] = envName(name)
	return fs.FlagSet.Int64(name, def, usage)
}

func (fs *flagSet) Bool(name string, def bool, usage string) *bool {
	fs.envs[name] = envName(name)
	return fs.FlagSet.Bool(name, def, usage)
}

func (fs *flagSet) Float64(name string, def float64, usage string) *float64 {
	fs.envs[name] = envName(name)
	return fs.FlagSet.Float64(name, def, usage)
}

func (fs *flagSet) Duration(name string, def time.Duration, usage string) *time.Duration {
	fs.envs[name] = envName(name)
	return fs.FlagSet.Duration(name, def, usage)
}

// withConfig adds --config (a TOML file of settings, see config.go) and
// --print-config, which prints to stdout.
func (fs *flagSet) withConfig(stdout io.Writer) *flagSet {
	fs.config = fs.String("config", "", "TOML file of settings, in a ["+fs.Name()+"] table keyed by flag name; the environment\n"+
		"      and the command line override it")
	fs.printConfig = fs.Bool("print-config", false, "print the settings in effect, with where each came from (secrets redacted), and exit")
	fs.stdout = stdout
	return fs
}

// parse applies the configuration file (with withConfig), then the
// environment, then the command line.
func (fs *flagSet) parse(args []string) error {
	fs.VisitAll(func(f *flag.Flag) { fs.sources[f.Name] = fromDefault })
	if fs.config != nil {
		if path := configPath(args); path != "" {
			settings, err := configFile(path, fs.Name())
			if err != nil {
				return err
			}
			if err := fs.applyFile(path, settings); err != nil {
				return err
			}
		}
	}
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(fs.envs[f.Name]); ok && bad == nil {
			if err := f.Value.Set(v); err != nil {
				bad = fmt.Errorf("$%s: %w", fs.envs[f.Name], err)
			}
			fs.sources[f.Name] = fromEnv
		}
	})
	if bad != nil {
		return bad
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	fs.Visit(func(f *flag.Flag) { fs.sources[f.Name] = fromFlag })
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	if fs.printConfig != nil && *fs.printConfig {
		fs.printConfigTo(fs.stdout)
		return errPrinted
	}
	return nil
}

// newRingLogger is newLogger whose warnings and errors the operator
// console also shows (admin.LogRing).
func newRingLogger(level string, w io.Writer) (*slog.Logger, *admin.LogRing, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	ring := admin.NewLogRing(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}), 100)
	return slog.New(ring), ring, nil
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
