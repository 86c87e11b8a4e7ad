package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// A token Discord refuses (the gateway closes with 4004, REST answers 401)
// is permanent: the bot says so once (/readyz names it, the metric
// thebutton_discord_token_refused is 1) and stops trying, so it never
// piles up the invalid requests Discord bans for; the rest of the service
// goes on (a game still ends at its deadline).
func TestDiscordTokenRefusedStopsRetrying(t *testing.T) {
	fake := discordtest.New(t, discordtest.Options{Token: "the-right-token"})
	guild, channels := fake.AddGuild("chaos", 10, "button")
	prevT, prevMin, prevMax := discordTransport, discordRetryMin, discordRetryMax
	discordTransport, discordRetryMin, discordRetryMax = fake.Transport(), 20*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { discordTransport, discordRetryMin, discordRetryMax = prevT, prevMin, prevMax })

	rdb := redistest.Client(t)
	sv := opsStartService(t, map[string]string{
		"REDIS_URL": redistest.URL(), "REDIS_PREFIX": redistest.Prefix(t, rdb, "token"), "MYSQL_DSN": mysqltest.DSN(t),
		"DISCORD_TOKEN": "a-wrong-token", "DISCORD_GUILD_ID": guild,
	})
	ctx := context.Background()
	opsWaitFor(t, 60*time.Second, "/readyz naming the refused token", func() bool {
		code, body := sv.readyz(t)
		return code == http.StatusOK && strings.Contains(body, "refused DISCORD_TOKEN")
	})
	if v := sv.metric(t, "thebutton_discord_token_refused"); v != "1" {
		t.Errorf("thebutton_discord_token_refused = %q, want 1", v)
	}
	if v := sv.metric(t, "thebutton_discord_connected"); v != "0" {
		t.Errorf("thebutton_discord_connected = %q, want 0", v)
	}
	// Time passes with work going on: a game of 1.5 s, pressed, ends at
	// its deadline. Retrying every 20–100 ms would have identified ~15
	// more times by then.
	g, err := sv.h.StartGame(ctx, commands.StartGame{Guild: guild, Channel: channels[0], By: "7", ByName: "ops",
		Duration: 1500 * time.Millisecond, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.h.Press(ctx, commands.Press{Game: g.Game, Guild: guild, User: "8", Interaction: "t-1"}); err != nil {
		t.Fatal(err)
	}
	opsWaitFor(t, 20*time.Second, "the game ends at its deadline", func() bool { return opsGameEnded(ctx, sv.h, g.Game) })
	if n := fake.RefusedIdentifies(); n != 1 {
		t.Errorf("%d identifies refused for the wrong token, want 1 (no retry of a refused token)", n)
	}
	unauthorized := 0
	for _, c := range fake.Calls() {
		if c.Status == http.StatusUnauthorized {
			unauthorized++
		}
	}
	if unauthorized > 2 {
		t.Errorf("%d REST calls answered 401: the bot kept calling Discord with a refused token", unauthorized)
	}
}

func TestTokenRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"gateway 4004", fmt.Errorf("discordbot: open gateway: %w", &websocket.CloseError{Code: 4004, Text: "Authentication failed."}), true},
		{"gateway 4000", fmt.Errorf("discordbot: open gateway: %w", &websocket.CloseError{Code: 4000}), false},
		{"REST 401", fmt.Errorf("register: %w", &discordbot.APIError{Op: "overwrite commands", Status: 401}), true},
		{"REST 403", &discordbot.APIError{Op: "overwrite commands", Status: 403}, false},
		{"discordgo 401", &discordgo.RESTError{Response: &http.Response{StatusCode: 401}}, true},
		{"refused connection", errors.New("dial tcp: connection refused"), false},
	} {
		if got := tokenRefused(tc.err); got != tc.want {
			t.Errorf("%s: tokenRefused = %v, want %v", tc.name, got, tc.want)
		}
	}
}
