package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Configuration files.
//
// Every flag of a command can also be set in a TOML file given with
// --config (or $TVBRIDGE_CONFIG), in the table named after the command:
//
//	[serve]
//	listen = "0.0.0.0:8443"
//	backfill-days = 90
//	close-grace = "3s"
//
// The environment overrides the file, and the command line overrides both.
// A key that is no flag of the command is an error, so a typo never goes
// unnoticed. --print-config prints the settings in effect, in the same
// form, each with where it came from, and exits; secrets are never flags
// (the upstream token comes from $TINKOFF_TOKEN or a file), and a setting
// whose name says it holds one is redacted anyway.
//
// TOML, parsed by github.com/BurntSushi/toml: a format made for
// configuration files (typed values, comments, no indentation rules), and
// the parser is the long-standing reference implementation, small and
// dependency-free (and already in the module graph through staticcheck).

// Where a setting's value came from, for --print-config.
const (
	fromDefault = "default"
	fromFile    = "config file"
	fromEnv     = "environment"
	fromFlag    = "command line"
)

// configFile reads the command's table of a configuration file.
func configFile(path, command string) (map[string]any, error) {
	var doc map[string]any
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	for key, v := range doc {
		if _, table := v.(map[string]any); !table {
			return nil, fmt.Errorf("config file %s: %q is outside a table; put settings under [serve], [sim] or [check]", path, key)
		}
	}
	section, _ := doc[command].(map[string]any)
	return section, nil
}

// applyFile sets flags from the file's settings.
func (fs *flagSet) applyFile(path string, settings map[string]any) error {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		f := fs.Lookup(key)
		if f == nil || key == "config" || key == "print-config" {
			return fmt.Errorf("config file %s: [%s] has no setting %q (see 'tvbridge %s --help')", path, fs.Name(), key, fs.Name())
		}
		v, err := settingText(settings[key])
		if err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, key, err)
		}
		if err := f.Value.Set(v); err != nil {
			return fmt.Errorf("config file %s: %s = %s: %w", path, key, v, err)
		}
		fs.sources[key] = fromFile
	}
	return nil
}

// settingText turns a TOML value into the text a flag parses.
func settingText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case []any:
		// A list joins with commas, as the flags that take several values do.
		parts := make([]string, len(v))
		for i, e := range v {
			s, err := settingText(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("unsupported value %v (%T)", v, v)
}

// configPath finds --config among the arguments, else in the environment,
// before the flags are parsed: the file must be applied first.
func configPath(args []string) string {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return os.Getenv(envName("config"))
}

// secretSetting reports whether a setting's name says it holds a secret itself
// (not the name of a file holding one).
func secretSetting(name string) bool {
	if strings.HasSuffix(name, "-file") {
		return false
	}
	for _, w := range []string{"password", "secret", "token"} {
		if strings.HasSuffix(name, w) {
			return true
		}
	}
	return false
}

// printConfig writes the settings in effect as the command's TOML table.
func (fs *flagSet) printConfigTo(w io.Writer) {
	fmt.Fprintf(w, "# tvbridge %s: the settings in effect, and where each came from\n[%s]\n", fs.Name(), fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "print-config" {
			return
		}
		value := tomlValue(f)
		if secretSetting(f.Name) && f.Value.String() != "" {
			value = `"(redacted)"`
		}
		fmt.Fprintf(w, "%s = %s  # %s\n", f.Name, value, fs.sources[f.Name])
	})
	if fs.Name() == "serve" {
		src := "not set"
		if os.Getenv("TINKOFF_TOKEN") != "" {
			src = "set (redacted)"
		}
		fmt.Fprintf(w, "# upstream token: $TINKOFF_TOKEN %s, or --token-file\n", src)
	}
}

// tomlValue formats a flag's value as a TOML value of its type.
func tomlValue(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return strconv.Quote(f.Value.String())
	}
	switch v := g.Get().(type) {
	case bool, int, int64, uint, uint64:
		return fmt.Sprint(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case time.Duration:
		return strconv.Quote(v.String())
	}
	return strconv.Quote(f.Value.String())
}

// errPrinted ends a command that only printed its configuration.
var errPrinted = errors.New("configuration printed")
