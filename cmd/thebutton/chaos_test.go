package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/cli"
	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// opsSwitchTransport sends requests to next while up, and fails them at
// once, as a refused connection does, while down. With gatewayVia set, the
// gateway address Discord hands out (GET /gateway) is rewritten from
// fakeHost to gatewayVia: the websocket then goes through the test's proxy.
type opsSwitchTransport struct {
	next                 http.RoundTripper
	up                   atomic.Bool
	fakeHost, gatewayVia string
}

var opsErrDiscordDown = errors.New("dial tcp: connect: connection refused (Discord down in the test)")

func (s *opsSwitchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !s.up.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, opsErrDiscordDown
	}
	resp, err := s.next.RoundTrip(r)
	if err != nil || s.gatewayVia == "" || !strings.HasSuffix(r.URL.Path, "/gateway") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = bytes.ReplaceAll(body, []byte(s.fakeHost), []byte(s.gatewayVia))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// service is `thebutton run` started by serve in the test, with its
// command handler at hand.
type opsService struct {
	addr string
	out  *syncBuffer
	h    observedCommands
}

// opsStartService runs serve with vars (plus a data dir, an embedded NATS on
// a free port and a web address) until the test ends.
func opsStartService(t *testing.T, vars map[string]string) *opsService {
	t.Helper()
	sv := &opsService{addr: opsFreeAddr(t), out: &syncBuffer{}}
	vars["DATA_DIR"] = t.TempDir()
	if vars["NATS_LISTEN"] == "" {
		vars["NATS_LISTEN"] = "127.0.0.1:0"
	}
	vars["HTTP_ADDR"] = sv.addr
	var s serviceFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	s.register(fs)
	if err := cli.Parse(fs, nil, env(vars), s.check); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(sv.out, nil))
	ctx, cancel := context.WithCancel(context.Background())
	handler := make(chan observedCommands, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, &s, log, func(ctx context.Context, h observedCommands, _ *slog.Logger) {
			handler <- h
			<-ctx.Done()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, sv.out.String())
		}
	})
	select {
	case sv.h = <-handler:
	case err := <-done:
		t.Fatalf("serve ended at start: %v\n%s", err, sv.out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start within 60 s:\n%s", sv.out.String())
	}
	return sv
}

func (sv *opsService) readyz(t *testing.T) (int, string) {
	t.Helper()
	code, body, err := opsHttpGet("http://" + sv.addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	return code, body
}

func (sv *opsService) metric(t *testing.T, re string) string {
	t.Helper()
	_, body, err := opsHttpGet("http://" + sv.addr + "/metrics")
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// opsGameEnded reports whether the game has ended.
func opsGameEnded(ctx context.Context, h observedCommands, id events.GameID) bool {
	g, ok, err := h.Game(ctx, id)
	return err == nil && ok && g.Ended.Reason != ""
}

// Discord unreachable when `run` starts: the service runs anyway (a game
// started meanwhile ends at its deadline, the projections apply, /readyz
// is 200 naming Discord as degraded, thebutton_discord_connected is 0),
// the bot retries the gateway with back-off, logs one line per change,
// and once Discord answers it registers its commands and the reactor
// catches up with the effects it missed.
func TestDiscordUnreachableAtStart(t *testing.T) {
	fake := discordtest.New(t, discordtest.Options{})
	guild, channels := fake.AddGuild("chaos", 10, "button")
	sw := &opsSwitchTransport{next: fake.Transport()}
	prevT, prevMin, prevMax := discordTransport, discordRetryMin, discordRetryMax
	discordTransport, discordRetryMin, discordRetryMax = sw, 50*time.Millisecond, 400*time.Millisecond
	t.Cleanup(func() { discordTransport, discordRetryMin, discordRetryMax = prevT, prevMin, prevMax })

	rdb := redistest.Client(t)
	sv := opsStartService(t, map[string]string{
		"REDIS_URL": redistest.URL(), "REDIS_PREFIX": redistest.Prefix(t, rdb, "chaos"), "MYSQL_DSN": mysqltest.DSN(t),
		"DISCORD_TOKEN": "test-token", "DISCORD_GUILD_ID": guild,
	})
	ctx := context.Background()

	opsWaitFor(t, 60*time.Second, "/readyz 200 naming Discord as degraded", func() bool {
		code, body := sv.readyz(t)
		return code == http.StatusOK && strings.Contains(body, "degraded: discord: cannot open the gateway")
	})
	if v := sv.metric(t, "thebutton_discord_connected"); v != "0" {
		t.Errorf("thebutton_discord_connected = %q while Discord is down, want 0", v)
	}
	g, err := sv.h.StartGame(ctx, commands.StartGame{Guild: guild, Channel: channels[0], By: "7", ByName: "ops",
		Duration: 2 * time.Second, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.h.Press(ctx, commands.Press{Game: g.Game, Guild: guild, User: "8", Interaction: "i-1"}); err != nil {
		t.Fatal(err)
	}
	opsWaitFor(t, 20*time.Second, "the game ends at its deadline without Discord", func() bool { return opsGameEnded(ctx, sv.h, g.Game) })
	if n := len(fake.Commands(guild)); n != 0 {
		t.Fatalf("%d commands registered while Discord was down", n)
	}

	sw.up.Store(true)
	took := opsWaitFor(t, 20*time.Second, "/readyz without the degraded line", func() bool {
		code, body := sv.readyz(t)
		return code == http.StatusOK && !strings.Contains(body, "degraded")
	})
	t.Logf("Discord back: gateway open after %s", took.Round(time.Millisecond))
	if v := sv.metric(t, "thebutton_discord_connected"); v != "1" {
		t.Errorf("thebutton_discord_connected = %q with Discord back, want 1", v)
	}
	if len(fake.Commands(guild)) == 0 {
		t.Error("no slash commands registered once Discord was back")
	}
	opsWaitFor(t, 30*time.Second, "the missed effects posted in the game's channel", func() bool {
		return len(fake.CallsTo("POST /channels/{channel}/messages", "channel", channels[0])) > 0
	})
	logs := sv.out.String()
	if n := strings.Count(logs, "discord unreachable"); n != 1 {
		t.Errorf("%d log lines for Discord going down, want 1 (one per change):\n%s", n, logs)
	}
	if n := strings.Count(logs, "discord gateway connected"); n != 1 {
		t.Errorf("%d log lines for Discord coming back, want 1:\n%s", n, logs)
	}
}

// opsFaultRun is a service under a fault: its addresses, and presses going on
// in the background that count what the handler accepted.
type opsFaultRun struct {
	*opsService
	natsAddr, redisURL, prefix, dsn string
	accepted                        atomic.Int64
	stop                            context.CancelFunc
	pressing                        sync.WaitGroup
}

// opsStartFaultRun starts the service on redisURL and dsn and presses on two
// games at a bounded pace (about 100 presses/s) until stopPressing.
func opsStartFaultRun(t *testing.T, redisURL, prefix, dsn string, vars map[string]string) *opsFaultRun {
	t.Helper()
	fr := &opsFaultRun{natsAddr: opsFreeAddr(t), redisURL: redisURL, prefix: prefix, dsn: dsn}
	if vars == nil {
		vars = map[string]string{}
	}
	vars["REDIS_URL"], vars["REDIS_PREFIX"], vars["MYSQL_DSN"], vars["NATS_LISTEN"] = redisURL, prefix, dsn, fr.natsAddr
	fr.opsService = opsStartService(t, vars)
	ctx, cancel := context.WithCancel(context.Background())
	fr.stop = cancel
	t.Cleanup(fr.stopPressing)
	for i := range 2 {
		g, err := fr.h.StartGame(ctx, commands.StartGame{Guild: "1", Channel: fmt.Sprint(20 + i), By: "2",
			Duration: time.Hour, Cooldown: 0})
		if err != nil {
			t.Fatal(err)
		}
		fr.pressing.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				// Not ctx: a press cut off by the end of the test could be
				// stored and yet count as failed here.
				c, err := fr.h.Press(context.Background(), commands.Press{Game: g.Game, Guild: "1", User: fmt.Sprint(100 + n%30),
					Interaction: fmt.Sprintf("f%d-%d", i, n)})
				if err == nil && !c.Duplicate {
					fr.accepted.Add(1)
				}
			}
		})
	}
	return fr
}

func (fr *opsFaultRun) stopPressing() {
	fr.stop()
	fr.pressing.Wait()
}

// checkAfterFault stops the presses and checks what must hold after any
// fault: every accepted press is stored (and nothing else), the service
// is ready again, and `thebutton verify` finds both projections exact.
func (fr *opsFaultRun) checkAfterFault(t *testing.T) {
	t.Helper()
	fr.stopPressing()
	ctx := context.Background()
	nc, err := nats.Connect("nats://" + fr.natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "BUTTON")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := projector.ReadAll(ctx, natsstore.NewFeed(js, "BUTTON"), info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	games := map[string][]events.Recorded{}
	for _, r := range all {
		if _, ok := r.Event.(events.ButtonClicked); ok {
			stored++
		}
		if strings.HasPrefix(r.Subject, "button.game.") {
			games[r.Subject] = append(games[r.Subject], r)
		}
	}
	// The game rules, checked again on the stored stream alone.
	for subject, recs := range games {
		for _, p := range commands.Audit(recs) {
			t.Errorf("%s: rule broken: %s", subject, p)
		}
	}
	if int64(stored) != fr.accepted.Load() {
		t.Errorf("accepted %d presses, stored %d clicks", fr.accepted.Load(), stored)
	}
	opsWaitFor(t, 60*time.Second, "/readyz 200 after the fault", func() bool {
		code, _ := fr.readyz(t)
		return code == http.StatusOK
	})
	var out syncBuffer
	code := Main(ctx, []string{"verify", "--wait", "30s"}, &out, &out, env(map[string]string{
		"NATS_URL": "nats://" + fr.natsAddr, "REDIS_URL": fr.redisURL, "REDIS_PREFIX": fr.prefix, "MYSQL_DSN": fr.dsn,
	}))
	if code != 0 {
		t.Errorf("verify after the fault exited %d:\n%s", code, out.String())
	}
	t.Logf("%d accepted = %d stored; verify clean", fr.accepted.Load(), stored)
}

// opsPrivateRedis is a redis-server of the test's own on a free port, with
// an append-only file fsynced at every write, so a restart finds the data.
type opsPrivateRedis struct {
	port, dir string
	cmd       *exec.Cmd
}

func opsStartPrivateRedis(t *testing.T) *opsPrivateRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed for the Redis fault test: %v", err)
	}
	_, port, _ := net.SplitHostPort(opsFreeAddr(t))
	r := &opsPrivateRedis{port: port, dir: t.TempDir()}
	r.start(t, bin)
	t.Cleanup(r.kill)
	return r
}

func (r *opsPrivateRedis) start(t *testing.T, bin string) {
	t.Helper()
	r.cmd = exec.Command(bin, "--port", r.port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	opsWaitFor(t, 10*time.Second, "redis-server answering", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+r.port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *opsPrivateRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Redis SIGKILLed while presses go on, restarted on its data 3 s later:
// presses never stop, /readyz is 503 naming Redis while it is down and
// thebutton_sink_up{sink="redis"} 0, and afterwards accepted = stored and
// verify is clean.
func TestChaosRedisKilledAndRestarted(t *testing.T) {
	r := opsStartPrivateRedis(t)
	fr := opsStartFaultRun(t, "redis://127.0.0.1:"+r.port+"/0", "chaos:", mysqltest.DSN(t), nil)
	opsWaitFor(t, 30*time.Second, "ready with presses going on", func() bool {
		code, _ := fr.readyz(t)
		return code == http.StatusOK && fr.accepted.Load() > 20
	})
	r.kill()
	killed := time.Now()
	opsWaitFor(t, 20*time.Second, "/readyz 503 naming Redis", func() bool {
		code, body := fr.readyz(t)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "redis")
	})
	if v := fr.metric(t, `thebutton_sink_up\{sink="redis"\}`); v != "0" {
		t.Errorf("thebutton_sink_up{sink=\"redis\"} = %q with Redis down, want 0", v)
	}
	before := fr.accepted.Load()
	opsWaitFor(t, 20*time.Second, "presses accepted while Redis is down", func() bool { return fr.accepted.Load() > before+20 })
	if d := time.Since(killed); d < 3*time.Second {
		opsWaitFor(t, 10*time.Second, "3 s of outage", func() bool { return time.Since(killed) >= 3*time.Second })
	}
	bin, _ := exec.LookPath("redis-server")
	r.start(t, bin)
	fr.checkAfterFault(t)
}

// MySQL stops answering (a proxy that holds every packet: a hang, not a
// refusal) for 5 s while presses go on: /readyz is 503 naming MySQL,
// thebutton_sink_up{sink="mysql"} 0, presses go on; once it answers
// again, accepted = stored and verify is clean.
func TestChaosMySQLHangs(t *testing.T) {
	rdb := redistest.Client(t)
	cfg, err := mysql.ParseDSN(mysqltest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := opsNewFaultProxy(t, cfg.Addr, true)
	cfg.Addr = proxy.addr()
	fr := opsStartFaultRun(t, redistest.URL(), redistest.Prefix(t, rdb, "chaos"), cfg.FormatDSN(), nil)
	opsWaitFor(t, 30*time.Second, "ready with presses going on", func() bool {
		code, _ := fr.readyz(t)
		return code == http.StatusOK && fr.accepted.Load() > 20
	})
	proxy.hang()
	hung := time.Now()
	opsWaitFor(t, 20*time.Second, "/readyz 503 naming MySQL", func() bool {
		code, body := fr.readyz(t)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "mysql")
	})
	if v := fr.metric(t, `thebutton_sink_up\{sink="mysql"\}`); v != "0" {
		t.Errorf("thebutton_sink_up{sink=\"mysql\"} = %q with MySQL hanging, want 0", v)
	}
	before := fr.accepted.Load()
	opsWaitFor(t, 20*time.Second, "presses accepted while MySQL hangs", func() bool { return fr.accepted.Load() > before+20 })
	opsWaitFor(t, 10*time.Second, "5 s of outage", func() bool { return time.Since(hung) >= 5*time.Second })
	proxy.resume()
	fr.checkAfterFault(t)
}

// Discord lost mid-game (the gateway connection reset and REST refused)
// for a few seconds: the game still ends at its deadline, /readyz stays
// 200 naming Discord as degraded and thebutton_discord_connected is 0
// while it lasts, the session comes back by itself, the missed effects
// (the end announcement) are posted once it is back, and accepted =
// stored, verify clean.
func TestChaosDiscordLostMidGame(t *testing.T) {
	fake := discordtest.New(t, discordtest.Options{})
	guild, channels := fake.AddGuild("chaos", 10, "button")
	fakeHost := strings.TrimPrefix(fake.URL(), "http://")
	proxy := opsNewFaultProxy(t, fakeHost, true)
	sw := &opsSwitchTransport{next: fake.Transport(), fakeHost: fakeHost, gatewayVia: proxy.addr()}
	sw.up.Store(true)
	prevT := discordTransport
	discordTransport = sw
	t.Cleanup(func() { discordTransport = prevT })

	rdb := redistest.Client(t)
	fr := opsStartFaultRun(t, redistest.URL(), redistest.Prefix(t, rdb, "chaos"), mysqltest.DSN(t),
		map[string]string{"DISCORD_TOKEN": "test-token", "DISCORD_GUILD_ID": guild})
	ctx := context.Background()
	opsWaitFor(t, 60*time.Second, "ready, Discord connected", func() bool {
		code, body := fr.readyz(t)
		return code == http.StatusOK && !strings.Contains(body, "degraded") &&
			fr.metric(t, "thebutton_discord_connected") == "1"
	})
	g, err := fr.h.StartGame(ctx, commands.StartGame{Guild: guild, Channel: channels[0], By: "7", ByName: "ops",
		Duration: 3 * time.Second, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fr.h.Press(ctx, commands.Press{Game: g.Game, Guild: guild, User: "8", Interaction: "m-1"}); err != nil {
		t.Fatal(err)
	}
	fr.accepted.Add(1)
	pressed, _, err := fr.h.Game(ctx, g.Game)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.UnixMilli(pressed.DeadlineMS())
	posts := func() int { return len(fake.CallsTo("POST /channels/{channel}/messages", "channel", channels[0])) }

	sw.up.Store(false)
	proxy.drop()
	down := time.Now()
	opsWaitFor(t, 30*time.Second, "/readyz 200 naming Discord as degraded", func() bool {
		code, body := fr.readyz(t)
		return code == http.StatusOK && strings.Contains(body, "degraded: discord")
	})
	if v := fr.metric(t, "thebutton_discord_connected"); v != "0" {
		t.Errorf("thebutton_discord_connected = %q with Discord lost, want 0", v)
	}
	opsWaitFor(t, 20*time.Second, "the game ends at its deadline without Discord", func() bool { return opsGameEnded(ctx, fr.h, g.Game) })
	ended, _, err := fr.h.Game(ctx, g.Game)
	if err != nil {
		t.Fatal(err)
	}
	if at := time.UnixMilli(ended.Ended.AtMS); at.Before(deadline) || at.After(deadline.Add(2*time.Second)) {
		t.Errorf("game ended at %s, deadline %s", at, deadline)
	}
	before := posts()
	opsWaitFor(t, 10*time.Second, "4 s of outage", func() bool { return time.Since(down) >= 4*time.Second })
	sw.up.Store(true)
	proxy.resume()
	took := opsWaitFor(t, 40*time.Second, "Discord connected again", func() bool {
		code, body := fr.readyz(t)
		return code == http.StatusOK && !strings.Contains(body, "degraded") &&
			fr.metric(t, "thebutton_discord_connected") == "1"
	})
	t.Logf("gateway back %s after Discord answered again", took.Round(time.Millisecond))
	opsWaitFor(t, 40*time.Second, "the missed end announcement posted", func() bool { return posts() > before })
	fr.checkAfterFault(t)
}

// opsHangingTransport never answers: every request waits until its
// context ends (Discord unreachable without a refusal: a black hole).
type opsHangingTransport struct{ waiting atomic.Int32 }

func (h *opsHangingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// Discord that never answers at start: the service is ready (Discord
// named as degraded), and a shutdown while the bot's gateway attempt
// hangs still ends within the grace period (serve reports an error
// otherwise, which the helper's cleanup turns into a failure).
func TestDiscordHangingAtStartDoesNotHoldShutdown(t *testing.T) {
	fake := discordtest.New(t, discordtest.Options{})
	guild, _ := fake.AddGuild("chaos", 10, "button")
	hang := &opsHangingTransport{}
	prevT := discordTransport
	discordTransport = hang
	t.Cleanup(func() { discordTransport = prevT })

	rdb := redistest.Client(t)
	sv := opsStartService(t, map[string]string{
		"REDIS_URL": redistest.URL(), "REDIS_PREFIX": redistest.Prefix(t, rdb, "chaos"), "MYSQL_DSN": mysqltest.DSN(t),
		"DISCORD_TOKEN": "test-token", "DISCORD_GUILD_ID": guild,
	})
	opsWaitFor(t, 60*time.Second, "ready with Discord degraded and a gateway attempt hanging", func() bool {
		code, body := sv.readyz(t)
		return code == http.StatusOK && strings.Contains(body, "degraded: discord") && hang.waiting.Load() > 0
	})
	if v := sv.metric(t, "thebutton_discord_connected"); v != "0" {
		t.Errorf("thebutton_discord_connected = %q, want 0", v)
	}
}
