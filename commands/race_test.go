package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// Two handler instances, 100 goroutines each, press the same games; one
// game expires mid-race under both instances' timekeepers. Afterwards the
// stream breaks no rule, and what the handlers answered is what the
// stream holds.
func TestRaceManyInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("race test takes a few seconds")
	}
	e := newEnv(t)
	hs := []*commands.Handler{e.handler(t, nil), e.handler(t, nil)}
	for _, h := range hs {
		timekeeper(t, h, commands.SystemClock{})
	}
	games := []commands.StartGame{
		{Channel: "201", Duration: time.Hour, Cooldown: 30 * time.Millisecond, Sequential: 2},
		{Channel: "202", Duration: time.Hour, Cooldown: 0, Sequential: 0},
		{Channel: "203", Duration: time.Hour, Cooldown: 10 * time.Millisecond, Sequential: 100},
		// Everyone can click once (long cooldown), then it runs out while
		// presses keep arriving.
		{Channel: "204", Duration: time.Second, Cooldown: time.Hour, Sequential: 1},
	}
	var ids []events.GameID
	for _, g := range games {
		ids = append(ids, start(t, hs[0], g).Game)
	}

	ctx := context.Background()
	var mu sync.Mutex
	accepted := map[string]events.GameID{}
	refusals := map[commands.Reason]int{}
	// Presses go on for 3 s and, on a slow machine, until game 4 has been
	// over for 300 ms, so that its end is raced too (at most 15 s).
	began := time.Now()
	var over4 atomic.Int64 // unix ms when game 4 was seen over
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		if testwait.Until(15*time.Second, func() bool {
			g, ok, err := hs[0].Game(watchCtx, ids[3])
			return watchCtx.Err() != nil || (err == nil && ok && !g.Active())
		}) && watchCtx.Err() == nil {
			over4.Store(time.Now().UnixMilli())
		}
	}()
	going := func() bool {
		now := time.Now()
		if now.Sub(began) > 15*time.Second {
			return false
		}
		at := over4.Load()
		return now.Sub(began) < 3*time.Second || at == 0 || now.UnixMilli() < at+300
	}
	var wg sync.WaitGroup
	for i := range 200 {
		h := hs[i%2]
		user := fmt.Sprint(1000 + i)
		wg.Go(func() {
			for n := 0; going(); n++ {
				game := ids[n%len(ids)]
				inter := fmt.Sprintf("%s-%d", user, n)
				c, err := h.Press(ctx, commands.Press{Game: game, Guild: "10", User: user, Interaction: inter})
				mu.Lock()
				switch rej, ok := commands.AsRejection(err); {
				case err == nil && !c.Duplicate:
					accepted[inter] = game
				case ok:
					refusals[rej.Reason]++
				case errors.Is(err, commands.ErrContention):
					refusals["contention"]++
				default:
					t.Errorf("press: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	waitFor(t, "game 4 to end", func() bool {
		_, ok := endOf(history(t, e.store, events.GameSubject(ids[3])))
		return ok
	})

	stored := map[string]events.GameID{}
	for _, id := range ids {
		recs := history(t, e.store, events.GameSubject(id))
		for _, p := range commands.Audit(recs) {
			t.Errorf("game %d: %s", id, p)
		}
		for _, r := range recs {
			if c, ok := r.Event.(events.ButtonClicked); ok {
				stored[c.Interaction] = id
			}
		}
	}
	if len(stored) != len(accepted) {
		t.Errorf("%d clicks stored, %d presses answered as accepted", len(stored), len(accepted))
	}
	for inter, id := range accepted {
		if stored[inter] != id {
			t.Errorf("accepted press %s is not in game %d's history", inter, id)
		}
	}
	if refusals[commands.ReasonCooldown] == 0 || refusals[commands.ReasonSequential] == 0 || refusals[commands.ReasonGameOver] == 0 {
		t.Errorf("the race did not exercise every rule: %v", refusals)
	}
	var conflicts uint64
	for _, h := range hs {
		conflicts += h.Stats().Conflicts
	}
	t.Logf("accepted %d, refused %v, conflicts %d", len(accepted), refusals, conflicts)
	if conflicts == 0 {
		t.Error("no conflicts: the two instances never raced")
	}
}
