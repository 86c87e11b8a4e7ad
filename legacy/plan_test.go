package legacy

import (
	"database/sql"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// TestPlanOddRowsAreReportedNotFatal feeds the planner rows the original's
// database can hold but no import can represent, and rows that break
// today's rules: none stops the import, each is counted.
func TestPlanOddRowsAreReportedNotFatal(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	game := func(id int64, ch int64, start time.Time, end *time.Time) gameRow {
		g := gameRow{ID: id, Guild: 10, Button: ch, Chat: ch, Start: start, DurationS: 3600, CooldownH: 0}
		if end != nil {
			g.End = sql.NullTime{Time: *end, Valid: true}
		}
		return g
	}
	click := func(id, g, user int64, t time.Time, v int64) clickRow {
		return clickRow{ID: id, Game: sql.NullInt64{Int64: g, Valid: true}, User: user, At: t, ValueS: v}
	}
	endEarly := at(-30 * time.Minute)
	s := &snapshot{
		Database: "db",
		Games: []gameRow{
			game(1, 100, at(-10*time.Minute), nil),                   // live
			game(2, 100, at(-20*time.Minute), nil),                   // live too, same channel
			game(3, 101, at(-48*time.Hour), nil),                     // no clicks, never ended
			game(4, 102, at(-40*time.Minute), &endEarly),             // ended before its deadline
			{ID: 5, Guild: 0, Button: 1, Chat: 1},                    // no guild
			{ID: 6, Guild: 10, Button: 103, Chat: 103, DurationS: 0}, // no duration
		},
		Clicks: []clickRow{
			click(1, 1, 7, at(-5*time.Minute), 3300),
			click(2, 1, 7, at(-5*time.Minute), -4),    // same second, negative value, same player
			click(3, 1, 0, at(-4*time.Minute), 3000),  // no user id
			click(4, 1, 8, time.Unix(-5, 0), 3000),    // before 1970
			click(5, 1, 8, at(-3*time.Minute), 1<<40), // absurd value
			click(6, 9, 8, at(-3*time.Minute), 10),    // no such game
			click(7, 4, 8, at(-35*time.Minute), 7200), // above the duration
			click(8, 2, 9, at(-15*time.Minute), 3000),
		},
		Users: map[int64]sql.NullString{7: {String: "seven", Valid: true}},
		Icons: []guildRow{{Guild: 10, Text: "not an icon"}},
		Names: []guildRow{{Guild: 10, Text: "Ten"}},
	}
	p, err := buildPlan(s, Options{Source: "legacy:db"}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		KindInvalidID: 2, KindInvalidTime: 1, KindValueOutOfRange: 3, KindClickWithoutGame: 1, KindGameInvalid: 1,
		KindChannelTaken: 1, KindZeroClicks: 1, KindEndNotRecorded: 1, KindEndedBeforeDeadline: 1,
		KindSameSecond: 1, KindIconNotAllowed: 1, KindUserWithoutRow: 2,
	}
	for k, n := range want {
		if got := p.report.Anomalies.Count[k]; got != n {
			t.Errorf("%s: %d, want %d (%v)", k, got, n, p.report.Anomalies.Examples[k])
		}
	}
	if p.report.Games != 4 || p.report.Live != 2 {
		t.Errorf("%d games, %d live; want 4, 2", p.report.Games, p.report.Live)
	}
	for _, g := range p.games {
		for _, it := range g.items {
			if _, err := events.Encode(it.event); err != nil {
				t.Errorf("%s: planned an invalid event: %v", g, err)
			}
		}
		if g.id == 2 && g.claim != nil {
			t.Errorf("the older live game of a channel claims it")
		}
		if g.id == 1 && g.claim == nil {
			t.Errorf("the newer live game of a channel does not claim it")
		}
		if g.id == 4 {
			end := g.items[len(g.items)-1].event.(events.GameEnded)
			if end.Reason != events.EndAborted || end.AtMS != endEarly.UnixMilli() {
				t.Errorf("game ended before its deadline: %+v", end)
			}
		}
	}
}
