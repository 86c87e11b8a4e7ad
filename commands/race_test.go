package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
)

// checkHistory re-checks a game's stored history against GAME-RULES §2–5
// without the handler's code: it returns every rule it finds broken.
func checkHistory(recs []events.Recorded) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var st events.GameStarted
	var lastClick, lastTime int64
	var clicks int64
	ended := false
	lastByUser := map[string]int64{} // user → time of last click
	numByUser := map[string]int{}    // user → index into order of last click
	var order []string               // users in click order
	seen := map[string]bool{}        // interactions
	for _, r := range recs {
		if r.Err != nil {
			bad("undecodable message %d", r.Seq)
			continue
		}
		var at int64
		switch e := r.Event.(type) {
		case events.GameStarted:
			st, lastClick, at = e, e.AtMS, e.AtMS
		case events.ButtonClicked:
			at = e.AtMS
			deadline := lastClick + st.DurationMS
			switch {
			case ended:
				bad("click %d after the end", e.Number)
			case e.AtMS >= deadline:
				bad("click %d at %d, at or past the deadline %d", e.Number, e.AtMS, deadline)
			}
			if e.Number != clicks+1 {
				bad("click number %d after %d", e.Number, clicks)
			}
			if seen[e.Interaction] {
				bad("interaction %s counted twice", e.Interaction)
			}
			seen[e.Interaction] = true
			if v := deadline - e.AtMS; e.ValueMS != v || e.Band != int(events.BandOf(v, st.DurationMS)) ||
				e.ClaimedMS != st.DurationMS-v || e.MMRMilli != events.MMRMilli(v, st.DurationMS) {
				bad("click %d figures %+v, remaining was %d", e.Number, e, v)
			}
			if prev, ok := lastByUser[e.User]; ok {
				if prev+st.CooldownMS > e.AtMS {
					bad("click %d by %s inside the cooldown (last %d)", e.Number, e.User, prev)
				}
				others := map[string]bool{}
				for _, u := range order[numByUser[e.User]+1:] {
					if u != e.User {
						others[u] = true
					}
				}
				if len(others) < st.Sequential {
					bad("click %d by %s after %d distinct others, N = %d", e.Number, e.User, len(others), st.Sequential)
				}
			}
			clicks = e.Number
			lastClick = e.AtMS
			lastByUser[e.User] = e.AtMS
			numByUser[e.User] = len(order)
			order = append(order, e.User)
		case events.GameEnded:
			at = e.AtMS
			if ended {
				bad("ended twice")
			}
			ended = true
			if e.Reason == events.EndExpired && e.AtMS != lastClick+st.DurationMS {
				bad("expired at %d, deadline was %d", e.AtMS, lastClick+st.DurationMS)
			}
		case events.GameMessagePosted:
			at = e.AtMS
		}
		if at < lastTime {
			bad("time went backwards at seq %d: %d < %d", r.Seq, at, lastTime)
		}
		lastTime = max(lastTime, at)
	}
	return problems
}

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
	stop := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for i := range 200 {
		h := hs[i%2]
		user := fmt.Sprint(1000 + i)
		wg.Go(func() {
			for n := 0; time.Now().Before(stop); n++ {
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
		for _, p := range checkHistory(recs) {
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
