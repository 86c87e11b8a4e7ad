// Command thebutton runs The Button: the command handler, the timekeeper,
// the projectors, the Discord bot and the web pages, plus the operator
// tools (migrate, replay, verify, status, bench, render). This package is
// wiring only: configuration (read by internal/cli), connections, roles
// and shutdown. The benchmarks live in internal/bench and run this
// package's wiring through benchwiring.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	tuneGC(ctx, os.Getenv)
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

// subcommands is every verb of the binary, in the order help lists them.
func subcommands() []subcommand {
	return []subcommand{
		{"bench", "benchmarks: bench clicks|projector|replay", runBench},
		{"demo", "run the whole service on this machine with simulated players on a short-clock demo game", runDemo},
		{"import-legacy", "import the original Python bot's MySQL history: import-legacy --from DSN [--dry-run]", runImportLegacy},
		{"migrate", "apply the MySQL schema migrations", runMigrate},
		{"project", "run only the projectors (Redis and MySQL) of a running stream", runProject},
		{"render", "write every timer card and chart from synthetic data into a folder", func(ctx context.Context, a *app, args []string) error {
			return runRender(ctx, args, a.stdout, a.stderr)
		}},
		{"replay", "rebuild a projection from the stream: replay --target redis|mysql [--from-seq N]", runReplay},
		{"run", "run the service: command handler, timekeeper, projectors, bot (with DISCORD_TOKEN)", runRun},
		{"status", "show the stream, its consumers, each projection's checkpoint and lag, and the dead letters", runStatus},
		{"verify", "compare the projections with a fold of the stream; exit 1 on any difference", runVerify},
	}
}

// errUsage marks a usage error already reported to the user.
var errUsage = cli.ErrUsage

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
	return cli.NewFlagSet(a.stderr, name, synopsis)
}

// parseFlags reads a command's configuration: args, then the environment
// variables of the flags args left unset, then the checks; it reports
// every bad value and every problem at once (cli.Parse). A parse error
// becomes errUsage (already printed), -h flag.ErrHelp.
func parseFlags(a *app, fs *flag.FlagSet, args []string, checks ...func() error) error {
	return cli.Parse(fs, args, a.getenv, checks...)
}
