package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// Projection names, as the sinks name themselves.
const (
	targetRedis = "redis"
	targetMySQL = "mysql"
)

// projSettings are the read-side settings beyond config: the Redis key
// prefix, the lease and which projections run.
type projSettings struct {
	redisPrefix string
	leaseTTL    time.Duration
	holder      string
	targets     []string
}

// register adds the flags of the settings; a targetsFlag names the flag
// that chooses the projections (default both).
func (p *projSettings) register(fs *flag.FlagSet, targetsFlag string) {
	*p = projSettings{targets: []string{targetRedis, targetMySQL}}
	fs.StringVar(&p.redisPrefix, "redis-prefix", "",
		"prefix of every Redis key of the projection, to share one Redis (tests, benches) [REDIS_PREFIX]")
	fs.DurationVar(&p.leaseTTL, "lease-ttl", 10*time.Second,
		"a projection's lease lapses after this without renewal: a standby takes over [PROJECTOR_LEASE_TTL]")
	fs.StringVar(&p.holder, "projector-id", "",
		"this member's name in the projection leases; default the host and a digest of the data directory [PROJECTOR_ID]")
	if targetsFlag != "" {
		fs.Func(targetsFlag, "projections, comma separated: redis, mysql (default both)", func(v string) error {
			t, err := parseTargets(v)
			p.targets = t
			return err
		})
	}
}

func parseTargets(v string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(v, ",") {
		switch t = strings.TrimSpace(t); t {
		case targetRedis, targetMySQL:
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		case "":
		default:
			return nil, fmt.Errorf("%q is not redis or mysql", t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no projection named")
	}
	return out, nil
}

func (p projSettings) check() error {
	if p.leaseTTL < 100*time.Millisecond {
		return fmt.Errorf("PROJECTOR_LEASE_TTL: %s is shorter than 100ms", p.leaseTTL)
	}
	return nil
}

// lease is the lease of a projection; its bucket is kept at replicas
// copies (NATS_REPLICAS, as the stream): created so, raised on an existing
// bucket with fewer.
func (p projSettings) lease(replicas int) projector.LeaseOptions {
	return projector.LeaseOptions{TTL: p.leaseTTL, Holder: p.holder, Replicas: replicas}
}

// memberLease is the lease of a long-running member (run, project): named
// PROJECTOR_ID, else stably after the host and the data directory, so that
// a restart takes its leases back at once.
func (p projSettings) memberLease(dataDir string, replicas int) projector.LeaseOptions {
	l := p.lease(replicas)
	if l.Holder == "" {
		l.Holder = projector.MemberName(dataDir)
	}
	return l
}

// openMySQL opens the MySQL history (migrating it) and pings it.
func openMySQL(ctx context.Context, dsn secret, log *slog.Logger) (*mysqlproj.Sink, error) {
	s, err := mysqlproj.Open(ctx, string(dsn), log.With("component", "mysql"))
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	return s, nil
}

// openMySQLPatiently opens the MySQL history, retrying with back-off until
// it succeeds or ctx ends: the service starts while MySQL is down and the
// history catches up once it is back.
func openMySQLPatiently(ctx context.Context, dsn secret, log *slog.Logger) (*mysqlproj.Sink, error) {
	delay := 250 * time.Millisecond
	var lastLogged time.Time
	for {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s, err := openMySQL(octx, dsn, log)
		cancel()
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Since(lastLogged) >= 10*time.Second {
			log.Error("mysql unavailable, the history waits for it", "next_in", delay, "err", err)
			lastLogged = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// projectorObserver receives what the projectors measure;
// *metrics.Metrics implements it.
type projectorObserver interface {
	ProjectorApplied(projection string, n int, lag time.Duration, lagEvents uint64)
	SetProjectorLag(projection string, lag time.Duration, lagEvents uint64)
	ProjectorRetry(projection, op string)
	DeadLetter(projection string)
}

// failureObserver is a projectorObserver that also wants the error of
// each failed attempt (readiness names it).
type failureObserver interface {
	ProjectorFailing(projection, op string, err error)
}

// lagSampleEvery is how often the lag is sampled besides each batch, so
// that a projector that stalls shows a growing lag.
const lagSampleEvery = 5 * time.Second

// observe sets the hooks of o to report to obs.
func observe(o *projector.Options, name string, obs projectorObserver) {
	if obs == nil {
		return
	}
	o.OnApplied = func(n int, lag time.Duration, pending uint64) { obs.ProjectorApplied(name, n, lag, pending) }
	o.OnRetry = func(op string, err error) {
		obs.ProjectorRetry(name, op)
		if f, ok := obs.(failureObserver); ok {
			f.ProjectorFailing(name, op, err)
		}
	}
	o.OnDeadLetter = func(events.Recorded) { obs.DeadLetter(name) }
}

// sampleLag reports sink's lag at once and then every lagSampleEvery
// until ctx ends: the stream messages after its checkpoint, and the age of
// the first of them. The first sample lets /readyz say ready as soon as a
// projection that is caught up has started, not one period later.
func sampleLag(ctx context.Context, n *natsConn, sink projector.Sink, obs projectorObserver) {
	feed := n.store.Feed()
	t := time.NewTicker(lagSampleEvery)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		pos, err := sink.Position(ctx)
		if err != nil {
			continue
		}
		last, err := feed.LastSeq(ctx)
		if err != nil {
			continue
		}
		var lag time.Duration
		var behind uint64
		if last > pos {
			behind = last - pos
			_ = feed.ReadRange(ctx, pos+1, pos+1, 1, func(next []events.Recorded) error {
				lag = time.Since(next[0].Stored)
				return nil
			})
		}
		obs.SetProjectorLag(sink.Name(), lag, behind)
	}
}

func startProjectorsWith(ctx context.Context, c *config, ps projSettings, n *natsConn, log *slog.Logger, obs projectorObserver) (wait func() error, err error) {
	if err := ps.check(); err != nil {
		return nil, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	opts := func(name string) projector.Options {
		o := projector.Options{
			Log:        log.With("component", "projector"),
			Lease:      ps.memberLease(c.dataDir, c.replicas),
			DeadLetter: projector.DeadLetterOptions{Replicas: c.replicas},
		}
		observe(&o, name, obs)
		return o
	}
	run := func(p *projector.Projector, sink projector.Sink) {
		if obs != nil {
			wg.Go(func() { sampleLag(ctx, n, sink, obs) })
		}
		if err := p.Run(ctx); err != nil {
			fail(fmt.Errorf("%s projector: %w", sink.Name(), err))
		}
	}
	var closers []func()
	if slices.Contains(ps.targets, targetRedis) {
		rdb, err := openRedis(c.redisURL)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { _ = rdb.Close() })
		sink := redisproj.New(rdb, redisproj.Options{Prefix: ps.redisPrefix, Log: log.With("component", "redis")})
		p := projector.New(n.store.Feed(), sink, opts(targetRedis))
		wg.Go(func() { run(p, sink) })
	}
	if slices.Contains(ps.targets, targetMySQL) {
		var (
			smu  sync.Mutex
			sink *mysqlproj.Sink
		)
		closers = append(closers, func() {
			smu.Lock()
			defer smu.Unlock()
			if sink != nil {
				_ = sink.Close()
			}
		})
		wg.Go(func() {
			s, err := openMySQLPatiently(ctx, c.mysqlDSN, log)
			if err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				return
			}
			smu.Lock()
			sink = s
			smu.Unlock()
			run(projector.New(n.store.Feed(), s, opts(targetMySQL)), s)
		})
	}
	log.Info("projectors started", "projections", strings.Join(ps.targets, ","), "redis_prefix", ps.redisPrefix)
	return func() error {
		wg.Wait()
		for _, c := range closers {
			c()
		}
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(errs...)
	}, nil
}

// runProject is `thebutton project`: the projectors alone, until SIGTERM.
func runProject(ctx context.Context, a *app, args []string) error {
	var c config
	var ps projSettings
	fs := newFlagSet(a, "project", "project [flags]")
	c.registerNATS(fs)
	c.registerSinks(fs)
	ps.register(fs, "only")
	if err := parseFlags(a, fs, args, c.check, ps.check); err != nil {
		return err
	}
	log := c.logger(a)
	n, err := openNATS(ctx, &c, log)
	if err != nil {
		return err
	}
	defer n.close()
	wait, err := startProjectorsWith(ctx, &c, ps, n, log, nil)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return shutdown(log, shutdownGrace, component{name: "projectors", wait: wait})
}
