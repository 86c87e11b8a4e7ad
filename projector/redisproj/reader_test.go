package redisproj

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
	"github.com/thebutton-game/thebutton/readmodel"
)

// scenario writes a stream full of edge cases: clicks exactly on band
// edges and one millisecond off them, ties on every board, a best value
// that improves and then does not, clicks on both sides of a UTC month
// boundary, ended, aborted and untouched games in two guilds, icons, bans
// and unbans, and events the projection must ignore.
func scenario(tb testing.TB) *sim {
	s := newSim(tb)
	h := time.Hour
	t0 := time.Date(2026, 1, 31, 18, 0, 0, 0, time.UTC)

	// Game 1: 6 h, so the band edges are whole hours.
	s.start(1, "100", "1001", 6*h, 10*time.Minute, t0)
	s.clickLeft(1, "201", "Ann", 5*h)                                     // exactly 5/6: Purple, on an edge
	s.clickLeft(1, "202", "Bob", h+time.Millisecond)                      // 23:59:59.999 Jan 31: Orange, 1 ms above an edge
	s.click(1, "203", "Cat", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) // 00:00:00.000 Feb 1
	s.clickLeft(1, "204", "Dan", h-time.Millisecond)                      // Red, 1 ms below an edge
	s.clickLeft(1, "201", "Ann", 2*h)                                     // exactly 2/6: Yellow
	s.message(1, "1001", "5001", t0.Add(14*h))                            // between clicks 4 and 5
	s.clickLeft(1, "202", "", 3*h)                                        // Green; no name this time
	s.clickLeft(1, "203", "Cat", 30*time.Second)                          // Red, far from an edge
	s.clickLeft(1, "205", "Eve", 3*h)                                     // Eve and Fay tie on everything
	s.clickLeft(1, "206", "Fay", 3*h)                                     //
	s.clickLeft(1, "201", "Ann", 4*time.Minute)                           // Ann's best improves
	s.clickLeft(1, "201", "Ann B.", 5*h+30*time.Minute)                   // and then does not; a new name
	s.clickLeft(1, "204", "Dan", h+4*time.Minute)                         // 4 min above the Orange edge: within the window
	s.clickLeft(1, "207", "Gus", h+5*time.Minute)                         // exactly 5 min from an edge: within
	s.clickLeft(1, "210", "Hal", 2*h-5*time.Minute-time.Millisecond)      // 5 min + 1 ms from an edge: outside

	// Game 3: 1 h in another guild, ended at its deadline.
	s.start(3, "300", "3001", h, 0, time.Date(2026, 1, 31, 22, 0, 0, 0, time.UTC))
	s.clickLeft(3, "301", "Sam", 50*time.Minute)
	s.clickLeft(3, "302", "Tom", 10*time.Minute)                  // exactly 1/6: Orange, on an edge
	s.clickLeft(3, "301", "Sam", 10*time.Minute-time.Millisecond) // Red, 1 ms below
	s.end(3, events.EndExpired, time.Time{}, "", "")

	// Game 2: 12 h, aborted.
	s.start(2, "100", "1002", 12*h, 3*h, time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC))
	s.clickLeft(2, "202", "Bob", 11*h)
	s.clickLeft(2, "207", "Gus", 10*h) // exactly 5/6
	s.clickLeft(2, "202", "Bob", 11*h) // ties Bob's best: the first one stays his best click
	s.end(2, events.EndAborted, time.Date(2026, 2, 1, 5, 0, 0, 0, time.UTC), "900", "testing an abort")

	// Game 4: started, never clicked.
	s.start(4, "100", "1004", 12*h, 3*h, time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC))

	s.icon("100", "🔥", t0)
	s.icon("300", "🐉", t0)
	s.icon("300", "👑", t0.Add(h))
	s.ban("100", "208", "spam", t0)
	s.ban("100", "209", "", t0.Add(h))
	s.unban("100", "208", t0.Add(2*h))
	s.ban("300", "208", "also here", t0.Add(3*h))

	// What the projection must ignore.
	g1 := s.games[1]
	s.add(events.GameSubject(1), events.GameStarted{Game: 1, Guild: "100", ButtonChannel: "1001", ChatChannel: "1001",
		DurationMS: 1000, StartedBy: "900", AtMS: ms(t0)}) // a second start
	s.add(events.GameSubject(1), events.ButtonClicked{Game: 1, Guild: "100", Number: 99, User: "201", AtMS: g1.LastClickMS + 1,
		ValueMS: 1, Band: 0, ClaimedMS: 1, MMRMilli: 1}) // out of order
	s.add(events.GameSubject(77), events.ButtonClicked{Game: 77, Guild: "100", Number: 1, User: "201", AtMS: g1.LastClickMS + 1,
		ValueMS: 1, Band: 0, ClaimedMS: 1, MMRMilli: 1}) // a game that never started
	s.add(events.GameSubject(2), events.ButtonClicked{Game: 1, Guild: "100", Number: g1.Clicks + 1, User: "201",
		AtMS: g1.LastClickMS + 1, ValueMS: 1, Band: 0, ClaimedMS: 1, MMRMilli: 1}) // game 1's click on game 2's subject
	s.addRaw(events.GameSubject(1), []byte(`{"type":"game.button_clicked","v":1,"data":{"game":"oops"}}`))
	s.addRaw("button.game.1", []byte("not json"))
	s.add(events.GameSubject(3), events.GameEnded{Game: 3, Reason: events.EndAborted, AtMS: ms(t0), By: "900"}) // ended twice
	s.add(events.GuildSubject("300"), events.GuildIconSet{Guild: "100", Icon: "⭐", By: "900", AtMS: ms(t0)})    // wrong subject
	return s
}

// applyInBatches applies recs in batches of random sizes.
func applyInBatches(tb testing.TB, s *Sink, recs []events.Recorded, seed uint64, maxBatch int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	for len(recs) > 0 {
		n := min(len(recs), 1+rng.IntN(maxBatch))
		if err := s.Apply(context.Background(), recs[:n]); err != nil {
			tb.Fatalf("apply %d–%d: %v", recs[0].Seq, recs[n-1].Seq, err)
		}
		recs = recs[n:]
	}
}

func TestReaderViews(t *testing.T) { redistest.Backends(t, testReaderViews) }

func testReaderViews(t *testing.T) {
	ctx := context.Background()
	s := scenario(t)
	w := fold(s.recs)
	if len(w.games[1].clicks) != 14 || len(w.clicks) != 20 {
		t.Fatalf("the scenario has %d clicks in game 1 and %d in all; want 14 and 20", len(w.games[1].clicks), len(w.clicks))
	}
	// The scenario means what it says (so the comparisons below are not
	// comparisons of empty lists).
	var edgeNums []int64
	for _, e := range w.edges(1, 100) {
		edgeNums = append(edgeNums, e.Number)
	}
	if d := cmp.Diff([]int64{1, 5, 6, 8, 9, 2, 4, 12, 13}, edgeNums); d != "" {
		t.Errorf("edge clicks of game 1 in the fold (-want +got):\n%s", d)
	}
	c1 := w.games[1].clicks
	if c1[0].Band != events.Purple || c1[1].Band != events.Orange || c1[3].Band != events.Red || c1[4].Band != events.Yellow {
		t.Errorf("bands of game 1's first clicks: %v %v %v %v", c1[0].Band, c1[1].Band, c1[3].Band, c1[4].Band)
	}
	if b := w.board(1, readmodel.ByMMR, 15); len(b) != 8 || b[6].User != "205" || b[7].User != "206" || b[6].MMRMilli != b[7].MMRMilli {
		t.Errorf("MMR board of game 1 in the fold: %+v; want Eve and Fay tied at 7th and 8th", b)
	}
	if p := w.player(2, "202"); p.Clicks != 2 || p.BestNumber != 1 {
		t.Errorf("Bob in game 2 in the fold: %+v; want his first click as his best", p)
	}
	if low := w.lowest(w.clicks, 1); low[0].User != "203" || low[0].Value != 30*time.Second {
		t.Errorf("lowest click in the fold: %+v; want Cat's 30 s", low[0])
	}
	for _, maxBatch := range []int{1, 7, 1000} {
		sink, r, _ := mustSink(t)
		applyInBatches(t, sink, s.recs, uint64(maxBatch), maxBatch)
		t.Run("batches of up to "+itoa(int64(maxBatch)), func(t *testing.T) {
			checkViews(t, ctx, r, w)
			diffs, err := sink.Verify(ctx, s.recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != 0 {
				t.Errorf("verify found %d differences:\n%s", len(diffs), joinLines(diffs))
			}
		})
	}
}

func joinLines(lines []string) string {
	out := ""
	for i, l := range lines {
		if i == 40 {
			return out + "…\n"
		}
		out += l + "\n"
	}
	return out
}

func check[T any](t *testing.T, what string, got T, err error, want T) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func checkViews(t *testing.T, ctx context.Context, r *Reader, w *want) {
	now := time.Date(2026, 2, 2, 3, 0, 0, 0, time.UTC)

	pos, err := r.Position(ctx)
	check(t, "position", pos, err, w.pos)
	for _, id := range []events.GameID{1, 2, 3, 4} {
		g, err := r.Game(ctx, id)
		check(t, "game "+id.String(), g, err, *w.game(id))
	}
	for _, id := range []events.GameID{77, 999} {
		if _, err := r.Game(ctx, id); !errors.Is(err, readmodel.ErrNotFound) {
			t.Errorf("game %d: got %v, want ErrNotFound", id, err)
		}
		if _, err := r.Player(ctx, id, "201"); !errors.Is(err, readmodel.ErrNotFound) {
			t.Errorf("player of game %d: got %v, want ErrNotFound", id, err)
		}
		if _, err := r.Leaderboard(ctx, id, readmodel.ByMMR, 5); !errors.Is(err, readmodel.ErrNotFound) {
			t.Errorf("leaderboard of game %d: got %v, want ErrNotFound", id, err)
		}
		if _, err := r.RecentClicks(ctx, id, 5); !errors.Is(err, readmodel.ErrNotFound) {
			t.Errorf("recent clicks of game %d: got %v, want ErrNotFound", id, err)
		}
		if _, err := r.LastClickers(ctx, id, 10); !errors.Is(err, readmodel.ErrNotFound) {
			t.Errorf("last clickers of game %d: got %v, want ErrNotFound", id, err)
		}
	}
	g1, _ := r.Game(ctx, 1)
	if g1.Last == nil || g1.Last.User != "210" || g1.Last.Band != events.Orange || g1.MessageID != "5001" {
		t.Errorf("game 1: last click %+v, message %q; want Hal's Orange click and message 5001", g1.Last, g1.MessageID)
	}

	for _, id := range []events.GameID{1, 2, 3, 4} {
		for _, u := range []string{"201", "202", "203", "204", "205", "206", "207", "301", "302", "999"} {
			p, err := r.Player(ctx, id, u)
			check(t, "player "+u+" of game "+id.String(), p, err, w.player(id, u))
		}
		for _, b := range []readmodel.Board{readmodel.ByMMR, readmodel.ByClaimed, readmodel.ByClicks, readmodel.ByBest} {
			for _, n := range []int{1, 2, 3, 5, 15} {
				got, err := r.Leaderboard(ctx, id, b, n)
				check(t, "board "+itoa(int64(b))+" top "+itoa(int64(n))+" of game "+id.String(), got, err, w.board(id, b, n))
			}
		}
		teams, err := r.Teams(ctx, id)
		check(t, "teams of game "+id.String(), teams, err, w.teams(id))
		for _, n := range []int{1, 3, 100} {
			low, err := r.LowestClicks(ctx, id, n)
			check(t, "lowest clicks of game "+id.String(), low, err, w.lowest(w.games[id].clicks, n))
			recent, err := r.RecentClicks(ctx, id, n)
			check(t, "recent clicks of game "+id.String(), recent, err, newestFirst(w.games[id].clicks, n))
			edges, err := r.EdgeClicks(ctx, id, n)
			check(t, "edge clicks of game "+id.String(), edges, err, w.edges(id, n))
		}
		clickers, err := r.LastClickers(ctx, id, 10)
		check(t, "last clickers of game "+id.String(), clickers, err, w.clickers(id, 10))
		clickers, err = r.LastClickers(ctx, id, 3)
		check(t, "last 3 clickers of game "+id.String(), clickers, err, w.clickers(id, 3))
		series, err := r.Clicks(ctx, id, 1, 1000)
		check(t, "clicks of game "+id.String(), series, err, w.games[id].clicks)
		hours, err := r.ClicksPerHour(ctx, id)
		check(t, "clicks per hour of game "+id.String(), hours, err, w.hours(id))
	}
	// Paging.
	series, err := r.Clicks(ctx, 1, 4, 3)
	check(t, "clicks 4–6 of game 1", series, err, w.games[1].clicks[3:6])
	ann := userClicks(w.games[1].clicks, "201")
	bands, total, err := r.PlayerBands(ctx, 1, "201", 1, 2)
	check(t, "Ann's bands 2–3", bands, err, bandsOf(ann[1:3]))
	if total != int64(len(ann)) {
		t.Errorf("Ann's clicks: %d, want %d", total, len(ann))
	}
	bands, _, err = r.PlayerBands(ctx, 1, "201", 0, 0)
	check(t, "all of Ann's bands", bands, err, bandsOf(ann))
	clicks, _, err := r.PlayerClicks(ctx, 1, "201", 0, 0)
	check(t, "Ann's clicks", clicks, err, ann)

	// Across games.
	for _, n := range []int{1, 5, 100} {
		low, err := r.GlobalLowestClicks(ctx, n)
		check(t, "global lowest clicks", low, err, w.lowest(w.clicks, n))
		recent, err := r.GlobalRecentClicks(ctx, n)
		check(t, "global recent clicks", recent, err, newestFirst(w.clicks, n))
	}
	rank, err := r.LifetimeRanking(ctx, now)
	check(t, "lifetime ranking", rank, err, w.ranking(now))
	active, err := r.ActiveGames(ctx, "")
	check(t, "active games", active, err, w.activeGames())
	active, err = r.ActiveGames(ctx, "300")
	check(t, "active games of guild 300", active, err, []readmodel.Game(nil))
	games, total, err := r.GuildGames(ctx, "100", 0, 10)
	check(t, "games of guild 100", games, err, w.guildGames("100"))
	if total != 3 {
		t.Errorf("guild 100 has %d games, want 3", total)
	}
	games, _, err = r.GuildGames(ctx, "100", 1, 1)
	check(t, "second game of guild 100", games, err, w.guildGames("100")[1:2])
	ch, err := r.ChannelGame(ctx, "1002")
	check(t, "game of channel 1002", ch, err, *w.game(2))
	if _, err := r.ChannelGame(ctx, "5555"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("game of an unknown channel: %v, want ErrNotFound", err)
	}
	for _, u := range []string{"201", "202", "301", "999"} {
		pg, err := r.PlayerGames(ctx, u)
		check(t, "games of player "+u, pg, err, w.playerGames(u))
	}

	// Guild settings.
	for _, guild := range []string{"100", "300", "555"} {
		icon, err := r.GuildIcon(ctx, guild)
		check(t, "icon of "+guild, icon, err, w.icons[guild])
		bans, err := r.Bans(ctx, guild)
		check(t, "bans of "+guild, bans, err, w.banList(guild))
	}
	for _, c := range []struct {
		guild, user string
		want        bool
	}{{"100", "208", false}, {"100", "209", true}, {"300", "208", true}, {"300", "209", false}} {
		got, err := r.IsBanned(ctx, c.guild, c.user)
		check(t, "is "+c.user+" banned in "+c.guild, got, err, c.want)
	}

	// Monthly boards: the two clicks a millisecond apart fall in two months.
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feb := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, guild := range []string{"100", "300"} {
		for _, m := range []time.Time{jan, feb, feb.AddDate(0, 1, 0)} {
			for _, n := range []int{1, 2, 20} {
				q, err := r.Quest(ctx, guild, m.Add(17*24*time.Hour), n) // any instant of the month
				check(t, "quest of "+guild+" in "+m.Format("2006-01"), q, err, w.quest(guild, m, n))
			}
		}
	}
	q, _ := r.Quest(ctx, "100", jan, 20)
	if len(q.Entries) != 2 || q.Entries[0].User != "202" {
		t.Errorf("January board of guild 100: %+v; want Bob first, then Ann", q.Entries)
	}
	winners, err := r.QuestWinners(ctx, "100", time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC))
	wantWinners := []readmodel.QuestWinner{
		{Month: jan, QuestEntry: w.quest("100", jan, 1).Entries[0]},
		{Month: feb, QuestEntry: w.quest("100", feb, 1).Entries[0]},
	}
	check(t, "past winners of guild 100", winners, err, wantWinners)
	if err := r.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
}
