package discordbot_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
)

func strOpt(name, v string) discordtest.Option {
	return discordtest.Option{Name: name, Type: discordgo.ApplicationCommandOptionString, Value: v}
}

// announcements returns the click announcements (embeds) in a channel.
func announcements(e *env, channel string) []*discordgo.MessageEmbed {
	var out []*discordgo.MessageEmbed
	for _, m := range e.fake.Messages(channel) {
		for _, em := range m.Embeds {
			if strings.Contains(em.Description, "Time claimed") {
				out = append(out, em)
			}
		}
	}
	return out
}

func TestGameEndsWithSummaryAndAnnouncement(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame(strOpt("duration", "4s"), strOpt("cooldown", "0"), chatOpt(e.chat))
	e.press(e.player, game, msg)
	e.press(e.player2, game, msg)
	e.press(e.player, game, msg)

	var summary discordtest.Message
	e.wait(20*time.Second, "the end summary with its picture", func() bool {
		m, _ := e.fake.Message(msg)
		summary = m
		_, pic := m.EmbedImage(0)
		return len(m.Embeds) == 1 && strings.Contains(m.Embeds[0].Title, "is over") && pic
	})
	text := summary.Text()
	for _, want := range []string{"Total clicks", "3", "Lifetime", "Players", "2", "Most active", "Pat Player",
		"Closest calls", "Most time claimed", "Colours"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if b := summary.Buttons(); len(b) != 1 || !b[0].Disabled {
		t.Errorf("summary buttons = %+v, want one disabled button", b)
	}
	if img, ok := summary.EmbedImage(0); !ok || !bytes.HasPrefix(img.Data, pngMagic) || img.Filename != "end.png" {
		t.Errorf("summary has no end picture (attachments %+v)", summary.Attachments)
	}
	e.wait(10*time.Second, "the end announcement", func() bool {
		for _, m := range e.fake.Messages(e.chat) {
			if strings.Contains(m.Text(), "is over") {
				return true
			}
		}
		return false
	})
	// Nothing edits the summary afterwards: once every effect is done
	// (and the updater stopped at the end), the summary is as it was.
	edits := summary.Edits
	e.settled(10 * time.Second)
	if m, _ := e.fake.Message(msg); m.Edits != edits || !strings.Contains(m.Embeds[0].Title, "is over") {
		t.Errorf("summary edited again: %d edits (was %d), title %q", m.Edits, edits, m.Embeds[0].Title)
	}
	if n := len(announcements(e, e.chat)); n != 3 {
		t.Errorf("%d click announcements, want 3", n)
	}
}

func TestRestartFindsMessagesAndNeverRepeats(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame(chatOpt(e.chat))
	var players []string
	for k := range 4 {
		p := e.fake.AddMember(e.guild, "", fmt.Sprintf("Player %d", k), permPlayer)
		players = append(players, p)
		e.press(p, game, msg)
	}
	e.wait(15*time.Second, "4 announcements", func() bool { return len(announcements(e, e.chat)) == 4 })
	e.stopBot()

	// While the bot is away, another instance takes presses.
	for k := range 3 {
		p := e.fake.AddMember(e.guild, "", fmt.Sprintf("Late %d", k), permPlayer)
		players = append(players, p)
		if _, err := e.h.Press(e.ctx, commands.Press{Game: game, Guild: e.guild, User: p, UserName: "Late",
			Interaction: e.fake.NewID()}); err != nil {
			t.Fatal(err)
		}
	}
	// The restarted reactor reads from an old checkpoint (as after a lost
	// write of it): the done-marks keep effects from repeating.
	if err := e.rdb.Set(e.ctx, e.prefix+"discord:pos", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	editsBefore := func() int { m, _ := e.fake.Message(msg); return m.Edits }()
	e.startBot(projectorOptions())
	e.wait(15*time.Second, "7 announcements", func() bool { return len(announcements(e, e.chat)) >= 7 })
	e.wait(15*time.Second, "the same game message edited", func() bool {
		m, _ := e.fake.Message(msg)
		return m.Edits > editsBefore && strings.Contains(m.Text(), "7 clicks")
	})
	e.settled(15 * time.Second) // anything that would repeat has happened
	if n := len(announcements(e, e.chat)); n != 7 {
		t.Errorf("%d announcements after the restart, want 7 (no repeats)", n)
		for _, m := range e.fake.Messages(e.chat) {
			for _, em := range m.Embeds {
				t.Logf("message %s at %s: %s", m.ID, m.CreatedAt.Format("15:04:05.000"), em.Footer.Text)
			}
		}
		for _, c := range e.fake.Calls() {
			t.Logf("%s %s %s %d", c.At.Format("15:04:05.000"), c.Method, c.Path, c.Status)
		}
	}
	if n := len(e.fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}")); n != 7 {
		t.Errorf("%d role grants, want 7", n)
	}
	if n := len(e.fake.Messages(e.button)); n != 2 {
		t.Errorf("%d messages in the button channel, want the explanation and the one game message", n)
	}
	if n := len(e.fake.CallsTo("POST /guilds/{guild}/roles")); n != 6 {
		t.Errorf("%d roles created, want 6", n)
	}
	for _, p := range players {
		if !contains(e.fake.MemberRoles(e.guild, p), "Purple") {
			t.Errorf("player %s has roles %v", p, e.fake.MemberRoles(e.guild, p))
		}
	}
}

// A member whose interaction shows the colour role gets no grant request;
// a member without it gets one, and no more for further clicks of the same
// colour.
func TestRoleGrantsOnlyWhereTheMemberLacksTheRole(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame(chatOpt(e.chat), strOpt("cooldown", "0"))
	purple := e.fake.Roles(e.guild)["Purple"].ID // a click on a fresh 12 h clock is purple
	if purple == "" {
		t.Fatal("no Purple role after the start")
	}
	e.fake.SetGuild(e.guild, func(g *discordtest.Guild) {
		g.Members[e.player].Roles = append(g.Members[e.player].Roles, purple)
	})
	for _, p := range []string{e.player, e.player2, e.player2, e.player} {
		if a := e.press(p, game, msg); !strings.Contains(a.Content, "Purple click") {
			t.Fatalf("press: %q, want a purple click", a.Content)
		}
	}
	e.wait(15*time.Second, "4 announcements", func() bool { return len(announcements(e, e.chat)) == 4 })
	e.settled(15 * time.Second)
	grants := e.fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}")
	for _, c := range grants {
		if c.Vars["user"] == e.player {
			t.Errorf("grant request for a member holding the role: %s", c.Path)
		}
	}
	if len(grants) != 1 || grants[0].Vars["user"] != e.player2 || grants[0].Vars["role"] != purple {
		t.Errorf("%d grant requests, want one: Purple to the second player", len(grants))
	}
}

func TestRoleProblemsAreToldToTheAdminOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.fake.SetGuild(e.guild, func(g *discordtest.Guild) { g.NoManageRoles = true })
	game, msg := e.startGame(chatOpt(e.chat), strOpt("cooldown", "0"))
	if a := e.press(e.player, game, msg); !strings.Contains(a.Content, "click!") {
		t.Fatalf("press refused: %q", a.Content)
	}
	e.press(e.player2, game, msg)
	e.wait(10*time.Second, "announcements", func() bool { return len(announcements(e, e.chat)) == 2 })
	var notices []string
	for _, m := range e.fake.Messages(e.button) {
		if strings.Contains(m.Content, "Manage Roles") {
			notices = append(notices, m.Content)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("%d notices, want 1: %q", len(notices), notices)
	}
	if !strings.Contains(notices[0], "<@"+e.admin+">") || !strings.Contains(notices[0], "50013") {
		t.Errorf("notice = %q, want the admin mentioned and the Discord code", notices[0])
	}
}

func TestLostGameMessageIsReposted(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(e *env, msg string)
	}{
		{"deleted (10008)", func(e *env, msg string) { e.fake.DeleteMessage(msg) }},
		{"too many edits (30046)", func(e *env, msg string) {
			e.fake.Fail(discordtest.Failure{Route: "PATCH /channels/{channel}/messages/{message}",
				Vars: map[string]string{"message": msg}, Status: http.StatusBadRequest, Code: discordbot.CodeTooManyEdits})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			game, msg := e.startGame()
			tt.break_(e, msg)
			e.press(e.player, game, msg)
			var fresh string
			e.wait(15*time.Second, "a new recorded game message", func() bool {
				g, _, _ := e.h.Game(e.ctx, game)
				fresh = g.MessageID
				return fresh != msg
			})
			m, ok := e.fake.Message(fresh)
			if !ok || m.Deleted || len(m.Buttons()) != 1 || m.Buttons()[0].CustomID != discordbot.PressID(game) {
				t.Fatalf("new game message = %+v", m)
			}
			e.wait(10*time.Second, "the old message removed", func() bool {
				old, _ := e.fake.Message(msg)
				return old.Deleted
			})
			if a := e.press(e.player2, game, fresh); !strings.Contains(a.Content, "click!") {
				t.Errorf("press on the new message: %q", a.Content)
			}
		})
	}
}

func TestAbortedGameSummary(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame()
	e.press(e.player, game, msg)
	if _, err := e.h.Abort(e.ctx, commands.Abort{Game: game, Guild: e.guild, By: e.admin, Reason: "testing"}); err != nil {
		t.Fatal(err)
	}
	e.wait(15*time.Second, "the summary", func() bool {
		m, _ := e.fake.Message(msg)
		return len(m.Embeds) == 1 && strings.Contains(m.Embeds[0].Title, "was stopped") && strings.Contains(m.Text(), "testing")
	})
	_ = events.Red
}
