package discordbot_test

import (
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// TestImportedLiveGameIsTakenOver: a live game brought in by
// import-legacy (imported start, clicks and channel claim) gets its game
// message here, goes on with its clock, and none of its imported clicks is
// announced again; the next native click is.
func TestImportedLiveGameIsTakenOver(t *testing.T) {
	e := newEnv(t, envOptions{})
	const game = events.GameID(70)
	now := time.Now().Truncate(time.Second).UnixMilli()
	dur := int64(3600 * 1000)
	prov := func(table string, row int64) events.Imported {
		return events.Imported{Source: "legacy:test", Table: table, RowID: row}
	}
	subject := events.GameSubject(game)
	seq, _, err := e.store.Append(e.ctx, subject, events.GameStarted{Game: game, Guild: e.guild, ButtonChannel: e.button,
		ChatChannel: e.chat, DurationMS: dur, AtMS: now - 600_000, Imported: prov("game_sessions", 70)}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	last := now - 600_000
	for i, user := range []string{e.player2, e.admin, e.player2} {
		at := now - int64(300_000-i*60_000)
		v := dur - (at - last)
		seq, _, err = e.store.Append(e.ctx, subject, events.ButtonClicked{Game: game, Guild: e.guild, Number: int64(i + 1),
			User: user, AtMS: at, ValueMS: v, Band: int(events.BandOf(v, dur)), ClaimedMS: dur - v,
			MMRMilli: events.MMRMilli(v, dur), Imported: prov("button_clicks", int64(i+1))}, seq, "")
		if err != nil {
			t.Fatal(err)
		}
		last = at
	}
	if _, _, err := e.store.Append(e.ctx, events.ChannelSubject(e.button), events.ChannelClaimed{Channel: e.button,
		Guild: e.guild, Game: game, AtMS: last, Imported: prov("game_sessions", 70)}, 0, ""); err != nil {
		t.Fatal(err)
	}

	var msg string
	e.wait(20*time.Second, "the taken-over game's message", func() bool {
		g, ok, err := e.h.Game(e.ctx, game)
		if err != nil || !ok {
			return false
		}
		msg = g.MessageID
		return msg != ""
	})
	g, _, err := e.h.Game(e.ctx, game)
	if err != nil {
		t.Fatal(err)
	}
	if g.DeadlineMS() != last+dur || !g.Active() {
		t.Fatalf("taken-over game: active %v, deadline %d, want %d", g.Active(), g.DeadlineMS(), last+dur)
	}
	if a := e.press(e.player, game, msg); a.Ephemeral() && e.clickCount(game) != 4 {
		t.Fatalf("native press on the taken-over game: %+v, %d clicks", a.Response, e.clickCount(game))
	}
	e.wait(20*time.Second, "the native click's announcement", func() bool { return len(announcements(e, e.chat)) >= 1 })
	if n := len(announcements(e, e.chat)); n != 1 {
		t.Errorf("%d announcements, want only the native click's", n)
	}
}
