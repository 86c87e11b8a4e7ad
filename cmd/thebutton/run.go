package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/commands"
)

// shutdownGrace bounds the whole shutdown: stop intake, drain consumers,
// close sinks, drain NATS.
const shutdownGrace = 10 * time.Second

func runRun(ctx context.Context, a *app, args []string) error {
	var c config
	fs := newFlagSet(a, "run", "run [flags]")
	c.registerNATS(fs, a.getenv)
	c.registerSinks(fs, a.getenv)
	c.registerDiscord(fs, a.getenv)
	c.registerHTTP(fs, a.getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	return serve(ctx, &c, c.logger(a), nil)
}

// serve runs the service until ctx ends, then shuts down in order. extra,
// if not nil, runs beside the service (the demo's players) until ctx ends.
func serve(ctx context.Context, c *config, log *slog.Logger, extra func(context.Context, *commands.Handler, *slog.Logger)) error {
	n, err := openNATS(ctx, c, log)
	if err != nil {
		return err
	}
	defer n.close()

	clock := commands.SystemClock{}
	h := commands.NewHandler(n.store, clock, log.With("component", "commands"))
	if err := h.Open(ctx); err != nil {
		return err
	}
	defer h.Close()

	var wg sync.WaitGroup
	tk := commands.NewTimekeeper(h, clock, log.With("component", "timekeeper"))
	wg.Go(func() { _ = tk.Run(ctx) })

	if extra != nil {
		wg.Go(func() { extra(ctx, h, log) })
	}
	if c.discordToken == "" {
		log.Info("DISCORD_TOKEN is not set: running without Discord (presses come from the web, bench or demo only)")
	}
	log.Info("thebutton running", "nats", n.url, "stream", c.stream, "active_games", len(h.ActiveGames()))
	<-ctx.Done()
	log.Info("shutting down", "grace", shutdownGrace)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		return fmt.Errorf("shutdown: components still running after %s", shutdownGrace)
	}
	log.Info("stopped")
	return nil
}
