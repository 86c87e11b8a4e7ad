package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

func TestDiscordShardsSetting(t *testing.T) {
	for _, tt := range []struct {
		value string
		ok    bool
	}{{"", true}, {"auto", true}, {"1", true}, {"16", true}, {"0", false}, {"-2", false}, {"many", false}, {"5000", false}} {
		err := botSettings{shards: tt.value}.check()
		if (err == nil) != tt.ok {
			t.Errorf("DISCORD_SHARDS=%q: err %v, want ok=%v", tt.value, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "DISCORD_SHARDS") {
			t.Errorf("DISCORD_SHARDS=%q: error %q does not name the setting", tt.value, err)
		}
	}
}

// TestRunShardedOverTwoInstances runs two `thebutton run` on one NATS with
// DISCORD_SHARDS=auto against a fake Discord recommending 2 shards: each
// instance holds one shard (one gateway session each), a game started
// and pressed in the guild is answered by the instance of its shard, and
// when one instance stops the other holds both shards.
func TestRunShardedOverTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs two services")
	}
	const token = "shard-token"
	w := newBotWorldWith(t, discordtest.Options{Token: token, Shards: 2, MaxConcurrency: 2}, 2)
	srv := natstest.Server(t, "")
	redisURL, _, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	type inst struct {
		out    syncBuffer
		cancel context.CancelFunc
		done   chan int // closed when Main returned
	}
	start := func() *inst {
		in := &inst{done: make(chan int)}
		ctx, cancel := context.WithCancel(context.Background())
		in.cancel = cancel
		go func() {
			defer close(in.done)
			Main(ctx, []string{"run", "--http", ""}, &in.out, &in.out, env(map[string]string{
				"DATA_DIR": t.TempDir(), "NATS_URL": srv.ClientURL(), "LOG_LEVEL": "info",
				"REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn, "DISCORD_TOKEN": token,
				"DISCORD_SHARDS": "auto", "PROJECTOR_LEASE_TTL": "2s",
			}))
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-in.done:
			case <-time.After(30 * time.Second):
				t.Errorf("run did not stop:\n%s", in.out.String())
			}
		})
		return in
	}
	a, b := start(), start()
	logs := func() string { return "A:\n" + tail(a.out.String(), 3000) + "\nB:\n" + tail(b.out.String(), 3000) }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shards %v:\n%s", w.fake.ShardSessions(), logs())
		}
	})
	oneEach := func() bool {
		s := w.fake.ShardSessions()
		return s[0] == 1 && s[1] == 1 && len(s) == 2
	}
	testwait.For(t, 90*time.Second, func() bool {
		return oneEach() && strings.Contains(a.out.String(), "shard lease taken") && strings.Contains(b.out.String(), "shard lease taken")
	}, func() string { return fmt.Sprintf("shards %v:\n%s", w.fake.ShardSessions(), logs()) })

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	game, msg := w.startGame(ctx)
	if got := w.press(ctx, w.players[0], game, msg); !strings.Contains(got, "click!") {
		t.Fatalf("press answered %q", got)
	}
	if n := len(w.fake.Commands("")); n == 0 {
		t.Error("no slash commands registered")
	}
	puts := w.fake.CallsTo("PUT /applications/{app}/commands")
	if len(puts) > 2 {
		t.Errorf("slash commands registered %d times by two instances", len(puts))
	}

	a.cancel() // a clean stop gives its shard up at once
	<-a.done
	testwait.For(t, 30*time.Second, oneEach, func() string {
		return fmt.Sprintf("shards %v after one instance stopped:\n%s", w.fake.ShardSessions(), logs())
	})
	if rl := w.fake.RateLimited(); len(rl) != 0 {
		t.Errorf("%d calls answered 429, first %s %s", len(rl), rl[0].Method, rl[0].Path)
	}
}
