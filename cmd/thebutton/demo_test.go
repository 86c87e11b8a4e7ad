package main

import (
	"cmp"
	"context"
	"regexp"
	"slices"
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

// The demo for real with a short clock and the default players: presses
// in at least three colours happen, the game ends at its deadline, and the
// next demo game starts. (The default 40 s clock is checked on the player
// model by TestDemoDefaultsShowAWholeGame; this run is ~12/40 of it.)
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
		done <- Main(ctx, []string{"demo", "--http", "", "--demo-clock", "12s", "--demo-pause", "200ms"}, &out, &out, env(map[string]string{
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
	colours := map[int]bool{}
	for _, r := range recs {
		if c, ok := r.Event.(events.ButtonClicked); ok {
			colours[c.Band] = true
		}
	}
	if len(colours) < 3 {
		t.Errorf("game 1: clicks in %d colours %v, want at least 3", len(colours), colours)
	}
	if g.Clicks == 0 || g.Status != events.StatusEnded || g.Ended.AtMS != g.DeadlineMS() {
		t.Errorf("game 1: %d clicks, status %s, ended at %d, deadline %d", g.Clicks, g.Status, g.Ended.AtMS, g.DeadlineMS())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exit code %d", code)
	}
}

// simulateDemo plays a roster on a virtual clock by the rule demoPlayer
// follows: each round the player with the most nerve left presses when
// nerve·clock is left, late by their reaction plus lag (0 to one look at
// the clock). It returns the bands of the presses and when the clock runs
// out.
func simulateDemo(turns []demoTurn, clock, lag time.Duration) (bands []events.Band, end time.Duration) {
	waiting := slices.Clone(turns)
	slices.SortStableFunc(waiting, func(a, b demoTurn) int { return cmp.Compare(b.nerve, a.nerve) })
	var now time.Duration
	deadline := clock
	for _, t := range waiting {
		trigger := deadline - time.Duration(t.nerve*float64(clock))
		at := max(trigger, now) + t.react + lag
		if at >= deadline {
			continue // too late: the game is over (or the next one goes on)
		}
		bands = append(bands, events.BandOf((deadline-at).Milliseconds(), clock.Milliseconds()))
		now, deadline = at, at+clock
	}
	return bands, deadline
}

// TestDemoDefaultsShowAWholeGame: with the default demo settings every
// game (rosters of 500 game ids, with the quickest and the slowest look at
// the clock) has presses in at least three colours including a close Red
// one, ends at its deadline, and the next game starts within 4 minutes of
// the start — about 3 on average.
func TestDemoDefaultsShowAWholeGame(t *testing.T) {
	d := demoConfig{duration: demoDefaultClock, cooldown: demoDefaultCooldown, players: demoDefaultPlayers, pause: demoDefaultPause}
	var total time.Duration
	n := 0
	for id := events.GameID(1); id <= 500; id++ {
		turns := demoRoster(id, d)
		for _, lag := range []time.Duration{0, demoTick(d)} {
			bands, end := simulateDemo(turns, d.duration, lag)
			colours := map[events.Band]bool{}
			for _, b := range bands {
				colours[b] = true
			}
			if len(colours) < 3 || !colours[events.Red] {
				t.Fatalf("game %d (lag %v): colours %v of presses %v by %+v", id, lag, colours, bands, turns)
			}
			if next := end + d.pause; next > 4*time.Minute {
				t.Fatalf("game %d (lag %v): the next game starts after %v", id, lag, next)
			}
			total += end + d.pause
			n++
		}
	}
	t.Logf("the next game starts after %v on average", total/time.Duration(n))
}
