package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/metrics"
	"github.com/thebutton-game/thebutton/projector"
)

// shutdownGrace bounds the whole shutdown: stop intake, drain consumers,
// close sinks, drain NATS.
const shutdownGrace = 10 * time.Second

// readyMaxLag is how many events a projection may be behind and still
// count as caught up for /readyz at start.
const readyMaxLag = 0

// readySteadyLag is how many events a projection that has caught up may
// fall behind and still count as ready: about 2 s at 1,000 presses/s,
// the ordinary lag of a batch under load. Beyond it (or when it cannot
// apply) /readyz is 503.
const readySteadyLag = 2000

// probeEvery is how often Redis and MySQL are pinged for
// thebutton_sink_up and /readyz: a store that comes back shows within it.
const probeEvery = 2 * time.Second

func runRun(ctx context.Context, a *app, args []string) error {
	var s serviceFlags
	fs := newFlagSet(a, "run", "run [flags]")
	s.register(fs)
	if err := parseFlags(a, fs, args, s.check); err != nil {
		return err
	}
	return serve(ctx, &s, s.c.logger(a), nil)
}

// serviceFlags are the settings of the whole service (run, demo).
type serviceFlags struct {
	c  config
	ps projSettings
	b  botSettings
}

func (s *serviceFlags) register(fs *flag.FlagSet) {
	s.c.registerNATS(fs)
	s.c.registerSinks(fs)
	s.c.registerDiscord(fs)
	s.c.registerHTTP(fs)
	s.ps.register(fs, "")
	s.b.registerBot(fs)
	s.b.http.register(fs)
}

func (s *serviceFlags) check() error {
	return errors.Join(s.c.check(), s.ps.check(), s.b.check(), s.b.http.check(&s.c, s.b.legacy, s.b.shards))
}

// observedCommands counts and times every press the bot hands over.
type observedCommands struct {
	*commands.Handler
	m *metrics.Metrics
}

func (o observedCommands) Press(ctx context.Context, p commands.Press) (commands.Click, error) {
	t := time.Now()
	c, err := o.Handler.Press(ctx, p)
	o.m.ObservePress(pressOutcome(c, err), time.Since(t))
	return c, err
}

func pressOutcome(c commands.Click, err error) string {
	if rej, ok := commands.AsRejection(err); ok {
		return string(rej.Reason)
	}
	switch {
	case errors.Is(err, commands.ErrContention):
		return metrics.OutcomeContention
	case errors.Is(err, commands.ErrShed):
		return metrics.OutcomeShed
	case err != nil:
		return metrics.OutcomeError
	case c.Duplicate:
		return metrics.OutcomeDuplicate
	}
	return metrics.OutcomeAccepted
}

// observer reports the projectors to the metrics and to readiness.
type observer struct {
	m     *metrics.Metrics
	ready *metrics.Readiness
}

func (o observer) ProjectorApplied(projection string, n int, lag time.Duration, lagEvents uint64) {
	o.m.ProjectorApplied(projection, n, lag, lagEvents)
	o.ready.SetProjectorFailing(projection, "")
	o.ready.SetProjectorLag(projection, lagEvents)
}

func (o observer) SetProjectorLag(projection string, lag time.Duration, lagEvents uint64) {
	o.m.SetProjectorLag(projection, lag, lagEvents)
	o.ready.SetProjectorLag(projection, lagEvents)
}

func (o observer) ProjectorRetry(projection, op string) { o.m.ProjectorRetry(projection, op) }

// ProjectorFailing makes /readyz name a projection whose step failed until
// it applies again.
func (o observer) ProjectorFailing(projection, op string, err error) {
	o.ready.SetProjectorFailing(projection, fmt.Sprintf("%s: %v", op, err))
}
func (o observer) DeadLetter(projection string) { o.m.DeadLetter(projection) }

// serve runs the service until ctx ends: command handler, timekeeper,
// projectors, web pages with /metrics, /healthz and /readyz, and the
// Discord bot when a token is set. extra, if not nil, runs beside them
// (the demo's players). Shutdown goes in order within shutdownGrace: stop
// intake (bot, web, timekeeper, extra), drain the projectors, close the
// sinks, drain NATS.
func serve(ctx context.Context, s *serviceFlags, log *slog.Logger,
	extra func(context.Context, observedCommands, *slog.Logger)) error {
	c, ps, b := &s.c, s.ps, s.b
	m := metrics.New()
	m.InitProjections(targetRedis, targetMySQL)
	ready := metrics.NewReadiness(readyMaxLag, targetRedis, targetMySQL)
	ready.SetSteadyLag(readySteadyLag)

	n, err := openNATS(ctx, c, log)
	if err != nil {
		return err
	}
	defer n.close()
	buckets := []string{projector.DefaultLeaseBucket}
	if c.discordToken != "" {
		buckets = append(buckets, discordkv.DefaultBucket)
	}
	noteBucketReplicas(ctx, n.js, c.replicas, log, buckets...)
	m.SetNATSConnected(true)
	ready.SetNATS(true)
	n.nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		m.SetNATSConnected(false)
		ready.SetNATS(false)
		if err != nil { // nil: our own drain at shutdown
			log.Warn("nats disconnected", "err", err)
		}
	})
	n.nc.SetReconnectHandler(func(nc *nats.Conn) {
		m.SetNATSConnected(true)
		ready.SetNATS(true)
		log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
	})

	clock := commands.SystemClock{}
	h := commands.NewHandler(n.store, clock, log.With("component", "commands"))
	if err := h.Open(ctx); err != nil {
		return err
	}
	defer h.Close()
	m.AddConflictSource(func() uint64 { return h.Stats().Conflicts })

	// The projectors drain after intake has stopped: their context ends
	// only when serve says so.
	pctx, stopProjectors := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProjectors()
	waitProjectors, err := startProjectorsWith(pctx, c, ps, n, log, observer{m, ready})
	if err != nil {
		return err
	}

	rdb, err := openRedis(c.redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// The MySQL probe has its own pool that connects lazily: MySQL may be
	// unreachable now, and its series must say so from the first scrape.
	probeDB, err := mysqlProbeDB(c.mysqlDSN)
	if err != nil {
		return err
	}
	defer probeDB.Close()
	probes := []metrics.Probe{
		readyProbe(ready, metrics.SinkRedis, func(ctx context.Context) error { return rdb.Ping(ctx).Err() }),
		readyProbe(ready, metrics.SinkMySQL, probeDB.PingContext),
	}

	var intake sync.WaitGroup
	var intakeErrs []error
	var mu sync.Mutex
	fail := func(err error) {
		if err != nil {
			mu.Lock()
			intakeErrs = append(intakeErrs, err)
			mu.Unlock()
		}
	}
	intake.Go(func() { _ = m.RunProbes(ctx, log.With("component", "probes"), probeEvery, probes...) })
	tk := commands.NewTimekeeper(h, clock, log.With("component", "timekeeper"))
	intake.Go(func() { _ = tk.Run(ctx) })

	lease := ps.memberLease(c.dataDir, c.replicas)
	waitBot, bot, err := startBot(ctx, botParts{c: c, b: b, n: n, h: observedCommands{Handler: h, m: m}, m: m, ready: ready,
		rdb: rdb, redisPrefix: ps.redisPrefix, lease: lease, grace: shutdownGrace / 2, log: log})
	if err != nil {
		return err
	}
	intake.Go(func() { fail(waitBot()) })

	if c.httpAddr != "" {
		health := metrics.HandlerFor(m, ready)
		mount := map[string]http.Handler{"/metrics": health, "/healthz": health, "/readyz": health}
		if err := b.http.mountInteractions(mount, bot, log.With("component", "discordbot")); err != nil {
			return err
		}
		w := newWeb(rdb, ps.redisPrefix, b.publicURL, mount, log.With("component", "web"))
		waitWeb, err := serveWeb(ctx, c.httpAddr, w, log.With("component", "web"))
		if err != nil {
			return err
		}
		intake.Go(func() { fail(waitWeb()) })
	}

	if extra != nil {
		intake.Go(func() { extra(ctx, observedCommands{Handler: h, m: m}, log) })
	}
	log.Info("thebutton running", "nats", n.url, "stream", c.stream, "active_games", len(h.ActiveGames()), "http", c.httpAddr)
	<-ctx.Done()

	return shutdown(log, shutdownGrace,
		component{name: "intake", wait: func() error {
			intake.Wait() // each part of it stops with ctx
			mu.Lock()
			defer mu.Unlock()
			return errors.Join(intakeErrs...)
		}},
		component{name: "projectors", stop: stopProjectors, wait: waitProjectors})
}
