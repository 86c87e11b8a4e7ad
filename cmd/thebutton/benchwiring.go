package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/bench"
	"github.com/thebutton-game/thebutton/metrics"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
)

// runBench is `thebutton bench`: the benchmarks, run on this package's
// wiring.
func runBench(ctx context.Context, a *app, args []string) error {
	return bench.Run(ctx, bench.NewEnv(a.stdout, a.stderr, a.getenv, benchWiring{a}), args)
}

// benchWiring is the service's wiring as the benchmarks use it: the
// flags, configuration and connections of `thebutton run`.
type benchWiring struct{ a *app }

func (w benchWiring) Flags(fs *flag.FlagSet, f bench.Flags) bench.Settings {
	s := &benchSettings{a: w.a, projections: f.Projections}
	if f.NATS {
		s.c.registerNATS(fs) // the log's flags too
	}
	if f.Sinks {
		s.c.registerSinks(fs)
	}
	if f.Log && !f.NATS {
		s.c.registerLog(fs)
	}
	if f.Projections {
		s.ps.register(fs, f.TargetsFlag)
	}
	return s
}

// benchSettings are the settings a benchmark took.
type benchSettings struct {
	a           *app
	c           config
	ps          projSettings
	projections bool
}

func (s *benchSettings) Check() error {
	if !s.projections {
		return s.c.check()
	}
	return errors.Join(s.c.check(), s.ps.check())
}

func (s *benchSettings) Config() bench.Config {
	c := bench.Config{
		NATS: bench.NATS{URL: s.c.natsURL, Listen: s.c.natsListen, Sync: s.c.natsSync, DataDir: s.c.dataDir,
			Stream: s.c.stream, Replicas: s.c.replicas},
		RedisURL: s.c.redisURL, MySQLDSN: string(s.c.mysqlDSN), Log: s.c.logger(s.a),
	}
	if s.projections {
		c.Lease, c.Targets = s.ps.lease(s.c.replicas), s.ps.targets
	}
	return c
}

func (benchWiring) OpenNATS(ctx context.Context, n bench.NATS, log *slog.Logger) (*bench.Conn, error) {
	c := config{natsURL: n.URL, natsListen: n.Listen, natsSync: n.Sync, dataDir: n.DataDir, stream: n.Stream, replicas: n.Replicas}
	conn, err := openNATS(ctx, &c, log)
	if err != nil {
		return nil, err
	}
	return &bench.Conn{JS: conn.js, Store: conn.store, URL: conn.url, Close: conn.close}, nil
}

func (benchWiring) OpenRedis(url string) (redis.UniversalClient, error) { return openRedis(url) }

func (benchWiring) ForEachRedisNode(ctx context.Context, rdb redis.UniversalClient,
	fn func(context.Context, redis.UniversalClient) error) error {
	return forEachRedisNode(ctx, rdb, fn)
}

func (benchWiring) OpenMySQL(ctx context.Context, dsn string, log *slog.Logger) (*mysqlproj.Sink, error) {
	return openMySQL(ctx, secret(dsn), log)
}

// ReactorOptions are the service's, reporting to metrics of their own.
func (benchWiring) ReactorOptions(log *slog.Logger) projector.Options {
	return reactorOptions(log, metrics.New(), projector.LeaseOptions{})
}

func (benchWiring) InteractionsPath() string { return interactionsPath }
