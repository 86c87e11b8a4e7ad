package main

import (
	"context"
	"errors"
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

func init() {
	extraSubcommands = append(extraSubcommands, subcommand{"demo",
		"run the whole service on this machine with simulated players on a short-clock demo game", runDemo})
}

func runDemo(ctx context.Context, a *app, args []string) error {
	var s serviceFlags
	var d demoConfig
	fs := newFlagSet(a, "demo", "demo [flags]")
	s.register(fs, a.getenv)
	fs.DurationVar(&d.duration, "demo-clock", 3*time.Minute, "the demo game's clock")
	fs.DurationVar(&d.cooldown, "demo-cooldown", 20*time.Second, "the demo game's cooldown")
	fs.IntVar(&d.players, "demo-players", 12, "simulated players (at most 20)")
	fs.DurationVar(&d.pause, "demo-pause", 5*time.Second, "pause between a demo game's end and the next")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	problems := []error{s.check()}
	if d.duration < commands.MinDuration || d.cooldown < 0 || d.players < 1 || d.players > len(demoNames) || d.pause < 0 {
		problems = append(problems, fmt.Errorf("demo: clock ≥ %s, cooldown ≥ 0, 1 to %d players, pause ≥ 0", commands.MinDuration, len(demoNames)))
	}
	if err := errors.Join(problems...); err != nil {
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
		for i := range d.players {
			wg.Go(func() { demoPlayer(gameCtx, h, id, i, d, log) })
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

// demoPlayer presses the demo game now and then. Each player has a nerve:
// the share of the clock left at which they press; bold players wait for
// the rare colours. Each presses a few times per game, so the game ends.
func demoPlayer(ctx context.Context, h observedCommands, id events.GameID, i int, d demoConfig, log *slog.Logger) {
	r := rand.New(rand.NewPCG(uint64(id), uint64(i)))
	nerve := 0.03 + 0.9*r.Float64()*r.Float64() // most players are bold
	budget := 1 + r.IntN(2)
	tick := max(d.duration/40, 20*time.Millisecond)
	user := fmt.Sprint(demoUser0 + i)
	for n := 0; budget > 0 && ctx.Err() == nil; n++ {
		sleepCtx(ctx, tick/2+time.Duration(r.Int64N(int64(tick))))
		g, ok, err := h.Game(ctx, id)
		if err != nil || !ok || !g.Active() {
			continue
		}
		left := events.Remaining(g.DeadlineMS(), time.Now().UnixMilli())
		if float64(left) > nerve*float64(g.DurationMS()) {
			continue
		}
		c, err := h.Press(ctx, commands.Press{Game: id, Guild: demoGuild, User: user, UserName: demoNames[i],
			Interaction: fmt.Sprintf("demo-%d-%d-%d-%d", id, i, n, r.Int64())})
		if err == nil {
			budget--
			log.Info("demo press", "game", id, "player", demoNames[i], "band", events.Band(c.Band).String(),
				"left", time.Duration(c.ValueMS)*time.Millisecond)
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
