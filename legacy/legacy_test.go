package legacy_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/legacy"
	"github.com/thebutton-game/thebutton/legacy/legacytest"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// fixture is a source database filled with legacytest.Standard and an
// empty stream.
type fixture struct {
	now   time.Time
	dsn   string
	src   *sql.DB
	js    jetstream.JetStream
	store *natsstore.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{now: time.Now().UTC().Truncate(time.Second), dsn: mysqltest.DSN(t)}
	src, _, err := legacy.OpenSource(f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	f.src = src
	if err := legacytest.Fill(ctx, src, legacytest.Standard(), f.now); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Server(t, "")
	_, f.js = natstest.Connect(t, srv)
	if f.store, err = natsstore.Open(ctx, f.js, natsstore.Config{}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) run() legacy.Run {
	return legacy.Run{
		Options: legacy.Options{OldLayout: legacy.OldLayout{Game: legacytest.OldGame,
			Guild: legacytest.OldGuild, Channel: legacytest.OldChannel}},
		Now: func() time.Time { return f.now },
	}
}

func (f *fixture) lastSeq(t *testing.T) uint64 {
	t.Helper()
	last, err := f.store.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// ourGame maps a fixture game to its number here.
func ourGame(g legacytest.Game) events.GameID {
	if g.ID == 0 {
		return legacytest.OldGame
	}
	return events.GameID(g.ID)
}

func TestImportMatchesTheOriginalsQueries(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rep, err := legacy.Import(ctx, f.src, f.store, f.run())
	if err != nil {
		t.Fatalf("import: %v\n%s", err, rep)
	}
	t.Logf("%s", rep)
	if rep.Games != 5 || rep.Live != 1 || rep.Clicks != 2000 || rep.Guilds != 3 || rep.Skipped != 1 {
		t.Errorf("report: %d games, %d live, %d clicks, %d guilds, %d skipped; want 5, 1, 2000, 3, 1 (the icon)",
			rep.Games, rep.Live, rep.Clicks, rep.Guilds, rep.Skipped)
	}
	for _, kind := range []string{
		legacy.KindUnknownTable, legacy.KindUnknownColumn, legacy.KindOldLayout, legacy.KindStartInferred,
		legacy.KindUserWithoutRow, legacy.KindNameTruncated, legacy.KindEndTimeNotDeadline, legacy.KindEndNotRecorded,
		legacy.KindClickAfterDeadline, legacy.KindClassifier, legacy.KindValueNotClock, legacy.KindCooldownBroken,
		legacy.KindSequentialBroken, legacy.KindSameSecond, legacy.KindOutOfOrder, legacy.KindIconNotAllowed,
	} {
		if rep.Anomalies.Count[kind] == 0 {
			t.Errorf("anomaly %s not reported", kind)
		}
	}
	if rep.Appended != 2000+5*2-1+1+3+2 {
		// clicks, a start and an end per game but the live one, its
		// claim, 3 names, 2 icons (the third is not one of ours)
		t.Errorf("appended %d events, want %d", rep.Appended, 2000+5*2-1+1+3+2)
	}

	// The fold of each game against the original's own queries.
	for _, g := range legacytest.Standard() {
		want, err := legacytest.Query(ctx, f.src, g.ID, g.DurationS)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := f.store.Load(ctx, events.GameSubject(ourGame(g)), 0)
		if err != nil {
			t.Fatal(err)
		}
		var game events.Game
		lowest, claimed := int64(1<<62), int64(0)
		for _, r := range recs {
			if r.Err != nil {
				t.Fatalf("game %d seq %d: %v", g.ID, r.Seq, r.Err)
			}
			if _, ok := events.ImportedFrom(r.Event); !ok {
				t.Errorf("game %d seq %d: %s without provenance", g.ID, r.Seq, r.Event.EventType())
			}
			if err := game.Apply(r.Seq, r.Event); err != nil {
				t.Fatalf("game %d: %v", g.ID, err)
			}
			if c, ok := r.Event.(events.ButtonClicked); ok {
				lowest = min(lowest, c.ValueMS)
				claimed += c.ClaimedMS
				if c.AtMS%1000 != 0 {
					t.Errorf("click %d at %d ms: precision invented", c.Number, c.AtMS)
				}
			}
		}
		got := legacytest.Stats{Clicks: game.Clicks, Players: int64(game.PlayerCount()), Lowest: lowest / 1000, Claimed: claimed / 1000}
		if got != want {
			t.Errorf("game %d: stream gives %+v, the original's queries %+v", g.ID, got, want)
		}
		if problems := commands.Audit(recs); len(problems) > 0 {
			t.Errorf("game %d: audit of imported history: %s", g.ID, strings.Join(problems, "; "))
		}
		if g.Live != game.Active() {
			t.Errorf("game %d: active %v, want %v", g.ID, game.Active(), g.Live)
		}
		if g.Live {
			var last time.Time
			if err := f.src.QueryRowContext(ctx, "SELECT MAX(click_time) FROM button_clicks WHERE game_id = ?", g.ID).Scan(&last); err != nil {
				t.Fatal(err)
			}
			if d := last.UnixMilli() + g.DurationS*1000; game.DeadlineMS() != d {
				t.Errorf("live game deadline %d, want last click + duration %d", game.DeadlineMS(), d)
			}
		}
	}

	// The command handler (what the timekeeper arms) sees the live game
	// with its clock intact, and its channel is taken.
	h := commands.NewHandler(f.store, nil, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	active := h.ActiveGames()
	if len(active) != 1 || active[0].Game != 4 {
		t.Fatalf("active games %+v, want game 4 only", active)
	}
	live, _, err := h.Game(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if active[0].DeadlineMS != live.LastClickMS+12*3600*1000 || active[0].DeadlineMS <= f.now.UnixMilli() {
		t.Errorf("live game's deadline %d, last click %d", active[0].DeadlineMS, live.LastClickMS)
	}
	_, err = h.StartGame(ctx, commands.StartGame{Guild: legacytest.Guild1, Channel: "111111111111111102",
		ChatChannel: "111111111111111102", By: "400000000000000001", Duration: time.Hour})
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonChannelBusy || rej.ActiveGame != 4 {
		t.Errorf("a start in the live game's channel: %v, want busy with game 4", err)
	}

	// A second run appends nothing.
	before := f.lastSeq(t)
	rep2, err := legacy.Import(ctx, f.src, f.store, f.run())
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Appended != 0 || f.lastSeq(t) != before || rep2.AlreadyThere != rep.Appended {
		t.Errorf("second run appended %d (stream %d → %d), found %d of %d", rep2.Appended, before, f.lastSeq(t),
			rep2.AlreadyThere, rep.Appended)
	}

	// The MySQL projection, rebuilt by replay, reads it like native history.
	sink, err := mysqlproj.Open(ctx, mysqltest.DSN(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if _, err := projector.Replay(ctx, natsstore.NewFeed(f.js, natsstore.DefaultStream), sink, projector.ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, g := range legacytest.Standard() {
		want, _ := legacytest.Query(ctx, f.src, g.ID, g.DurationS)
		var got legacytest.Stats
		if err := sink.DB().QueryRowContext(ctx, `SELECT g.clicks, g.players, MIN(c.value_ms) DIV 1000, SUM(c.claimed_ms) DIV 1000
			FROM games g JOIN clicks c ON c.game = g.game WHERE g.game = ? GROUP BY g.game`, ourGame(g)).
			Scan(&got.Clicks, &got.Players, &got.Lowest, &got.Claimed); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("game %d: MySQL projection %+v, the original's queries %+v", g.ID, got, want)
		}
	}

	// The Redis projection (what the bot and the web read) too, and
	// verify finds both projections equal to the stream.
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb, "legacy")
	rsink := redisproj.New(rdb, redisproj.Options{Prefix: prefix})
	if _, err := projector.Replay(ctx, natsstore.NewFeed(f.js, natsstore.DefaultStream), rsink, projector.ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := redisproj.NewReader(rdb, prefix)
	for _, g := range legacytest.Standard() {
		want, _ := legacytest.Query(ctx, f.src, g.ID, g.DurationS)
		view, err := reader.Game(ctx, ourGame(g))
		if err != nil {
			t.Fatal(err)
		}
		lows, err := reader.LowestClicks(ctx, ourGame(g), 1)
		if err != nil || len(lows) != 1 {
			t.Fatalf("game %d: lowest clicks %v, %v", g.ID, lows, err)
		}
		got := legacytest.Stats{Clicks: view.Clicks, Players: view.Players, Lowest: lows[0].Value.Milliseconds() / 1000,
			Claimed: int64(view.Claimed / time.Second)}
		if got != want {
			t.Errorf("game %d: Redis projection %+v, the original's queries %+v", g.ID, got, want)
		}
		if g.Live && (view.Status != events.StatusActive || view.Deadline.UnixMilli() != active[0].DeadlineMS) {
			t.Errorf("live game in Redis: %s, deadline %s", view.Status, view.Deadline)
		}
	}
	diffs, err := projector.Verify(ctx, natsstore.NewFeed(f.js, natsstore.DefaultStream), []projector.Sink{rsink, sink}, projector.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("verify: %s", d)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	r := f.run()
	r.DryRun = true
	var out strings.Builder
	r.Progress = &out
	rep, err := legacy.Import(context.Background(), f.src, nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if f.lastSeq(t) != 0 {
		t.Fatalf("dry run wrote %d messages", f.lastSeq(t))
	}
	if rep.Appended != 2015 || !strings.Contains(out.String(), "game #4 from game_sessions 4") ||
		!strings.Contains(rep.String(), legacy.KindClassifier) {
		t.Errorf("dry run: %d events\n%s\n%s", rep.Appended, out.String(), rep)
	}
}

func TestOldLayoutNeedsItsSettings(t *testing.T) {
	f := newFixture(t)
	r := f.run()
	r.OldLayout = legacy.OldLayout{}
	rep, err := legacy.Import(context.Background(), f.src, f.store, r)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Games != 4 || rep.Anomalies.Count[legacy.KindOldLayoutUnmapped] != 1 || rep.Skipped != 401 {
		t.Errorf("without --old-*: %d games, %d skipped\n%s", rep.Games, rep.Skipped, rep)
	}
}

func TestGameNumberTakenHereIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	h := commands.NewHandler(f.store, nil, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.StartGame(ctx, commands.StartGame{Guild: "999", Channel: "998", ChatChannel: "998", By: "997",
		Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	before := f.lastSeq(t)
	_, err := legacy.Import(ctx, f.src, f.store, f.run())
	if err == nil || !strings.Contains(err.Error(), "game #1") || f.lastSeq(t) != before {
		t.Fatalf("import over a native game #1: err %v, stream %d → %d", err, before, f.lastSeq(t))
	}
	r := f.run()
	r.GameOffset = 100
	rep, err := legacy.Import(ctx, f.src, f.store, r)
	if err != nil || rep.Games != 5 {
		t.Fatalf("with --game-offset 100: %v\n%s", err, rep)
	}
	if _, ok, _ := h.Game(ctx, 104); !ok {
		t.Errorf("game #104 (the original's 4) not found")
	}
}

// TestTimekeeperEndsTheLiveGameAtItsOriginalDeadline: the live game keeps
// the clock the players saw — last click + duration — and the timekeeper
// ends it exactly then, not a millisecond earlier; a later import run
// leaves the taken-over game alone.
func TestTimekeeperEndsTheLiveGameAtItsOriginalDeadline(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := legacy.Import(ctx, f.src, f.store, f.run()); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	if err := f.src.QueryRowContext(ctx, "SELECT MAX(click_time) FROM button_clicks WHERE game_id = 4").Scan(&last); err != nil {
		t.Fatal(err)
	}
	deadline := last.Add(12 * time.Hour)

	clock := commandstest.NewClock(f.now)
	h := commands.NewHandler(f.store, clock, nil)
	ended := make(chan commands.GameChange, 1)
	h.OnChange(func(c commands.GameChange) {
		if c.Game == 4 && !c.Active {
			select {
			case ended <- c:
			default:
			}
		}
	})
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tk := commands.NewTimekeeper(h, clock, nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = tk.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// A press a millisecond before the deadline still counts.
	clock.Set(deadline.Add(-time.Millisecond))
	click, err := h.Press(ctx, commands.Press{Game: 4, Guild: legacytest.Guild1, User: "400000000000000099",
		Interaction: "takeover-1", At: deadline.Add(-time.Millisecond)})
	if err != nil {
		t.Fatalf("press just before the original deadline: %v", err)
	}
	if click.Number != 401 || click.ValueMS != 1 {
		t.Fatalf("press: number %d, value %d ms; want 401, 1", click.Number, click.ValueMS)
	}
	newDeadline := deadline.Add(-time.Millisecond).Add(12 * time.Hour)
	clock.Set(newDeadline.Add(commands.EndMargin))
	select {
	case c := <-ended:
		if c.DeadlineMS != newDeadline.UnixMilli() {
			t.Errorf("ended with deadline %d, want %d", c.DeadlineMS, newDeadline.UnixMilli())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the timekeeper did not end the taken-over game")
	}
	g, _, err := h.Game(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if g.Ended.Reason != events.EndExpired || g.Ended.AtMS != newDeadline.UnixMilli() {
		t.Errorf("end %+v, want expired at %d", g.Ended, newDeadline.UnixMilli())
	}
	recs, err := f.store.Load(ctx, events.GameSubject(4), 0)
	if err != nil {
		t.Fatal(err)
	}
	if problems := commands.Audit(recs); len(problems) > 0 {
		t.Errorf("audit after the takeover: %v", problems)
	}

	before := f.lastSeq(t)
	rep, err := legacy.Import(ctx, f.src, f.store, f.run())
	if err != nil || rep.Appended != 0 || f.lastSeq(t) != before {
		t.Errorf("import after the takeover: %v, appended %d", err, rep.Appended)
	}
}

// TestOnlyTheOlderLayout imports a database of the 2024 single-guild bot:
// no game_sessions, button_clicks without game_id and with user_name.
func TestOnlyTheOlderLayout(t *testing.T) {
	ctx := context.Background()
	dsn := mysqltest.DSN(t)
	src, _, err := legacy.OpenSource(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	now := time.Now().UTC().Truncate(time.Second)
	first := now.Add(-30 * time.Minute)
	for _, q := range []string{
		`CREATE TABLE button_clicks (id INT AUTO_INCREMENT PRIMARY KEY, user_id BIGINT, user_name VARCHAR(255),
			click_time DATETIME, timer_value INT)`,
		`CREATE TABLE latest_click (id INT PRIMARY KEY, click_time DATETIME)`,
	} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.ExecContext(ctx, `INSERT INTO button_clicks (user_id, user_name, click_time, timer_value) VALUES
		(500000000000000001, 'ann', ?, 43200), (500000000000000002, 'bob', ?, 42600), (500000000000000001, 'ann', ?, 42900)`,
		first, first.Add(10*time.Minute), first.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	run := legacy.Run{Options: legacy.Options{OldLayout: legacy.OldLayout{Game: 1, Guild: "600000000000000001",
		Channel: "600000000000000002", Cooldown: time.Minute}}}
	rep, err := legacy.Import(ctx, src, store, run)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep)
	}
	if rep.Games != 1 || rep.Live != 1 || rep.Clicks != 3 || rep.Anomalies.Count[legacy.KindOldLayout] != 3 {
		t.Errorf("report:\n%s", rep)
	}
	recs, err := store.Load(ctx, events.GameSubject(1), 0)
	if err != nil {
		t.Fatal(err)
	}
	var g events.Game
	for _, r := range recs {
		if err := g.Apply(r.Seq, r.Event); err != nil {
			t.Fatal(err)
		}
	}
	if g.Clicks != 3 || g.Last.UserName != "ann" || g.Started.AtMS != first.UnixMilli() ||
		g.DeadlineMS() != first.Add(15*time.Minute+12*time.Hour).UnixMilli() || !g.Active() {
		t.Errorf("older-layout game: %d clicks, last by %q, start %d, deadline %d, active %v", g.Clicks, g.Last.UserName,
			g.Started.AtMS, g.DeadlineMS(), g.Active())
	}
}
