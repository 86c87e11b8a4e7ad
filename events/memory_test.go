package events_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/thebutton-game/thebutton/events"
)

// keptPerClick returns the games build makes and the heap bytes they keep
// per click, clicks being how many they hold in all.
func keptPerClick(clicks int, build func() []events.Game) ([]events.Game, float64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	gs := build()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return gs, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(clicks)
}

// A command handler keeps every active game's fold in memory: what a Game
// keeps per click must stay small (it was ~300 bytes when every counted
// interaction kept its whole click). 200 games of 500 clicks by 50
// players each, Discord-like interaction ids, decided figures.
func TestGameKeepsLittlePerClick(t *testing.T) {
	const games, clicks, players = 200, 500, 50
	const dur = int64(12 * 3_600_000)
	users := make([]string, players)
	for i := range users {
		users[i] = fmt.Sprint(100_000_000_000_000_000 + i)
	}
	gs, perClick := keptPerClick(games*clicks, func() []events.Game {
		gs := make([]events.Game, games)
		for g := range gs {
			st := events.GameStarted{Game: events.GameID(g + 1), Guild: "10", ButtonChannel: "20", ChatChannel: "20",
				DurationMS: dur, StartedBy: "30", AtMS: t0}
			if err := gs[g].Apply(1, st); err != nil {
				t.Fatal(err)
			}
			prev := t0
			for n := int64(1); n <= clicks; n++ {
				at := prev + 1000
				v := events.Remaining(prev+dur, at)
				u := users[int(n)%players]
				c := events.ButtonClicked{Game: st.Game, Guild: "10", Number: n, User: u, UserName: "player " + u[len(u)-2:]}
				c.Interaction = fmt.Sprint(1_300_000_000_000_000_000 + g*clicks + int(n))
				c.AtMS, c.ValueMS, c.Band = at, v, int(events.BandOf(v, dur))
				c.ClaimedMS, c.MMRMilli = events.Claimed(v, dur), events.MMRMilli(v, dur)
				if err := gs[g].Apply(uint64(n+1), c); err != nil {
					t.Fatal(err)
				}
				prev = at
			}
		}
		return gs
	})
	t.Logf("%.0f bytes per click kept", perClick)
	if perClick > 100 {
		t.Errorf("a game keeps %.0f bytes per click, want at most 100", perClick)
	}
	if c, ok := gs[7].Counted(fmt.Sprint(1_300_000_000_000_000_000 + 7*clicks + 42)); !ok || c.Number != 42 {
		t.Errorf("click 42 of game 8: %+v %v", c, ok)
	}
	runtime.KeepAlive(gs)
}

// The shape of `thebutton bench start`'s seed, where a game's every click
// is by a player new to it: 2,000 games of 100 clicks by 200 players in
// turn, each player's strings shared across games, each game reserved
// for its clicks and compacted once read (as the background read after a
// restart does). What a game keeps per player it has seen is most of what
// it keeps.
func TestGameKeepsLittlePerPlayer(t *testing.T) {
	const games, clicks, players = 2000, 100, 200
	const dur = int64(12 * 3_600_000)
	users, names := make([]string, players), make([]string, players)
	for i := range users {
		users[i] = fmt.Sprint(1000 + i)
		names[i] = fmt.Sprintf("seed player %d", 1000+i)
	}
	gs, perClick := keptPerClick(games*clicks, func() []events.Game {
		gs := make([]events.Game, games)
		for g := range gs {
			st := events.GameStarted{Game: events.GameID(g + 1), Guild: "1", ButtonChannel: "20", ChatChannel: "20",
				DurationMS: dur, CooldownMS: 100, Sequential: 2, StartedBy: "30", AtMS: t0}
			if err := gs[g].Apply(1, st); err != nil {
				t.Fatal(err)
			}
			gs[g].Reserve(clicks)
			prev := t0
			for n := int64(1); n <= clicks; n++ {
				at := prev + 1
				v := events.Remaining(prev+dur, at)
				k := (g*clicks + int(n)) % players
				c := events.ButtonClicked{Game: st.Game, Guild: "1", Number: n, User: users[k], UserName: names[k],
					Interaction: fmt.Sprint(1<<60 + g<<24 + int(n)), AtMS: at, ValueMS: v, Band: int(events.BandOf(v, dur)),
					ClaimedMS: events.Claimed(v, dur), MMRMilli: events.MMRMilli(v, dur)}
				if err := gs[g].Apply(uint64(n+1), c); err != nil {
					t.Fatal(err)
				}
				prev = at
			}
			gs[g].Compact()
		}
		return gs
	})
	t.Logf("%.0f bytes per click kept, every click by a player new to the game", perClick)
	if perClick > 100 { // 154 when players were kept by their ids' text
		t.Errorf("a game keeps %.0f bytes per click, want at most 100", perClick)
	}
	if c, ok := gs[7].Counted(fmt.Sprint(1<<60 + 7<<24 + 42)); !ok || c.Number != 42 || c.UserName != names[(7*clicks+42)%players] {
		t.Errorf("click 42 of game 8: %+v %v", c, ok)
	}
	runtime.KeepAlive(gs)
}
