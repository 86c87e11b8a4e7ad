package discordbot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/sinktest"
)

// TestReactorSinkContract runs the contract every projection sink passes
// on the discord-effects reactor, driven by the contract instead of a
// consumer. Its state is what Discord shows that must never repeat: the
// messages posted in each channel, the roles created and granted. A
// restarted reactor is a new reactor of the same bot on the same
// done-marks, opened once the old one has done its effects.
func TestReactorSinkContract(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		e := newEnv(t, envOptions{noBot: true})
		bot, err := discordbot.New(e.cfg, e.h, e.views, e.marks)
		if err != nil {
			t.Fatal(err)
		}
		octx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		if err := bot.Open(octx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := bot.Close(cctx); err != nil {
				t.Errorf("bot close: %v", err)
			}
		})
		// The events come after the reactor's creation: they get every
		// effect, as live events do.
		recs := reactorStream(t, e)
		sink := &idleReset{Reactor: bot.Reactor(), e: e}
		return sinktest.Target{
			Sink:   sink,
			Stream: recs,
			Lags:   true,
			Reopen: func(t *testing.T) projector.Sink {
				sink.idle()
				sink.Stop()
				sink = &idleReset{Reactor: bot.ShardReactor(0, 1, e.marks), e: e}
				return sink
			},
			State: func(t *testing.T) any {
				sink.idle()
				return map[string]int{
					"button channel messages": len(e.fake.Messages(e.button)),
					"chat channel messages":   len(e.fake.Messages(e.chat)),
					"click announcements":     len(announcements(e, e.chat)),
					"roles created":           len(e.fake.CallsTo("POST /guilds/{guild}/roles")),
					"role grants":             len(e.fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}")),
				}
			},
		}
	})
}

// idleReset is the reactor with a Reset that waits for the effects it has
// queued, as a reset does in service: a replay takes the projection's
// lease first, so nothing is queued then.
type idleReset struct {
	*discordbot.Reactor
	e *env
}

func (r *idleReset) idle() {
	r.e.wait(20*time.Second, "the reactor's queued effects", func() bool {
		pos, err := r.e.marks.Position(r.e.ctx)
		queued, qerr := r.Position(r.e.ctx)
		return err == nil && qerr == nil && pos >= queued
	})
}

func (r *idleReset) Reset(ctx context.Context) error {
	r.idle()
	return r.Reactor.Reset(ctx)
}

// reactorStream starts a game through the command handler, presses it,
// aborts it, adds an undecodable message and returns the stream.
func reactorStream(t *testing.T, e *env) []events.Recorded {
	t.Helper()
	ctx := e.ctx
	started, err := e.h.StartGame(ctx, commands.StartGame{Guild: e.guild, Channel: e.button, ChatChannel: e.chat,
		By: e.admin, ByName: "Ada Admin", Duration: time.Hour, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	third := e.fake.AddMember(e.guild, "", "Tess Third", permPlayer)
	for k, p := range []string{e.player, e.player2, third} {
		if _, err := e.h.Press(ctx, commands.Press{Game: started.Game, Guild: e.guild, User: p, UserName: fmt.Sprint("Player ", k),
			Interaction: e.fake.NewID()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.h.Abort(ctx, commands.Abort{Game: started.Game, Guild: e.guild, By: e.admin, Reason: "contract"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(ctx, events.GameSubject(started.Game), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	last, err := e.store.Feed().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := projector.ReadAll(ctx, e.store.Feed(), last)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
