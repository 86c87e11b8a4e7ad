// Command thebutton runs The Button: the command handler, the timekeeper,
// the projectors, the Discord bot and the web pages, plus the operator
// tools (migrate, replay, verify, status, bench, render). This package is
// wiring only: configuration, connections, roles and shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// app is what every subcommand gets: its output streams and environment.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// subcommand is one verb of the binary. run parses its own flags.
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, a *app, args []string) error
}

func subcommands() []subcommand {
	cmds := []subcommand{
		{"run", "run the service: command handler, timekeeper, projectors, bot (with DISCORD_TOKEN)", runRun},
		{"bench", "benchmarks: bench clicks|projector|replay", runBench},
		{"render", "write every timer card and chart from synthetic data into a folder", func(ctx context.Context, a *app, args []string) error {
			return runRender(ctx, args, a.stdout, a.stderr)
		}},
	}
	cmds = append(cmds, extraSubcommands...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

// extraSubcommands are registered by other files of this package (init).
var extraSubcommands []subcommand

// errUsage marks a usage error already reported to the user.
var errUsage = errors.New("usage")

// Main runs the binary with args (without the program name) and returns
// the exit code: 0 success, 1 failure, 2 usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return Main(ctx, []string{args[1], "-h"}, stdout, stderr, getenv)
		}
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range subcommands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, a, args[1:])
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "thebutton %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "thebutton: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "The Button: a shared countdown for Discord, event-sourced on NATS JetStream.")
	fmt.Fprintln(w, "\nUsage: thebutton <command> [flags]   (thebutton <command> -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help      this list; help <command> shows a command's flags")
}

// newFlagSet returns a flag set whose errors and usage go to a.stderr.
func newFlagSet(a *app, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: thebutton %s\n\nFlags (environment variables in brackets):\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning a parse error into errUsage (already
// printed) and -h into flag.ErrHelp. Stray arguments are a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return errUsage
	}
	return nil
}
