package bench

import (
	"context"
	"testing"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
)

// The benchmarks' seed is a valid stream: every game's events in order
// and every rule holding (players come back, so cooldown and the
// sequential rule are exercised), as the independent audit checks.
func TestSeedIsValid(t *testing.T) {
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	spec := seedSpec{games: 30, perGame: seedPlayers + 50, base: 7, atMS: 1_764_000_000_000}
	stored, err := seed(ctx, js, spec)
	if err != nil {
		t.Fatal(err)
	}
	if stored != spec.games*spec.perGame {
		t.Fatalf("%d events stored, want %d", stored, spec.games*spec.perGame)
	}
	for g := range spec.games {
		id := spec.base + events.GameID(g)
		recs, err := store.Load(ctx, events.GameSubject(id), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != spec.perGame {
			t.Errorf("game %d: %d events, want %d", id, len(recs), spec.perGame)
		}
		if problems := commands.Audit(recs); len(problems) > 0 {
			t.Errorf("game %d breaks the rules: %v", id, problems)
		}
		var g events.Game
		for _, r := range recs {
			if err := g.Apply(r.Seq, r.Event); err != nil {
				t.Fatalf("game %d: %v", id, err)
			}
		}
		if !g.Active() || g.Clicks != int64(spec.perGame-1) {
			t.Errorf("game %d: active %v with %d clicks", id, g.Active(), g.Clicks)
		}
	}
}
