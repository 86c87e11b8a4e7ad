package commands_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// gatedStore holds appends to one subject until released, and can hold
// what its watch delivers, in order, until released.
type gatedStore struct {
	*natsstore.Store
	subject  string
	appendAt chan struct{} // closed: appends to subject go through
	held     atomic.Bool   // an append to subject is waiting

	wmu      sync.Mutex
	holdWait bool
	buffered []events.Recorded
	deliver  func(events.Recorded)
}

func (s *gatedStore) Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (uint64, bool, error) {
	if subject == s.subject && s.appendAt != nil {
		s.held.Store(true)
		<-s.appendAt
	}
	return s.Store.Append(ctx, subject, e, expect, msgID)
}

func (s *gatedStore) Watch(ctx context.Context, filter string, fn func(events.Recorded)) (func(), error) {
	s.wmu.Lock()
	s.deliver = fn
	s.wmu.Unlock()
	return s.Store.Watch(ctx, filter, func(r events.Recorded) {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.holdWait {
			s.buffered = append(s.buffered, r)
			return
		}
		fn(r)
	})
}

// holdWatch holds what the watch delivers until releaseWatch.
func (s *gatedStore) holdWatch() {
	s.wmu.Lock()
	s.holdWait = true
	s.wmu.Unlock()
}

func (s *gatedStore) releaseWatch() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, r := range s.buffered {
		s.deliver(r)
	}
	s.buffered, s.holdWait = nil, false
}

// One game held by a slow append (an fsync, a leader election) does not
// hold up the watch: another instance's clicks on other games reach this
// handler's state (and its listeners, the timekeeper) meanwhile, and the
// held game gets what arrived for it once it is free.
func TestWatchNotHeldUpByABusyGame(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.handler(t, nil)
	g1 := start(t, other, commands.StartGame{Channel: "21", Duration: time.Hour})
	g2 := start(t, other, commands.StartGame{Channel: "22", Duration: time.Hour})

	gs := &gatedStore{Store: openStore(t, e.srv), subject: events.GameSubject(g1.Game), appendAt: make(chan struct{})}
	h := commands.NewHandler(gs, nil, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var clicked2 atomic.Int64 // game 2's deadline as this handler's listeners saw it
	h.OnChange(func(c commands.GameChange) {
		if c.Game == g2.Game {
			clicked2.Store(c.DeadlineMS)
		}
	})
	// Both games loaded (fresh) in h before the race.
	for _, id := range []events.GameID{g1.Game, g2.Game} {
		if _, ok, err := h.Game(ctx, id); err != nil || !ok {
			t.Fatalf("game %d: %v %v", id, ok, err)
		}
	}

	pressed := make(chan error, 1)
	go func() {
		_, err := h.Press(ctx, commands.Press{Game: g1.Game, Guild: "10", User: "41", Interaction: "held-1"})
		pressed <- err
	}()
	waitFor(t, "the press on game 1 to be held in its append", gs.held.Load)

	// The other instance clicks game 1 (its place is taken: the held press
	// will conflict) and then game 2.
	if _, err := other.Press(ctx, commands.Press{Game: g1.Game, Guild: "10", User: "42", Interaction: "other-1"}); err != nil {
		t.Fatal(err)
	}
	c2, err := other.Press(ctx, commands.Press{Game: g2.Game, Guild: "10", User: "42", Interaction: "other-2"})
	if err != nil {
		t.Fatal(err)
	}
	want := c2.AtMS + time.Hour.Milliseconds()
	waitFor(t, "game 2's click to reach the handler while game 1 is held", func() bool { return clicked2.Load() == want })

	close(gs.appendAt)
	if err := <-pressed; err != nil {
		t.Fatalf("held press: %v", err)
	}
	g, _, err := h.Game(ctx, g1.Game)
	if err != nil {
		t.Fatal(err)
	}
	if g.Clicks != 2 {
		t.Errorf("game 1 has %d clicks in the handler, want 2 (the other instance's and the held press)", g.Clicks)
	}
	if n := len(history(t, e.store, events.GameSubject(g1.Game))); n != 3 {
		t.Errorf("game 1 holds %d events, want 3", n)
	}
}

// A refusal that state missing recent events could turn (the sequential
// rule here) is not given on a stale state: the handler checks the
// leader first, and the press is accepted.
func TestSequentialRefusalNotFromStaleState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.handler(t, nil)
	g := start(t, other, commands.StartGame{Channel: "23", Duration: time.Hour, Sequential: 1})

	gs := &gatedStore{Store: openStore(t, e.srv)}
	h := commands.NewHandler(gs, nil, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Press(ctx, commands.Press{Game: g.Game, Guild: "10", User: "41", Interaction: "a-1"}); err != nil {
		t.Fatal(err)
	}
	// The handler's watch falls behind: it does not see the other
	// instance's click by another player.
	gs.holdWatch()
	defer gs.releaseWatch()
	if _, err := other.Press(ctx, commands.Press{Game: g.Game, Guild: "10", User: "42", Interaction: "b-1"}); err != nil {
		t.Fatal(err)
	}
	c, err := h.Press(ctx, commands.Press{Game: g.Game, Guild: "10", User: "41", Interaction: "a-2"})
	if err != nil {
		t.Fatalf("press after another player's click, on a handler whose watch lags: %v; want accepted", err)
	}
	if c.Number != 3 {
		t.Errorf("accepted as click %d, want 3", c.Number)
	}
}
