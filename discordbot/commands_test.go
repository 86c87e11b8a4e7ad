package discordbot_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
)

// history builds a game that started 72 hours ago with clicks of every
// colour by five players, the last one minutes ago, so the game is alive.
func history(t *testing.T, e *env) (events.GameID, []string) {
	t.Helper()
	now := time.Now()
	start := now.Add(-72 * time.Hour)
	g, err := e.h.StartGame(e.ctx, commands.StartGame{Guild: e.guild, Channel: e.button, ChatChannel: e.chat,
		By: e.admin, ByName: "Ada Admin", Duration: 12 * time.Hour, Cooldown: time.Hour, At: start})
	if err != nil {
		t.Fatal(err)
	}
	players := []string{e.player, e.player2}
	for k := range 3 {
		players = append(players, e.fake.AddMember(e.guild, "", fmt.Sprintf("Extra %d", k), permPlayer))
	}
	names := map[string]string{e.player: "Pat Player", e.player2: "Quinn Second"}
	// Values left on the clock, one per click: every colour, an edge click.
	values := []time.Duration{
		11*time.Hour + 30*time.Minute, 9 * time.Hour, 7 * time.Hour, 5 * time.Hour, 3 * time.Hour,
		time.Hour, 2*time.Hour + 30*time.Second, 10 * time.Hour, 6*time.Hour + 10*time.Minute, 30 * time.Minute,
		11 * time.Hour, 8*time.Hour + time.Minute,
	}
	at := start
	for k, v := range values {
		at = at.Add(12*time.Hour - v)
		p := players[k%len(players)]
		name := names[p]
		if name == "" {
			name = fmt.Sprintf("Extra %d", k%len(players)-2)
		}
		c, err := e.h.Press(e.ctx, commands.Press{Game: g.Game, Guild: e.guild, User: p, UserName: name,
			Interaction: e.fake.NewID(), At: at})
		if err != nil {
			t.Fatalf("click %d: %v", k, err)
		}
		if c.ValueMS != v.Milliseconds() {
			t.Fatalf("click %d value %d, want %d", k, c.ValueMS, v.Milliseconds())
		}
	}
	if at.After(now) {
		t.Fatalf("history ends in the future: %v", at)
	}
	return g.Game, players
}

func slash(t *testing.T, e *env, user, name string, opts ...discordtest.Option) discordtest.Answer {
	t.Helper()
	i := e.fake.Slash(e.guild, e.button, user, name, opts...)
	a, err := i.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func subcmd(name string, opts ...discordtest.Option) discordtest.Option {
	return discordtest.Option{Name: name, Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts}
}

func intOpt(name string, v int) discordtest.Option {
	return discordtest.Option{Name: name, Type: discordgo.ApplicationCommandOptionInteger, Value: v}
}

func userOpt(id string) discordtest.Option {
	return discordtest.Option{Name: "user", Type: discordgo.ApplicationCommandOptionUser, Value: id}
}

func TestEverySlashCommandAnswers(t *testing.T) {
	e := newEnv(t, envOptions{noBot: true, noTimekeeper: true})
	e.cfg.PublicURL = "https://button.example"
	game, _ := history(t, e)
	e.startTimekeeper()
	e.startBot(projectorOptions())
	e.wait(20*time.Second, "the views", func() bool {
		v, err := e.views.Game(e.ctx, game)
		return err == nil && v.Clicks == 12
	})
	if a := slash(t, e, e.admin, "button", subcmd("icon", strOpt("emoji", "🐉"))); !strings.Contains(a.Content, "🐉") {
		t.Fatalf("icon: %q", a.Content)
	}
	e.wait(10*time.Second, "the icon in the views", func() bool {
		r, err := e.views.LifetimeRanking(e.ctx, time.Now())
		return err == nil && len(r) == 1 && r[0].Icon == "🐉"
	})
	month := time.Now().UTC().Format("2006-01")

	tests := []struct {
		name      string
		user      string
		cmd       string
		opts      []discordtest.Option
		ephemeral bool
		want      []string // in the answer's text
		image     bool
	}{
		{"rank", e.player, "rank", nil, true, []string{"journey in game #1", "Colours", "Clicks", "Time claimed", "Best click", "Every click"}, false},
		{"rank of another", e.player, "rank", []discordtest.Option{userOpt(e.player2)}, true, []string{"Quinn Second", "Every click"}, false},
		{"check", e.player, "check", nil, true, []string{"game #1", "cooldown is 1 h"}, false},
		{"whoready", e.player, "whoready", nil, false, []string{"Ready to press", "last pressed"}, false},
		{"cooldowns", e.player, "cooldowns", nil, false, []string{"Of the last 5 distinct players", "ready"}, false},
		{"clicks", e.player, "clicks", nil, false, []string{"Clicks of game #1", "Total: **12**", "🔴", "🟣"}, false},
		{"leaderboard teams", e.player, "leaderboard", []discordtest.Option{subcmd("teams")}, false, []string{"Red", "Purple", "clicks (", "claimed"}, false},
		{"leaderboard players", e.player, "leaderboard", []discordtest.Option{subcmd("players", intOpt("n", 3))}, false, []string{"By MMR", "MMR", "Lowest clicks", "Most time claimed"}, false},
		{"quest", e.player, "quest", []discordtest.Option{strOpt("month", month)}, false, []string{"Time-claimed quest", "#1."}, false},
		{"edging", e.player, "edging", nil, false, []string{"Living on the edge", "02:00:30"}, false},
		{"buttonrank", e.player, "buttonrank", nil, false, []string{"🐉", "Your button", "place **#1** of 1", "Neighbours"}, false},
		{"lowest", e.player, "lowest", []discordtest.Option{intOpt("n", 5)}, false, []string{"lowest clicks of game #1", "00:30:00"}, false},
		{"lowest global", e.player, "lowest", []discordtest.Option{{Name: "global", Type: discordgo.ApplicationCommandOptionBoolean, Value: true}}, false, []string{"of all games", "game #1"}, false},
		{"stats player", e.player, "stats", []discordtest.Option{subcmd("player")}, false, []string{"Pat Player"}, true},
		{"stats game", e.player, "stats", []discordtest.Option{subcmd("game")}, false, []string{"Statistics of game #1"}, true},
		{"stats timeline", e.player, "stats", []discordtest.Option{subcmd("timeline", intOpt("game", int(game)))}, false, []string{"Timeline of game #1"}, true},
		{"games", e.player, "games", nil, false, []string{"Game #1 — ACTIVE", "12 clicks", "5 players"}, false},
		{"help", e.player, "help", nil, true, []string{"/rank", "/button start"}, false},
		{"lore", e.player, "lore", nil, false, []string{"clockmaker"}, false},
		{"card", e.player, "card", nil, true, []string{"https://button.example/players/" + e.player}, false},
		{"banlist", e.admin, "button", []discordtest.Option{subcmd("banlist")}, true, []string{"ban list is empty"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := slash(t, e, tt.user, tt.cmd, tt.opts...)
			text := a.Text()
			for _, b := range a.Buttons() {
				text += "\n" + b.URL
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("answer lacks %q:\n%s", w, text)
				}
			}
			if a.Ephemeral() != tt.ephemeral {
				t.Errorf("ephemeral = %v, want %v", a.Ephemeral(), tt.ephemeral)
			}
			if strings.Contains(text, "unavailable") {
				t.Errorf("views unavailable: %s", text)
			}
			if tt.image {
				if len(a.Files) != 1 || !bytes.HasPrefix(a.Files[0].Data, pngMagic) {
					t.Errorf("no PNG chart attached (%d files)", len(a.Files))
				}
			}
			if a.Latency > 3*time.Second {
				t.Errorf("first callback after %v", a.Latency)
			}
		})
	}
}

func TestLongAnswersPageAcrossRestarts(t *testing.T) {
	e := newEnv(t, envOptions{noBot: true})
	g, err := e.h.StartGame(e.ctx, commands.StartGame{Guild: e.guild, Channel: e.button, By: e.admin,
		Duration: 12 * time.Hour, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 160 {
		p := []string{e.player, e.player2}[k%2]
		if _, err := e.h.Press(e.ctx, commands.Press{Game: g.Game, Guild: e.guild, User: p, Interaction: e.fake.NewID()}); err != nil {
			t.Fatal(err)
		}
	}
	e.startBot(projectorOptions())
	e.wait(20*time.Second, "the views", func() bool {
		v, err := e.views.Game(e.ctx, g.Game)
		return err == nil && v.Clicks == 160
	})
	a := slash(t, e, e.player, "clicks")
	if !strings.Contains(a.Text(), "page 1 of 2") {
		t.Fatalf("first page: %s", a.Text())
	}
	var next string
	for _, b := range a.Buttons() {
		if strings.HasPrefix(b.Label, "Next") {
			next = b.CustomID
		}
	}
	if next == "" {
		t.Fatalf("no next button: %+v", a.Buttons())
	}
	// The page lives in the custom id: a restarted bot serves it.
	e.stopBot()
	e.startBot(projectorOptions())
	i := e.fake.Press(e.guild, e.button, e.player2, next, a.MessageID)
	p2, err := i.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p2.CallbackType != 7 || !strings.Contains(p2.Text(), "page 2 of 2") {
		t.Errorf("page 2: callback %d, %s", p2.CallbackType, p2.Text())
	}
	// A forged page of another guild's game is refused.
	other, chans := e.fake.AddGuild("Other", 0, "x")
	stranger := e.fake.AddMember(other, "", "S", permPlayer)
	i = e.fake.Press(other, chans[0], stranger, next, a.MessageID)
	if f, err := i.Wait(e.ctx); err != nil || !strings.Contains(f.Content, "not one of The Button's") {
		t.Errorf("forged page answer = %q, %v", f.Content, err)
	}
}

func TestAdminRepostUnbanAndIcon(t *testing.T) {
	e := newEnv(t, envOptions{})
	game, msg := e.startGame()
	if a := slash(t, e, e.admin, "button", subcmd("ban", userOpt(e.player), strOpt("reason", "spam"))); !strings.Contains(a.Content, "ban list") {
		t.Fatalf("ban: %q", a.Content)
	}
	if a := slash(t, e, e.admin, "button", subcmd("banlist")); !strings.Contains(a.Content, "<@"+e.player+">") || !strings.Contains(a.Content, "spam") {
		t.Errorf("banlist: %q", a.Content)
	}
	if a := slash(t, e, e.admin, "button", subcmd("unban", userOpt(e.player))); !strings.Contains(a.Content, "may press again") {
		t.Fatalf("unban: %q", a.Content)
	}
	if a := slash(t, e, e.admin, "button", subcmd("unban", userOpt(e.player))); !strings.Contains(a.Content, "not on the ban list") {
		t.Errorf("second unban: %q", a.Content)
	}
	// The list comes from the views, once they have the unban.
	if a := slash(t, e, e.admin, "button", subcmd("banlist")); !strings.Contains(a.Content, "ban list is empty") {
		t.Errorf("banlist after the unban: %q", a.Content)
	}
	if a := e.press(e.player, game, msg); !strings.Contains(a.Content, "click!") {
		t.Errorf("press after unban: %q", a.Content)
	}
	if a := slash(t, e, e.admin, "button", subcmd("icon", strOpt("emoji", "🍕"))); !strings.Contains(a.Content, "Choose one of") {
		t.Errorf("icon outside the set: %q", a.Content)
	}
	if a := slash(t, e, e.admin, "button", subcmd("start")); !strings.Contains(a.Content, "already running") {
		t.Errorf("second start in the channel: %q", a.Content)
	}
	a := slash(t, e, e.admin, "button", subcmd("repost"))
	if !strings.Contains(a.Content, "posted again") {
		t.Fatalf("repost: %q", a.Content)
	}
	var fresh string
	e.wait(10*time.Second, "the new message recorded", func() bool {
		g, _, _ := e.h.Game(e.ctx, game)
		fresh = g.MessageID
		return fresh != msg
	})
	if old, _ := e.fake.Message(msg); !old.Deleted {
		t.Errorf("the old game message was not removed")
	}
	if m, ok := e.fake.Message(fresh); !ok || len(m.Buttons()) != 1 || !strings.Contains(m.Text(), "1 click") {
		t.Errorf("new game message: %+v", m)
	}
	if a := slash(t, e, e.admin, "button", subcmd("repost")); !strings.Contains(a.Content, "posted again") {
		t.Errorf("second repost: %q", a.Content)
	}
	if a := slash(t, e, e.player, "button", subcmd("repost")); !strings.Contains(a.Content, "Manage Server") {
		t.Errorf("repost by a player: %q", a.Content)
	}
}
