package bench

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// testRig is an embedded JetStream with the event store opened on it and
// Redis under a prefix of the test's, both cleaned up when the test ends;
// the reactor has the service's consumer settings (cmd/thebutton's reactorOptions).
func testRig(t *testing.T) discordRig {
	t.Helper()
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	store, err := natsstore.Open(context.Background(), js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redistest.Client(t)
	return discordRig{conn: &Conn{JS: js, Store: store, URL: srv.ClientURL(), Close: func() {}}, stream: natsstore.DefaultStream,
		rdb: rdb, prefix: redistest.Prefix(t, rdb, "bench"),
		reactor: projector.Options{BatchSize: 50, ApplyTimeout: 2 * time.Minute, Lease: projector.LeaseOptions{TTL: 10 * time.Second}}}
}

// TestDiscordBurst runs `bench discord` (the bot against the fake Discord
// with Discord's own limits, real embedded JetStream and real Redis) and
// checks what Discord showed. The bursts are shorter than the benchmark's
// (docs/benchmarks.md has the full-size figures) but the same in kind: more
// role grants needed than the per-guild limit lets through before the
// game ends, so the end comes while grants are still queued.
func TestDiscordBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the burst runs for about half a minute")
	}
	tests := []struct {
		name string
		s    discordBench
	}{
		// 30 players need about 30 grants: 10 go at once, the rest at
		// one a second, ending long after the game's end.
		{"one guild", discordBench{guilds: 1, players: 30, presses: 150, duration: 5 * time.Second,
			clock: 8 * time.Second, cooldown: time.Second}},
		// 20 guilds at once, each with its own game and burst: a guild's
		// grants must not delay another's end or announcements. The clocks
		// run while the 20 game messages are posted (one picture each): in
		// a full suite run on the loaded 2-core machine, 6-s clocks ran out
		// before any press landed; 10 s leaves 6 s for that setup.
		{"20 guilds", discordBench{guilds: 20, players: 12, presses: 40, duration: 4 * time.Second,
			clock: 10 * time.Second, cooldown: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			if os.Getenv("BENCH_DEBUG") == "1" {
				log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rig := testRig(t)
			rig.reactor.Log = log.With("component", "reactor")
			res, err := benchDiscord(ctx, rig, tt.s, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.Accepted < tt.s.guilds*tt.s.players/2 {
				t.Errorf("only %d clicks accepted (the game messages took %d ms to appear, the clocks %v)", res.Accepted, res.SetupMS, tt.s.clock)
			}
			if res.Unannounced != 0 || res.AnnouncedTwice != 0 {
				t.Errorf("%d clicks unannounced, %d announced twice; want every click once", res.Unannounced, res.AnnouncedTwice)
			}
			// 1.0–1.8 s on an idle machine (docs/benchmarks.md); 4.8 s was
			// seen for 20 guilds in a full suite run beside a CPU- and
			// fsync-heavy benchmark (load average 7): the bound is for a
			// loaded 2-core machine, the benchmark tells the real figure.
			if res.AnnounceLagP99MS > 6000 {
				t.Errorf("announcement lag p99 %v ms, want at most 6000", res.AnnounceLagP99MS)
			}
			if res.EndLagMS < 0 || res.EndLagMS > 2000 {
				t.Errorf("end summary %v ms after the deadline (-1: never), want within 2000", res.EndLagMS)
			}
			if res.EndAnnounceLagMS < 0 || res.EndAnnounceLagMS > 2000 {
				t.Errorf("end announcement %v ms after the deadline (-1: never), want within 2000", res.EndAnnounceLagMS)
			}
			if res.RoleGrantsRepeat != 0 || res.RoleGrants != res.RoleGrantsNeeded {
				t.Errorf("%d role grants (%d repeated), want exactly the %d needed", res.RoleGrants, res.RoleGrantsRepeat, res.RoleGrantsNeeded)
			}
			if res.RoleGrantsEnd == 0 && tt.s.guilds == 1 {
				t.Errorf("no role grant after the end: the burst did not prove the end does not wait for grants")
			}
			if limit := float64(res.RoleGrantsMax) + 5; res.RolesCompleteS > limit {
				t.Errorf("roles complete %vs after the last click, want at most %vs", res.RolesCompleteS, limit)
			}
			if res.Status429 != 0 {
				t.Errorf("%d calls answered 429", res.Status429)
			}
			if res.EditsPerChannel5s > 5 {
				t.Errorf("%d message edits in one channel within 5 s, Discord allows 5", res.EditsPerChannel5s)
			}
		})
	}
}
