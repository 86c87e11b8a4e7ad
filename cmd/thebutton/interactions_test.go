package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/bench"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

func TestInteractionsConfigProblems(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"malformed key and gateway setting", nil, map[string]string{"DISCORD_TOKEN": "t", "DISCORD_PUBLIC_KEY": "abc",
			"DISCORD_GATEWAY": "sometimes"}, []string{"DISCORD_PUBLIC_KEY: public key: not hex", "DISCORD_GATEWAY: \"sometimes\""}},
		{"short key", nil, map[string]string{"DISCORD_TOKEN": "t", "DISCORD_PUBLIC_KEY": strings.Repeat("ab", 31)},
			[]string{"DISCORD_PUBLIC_KEY: public key: 31 bytes, want 32"}},
		{"key without token or HTTP", []string{"--http", ""}, map[string]string{"DISCORD_PUBLIC_KEY": strings.Repeat("ab", 32)},
			[]string{"DISCORD_PUBLIC_KEY needs DISCORD_TOKEN", "DISCORD_PUBLIC_KEY needs HTTP_ADDR"}},
		{"no gateway without key, with legacy commands and shards", nil, map[string]string{"DISCORD_TOKEN": "t", "DISCORD_GATEWAY": "off",
			"LEGACY_TEXT_COMMANDS": "true", "DISCORD_SHARDS": "2"}, []string{"DISCORD_GATEWAY=off needs DISCORD_PUBLIC_KEY",
			"DISCORD_GATEWAY=off cannot serve LEGACY_TEXT_COMMANDS", "DISCORD_GATEWAY=off opens no gateway shard"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(context.Background(), append([]string{"run"}, tc.args...), &stdout, &stderr, env(tc.env)); code != 1 {
				t.Fatalf("exit code %d, want 1:\n%s", code, stderr.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

// TestRunServesInteractionsWithoutGateway runs `thebutton run` with
// DISCORD_GATEWAY=off: the fake Discord posts signed interactions to
// /interactions on the service's HTTP address; a slash command and a press
// are answered in the HTTP responses, and no gateway session is ever
// opened. The fake is reached through http.DefaultTransport (botWorld):
// not parallel.
func TestRunServesInteractionsWithoutGateway(t *testing.T) {
	token := "tok" + bench.RandomHex(8)
	bots := newBotWorld(t, token, 1)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	redisURL, _, prefix := testRedis(t)
	addr := loopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--http", addr}, &out, &out, env(map[string]string{
			"DATA_DIR": t.TempDir(), "NATS_LISTEN": "127.0.0.1:0", "LOG_LEVEL": "info",
			"REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": mysqltest.DSN(t), "DISCORD_TOKEN": token,
			"DISCORD_PUBLIC_KEY": hex.EncodeToString(pub), "DISCORD_GATEWAY": "off",
		}))
	}()
	testwait.For(t, 60*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d:\n%s", code, out.String())
		default:
		}
		// The slash commands are registered once the bot is open.
		return strings.Contains(out.String(), "thebutton running") && strings.Contains(out.String(), "slash commands registered")
	}, func() string { return fmt.Sprintf("not running:\n%s", out.String()) })

	bots.fake.SetInteractionsEndpoint("http://"+addr+interactionsPath, priv)
	if err := bots.fake.VerifyEndpoint(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	game, msg := bots.startGame(wctx)
	if got := bots.press(wctx, bots.players[0], game, msg); !strings.Contains(got, "Purple click") {
		t.Errorf("press answered %q, want a Purple click", got)
	}
	if n := bots.fake.Sessions(); n != 0 {
		t.Errorf("%d gateway sessions, want none", n)
	}
	if n := len(bots.fake.CallsTo("POST /interactions/{interaction}/{token}/callback")); n != 0 {
		t.Errorf("%d callbacks over REST, want the answers in the HTTP responses", n)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20s")
	}
}

func TestBenchInteractionsPrintsJSON(t *testing.T) {
	redisURL, _, _ := testRedis(t)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench", "interactions", "--cluster", "0", "--instances", "2",
		"--games", "3", "--players", "50", "--duration", "1s", "--rate", "50", "--redis-url", redisURL, "--log-level", "warn"},
		&stdout, &stderr, env(nil))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res bench.InteractionsResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if res.Presses != 50 || res.Errors != 0 || res.RulesBroken != 0 || res.Lost != 0 || res.Ghost != 0 || res.ServerP99MS <= 0 {
		t.Errorf("result %+v", res)
	}
	if len(res.SlowBySecond) != 1 {
		t.Errorf("slow_by_second %v: want one count for a 1 s run", res.SlowBySecond)
	}
	// A press shed under load (busy, nothing stored) is a true answer too.
	if res.Accepted+res.Deferred+res.Shed != res.Presses || len(res.InstancePresses) != 2 || res.InstancePresses[0] != 25 {
		t.Errorf("accepted %d + deferred %d + shed %d of %d presses, per instance %v", res.Accepted, res.Deferred, res.Shed, res.Presses, res.InstancePresses)
	}
}

// A one-node "cluster" never gets a JetStream leader: the benches refuse
// it at once instead of failing after 30 s.
func TestBenchRefusesOneNodeCluster(t *testing.T) {
	for _, cmd := range []string{"interactions", "clicks"} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), []string{"bench", cmd, "--cluster", "1"}, &stdout, &stderr, env(nil))
		if code == 0 || !strings.Contains(stderr.String(), "2 to 5 nodes") {
			t.Errorf("bench %s --cluster 1: exit %d, %q; want a failure naming the sizes it takes", cmd, code, stderr.String())
		}
	}
}

// TestBenchInteractionsConfirmsDeferred: with a press budget of 1 ns every
// press not decided the instant it arrives (all of them: each waits for its
// append) is answered deferred; the bench learns each one's edited answer
// from the fake Discord and audits only the presses finally answered
// accepted against the stored stream.
func TestBenchInteractionsConfirmsDeferred(t *testing.T) {
	redisURL, _, _ := testRedis(t)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench", "interactions", "--cluster", "0", "--instances", "2",
		"--games", "3", "--players", "50", "--duration", "1s", "--rate", "40", "--press-budget", "1ns",
		"--redis-url", redisURL, "--log-level", "warn"}, &stdout, &stderr, env(nil))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res bench.InteractionsResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	t.Logf("%+v", res)
	if res.Presses != 40 || res.Errors != 0 || res.Deferred < res.Presses/2 {
		t.Fatalf("%d presses, %d errors, %d deferred: want 40 presses, no error, most deferred", res.Presses, res.Errors, res.Deferred)
	}
	if res.DeferredAccepted+res.DeferredRefused+res.DeferredShed != res.Deferred || res.DeferredUnanswered != 0 {
		t.Errorf("deferred %d: accepted %d + refused %d + shed %d, %d never answered", res.Deferred,
			res.DeferredAccepted, res.DeferredRefused, res.DeferredShed, res.DeferredUnanswered)
	}
	// Cooldown 0 and no sequential rule: every press decided in time counts.
	if res.DeferredAccepted == 0 || res.Lost != 0 || res.Ghost != 0 || res.RulesBroken != 0 {
		t.Errorf("%d deferred accepted, lost %d, ghost %d, rules broken %d", res.DeferredAccepted, res.Lost, res.Ghost, res.RulesBroken)
	}
}
