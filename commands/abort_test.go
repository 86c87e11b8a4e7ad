package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
)

// A press received before an admin's abort that is still queued on its
// game when the abort gets the game is decided first, by its stamp alone
// (GAME-RULES §2): it counts, with the time left at its stamp. A press
// stamped at the abort's time, queued with it, is refused as stopped by an
// admin. The abort is recorded as asked: at its time, by its admin, with
// its reason, and says what the clock showed after the press.
func TestPressQueuedBeforeAnAbortCounts(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	store, h := e.gatedHandler(t, clock)
	game := start(t, h, commands.StartGame{Duration: time.Minute, Cooldown: 0}).Game
	ctx := context.Background()
	abortAt := t0 + minute/2
	stamp := abortAt - 100

	// Something else holds the game: its append is stalled.
	clock.Set(time.UnixMilli(stamp))
	store.close()
	posted := make(chan error, 1)
	go func() {
		posted <- h.PostMessage(ctx, commands.PostMessage{Game: game, Channel: "20", MessageID: "555"})
	}()
	waitFor(t, "the stalled append", func() bool { return store.waiting.Load() == 1 })

	// The admin's abort, received 100 ms after the press, reaches the game
	// first and waits for it.
	clock.Set(time.UnixMilli(abortAt))
	aborted := make(chan error, 1)
	var end commands.Aborted
	go func() {
		var err error
		end, err = h.Abort(ctx, commands.Abort{Game: game, Guild: "10", By: "30", Reason: "enough",
			At: time.UnixMilli(abortAt)})
		aborted <- err
	}()
	waitParked(t, "the abort to wait for the game", []string{"commands.(*Handler).Abort", "commands.gameLock.lockCtx"})

	// The press received before the abort queues behind both, and so does
	// one received at the abort's time.
	type outcome struct {
		click commands.Click
		err   error
	}
	press := func(user, inter string, at int64) <-chan outcome {
		out := make(chan outcome, 1)
		go func() {
			c, err := h.Press(ctx, commands.Press{Game: game, Guild: "10", User: user, Interaction: inter, At: time.UnixMilli(at)})
			out <- outcome{c, err}
		}()
		return out
	}
	queued := []string{"commands.(*Handler).pressQueued"}
	before := press("41", "before-abort", stamp)
	waitFor(t, "the press before the abort to queue", func() bool { return parkedCount(queued, "commands.(*Handler).pressGroup") == 1 })
	at := press("42", "at-abort", abortAt)
	waitFor(t, "the press at the abort to queue", func() bool { return parkedCount(queued, "commands.(*Handler).pressGroup") == 2 })

	store.open()
	if err := <-posted; err != nil {
		t.Fatalf("post message: %v", err)
	}
	if err := <-aborted; err != nil {
		t.Fatalf("abort: %v", err)
	}
	r := <-before
	if r.err != nil {
		t.Fatalf("press 100 ms before the abort, decided after the abort reached the game: %v, want accepted", r.err)
	}
	if r.click.AtMS != stamp || r.click.ValueMS != minute-(stamp-t0) {
		t.Fatalf("click %+v, want %d ms left at %d", r.click.ButtonClicked, minute-(stamp-t0), stamp)
	}
	r = <-at
	if rej, ok := commands.AsRejection(r.err); !ok || rej.Reason != commands.ReasonGameOver || !rej.Aborted || rej.DeadlineMS != abortAt || rej.BeforeEnd {
		t.Fatalf("press at the abort's time: %+v, %v; want refused, stopped by an admin at %d", r.click, r.err, abortAt)
	}
	if end.Reason != events.EndAborted || end.AtMS != abortAt || end.By != "30" || end.Why != "enough" || end.LeftMS != stamp+minute-abortAt {
		t.Fatalf("abort %+v, want aborted at %d by 30 for enough, %d ms left", end, abortAt, stamp+minute-abortAt)
	}

	recs := history(t, e.store, events.GameSubject(game))
	var clicks []events.ButtonClicked
	for _, rec := range recs {
		if c, ok := rec.Event.(events.ButtonClicked); ok {
			clicks = append(clicks, c)
		}
	}
	if len(clicks) != 1 || clicks[0].Interaction != "before-abort" {
		t.Errorf("clicks recorded: %+v, want the press before the abort alone", clicks)
	}
	if got, ok := endOf(recs); !ok || got != end.GameEnded {
		t.Errorf("end recorded %+v (%v), want %+v", got, ok, end.GameEnded)
	}
	for _, p := range commands.Audit(recs) {
		t.Error(p)
	}
}

// A press received before an abort on another instance, whose append is
// still on its way when the abort is recorded, loses to the abort (an
// abort waits for no margin: it is an admin's act, not a deadline): it is
// refused as stopped by an admin, at the abort's time, saying it came in
// before the abort and when, and nothing of it is recorded.
func TestPressLosingToAnAbortIsToldSo(t *testing.T) {
	e, clock, a, b, gate, game := twoInstances(t)
	abortAt := t0 + minute/2
	clock.Set(time.UnixMilli(abortAt - 100))
	pressed := stalledPress(t, b, gate, game, "elsewhere")

	clock.Set(time.UnixMilli(abortAt))
	if _, err := a.Abort(context.Background(), commands.Abort{Game: game, Guild: "10", By: "30", Reason: "enough"}); err != nil {
		t.Fatalf("abort: %v", err)
	}
	gate.open()
	r := <-pressed
	rej, ok := commands.AsRejection(r.err)
	if !ok || rej.Reason != commands.ReasonGameOver || !rej.Aborted || rej.DeadlineMS != abortAt || !rej.BeforeEnd || rej.PressedMS != abortAt-100 {
		t.Fatalf("press that lost to the abort: %+v, %v; want refused, stopped by an admin at %d, pressed before it at %d",
			r.click, r.err, abortAt, abortAt-100)
	}
	recs := history(t, e.store, events.GameSubject(game))
	for _, rec := range recs {
		if _, ok := rec.Event.(events.ButtonClicked); ok {
			t.Errorf("a click was recorded: %+v", rec.Event)
		}
	}
	if end, ok := endOf(recs); !ok || end.Reason != events.EndAborted || end.AtMS != abortAt {
		t.Errorf("end %+v (%v), want aborted at %d", end, ok, abortAt)
	}
}
