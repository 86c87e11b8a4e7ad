package redisproj_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// TestHandlerStream projects a stream written by the real command handler
// on an embedded JetStream: presses decided by the rules (some refused),
// an aborted game, a game ended at its deadline by Expire, icons and bans.
// Verify must find nothing, and the views must agree with the handler's
// own fold of each game.
func TestHandlerStream(t *testing.T) { redistest.Backends(t, testHandlerStream) }

func testHandlerStream(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Universal(t)
	prefix := redistest.Prefix(t, rdb, "redisproj")

	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	clock := commandstest.NewClock(time.Date(2026, 3, 31, 20, 0, 0, 0, time.UTC))
	h := commands.NewHandler(store, clock, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	const guild = "700"
	g1, err := h.StartGame(ctx, commands.StartGame{Guild: guild, Channel: "7001", By: "900", ByName: "Admin",
		Duration: 6 * time.Hour, Cooldown: 30 * time.Minute, Sequential: 1})
	if err != nil {
		t.Fatal(err)
	}
	g2, err := h.StartGame(ctx, commands.StartGame{Guild: guild, Channel: "7002", By: "900", Duration: time.Hour, Cooldown: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetIcon(ctx, commands.SetIcon{Guild: guild, Icon: "🦊", By: "900"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Ban(ctx, commands.Ban{Guild: guild, User: "799", By: "900", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := h.PostMessage(ctx, commands.PostMessage{Game: g1.Game, Channel: "7001", MessageID: "77001"}); err != nil {
		t.Fatal(err)
	}
	accepted, refused := 0, 0
	press := func(game events.GameID, user string, i int) {
		_, err := h.Press(ctx, commands.Press{Game: game, Guild: guild, User: user, UserName: "P" + user,
			Interaction: fmt.Sprintf("%d-%s-%d", game, user, i)})
		switch {
		case err == nil:
			accepted++
		case isRejection(err):
			refused++
		default:
			t.Fatalf("press: %v", err)
		}
	}
	for i := range 200 {
		clock.Advance(time.Duration(7+i%23) * time.Minute) // crosses midnight into April
		press(g1.Game, fmt.Sprintf("%d", 710+i%9), i)
		if i < 40 {
			press(g2.Game, fmt.Sprintf("%d", 720+i%4), i)
		}
		if i == 20 {
			press(g1.Game, "799", i) // banned
		}
		if i == 30 {
			if err := h.Unban(ctx, commands.Unban{Guild: guild, User: "799", By: "900"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if accepted < 100 || refused < 20 {
		t.Fatalf("%d presses accepted and %d refused: the scenario should have both", accepted, refused)
	}
	if _, err := h.Abort(ctx, commands.Abort{Game: g1.Game, Guild: guild, By: "900", Reason: "enough"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if over, _, err := h.Expire(ctx, g2.Game); err != nil || !over {
		t.Fatalf("expire game %d: %v, %v", g2.Game, over, err)
	}

	all, err := store.Load(ctx, events.SubjectRoot, 0)
	if err != nil {
		t.Fatal(err)
	}
	sink := redisproj.New(rdb, redisproj.Options{Prefix: prefix})
	for i := 0; i < len(all); i += 17 {
		if err := sink.Apply(ctx, all[i:min(i+17, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	diffs, err := sink.Verify(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}

	// The handler's summary has no players: fold each game's events here.
	folds := map[events.GameID]*events.Game{}
	for _, rec := range all {
		if id, ok := events.ParseGameSubject(rec.Subject); ok && rec.Err == nil {
			if folds[id] == nil {
				folds[id] = &events.Game{}
			}
			if err := folds[id].Apply(rec.Seq, rec.Event); err != nil {
				t.Fatalf("fold game %d: %v", id, err)
			}
		}
	}
	r := redisproj.NewReader(rdb, prefix)
	for _, id := range []events.GameID{g1.Game, g2.Game} {
		want, ok, err := h.Game(ctx, id)
		if err != nil || !ok {
			t.Fatalf("handler game %d: %v %v", id, ok, err)
		}
		got, err := r.Game(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Clicks != want.Clicks || got.Status != want.Status || got.Players != int64(folds[id].PlayerCount()) ||
			got.Deadline.UnixMilli() != want.DeadlineMS() || got.EndedAt.UnixMilli() != want.Ended.AtMS {
			t.Errorf("game %d: clicks %d status %s players %d deadline %v end %v; handler: %d %s %d %d %d", id,
				got.Clicks, got.Status, got.Players, got.Deadline, got.EndedAt,
				want.Clicks, want.Status, folds[id].PlayerCount(), want.DeadlineMS(), want.Ended.AtMS)
		}
		if got.Clicks > 0 && (got.Last == nil || got.Last.Number != want.Last.Number || got.Last.Band != events.Band(want.Last.Band) ||
			got.Last.Value.Milliseconds() != want.Last.ValueMS) {
			t.Errorf("game %d: last click %+v; handler %+v", id, got.Last, want.Last)
		}
		for user, ps := range folds[id].Players() {
			p, err := r.Player(ctx, id, user)
			if err != nil {
				t.Fatal(err)
			}
			if p.Clicks != ps.Clicks || p.LastAt.UnixMilli() != ps.LastClickMS || p.LastNumber != ps.LastNumber {
				t.Errorf("game %d player %s: %+v; handler %+v", id, user, p, ps)
			}
		}
	}
	if g, _ := r.Game(ctx, g1.Game); g.Status != events.StatusAborted || g.MessageID != "77001" || g.Sequential != 1 {
		t.Errorf("game %d: status %s, message %q, N %d", g1.Game, g.Status, g.MessageID, g.Sequential)
	}
	if g, _ := r.Game(ctx, g2.Game); g.Status != events.StatusEnded || !g.EndedAt.Equal(g.Deadline) {
		t.Errorf("game %d: status %s, ended %v, deadline %v: an expired game ends at its deadline", g2.Game, g.Status, g.EndedAt, g.Deadline)
	}
	if icon, err := r.GuildIcon(ctx, guild); err != nil || icon != "🦊" {
		t.Errorf("icon: %q, %v", icon, err)
	}
	if banned, err := r.IsBanned(ctx, guild, "799"); err != nil || banned {
		t.Errorf("799 banned: %v, %v", banned, err)
	}
	mar, _ := r.Quest(ctx, guild, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 20)
	apr, _ := r.Quest(ctx, guild, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), 20)
	if mar.Clicks == 0 || apr.Clicks == 0 || mar.Clicks+apr.Clicks != int64(accepted) {
		t.Errorf("monthly boards: %d clicks in March, %d in April; %d accepted", mar.Clicks, apr.Clicks, accepted)
	}
}

func isRejection(err error) bool {
	_, ok := commands.AsRejection(err)
	return ok
}
