package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// switchTransport sends requests to next while up, and fails them at
// once, as a refused connection does, while down.
type switchTransport struct {
	next http.RoundTripper
	up   atomic.Bool
}

var errDiscordDown = errors.New("dial tcp: connect: connection refused (Discord down in the test)")

func (s *switchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !s.up.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errDiscordDown
	}
	return s.next.RoundTrip(r)
}

// service is `thebutton run` started by serve in the test, with its
// command handler at hand.
type service struct {
	addr string
	out  *syncBuffer
	h    observedCommands
}

// startService runs serve with vars (plus a data dir, an embedded NATS on
// a free port and a web address) until the test ends.
func startService(t *testing.T, vars map[string]string) *service {
	t.Helper()
	sv := &service{addr: freeAddr(t), out: &syncBuffer{}}
	vars["DATA_DIR"] = t.TempDir()
	if vars["NATS_LISTEN"] == "" {
		vars["NATS_LISTEN"] = "127.0.0.1:0"
	}
	vars["HTTP_ADDR"] = sv.addr
	var s serviceFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	s.register(fs, env(vars))
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.check(); err != nil {
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

func (sv *service) readyz(t *testing.T) (int, string) {
	t.Helper()
	code, body, err := httpGet("http://" + sv.addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	return code, body
}

func (sv *service) metric(t *testing.T, re string) string {
	t.Helper()
	_, body, err := httpGet("http://" + sv.addr + "/metrics")
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// gameEnded reports whether the game has ended.
func gameEnded(ctx context.Context, h observedCommands, id events.GameID) bool {
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
	sw := &switchTransport{next: fake.Transport()}
	prevT, prevMin, prevMax := discordTransport, discordRetryMin, discordRetryMax
	discordTransport, discordRetryMin, discordRetryMax = sw, 50*time.Millisecond, 400*time.Millisecond
	t.Cleanup(func() { discordTransport, discordRetryMin, discordRetryMax = prevT, prevMin, prevMax })

	rdb := redistest.Client(t)
	sv := startService(t, map[string]string{
		"REDIS_URL": redistest.URL(), "REDIS_PREFIX": redistest.Prefix(t, rdb, "chaos"), "MYSQL_DSN": mysqltest.DSN(t),
		"DISCORD_TOKEN": "test-token", "DISCORD_GUILD_ID": guild,
	})
	ctx := context.Background()

	waitFor(t, 60*time.Second, "/readyz 200 naming Discord as degraded", func() bool {
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
	waitFor(t, 20*time.Second, "the game ends at its deadline without Discord", func() bool { return gameEnded(ctx, sv.h, g.Game) })
	if n := len(fake.Commands(guild)); n != 0 {
		t.Fatalf("%d commands registered while Discord was down", n)
	}

	sw.up.Store(true)
	took := waitFor(t, 20*time.Second, "/readyz without the degraded line", func() bool {
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
	waitFor(t, 30*time.Second, "the missed effects posted in the game's channel", func() bool {
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
