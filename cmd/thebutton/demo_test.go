package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// The demo with a very short clock: presses happen, a game ends at its
// deadline, and the next demo game starts.
func TestDemoPlaysGames(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo plays for several seconds")
	}
	redisURL, _, prefix := testRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo", "--http", "", "--demo-clock", "2s", "--demo-cooldown", "500ms",
			"--demo-players", "3", "--demo-pause", "200ms"}, &out, &out, env(map[string]string{
			"DATA_DIR": t.TempDir(), "NATS_LISTEN": "127.0.0.1:0",
			"REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": mysqltest.DSN(t),
		}))
	}()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), `demo game running" component=demo game=2`) {
		if time.Now().After(deadline) {
			t.Fatalf("no second demo game after 90s:\n%s", out.String())
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d:\n%s", code, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	logs := out.String()
	if !strings.Contains(logs, "demo press") || !strings.Contains(logs, `demo game over" component=demo game=1`) {
		t.Fatalf("no press or no end of game 1:\n%s", logs)
	}

	// Read game 1 from the embedded server and audit it: every click by
	// the rules, the end recorded at the deadline.
	url := regexp.MustCompile(`embedded nats started" url=(\S+)`).FindStringSubmatch(logs)
	if url == nil {
		t.Fatalf("no embedded server URL in the logs:\n%s", logs)
	}
	nc, err := nats.Connect(url[1])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Load(ctx, events.GameSubject(1), 0)
	if err != nil {
		t.Fatal(err)
	}
	if problems := commands.Audit(recs); len(problems) > 0 {
		t.Errorf("game 1 breaks rules: %v", problems)
	}
	var g events.Game
	for _, r := range recs {
		if err := g.Apply(r.Seq, r.Event); err != nil {
			t.Fatal(err)
		}
	}
	if g.Clicks == 0 || g.Status != events.StatusEnded || g.Ended.AtMS != g.DeadlineMS() {
		t.Errorf("game 1: %d clicks, status %s, ended at %d, deadline %d", g.Clicks, g.Status, g.Ended.AtMS, g.DeadlineMS())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exit code %d", code)
	}
}
