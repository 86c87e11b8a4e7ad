package projector_test

// The Must-hold tests of the read side, against real JetStream (embedded),
// Redis and MariaDB. Presses come from a commands.Handler, as in
// production. Tests that break a server start their own: a private
// redis-server, a private mariadbd (mysqltest.StartServer); the shared
// ones are never stopped or flushed.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/internal/freeport"
	"github.com/thebutton-game/thebutton/internal/testproxy"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// unavailable skips the test loudly, or fails it under CI=true.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: real services are required)", msg)
	}
	t.Skipf("SKIPPED: %s (under CI=true this fails)", msg)
}

// redisSink is a Redis projection under a prefix of its own, deleted when
// the test ends.
func redisSink(t testing.TB, rdb *redis.Client) *redisproj.Sink {
	t.Helper()
	prefix := redistest.Prefix(t, rdb, "projector")
	return redisproj.New(rdb, redisproj.Options{Prefix: prefix, Log: testLog(t)})
}

// privateRedis starts a redis-server of its own on a free port, without
// persistence, stopped when the test ends.
func privateRedis(t testing.TB) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "NO redis-server binary: %v", err)
	}
	port := freeport.ForTest(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, _ = os.Create(filepath.Join(dir, "redis.log"))
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // owned: cleanup waits for done
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	rdb := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	t.Cleanup(func() { _ = rdb.Close() })
	testwait.For(t, 10*time.Second, func() bool { return rdb.Ping(context.Background()).Err() == nil },
		func() string { return fmt.Sprintf("private redis-server on port %d not ready", port) })
	return rdb
}

// mysqlSink opens the MySQL history on dsn, closed when the test ends.
func mysqlSink(t testing.TB, dsn string) *mysqlproj.Sink {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mysqlproj.Open(ctx, dsn, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// world is a stream with games started by a commands.Handler, and guild
// settings (an icon, a ban, an unban, a game message) so that every event
// type flows.
type world struct {
	*env
	h     *commands.Handler
	guild string
	games []events.GameID
}

const testGuild = "500000000000000001"

func newWorld(t *testing.T, games int) *world {
	t.Helper()
	e := newEnv(t)
	h := commands.NewHandler(e.store, commands.SystemClock{}, testLog(t))
	ctx := context.Background()
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	w := &world{env: e, h: h, guild: testGuild}
	admin := "500000000000000002"
	for i := range games {
		g, err := h.StartGame(ctx, commands.StartGame{Guild: w.guild, Channel: strconv.Itoa(510000000000000000 + i),
			By: admin, Duration: 12 * time.Hour, Cooldown: 0})
		if err != nil {
			t.Fatal(err)
		}
		w.games = append(w.games, g.Game)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.SetIcon(ctx, commands.SetIcon{Guild: w.guild, Icon: events.Icons[3], By: admin}))
	must(h.Ban(ctx, commands.Ban{Guild: w.guild, User: "520000000000000999", By: admin, Reason: "test"}))
	must(h.Ban(ctx, commands.Ban{Guild: w.guild, User: "520000000000000998", By: admin}))
	must(h.Unban(ctx, commands.Unban{Guild: w.guild, User: "520000000000000998", By: admin}))
	must(h.PostMessage(ctx, commands.PostMessage{Game: w.games[0], Channel: "510000000000000000", MessageID: "530000000000000001"}))
	return w
}

// pressStats counts what the presses got.
type pressStats struct {
	accepted, rejected, failed atomic.Int64
	mu                         sync.Mutex
	firstErr                   error
	wg                         sync.WaitGroup
}

func (s *pressStats) wait() { s.wg.Wait() }

// press presses the world's games at about rate per second, with workers
// goroutines, until ctx ends. Players are never banned and the cooldown is
// 0: every press must be accepted.
func (w *world) press(ctx context.Context, rate, workers int) *pressStats {
	s := &pressStats{}
	var n atomic.Int64
	interval := time.Duration(workers) * time.Second / time.Duration(rate)
	for wk := range workers {
		s.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(wk), 7))
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				i := n.Add(1)
				_, err := w.h.Press(context.Background(), commands.Press{
					Game: w.games[rng.IntN(len(w.games))], Guild: w.guild,
					User: strconv.Itoa(520000000000000000 + rng.IntN(60)), UserName: "player",
					Interaction: fmt.Sprintf("it-%d-%d", wk, i),
				})
				switch _, rejected := commands.AsRejection(err); {
				case err == nil:
					s.accepted.Add(1)
				case rejected:
					s.rejected.Add(1)
				default:
					s.failed.Add(1)
				}
				if err != nil {
					s.mu.Lock()
					if s.firstErr == nil {
						s.firstErr = err
					}
					s.mu.Unlock()
				}
			}
		})
	}
	return s
}

// checkAllAccepted fails unless every press was accepted.
func (s *pressStats) checkAllAccepted(t *testing.T, atLeast int64) {
	t.Helper()
	if r, f := s.rejected.Load(), s.failed.Load(); r != 0 || f != 0 {
		t.Errorf("%d presses refused and %d failed (first: %v); want none", r, f, s.firstErr)
	}
	if a := s.accepted.Load(); a < atLeast {
		t.Errorf("%d presses accepted, want at least %d", a, atLeast)
	}
}

// integrationOptions are shorter than production's (back-off 50 ms to 5 s,
// resync 1 s, lease 10 s) so that these tests, which restart, cut and
// replay projectors many times, finish in seconds: a takeover after a 2 s
// lease instead of 10 s. TestMySQLHangs runs with production's options.
func integrationOptions(t testing.TB) projector.Options {
	return projector.Options{
		Log:        testLog(t),
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: time.Second,
		Resync:     200 * time.Millisecond,
		Lease:      projector.LeaseOptions{TTL: 2 * time.Second},
	}
}

// waitCaughtUp waits until every sink's checkpoint is the stream's last
// sequence.
func waitCaughtUp(t *testing.T, e *env, d time.Duration, sinks ...projector.Sink) {
	t.Helper()
	last := e.lastSeq()
	for _, s := range sinks {
		eventually(t, d, func() bool {
			pos, err := s.Position(context.Background())
			return err == nil && pos == last
		}, func() string {
			pos, err := s.Position(context.Background())
			return fmt.Sprintf("%s at %d (err %v), stream at %d", s.Name(), pos, err, last)
		})
	}
}

// waitPosition waits until the sink's checkpoint is at least seq.
func waitPosition(t *testing.T, s projector.Sink, seq uint64) {
	t.Helper()
	var pos uint64
	var err error
	eventually(t, 30*time.Second, func() bool {
		pos, err = s.Position(context.Background())
		return err == nil && pos >= seq
	}, func() string { return fmt.Sprintf("%s at %d (err %v), want %d", s.Name(), pos, err, seq) })
}

// verifyClean fails with every difference between the sinks and the
// stream.
func verifyClean(t *testing.T, js jetstream.JetStream, sinks ...projector.Sink) {
	t.Helper()
	diffs, err := projector.Verify(context.Background(), natsstore.NewFeed(js, natsstore.DefaultStream), sinks,
		projector.VerifyOptions{Wait: 30 * time.Second, Log: testLog(t), Lease: projector.LeaseOptions{TTL: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range diffs {
		if i == 30 {
			t.Errorf("… and %d more differences", len(diffs)-i)
			break
		}
		t.Errorf("verify: %s", d)
	}
}

// TestRealSinksRedeliveredAndOutOfOrder: two members of each projection
// without lease apply at once while a third consumer of each projection's
// durable consumer holds some deliveries (never acknowledged: redelivered
// after AckWait, after newer ones) and naks others (redelivered at once),
// at least 20 of each per projection; presses go on until each
// projection's members have received and acknowledged the late
// redeliveries. Then the same messages are applied again directly,
// repeated and shuffled. Nothing changes: verify is clean.
func TestRealSinksRedeliveredAndOutOfOrder(t *testing.T) {
	rs := redisSink(t, redistest.Client(t))
	ms := mysqlSink(t, mysqltest.DSN(t))
	w := newWorld(t, 4)
	o := integrationOptions(t)
	o.Lease.Disabled = true
	o.AckWait = time.Second
	o.BatchSize = 50
	_, js2 := w.connect()
	for _, s := range []projector.Sink{rs, ms} {
		run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), s, o))
		run(t, projector.New(natsstore.NewFeed(js2, natsstore.DefaultStream), s, o))
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stats := w.press(ctx, 300, 4)

	consumers := map[string]jetstream.Consumer{}
	lastHeld := map[string]uint64{} // the highest stream sequence held, per projection
	for _, name := range []string{rs.Name(), ms.Name()} {
		var cons jetstream.Consumer
		eventually(t, 10*time.Second, func() bool {
			var err error
			cons, err = w.js.Consumer(context.Background(), w.store.Name(), projector.ConsumerName(name))
			return err == nil
		}, func() string { return "consumer " + projector.ConsumerName(name) + " not created" })
		consumers[name] = cons
		// Counted per consumer: each projection gets its own held and
		// naked deliveries. Presses flow at 300/s, so 40 deliveries
		// take well under a second even at load average 4.
		var held, naked int
		deadline := time.Now().Add(30 * time.Second)
		for held < 20 || naked < 20 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the third consumer got %d held and %d naked deliveries in 30s, want 20 of each", name, held, naked)
			}
			batch, err := cons.Fetch(2, jetstream.FetchMaxWait(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			for m := range batch.Messages() {
				if (held+naked)%2 == 0 {
					held++ // never acknowledged: a member that died holding it
					md, err := m.Metadata()
					if err != nil {
						t.Fatal(err)
					}
					lastHeld[name] = max(lastHeld[name], md.Sequence.Stream)
				} else {
					naked++
					_ = m.Nak()
				}
			}
		}
		t.Logf("%s: %d deliveries held (up to sequence %d), %d naked", name, held, lastHeld[name], naked)
	}
	// The held deliveries come back after AckWait, late, while presses
	// still flow; only the projectors' members acknowledge, so the ack
	// floor passes the last held message only once a member has received
	// it again and acknowledged it.
	for name, cons := range consumers {
		var floor uint64
		eventually(t, 30*time.Second, func() bool {
			info, err := cons.Info(context.Background())
			if err == nil {
				floor = info.AckFloor.Stream
			}
			return floor >= lastHeld[name]
		}, func() string {
			return fmt.Sprintf("%s: ack floor at %d, the held deliveries up to %d were never acknowledged by a member", name, floor, lastHeld[name])
		})
	}
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 200)
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)

	// The same messages again, directly: repeated, in pieces, shuffled.
	last := w.lastSeq()
	all, err := projector.ReadAll(context.Background(), w.store.Feed(), last)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := append([]events.Recorded(nil), all...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, s := range []projector.Sink{rs, ms} {
		for _, batch := range [][]events.Recorded{all, all[len(all)/3 : len(all)/2], all[:10], shuffled, append(all[5:20:20], all[5:20]...)} {
			if err := s.Apply(context.Background(), batch); err != nil {
				t.Fatalf("%s: applying applied messages again: %v", s.Name(), err)
			}
		}
	}
	verifyClean(t, w.js, rs, ms)
}

// TestMySQLHangs puts the MySQL history behind a proxy that stops
// forwarding, so that MySQL calls hang instead of failing fast (a network
// partition or a frozen server), while presses go on through the command
// handler as the bot sends them, with both projectors at production
// settings: no press is refused, the MySQL projector's attempts are cut at
// their timeout and retried, its checkpoint does not move, Redis stays
// current; when the proxy forwards again the history catches up while
// presses still flow, and verify is clean. (cmd/thebutton's
// TestRunStartsWhileMySQLHangs presses through the bot of a whole `run`
// while MySQL hangs.)
//
// The outage lasts until at least 2,000 events were stored during it and
// two attempts timed out (about 10 s at 200 presses/s), bounded by 90 s:
// its length follows events, not a wall-clock window.
func TestMySQLHangs(t *testing.T) {
	dsn := mysqltest.DSN(t)
	direct := mysqlSink(t, dsn) // reads the checkpoint past the proxy
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testproxy.New(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	ms := mysqlSink(t, cfg.FormatDSN())
	rs := redisSink(t, redistest.Client(t))
	w := newWorld(t, 4)

	// Production's options: a 10 s lease, so one attempt is cut after 5 s.
	var retries, timeouts atomic.Int64
	mo := projector.Options{Log: testLog(t), OnRetry: func(_ string, err error) {
		retries.Add(1)
		if errors.Is(err, context.DeadlineExceeded) {
			timeouts.Add(1)
		}
	}}
	run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), rs, projector.Options{Log: testLog(t)}))
	run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), ms, mo))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stats := w.press(ctx, 200, 2)
	position := func(s projector.Sink) uint64 {
		t.Helper()
		pos, err := s.Position(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		return pos
	}
	eventually(t, 30*time.Second, func() bool { return position(direct) >= 200 },
		func() string {
			return fmt.Sprintf("history at %d before the outage, want 200 events", position(direct))
		})

	proxy.Hang()
	hungAt := time.Now()
	t.Log("mysql proxy hangs")
	from := w.lastSeq()
	var frozen uint64 // the history's checkpoint once an attempt has timed out
	var redisBehind []string
	testwait.For(t, 90*time.Second, func() bool {
		// Redis keeps up while MySQL hangs: at most 500 events (2.5 s of
		// presses) behind, a margin that holds at load average 4.
		if pos, last := position(rs), w.lastSeq(); last > pos+500 && len(redisBehind) < 5 {
			redisBehind = append(redisBehind, fmt.Sprintf("redis at %d, stream at %d", pos, last))
		}
		if frozen == 0 && timeouts.Load() >= 1 {
			// Whatever was committed before the hang began is in by now.
			frozen = position(direct)
		}
		return frozen > 0 && timeouts.Load() >= 2 && w.lastSeq() >= from+2000
	}, func() string {
		return fmt.Sprintf("%d events stored and %d attempts timed out (%d retries) during the hang, want 2000 and 2",
			w.lastSeq()-from, timeouts.Load(), retries.Load())
	})
	if len(redisBehind) > 0 {
		t.Errorf("redis fell behind during the MySQL outage: %v", redisBehind)
	}
	if got := position(direct); got != frozen {
		t.Errorf("the history moved from %d to %d while MySQL hung: the outage did not hang", frozen, got)
	}
	during := w.lastSeq()
	t.Logf("the hang lasted %s: %d events stored, %d attempts timed out", time.Since(hungAt).Round(time.Millisecond), during-from, timeouts.Load())
	proxy.Resume()
	t.Log("mysql proxy forwards again")
	// Presses go on until the history has caught up past the outage.
	eventually(t, 60*time.Second, func() bool { return position(direct) >= during },
		func() string {
			return fmt.Sprintf("history at %d after the outage, stream was at %d", position(direct), during)
		})
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 2200)
	waitCaughtUp(t, w.env, 60*time.Second, rs, ms)
	t.Logf("caught up %s after the hang", time.Since(hungAt).Round(time.Millisecond))
	verifyClean(t, w.js, rs, ms)
}

// TestRedisFlushedWhileRunning flushes a private Redis twice under a
// running projector, once while presses flow and once while none do: the
// projection is rebuilt from the stream and verify is clean.
func TestRedisFlushedWhileRunning(t *testing.T) {
	rdb := privateRedis(t)
	rs := redisproj.New(rdb, redisproj.Options{Log: testLog(t)})
	w := newWorld(t, 3)
	run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), rs, integrationOptions(t)))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stats := w.press(ctx, 300, 3)
	waitPosition(t, rs, w.lastSeq()+300) // presses flow and are projected
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	flushedAt := w.lastSeq()
	t.Log("flushed while presses flow")
	// Presses go on until the rebuilt projection is past the flush.
	waitPosition(t, rs, flushedAt+300)
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 500)
	waitCaughtUp(t, w.env, 30*time.Second, rs)

	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	t.Log("flushed while idle")
	waitCaughtUp(t, w.env, 30*time.Second, rs)

	// The reader shows the games again, with every click.
	reader := redisproj.NewReader(rdb, "")
	for _, id := range w.games {
		g, err := reader.Game(context.Background(), id)
		if err != nil {
			t.Fatalf("game %d after the flush: %v", id, err)
		}
		want, _, err := w.h.Game(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if g.Clicks != want.Clicks {
			t.Errorf("game %d shows %d clicks after the flush, the stream has %d", id, g.Clicks, want.Clicks)
		}
	}
	verifyClean(t, w.js, rs)
}

// TestMalformedMessageDeadLettered publishes a message that is not an event
// on a game subject, as `nats pub` would (a plain NATS publish): both
// projections dead-letter it and go on; presses on that game go on too.
func TestMalformedMessageDeadLettered(t *testing.T) {
	rs := redisSink(t, redistest.Client(t))
	ms := mysqlSink(t, mysqltest.DSN(t))
	w := newWorld(t, 2)
	var dead atomic.Int64
	o := integrationOptions(t)
	o.OnDeadLetter = func(events.Recorded) { dead.Add(1) }
	run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), rs, o))
	run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), ms, o))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stats := w.press(ctx, 200, 2)
	flowing := w.lastSeq() + 100
	waitPosition(t, rs, flowing)
	waitPosition(t, ms, flowing)
	subject := events.GameSubject(w.games[0])
	if err := w.nc.Publish(subject, []byte("hello from nats pub")); err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Presses go on until both projections are past the bad message.
	after := w.lastSeq() + 100
	waitPosition(t, rs, after)
	waitPosition(t, ms, after)
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 200)
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)

	all, err := projector.ReadAll(context.Background(), w.store.Feed(), w.lastSeq())
	if err != nil {
		t.Fatal(err)
	}
	var bad []uint64
	for _, r := range all {
		if r.Err != nil {
			bad = append(bad, r.Seq)
		}
	}
	if len(bad) != 1 {
		t.Fatalf("the stream holds %d undecodable messages, want the 1 published", len(bad))
	}
	dl, err := w.js.Stream(context.Background(), projector.DefaultDeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{rs.Name(), ms.Name()} {
		m, err := dl.GetLastMsgForSubject(context.Background(), projector.DeadLetterSubject(projector.DefaultDeadLetterPrefix, name, bad[0]))
		if err != nil {
			t.Errorf("%s: no dead letter for message %d: %v", name, bad[0], err)
			continue
		}
		if string(m.Data) != "hello from nats pub" || m.Header.Get(projector.HeaderDeadSubject) != subject {
			t.Errorf("%s: dead letter %q from %q, want the published message from %s", name, m.Data, m.Header.Get(projector.HeaderDeadSubject), subject)
		}
	}
	if got := dead.Load(); got != 2 {
		t.Errorf("%d dead letters reported, want 2 (one per projection)", got)
	}
	verifyClean(t, w.js, rs, ms)
}

// TestRealSinksTwoLeasedMembers runs two members of each projection with
// the lease while presses flow: a holds both leases and applies, b stands
// by and applies nothing; a's connection is cut (it dies without
// releasing), b takes both leases over and applies what follows, a
// applies nothing more, and the projections are right.
func TestRealSinksTwoLeasedMembers(t *testing.T) {
	rs := redisSink(t, redistest.Client(t))
	ms := mysqlSink(t, mysqltest.DSN(t))
	sinks := []projector.Sink{rs, ms}
	w := newWorld(t, 3)
	o := integrationOptions(t)
	o.Lease.TTL = time.Second
	ncA, jsA := w.connect()
	_, jsB := w.connect()
	applied := map[string]*atomic.Int64{} // events applied, by member
	member := func(js jetstream.JetStream, holder string, s projector.Sink) {
		n := &atomic.Int64{}
		applied[holder] = n
		m := o
		m.Lease.Holder = holder
		m.OnApplied = func(k int, _ time.Duration, _ uint64) { n.Add(int64(k)) }
		run(t, projector.New(natsstore.NewFeed(js, natsstore.DefaultStream), s, m))
	}
	holders := func() map[string]string {
		t.Helper()
		st, err := projector.ReadStatus(context.Background(), natsstore.NewFeed(w.js, natsstore.DefaultStream), sinks, projector.StatusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range st.Projections {
			out[p.Name] = p.Holder
		}
		return out
	}
	holdAll := func(prefix string) func() bool {
		return func() bool {
			h := holders()
			return h[rs.Name()] == prefix+rs.Name() && h[ms.Name()] == prefix+ms.Name()
		}
	}
	for _, s := range sinks {
		member(jsA, "a-"+s.Name(), s)
	}
	eventually(t, 10*time.Second, holdAll("a-"), func() string { return fmt.Sprintf("a does not hold both leases: %v", holders()) })
	for _, s := range sinks {
		member(jsB, "b-"+s.Name(), s)
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stats := w.press(ctx, 200, 2)
	flowing := w.lastSeq() + 200
	for _, s := range sinks {
		waitPosition(t, s, flowing)
		if a, b := applied["a-"+s.Name()].Load(), applied["b-"+s.Name()].Load(); a == 0 || b != 0 {
			t.Fatalf("%s: a applied %d events and b %d, want all by a (the holder), none by b", s.Name(), a, b)
		}
	}
	if !holdAll("a-")() {
		t.Fatalf("a lost a lease while alive: %v", holders())
	}

	ncA.Close() // a dies holding both leases
	cut := w.lastSeq()
	t.Logf("a cut at sequence %d", cut)
	eventually(t, 20*time.Second, holdAll("b-"), func() string { return fmt.Sprintf("b did not take both leases over: %v", holders()) })
	aDone := map[string]int64{}
	for _, s := range sinks {
		aDone[s.Name()] = applied["a-"+s.Name()].Load()
	}
	// b applies what follows, while presses flow.
	after := w.lastSeq() + 200
	for _, s := range sinks {
		waitPosition(t, s, after)
		if b := applied["b-"+s.Name()].Load(); b == 0 {
			t.Errorf("%s: b applied nothing after taking the lease over", s.Name())
		}
	}
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 400)
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)
	for _, s := range sinks {
		if a := applied["a-"+s.Name()].Load(); a != aDone[s.Name()] {
			t.Errorf("%s: a applied %d events after b held the lease", s.Name(), a-aDone[s.Name()])
		}
	}
	verifyClean(t, w.js, rs, ms)
}

// TestReplayRealSinksWhileRunning rebuilds both projections while their
// projectors run and presses flow: the projectors stand by during the
// replay and go on after it; verify is clean.
func TestReplayRealSinksWhileRunning(t *testing.T) {
	rs := redisSink(t, redistest.Client(t))
	ms := mysqlSink(t, mysqltest.DSN(t))
	w := newWorld(t, 3)
	o := integrationOptions(t)
	o.Lease.TTL = time.Second
	run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), rs, o))
	run(t, projector.New(natsstore.NewFeed(w.js, natsstore.DefaultStream), ms, o))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stats := w.press(ctx, 300, 3)
	flowing := w.lastSeq() + 300
	waitPosition(t, rs, flowing)
	waitPosition(t, ms, flowing)
	for _, s := range []projector.Sink{rs, ms} {
		res, err := projector.Replay(context.Background(), natsstore.NewFeed(w.js, natsstore.DefaultStream), s,
			projector.ReplayOptions{Log: testLog(t), Lease: o.Lease, BatchSize: 200})
		if err != nil {
			t.Fatalf("replay %s: %v", s.Name(), err)
		}
		if res.From != 1 || res.Applied < 300 {
			t.Errorf("replay %s: %+v, want a rebuild from 1", s.Name(), res)
		}
	}
	// The projectors go on after the replays, while presses flow.
	after := w.lastSeq() + 200
	waitPosition(t, rs, after)
	waitPosition(t, ms, after)
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 500)
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)
	verifyClean(t, w.js, rs, ms)
}
