package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/imaging"
)

// runRender implements "thebutton render": it writes one of every timer
// card (each band, each urgency level, game over), the end picture and
// every chart (player, game and timeline for a 10,000-click game, plus the
// charts of a game without clicks) into --out, from deterministic synthetic
// data, and prints each path written to stdout.
func runRender(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "out/render", "directory to write the pictures into (created if missing)")
	seed := fs.Int64("seed", 1, "seed of the synthetic game")
	clicks := fs.Int("clicks", 10000, "number of clicks in the synthetic game")
	width := fs.Int("width", imaging.DefaultCardWidth, "timer card width in pixels")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: thebutton render [--out DIR] [--seed N] [--clicks N] [--width PX]\n\n")
		fmt.Fprintf(fs.Output(), "Writes every timer card, the end picture and every chart, drawn from\nsynthetic data, so they can be looked at.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("render: %w", err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("render: unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return errors.New("render: --out must not be empty")
	}
	if *clicks < 0 {
		return fmt.Errorf("render: --clicks %d: must not be negative", *clicks)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("render: create output directory: %w", err)
	}

	write := func(name string, img imaging.Image, err error) error {
		if err != nil {
			return fmt.Errorf("render %s: %w", name, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("render: %w", err)
		}
		path := filepath.Join(*out, name)
		if err := os.WriteFile(path, img.Data, 0o644); err != nil {
			return fmt.Errorf("render: write %s: %w", path, err)
		}
		_, err = fmt.Fprintln(stdout, path)
		return err
	}

	// Timer cards: every band at every urgency level. Calm cards show a
	// time inside that band of a 12-hour clock; the urgent levels happen in
	// Red in a 12-hour game, but in any band of a short game.
	levels := []struct {
		u    imaging.Urgency
		left time.Duration
	}{
		{imaging.UrgencyAlert, 29*time.Minute + 58*time.Second},
		{imaging.UrgencyEmergency, 4*time.Minute + 33*time.Second},
		{imaging.UrgencyCritical, 57 * time.Second},
		{imaging.UrgencyApocalypse, 7 * time.Second},
	}
	for _, b := range imaging.Bands() {
		band := fmt.Sprintf("timer-%d-%s", int(b), strings.ToLower(b.String()))
		calm := time.Duration(int(b)*2+1)*time.Hour + 23*time.Minute + 45*time.Second
		img, err := imaging.RenderTimer(imaging.TimerCard{Band: b, Remaining: calm, Width: *width})
		if err := write(fmt.Sprintf("%s-0-%s%s", band, imaging.UrgencyNormal, ext(img)), img, err); err != nil {
			return err
		}
		for _, l := range levels {
			img, err := imaging.RenderTimer(imaging.TimerCard{Band: b, Remaining: l.left, Width: *width})
			if err := write(fmt.Sprintf("%s-%d-%s%s", band, int(l.u), l.u, ext(img)), img, err); err != nil {
				return err
			}
		}
	}
	img, err := imaging.RenderTimer(imaging.TimerCard{Band: imaging.Green, Remaining: 999*time.Hour + 59*time.Minute + 59*time.Second, Width: *width})
	if err := write("timer-longest.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderTimer(imaging.TimerCard{Band: imaging.Red, Remaining: 0, Width: *width})
	if err := write("timer-game-over.png", img, err); err != nil {
		return err
	}

	// What the bot attaches to a live game message: the deadline card
	// (calm and urgent) until the last minutes, then the countdown GIF.
	deadline := time.Date(2026, 12, 7, 17, 32, 5, 0, time.UTC)
	img, err = imaging.RenderTimer(imaging.TimerCard{Band: imaging.Blue, Remaining: 9 * time.Hour, Deadline: deadline, Width: *width})
	if err := write("timer-deadline.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderTimer(imaging.TimerCard{Band: imaging.Red, Remaining: 20 * time.Minute, Deadline: deadline, Width: *width})
	if err := write("timer-deadline-urgent.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderCountdown(imaging.Countdown{Duration: 12 * time.Hour, Remaining: imaging.CountdownWindow, Width: *width})
	if err := write("timer-countdown.gif", img, err); err != nil {
		return err
	}

	// Charts of a played game, and of a game without clicks.
	g := imaging.SyntheticGame(*seed, *clicks, true)
	player := imaging.SyntheticPlayer(g, "p000")
	img, err = imaging.RenderPlayerChart(player)
	if err := write("chart-player.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderGameChart(g)
	if err := write("chart-game.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderTimeline(g)
	if err := write("chart-timeline.png", img, err); err != nil {
		return err
	}
	empty := imaging.GameStats{Game: 43, Status: "active", Duration: 12 * time.Hour}
	img, err = imaging.RenderGameChart(empty)
	if err := write("chart-game-empty.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderTimeline(empty)
	if err := write("chart-timeline-empty.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderPlayerChart(imaging.PlayerStats{Name: "Newcomer", Game: 43})
	if err := write("chart-player-empty.png", img, err); err != nil {
		return err
	}

	// The end picture of that game, and of an aborted game without figures.
	var perBand [imaging.NumBands]int
	players := map[string]bool{}
	for _, c := range g.Clicks {
		perBand[c.Band]++
		players[c.PlayerID] = true
	}
	img, err = imaging.RenderEndPicture(imaging.EndPicture{
		Game: g.Game, Clicks: len(g.Clicks), Players: len(players),
		Lifetime: g.End.Sub(g.Start), Ended: g.End, PerBand: perBand,
	})
	if err := write("end.png", img, err); err != nil {
		return err
	}
	img, err = imaging.RenderEndPicture(imaging.EndPicture{Game: 43, Aborted: true, Left: time.Minute + 46*time.Second,
		By: "an admin", Why: "moving the game to another channel"})
	return write("end-aborted.png", img, err)
}

func ext(img imaging.Image) string {
	if img.ContentType == imaging.ContentTypeGIF {
		return ".gif"
	}
	return ".png"
}
