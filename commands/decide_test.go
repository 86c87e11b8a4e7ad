package commands_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
)

const (
	t0     = int64(1_764_000_000_000)
	minute = int64(60_000)
	hour   = 60 * minute
)

// game folds a started game (12 h clock, 3 h cooldown, N = seq) and the
// given clicks, each as (user, at).
func game(t *testing.T, seq int, clicks ...any) *events.Game {
	t.Helper()
	g := &events.Game{}
	if err := g.Apply(1, events.GameStarted{Game: 1, Guild: "10", ButtonChannel: "20", ChatChannel: "20",
		DurationMS: 12 * hour, CooldownMS: 3 * hour, Sequential: seq, StartedBy: "30", AtMS: t0}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(clicks); i += 2 {
		user, at := clicks[i].(string), clicks[i+1].(int64)
		c, rej := commands.DecidePress(g, false, press(user), g.Now(at))
		if rej != nil {
			t.Fatalf("setup click %d by %s refused: %v", i/2+1, user, rej)
		}
		if err := g.Apply(uint64(i+2), c); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func press(user string) commands.Press {
	return commands.Press{Game: 1, Guild: "10", User: user, UserName: "n" + user, Interaction: "i-" + user}
}

func TestDecidePressRules(t *testing.T) {
	tests := []struct {
		name   string
		g      func(t *testing.T) *events.Game
		press  commands.Press
		banned bool
		at     int64
		want   commands.Reason // "" = accepted
		check  func(t *testing.T, c events.ButtonClicked, r *commands.Rejection)
	}{
		{name: "no such game", g: func(*testing.T) *events.Game { return &events.Game{} },
			press: press("1"), at: t0, want: commands.ReasonNoSuchGame},
		{name: "press from another guild", g: func(t *testing.T) *events.Game { return game(t, 0) },
			press: commands.Press{Game: 1, Guild: "11", User: "1", Interaction: "x"}, at: t0, want: commands.ReasonWrongGuild},
		{name: "wrong guild is checked before game over", g: func(t *testing.T) *events.Game { return game(t, 0) },
			press: commands.Press{Game: 1, Guild: "11", User: "1", Interaction: "x"}, at: t0 + 13*hour, want: commands.ReasonWrongGuild},
		{name: "1 ms before the deadline is accepted with 1 ms left", g: func(t *testing.T) *events.Game { return game(t, 0) },
			press: press("1"), at: t0 + 12*hour - 1,
			check: func(t *testing.T, c events.ButtonClicked, _ *commands.Rejection) {
				if c.ValueMS != 1 || c.Band != int(events.Red) || c.ClaimedMS != 12*hour-1 {
					t.Errorf("click %+v", c)
				}
			}},
		{name: "at the deadline is game over", g: func(t *testing.T) *events.Game { return game(t, 0) },
			press: press("1"), at: t0 + 12*hour, want: commands.ReasonGameOver,
			check: func(t *testing.T, _ events.ButtonClicked, r *commands.Rejection) {
				if r.DeadlineMS != t0+12*hour {
					t.Errorf("deadline %d", r.DeadlineMS)
				}
			}},
		{name: "past the deadline is game over, not yet ended", g: func(t *testing.T) *events.Game { return game(t, 0) },
			press: press("1"), at: t0 + 12*hour + 1, want: commands.ReasonGameOver},
		{name: "ended game is game over", g: func(t *testing.T) *events.Game {
			g := game(t, 0)
			_ = g.Apply(99, events.GameEnded{Game: 1, Reason: events.EndAborted, AtMS: t0 + 5, By: "30"})
			return g
		}, press: press("1"), at: t0 + 10, want: commands.ReasonGameOver},
		{name: "game over is checked before the ban", g: func(t *testing.T) *events.Game { return game(t, 0) },
			press: press("1"), banned: true, at: t0 + 12*hour, want: commands.ReasonGameOver},
		{name: "banned player", g: func(t *testing.T) *events.Game { return game(t, 0) },
			press: press("1"), banned: true, at: t0, want: commands.ReasonBanned},
		{name: "ban is checked before the cooldown", g: func(t *testing.T) *events.Game { return game(t, 0, "1", t0) },
			press: press("1"), banned: true, at: t0 + 1, want: commands.ReasonBanned},
		{name: "inside the cooldown, with the exact time left", g: func(t *testing.T) *events.Game { return game(t, 0, "1", t0+minute) },
			press: press("1"), at: t0 + minute + 3*hour - 250, want: commands.ReasonCooldown,
			check: func(t *testing.T, _ events.ButtonClicked, r *commands.Rejection) {
				if r.WaitMS != 250 || r.ReadyAtMS != t0+minute+3*hour {
					t.Errorf("wait %d ready %d", r.WaitMS, r.ReadyAtMS)
				}
			}},
		{name: "cooldown with exactly 0 left is accepted", g: func(t *testing.T) *events.Game { return game(t, 0, "1", t0+minute) },
			press: press("1"), at: t0 + minute + 3*hour},
		{name: "cooldown is checked before the sequential rule", g: func(t *testing.T) *events.Game { return game(t, 1, "1", t0) },
			press: press("1"), at: t0 + hour, want: commands.ReasonCooldown},
		{name: "sequential: 2 needed, none yet", g: func(t *testing.T) *events.Game { return game(t, 2, "1", t0) },
			press: press("1"), at: t0 + 3*hour, want: commands.ReasonSequential,
			check: func(t *testing.T, _ events.ButtonClicked, r *commands.Rejection) {
				if r.PlayersNeeded != 2 || r.Required != 2 {
					t.Errorf("needed %d of %d", r.PlayersNeeded, r.Required)
				}
			}},
		{name: "sequential: one of two others so far", g: func(t *testing.T) *events.Game {
			return game(t, 2, "1", t0, "2", t0+minute)
		}, press: press("1"), at: t0 + 3*hour, want: commands.ReasonSequential,
			check: func(t *testing.T, _ events.ButtonClicked, r *commands.Rejection) {
				if r.PlayersNeeded != 1 {
					t.Errorf("needed %d, want 1", r.PlayersNeeded)
				}
			}},
		{name: "sequential: N distinct others is enough", g: func(t *testing.T) *events.Game {
			return game(t, 2, "1", t0, "2", t0+minute, "3", t0+2*minute)
		}, press: press("1"), at: t0 + 3*hour},
		{name: "sequential: a first click is never blocked", g: func(t *testing.T) *events.Game { return game(t, 5) },
			press: press("1"), at: t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g(t)
			c, rej := commands.DecidePress(g, tt.banned, tt.press, g.Now(tt.at))
			switch {
			case tt.want == "" && rej != nil:
				t.Fatalf("refused: %v", rej)
			case tt.want != "" && rej == nil:
				t.Fatalf("accepted %+v, want %s", c, tt.want)
			case rej != nil && rej.Reason != tt.want:
				t.Fatalf("refused with %s, want %s", rej.Reason, tt.want)
			}
			if tt.check != nil {
				tt.check(t, c, rej)
			}
		})
	}
}

// Own clicks never count as others; checked with no cooldown so a player
// can click twice in a row.
func TestSequentialIgnoresOwnClicks(t *testing.T) {
	g := &events.Game{}
	_ = g.Apply(1, events.GameStarted{Game: 1, Guild: "10", ButtonChannel: "20", ChatChannel: "20",
		DurationMS: hour, CooldownMS: 0, Sequential: 1, StartedBy: "30", AtMS: t0})
	c, rej := commands.DecidePress(g, false, press("1"), t0+1)
	if rej != nil {
		t.Fatal(rej)
	}
	_ = g.Apply(2, c)
	if _, rej := commands.DecidePress(g, false, press("1"), t0+2); rej == nil || rej.Reason != commands.ReasonSequential {
		t.Fatalf("second click by the same player: %v", rej)
	}
	c, rej = commands.DecidePress(g, false, press("2"), t0+3)
	if rej != nil {
		t.Fatal(rej)
	}
	_ = g.Apply(3, c)
	if _, rej := commands.DecidePress(g, false, press("1"), t0+4); rej != nil {
		t.Fatalf("after one other player: %v", rej)
	}
}

// The click's figures are computed once, at acceptance, from one time.
func TestAcceptedClickFigures(t *testing.T) {
	for _, tc := range []struct {
		sinceLast int64
		band      events.Band
	}{
		{0, events.Purple}, {2 * hour, events.Purple}, {2*hour + 1, events.Blue}, {6 * hour, events.Green},
		{10 * hour, events.Orange}, {10*hour + 1, events.Red}, {12*hour - 1, events.Red},
	} {
		t.Run(fmt.Sprint(tc.sinceLast), func(t *testing.T) {
			g := game(t, 0)
			c, rej := commands.DecidePress(g, false, press("1"), t0+tc.sinceLast)
			if rej != nil {
				t.Fatal(rej)
			}
			value := 12*hour - tc.sinceLast
			if c.ValueMS != value || events.Band(c.Band) != tc.band || c.ClaimedMS != tc.sinceLast ||
				c.MMRMilli != events.MMRMilli(value, 12*hour) || c.Number != 1 || c.AtMS != t0+tc.sinceLast {
				t.Errorf("click %+v, want value %d band %v", c, value, tc.band)
			}
		})
	}
}

func TestDecideExpire(t *testing.T) {
	g := game(t, 0, "1", t0+hour)
	if _, ok := commands.DecideExpire(g, t0+13*hour-1); ok {
		t.Error("expired 1 ms before the deadline")
	}
	end, ok := commands.DecideExpire(g, t0+20*hour)
	if !ok || end.AtMS != t0+13*hour || end.Reason != events.EndExpired {
		t.Errorf("expire long after: %+v %v, want the deadline %d", end, ok, t0+13*hour)
	}
}

// endedGame is a game (see game) ended at atMS for reason.
func endedGame(t *testing.T, reason events.EndReason, atMS int64) *events.Game {
	t.Helper()
	g := game(t, 0)
	if err := g.Apply(99, events.GameEnded{Game: 1, Reason: reason, AtMS: atMS, By: "30"}); err != nil {
		t.Fatal(err)
	}
	return g
}

// A game-over refusal says whether an admin stopped the game (the press
// answer tells the player so, without reading the game again).
func TestGameOverSaysWhetherAborted(t *testing.T) {
	ended := func(reason events.EndReason) *events.Game { return endedGame(t, reason, t0+5) }
	tests := []struct {
		name    string
		g       *events.Game
		at      int64
		aborted bool
		end     int64
	}{
		{"aborted", ended(events.EndAborted), t0 + 10, true, t0 + 5},
		{"ended", ended(events.EndExpired), t0 + 10, false, t0 + 5},
		{"past the deadline, end not recorded", game(t, 0), t0 + 12*hour, false, t0 + 12*hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rej := commands.DecidePress(tt.g, false, press("1"), tt.g.Now(tt.at))
			if rej == nil || rej.Reason != commands.ReasonGameOver || rej.Aborted != tt.aborted || rej.DeadlineMS != tt.end {
				t.Errorf("press: %+v, want game over at %d, aborted %v", rej, tt.end, tt.aborted)
			}
			_, rej = commands.DecideAbort(tt.g, commands.Abort{Game: 1, Guild: "10", By: "30"}, tt.g.Now(tt.at))
			if rej == nil || rej.Reason != commands.ReasonGameOver || rej.Aborted != tt.aborted {
				t.Errorf("abort: %+v, want game over, aborted %v", rej, tt.aborted)
			}
		})
	}
}

// A press received before the recorded end of a game, expired or aborted
// (its append lost to the end), is refused as game over, saying so and
// when it came in; one received at or after the end is not.
func TestGameOverSaysThePressCameBeforeTheEnd(t *testing.T) {
	end := t0 + 12*hour
	ended := func(reason events.EndReason) *events.Game { return endedGame(t, reason, end) }
	tests := []struct {
		name   string
		g      *events.Game
		at     int64
		before bool
	}{
		{"expired, pressed 100 ms before the end", ended(events.EndExpired), end - 100, true},
		{"expired, pressed at the end", ended(events.EndExpired), end, false},
		{"expired, pressed after the end", ended(events.EndExpired), end + 100, false},
		{"aborted, pressed 100 ms before the abort", ended(events.EndAborted), end - 100, true},
		{"aborted, pressed at the abort", ended(events.EndAborted), end, false},
		{"aborted, pressed after the abort", ended(events.EndAborted), end + 100, false},
		{"past the deadline, end not recorded", game(t, 0), end + 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := press("1")
			p.At = time.UnixMilli(tt.at)
			_, rej := commands.DecidePress(tt.g, false, p, tt.g.Now(tt.at))
			if rej == nil || rej.Reason != commands.ReasonGameOver || rej.DeadlineMS != end || rej.BeforeEnd != tt.before {
				t.Fatalf("press: %+v, want game over at %d, before the end %v", rej, end, tt.before)
			}
			if tt.before && rej.PressedMS != tt.at {
				t.Errorf("pressed at %d, want %d", rej.PressedMS, tt.at)
			}
		})
	}
}
