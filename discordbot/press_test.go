package discordbot_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
)

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func chatOpt(channel string) discordtest.Option {
	return discordtest.Option{Name: "chat", Type: discordgo.ApplicationCommandOptionChannel, Value: channel}
}

func TestSessionAsksOnlyForGuildsAndRegistersOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	ids := e.fake.Identifies()
	if len(ids) != 1 {
		t.Fatalf("%d IDENTIFY, want 1", len(ids))
	}
	if ids[0].Intents != discordgo.IntentsGuilds {
		t.Errorf("intents = %d, want Guilds only (%d)", ids[0].Intents, discordgo.IntentsGuilds)
	}
	puts := e.fake.CallsTo("PUT /applications/{app}/commands")
	if len(puts) != 1 {
		t.Fatalf("%d bulk overwrites, want 1", len(puts))
	}
	var names []string
	for _, c := range e.fake.Commands("") {
		names = append(names, c.Name)
	}
	want := []string{"rank", "check", "whoready", "cooldowns", "clicks", "leaderboard", "quest", "edging",
		"buttonrank", "lowest", "stats", "games", "help", "lore", "card", "button"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("registered commands (-want +got):\n%s", diff)
	}
	e.stopBot()
	for _, c := range e.fake.Calls() {
		if c.Method == "DELETE" && strings.Contains(c.Path, "/commands") {
			t.Errorf("command deleted at shutdown: %s", c.Path)
		}
	}
}

func TestDevGuildRegistersGuildCommands(t *testing.T) {
	e := newEnv(t, envOptions{noBot: true})
	e.cfg.DevGuild = e.guild
	e.startBot(projectorOptions())
	if n := len(e.fake.CallsTo("PUT /applications/{app}/guilds/{guild}/commands", "guild", e.guild)); n != 1 {
		t.Errorf("%d guild bulk overwrites, want 1", n)
	}
	if n := len(e.fake.CallsTo("PUT /applications/{app}/commands")); n != 0 {
		t.Errorf("%d global overwrites, want 0", n)
	}
}

func TestPressEndToEnd(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame(chatOpt(e.chat))

	// The game is set up: roles, explanation, game message.
	roles := e.fake.Roles(e.guild)
	for _, b := range events.Bands {
		r, ok := roles[b.String()]
		if !ok {
			t.Fatalf("role %s not created", b)
		}
		if r.Color != b.RGB() {
			t.Errorf("role %s colour %06x, want %06x", b, r.Color, b.RGB())
		}
	}
	msgs := e.fake.Messages(e.button)
	if len(msgs) != 2 {
		t.Fatalf("%d messages in the button channel, want explanation + game message", len(msgs))
	}
	if !strings.Contains(msgs[0].Content, "12:00:00") || !strings.Contains(msgs[0].Content, "Red") {
		t.Errorf("explanation = %q", msgs[0].Content)
	}
	gm := msgs[1]
	if gm.ID != msg {
		t.Fatalf("recorded message %s, posted %s", msg, gm.ID)
	}
	if got := gm.Buttons(); len(got) != 1 || got[0].CustomID != discordbot.PressID(game) {
		t.Fatalf("game message buttons = %+v", got)
	}
	if img, ok := gm.EmbedImage(0); !ok || !bytes.HasPrefix(img.Data, pngMagic) {
		t.Fatalf("game message has no PNG timer card")
	}

	// A press over the gateway.
	i := e.fake.Press(e.guild, e.button, e.player, discordbot.PressID(game), msg)
	a, err := i.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Ephemeral() || a.CallbackType != 4 || a.Deferred {
		t.Errorf("answer type %d deferred %v ephemeral %v, want a direct ephemeral message", a.CallbackType, a.Deferred, a.Ephemeral())
	}
	if !strings.Contains(a.Content, "Purple click") {
		t.Errorf("answer = %q, want a Purple click", a.Content)
	}
	if a.Latency > time.Second {
		t.Errorf("answered after %v", a.Latency)
	}
	// The event is in the stream, with the interaction id.
	g, _, _ := e.h.Game(e.ctx, game)
	if g.Clicks != 1 || g.Last.Interaction != i.ID || g.Last.User != e.player {
		t.Fatalf("stream: clicks %d, last %+v", g.Clicks, g.Last)
	}
	// Redis has it.
	e.wait(10*time.Second, "redis views", func() bool {
		v, err := e.views.Game(e.ctx, game)
		return err == nil && v.Clicks == 1 && v.Players == 1
	})
	// The role, the announcement, the edit.
	e.wait(10*time.Second, "the role grant", func() bool {
		return contains(e.fake.MemberRoles(e.guild, e.player), "Purple")
	})
	var ann discordtest.Message
	e.wait(10*time.Second, "the announcement", func() bool {
		ms := e.fake.Messages(e.chat)
		if len(ms) == 1 {
			ann = ms[0]
		}
		return len(ms) == 1
	})
	if len(ann.Embeds) != 1 || ann.Embeds[0].Color != events.Purple.RGB() {
		t.Fatalf("announcement embeds = %+v", ann.Embeds)
	}
	d := ann.Embeds[0].Description
	for _, want := range []string{"<@" + e.player + ">", "Pat Player", "Purple", "Time claimed", "with **11:59:5"} {
		if !strings.Contains(d, want) {
			t.Errorf("announcement %q lacks %q", d, want)
		}
	}
	e.wait(10*time.Second, "the game message edit", func() bool {
		m, _ := e.fake.Message(msg)
		return m.Edits >= 1 && strings.Contains(m.Text(), "1 click") && strings.Contains(m.Text(), "Pat Player")
	})
	m, _ := e.fake.Message(msg)
	if img, ok := m.EmbedImage(0); !ok || !bytes.HasPrefix(img.Data, pngMagic) {
		t.Errorf("edited game message has no PNG timer card (attachments %d)", len(m.Attachments))
	}
	if len(m.Attachments) != 1 {
		t.Errorf("edited game message has %d attachments, want the new card only", len(m.Attachments))
	}
	if grants := e.fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}"); len(grants) != 1 {
		t.Errorf("%d role grants, want 1", len(grants))
	}
	if n := len(e.fake.RateLimited()); n != 0 {
		t.Errorf("%d calls answered 429", n)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestPressRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame(discordtest.Option{Name: "cooldown", Type: discordgo.ApplicationCommandOptionString, Value: "1h"})
	if a := e.press(e.player, game, msg); !strings.Contains(a.Content, "click!") {
		t.Fatalf("first press: %q", a.Content)
	}
	otherGuild, otherChans := e.fake.AddGuild("Other Guild", 0, "elsewhere")
	stranger := e.fake.AddMember(otherGuild, "", "Stranger", permPlayer)
	before := e.clickCount(game)

	tests := []struct {
		name           string
		guild, channel string
		user, customID string
		want           string
	}{
		{"forged game", e.guild, e.button, e.player2, "press:abc", "not one of The Button's"},
		{"zero game", e.guild, e.button, e.player2, "press:0", "not one of The Button's"},
		{"leading zero", e.guild, e.button, e.player2, "press:01", "not one of The Button's"},
		{"oversized", e.guild, e.button, e.player2, "press:" + strings.Repeat("9", 90), "not one of The Button's"},
		{"not ours", e.guild, e.button, e.player2, "evil", "not one of The Button's"},
		{"no such game", e.guild, e.button, e.player2, "press:999", "does not exist"},
		{"another guild's game", otherGuild, otherChans[0], stranger, discordbot.PressID(game), "another server"},
		{"cooldown", e.guild, e.button, e.player, discordbot.PressID(game), "cooling down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := e.fake.Press(tt.guild, tt.channel, tt.user, tt.customID, msg)
			a, err := i.Wait(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Ephemeral() || !strings.Contains(a.Content, tt.want) {
				t.Errorf("answer = %q (ephemeral %v), want it to say %q", a.Content, a.Ephemeral(), tt.want)
			}
		})
	}
	a := e.press(e.player, game, msg)
	if !strings.Contains(a.Content, "<t:") || !strings.Contains(a.Content, ":R>") ||
		!strings.Contains(a.Content, "**1 h** left") && !strings.Contains(a.Content, "**59 min") {
		t.Errorf("cooldown answer lacks the time left and a relative timestamp: %q", a.Content)
	}
	if got := e.clickCount(game); got != before {
		t.Errorf("clicks went from %d to %d after refused presses", before, got)
	}

	// A non-admin's admin command changes nothing.
	i := e.fake.Slash(e.guild, e.other, e.player, "button",
		discordtest.Option{Name: "start", Type: discordgo.ApplicationCommandOptionSubCommand})
	na, err := i.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !na.Ephemeral() || !strings.Contains(na.Content, "Manage Server") {
		t.Errorf("non-admin answer = %q", na.Content)
	}
	subjects, _ := e.store.Subjects(e.ctx, events.GameSubjects)
	if len(subjects) != 1 {
		t.Errorf("%d games after a non-admin start, want 1", len(subjects))
	}

	// Banned.
	i = e.fake.Slash(e.guild, e.button, e.admin, "button", discordtest.Option{Name: "ban",
		Type: discordgo.ApplicationCommandOptionSubCommand, Options: []discordtest.Option{
			{Name: "user", Type: discordgo.ApplicationCommandOptionUser, Value: e.player2}}})
	if ba, err := i.Wait(e.ctx); err != nil || !strings.Contains(ba.Content, "ban list") {
		t.Fatalf("ban answer = %q, %v", ba.Content, err)
	}
	if a := e.press(e.player2, game, msg); !strings.Contains(a.Content, "ban list") {
		t.Errorf("banned press answer = %q", a.Content)
	}

	// Stopped by an admin.
	i = e.fake.Slash(e.guild, e.button, e.admin, "button", discordtest.Option{Name: "abort",
		Type: discordgo.ApplicationCommandOptionSubCommand})
	if aa, err := i.Wait(e.ctx); err != nil || !strings.Contains(aa.Content, "stopped") {
		t.Fatalf("abort answer = %q, %v", aa.Content, err)
	}
	third := e.fake.AddMember(e.guild, "", "Third", permPlayer)
	if a := e.press(third, game, msg); !strings.Contains(a.Content, "stopped by an admin") {
		t.Errorf("press after abort = %q", a.Content)
	}
	if got := e.clickCount(game); got != before {
		t.Errorf("clicks went from %d to %d after refused presses", before, got)
	}
}

func TestSequentialRuleSaysHowManyMore(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame(
		discordtest.Option{Name: "cooldown", Type: discordgo.ApplicationCommandOptionString, Value: "0"},
		discordtest.Option{Name: "sequential", Type: discordgo.ApplicationCommandOptionInteger, Value: 2})
	e.press(e.player, game, msg)
	e.press(e.player2, game, msg)
	a := e.press(e.player, game, msg)
	if !strings.Contains(a.Content, "**1 more player**") {
		t.Errorf("answer = %q, want 1 more player", a.Content)
	}
}

// slowCommands makes every press take longer than the press budget: it
// is decided at once (within its decision budget), its outcome comes back
// delay later, as after a slow append.
type slowCommands struct {
	*commands.Handler
	delay time.Duration
}

func (s slowCommands) Press(ctx context.Context, p commands.Press) (commands.Click, error) {
	c, err := s.Handler.Press(ctx, p)
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return c, err
}

func TestSlowPressIsDeferredThenAnswered(t *testing.T) {
	e := newEnv(t, envOptions{
		cfg:  discordbot.Config{PressBudget: 300 * time.Millisecond},
		wrap: func(h *commands.Handler) discordbot.Commands { return slowCommands{h, time.Second} },
	})
	game, msg := e.startGame()
	i := e.fake.Press(e.guild, e.button, e.player, discordbot.PressID(game), msg)
	a, err := i.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.CallbackType != 5 || !a.Deferred || !a.Ephemeral() {
		t.Errorf("callback %d deferred %v ephemeral %v, want a deferred ephemeral answer", a.CallbackType, a.Deferred, a.Ephemeral())
	}
	if a.Latency > time.Second {
		t.Errorf("deferral after %v, want within the budget", a.Latency)
	}
	if !strings.Contains(a.Content, "Purple click") {
		t.Errorf("final answer = %q", a.Content)
	}
	if n := e.clickCount(game); n != 1 {
		t.Errorf("%d clicks, want 1", n)
	}
}
