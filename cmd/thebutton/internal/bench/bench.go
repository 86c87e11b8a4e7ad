// Package bench holds the benchmarks of `thebutton bench` (clicks,
// projector, replay, start, discord, interactions; docs/benchmarks.md) and
// the synthetic streams they seed. A benchmark runs the service's own
// wiring, passed in by cmd/thebutton as a Wiring: its flags and
// environment variables, its NATS, Redis and MySQL connections. It never
// copies that wiring, and it imports nothing of cmd/thebutton but its
// internal/cli.
package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/cli"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
)

// Env is what the benchmarks get from the binary that runs them.
type Env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	w              Wiring
}

// NewEnv returns the environment of the benchmarks: where they print,
// their environment variables and the service's wiring.
func NewEnv(stdout, stderr io.Writer, getenv func(string) string, w Wiring) *Env {
	return &Env{stdout: stdout, stderr: stderr, getenv: getenv, w: w}
}

// Wiring is the service's wiring as the benchmarks use it. cmd/thebutton
// implements it with the code `thebutton run` runs, so a benchmark
// configures and connects exactly as the service does.
type Wiring interface {
	// Flags adds to fs the service's flags of the groups in f, as its
	// commands have them (each with its environment variable), and
	// returns the settings they fill in once fs is parsed.
	Flags(fs *flag.FlagSet, f Flags) Settings
	// OpenNATS connects to n.URL, or starts an embedded server on
	// n.DataDir when it is empty, and opens the event store on n.Stream.
	OpenNATS(ctx context.Context, n NATS, log *slog.Logger) (*Conn, error)
	// OpenRedis returns a client for a REDIS_URL (one Redis or a cluster).
	OpenRedis(url string) (redis.UniversalClient, error)
	// ForEachRedisNode calls fn on every node of rdb that holds data.
	ForEachRedisNode(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, redis.UniversalClient) error) error
	// OpenMySQL opens (and migrates) the MySQL history of a MYSQL_DSN.
	OpenMySQL(ctx context.Context, dsn string, log *slog.Logger) (*mysqlproj.Sink, error)
	// ReactorOptions are the consumer options of the service's
	// discord-effects reactor.
	ReactorOptions(log *slog.Logger) projector.Options
	// InteractionsPath is where the service serves Discord's interactions.
	InteractionsPath() string
}

// Flags names the groups of the service's flags a benchmark takes.
type Flags struct {
	NATS        bool // NATS_URL, NATS_LISTEN, NATS_SYNC, DATA_DIR, NATS_STREAM, NATS_REPLICAS, and the log's
	Sinks       bool // REDIS_URL, MYSQL_DSN
	Log         bool // LOG_LEVEL, LOG_FORMAT (NATS has them too)
	Projections bool // REDIS_PREFIX, PROJECTOR_LEASE_TTL, PROJECTOR_ID
	// TargetsFlag, with Projections, names the flag choosing the
	// projections (redis, mysql; default both); "" adds none.
	TargetsFlag string
}

// Settings are the service's settings a benchmark took.
type Settings interface {
	// Check reports every problem of the settings.
	Check() error
	// Config returns the settings, and builds the process's logger.
	Config() Config
}

// Config is the service's configuration as a benchmark uses it.
type Config struct {
	NATS     NATS
	RedisURL string
	MySQLDSN string // holds a password: never logged
	// Lease is the projections' lease (PROJECTOR_LEASE_TTL,
	// PROJECTOR_ID) and Targets the projections chosen.
	Lease   projector.LeaseOptions
	Targets []string
	Log     *slog.Logger
}

// NATS is where the event stream is.
type NATS struct {
	URL      string // NATS_URL; empty: an embedded server
	Listen   string // NATS_LISTEN: the embedded server's client address
	Sync     string // NATS_SYNC
	DataDir  string // DATA_DIR, the embedded server's store
	Stream   string
	Replicas int
}

// Conn is a connection to JetStream with the event store opened on it.
// Close drains it and stops the embedded server, if any.
type Conn struct {
	JS    jetstream.JetStream
	Store *natsstore.Store
	URL   string
	Close func()
}

// Names of the projections in Config.Targets.
const (
	targetRedis = "redis"
	targetMySQL = "mysql"
)

// benchmarks maps `thebutton bench <name>` to its runner.
var benchmarks = map[string]func(ctx context.Context, a *Env, args []string) error{
	"clicks":       runBenchClicks,
	"projector":    runBenchProjector,
	"replay":       runBenchReplay,
	"start":        runBenchStart,
	"discord":      runBenchDiscord,
	"interactions": runBenchInteractions,
}

// Run runs `thebutton bench <name> [flags]`: args are the name and its
// flags. A usage error is reported on a's stderr and returns cli.ErrUsage.
func Run(ctx context.Context, a *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(a.stderr, "Usage: thebutton bench clicks|projector|replay|start|discord|interactions [flags]  (bench <name> -h for flags)")
		if len(args) == 0 {
			return cli.ErrUsage
		}
		return nil
	}
	run, ok := benchmarks[args[0]]
	if !ok {
		fmt.Fprintf(a.stderr, "thebutton bench: unknown benchmark %q (clicks, projector, replay, start, discord, interactions)\n", args[0])
		return cli.ErrUsage
	}
	return run(ctx, a, args[1:])
}

// newFlagSet returns a flag set whose errors and usage go to a.stderr.
func newFlagSet(a *Env, name, synopsis string) *flag.FlagSet {
	return cli.NewFlagSet(a.stderr, name, synopsis)
}

// parseFlags reads a benchmark's configuration and reports every bad
// value and problem at once (cli.Parse).
func parseFlags(a *Env, fs *flag.FlagSet, args []string, checks ...func() error) error {
	return cli.Parse(fs, args, a.getenv, checks...)
}

// printJSON writes v as one indented JSON object.
func printJSON(w io.Writer, v any) error { return cli.PrintJSON(w, v) }
