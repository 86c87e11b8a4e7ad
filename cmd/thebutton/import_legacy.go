package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/legacy"
)

// runImportLegacy is `thebutton import-legacy`.
func runImportLegacy(ctx context.Context, a *app, args []string) error {
	var (
		c       config
		from    secret
		dry     bool
		source  string
		offset  int64
		oldGame int64
		old     legacy.OldLayout
		exs     int
	)
	fs := newFlagSet(a, "import-legacy", "import-legacy --from DSN [--dry-run] [flags]\n\n"+
		"Reads the original bot's MySQL database (read-only) and appends its games, clicks, ends, guild\n"+
		"icons and names to the stream as imported events. Running it again appends only what is new;\n"+
		"an interrupted import continues where it stopped. A game still running in the original goes on\n"+
		"here with its deadline (last click + duration). --dry-run prints the plan and every anomaly\n"+
		"and touches no stream. Point NATS_URL at the service's NATS (embedded: nats://NATS_LISTEN).")
	c.registerNATS(fs)
	fs.Func("from", "the original's database, go-sql-driver DSN, e.g. user:pass@tcp(host:3306)/thebutton (required) [LEGACY_MYSQL_DSN]",
		func(v string) error { from = secret(v); return nil })
	fs.BoolVar(&dry, "dry-run", false, "print what would be imported and every anomaly; write nothing")
	fs.StringVar(&source, "source", "", "name of the source in the events' provenance (default legacy:<database>); keep it across runs")
	fs.Int64Var(&offset, "game-offset", 0, "add this to the original's game ids (when the stream has games with those numbers)")
	fs.Int64Var(&oldGame, "old-game", 0, "older single-guild layout (clicks without game_id): the game number they get here")
	fs.IntVar(&exs, "examples", legacy.DefaultExamples, "examples printed per anomaly kind; 0 prints every anomaly")
	fs.StringVar(&old.Guild, "old-guild", "", "older layout: the guild id (from the old config.json)")
	fs.StringVar(&old.Channel, "old-channel", "", "older layout: the button channel id")
	fs.StringVar(&old.ChatChannel, "old-chat-channel", "", "older layout: the chat channel id (default: the button channel)")
	fs.DurationVar(&old.Duration, "old-duration", 12*time.Hour, "older layout: the timer duration")
	fs.DurationVar(&old.Cooldown, "old-cooldown", 3*time.Hour, "older layout: the cooldown")
	err := parseFlags(a, fs, args, c.check, func() error {
		var problems []error
		if from == "" {
			problems = append(problems, errors.New("--from: the original's database DSN is required"))
		}
		if offset < 0 || oldGame < 0 {
			problems = append(problems, errors.New("--game-offset and --old-game must not be negative"))
		}
		return errors.Join(problems...)
	})
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		fmt.Fprintln(a.stderr, err)
		fs.Usage()
		return errUsage
	}
	old.Game = events.GameID(oldGame)
	if exs <= 0 {
		exs = -1 // every one
	}
	log := c.logger(a)
	db, dbName, err := legacy.OpenSource(string(from))
	if err != nil {
		return err
	}
	defer db.Close()
	run := legacy.Run{
		Options:  legacy.Options{Source: source, GameOffset: offset, OldLayout: old, Examples: exs},
		DryRun:   dry,
		Progress: a.stderr,
		Log:      log,
	}
	if dry {
		rep, err := legacy.Import(ctx, db, nil, run)
		if rep != nil {
			fmt.Fprint(a.stdout, rep.String())
		}
		return err
	}
	c.preferRunning = true
	n, err := openNATS(ctx, &c, log)
	if err != nil {
		return err
	}
	defer n.close()
	log.Info("importing legacy database", "database", dbName, "stream", c.stream)
	rep, err := legacy.Import(ctx, db, n.store, run)
	if rep != nil {
		fmt.Fprint(a.stdout, rep.String())
	}
	if err != nil {
		return fmt.Errorf("import-legacy: %w (what was appended stays; run it again to continue)", err)
	}
	return nil
}
