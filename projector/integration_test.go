package projector_test

// The Must-hold tests of the read side, against real JetStream (embedded),
// Redis and MariaDB. Presses come from a commands.Handler, as in
// production. Tests that break a server start their own: a private
// redis-server, a private mariadbd (mysqltest.StartServer); the shared
// ones are never stopped or flushed.

import (
	"context"
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

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
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
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server on port %d not ready after 10s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// verifyClean fails with every difference between the sinks and the
// stream.
func verifyClean(t *testing.T, js jetstream.JetStream, sinks ...projector.Sink) {
	t.Helper()
	diffs, err := projector.Verify(context.Background(), js, natsstore.DefaultStream, sinks,
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
// without lease apply at once while a third consumer holds and naks
// deliveries, so both sinks get late duplicates and gaps; then the same
// messages are applied again directly, repeated and shuffled. Nothing
// changes: verify is clean.
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
		run(t, projector.New(w.js, natsstore.DefaultStream, s, o))
		run(t, projector.New(js2, natsstore.DefaultStream, s, o))
	}
	ctx, stop := context.WithCancel(context.Background())
	stats := w.press(ctx, 300, 4)

	var held, naked int
	for _, name := range []string{rs.Name(), ms.Name()} {
		var cons jetstream.Consumer
		eventually(t, 10*time.Second, func() bool {
			var err error
			cons, err = w.store.Stream().Consumer(context.Background(), projector.ConsumerName(name))
			return err == nil
		}, func() string { return "consumer " + projector.ConsumerName(name) + " not created" })
		for i := 0; i < 200 && (held < 20 || naked < 20); i++ {
			batch, err := cons.Fetch(2, jetstream.FetchMaxWait(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			for m := range batch.Messages() {
				if i%2 == 0 {
					held++
				} else {
					naked++
					_ = m.Nak()
				}
			}
		}
	}
	time.Sleep(time.Second)
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 200)
	if held == 0 || naked == 0 {
		t.Errorf("took %d held and %d naked deliveries from the projectors, want some of each", held, naked)
	}
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)

	// The same messages again, directly: repeated, in pieces, shuffled.
	last := w.lastSeq()
	all, err := projector.ReadAll(context.Background(), w.store.Stream(), last)
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

// TestMySQLUnreachable30s stops a private MariaDB for 30 s while presses
// go on: no press is refused, Redis stays current, the history catches up
// afterwards, and verify is clean.
func TestMySQLUnreachable30s(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the outage lasts 30s")
	}
	dsn, stopDB, startDB := mysqltest.StartServer(t)
	ms := mysqlSink(t, dsn)
	rs := redisSink(t, redistest.Client(t))
	w := newWorld(t, 4)
	o := integrationOptions(t)
	var retries atomic.Int64
	mo := o
	mo.OnRetry = func(string, error) { retries.Add(1) }
	run(t, projector.New(w.js, natsstore.DefaultStream, rs, o))
	run(t, projector.New(w.js, natsstore.DefaultStream, ms, mo))

	ctx, stop := context.WithCancel(context.Background())
	stats := w.press(ctx, 100, 2)
	time.Sleep(2 * time.Second)
	waitCaughtUp(t, w.env, 10*time.Second) // nothing: just let presses flow
	before, err := ms.Position(context.Background())
	if err != nil || before == 0 {
		t.Fatalf("history at %d (err %v) before the outage, want some", before, err)
	}

	stopDB()
	t.Log("mariadb stopped")
	outage := time.Now()
	for time.Since(outage) < 30*time.Second {
		time.Sleep(time.Second)
		// Redis keeps up while MySQL is away.
		if pos, err := rs.Position(context.Background()); err != nil || w.lastSeq()-pos > 500 {
			t.Errorf("redis at %d (err %v) during the MySQL outage, stream at %d", pos, err, w.lastSeq())
		}
	}
	duringOutage := w.lastSeq()
	startDB()
	t.Log("mariadb started again")
	time.Sleep(2 * time.Second)
	stop()
	stats.wait()

	stats.checkAllAccepted(t, 2500)
	if retries.Load() == 0 {
		t.Error("the MySQL projector reported no failed attempt during the outage")
	}
	if duringOutage <= before+2000 {
		t.Errorf("stream went from %d to %d during the outage: presses did not go on", before, duringOutage)
	}
	waitCaughtUp(t, w.env, 60*time.Second, rs, ms)
	verifyClean(t, w.js, rs, ms)
}

// TestRedisFlushedWhileRunning flushes a private Redis twice under a
// running projector, once while presses flow and once while none do: the
// projection is rebuilt from the stream and verify is clean.
func TestRedisFlushedWhileRunning(t *testing.T) {
	rdb := privateRedis(t)
	rs := redisproj.New(rdb, redisproj.Options{Log: testLog(t)})
	w := newWorld(t, 3)
	run(t, projector.New(w.js, natsstore.DefaultStream, rs, integrationOptions(t)))

	ctx, stop := context.WithCancel(context.Background())
	stats := w.press(ctx, 300, 3)
	time.Sleep(2 * time.Second)
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	t.Log("flushed while presses flow")
	time.Sleep(2 * time.Second)
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
	run(t, projector.New(w.js, natsstore.DefaultStream, rs, o))
	run(t, projector.New(w.js, natsstore.DefaultStream, ms, o))

	ctx, stop := context.WithCancel(context.Background())
	stats := w.press(ctx, 200, 2)
	time.Sleep(time.Second)
	subject := events.GameSubject(w.games[0])
	if err := w.nc.Publish(subject, []byte("hello from nats pub")); err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 200)
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)

	all, err := projector.ReadAll(context.Background(), w.store.Stream(), w.lastSeq())
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
// the lease while presses flow, cuts the holder's connection (it dies
// without releasing), and checks the other took over and the projections
// are right.
func TestRealSinksTwoLeasedMembers(t *testing.T) {
	rs := redisSink(t, redistest.Client(t))
	ms := mysqlSink(t, mysqltest.DSN(t))
	w := newWorld(t, 3)
	o := integrationOptions(t)
	o.Lease.TTL = time.Second
	ncA, jsA := w.connect()
	_, jsB := w.connect()
	for _, s := range []projector.Sink{rs, ms} {
		a, b := o, o
		a.Lease.Holder, b.Lease.Holder = "a-"+s.Name(), "b-"+s.Name()
		run(t, projector.New(jsA, natsstore.DefaultStream, s, a))
		time.Sleep(200 * time.Millisecond) // a takes the lease first
		run(t, projector.New(jsB, natsstore.DefaultStream, s, b))
	}
	ctx, stop := context.WithCancel(context.Background())
	stats := w.press(ctx, 200, 2)
	time.Sleep(2 * time.Second)
	ncA.Close() // a dies holding both leases
	time.Sleep(3 * time.Second)
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 500)
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)
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
	run(t, projector.New(w.js, natsstore.DefaultStream, rs, o))
	run(t, projector.New(w.js, natsstore.DefaultStream, ms, o))
	ctx, stop := context.WithCancel(context.Background())
	stats := w.press(ctx, 300, 3)
	time.Sleep(2 * time.Second)
	for _, s := range []projector.Sink{rs, ms} {
		res, err := projector.Replay(context.Background(), w.js, natsstore.DefaultStream, s,
			projector.ReplayOptions{Log: testLog(t), Lease: o.Lease, BatchSize: 200})
		if err != nil {
			t.Fatalf("replay %s: %v", s.Name(), err)
		}
		if res.From != 1 || res.Applied < 300 {
			t.Errorf("replay %s: %+v, want a rebuild from 1", s.Name(), res)
		}
	}
	time.Sleep(time.Second)
	stop()
	stats.wait()
	stats.checkAllAccepted(t, 500)
	waitCaughtUp(t, w.env, 30*time.Second, rs, ms)
	verifyClean(t, w.js, rs, ms)
}
