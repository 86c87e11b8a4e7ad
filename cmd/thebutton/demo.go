package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
)

// demoConfig sets up `thebutton demo`: the whole service plus simulated
// players on a demo game with a short clock.
type demoConfig struct {
	duration time.Duration
	cooldown time.Duration
	players  int
	pause    time.Duration // between the end of a demo game and the next
}

// Demo ids: fixed snowflakes that no real guild uses.
const (
	demoGuild   = "100000000000000001"
	demoChannel = "100000000000000002"
	demoAdmin   = "100000000000000003"
	demoUser0   = 200000000000000000
)

var demoNames = []string{
	"Ada", "Bram", "Cleo", "Dax", "Esme", "Finn", "Gus", "Hana", "Ivo", "Juno",
	"Kai", "Lumi", "Milo", "Nell", "Otto", "Pia", "Quin", "Rhea", "Sol", "Tove",
}

func runDemo(ctx context.Context, a *app, args []string) error {
	var s serviceFlags
	var d demoConfig
	fs := newFlagSet(a, "demo", "demo [flags]")
	s.register(fs)
	fs.DurationVar(&d.duration, "demo-clock", demoDefaultClock, "the demo game's clock")
	fs.DurationVar(&d.cooldown, "demo-cooldown", demoDefaultCooldown, "the demo game's cooldown")
	fs.IntVar(&d.players, "demo-players", demoDefaultPlayers, "simulated players (at most 20)")
	fs.DurationVar(&d.pause, "demo-pause", demoDefaultPause, "pause between a demo game's end and the next")
	if err := parseFlags(a, fs, args, s.check, func() error {
		if d.duration < commands.MinDuration || d.cooldown < 0 || d.players < 1 || d.players > len(demoNames) || d.pause < 0 {
			return fmt.Errorf("demo: clock ≥ %s, cooldown ≥ 0, 1 to %d players, pause ≥ 0", commands.MinDuration, len(demoNames))
		}
		return nil
	}); err != nil {
		return err
	}
	return serve(ctx, &s, s.c.logger(a), func(ctx context.Context, h observedCommands, log *slog.Logger) {
		runDemoGames(ctx, h, d, log.With("component", "demo"))
	})
}

// runDemoGames keeps a demo game going in the demo channel: it starts one
// (or joins the active one), lets the simulated players press until it
// runs out, pauses, and starts the next, until ctx ends.
func runDemoGames(ctx context.Context, h observedCommands, d demoConfig, log *slog.Logger) {
	for ctx.Err() == nil {
		id, err := demoGame(ctx, h, d)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("starting the demo game failed, retrying", "err", err)
				sleepCtx(ctx, 2*time.Second)
			}
			continue
		}
		log.Info("demo game running", "game", id, "clock", d.duration, "players", d.players)
		var wg sync.WaitGroup
		gameCtx, stop := context.WithCancel(ctx)
		for _, turn := range demoRoster(id, d) {
			wg.Go(func() { demoPlayer(gameCtx, h, id, turn, d, log) })
		}
		// Wait for the end (recorded by the timekeeper at the deadline).
		for gameCtx.Err() == nil {
			g, ok, err := h.Game(ctx, id)
			if err == nil && ok && !g.Active() {
				log.Info("demo game over", "game", id, "clicks", g.Clicks, "status", g.Status, "ended_at", time.UnixMilli(g.Ended.AtMS).UTC())
				break
			}
			sleepCtx(ctx, 250*time.Millisecond)
		}
		stop()
		wg.Wait()
		sleepCtx(ctx, d.pause)
	}
}

// demoGame starts a demo game, or returns the one already active in the
// demo channel (after a restart).
func demoGame(ctx context.Context, h observedCommands, d demoConfig) (events.GameID, error) {
	g, err := h.StartGame(ctx, commands.StartGame{
		Guild: demoGuild, Channel: demoChannel, By: demoAdmin, ByName: "Demo admin",
		Duration: d.duration, Cooldown: d.cooldown,
	})
	if rej, ok := commands.AsRejection(err); ok && rej.Reason == commands.ReasonChannelBusy {
		return rej.ActiveGame, nil
	}
	if err != nil {
		return 0, err
	}
	return g.Game, nil
}

// Defaults of `thebutton demo`, chosen so that a newcomer sees a whole
// game within about three minutes: the presses of one game take the clock
// through several colours down to a close Red one, then nobody is left to
// press, the clock runs out at its deadline, and the next game starts
// (TestDemoDefaultsShowAWholeGame checks it).
const (
	demoDefaultClock    = 40 * time.Second
	demoDefaultCooldown = 20 * time.Second
	demoDefaultPlayers  = 12
	demoDefaultPause    = 5 * time.Second
)

// temperament is how a simulated player plays: they press once the time
// left falls to their nerve (a share of the clock, drawn in [lo, hi) each
// game) and need a human reaction time before the press lands.
type temperament struct {
	name             string
	lo, hi           float64
	reactLo, reactHi time.Duration
	perGame          [2]int // how many players of this temperament play one game: from [0] to [1]
}

// The temperaments, most cautious first; player i has temperaments[i%4].
// Cautious players take the early colours, daredevils wait for Red.
var temperaments = []temperament{
	{"cautious", 0.70, 0.95, 300 * time.Millisecond, 900 * time.Millisecond, [2]int{2, 2}},
	{"steady", 0.40, 0.65, 200 * time.Millisecond, 700 * time.Millisecond, [2]int{1, 2}},
	{"bold", 0.18, 0.35, 150 * time.Millisecond, 400 * time.Millisecond, [2]int{1, 1}},
	{"daredevil", 0.03, 0.08, 30 * time.Millisecond, 150 * time.Millisecond, [2]int{1, 1}},
}

// demoTurn is one simulated player's plan for one game: press once when
// nerve·clock is left, react later.
type demoTurn struct {
	player int
	kind   string
	nerve  float64
	react  time.Duration
}

// demoRoster picks who plays game id and how, as people drop in: a couple
// of cautious players, one or two steady ones, a bold one and a daredevil
// (fewer when fewer players are configured). Each presses once, so after
// the last (the daredevil's close call) nobody presses and the clock runs
// out. It depends only on the game id, so a game can be replayed.
func demoRoster(id events.GameID, d demoConfig) []demoTurn {
	r := rand.New(rand.NewPCG(uint64(id), 0x5eed))
	var turns []demoTurn
	for k, t := range temperaments {
		var pool []int
		for i := k; i < d.players; i += len(temperaments) {
			pool = append(pool, i)
		}
		r.Shuffle(len(pool), func(a, b int) { pool[a], pool[b] = pool[b], pool[a] })
		n := t.perGame[0] + r.IntN(t.perGame[1]-t.perGame[0]+1)
		for _, p := range pool[:min(n, len(pool))] {
			turns = append(turns, demoTurn{player: p, kind: t.name, nerve: t.lo + (t.hi-t.lo)*r.Float64(),
				react: t.reactLo + time.Duration(r.Int64N(int64(t.reactHi-t.reactLo)))})
		}
	}
	return turns
}

// demoTick is how often a simulated player looks at the clock.
func demoTick(d demoConfig) time.Duration {
	return min(max(d.duration/200, 20*time.Millisecond), 200*time.Millisecond)
}

// demoPlayer plays one turn: it watches the clock and presses once when
// its nerve gives way, after its reaction time.
func demoPlayer(ctx context.Context, h observedCommands, id events.GameID, turn demoTurn, d demoConfig, log *slog.Logger) {
	user := fmt.Sprint(demoUser0 + turn.player)
	tick := demoTick(d)
	for n := 0; ctx.Err() == nil; n++ {
		sleepCtx(ctx, tick)
		g, ok, err := h.Game(ctx, id)
		if err != nil || !ok {
			continue
		}
		if !g.Active() {
			return
		}
		left := events.Remaining(g.DeadlineMS(), time.Now().UnixMilli())
		if left <= 0 {
			return
		}
		if float64(left) > turn.nerve*float64(g.DurationMS()) {
			continue
		}
		sleepCtx(ctx, turn.react)
		c, err := h.Press(ctx, commands.Press{Game: id, Guild: demoGuild, User: user, UserName: demoNames[turn.player],
			Interaction: fmt.Sprintf("demo-%d-%d-%d", id, turn.player, n)})
		if err == nil {
			log.Info("demo press", "game", id, "player", demoNames[turn.player], "kind", turn.kind,
				"band", events.Band(c.Band).String(), "left", time.Duration(c.ValueMS)*time.Millisecond)
			return
		}
		if rej, ok := commands.AsRejection(err); ok && rej.Reason != commands.ReasonCooldown && rej.Reason != commands.ReasonSequential {
			return // the game is over, or this player may not play it
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
