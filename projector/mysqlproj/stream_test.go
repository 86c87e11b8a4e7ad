package mysqlproj_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// TestApplyTheCommandHandlersStream plays games through commands.Handler
// on an embedded JetStream, then projects the stream as stored.
func TestApplyTheCommandHandlersStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := natstest.Server(t, "")
	nc, js := natstest.Connect(t, srv)
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h := commands.NewHandler(store, clock, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)

	start := func(guild, channel string, d, cooldown time.Duration, n int) events.GameID {
		t.Helper()
		g, err := h.StartGame(ctx, commands.StartGame{Guild: guild, Channel: channel, By: "42", ByName: "Admin",
			Duration: d, Cooldown: cooldown, Sequential: n})
		if err != nil {
			t.Fatal(err)
		}
		return g.Game
	}
	g1 := start("111", "9001", 10*time.Minute, 30*time.Second, 1)
	g2 := start("222", "9002", time.Hour, 0, 0)
	if err := h.SetIcon(ctx, commands.SetIcon{Guild: "111", Icon: "🦉", By: "42"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Ban(ctx, commands.Ban{Guild: "111", User: "666", By: "42", Reason: "cheating"}); err != nil {
		t.Fatal(err)
	}
	if err := h.PostMessage(ctx, commands.PostMessage{Game: g1, Channel: "9001", MessageID: "5001"}); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(7, 11))
	accepted := map[events.GameID]int64{}
	refused := 0
	press := func(game events.GameID, guild string, i int) {
		user := fmt.Sprint(500 + rng.IntN(8))
		if rng.IntN(40) == 0 {
			user = "666" // banned in 111
		}
		c, err := h.Press(ctx, commands.Press{Game: game, Guild: guild, User: user, UserName: "Player " + user,
			Interaction: fmt.Sprintf("i%d", i)})
		if _, ok := commands.AsRejection(err); ok {
			refused++
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !c.Duplicate {
			accepted[game]++
		}
	}
	var g3 events.GameID
	for i := range 600 {
		clock.Advance(time.Duration(1+rng.IntN(15_000)) * time.Millisecond)
		switch {
		case i == 300:
			if _, err := h.Abort(ctx, commands.Abort{Game: g2, Guild: "222", By: "42", Reason: "moving"}); err != nil {
				t.Fatal(err)
			}
			g3 = start("222", "9002", 2*time.Hour, time.Minute, 2)
		case i%2 == 0:
			press(g1, "111", i)
		case i < 300:
			press(g2, "222", i)
		default:
			press(g3, "222", i)
		}
		if i%50 == 7 {
			press(g1, "111", i-1) // the same interaction again: counted once
		}
	}
	if err := h.Unban(ctx, commands.Unban{Guild: "111", User: "666", By: "42"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(11 * time.Minute) // g1's deadline passes
	if over, _, err := h.Expire(ctx, g1); err != nil || !over {
		t.Fatalf("Expire(g1) = %v, %v; want over", over, err)
	}
	// A malformed message, as `nats pub button.game.3 …` would store it.
	if err := nc.Publish(events.GameSubject(g3), []byte(`{"type":"game.button_clicked","v":1,"data":{}}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if refused == 0 || accepted[g1] < 20 || accepted[g2] < 20 || accepted[g3] < 20 {
		t.Fatalf("the game play is too thin: accepted %v, refused %d", accepted, refused)
	}

	var msgs []events.Recorded
	testwait.For(t, 10*time.Second, func() bool {
		msgs = readStream(t, js, natsstore.DefaultStream)
		return errors.Is(msgs[len(msgs)-1].Err, events.ErrMalformed)
	}, testwait.Say("the malformed message published is not the stream's last"))

	t.Logf("%d messages; clicks accepted %v, presses refused %d", len(msgs), accepted, refused)
	for _, size := range []int{1000, 37} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			s := openSink(t, mysqltest.DSN(t))
			applyAll(t, s, msgs, size)
			verifyClean(t, s, msgs)
			got := query(t, s.DB(), "SELECT game, status, clicks, (SELECT COUNT(*) FROM clicks c WHERE c.game = g.game) FROM games g ORDER BY game")
			want := []string{
				fmt.Sprintf("1 | ended | %d | %d", accepted[g1], accepted[g1]),
				fmt.Sprintf("2 | aborted | %d | %d", accepted[g2], accepted[g2]),
				fmt.Sprintf("3 | active | %d | %d", accepted[g3], accepted[g3]),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("games (-want +got):\n%s", diff)
			}
			pos, err := s.Position(ctx)
			if err != nil || pos != msgs[len(msgs)-1].Seq {
				t.Errorf("Position() = %d, %v; want the stream's last sequence %d", pos, err, msgs[len(msgs)-1].Seq)
			}
		})
	}
}
