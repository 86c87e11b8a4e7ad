package commands_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
)

// parked reports whether some goroutine is parked (in a select or a
// channel send) with every one of fns on its stack and none of not.
func parked(fns []string, not ...string) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		if !strings.Contains(head, "[select") && !strings.Contains(head, "[chan send") {
			continue
		}
		for _, f := range fns {
			if !strings.Contains(g, f) {
				continue next
			}
		}
		for _, f := range not {
			if strings.Contains(g, f) {
				continue next
			}
		}
		return true
	}
	return false
}

// waitParked waits until a goroutine is parked in fns (see parked).
func waitParked(t *testing.T, what string, fns []string, not ...string) {
	t.Helper()
	waitFor(t, what, func() bool { return parked(fns, not...) })
}

// A press stamped before the deadline that is still queued on its game
// when the timekeeper fires is decided first, by the rules alone: it is
// accepted with the time left at its stamp, and the end comes at the new
// deadline, at that deadline.
func TestPressQueuedAcrossTheDeadlineCounts(t *testing.T) {
	e := newEnv(t)
	store := &gateStore{Store: openStore(t, e.srv)}
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h := commands.NewHandler(store, clock, nil)
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	timekeeper(t, h, clock)
	game := start(t, h, commands.StartGame{Duration: time.Minute, Cooldown: 0}).Game
	ctx := context.Background()
	deadline := t0 + minute
	stamp := time.UnixMilli(deadline - 100)

	// Something else holds the game: its append is stalled.
	clock.Set(stamp)
	store.close()
	posted := make(chan error, 1)
	go func() {
		posted <- h.PostMessage(ctx, commands.PostMessage{Game: game, Channel: "20", MessageID: "555"})
	}()
	waitFor(t, "the stalled append", func() bool { return store.waiting.Load() == 1 })

	// The deadline passes; the timekeeper fires and waits for the game.
	clock.Set(time.UnixMilli(deadline))
	waitParked(t, "the expiry to wait for the game", []string{"commands.(*Handler).Expire", "commands.gameLock.lockCtx"})

	// A press received 100 ms before the deadline queues behind both.
	pressed := make(chan error, 1)
	var click commands.Click
	go func() {
		var err error
		click, err = h.Press(ctx, commands.Press{Game: game, Guild: "10", User: "41", Interaction: "late-but-in", At: stamp})
		pressed <- err
	}()
	waitParked(t, "the press to queue", []string{"commands.(*Handler).pressQueued"}, "commands.(*Handler).pressGroup")

	store.open()
	if err := <-posted; err != nil {
		t.Fatalf("post message: %v", err)
	}
	if err := <-pressed; err != nil {
		t.Fatalf("press 100 ms before the deadline, decided after it: %v, want accepted", err)
	}
	if click.ValueMS != 100 || click.AtMS != deadline-100 {
		t.Fatalf("click %+v, want 100 ms left at %d", click.ButtonClicked, deadline-100)
	}

	// The end comes at the new deadline, and is recorded at it.
	next := deadline - 100 + minute
	clock.Set(time.UnixMilli(next))
	var end events.GameEnded
	waitFor(t, "the end at the new deadline", func() bool {
		var ok bool
		end, ok = endOf(history(t, e.store, events.GameSubject(game)))
		return ok
	})
	if end.AtMS != next || end.Reason != events.EndExpired {
		t.Fatalf("end %+v, want expired at the new deadline %d", end, next)
	}
	for _, p := range commands.Audit(history(t, e.store, events.GameSubject(game))) {
		t.Error(p)
	}
}
