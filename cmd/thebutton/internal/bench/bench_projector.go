package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// benchDir makes a scratch embedded JetStream for a bench (unless NATS_URL
// is set and allowed) and returns its cleanup.
func benchDir(n *NATS, allowURL bool, log *slog.Logger) (func(), error) {
	if n.URL != "" && allowURL {
		log.Warn("benchmarking against NATS_URL: bench events are written to its stream", "stream", n.Stream)
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "thebutton-bench-")
	if err != nil {
		return nil, err
	}
	n.URL, n.DataDir, n.Listen = "", dir, "127.0.0.1:0"
	return func() { _ = os.RemoveAll(dir) }, nil
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// deleteRedisPrefix deletes every key starting with prefix, on every
// master of a cluster.
func deleteRedisPrefix(ctx context.Context, w Wiring, rdb redis.UniversalClient, prefix string) error {
	return w.ForEachRedisNode(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			pipe := c.Pipeline()
			for _, k := range batch {
				pipe.Unlink(ctx, k) // one key per command: keys of several slots
			}
			_, err := pipe.Exec(ctx)
			batch = batch[:0]
			return err
		}
		for it.Next(ctx) {
			batch = append(batch, it.Val())
			if len(batch) == 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		return flush()
	})
}

// percentile returns the p-th percentile (0–100) of sorted durations, in ms.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return float64(sorted[i].Microseconds()) / 1000
}

// projectorResult is what `bench projector` prints. Lag is from the
// append's acknowledgement (Press returned) to the click being visible
// through the Redis reader (the game's click count reached its number).
type projectorResult struct {
	Rate         int     `json:"rate"`
	DurationS    float64 `json:"duration_s"`
	Games        int     `json:"games"`
	Players      int     `json:"players"`
	Events       int     `json:"events"`
	EventsPerSec float64 `json:"events_per_sec"`
	LagP50MS     float64 `json:"lag_p50_ms"`
	LagP90MS     float64 `json:"lag_p90_ms"`
	LagP99MS     float64 `json:"lag_p99_ms"`
	LagMaxMS     float64 `json:"lag_max_ms"`
	// ApplyP50MS and ApplyP99MS time the Redis sink's Apply calls;
	// Batches counts them (a batch holds what arrived meanwhile).
	ApplyP50MS float64 `json:"apply_p50_ms"`
	ApplyP99MS float64 `json:"apply_p99_ms"`
	Batches    int     `json:"batches"`
	Rejected   int     `json:"rejected"`
	Errors     int     `json:"errors"`
	Late       int     `json:"presses_started_late"` // the driver could not keep the rate
	WithMySQL  bool    `json:"with_mysql"`
	NATS       string  `json:"nats"`
}

// timedSink times each Apply of the sink it wraps.
type timedSink struct {
	projector.Sink
	mu    sync.Mutex
	times []time.Duration
}

func (s *timedSink) Apply(ctx context.Context, batch []events.Recorded) error {
	start := time.Now()
	err := s.Sink.Apply(ctx, batch)
	d := time.Since(start)
	s.mu.Lock()
	s.times = append(s.times, d)
	s.mu.Unlock()
	return err
}

// waiter is a click waiting to become visible.
type waiter struct {
	number int64
	acked  time.Time
}

func runBenchProjector(ctx context.Context, a *Env, args []string) error {
	fs := newFlagSet(a, "bench projector", "bench projector --rate R --duration D [flags]")
	rateFlag := fs.Int("rate", 1000, "presses per second, open loop")
	duration := fs.Duration("duration", 10*time.Second, "how long presses go on")
	games := fs.Int("games", 10, "games pressed at once (cooldown 0, no sequential rule)")
	players := fs.Int("players", 200, "simulated players")
	withMySQL := fs.Bool("with-mysql", false, "run the MySQL projector too, in a scratch database (as `run` does)")
	s := a.w.Flags(fs, Flags{NATS: true, Sinks: true, Projections: true})
	if err := parseFlags(a, fs, args, s.Check, func() error {
		if *rateFlag < 1 || *duration <= 0 || *games < 1 || *players < 1 {
			return errors.New("rate, duration, games and players must be positive")
		}
		return nil
	}); err != nil {
		return err
	}
	c := s.Config()
	log := c.Log
	cleanup, err := benchDir(&c.NATS, true, log)
	if err != nil {
		return err
	}
	defer cleanup()
	n, err := a.w.OpenNATS(ctx, c.NATS, log)
	if err != nil {
		return err
	}
	defer n.Close()

	rdb, err := a.w.OpenRedis(c.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	prefix := "bench:" + RandomHex(6) + ":"
	defer func() {
		if err := deleteRedisPrefix(context.WithoutCancel(ctx), a.w, rdb, prefix); err != nil {
			log.Error("bench keys left in Redis", "prefix", prefix, "err", err)
		}
	}()
	sink := &timedSink{Sink: redisproj.New(rdb, redisproj.Options{Prefix: prefix, Log: log})}
	reader := redisproj.NewReader(rdb, prefix)
	if err := reader.Ping(ctx); err != nil {
		return err
	}

	h := commands.NewHandler(n.Store, commands.SystemClock{}, log.With("component", "commands"))
	if err := h.Open(ctx); err != nil {
		return err
	}
	defer h.Close()
	guild := "300000000000000001"
	ids := make([]events.GameID, *games)
	for i := range ids {
		g, err := h.StartGame(ctx, commands.StartGame{
			Guild: guild, Channel: strconv.Itoa(310000000000000000 + i), By: "300000000000000002",
			Duration: 12 * time.Hour, Cooldown: 0,
		})
		if err != nil {
			return fmt.Errorf("start bench game: %w", err)
		}
		ids[i] = g.Game
	}

	// The projectors: Redis (measured) and, if asked, MySQL beside it.
	pctx, stopProjectors := context.WithCancel(ctx)
	defer stopProjectors()
	applied := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	lease := c.Lease
	lease.Bucket = "BENCH_" + RandomHex(4)
	po := projector.Options{Log: log, Lease: lease, OnCheckpoint: func(uint64) {
		select {
		case applied <- struct{}{}:
		default:
		}
	}}
	rp := projector.New(n.Store.Feed(), sink, po)
	wg.Go(func() { _ = rp.Run(pctx) })
	if *withMySQL {
		ms, drop, err := scratchMySQL(ctx, a.w, c.MySQLDSN, log)
		if err != nil {
			return err
		}
		defer drop()
		mo := projector.Options{Log: log, Lease: lease}
		wg.Go(func() { _ = projector.New(n.Store.Feed(), ms, mo).Run(pctx) })
	}
	last, err := n.Store.LastSeq(ctx)
	if err != nil {
		return err
	}
	if err := WaitPosition(ctx, sink, last, 30*time.Second); err != nil {
		return err
	}

	// The watcher: after each committed batch (and every 2 ms in case a
	// signal was merged), read the games with waiting clicks through the
	// reader and record when each click became visible.
	var (
		mu      sync.Mutex
		waiting = map[events.GameID][]waiter{}
		lags    []time.Duration
	)
	wctx, stopWatcher := context.WithCancel(ctx)
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-applied:
			case <-tick.C:
			}
			mu.Lock()
			var look []events.GameID
			for id, ws := range waiting {
				if len(ws) > 0 {
					look = append(look, id)
				}
			}
			mu.Unlock()
			for _, id := range look {
				g, err := reader.Game(wctx, id)
				if err != nil {
					continue
				}
				seen := time.Now()
				mu.Lock()
				ws := waiting[id]
				k := 0
				for _, w := range ws {
					if w.number <= g.Clicks {
						lags = append(lags, seen.Sub(w.acked))
						continue
					}
					ws[k] = w
					k++
				}
				waiting[id] = ws[:k]
				mu.Unlock()
			}
		}
	}()

	// The driver: presses due every 1/rate, open loop, run by workers.
	type job struct {
		game events.GameID
		user string
		id   int
	}
	jobs := make(chan job, 4096)
	var rejected, failed, late atomic.Int64
	var workers sync.WaitGroup
	for range 64 {
		workers.Go(func() {
			for j := range jobs {
				click, err := h.Press(ctx, commands.Press{Game: j.game, Guild: guild, User: j.user, Interaction: "b" + strconv.Itoa(j.id)})
				acked := time.Now()
				if _, ok := commands.AsRejection(err); ok {
					rejected.Add(1)
					continue
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				waiting[j.game] = append(waiting[j.game], waiter{number: click.Number, acked: acked})
				mu.Unlock()
			}
		})
	}
	interval := time.Second / time.Duration(*rateFlag)
	start := time.Now()
	total := int(duration.Seconds() * float64(*rateFlag))
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if d < -5*time.Millisecond {
			late.Add(1)
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{game: ids[rng.IntN(len(ids))], user: strconv.Itoa(320000000000000000 + rng.IntN(*players)), id: i}
	}
	close(jobs)
	workers.Wait()
	pressing := time.Since(start)

	// Wait for every accepted click to show.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		left := 0
		for _, ws := range waiting {
			left += len(ws)
		}
		mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopWatcher()
			<-watcherDone
			return fmt.Errorf("%d clicks still not visible through the reader 30s after the last press", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopWatcher()
	<-watcherDone
	stopProjectors()

	slices.Sort(lags)
	sink.mu.Lock()
	applies := slices.Clone(sink.times)
	sink.mu.Unlock()
	slices.Sort(applies)
	res := projectorResult{
		ApplyP50MS: percentile(applies, 50), ApplyP99MS: percentile(applies, 99), Batches: len(applies),
		Rate: *rateFlag, DurationS: pressing.Seconds(), Games: *games, Players: *players,
		Events: len(lags), EventsPerSec: float64(len(lags)) / pressing.Seconds(),
		LagP50MS: percentile(lags, 50), LagP90MS: percentile(lags, 90), LagP99MS: percentile(lags, 99), LagMaxMS: percentile(lags, 100),
		Rejected: int(rejected.Load()), Errors: int(failed.Load()), Late: int(late.Load()), WithMySQL: *withMySQL, NATS: n.URL,
	}
	return printJSON(a.stdout, res)
}

// WaitPosition waits until sink's checkpoint reaches seq.
func WaitPosition(ctx context.Context, sink projector.Sink, seq uint64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		pos, err := sink.Position(ctx)
		if err == nil && pos >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s projection at %d, not %d, after %s (err %v)", sink.Name(), pos, seq, d, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// scratchMySQL opens the MySQL history in a new database on the server of
// dsn; drop deletes the database and closes the sink.
func scratchMySQL(ctx context.Context, w Wiring, dsn string, log *slog.Logger) (*mysqlproj.Sink, func(), error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	cfg.DBName = "thebutton_bench_" + RandomHex(5)
	sink, err := w.OpenMySQL(ctx, cfg.FormatDSN(), log)
	if err != nil {
		return nil, nil, err
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := sink.DB().ExecContext(dctx, "DROP DATABASE `"+cfg.DBName+"`"); err != nil {
			log.Error("bench database left behind", "database", cfg.DBName, "err", err)
		}
		_ = sink.Close()
	}
	return sink, drop, nil
}

// replayResult is what `bench replay` prints: how fast each projection is
// rebuilt from a stream of Events messages (applying only; reading the
// stream included).
type replayResult struct {
	Events            int     `json:"events"`
	Games             int     `json:"games"`
	Batch             int     `json:"batch"`
	GenerateSeconds   float64 `json:"generate_seconds"`
	RedisSeconds      float64 `json:"redis_seconds,omitempty"`
	RedisEventsPerSec float64 `json:"redis_events_per_sec,omitempty"`
	MySQLSeconds      float64 `json:"mysql_seconds,omitempty"`
	MySQLEventsPerSec float64 `json:"mysql_events_per_sec,omitempty"`
	Verified          bool    `json:"verified"`
}

func runBenchReplay(ctx context.Context, a *Env, args []string) error {
	fs := newFlagSet(a, "bench replay", "bench replay --events N [flags]")
	count := fs.Int("events", 200000, "messages in the scratch stream")
	games := fs.Int("games", 20, "games the clicks are spread over")
	batch := fs.Int("batch", 5000, "messages per write (as replay's default)")
	verify := fs.Bool("verify", false, "verify each projection against the stream afterwards (slow)")
	s := a.w.Flags(fs, Flags{NATS: true, Sinks: true, Projections: true, TargetsFlag: "targets"})
	if err := parseFlags(a, fs, args, s.Check, func() error {
		if *count < 10 || *games < 1 || *batch < 1 || *count < 3**games {
			return errors.New("events ≥ 10 and ≥ 3 per game, games and batch positive")
		}
		return nil
	}); err != nil {
		return err
	}
	c := s.Config()
	log := c.Log
	cleanup, err := benchDir(&c.NATS, false, log)
	if err != nil {
		return err
	}
	defer cleanup()
	n, err := a.w.OpenNATS(ctx, c.NATS, log)
	if err != nil {
		return err
	}
	defer n.Close()

	start := time.Now()
	if err := generateStream(ctx, n.JS, *count, *games); err != nil {
		return err
	}
	res := replayResult{Events: *count, Games: *games, Batch: *batch, GenerateSeconds: time.Since(start).Seconds(), Verified: *verify}
	ropts := projector.ReplayOptions{Log: log, BatchSize: *batch, Lease: projector.LeaseOptions{Disabled: true}}

	if slices.Contains(c.Targets, targetRedis) {
		rdb, err := a.w.OpenRedis(c.RedisURL)
		if err != nil {
			return err
		}
		defer rdb.Close()
		prefix := "bench:" + RandomHex(6) + ":"
		defer func() {
			if err := deleteRedisPrefix(context.WithoutCancel(ctx), a.w, rdb, prefix); err != nil {
				log.Error("bench keys left in Redis", "prefix", prefix, "err", err)
			}
		}()
		sink := redisproj.New(rdb, redisproj.Options{Prefix: prefix, Log: log})
		r, err := projector.Replay(ctx, n.Store.Feed(), sink, ropts)
		if err != nil {
			return err
		}
		res.RedisSeconds, res.RedisEventsPerSec = r.Elapsed.Seconds(), rate(r.Applied, r.Elapsed)
		if err := benchVerify(ctx, n.JS, c.NATS.Stream, sink, *verify); err != nil {
			return err
		}
	}
	if slices.Contains(c.Targets, targetMySQL) {
		sink, drop, err := scratchMySQL(ctx, a.w, c.MySQLDSN, log)
		if err != nil {
			return err
		}
		defer drop()
		r, err := projector.Replay(ctx, n.Store.Feed(), sink, ropts)
		if err != nil {
			return err
		}
		res.MySQLSeconds, res.MySQLEventsPerSec = r.Elapsed.Seconds(), rate(r.Applied, r.Elapsed)
		if err := benchVerify(ctx, n.JS, c.NATS.Stream, sink, *verify); err != nil {
			return err
		}
	}
	return printJSON(a.stdout, res)
}

// rate is n per second of d (0 for no time).
func rate(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func benchVerify(ctx context.Context, js jetstream.JetStream, stream string, sink projector.Sink, on bool) error {
	if !on {
		return nil
	}
	diffs, err := projector.Verify(ctx, natsstore.NewFeed(js, stream), []projector.Sink{sink}, projector.VerifyOptions{Lease: projector.LeaseOptions{Disabled: true}})
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%d differences after the replay, first: %s", len(diffs), diffs[0])
	}
	return nil
}

// generateStream publishes count valid messages: games started (with their
// channel claims), clicks spread over them in random order, and the games
// ended at the end. Clicks follow the rules of the clock (each before its
// game's deadline, values and bands as the handler computes them).
func generateStream(ctx context.Context, js jetstream.JetStream, count, games int) error {
	const (
		guild    = "400000000000000001"
		duration = int64(12 * time.Hour / time.Millisecond)
	)
	rng := mrand.New(mrand.NewPCG(3, 4))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	type gameGen struct {
		id     events.GameID
		number int64
		last   int64 // last click (or start) time
	}
	gs := make([]*gameGen, games)
	var msgs []struct {
		subject string
		e       events.Event
	}
	add := func(subject string, e events.Event) {
		msgs = append(msgs, struct {
			subject string
			e       events.Event
		}{subject, e})
	}
	for i := range gs {
		g := &gameGen{id: events.GameID(i + 1), last: t0 + int64(i)*1000}
		gs[i] = g
		channel := strconv.Itoa(410000000000000000 + i)
		add(events.ChannelSubject(channel), events.ChannelClaimed{Channel: channel, Guild: guild, Game: g.id, AtMS: g.last})
		add(events.GameSubject(g.id), events.GameStarted{Game: g.id, Guild: guild, ButtonChannel: channel, ChatChannel: channel,
			DurationMS: duration, CooldownMS: 0, StartedBy: "400000000000000002", AtMS: g.last})
	}
	clicks := count - 3*games
	for i := range clicks {
		g := gs[rng.IntN(games)]
		gap := 1 + rng.Int64N(duration-1) // strictly inside the clock
		if rng.IntN(10) < 8 {
			gap = 1 + rng.Int64N(duration/6) // most clicks early: purple and blue
		}
		at := g.last + gap
		value := duration - gap
		g.number++
		g.last = at
		add(events.GameSubject(g.id), events.ButtonClicked{
			Game: g.id, Guild: guild, Number: g.number,
			User: strconv.Itoa(420000000000000000 + rng.IntN(500)), UserName: "p" + strconv.Itoa(i%500),
			Interaction: "g" + strconv.Itoa(i), AtMS: at, ValueMS: value,
			Band: int(events.BandOf(value, duration)), ClaimedMS: events.Claimed(value, duration), MMRMilli: events.MMRMilli(value, duration),
		})
	}
	for _, g := range gs {
		add(events.GameSubject(g.id), events.GameEnded{Game: g.id, Reason: events.EndExpired, AtMS: g.last + duration})
	}
	// At most 2,048 in flight: below nats.go's default limit of 4,000
	// outstanding async publishes, which stalls the publisher once acks
	// wait for an fsync each (the embedded server's durable default).
	futures := make([]jetstream.PubAckFuture, 0, 2048)
	wait := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("generate stream: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		return nil
	}
	for _, m := range msgs {
		data, err := events.Encode(m.e)
		if err != nil {
			return fmt.Errorf("generate stream: %w", err)
		}
		f, err := js.PublishAsync(m.subject, data)
		if err != nil {
			return fmt.Errorf("generate stream: %w", err)
		}
		futures = append(futures, f)
		if len(futures) == cap(futures) {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}
