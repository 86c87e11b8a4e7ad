package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/bench"
	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/metrics"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// The metrics of the service take the projectors' measurements.
var _ projectorObserver = (*metrics.Metrics)(nil)

// missing skips the test loudly, or fails it under CI=true.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: real services are required)", msg)
	}
	t.Skipf("SKIPPED: %s (under CI=true this fails)", msg)
}

// testRedis returns the URL of the machine's Redis, a client, and a key
// prefix of the test's own whose keys are deleted when the test ends.
func testRedis(t *testing.T) (url string, rdb *redis.Client, prefix string) {
	t.Helper()
	rdb = redistest.Client(t)
	return redistest.URL(), rdb, redistest.Prefix(t, rdb, "cmd")
}

// stage is an embedded JetStream reachable over TCP, with games started by
// a commands.Handler of the test.
type stage struct {
	url   string
	store *natsstore.Store
	h     *commands.Handler
	games []events.GameID
}

const stageGuild = "600000000000000001"

func newStage(t *testing.T, games int) *stage {
	t.Helper()
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := commands.NewHandler(store, commands.SystemClock{}, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	s := &stage{url: srv.ClientURL(), store: store, h: h}
	for i := range games {
		g, err := h.StartGame(ctx, commands.StartGame{Guild: stageGuild, Channel: strconv.Itoa(610000000000000000 + i),
			By: "600000000000000002", Duration: 12 * time.Hour, Cooldown: 0})
		if err != nil {
			t.Fatal(err)
		}
		s.games = append(s.games, g.Game)
	}
	if err := h.Ban(ctx, commands.Ban{Guild: stageGuild, User: "620000000000000999", By: "600000000000000002"}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetIcon(ctx, commands.SetIcon{Guild: stageGuild, Icon: events.Icons[0], By: "600000000000000002"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// press presses with workers goroutines, at most rate presses per second
// in all (0: as fast as they can), until n presses were accepted or ctx
// ends; it returns the accepted and the refused or failed presses.
func (s *stage) press(ctx context.Context, n int64, workers, rate int) (accepted, refused int64, firstErr error) {
	var acc, bad atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			var pace <-chan time.Time // nil: as fast as they can
			if rate > 0 {
				tick := time.NewTicker(time.Duration(workers) * time.Second / time.Duration(rate))
				defer tick.Stop()
				pace = tick.C
			}
			for i := 0; ctx.Err() == nil && acc.Load() < n; i++ {
				if pace != nil {
					select {
					case <-pace:
					case <-ctx.Done():
						return
					}
				}
				_, err := s.h.Press(context.Background(), commands.Press{
					Game: s.games[rng.IntN(len(s.games))], Guild: stageGuild,
					User: strconv.Itoa(620000000000000000 + rng.IntN(80)), Interaction: fmt.Sprintf("k-%d-%d", w, i),
				})
				if err != nil {
					bad.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				acc.Add(1)
			}
		})
	}
	wg.Wait()
	return acc.Load(), bad.Load(), firstErr
}

func (s *stage) lastSeq(t *testing.T) uint64 {
	t.Helper()
	last, err := s.store.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// waitPositions waits until every sink reached seq.
func waitPositions(t *testing.T, d time.Duration, seq uint64, sinks ...projector.Sink) {
	t.Helper()
	for _, s := range sinks {
		if err := bench.WaitPosition(context.Background(), s, seq, d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProjectorKilledAtRandom is the kill test: `thebutton project` is
// killed with SIGKILL at random moments, each after its life advanced both
// checkpoints, while at least 20,000 events flow from a command handler of
// the test, and started again each time; then `thebutton verify` finds no
// difference in either projection.
func TestProjectorKilledAtRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the kill test builds the binary and runs for about a minute")
	}
	redisURL, rdb, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	bin := buildBinary(t)
	st := newStage(t, 6)

	environ := append(os.Environ(),
		"NATS_URL="+st.url, "REDIS_URL="+redisURL, "REDIS_PREFIX="+prefix, "MYSQL_DSN="+dsn,
		"PROJECTOR_LEASE_TTL=3s", "PROJECTOR_ID=kill-test", "LOG_LEVEL=info")
	logPath := filepath.Join(t.TempDir(), "project.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "project")
		cmd.Env = environ
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	dumpLog := func() {
		b, _ := os.ReadFile(logPath)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		t.Logf("projector log (tail):\n%s", b)
	}

	rs := redisproj.New(rdb, redisproj.Options{Prefix: prefix})
	ctx := context.Background()
	ms, err := mysqlproj.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()

	// Presses: at least 20,000 events while the projector is killed.
	const events = 20000
	pressCtx, stopPresses := context.WithCancel(ctx)
	defer stopPresses()
	type result struct {
		accepted, refused int64
		err               error
	}
	pressed := make(chan result, 1)
	first := st.lastSeq(t)
	go func() {
		a, r, err := st.press(pressCtx, events, 6, 1500) // about 13s of presses
		pressed <- result{a, r, err}
	}()

	positions := func() (redisAt, mysqlAt uint64) {
		redisAt, _ = rs.Position(ctx)
		mysqlAt, _ = ms.Position(ctx)
		return redisAt, mysqlAt
	}
	// Each life of the projector must advance both checkpoints before it
	// is killed, at a random moment after that (mid-batch or between
	// batches): a kill during start-up proves nothing. Only the end of
	// the presses ends the loop.
	cmd := start()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	kills := 0
	var res result
	var rpos, mpos uint64 // the checkpoints when the last life was killed
	deadline := time.Now().Add(90 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
loop:
	for {
		for lifeStart := time.Now(); ; {
			select {
			case res = <-pressed:
				break loop
			case <-poll.C:
			}
			if r, m := positions(); r > rpos && m > mpos {
				break
			}
			if time.Since(lifeStart) > 30*time.Second {
				stopPresses()
				dumpLog()
				t.Fatalf("life %d advanced no checkpoint in 30s (redis at %d, mysql at %d)", kills+1, rpos, mpos)
			}
		}
		select {
		case res = <-pressed:
			break loop
		case <-time.After(time.Duration(150+rng.IntN(1200)) * time.Millisecond): // the old pace: about 10 lives
		}
		if time.Now().After(deadline) {
			stopPresses()
			res = <-pressed
			dumpLog()
			t.Fatalf("presses not done after 90s")
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills++
		r, m := positions()
		t.Logf("kill %d: stream at %d, redis at %d (+%d), mysql at %d (+%d)", kills, st.lastSeq(t), r, r-rpos, m, m-mpos)
		rpos, mpos = r, m
		cmd = start()
	}
	last := st.lastSeq(t)
	t.Logf("%d presses accepted, %d refused, %d events, %d kills", res.accepted, res.refused, last-first, kills)
	if res.refused != 0 {
		t.Errorf("%d presses refused or failed (first: %v)", res.refused, res.err)
	}
	if last-first < events {
		t.Errorf("only %d events flowed, want at least %d", last-first, events)
	}
	if kills < 5 {
		t.Errorf("only %d kills after progress while events flowed, want at least 5", kills)
	}

	// The last one catches up and stops cleanly.
	waitPositions(t, 60*time.Second, last, rs, ms)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		dumpLog()
		t.Errorf("thebutton project after SIGTERM: %v", err)
	}

	verify := exec.Command(bin, "verify", "--wait", "10s")
	verify.Env = environ
	var out bytes.Buffer
	verify.Stdout, verify.Stderr = &out, &out
	if err := verify.Run(); err != nil {
		dumpLog()
		t.Fatalf("thebutton verify: %v\n%s", err, tail(out.String(), 4000))
	}
	if !strings.Contains(out.String(), "match the stream") {
		t.Errorf("verify said:\n%s", out.String())
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestReplayVerifyStatusCommands runs the operator commands in process
// against real services: replay both projections, verify (clean), status
// (text and JSON), break the Redis projection (verify finds it, exit 1),
// replay it from scratch (clean again), and replay from a sequence.
func TestReplayVerifyStatusCommands(t *testing.T) {
	redisURL, rdb, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	st := newStage(t, 3)
	if a, r, err := st.press(context.Background(), 600, 3, 0); r != 0 || a < 600 {
		t.Fatalf("presses: %d accepted, %d refused (%v)", a, r, err)
	}
	last := st.lastSeq(t)
	vars := map[string]string{
		"NATS_URL": st.url, "REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn,
		"PROJECTOR_LEASE_TTL": "1s", "LOG_LEVEL": "warn",
	}
	runCmd := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), args, &stdout, &stderr, func(k string) string { return vars[k] })
		return code, stdout.String(), stderr.String()
	}

	for _, target := range []string{"redis", "mysql"} {
		code, out, errOut := runCmd("replay", "--target", target, "--batch", "250")
		if code != 0 || !strings.Contains(out, fmt.Sprintf("%d messages, sequences 1 to %d", last, last)) {
			t.Fatalf("replay %s: exit %d\nstdout: %s\nstderr: %s", target, code, out, errOut)
		}
		if !strings.Contains(errOut, "replay "+target+":") || !strings.Contains(errOut, "messages/s") {
			t.Errorf("replay %s printed no progress line (not a terminal):\n%s", target, errOut)
		}
	}
	if code, out, errOut := runCmd("verify", "--wait", "0s"); code != 0 || !strings.Contains(out, "redis and mysql match the stream") {
		t.Fatalf("verify: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	code, out, errOut := runCmd("status", "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, errOut)
	}
	var status projector.Status
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if status.Stream.LastSeq != last || len(status.Projections) != 2 {
		t.Fatalf("status: %+v", status)
	}
	for _, p := range status.Projections {
		if p.Checkpoint != last || p.Lag != 0 || p.Err != "" {
			t.Errorf("status of %s: %+v, want checkpoint %d, no lag", p.Name, p, last)
		}
	}
	code, out, _ = runCmd("status")
	for _, want := range []string{"stream BUTTON: " + strconv.FormatUint(last, 10) + " messages", "PROJECTION", "dead letters"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status: exit %d, %q missing from:\n%s", code, want, out)
		}
	}

	// Break the Redis projection behind its back: verify must say so.
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	broken := ""
	for _, k := range keys {
		if strings.Contains(k, "{g:") {
			broken = k
			break
		}
	}
	if broken == "" {
		t.Fatalf("no game key among %d keys", len(keys))
	}
	if err := rdb.Del(context.Background(), broken).Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd("verify", "--wait", "0s", "--target", "redis")
	if code != 1 || !strings.Contains(out, "redis: ") || !strings.Contains(errOut, "differences") {
		t.Errorf("verify of a broken projection: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, out, errOut := runCmd("replay", "--target", "redis"); code != 0 {
		t.Fatalf("replay redis: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runCmd("verify", "--wait", "0s"); code != 0 {
		t.Errorf("verify after the replay: exit %d\n%s\n%s", code, out, errOut)
	}

	// From a sequence: the projection holds what follows it only.
	code, out, errOut = runCmd("replay", "--target", "mysql", "--from-seq", "100")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("sequences 100 to %d", last)) {
		t.Errorf("replay --from-seq 100: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, _ := runCmd("replay", "--target", "nope"); code != 2 {
		t.Errorf("replay --target nope: exit %d, want 2", code)
	}
}
