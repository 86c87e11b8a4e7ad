// Package cli holds what every command of thebutton shares to read its
// configuration: the flag set, and Parse, the one place where the
// command line and the environment variables are read into the flags'
// variables and every bad value is reported at once. It imports nothing
// of ours.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
)

// ErrUsage marks a usage error already reported to the user.
var ErrUsage = errors.New("usage")

// NewFlagSet returns the flag set of `thebutton <name>`, whose errors and
// usage go to stderr. A flag whose usage ends with an environment
// variable's name in brackets ("… [NATS_URL]") is set from that variable
// by Parse when the command line does not set it. The flag of a secret
// must accept any value (Parse quotes a value its flag refuses); its check
// reports what is wrong without quoting it.
func NewFlagSet(stderr io.Writer, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: thebutton %s\n\nFlags (environment variables in brackets):\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse reads the configuration of a command: first the command line
// args, then, for each flag the command line left unset, the environment
// variable its usage names (read through getenv; unset or empty leaves
// the flag's default), then the checks. It returns every bad value of the
// environment and every problem the checks report, joined in one error.
//
// A malformed command line or stray arguments are reported on fs's output
// with the usage and return ErrUsage; -h returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string, checks ...func() error) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return ErrUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvName(f.Usage)
		if name == "" || set[f.Name] {
			return
		}
		v := getenv(name)
		if v == "" {
			return
		}
		old := f.Value.String()
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid value for --%s: %w", name, v, f.Name, err))
			// The flag package stores what it could parse (0, false):
			// back to the default, so that the checks report only the
			// bad value itself.
			_ = f.Value.Set(old)
		}
	})
	for _, check := range checks {
		errs = append(errs, check())
	}
	return errors.Join(errs...)
}

// EnvName returns the environment variable a flag's usage names in
// brackets at its end, or "" when it names none.
func EnvName(usage string) string {
	rest, ok := strings.CutSuffix(usage, "]")
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, '[')
	if i < 0 {
		return ""
	}
	name := rest[i+1:]
	if name == "" {
		return ""
	}
	for _, r := range name {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return ""
		}
	}
	return name
}

// PrintJSON writes v as one indented JSON object.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// StartCPUProfile starts a CPU profile into path ("" profiles nothing);
// stop ends it and closes the file.
func StartCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
