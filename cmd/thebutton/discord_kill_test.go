package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/bench"
	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// TestRunKilledMidBurstResumesDiscord kills `thebutton run` (the built
// binary, default settings: no PROJECTOR_ID) with SIGKILL in the middle of
// a burst of presses against the fake Discord, and starts it again at
// once: the announcements resume within 5 s of the new session's READY,
// and in the end every click is announced exactly once and every needed
// role granted exactly once.
func TestRunKilledMidBurstResumesDiscord(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the kill test builds the binary and runs for about half a minute")
	}
	redisURL, _, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	bin := buildBinary(t)
	const tok = "kill-token"
	fake := discordtest.New(t, discordtest.Options{Token: tok}) // Discord's limits
	guild, chans := fake.AddGuild("Kill", 0, "button", "chat")
	button, chat := chans[0], chans[1]
	admin := fake.AddMember(guild, "", "Admin", bench.AdminPerms)
	var players []string
	for k := range 20 {
		players = append(players, fake.AddMember(guild, "", "Player "+strconv.Itoa(k), bench.PlayerPerms))
	}

	natsAddr := loopbackAddr(t)
	dataDir := t.TempDir()
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATA_DIR=" + dataDir, "NATS_LISTEN=" + natsAddr, "REDIS_URL=" + redisURL, "REDIS_PREFIX=" + prefix,
		"MYSQL_DSN=" + dsn, "DISCORD_TOKEN=" + tok, "DISCORD_API_URL=" + fake.URL(), "LOG_LEVEL=info"}
	logPath := filepath.Join(t.TempDir(), "run.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--http", "")
		cmd.Env = environ
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	dumpLog := func() {
		b, _ := os.ReadFile(logPath)
		t.Logf("run log (tail):\n%s", tail(string(b), 8000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wait := func(d time.Duration, what string, cond func() bool) time.Time {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := fake.Wait(wctx, cond); err != nil {
			dumpLog()
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return time.Now()
	}

	cmd := start()
	defer func() {
		if cmd.Process != nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}()
	wait(60*time.Second, "the bot's first session", func() bool { return fake.Sessions() == 1 })

	// A second command handler on the service's NATS starts the game.
	var nc *nats.Conn
	wait(30*time.Second, "the service's NATS", func() bool {
		nc, err = nats.Connect("nats://" + natsAddr)
		return err == nil
	})
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := commands.NewHandler(store, commands.SystemClock{}, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	st, err := h.StartGame(ctx, commands.StartGame{Guild: guild, Channel: button, ChatChannel: chat, By: admin,
		ByName: "Admin", Duration: 10 * time.Minute, Cooldown: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	game := st.Game
	var msg string
	wait(30*time.Second, "the game message", func() bool {
		g, ok, err := h.Game(ctx, game)
		msg = g.MessageID
		return err == nil && ok && msg != ""
	})

	// The burst: a press every 40 ms for 8 s; SIGKILL after 3 s, restart
	// at once.
	var pw sync.WaitGroup
	burst := time.Now()
	pw.Go(func() {
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for k := 0; time.Since(burst) < 8*time.Second; k++ {
			<-tick.C
			u := players[k%len(players)]
			pw.Go(func() {
				wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				_, _ = fake.Press(guild, button, u, discordbot.PressID(game), msg).Wait(wctx)
			})
		}
	})
	wait(10*time.Second, "3 s into the burst", func() bool { return time.Since(burst) >= 3*time.Second })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := time.Now()
	beforeKill := len(fake.Messages(chat))
	cmd = start()
	ready := wait(60*time.Second, "the new session", func() bool { return len(fake.Identifies()) >= 2 && fake.Sessions() == 1 })
	t.Logf("killed at %v into the burst; READY again %v later; %d chat messages before the kill",
		killedAt.Sub(burst).Round(time.Millisecond), ready.Sub(killedAt).Round(time.Millisecond), beforeKill)
	resumed := wait(30*time.Second, "an announcement after the restart", func() bool {
		for _, m := range fake.Messages(chat) {
			if m.CreatedAt.After(ready) {
				return true
			}
		}
		return false
	})
	t.Logf("first announcement %v after READY", resumed.Sub(ready).Round(time.Millisecond))
	if d := resumed.Sub(ready); d > 5*time.Second {
		t.Errorf("announcements resumed %v after READY, want within 5 s", d)
	}
	pw.Wait()

	// Everything catches up, nothing twice.
	recs, err := store.Load(ctx, events.GameSubject(game), 0)
	if err != nil {
		t.Fatal(err)
	}
	clicks := map[string]bool{}
	pairs := map[string]bool{}
	for _, r := range recs {
		if c, ok := r.Event.(events.ButtonClicked); ok {
			clicks[fmt.Sprintf("%d/%d", c.Game, c.Number)] = true
			pairs[c.User+"/"+strconv.Itoa(int(c.Band))] = true
		}
	}
	announced := func() map[string]int {
		out := map[string]int{}
		for _, m := range fake.Messages(chat) {
			for _, em := range m.Embeds {
				for _, ref := range bench.AnnouncedClicks(em) {
					out[fmt.Sprintf("%d/%d", ref[0], ref[1])]++
				}
			}
		}
		return out
	}
	granted := func() []discordtest.Call {
		var out []discordtest.Call
		for _, c := range fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}") {
			if c.Status < 300 {
				out = append(out, c)
			}
		}
		return out
	}
	grants := func() int { return len(granted()) }
	wait(60*time.Second, "every click announced and every role granted", func() bool {
		return len(announced()) >= len(clicks) && grants() >= len(pairs)
	})
	t.Logf("%d clicks, %d player-colour pairs", len(clicks), len(pairs))
	// The service settles: stopped cleanly, nothing more comes.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		dumpLog()
		t.Errorf("thebutton run after SIGTERM: %v", err)
	}
	cmd.Process = nil
	ann := announced()
	for k := range clicks {
		if ann[k] != 1 {
			t.Errorf("click %s announced %d times, want once", k, ann[k])
		}
	}
	if len(ann) != len(clicks) {
		t.Errorf("%d clicks announced, %d in the stream", len(ann), len(clicks))
	}
	seen := map[string]bool{}
	for _, c := range granted() {
		k := c.Vars["user"] + "/" + c.Vars["role"]
		if seen[k] {
			t.Errorf("role %s granted to %s twice", c.Vars["role"], c.Vars["user"])
		}
		seen[k] = true
	}
	if len(seen) != len(pairs) {
		t.Errorf("%d roles granted, want %d (one per player and colour)", len(seen), len(pairs))
	}
	// A restarted process does not know how much of a bucket the killed
	// one used: its first call on a spent bucket may meet a 429 (retried
	// after retry_after), as on Discord.
	t.Logf("%d calls answered 429", len(fake.RateLimited()))
	if t.Failed() {
		dumpLog()
		for _, c := range fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}") {
			t.Logf("%s grant %s %s: %d", c.At.Format("15:04:05.000"), c.Vars["user"], c.Vars["role"], c.Status)
		}
	}
}
