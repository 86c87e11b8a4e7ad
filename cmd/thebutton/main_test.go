package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/bench"
	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// running command and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env returns a getenv over the given variables only.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestHelpAndUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string // expected in stdout or stderr
	}{
		{nil, 2, "Commands:"},
		{[]string{"help"}, 0, "bench"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"run", "-h"}, 0, "NATS_URL"},
		{[]string{"run", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"run", "stray"}, 2, "unexpected arguments: stray"},
		{[]string{"bench"}, 2, "bench clicks|projector|replay"},
		{[]string{"bench", "clicks", "-h"}, 0, "--players"},
		{[]string{"bench", "nope"}, 2, `unknown benchmark "nope"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, &stdout, &stderr, env(nil))
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String()+stderr.String(), tt.out) {
				t.Errorf("output does not contain %q:\n%s%s", tt.out, stdout.String(), stderr.String())
			}
		})
	}
}

// Every problem of the configuration is reported at once.
func TestConfigProblemsAllAtOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"run"}, &stdout, &stderr, env(map[string]string{
		"LOG_LEVEL": "loud", "NATS_SYNC": "sometimes", "REDIS_URL": "http://x", "NATS_REPLICAS": "9",
	}))
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{"LOG_LEVEL", "NATS_SYNC", "REDIS_URL", "NATS_REPLICAS"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not mention %s:\n%s", want, stderr.String())
		}
	}
}

func TestBenchClicksPrintsJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench", "clicks", "--players", "20", "--games", "2",
		"--instances", "2", "--duration", "500ms", "--rate", "200", "--log-level", "warn"}, &stdout, &stderr, env(nil))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res bench.ClicksResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if res.Accepted == 0 || res.Errors != 0 || res.RulesBroken != 0 || res.P99MS <= 0 || res.PublishP50MS <= 0 {
		t.Errorf("result %+v", res)
	}
	if res.Accepted+res.Rejected != res.Presses {
		t.Errorf("accepted %d + rejected %d != presses %d", res.Accepted, res.Rejected, res.Presses)
	}
}

// `run` with the embedded server starts, serves, and stops cleanly on
// cancel; the store survives a restart: a game started and pressed
// through the first run's NATS server is there after the second start,
// with every click, the stream as long as it was, and the game counted
// active at start-up.
func TestRunStartsAndStops(t *testing.T) {
	dir := t.TempDir()
	redisURL, _, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	natsAddr := loopbackAddr(t)
	var (
		game      events.GameID
		clicks    int64
		streamLen uint64
	)
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		var stderr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- Main(ctx, []string{"run", "--http", ""}, &stderr, &stderr, env(map[string]string{
				"DATA_DIR": dir, "NATS_LISTEN": natsAddr, "LOG_LEVEL": "info",
				"REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn,
			}))
		}()
		testwait.For(t, 20*time.Second, func() bool {
			select {
			case code := <-done:
				t.Fatalf("round %d: exited early with %d:\n%s", round, code, stderr.String())
			default:
			}
			return strings.Contains(stderr.String(), "thebutton running")
		}, func() string { cancel(); return fmt.Sprintf("round %d: not running:\n%s", round, stderr.String()) })
		if !strings.Contains(stderr.String(), "DISCORD_TOKEN is not set") {
			t.Errorf("run without a token does not say so:\n%s", stderr.String())
		}

		nc, err := nats.Connect("nats://" + natsAddr)
		if err != nil {
			t.Fatalf("round %d: connect to the embedded server: %v", round, err)
		}
		js, _ := jetstream.New(nc)
		store, err := natsstore.Open(ctx, js, natsstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		h := commands.NewHandler(store, nil, nil)
		if err := h.Open(ctx); err != nil {
			t.Fatal(err)
		}
		switch round {
		case 0: // write what must survive
			g, err := h.StartGame(ctx, commands.StartGame{Guild: "1", Channel: "2", By: "3", Duration: time.Hour, Cooldown: 0})
			if err != nil {
				t.Fatal(err)
			}
			game = g.Game
			for i := range 25 {
				if _, err := h.Press(ctx, commands.Press{Game: game, Guild: "1", User: fmt.Sprint(100 + i), Interaction: fmt.Sprint("s", i)}); err != nil {
					t.Fatal(err)
				}
			}
			clicks = 25
		case 1: // read it back
			if !strings.Contains(stderr.String(), "active_games=1") {
				t.Errorf("the second run did not start with the game of the first active:\n%s", stderr.String())
			}
			g, ok, err := h.Game(ctx, game)
			if err != nil || !ok {
				t.Fatalf("game %d after the restart: found %v, err %v", game, ok, err)
			}
			if g.Clicks != clicks || !g.Active() {
				t.Errorf("game %d after the restart: %d clicks, active %v; want %d clicks, active", game, g.Clicks, g.Active(), clicks)
			}
		}
		st, err := store.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			streamLen = st.LastSeq
		} else if st.LastSeq != streamLen || st.Messages != streamLen {
			t.Errorf("stream after the restart: last sequence %d, %d messages; want %d of each", st.LastSeq, st.Messages, streamLen)
		}
		h.Close()
		nc.Close()

		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("round %d: exit %d:\n%s", round, code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: did not stop within 15s", round)
		}
	}
}
