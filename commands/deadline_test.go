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
func parked(fns []string, not ...string) bool { return parkedCount(fns, not...) > 0 }

// parkedCount is how many goroutines are parked (in a select or a channel
// send) with every one of fns on their stack and none of not.
func parkedCount(fns []string, not ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
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
		count++
	}
	return count
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
	clock := commandstest.NewClock(time.UnixMilli(t0))
	store, h := e.gatedHandler(t, clock)
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
	clock.Set(time.UnixMilli(deadline).Add(commands.EndMargin))
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
	clock.Set(time.UnixMilli(next).Add(commands.EndMargin))
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

// twoInstances starts a game of a minute on instance a and returns it
// once both instances (b's appends pass through gate) run timekeepers
// and know it.
func twoInstances(t *testing.T) (e *env, clock *commandstest.Clock, a, b *commands.Handler, gate *gateStore, game events.GameID) {
	t.Helper()
	e = newEnv(t)
	clock = commandstest.NewClock(time.UnixMilli(t0))
	a = e.handler(t, clock)
	gate, b = e.gatedHandler(t, clock)
	for _, h := range []*commands.Handler{a, b} {
		timekeeper(t, h, clock)
	}
	game = start(t, a, commands.StartGame{Duration: time.Minute, Cooldown: 0}).Game
	waitFor(t, "both instances to know the game", func() bool {
		return len(a.ActiveGames()) == 1 && len(b.ActiveGames()) == 1
	})
	return e, clock, a, b, gate, game
}

// stalledPress presses on h at the clock's time, while gate holds its
// append; the answer comes on the returned channel.
func stalledPress(t *testing.T, h *commands.Handler, gate *gateStore, game events.GameID, inter string) <-chan pressOutcome {
	t.Helper()
	gate.close()
	out := make(chan pressOutcome, 1)
	go func() {
		c, err := h.Press(context.Background(), commands.Press{Game: game, Guild: "10", User: "41", Interaction: inter})
		out <- pressOutcome{c, err}
	}()
	waitFor(t, "the press's append to stall", func() bool { return gate.waiting.Load() == 1 })
	return out
}

type pressOutcome struct {
	click commands.Click
	err   error
}

// A press received 100 ms before the deadline on one instance, whose
// append is still on its way when the deadline passes, lands before the
// other instance's timekeeper records the end: the end waits EndMargin
// (no press stamped at or after the deadline gets in meanwhile), and is
// recorded at the new deadline.
func TestPressOnAnotherInstanceLandsBeforeTheEnd(t *testing.T) {
	e, clock, a, b, gate, game := twoInstances(t)
	deadline := t0 + minute
	clock.Set(time.UnixMilli(deadline - 100))
	pressed := stalledPress(t, b, gate, game, "elsewhere")

	clock.Set(time.UnixMilli(deadline))
	// No grace: a press stamped at the deadline is refused at once.
	_, err := a.Press(context.Background(), commands.Press{Game: game, Guild: "10", User: "42", Interaction: "at-zero"})
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonGameOver || rej.DeadlineMS != deadline || rej.BeforeEnd {
		t.Fatalf("press at the deadline: %v, want game over at %d", err, deadline)
	}
	// Either an end is recorded (a timekeeper fired at the deadline) or
	// the timekeepers wait; only then may the stalled append go on.
	waitFor(t, "the timekeepers to fire or wait", func() bool {
		_, ended := endOf(history(t, e.store, events.GameSubject(game)))
		return ended || len(clock.Pending()) == 2
	})
	gate.open()
	r := <-pressed
	if r.err != nil {
		t.Fatalf("press 100 ms before the deadline on the other instance: %v, want accepted", r.err)
	}
	if r.click.ValueMS != 100 {
		t.Fatalf("click %+v, want 100 ms left", r.click.ButtonClicked)
	}

	next := deadline - 100 + minute
	waitFor(t, "both instances to know the new deadline", func() bool {
		for _, h := range []*commands.Handler{a, b} {
			if g := h.ActiveGames(); len(g) != 1 || g[0].DeadlineMS != next {
				return false
			}
		}
		return true
	})
	clock.Set(time.UnixMilli(next).Add(commands.EndMargin))
	waitFor(t, "the end", func() bool {
		return len(a.ActiveGames()) == 0 && len(b.ActiveGames()) == 0
	})
	recs := history(t, e.store, events.GameSubject(game))
	ends := 0
	for _, rec := range recs {
		if end, ok := rec.Event.(events.GameEnded); ok {
			ends++
			if end.AtMS != next || end.Reason != events.EndExpired {
				t.Errorf("end %+v, want expired at the new deadline %d", end, next)
			}
		}
	}
	if ends != 1 {
		t.Errorf("%d end events, want 1", ends)
	}
	for _, p := range commands.Audit(recs) {
		t.Error(p)
	}
}

// A press received before the deadline whose append is stalled for longer
// than EndMargin loses to the end another instance records at the
// deadline: it is refused as game over, saying it came in before zero and
// when, and nothing of it is recorded.
func TestPressLosingToTheEndIsToldSo(t *testing.T) {
	e, clock, a, b, gate, game := twoInstances(t)
	deadline := t0 + minute
	clock.Set(time.UnixMilli(deadline - 100))
	pressed := stalledPress(t, b, gate, game, "too-slow")

	clock.Set(time.UnixMilli(deadline).Add(commands.EndMargin))
	waitFor(t, "instance a to end the game", func() bool { return len(a.ActiveGames()) == 0 })
	gate.open()
	r := <-pressed
	rej, ok := commands.AsRejection(r.err)
	if !ok || rej.Reason != commands.ReasonGameOver || !rej.BeforeEnd || rej.PressedMS != deadline-100 || rej.DeadlineMS != deadline {
		t.Fatalf("press that lost to the end: %+v, %v; want game over before the end, pressed at %d, ended at %d",
			r.click, r.err, deadline-100, deadline)
	}
	recs := history(t, e.store, events.GameSubject(game))
	for _, rec := range recs {
		if _, ok := rec.Event.(events.ButtonClicked); ok {
			t.Errorf("a click was recorded: %+v", rec.Event)
		}
	}
	if end, ok := endOf(recs); !ok || end.AtMS != deadline {
		t.Errorf("end %+v (%v), want at the deadline %d", end, ok, deadline)
	}
	for _, p := range commands.Audit(recs) {
		t.Error(p)
	}
}
