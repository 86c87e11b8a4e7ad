package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// botWorld is a fake Discord for a whole `run`: a guild with a button
// channel, an admin and players. The service's bot reaches it through
// http.DefaultTransport, which its HTTP client wraps: botWorld swaps it
// until the test ends, so such tests must not run in parallel.
type botWorld struct {
	t       *testing.T
	fake    *discordtest.Server
	guild   string
	channel string
	admin   string
	players []string
}

func newBotWorld(t *testing.T, token string, players int) *botWorld {
	t.Helper()
	return newBotWorldWith(t, discordtest.Options{Token: token}, players)
}

// newBotWorldWith is newBotWorld with the fake's options.
func newBotWorldWith(t *testing.T, opts discordtest.Options, players int) *botWorld {
	t.Helper()
	const permAdmin = int64(discordgo.PermissionManageGuild | discordgo.PermissionSendMessages | discordgo.PermissionViewChannel)
	const permPlayer = int64(discordgo.PermissionSendMessages | discordgo.PermissionViewChannel)
	w := &botWorld{t: t, fake: discordtest.New(t, opts)}
	var chans []string
	w.guild, chans = w.fake.AddGuild("Test Guild", 0, "button-game")
	w.channel = chans[0]
	w.admin = w.fake.AddMember(w.guild, "", "Ada Admin", permAdmin)
	for i := range players {
		w.players = append(w.players, w.fake.AddMember(w.guild, "", fmt.Sprintf("Player %d", i), permPlayer))
	}
	orig := http.DefaultTransport
	http.DefaultTransport = w.fake.Transport()
	t.Cleanup(func() { http.DefaultTransport = orig })
	return w
}

// startGame starts a game with /button start and returns it with the id
// of its message, once posted.
func (w *botWorld) startGame(ctx context.Context) (events.GameID, string) {
	w.t.Helper()
	a, err := w.fake.Slash(w.guild, w.channel, w.admin, "button",
		discordtest.Option{Name: "start", Type: discordgo.ApplicationCommandOptionSubCommand}).Wait(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	var game events.GameID
	if at := strings.Index(a.Content, "#"); at < 0 {
		w.t.Fatalf("start answered %q, want a game number", a.Content)
	} else if _, err := fmt.Sscanf(a.Content[at:], "#%d", &game); err != nil {
		w.t.Fatalf("no game number in %q", a.Content)
	}
	var msg string
	testwait.For(w.t, 30*time.Second, func() bool {
		for _, m := range w.fake.Messages(w.channel) {
			if m.AuthorID == w.fake.BotID && strings.Contains(string(m.Components), discordbot.PressID(game)) {
				msg = m.ID
			}
		}
		return msg != ""
	}, testwait.Say("the game message was never posted"))
	return game, msg
}

// press presses the game's button as player and returns the answer.
func (w *botWorld) press(ctx context.Context, player string, game events.GameID, msg string) string {
	w.t.Helper()
	a, err := w.fake.Press(w.guild, w.channel, player, discordbot.PressID(game), msg).Wait(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return a.Content
}
